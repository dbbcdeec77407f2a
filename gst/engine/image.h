/* deeplabseg: a frame as the engine sees it (no GStreamer types), plus the
 * C reference of the two image kernels around the network:
 *  - preprocess: colour convert + bilinear resize to the network input +
 *    normalise ((v - mean) / std, v the 0..255 RGB value);
 *  - upsample_argmax: bilinear logits -> frame size, then argmax over
 *    classes (ties: lowest class id), optionally the confidence
 *    round (255 * max softmax).
 * Both resizes use half-pixel centres: s = (d + 0.5) * in / out - 0.5,
 * clamped to [0, in - 1], the same mapping in both directions so the class
 * map lines up with the frame. kernels/image.cl implements the same
 * maths; tests compare them with these functions.
 */
#ifndef DLS_IMAGE_H
#define DLS_IMAGE_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  DLS_PIXEL_RGB,
  DLS_PIXEL_BGR,
  DLS_PIXEL_RGBX,
  DLS_PIXEL_BGRX,
  DLS_PIXEL_XRGB,
  DLS_PIXEL_XBGR,
  DLS_PIXEL_RGBA,
  DLS_PIXEL_BGRA,
  DLS_PIXEL_ARGB,
  DLS_PIXEL_ABGR,
  DLS_PIXEL_I420,
  DLS_PIXEL_NV12,
  DLS_PIXEL_GRAY8,
  DLS_PIXEL_COUNT
} DlsPixelFormat;

/* YUV -> RGB (0..255): R = y_scale * (Y - y_offset) + rv * (V - 128),
 * G = ... - gu * (U - 128) - gv * (V - 128), B = ... + bu * (U - 128),
 * each then clamped to 0..255. */
typedef struct
{
  float y_offset, y_scale;
  float rv, gu, gv, bu;
} DlsYuvMatrix;

typedef struct
{
  DlsPixelFormat format;
  int width, height;
  const guint8 *planes[3];
  int strides[3];
  DlsYuvMatrix yuv;             /* YUV formats only */
} DlsImage;

/* Packed formats: bytes per pixel and byte offsets of R, G, B in a pixel.
 * Returns FALSE for planar formats. */
gboolean dls_pixel_format_packed (DlsPixelFormat f, int *bpp, int *r_off,
    int *g_off, int *b_off);

/* Bytes that plane @plane of a @width x @height frame spans with @stride:
 * every row but the last at full stride, the last only as long as its
 * pixels (a buffer may end there). 0 when the format has no such plane. */
gsize dls_image_plane_size (DlsPixelFormat f, int plane, int width,
    int height, int stride);

/* Fills @m from the matrix coefficients Kr, Kb and the range (full: Y and
 * chroma use 0..255; limited: Y 16..235, chroma 16..240). */
void dls_yuv_matrix_init (DlsYuvMatrix * m, double kr, double kb,
    gboolean full_range);

void dls_ref_preprocess (const DlsImage * img, int out_w, int out_h,
    float mean, float std, float *out_nhwc);

/* @conf (nullable): also the confidence, round (255 * max softmax) per
 * pixel (image.c's banner has the exact order of operations). */
void dls_ref_upsample_argmax (const float *logits, int in_w, int in_h,
    int n_classes, int out_w, int out_h, guint8 * map, int map_stride,
    guint8 * conf, int conf_stride, gboolean probs);

/* For the dense CRF: the frame as RGB bytes, and the unary energies
 * U = -(upsampled logits), @row floats a pixel (image.c has the details;
 * kernels/image.cl's upsample_unary is the device twin of the latter). */
void dls_ref_frame_rgb (const DlsImage * img, int out_w, int out_h,
    guint8 * rgb, int stride);
void dls_ref_upsample_unary (const float *logits, int in_w, int in_h,
    int n_classes, int out_w, int out_h, int row, float *unary);

G_END_DECLS

#endif /* DLS_IMAGE_H */

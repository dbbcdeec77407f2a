/* deeplabseg: pixel formats, YUV matrices and the C reference of the two
 * image kernels around the network (kernels/image.cl implements the same
 * maths; tests compare the two).
 *
 * Frame layouts (DlsImage):
 *   packed RGB family: plane 0, bpp bytes a pixel, R/G/B at the byte
 *     offsets of dls_pixel_format_packed(); X/A bytes are ignored;
 *   GRAY8: plane 0, one byte a pixel, R = G = B = that byte (no range
 *     conversion: GStreamer's GRAY8 is already a 0..255 grey);
 *   I420: Y plane 0, U plane 1, V plane 2, chroma (W+1)/2 x (H+1)/2;
 *   NV12: Y plane 0, interleaved UV plane 1 ((W+1)/2 pairs x (H+1)/2).
 * All arithmetic below is float32, in the order written.
 *
 * YUV -> RGB of one pixel (x, y), DlsYuvMatrix m:
 *   Y = luma[y][x]; U, V = chroma sample (x / 2, y / 2) (integer division:
 *   nearest co-sited sample, no chroma interpolation);
 *   l = m.y_scale * (Y - m.y_offset); u = U - 128; v = V - 128;
 *   R = l + m.rv * v;  G = l - m.gu * u - m.gv * v;  B = l + m.bu * u;
 *   each clamped to [0, 255].
 *
 * Half-pixel source coordinate (both kernels, per axis; in = source size,
 * out = destination size, d = destination index):
 *   scale = (float) in / (float) out;
 *   s = ((float) d + 0.5f) * scale - 0.5f, clamped to [0, in - 1];
 *   s0 = (int) s (= floor, s >= 0); s1 = min (s0 + 1, in - 1);
 *   f = s - (float) s0.
 * Bilinear of the four samples p(x, y):
 *   top = (1 - fx) * p(x0, y0) + fx * p(x1, y0);
 *   bot = (1 - fx) * p(x0, y1) + fx * p(x1, y1);
 *   v = (1 - fy) * top + fy * bot.
 *
 * dls_ref_preprocess: v as above for each of R, G, B, the four source
 * pixels each converted to RGB first (so conversion, then interpolation);
 * out[(oy * out_w + ox) * 3 + c] = (v - mean) / std, c = 0 R, 1 G, 2 B.
 *
 * dls_ref_upsample_argmax: logits NHWC {in_h, in_w, n_classes}; v as above
 * per class k; map[oy * map_stride + ox] = the k with the largest v, the
 * lowest k among equals (strict > while scanning k upwards).
 * With a confidence plane: m = that largest v; lane l (0..7) sums
 * expf (v_k - m) over the classes k = l, l + 8, ... in increasing k, the
 * total is ((s0 + s1) + s2) + ... + s7 (the OpenCL kernel's order), and
 * conf[oy * conf_stride + ox] = (uint8) (255.0f / total + 0.5f), i.e.
 * round (255 * max softmax); total >= 1 (the maximum adds expf (0)), so
 * the value is 1..255 for up to 256 classes.
 */
#include "image.h"

#include <math.h>

/**
 * dls_pixel_format_packed:
 *
 * GRAY8 counts as packed here (one byte a pixel, R, G and B all at offset
 * 0): that is exactly how it is read.
 *
 * Returns: TRUE for single-plane formats, FALSE for I420/NV12.
 */
gboolean
dls_pixel_format_packed (DlsPixelFormat f, int *bpp, int *r_off,
    int *g_off, int *b_off)
{
  int b = 0, r = 0, g = 0, bl = 0;

  switch (f) {
    case DLS_PIXEL_RGB:
      b = 3, r = 0, g = 1, bl = 2;
      break;
    case DLS_PIXEL_BGR:
      b = 3, r = 2, g = 1, bl = 0;
      break;
    case DLS_PIXEL_RGBX:
    case DLS_PIXEL_RGBA:
      b = 4, r = 0, g = 1, bl = 2;
      break;
    case DLS_PIXEL_BGRX:
    case DLS_PIXEL_BGRA:
      b = 4, r = 2, g = 1, bl = 0;
      break;
    case DLS_PIXEL_XRGB:
    case DLS_PIXEL_ARGB:
      b = 4, r = 1, g = 2, bl = 3;
      break;
    case DLS_PIXEL_XBGR:
    case DLS_PIXEL_ABGR:
      b = 4, r = 3, g = 2, bl = 1;
      break;
    case DLS_PIXEL_GRAY8:
      b = 1, r = 0, g = 0, bl = 0;
      break;
    default:
      return FALSE;
  }
  if (bpp)
    *bpp = b;
  if (r_off)
    *r_off = r;
  if (g_off)
    *g_off = g;
  if (b_off)
    *b_off = bl;
  return TRUE;
}

/**
 * dls_image_plane_size:
 *
 * The luma (or only) plane has @height rows of width * bpp bytes; the
 * chroma planes of I420 ((W+1)/2 bytes) and NV12 ((W+1)/2 pairs) have
 * (height + 1) / 2 rows. The last row counts only its pixels: GStreamer
 * may end a buffer there rather than at a full stride.
 */
gsize
dls_image_plane_size (DlsPixelFormat f, int plane, int width, int height,
    int stride)
{
  gsize rows, row_bytes;
  int bpp;

  if ((guint) f >= DLS_PIXEL_COUNT || width <= 0 || height <= 0
      || stride <= 0 || plane < 0)
    return 0;
  if (plane == 0) {
    rows = height;
    row_bytes = dls_pixel_format_packed (f, &bpp, NULL, NULL, NULL) ?
        (gsize) width * bpp : (gsize) width;
  } else if ((f == DLS_PIXEL_I420 && plane <= 2)
      || (f == DLS_PIXEL_NV12 && plane == 1)) {
    rows = (height + 1) / 2;
    row_bytes = (gsize) (width + 1) / 2 * (f == DLS_PIXEL_NV12 ? 2 : 1);
  } else {
    return 0;
  }
  if (row_bytes > (gsize) stride)
    return 0;
  return (rows - 1) * (gsize) stride + row_bytes;
}

/**
 * dls_yuv_matrix_init:
 * @kr, @kb: luma coefficients (BT.601: 0.299, 0.114; BT.709: 0.2126,
 *   0.0722); kg = 1 - kr - kb.
 *
 * With Y' in 0..1 and Pb, Pr in -0.5..0.5 (ITU-R BT.601/709 sec. 3):
 *   R = Y' + 2 (1 - kr) Pr,  B = Y' + 2 (1 - kb) Pb,
 *   G = Y' - 2 kb (1 - kb) / kg Pb - 2 kr (1 - kr) / kg Pr.
 * Limited range stores Y = 16 + 219 Y', U = 128 + 224 Pb (V alike), so
 * y_offset = 16, y_scale = 255 / 219 and every chroma factor carries
 * 255 / 224. Full range stores Y = 255 Y', U = 128 + 255 Pb: no offset,
 * unit scales.
 */
void
dls_yuv_matrix_init (DlsYuvMatrix * m, double kr, double kb,
    gboolean full_range)
{
  double kg = 1.0 - kr - kb;
  double cs = full_range ? 1.0 : 255.0 / 224.0;

  g_return_if_fail (m != NULL);

  m->y_offset = full_range ? 0.0f : 16.0f;
  m->y_scale = full_range ? 1.0f : (float) (255.0 / 219.0);
  m->rv = (float) (2.0 * (1.0 - kr) * cs);
  m->bu = (float) (2.0 * (1.0 - kb) * cs);
  m->gu = (float) (2.0 * kb * (1.0 - kb) / kg * cs);
  m->gv = (float) (2.0 * kr * (1.0 - kr) / kg * cs);
}

static inline float
clamp255 (float v)
{
  return v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
}

/* read_rgb()'s format lookup, done once a frame. */
typedef struct
{
  const DlsImage *img;
  gboolean packed;
  int bpp, ro, go, bo;
} RgbReader;

static void
rgb_reader_init (RgbReader * rd, const DlsImage * img)
{
  rd->img = img;
  rd->packed = dls_pixel_format_packed (img->format, &rd->bpp, &rd->ro,
      &rd->go, &rd->bo);
}

/* The source pixel (x, y) of @rd's image as R, G, B in 0..255; @packed is
 * rd->packed, a constant where the caller is specialised on it. */
static inline __attribute__ ((always_inline)) void
read_rgb (const RgbReader * rd, const gboolean packed, int x, int y,
    float rgb[3])
{
  const DlsImage *img = rd->img;

  if (packed) {
    const guint8 *p = img->planes[0] + (gsize) y * img->strides[0]
        + (gsize) x * rd->bpp;

    rgb[0] = p[rd->ro];
    rgb[1] = p[rd->go];
    rgb[2] = p[rd->bo];
  } else {
    const DlsYuvMatrix *m = &img->yuv;
    float Y = img->planes[0][(gsize) y * img->strides[0] + x];
    float U, V, l, u, v;

    if (img->format == DLS_PIXEL_I420) {
      U = img->planes[1][(gsize) (y / 2) * img->strides[1] + x / 2];
      V = img->planes[2][(gsize) (y / 2) * img->strides[2] + x / 2];
    } else {                    /* NV12 */
      const guint8 *uv = img->planes[1] + (gsize) (y / 2) * img->strides[1]
          + (gsize) (x / 2) * 2;

      U = uv[0];
      V = uv[1];
    }
    l = m->y_scale * (Y - m->y_offset);
    u = U - 128.0f;
    v = V - 128.0f;
    rgb[0] = clamp255 (l + m->rv * v);
    rgb[1] = clamp255 (l - m->gu * u - m->gv * v);
    rgb[2] = clamp255 (l + m->bu * u);
  }
}

/* The half-pixel source coordinate of destination index @d (see the banner
 * for the formula). */
static inline void
half_pixel (int d, int in, int out, int *s0, int *s1, float *f)
{
  float scale = (float) in / (float) out;
  float s = ((float) d + 0.5f) * scale - 0.5f;

  if (s < 0.0f)
    s = 0.0f;
  if (s > (float) (in - 1))
    s = (float) (in - 1);
  *s0 = (int) s;
  *s1 = MIN (*s0 + 1, in - 1);
  *f = s - (float) *s0;
}

static inline float
bilerp (float p00, float p01, float p10, float p11, float fx, float fy)
{
  float top = (1.0f - fx) * p00 + fx * p01;
  float bot = (1.0f - fx) * p10 + fx * p11;

  return (1.0f - fy) * top + fy * bot;
}

/**
 * dls_ref_preprocess:
 * @img: the frame (any DlsPixelFormat)
 * @out_w, @out_h: the network input size
 * @out_nhwc: (out caller-allocates): out_h * out_w * 3 floats, RGB
 *
 * Half-pixel bilinear resize of the frame converted to RGB, then
 * (v - mean) / std (see the banner for the exact formulas).
 */
void
dls_ref_preprocess (const DlsImage * img, int out_w, int out_h,
    float mean, float std, float *out_nhwc)
{
  RgbReader rd;
  int ox, oy, c;

  g_return_if_fail (img != NULL && out_nhwc != NULL);
  g_return_if_fail (img->width > 0 && img->height > 0);
  g_return_if_fail (out_w > 0 && out_h > 0);

  rgb_reader_init (&rd, img);
  for (oy = 0; oy < out_h; oy++) {
    int y0, y1;
    float fy;

    half_pixel (oy, img->height, out_h, &y0, &y1, &fy);
    for (ox = 0; ox < out_w; ox++) {
      float p00[3], p01[3], p10[3], p11[3];
      float *o = out_nhwc + ((gsize) oy * out_w + ox) * 3;
      int x0, x1;
      float fx;

      half_pixel (ox, img->width, out_w, &x0, &x1, &fx);
      read_rgb (&rd, rd.packed, x0, y0, p00);
      read_rgb (&rd, rd.packed, x1, y0, p01);
      read_rgb (&rd, rd.packed, x0, y1, p10);
      read_rgb (&rd, rd.packed, x1, y1, p11);
      for (c = 0; c < 3; c++)
        o[c] = (bilerp (p00[c], p01[c], p10[c], p11[c], fx, fy) - mean) / std;
    }
  }
}

/**
 * dls_ref_upsample_argmax:
 * @logits: NHWC {in_h, in_w, n_classes}, dense
 * @map: (out caller-allocates): out_h rows of @map_stride bytes
 * @conf: (out caller-allocates) (nullable): out_h rows of @conf_stride
 *   bytes, round (255 * max softmax) per pixel; NULL: not computed
 *
 * Half-pixel bilinear of every class's logit at each output pixel, then
 * the argmax (ties: lowest class id) and, with @conf, the confidence (the
 * banner gives the summation order). @n_classes must be 1..256.
 */
void
dls_ref_upsample_argmax (const float *logits, int in_w, int in_h,
    int n_classes, int out_w, int out_h, guint8 * map, int map_stride,
    guint8 * conf, int conf_stride, gboolean probs)
{
  int ox, oy, k;

  g_return_if_fail (logits != NULL && map != NULL);
  g_return_if_fail (in_w > 0 && in_h > 0 && out_w > 0 && out_h > 0);
  g_return_if_fail (n_classes >= 1 && n_classes <= 256);
  g_return_if_fail (map_stride >= out_w);
  g_return_if_fail (conf == NULL || conf_stride >= out_w);

  for (oy = 0; oy < out_h; oy++) {
    int y0, y1;
    float fy;

    half_pixel (oy, in_h, out_h, &y0, &y1, &fy);
    for (ox = 0; ox < out_w; ox++) {
      const float *p00, *p01, *p10, *p11;
      int x0, x1, best = 0;
      float fx, best_v = 0.0f;

      half_pixel (ox, in_w, out_w, &x0, &x1, &fx);
      p00 = logits + ((gsize) y0 * in_w + x0) * n_classes;
      p01 = logits + ((gsize) y0 * in_w + x1) * n_classes;
      p10 = logits + ((gsize) y1 * in_w + x0) * n_classes;
      p11 = logits + ((gsize) y1 * in_w + x1) * n_classes;
      for (k = 0; k < n_classes; k++) {
        float v = bilerp (p00[k], p01[k], p10[k], p11[k], fx, fy);

        if (k == 0 || v > best_v) {
          best_v = v;
          best = k;
        }
      }
      map[(gsize) oy * map_stride + ox] = (guint8) best;
      if (conf && probs) {
        conf[(gsize) oy * conf_stride + ox] = (guint8) MIN (255.0f * best_v
            + 0.5f, 255.0f);
      } else if (conf) {
        float lane[8] = { 0.0f }, total;

        /* the interpolation again, as the kernel's second pass does */
        for (k = 0; k < n_classes; k++)
          lane[k % 8] += expf (bilerp (p00[k], p01[k], p10[k], p11[k], fx,
                  fy) - best_v);
        total = lane[0];
        for (int l = 1; l < 8; l++)
          total += lane[l];
        conf[(gsize) oy * conf_stride + ox] = (guint8) (255.0f / total
            + 0.5f);
      }
    }
  }
}

/* ---- for the dense CRF (gst/crf/) ---- */

/* Four floats, one SSE register: each lane does the scalar operations in
 * their order (no FMA on the x86-64 baseline), so the bits are bilerp()'s
 * with the rounding of frame_rgb(). */
typedef float Px4 __attribute__ ((vector_size (16)));
typedef int Px4i __attribute__ ((vector_size (16)));
typedef guint8 Px4b __attribute__ ((vector_size (4)));

/* A pixel's four bytes (bpp 4) in memory order, or R, G, B (and 0). */
static inline __attribute__ ((always_inline)) Px4
load_px4 (const guint8 * p, const RgbReader * rd, const gboolean four)
{
  if (four) {
    Px4b b;

    memcpy (&b, p, 4);
    return __builtin_convertvector (b, Px4);
  }
  return (Px4) { p[rd->ro], p[rd->go], p[rd->bo], 0.0f };
}

/* Columns a block of frame_rgb_packed_resize(): their taps found once. */
#define FRAME_RGB_BLOCK 64

/* dls_ref_frame_rgb() of a packed frame at another size, by blocks of
 * columns whose taps are found once (then every row), a pixel's channels
 * interpolated in one vector (@four: the frame's 4 bytes a pixel as they
 * are, R, G and B picked at the end; else R, G, B gathered). */
static inline __attribute__ ((always_inline)) void
frame_rgb_packed_resize (const RgbReader * rd, const gboolean four,
    int out_w, int out_h, guint8 * rgb, int stride)
{
  const DlsImage *img = rd->img;
  const int c0 = four ? rd->ro : 0, c1 = four ? rd->go : 1;
  const int c2 = four ? rd->bo : 2;
  gsize off0[FRAME_RGB_BLOCK], off1[FRAME_RGB_BLOCK];
  float fxs[FRAME_RGB_BLOCK];

  for (int xb = 0; xb < out_w; xb += FRAME_RGB_BLOCK) {
    const int nx = MIN (FRAME_RGB_BLOCK, out_w - xb);

    for (int i = 0; i < nx; i++) {
      int x0, x1;

      half_pixel (xb + i, img->width, out_w, &x0, &x1, &fxs[i]);
      off0[i] = (gsize) x0 * rd->bpp;
      off1[i] = (gsize) x1 * rd->bpp;
    }
    for (int y = 0; y < out_h; y++) {
      const guint8 *r0, *r1;
      guint8 *o = rgb + (gsize) y * stride + (gsize) xb * 3;
      int y0, y1;
      float fy;

      half_pixel (y, img->height, out_h, &y0, &y1, &fy);
      r0 = img->planes[0] + (gsize) y0 * img->strides[0];
      r1 = img->planes[0] + (gsize) y1 * img->strides[0];
      for (int i = 0; i < nx; i++, o += 3) {
        const float fx = fxs[i];
        Px4 top, bot;
        Px4i c;

        top = (1.0f - fx) * load_px4 (r0 + off0[i], rd, four)
            + fx * load_px4 (r0 + off1[i], rd, four);
        bot = (1.0f - fx) * load_px4 (r1 + off0[i], rd, four)
            + fx * load_px4 (r1 + off1[i], rd, four);
        c = __builtin_convertvector ((1.0f - fy) * top + fy * bot + 0.5f,
            Px4i);
        o[0] = (guint8) c[c0];
        o[1] = (guint8) c[c1];
        o[2] = (guint8) c[c2];
      }
    }
  }
}

/* dls_ref_frame_rgb() with @packed = rd->packed a constant. */
static inline __attribute__ ((always_inline)) void
frame_rgb (const RgbReader * rd, const gboolean packed, int out_w,
    int out_h, guint8 * rgb, int stride)
{
  const DlsImage *img = rd->img;
  const gboolean same = out_w == img->width && out_h == img->height;

  if (packed && !same) {
    if (rd->bpp == 4)
      frame_rgb_packed_resize (rd, TRUE, out_w, out_h, rgb, stride);
    else
      frame_rgb_packed_resize (rd, FALSE, out_w, out_h, rgb, stride);
    return;
  }
  for (int y = 0; y < out_h; y++) {
    int y0 = y, y1 = y;
    float fy = 0.0f;

    if (!same)
      half_pixel (y, img->height, out_h, &y0, &y1, &fy);
    for (int x = 0; x < out_w; x++) {
      guint8 *o = rgb + (gsize) y * stride + (gsize) x * 3;
      float c[3];

      if (same) {
        read_rgb (rd, packed, x, y, c);
      } else {
        float c00[3], c01[3], c10[3], c11[3], fx;
        int x0, x1;

        half_pixel (x, img->width, out_w, &x0, &x1, &fx);
        read_rgb (rd, packed, x0, y0, c00);
        read_rgb (rd, packed, x1, y0, c01);
        read_rgb (rd, packed, x0, y1, c10);
        read_rgb (rd, packed, x1, y1, c11);
        for (int i = 0; i < 3; i++)
          c[i] = bilerp (c00[i], c01[i], c10[i], c11[i], fx, fy);
      }
      for (int i = 0; i < 3; i++)
        o[i] = (guint8) (c[i] + 0.5f);
    }
  }
}

/**
 * dls_ref_frame_rgb:
 * @rgb: (out caller-allocates): @out_h rows of @stride bytes, 3 a pixel
 *
 * The frame as RGB bytes at @out_w x @out_h (YUV converted as in the
 * banner; half-pixel bilinear when the size differs, after conversion;
 * rounded to the nearest integer): the colour features of the CRF's
 * bilateral kernel, on the CRF's grid.
 */
void
dls_ref_frame_rgb (const DlsImage * img, int out_w, int out_h, guint8 * rgb,
    int stride)
{
  RgbReader rd;

  rgb_reader_init (&rd, img);
  if (rd.packed)
    frame_rgb (&rd, TRUE, out_w, out_h, rgb, stride);
  else
    frame_rgb (&rd, FALSE, out_w, out_h, rgb, stride);
}

/**
 * dls_ref_upsample_unary:
 * @logits: NHWC {in_h, in_w, n_classes}, dense
 * @unary: (out caller-allocates): out_h * out_w rows of @row floats
 *
 * The CRF's unary energies at the frame size: U = -v with v the
 * half-pixel bilinear logit (as dls_ref_upsample_argmax interpolates);
 * lanes n_classes .. @row - 1 get 1e30 (padding that never wins).
 * -logits differs from -log softmax (logits) by a per-pixel constant,
 * which mean-field inference ignores.
 */
void
dls_ref_upsample_unary (const float *logits, int in_w, int in_h,
    int n_classes, int out_w, int out_h, int row, float *unary)
{
  g_return_if_fail (logits != NULL && unary != NULL && row >= n_classes);
  for (int oy = 0; oy < out_h; oy++) {
    int y0, y1;
    float fy;

    half_pixel (oy, in_h, out_h, &y0, &y1, &fy);
    for (int ox = 0; ox < out_w; ox++) {
      float *u = unary + ((gsize) oy * out_w + ox) * row;
      const float *p00, *p01, *p10, *p11;
      int x0, x1;
      float fx;

      half_pixel (ox, in_w, out_w, &x0, &x1, &fx);
      p00 = logits + ((gsize) y0 * in_w + x0) * n_classes;
      p01 = logits + ((gsize) y0 * in_w + x1) * n_classes;
      p10 = logits + ((gsize) y1 * in_w + x0) * n_classes;
      p11 = logits + ((gsize) y1 * in_w + x1) * n_classes;
      for (int k = 0; k < row; k++)
        u[k] = k < n_classes ? -bilerp (p00[k], p01[k], p10[k], p11[k], fx,
            fy) : 1e30f;
    }
  }
}

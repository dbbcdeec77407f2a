/* deeplabseg: palette blending of a class map into a video frame.
 *
 * out = in + alpha * (colour(class) - in) for every pixel whose class is
 * not 0 (background is left untouched). The per-pixel arithmetic is ORC
 * (blend.orc); dls_overlay_new() picks the row function for the frame's
 * format once, at negotiation. Packed RGB formats blend R, G, B and keep
 * any alpha/padding byte; I420 and NV12 blend Y at full resolution and
 * U/V at chroma resolution (the class of the top-left pixel of each 2x2
 * block), with the palette converted to YUV once.
 */
#ifndef DLS_OVERLAY_H
#define DLS_OVERLAY_H

#include <gst/video/video.h>

G_BEGIN_DECLS

typedef struct
{
  guint8 rgb[256][3];
} DlsPalette;

/* PASCAL VOC colour map (bit-interleaved class id), 256 entries. */
void dls_palette_init_voc (DlsPalette * p);

/* palette.c: a palette from "0xRRGGBB,..." or a file of such colours
 * (classes past the list keep the VOC colour); the selected classes of a
 * "person,dog" / "15,12" list as a 256-entry 0/1 table. */
gboolean dls_palette_parse (DlsPalette * p, const gchar * spec,
    GError ** error);
gboolean dls_class_select_resolve (const gchar * spec,
    const gchar * const *labels, int n_classes, guint8 keep[256],
    GError ** error);

/* blur.c: box blur of every plane of @src into @dst (same video info, @tmp
 * a scratch frame like @dst), radius @radius pixels (chroma planes of
 * I420 / NV12: max (1, radius / 2)); @acc: 4 * width guint32. Alpha and
 * padding bytes are blurred too (the composite never writes them). */
void dls_blur_frame (const GstVideoFrame * src, GstVideoFrame * tmp,
    GstVideoFrame * dst, int radius, guint32 * acc);

typedef struct _DlsOverlay DlsOverlay;

/* Returns NULL when the format is not supported. Allocates its scratch rows
 * here, never per frame. */
DlsOverlay *dls_overlay_new (const GstVideoInfo * info);
void dls_overlay_free (DlsOverlay * o);

/* @alpha in 0..1. @map: width x height class ids, rows @map_stride apart. */
void dls_overlay_blend (DlsOverlay * o, GstVideoFrame * frame,
    const guint8 * map, int map_stride, const DlsPalette * palette,
    double alpha);

/* Like dls_overlay_blend(), the colours read from @src (same video info)
 * instead of a palette: background replacement and blur. */
void dls_overlay_composite (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, const guint8 * map, int map_stride,
    double alpha);

G_END_DECLS

#endif /* DLS_OVERLAY_H */

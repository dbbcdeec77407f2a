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

typedef struct _DlsOverlay DlsOverlay;

/* Returns NULL when the format is not supported. Allocates its scratch rows
 * here, never per frame. */
DlsOverlay *dls_overlay_new (const GstVideoInfo * info);
void dls_overlay_free (DlsOverlay * o);

/* @alpha in 0..1. @map: width x height class ids, rows @map_stride apart. */
void dls_overlay_blend (DlsOverlay * o, GstVideoFrame * frame,
    const guint8 * map, int map_stride, const DlsPalette * palette,
    double alpha);

G_END_DECLS

#endif /* DLS_OVERLAY_H */

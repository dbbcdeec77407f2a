/* deeplabseg: the segmentation meta, a public API of its own small library
 * (libgstdeeplabsegmeta-1.0) so applications can read results. */
#ifndef GST_DEEPLABSEG_META_H
#define GST_DEEPLABSEG_META_H

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

#define GST_DEEPLABSEG_META_API_TYPE (gst_deeplabseg_meta_api_get_type ())
#define GST_DEEPLABSEG_META_INFO (gst_deeplabseg_meta_get_info ())

/**
 * GstDeeplabsegMeta:
 * @meta: parent #GstMeta
 * @mask: the class map: a GRAY8 #GstBuffer of @width x @height bytes
 *   (pixel = class id), with a #GstVideoMeta giving its stride
 * @x: left of the frame rectangle the mask covers
 * @y: top of the frame rectangle the mask covers
 * @width: width of the mask (and of that rectangle), in pixels
 * @height: height of the mask, in pixels
 * @n_classes: number of classes of the model
 * @labels: (nullable) (array zero-terminated=1): class names, index = id
 * @confidence: (nullable): per-pixel confidence, a GRAY8 #GstBuffer of the
 *   mask's size with its own #GstVideoMeta: round (255 * the largest class
 *   probability), 1..255; %NULL unless deeplabseg's `confidence` is on
 *
 * Attached by deeplabseg in mode=meta. The layout follows GStreamer 1.26's
 * segmentation analytics meta (mask buffer + covered rectangle).
 */
typedef struct
{
  GstMeta meta;
  GstBuffer *mask;
  gint x, y;
  guint width, height;
  guint n_classes;
  gchar **labels;
  GstBuffer *confidence;
} GstDeeplabsegMeta;

GType gst_deeplabseg_meta_api_get_type (void);
const GstMetaInfo *gst_deeplabseg_meta_get_info (void);

/* Attaches the meta; @mask (transfer full) needs a GRAY8 GstVideoMeta. */
GstDeeplabsegMeta *gst_buffer_add_deeplabseg_meta (GstBuffer * buffer,
    GstBuffer * mask, guint n_classes, const gchar * const *labels);

/* Attaches (or replaces) the confidence plane; @confidence (transfer
 * full) needs a GRAY8 GstVideoMeta of the mask's size. */
gboolean gst_deeplabseg_meta_set_confidence (GstDeeplabsegMeta * meta,
    GstBuffer * confidence);

/* The meta of @buffer, or NULL. */
GstDeeplabsegMeta *gst_buffer_get_deeplabseg_meta (GstBuffer * buffer);

/* Bindings: a dense copy of the map, and a class name by id (see the .c). */
GBytes *gst_deeplabseg_meta_get_class_map (GstDeeplabsegMeta * meta,
    guint * width, guint * height);

GBytes *gst_deeplabseg_meta_get_confidence_map (GstDeeplabsegMeta * meta,
    guint * width, guint * height);

const gchar *gst_deeplabseg_meta_get_label (GstDeeplabsegMeta * meta,
    guint class_id);

G_END_DECLS

#endif /* GST_DEEPLABSEG_META_H */

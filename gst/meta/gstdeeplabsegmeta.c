/* deeplabseg: the segmentation meta (libgstdeeplabsegmeta-1.0).
 *
 * A GstDeeplabsegMeta carries the class map of a frame as its own GRAY8
 * buffer (with a GstVideoMeta for its stride) plus the class names, and
 * optionally a confidence plane in a second GRAY8 buffer. Both buffers are
 * reference counted, so copying a frame shares them instead of
 * duplicating them.
 */

/**
 * SECTION:gstdeeplabsegmeta
 * @title: GstDeeplabsegMeta
 * @short_description: Semantic segmentation class map attached to a frame
 *
 * The deeplabseg element in mode=meta attaches a #GstDeeplabsegMeta to each
 * frame instead of drawing on it. Applications read it with
 * gst_buffer_get_deeplabseg_meta() and map @mask with gst_video_frame_map()
 * or through its #GstVideoMeta (gst_video_meta_map()), since rows may be
 * padded. With the element's `confidence` property on, @confidence holds
 * a second plane of the same size: round (255 * the probability of the
 * most likely class) per pixel.
 *
 * The meta is registered with the tags "video", "size" and "orientation":
 * the mask is tied to the geometry of the frame it describes. Elements that
 * only copy frames or change their colour format keep it (the mask buffer
 * is shared, not copied); elements that scale, crop, rotate or flip drop it
 * (a scale transform is accepted only when the size does not change).
 */
#include "gstdeeplabsegmeta.h"

#include <string.h>

static gboolean gst_deeplabseg_meta_init (GstMeta * meta, gpointer params,
    GstBuffer * buffer);
static void gst_deeplabseg_meta_free (GstMeta * meta, GstBuffer * buffer);
static gboolean gst_deeplabseg_meta_transform (GstBuffer * dest,
    GstMeta * meta, GstBuffer * buffer, GQuark type, gpointer data);

/**
 * gst_deeplabseg_meta_api_get_type:
 *
 * Registers (once, thread-safe) the "GstDeeplabsegMetaAPI" meta API with
 * the tags "video", "size" and "orientation".
 *
 * Returns: the #GType of the meta API
 */
GType
gst_deeplabseg_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    /* the mask depends on the frame's size and orientation, not on its
     * colour format: converters keep the meta, scalers and flips drop it */
    static const gchar *tags[] = {
      GST_META_TAG_VIDEO_STR,
      GST_META_TAG_VIDEO_SIZE_STR,
      GST_META_TAG_VIDEO_ORIENTATION_STR,
      NULL
    };
    GType api = gst_meta_api_type_register ("GstDeeplabsegMetaAPI", tags);

    g_once_init_leave (&type, api);
  }
  return type;
}

/**
 * gst_deeplabseg_meta_get_info:
 *
 * Registers (once, thread-safe) the #GstDeeplabsegMeta implementation.
 *
 * Returns: the #GstMetaInfo of #GstDeeplabsegMeta
 */
const GstMetaInfo *
gst_deeplabseg_meta_get_info (void)
{
  static const GstMetaInfo *meta_info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & meta_info)) {
    const GstMetaInfo *mi =
        gst_meta_register (GST_DEEPLABSEG_META_API_TYPE, "GstDeeplabsegMeta",
        sizeof (GstDeeplabsegMeta), gst_deeplabseg_meta_init,
        gst_deeplabseg_meta_free, gst_deeplabseg_meta_transform);

    g_once_init_leave ((GstMetaInfo **) & meta_info, (GstMetaInfo *) mi);
  }
  return meta_info;
}

static gboolean
gst_deeplabseg_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstDeeplabsegMeta *m = (GstDeeplabsegMeta *) meta;

  /* gst_buffer_add_meta() does not zero the fields after the GstMeta */
  m->mask = NULL;
  m->x = m->y = 0;
  m->width = m->height = 0;
  m->n_classes = 0;
  m->labels = NULL;
  m->confidence = NULL;
  return TRUE;
}

static void
gst_deeplabseg_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstDeeplabsegMeta *m = (GstDeeplabsegMeta *) meta;

  gst_clear_buffer (&m->mask);
  gst_clear_buffer (&m->confidence);
  g_clear_pointer (&m->labels, g_strfreev);
}

static gboolean
gst_deeplabseg_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buffer, GQuark type, gpointer data)
{
  GstDeeplabsegMeta *src = (GstDeeplabsegMeta *) meta;
  GstDeeplabsegMeta *m;

  if (GST_META_TRANSFORM_IS_COPY (type)) {
    GstMetaTransformCopy *copy = data;

    /* a region (a byte range of the buffer) is not a frame any more */
    if (copy->region)
      return FALSE;
  } else if (type == gst_video_meta_transform_scale_get_quark ()) {
    GstVideoMetaTransform *trans = data;

    /* converters that can also scale (videoconvertscale) use this for
     * format-only conversions: keep the mask when the size is unchanged */
    if (GST_VIDEO_INFO_WIDTH (trans->in_info) !=
        GST_VIDEO_INFO_WIDTH (trans->out_info) ||
        GST_VIDEO_INFO_HEIGHT (trans->in_info) !=
        GST_VIDEO_INFO_HEIGHT (trans->out_info))
      return FALSE;
  } else {
    return FALSE;
  }

  m = (GstDeeplabsegMeta *) gst_buffer_add_meta (dest,
      GST_DEEPLABSEG_META_INFO, NULL);
  if (m == NULL)
    return FALSE;

  /* share the planes: copies of a frame see the same class map */
  m->mask = src->mask ? gst_buffer_ref (src->mask) : NULL;
  m->confidence = src->confidence ? gst_buffer_ref (src->confidence) : NULL;
  m->x = src->x;
  m->y = src->y;
  m->width = src->width;
  m->height = src->height;
  m->n_classes = src->n_classes;
  m->labels = g_strdupv (src->labels);
  return TRUE;
}

/**
 * gst_buffer_add_deeplabseg_meta:
 * @buffer: a writable #GstBuffer
 * @mask: (transfer full): GRAY8 class map with a #GstVideoMeta
 * @n_classes: number of classes
 * @labels: (nullable) (array zero-terminated=1): class names, copied
 *
 * Attaches a #GstDeeplabsegMeta covering the rectangle (0, 0, width,
 * height), width and height being those of @mask's #GstVideoMeta. @mask is
 * owned by the meta from now on (also when this fails).
 *
 * Returns: (transfer none) (nullable): the new meta, or %NULL if @mask has
 *   no #GstVideoMeta
 */
GstDeeplabsegMeta *
gst_buffer_add_deeplabseg_meta (GstBuffer * buffer, GstBuffer * mask,
    guint n_classes, const gchar * const *labels)
{
  GstDeeplabsegMeta *m;
  GstVideoMeta *vmeta;

  g_return_val_if_fail (GST_IS_BUFFER (mask), NULL);
  if (!GST_IS_BUFFER (buffer) || !gst_buffer_is_writable (buffer)) {
    g_critical ("%s: buffer is not a writable GstBuffer", G_STRFUNC);
    gst_buffer_unref (mask);
    return NULL;
  }

  vmeta = gst_buffer_get_video_meta (mask);
  if (vmeta == NULL || vmeta->format != GST_VIDEO_FORMAT_GRAY8) {
    g_critical ("%s: the mask needs a GRAY8 GstVideoMeta", G_STRFUNC);
    gst_buffer_unref (mask);
    return NULL;
  }

  m = (GstDeeplabsegMeta *) gst_buffer_add_meta (buffer,
      GST_DEEPLABSEG_META_INFO, NULL);
  m->mask = mask;
  m->x = 0;
  m->y = 0;
  m->width = vmeta->width;
  m->height = vmeta->height;
  m->n_classes = n_classes;
  m->labels = g_strdupv ((gchar **) labels);
  return m;
}

/**
 * gst_deeplabseg_meta_set_confidence:
 * @meta: a #GstDeeplabsegMeta
 * @confidence: (transfer full): GRAY8 plane with a #GstVideoMeta of
 *   @meta's width and height, value = round (255 * max class probability)
 *
 * Attaches the confidence plane, replacing one already there. @confidence
 * is owned by the meta from now on (also when this fails).
 *
 * Returns: %FALSE (and nothing attached) if @confidence has no GRAY8
 *   #GstVideoMeta of the mask's size
 */
gboolean
gst_deeplabseg_meta_set_confidence (GstDeeplabsegMeta * meta,
    GstBuffer * confidence)
{
  GstVideoMeta *vmeta;

  g_return_val_if_fail (GST_IS_BUFFER (confidence), FALSE);
  if (meta == NULL) {
    g_critical ("%s: meta is NULL", G_STRFUNC);
    gst_buffer_unref (confidence);
    return FALSE;
  }
  vmeta = gst_buffer_get_video_meta (confidence);
  if (vmeta == NULL || vmeta->format != GST_VIDEO_FORMAT_GRAY8
      || vmeta->width != meta->width || vmeta->height != meta->height) {
    g_critical ("%s: the confidence plane needs a GRAY8 GstVideoMeta of "
        "%ux%u", G_STRFUNC, meta->width, meta->height);
    gst_buffer_unref (confidence);
    return FALSE;
  }
  gst_clear_buffer (&meta->confidence);
  meta->confidence = confidence;
  return TRUE;
}

/**
 * gst_buffer_get_deeplabseg_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the #GstDeeplabsegMeta of @buffer,
 *   or %NULL
 */
GstDeeplabsegMeta *
gst_buffer_get_deeplabseg_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstDeeplabsegMeta *) gst_buffer_get_meta (buffer,
      GST_DEEPLABSEG_META_API_TYPE);
}

/* @plane (the mask or the confidence, meta->width x meta->height bytes
 * at the offset and stride of its GstVideoMeta, or dense from byte 0
 * without one) as dense rows; NULL when the rows do not fit the buffer or
 * the stride is shorter than a row (negative: bottom-up rows are not made
 * by the element and refused). */
static GBytes *
dense_copy (GstDeeplabsegMeta * meta, GstBuffer * plane, guint * width,
    guint * height)
{
  GstVideoMeta *vmeta;
  GstMapInfo map;
  gpointer data;
  gsize offset = 0, stride = meta->width, w = meta->width, h = meta->height;
  guint8 *dst;

  if (width)
    *width = meta->width;
  if (height)
    *height = meta->height;
  vmeta = gst_buffer_get_video_meta (plane);
  if (vmeta) {
    if (vmeta->stride[0] < 0)
      return NULL;
    offset = vmeta->offset[0];
    stride = (gsize) vmeta->stride[0];
  }
  if (!gst_buffer_map (plane, &map, GST_MAP_READ))
    return NULL;
  /* offset + stride * (h - 1) + w <= size, without overflow */
  if (h > 0 && w > 0 && (stride < w || offset > map.size
          || map.size - offset < w
          || (map.size - offset - w) / stride < h - 1)) {
    gst_buffer_unmap (plane, &map);
    return NULL;
  }
  dst = data = g_malloc (w * h);
  for (gsize y = 0; y < h && w > 0; y++, dst += w)
    memcpy (dst, map.data + offset + y * stride, w);
  gst_buffer_unmap (plane, &map);
  return g_bytes_new_take (data, w * h);
}

/**
 * gst_deeplabseg_meta_get_class_map:
 * @meta: a #GstDeeplabsegMeta
 * @width: (out) (optional): width of the map
 * @height: (out) (optional): height of the map
 *
 * Copies the class map into dense rows (stride = @width), one byte a pixel,
 * pixel value = class id: the form bindings want (Python:
 * `numpy.frombuffer (meta.get_class_map ()[0].get_data (), numpy.uint8)`).
 * C code can map @meta->mask instead and avoid the copy.
 *
 * Returns: (transfer full) (nullable): @height rows of @width bytes, or
 *   %NULL if the mask cannot be mapped
 */
GBytes *
gst_deeplabseg_meta_get_class_map (GstDeeplabsegMeta * meta, guint * width,
    guint * height)
{
  g_return_val_if_fail (meta != NULL && GST_IS_BUFFER (meta->mask), NULL);

  return dense_copy (meta, meta->mask, width, height);
}

/**
 * gst_deeplabseg_meta_get_confidence_map:
 * @meta: a #GstDeeplabsegMeta
 * @width: (out) (optional): width of the plane
 * @height: (out) (optional): height of the plane
 *
 * Copies the confidence plane into dense rows (stride = @width), one byte
 * a pixel, value = round (255 * the probability of the most likely class),
 * like gst_deeplabseg_meta_get_class_map().
 *
 * Returns: (transfer full) (nullable): @height rows of @width bytes, or
 *   %NULL if the meta has no confidence plane or it cannot be mapped
 */
GBytes *
gst_deeplabseg_meta_get_confidence_map (GstDeeplabsegMeta * meta,
    guint * width, guint * height)
{
  g_return_val_if_fail (meta != NULL, NULL);

  if (!meta->confidence)
    return NULL;
  return dense_copy (meta, meta->confidence, width, height);
}

/**
 * gst_deeplabseg_meta_get_label:
 * @meta: a #GstDeeplabsegMeta
 * @class_id: a class id (a pixel value of the map)
 *
 * Returns: (transfer none) (nullable): the name of @class_id, or %NULL when
 *   the meta has no labels or @class_id is out of range
 */
const gchar *
gst_deeplabseg_meta_get_label (GstDeeplabsegMeta * meta, guint class_id)
{
  g_return_val_if_fail (meta != NULL, NULL);

  if (!meta->labels || class_id >= meta->n_classes)
    return NULL;
  for (guint i = 0; i <= class_id; i++)
    if (!meta->labels[i])
      return NULL;
  return meta->labels[class_id];
}

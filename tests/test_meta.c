/* deeplabseg tests: GstDeeplabsegMeta (libgstdeeplabsegmeta-1.0).
 *
 * Adding and reading the meta, the labels being copied, the mask being
 * readable through its GstVideoMeta (padded stride), copies sharing the
 * mask, transforms that must drop it (region copy, scaling, unknown) and
 * the mask being released exactly when the last frame holding it goes; the
 * optional confidence plane (set, read densely, shared by copies, freed,
 * refused when its size is not the mask's).
 * Mask lifetimes are followed with a weak reference, and the run enables
 * the "leaks" tracer so that any buffer left alive fails it.
 */
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include <string.h>

#include "gstdeeplabsegmeta.h"

#define MASK_W 33
#define MASK_H 17
#define MASK_STRIDE 40          /* padded rows: readers must use the stride */
#define N_CLASSES 21

static const gchar *const voc_labels[] = {
  "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
  "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
  "person", "pottedplant", "sheep", "sofa", "train", "tv", NULL
};

static guint8
mask_value (guint x, guint y)
{
  return (x + 3 * y) % N_CLASSES;
}

static void
mask_finalized (gpointer data, GstMiniObject * where_the_object_was)
{
  *(gboolean *) data = TRUE;
}

/* A confidence value that differs from the mask's at every pixel. */
static guint8
conf_value (guint x, guint y)
{
  return 100 + mask_value (x, y) * 7;
}

/* A GRAY8 plane of @w x @h with padded rows (padding 0xff, which is not a
 * class), pixel = @value (x, y), and a weak reference that sets *@freed
 * when it is destroyed. */
static GstBuffer *
make_plane (gboolean * freed, guint w, guint h, guint8 (*value) (guint,
        guint))
{
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0, };
  gint stride[GST_VIDEO_MAX_PLANES] = { MASK_STRIDE, };
  GstBuffer *mask = gst_buffer_new_allocate (NULL, MASK_STRIDE * h, NULL);
  GstMapInfo map;
  guint x, y;

  fail_unless (gst_buffer_map (mask, &map, GST_MAP_WRITE));
  memset (map.data, 0xff, map.size);
  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++)
      map.data[y * MASK_STRIDE + x] = value (x, y);
  gst_buffer_unmap (mask, &map);

  fail_unless (gst_buffer_add_video_meta_full (mask, GST_VIDEO_FRAME_FLAG_NONE,
          GST_VIDEO_FORMAT_GRAY8, w, h, 1, offset, stride) != NULL);

  *freed = FALSE;
  gst_mini_object_weak_ref (GST_MINI_OBJECT_CAST (mask), mask_finalized,
      freed);
  return mask;
}

static GstBuffer *
make_mask (gboolean * freed)
{
  return make_plane (freed, MASK_W, MASK_H, mask_value);
}

/* A frame buffer with @mask attached (mask ownership passes to the meta). */
static GstBuffer *
make_frame (GstBuffer * mask, const gchar * const *labels)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 64, NULL);

  fail_unless (gst_buffer_add_deeplabseg_meta (buf, mask, N_CLASSES,
          labels) != NULL);
  return buf;
}

static void
assert_mask_contents (GstBuffer * mask)
{
  GstVideoMeta *vmeta = gst_buffer_get_video_meta (mask);
  GstMapInfo map;
  gpointer data;
  gint stride;
  guint x, y;

  fail_unless (vmeta != NULL);
  fail_unless_equals_int (vmeta->format, GST_VIDEO_FORMAT_GRAY8);
  fail_unless (gst_video_meta_map (vmeta, 0, &map, &data, &stride,
          GST_MAP_READ));
  fail_unless_equals_int (stride, MASK_STRIDE);
  for (y = 0; y < MASK_H; y++)
    for (x = 0; x < MASK_W; x++)
      fail_unless (((guint8 *) data)[y * stride + x] == mask_value (x, y),
          "mask (%u, %u) is %u, expected %u", x, y,
          ((guint8 *) data)[y * stride + x], mask_value (x, y));
  gst_video_meta_unmap (vmeta, 0, &map);
}

GST_START_TEST (test_add_get)
{
  gboolean freed;
  GstBuffer *mask = make_mask (&freed);
  GstBuffer *buf, *plain;
  GstDeeplabsegMeta *meta;
  guint i;

  buf = make_frame (mask, voc_labels);
  meta = gst_buffer_get_deeplabseg_meta (buf);
  fail_unless (meta != NULL);
  fail_unless (meta->meta.info->api == GST_DEEPLABSEG_META_API_TYPE);
  fail_unless (meta->mask == mask);
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (mask), 1);
  fail_unless_equals_int (meta->x, 0);
  fail_unless_equals_int (meta->y, 0);
  fail_unless_equals_int (meta->width, MASK_W);
  fail_unless_equals_int (meta->height, MASK_H);
  fail_unless_equals_int (meta->n_classes, N_CLASSES);
  assert_mask_contents (meta->mask);

  /* labels are a copy: same strings, none of the caller's pointers */
  fail_unless (meta->labels != NULL);
  fail_unless ((gconstpointer) meta->labels != (gconstpointer) voc_labels);
  fail_unless_equals_int (g_strv_length (meta->labels), N_CLASSES);
  for (i = 0; i < N_CLASSES; i++) {
    fail_unless_equals_string (meta->labels[i], voc_labels[i]);
    fail_unless (meta->labels[i] != voc_labels[i]);
  }

  /* a buffer without the meta */
  plain = gst_buffer_new ();
  fail_unless (gst_buffer_get_deeplabseg_meta (plain) == NULL);
  gst_buffer_unref (plain);

  fail_if (freed);
  gst_buffer_unref (buf);
  fail_unless (freed, "freeing the frame did not release the mask");
}

GST_END_TEST;

/* The binding-friendly accessors: a dense copy of the padded mask, and
 * labels by id with out-of-range ids answered by NULL. */
GST_START_TEST (test_accessors)
{
  gboolean freed;
  GstBuffer *buf = make_frame (make_mask (&freed), voc_labels);
  GstDeeplabsegMeta *meta = gst_buffer_get_deeplabseg_meta (buf);
  guint w = 0, h = 0, x, y;
  GBytes *map = gst_deeplabseg_meta_get_class_map (meta, &w, &h);
  gsize size;
  const guint8 *d = g_bytes_get_data (map, &size);

  fail_unless_equals_int (w, MASK_W);
  fail_unless_equals_int (h, MASK_H);
  fail_unless_equals_int (size, MASK_W * MASK_H);
  for (y = 0; y < MASK_H; y++)
    for (x = 0; x < MASK_W; x++)
      fail_unless (d[y * MASK_W + x] == mask_value (x, y),
          "dense map (%u, %u) is %u, expected %u", x, y, d[y * MASK_W + x],
          mask_value (x, y));
  g_bytes_unref (map);

  fail_unless_equals_string (gst_deeplabseg_meta_get_label (meta, 0),
      "background");
  fail_unless_equals_string (gst_deeplabseg_meta_get_label (meta, 20), "tv");
  fail_unless (gst_deeplabseg_meta_get_label (meta, 21) == NULL);
  fail_unless (gst_deeplabseg_meta_get_label (meta, G_MAXUINT) == NULL);
  gst_buffer_unref (buf);
  fail_unless (freed);

  buf = make_frame (make_mask (&freed), NULL);
  meta = gst_buffer_get_deeplabseg_meta (buf);
  fail_unless (gst_deeplabseg_meta_get_label (meta, 0) == NULL);
  gst_buffer_unref (buf);
}

GST_END_TEST;

/* A plane that starts at an offset (and has padded rows): the dense
 * copies read it where its GstVideoMeta says; rows that would run past the
 * buffer give NULL. */
GST_START_TEST (test_accessors_offset)
{
  const gsize off = 24;
  gsize offset[GST_VIDEO_MAX_PLANES] = { off, };
  gint stride[GST_VIDEO_MAX_PLANES] = { MASK_STRIDE, };
  GstBuffer *mask = gst_buffer_new_allocate (NULL,
      off + MASK_STRIDE * MASK_H, NULL);
  GstBuffer *conf = gst_buffer_new_allocate (NULL,
      off + MASK_STRIDE * MASK_H, NULL);
  GstBuffer *buf;
  GstDeeplabsegMeta *meta;
  GstMapInfo mm, cm;
  GBytes *bytes[2];
  GstVideoMeta *vmeta;

  fail_unless (gst_buffer_map (mask, &mm, GST_MAP_WRITE));
  fail_unless (gst_buffer_map (conf, &cm, GST_MAP_WRITE));
  memset (mm.data, 0xff, mm.size);
  memset (cm.data, 0xff, cm.size);
  for (guint y = 0; y < MASK_H; y++)
    for (guint x = 0; x < MASK_W; x++) {
      mm.data[off + y * MASK_STRIDE + x] = mask_value (x, y);
      cm.data[off + y * MASK_STRIDE + x] = conf_value (x, y);
    }
  gst_buffer_unmap (mask, &mm);
  gst_buffer_unmap (conf, &cm);
  for (int i = 0; i < 2; i++)
    fail_unless (gst_buffer_add_video_meta_full (i ? conf : mask,
            GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_GRAY8, MASK_W, MASK_H,
            1, offset, stride) != NULL);
  buf = make_frame (mask, voc_labels);
  meta = gst_buffer_get_deeplabseg_meta (buf);
  fail_unless (gst_deeplabseg_meta_set_confidence (meta, conf));
  bytes[0] = gst_deeplabseg_meta_get_class_map (meta, NULL, NULL);
  bytes[1] = gst_deeplabseg_meta_get_confidence_map (meta, NULL, NULL);
  for (int i = 0; i < 2; i++) {
    gsize size;
    const guint8 *d;

    fail_unless (bytes[i] != NULL);
    d = g_bytes_get_data (bytes[i], &size);
    fail_unless_equals_int (size, MASK_W * MASK_H);
    for (guint y = 0; y < MASK_H; y++)
      for (guint x = 0; x < MASK_W; x++)
        fail_unless (d[y * MASK_W + x] == (i ? conf_value (x, y) :
                mask_value (x, y)), "%s (%u, %u) is %u",
            i ? "confidence" : "class map", x, y, d[y * MASK_W + x]);
    g_bytes_unref (bytes[i]);
  }
  /* An offset that puts the last row past the end of the buffer. */
  vmeta = gst_buffer_get_video_meta (meta->mask);
  vmeta->offset[0] = off + MASK_STRIDE - MASK_W + 1;
  fail_unless (gst_deeplabseg_meta_get_class_map (meta, NULL, NULL) == NULL);
  vmeta->offset[0] = G_MAXSIZE - 4;
  fail_unless (gst_deeplabseg_meta_get_class_map (meta, NULL, NULL) == NULL);
  vmeta->offset[0] = off;
  gst_buffer_unref (buf);
}

GST_END_TEST;

GST_START_TEST (test_no_labels)
{
  gboolean freed;
  GstBuffer *buf = make_frame (make_mask (&freed), NULL);
  GstDeeplabsegMeta *meta = gst_buffer_get_deeplabseg_meta (buf);

  fail_unless (meta != NULL);
  fail_unless (meta->labels == NULL);
  gst_buffer_unref (buf);
  fail_unless (freed);
}

GST_END_TEST;

GST_START_TEST (test_copy_shares_mask)
{
  gboolean freed;
  GstBuffer *mask = make_mask (&freed);
  GstBuffer *buf = make_frame (mask, voc_labels);
  GstBuffer *copy;
  GstDeeplabsegMeta *meta, *cmeta;
  guint i;

  copy = gst_buffer_copy (buf);
  meta = gst_buffer_get_deeplabseg_meta (buf);
  cmeta = gst_buffer_get_deeplabseg_meta (copy);
  fail_unless (cmeta != NULL);
  fail_unless (cmeta != meta);
  fail_unless (cmeta->mask == mask, "the copy should share the mask");
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (mask), 2);
  fail_unless_equals_int (cmeta->x, meta->x);
  fail_unless_equals_int (cmeta->y, meta->y);
  fail_unless_equals_int (cmeta->width, MASK_W);
  fail_unless_equals_int (cmeta->height, MASK_H);
  fail_unless_equals_int (cmeta->n_classes, N_CLASSES);
  fail_unless (cmeta->labels != meta->labels);
  for (i = 0; i <= N_CLASSES; i++)
    fail_unless_equals_string (cmeta->labels[i], meta->labels[i]);
  assert_mask_contents (cmeta->mask);

  /* the original goes first: the copy keeps the mask alive */
  gst_buffer_unref (buf);
  fail_if (freed);
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (mask), 1);
  assert_mask_contents (cmeta->mask);
  gst_buffer_unref (copy);
  fail_unless (freed);
}

GST_END_TEST;

GST_START_TEST (test_region_copy_drops)
{
  gboolean freed;
  GstBuffer *buf = make_frame (make_mask (&freed), NULL);
  GstBuffer *part;

  /* a byte range of the frame is not a frame: the mask does not apply */
  part = gst_buffer_copy_region (buf, GST_BUFFER_COPY_ALL, 8, 16);
  fail_unless (gst_buffer_get_deeplabseg_meta (part) == NULL);
  gst_buffer_unref (part);

  gst_buffer_unref (buf);
  fail_unless (freed);
}

GST_END_TEST;

/* What videoconvertscale and friends do with a "size" tagged meta: a scale
 * transform keeps the meta when only the format changes, drops it when the
 * size changes. Other transform types are refused. */
GST_START_TEST (test_scale_transform)
{
  gboolean freed;
  GstBuffer *mask = make_mask (&freed);
  GstBuffer *buf = make_frame (mask, voc_labels);
  GstDeeplabsegMeta *meta = gst_buffer_get_deeplabseg_meta (buf);
  const GstMetaInfo *info = meta->meta.info;
  GstVideoInfo in_info, same_info, other_info;
  GstVideoMetaTransform trans;
  GstBuffer *out;
  GstDeeplabsegMeta *ometa;

  gst_video_info_set_format (&in_info, GST_VIDEO_FORMAT_I420, MASK_W, MASK_H);
  gst_video_info_set_format (&same_info, GST_VIDEO_FORMAT_RGBx, MASK_W,
      MASK_H);
  gst_video_info_set_format (&other_info, GST_VIDEO_FORMAT_I420, 2 * MASK_W,
      2 * MASK_H);

  /* size changes: dropped */
  out = gst_buffer_new ();
  trans.in_info = &in_info;
  trans.out_info = &other_info;
  fail_if (info->transform_func (out, &meta->meta, buf,
          gst_video_meta_transform_scale_get_quark (), &trans));
  fail_unless (gst_buffer_get_deeplabseg_meta (out) == NULL);

  /* unknown transform: dropped */
  fail_if (info->transform_func (out, &meta->meta, buf,
          g_quark_from_static_string ("deeplabseg-test-unknown"), NULL));
  fail_unless (gst_buffer_get_deeplabseg_meta (out) == NULL);
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (mask), 1);

  /* format only: kept, mask shared */
  trans.out_info = &same_info;
  fail_unless (info->transform_func (out, &meta->meta, buf,
          gst_video_meta_transform_scale_get_quark (), &trans));
  ometa = gst_buffer_get_deeplabseg_meta (out);
  fail_unless (ometa != NULL);
  fail_unless (ometa->mask == mask);
  fail_unless_equals_int (ometa->width, MASK_W);
  fail_unless_equals_int (ometa->height, MASK_H);
  fail_unless_equals_string (ometa->labels[15], "person");
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (mask), 2);

  gst_buffer_unref (out);
  gst_buffer_unref (buf);
  fail_unless (freed);
}

GST_END_TEST;

GST_START_TEST (test_api_tags)
{
  GType api = GST_DEEPLABSEG_META_API_TYPE;

  fail_unless (api != 0);
  fail_unless (api == gst_deeplabseg_meta_api_get_type ());
  fail_unless (GST_DEEPLABSEG_META_INFO == gst_deeplabseg_meta_get_info ());
  fail_unless (GST_DEEPLABSEG_META_INFO->api == api);
  fail_unless (gst_meta_api_type_has_tag (api,
          g_quark_from_string (GST_META_TAG_VIDEO_STR)));
  fail_unless (gst_meta_api_type_has_tag (api,
          g_quark_from_string (GST_META_TAG_VIDEO_SIZE_STR)));
  fail_unless (gst_meta_api_type_has_tag (api,
          g_quark_from_string (GST_META_TAG_VIDEO_ORIENTATION_STR)));
  /* the class map does not depend on the colour format */
  fail_if (gst_meta_api_type_has_tag (api,
          g_quark_from_string (GST_META_TAG_VIDEO_COLORSPACE_STR)));
}

GST_END_TEST;

/* Type registration from several threads at once yields one type. */
static gpointer
register_thread (gpointer data)
{
  return (gpointer) gst_deeplabseg_meta_get_info ();
}

GST_START_TEST (test_register_threads)
{
  GThread *threads[8];
  gpointer first = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("register", register_thread, NULL);
  for (i = 0; i < G_N_ELEMENTS (threads); i++) {
    gpointer info = g_thread_join (threads[i]);

    fail_unless (info != NULL);
    if (first == NULL)
      first = info;
    fail_unless (info == first);
  }
}

GST_END_TEST;

/* The confidence plane: absent by default, set and read back densely
 * (padded rows), shared by copies, released with the last frame, and
 * refused (with a critical, not leaked) when its size is not the mask's. */
GST_START_TEST (test_confidence)
{
  gboolean mask_freed, conf_freed, bad_freed;
  GstBuffer *buf = make_frame (make_mask (&mask_freed), voc_labels);
  GstDeeplabsegMeta *meta = gst_buffer_get_deeplabseg_meta (buf), *cmeta;
  GstBuffer *conf, *copy;
  guint w = 0, h = 0, x, y;
  const guint8 *d;
  GBytes *bytes;
  gsize size;

  fail_unless (meta->confidence == NULL);
  fail_unless (gst_deeplabseg_meta_get_confidence_map (meta, &w, &h) == NULL);

  conf = make_plane (&conf_freed, MASK_W, MASK_H, conf_value);
  fail_unless (gst_deeplabseg_meta_set_confidence (meta, conf));
  fail_unless (meta->confidence == conf);
  bytes = gst_deeplabseg_meta_get_confidence_map (meta, &w, &h);
  fail_unless (bytes != NULL);
  fail_unless_equals_int (w, MASK_W);
  fail_unless_equals_int (h, MASK_H);
  d = g_bytes_get_data (bytes, &size);
  fail_unless_equals_int (size, MASK_W * MASK_H);
  for (y = 0; y < MASK_H; y++)
    for (x = 0; x < MASK_W; x++)
      fail_unless (d[y * MASK_W + x] == conf_value (x, y),
          "dense confidence (%u, %u) is %u, expected %u", x, y,
          d[y * MASK_W + x], conf_value (x, y));
  g_bytes_unref (bytes);
  /* the class map is still the mask's */
  bytes = gst_deeplabseg_meta_get_class_map (meta, NULL, NULL);
  d = g_bytes_get_data (bytes, NULL);
  fail_unless (d[MASK_W + 1] == mask_value (1, 1));
  g_bytes_unref (bytes);

  /* a plane of another size is refused and released, the old one kept */
  ASSERT_CRITICAL (fail_if (gst_deeplabseg_meta_set_confidence (meta,
              make_plane (&bad_freed, MASK_W - 1, MASK_H, conf_value))));
  fail_unless (bad_freed);
  fail_unless (meta->confidence == conf);

  copy = gst_buffer_copy (buf);
  cmeta = gst_buffer_get_deeplabseg_meta (copy);
  fail_unless (cmeta->confidence == conf, "the copy should share the plane");
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (conf), 2);
  gst_buffer_unref (buf);
  fail_if (conf_freed);
  fail_if (mask_freed);
  gst_buffer_unref (copy);
  fail_unless (conf_freed);
  fail_unless (mask_freed);
}

GST_END_TEST;

GST_START_TEST (test_mask_without_video_meta)
{
  gboolean freed = FALSE;
  GstBuffer *buf = gst_buffer_new ();
  GstBuffer *mask = gst_buffer_new_allocate (NULL, 16, NULL);
  GstDeeplabsegMeta *meta = NULL;

  gst_mini_object_weak_ref (GST_MINI_OBJECT_CAST (mask), mask_finalized,
      &freed);
  /* refused with a critical, and the mask (transfer full) is not leaked */
  ASSERT_CRITICAL (meta = gst_buffer_add_deeplabseg_meta (buf, mask,
          N_CLASSES, NULL));
  fail_unless (meta == NULL);
  fail_unless (freed);
  fail_unless (gst_buffer_get_deeplabseg_meta (buf) == NULL);
  gst_buffer_unref (buf);
}

GST_END_TEST;

static Suite *
meta_suite (void)
{
  Suite *s = suite_create ("deeplabsegmeta");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_add_get);
  tcase_add_test (tc, test_accessors);
  tcase_add_test (tc, test_accessors_offset);
  tcase_add_test (tc, test_no_labels);
  tcase_add_test (tc, test_copy_shares_mask);
  tcase_add_test (tc, test_region_copy_drops);
  tcase_add_test (tc, test_scale_transform);
  tcase_add_test (tc, test_api_tags);
  tcase_add_test (tc, test_register_threads);
  tcase_add_test (tc, test_mask_without_video_meta);
  tcase_add_test (tc, test_confidence);
  return s;
}

int
main (int argc, char **argv)
{
  /* the leaks tracer makes gst_deinit() report any buffer or meta left
   * alive; an explicit GST_TRACERS from the environment wins */
  g_setenv ("GST_TRACERS", "leaks", FALSE);
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (meta_suite (), "deeplabsegmeta", __FILE__);
}

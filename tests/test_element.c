/* deeplabseg tests: the element, with GstHarness and real pipelines.
 *
 * - every input format at 257x257, 640x480 and 321x241, in the three modes,
 *   on a real photo (a horse and rider, PASCAL VOC): mask output equals the
 *   engine's class map for the same frame; meta leaves the frame untouched
 *   and carries that map; overlay equals that map blended with the VOC
 *   palette at the set alpha, background untouched;
 * - NULL -> PLAYING -> NULL 20 times without growing memory (and under
 *   GST_TRACERS=leaks, set by meson, without leaking GStreamer objects);
 * - bad input: missing, empty, truncated, random and unsupported-op models
 *   and (in a separate process, see tests/meson.build) no OpenCL platform:
 *   each an error message naming the cause, the pipeline fails to start,
 *   nothing crashes;
 * - embedding: classes selection (by name and id), a custom palette painted
 *   exactly, mode=background (kept pixels bit-exact, the rest the colour,
 *   or blurred), per-frame count messages, and property changes while
 *   playing (invalid palette / classes refused, the old value kept);
 * - confidence=true in mode=meta: a GRAY8 plane of the frame's size, 1..255,
 *   within 1 level of round (255 * max softmax) computed here in double
 *   from the network's logits (dls_engine_run_tensor on the C reference
 *   preprocess, upsampled with the C reference), higher inside the horse
 *   and rider than on their borders; turned on and off while playing;
 *   with crf=true at least round (255 / 21) everywhere.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsink.h>
#include <glib/gstdio.h>
#include <string.h>
#include <malloc.h>
#include <math.h>

#include "engine/engine.h"
#include "frame.h"
#include "meta/gstdeeplabsegmeta.h"
#include "overlay/overlay.h"
#include "tflite_builder.h"
#include "testutil.h"

static gchar *model_path;
static gchar *image_path;
static DlsEngine *engine;       /* the engine the element must agree with */

static const gchar *formats[] = {
  "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB",
  "ABGR", "I420", "NV12",
};

static const int sizes[][2] = { {257, 257}, {640, 480}, {321, 241} };

/* The photo, decoded and converted to @format at @w x @h. */
static GstSample *
load_frame (const gchar * format, int w, int h)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
      "videoconvert ! videoscale ! video/x-raw,format=%s,width=%d,height=%d,"
      "pixel-aspect-ratio=1/1 ! appsink name=sink", image_path, format, w, h);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  GstSample *sample;

  fail_unless (pipe && sink);
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  sample = gst_app_sink_pull_sample (GST_APP_SINK (sink));
  fail_unless (sample != NULL, "could not decode %s as %s %dx%d",
      image_path, format, w, h);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  g_free (desc);
  return sample;
}

/* What the engine makes of the sample's frame: a w x h class map. */
static guint8 *
engine_map (GstSample * sample, GstVideoInfo * info)
{
  GstVideoFrame frame;
  DlsImage img;
  GError *err = NULL;
  guint8 *map;

  fail_unless (gst_video_info_from_caps (info, gst_sample_get_caps (sample)));
  fail_unless (gst_video_frame_map (&frame, info,
          gst_sample_get_buffer (sample), GST_MAP_READ));
  dls_image_from_frame (&img, &frame);
  map = g_malloc (GST_VIDEO_INFO_WIDTH (info) * GST_VIDEO_INFO_HEIGHT (info));
  fail_unless (dls_engine_set_frame (engine, img.format, img.width,
          img.height, &err) && dls_engine_process (engine, &img, map,
          img.width, &err), "engine: %s", err ? err->message : "");
  gst_video_frame_unmap (&frame);
  return map;
}

static GstHarness *
make_harness (const gchar * mode, GstSample * sample)
{
  GstHarness *h = gst_harness_new ("deeplabseg");

  gst_util_set_object_arg (G_OBJECT (h->element), "mode", mode);
  g_object_set (h->element, "model", model_path, NULL);
  gst_harness_set_src_caps (h, gst_caps_ref (gst_sample_get_caps (sample)));
  return h;
}

/* Pushes a deep copy of the sample's buffer (overlay writes in place). */
static GstBuffer *
push_pull (GstHarness * h, GstSample * sample)
{
  GstBuffer *out = gst_harness_push_and_pull (h,
      gst_buffer_copy_deep (gst_sample_get_buffer (sample)));
  fail_unless (out != NULL);
  return out;
}

/* Compares the planes of two frames of the same info, byte by byte. */
static gboolean
frames_equal (GstBuffer * a, GstBuffer * b, const GstVideoInfo * info)
{
  GstVideoFrame fa, fb;
  gboolean eq = TRUE;

  fail_unless (gst_video_frame_map (&fa, info, a, GST_MAP_READ));
  fail_unless (gst_video_frame_map (&fb, info, b, GST_MAP_READ));
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&fa) && eq; p++) {
    int rows = GST_VIDEO_FRAME_COMP_HEIGHT (&fa, p);
    int bytes = GST_VIDEO_FRAME_COMP_WIDTH (&fa, p)
        * GST_VIDEO_FRAME_COMP_PSTRIDE (&fa, p);
    if (GST_VIDEO_INFO_FORMAT (info) == GST_VIDEO_FORMAT_NV12 && p == 1)
      bytes = GST_VIDEO_FRAME_COMP_WIDTH (&fa, 1) * 2;
    for (int y = 0; y < rows && eq; y++)
      eq = memcmp ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&fa, p)
          + y * GST_VIDEO_FRAME_PLANE_STRIDE (&fa, p),
          (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&fb, p)
          + y * GST_VIDEO_FRAME_PLANE_STRIDE (&fb, p), bytes) == 0;
  }
  gst_video_frame_unmap (&fa);
  gst_video_frame_unmap (&fb);
  return eq;
}

static void
check_map (const guint8 * got, int got_stride, const guint8 * want, int w,
    int h, const gchar * what)
{
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      fail_unless_equals_int_hex (got[y * got_stride + x], want[y * w + x]);
  (void) what;
}

static void
check_mask_mode (GstSample * sample, const GstVideoInfo * info,
    const guint8 * want)
{
  int w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  GstHarness *hs = make_harness ("mask", sample);
  GstBuffer *out = push_pull (hs, sample);
  GstCaps *caps = gst_pad_get_current_caps (hs->sinkpad);
  GstVideoInfo oinfo;
  GstVideoFrame of;

  fail_unless (gst_video_info_from_caps (&oinfo, caps));
  fail_unless_equals_string (gst_video_format_to_string
      (GST_VIDEO_INFO_FORMAT (&oinfo)), "GRAY8");
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&oinfo), w);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&oinfo), h);
  fail_unless (gst_video_frame_map (&of, &oinfo, out, GST_MAP_READ));
  check_map (GST_VIDEO_FRAME_PLANE_DATA (&of, 0),
      GST_VIDEO_FRAME_PLANE_STRIDE (&of, 0), want, w, h, "mask");
  gst_video_frame_unmap (&of);
  gst_caps_unref (caps);
  gst_buffer_unref (out);
  gst_harness_teardown (hs);
}

static void
check_meta_mode (GstSample * sample, const GstVideoInfo * info,
    const guint8 * want)
{
  int w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  GstHarness *hs = make_harness ("meta", sample);
  GstBuffer *out = push_pull (hs, sample);
  GstDeeplabsegMeta *meta = gst_buffer_get_deeplabseg_meta (out);
  GstVideoMeta *vmeta;
  GstMapInfo map;

  fail_unless (frames_equal (out, gst_sample_get_buffer (sample), info),
      "meta mode changed the frame");
  fail_unless (meta != NULL, "no meta");
  fail_unless_equals_int (meta->width, w);
  fail_unless_equals_int (meta->height, h);
  fail_unless_equals_int (meta->n_classes, 21);
  fail_unless_equals_string (meta->labels[15], "person");
  fail_unless_equals_string (meta->labels[13], "horse");
  vmeta = gst_buffer_get_video_meta (meta->mask);
  fail_unless (vmeta != NULL);
  fail_unless (gst_buffer_map (meta->mask, &map, GST_MAP_READ));
  check_map (map.data + vmeta->offset[0], vmeta->stride[0], want, w, h,
      "meta");
  gst_buffer_unmap (meta->mask, &map);
  gst_buffer_unref (out);
  gst_harness_teardown (hs);
}

static void
check_overlay_mode (GstSample * sample, const GstVideoInfo * info,
    const guint8 * want)
{
  int w = GST_VIDEO_INFO_WIDTH (info);
  GstHarness *hs = make_harness ("overlay", sample);
  GstBuffer *expected = gst_buffer_copy_deep (gst_sample_get_buffer (sample));
  DlsOverlay *ov = dls_overlay_new (info);
  GstBuffer *out;
  GstVideoFrame ef;
  DlsPalette pal;

  g_object_set (hs->element, "alpha", 0.6, NULL);
  out = push_pull (hs, sample);
  dls_palette_init_voc (&pal);
  fail_unless (gst_video_frame_map (&ef, info, expected, GST_MAP_WRITE));
  dls_overlay_blend (ov, &ef, want, w, &pal, 0.6);
  gst_video_frame_unmap (&ef);
  fail_unless (frames_equal (out, expected, info),
      "overlay differs from the class map blended with the VOC palette");
  fail_if (frames_equal (out, gst_sample_get_buffer (sample), info),
      "overlay left the frame unchanged");
  dls_overlay_free (ov);
  gst_buffer_unref (expected);
  gst_buffer_unref (out);
  gst_harness_teardown (hs);
}

/* One loop index per (format, size); the three modes inside. */
GST_START_TEST (test_formats_sizes_modes)
{
  const gchar *format = formats[__i__ / G_N_ELEMENTS (sizes)];
  int w = sizes[__i__ % G_N_ELEMENTS (sizes)][0];
  int h = sizes[__i__ % G_N_ELEMENTS (sizes)][1];
  GstSample *sample = load_frame (format, w, h);
  GstVideoInfo info;
  guint8 *want = engine_map (sample, &info);
  gsize fg = 0;

  for (int i = 0; i < w * h; i++)
    fg += want[i] != 0;
  GST_INFO ("%s %dx%d: %" G_GSIZE_FORMAT " foreground pixels", format, w, h,
      fg);
  /* The photo has a horse and a rider: a map without them means the
   * engine itself is broken, and the comparisons below would be weak. */
  fail_unless (fg > (gsize) w * h / 10, "%s %dx%d: only %" G_GSIZE_FORMAT
      " foreground pixels", format, w, h, fg);

  check_mask_mode (sample, &info, want);
  check_meta_mode (sample, &info, want);
  check_overlay_mode (sample, &info, want);
  g_free (want);
  gst_sample_unref (sample);
}

GST_END_TEST;

static void
cycle_once (void)
{
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=3 ! "
      "video/x-raw,width=64,height=48 ! deeplabseg model=\"%s\" ! fakesink",
      model_path);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  GstMessage *msg;

  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  /* A bound for a hang only: under valgrind (scripts/valgrind.sh full) on
   * a busy machine a cycle of the real model took over a minute, and a
   * failed wait left the pipeline's tasks running (the check then hung in
   * gst_task_cleanup_all()). */
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipe), GST_SECOND * 600,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipe);
  g_free (desc);
}

/* The lowest RSS seen after each of @n cycles: one sample swings by
 * ~15 MB with where PoCL's and the allocators' pools happen to be, while
 * the floor of a few cycles is steady to a few KiB on a healthy build. */
static gsize
cycles_rss_floor (int n)
{
  gsize floor = G_MAXSIZE;

  for (int i = 0; i < n; i++) {
    cycle_once ();
    floor = MIN (floor, dls_test_rss_kib ());
  }
  return floor;
}

GST_START_TEST (test_state_cycles_no_leak)
{
  gsize before, after;

  /* A fixed mmap threshold: glibc's default raises it each time a large
   * mmapped block (a start reads the 2.7 MB model and copies its weights)
   * is freed, so later large blocks come from the heap and the RSS floor
   * rises for ~20 cycles before it stays flat. */
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
  /* Warm-up: programs built and cached, pools and allocators settled. */
  cycles_rss_floor (4);
  before = cycles_rss_floor (6);
  cycles_rss_floor (12);
  after = cycles_rss_floor (6);
  GST_INFO ("RSS floor %" G_GSIZE_FORMAT " KiB -> %" G_GSIZE_FORMAT " KiB",
      before, after);
  /* Each start copies ~2.7 MB of weights into the graph and the device:
   * an engine leaked per cycle would grow RSS by > 40 MB here, a leak of
   * 120 KiB a cycle by 2 MiB. */
  fail_unless (after < before + 2048, "RSS floor grew from %" G_GSIZE_FORMAT
      " to %" G_GSIZE_FORMAT " KiB over 18 cycles", before, after);
}

GST_END_TEST;

/* Runs a pipeline whose deeplabseg has @model: it must fail to start with
 * an error from deeplabseg of @domain/@code whose text contains @needle. */
static void
expect_start_error (const gchar * model, GQuark domain, gint code,
    const gchar * needle)
{
  GstElement *pipe = gst_parse_launch ("videotestsrc num-buffers=1 ! "
      "deeplabseg name=seg ! fakesink", NULL);
  GstElement *seg = gst_bin_get_by_name (GST_BIN (pipe), "seg");
  GstStateChangeReturn ret;
  GstMessage *msg;
  GError *err = NULL;
  gchar *debug = NULL;

  g_object_set (seg, "model", model, NULL);
  ret = gst_element_set_state (pipe, GST_STATE_PLAYING);
  fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipe), GST_SECOND * 10,
      GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message for %s", model);
  fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (seg));
  gst_message_parse_error (msg, &err, &debug);
  GST_INFO ("%s: %s (%s)", model, err->message, debug);
  fail_unless (err->domain == domain && err->code == code,
      "%s: got %s %d: %s", model, g_quark_to_string (err->domain),
      err->code, err->message);
  fail_unless (strstr (err->message, needle) != NULL,
      "'%s' does not mention '%s'", err->message, needle);
  g_clear_error (&err);
  g_free (debug);
  gst_message_unref (msg);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (seg);
  gst_object_unref (pipe);
}

/* Writes @len bytes of @data to a new temporary file; returns its path. */
static gchar *
temp_model (const void *data, gsize len)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("dls-test-XXXXXX.tflite", &path, NULL);

  fail_unless (fd >= 0);
  g_close (fd, NULL);
  fail_unless (g_file_set_contents (path, data, len, NULL));
  return path;
}

GST_START_TEST (test_bad_models)
{
  gchar *data = NULL, *path;
  gsize len = 0;
  guint8 random_bytes[4096];
  GByteArray *tiny;
  GRand *rand = g_rand_new_with_seed (7);

  expect_start_error ("/nonexistent/model.tflite", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_NOT_FOUND, "/nonexistent/model.tflite");

  path = temp_model ("", 0);
  expect_start_error (path, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
      "empty");
  g_unlink (path);
  g_free (path);

  fail_unless (g_file_get_contents (model_path, &data, &len, NULL));
  path = temp_model (data, len / 3);
  expect_start_error (path, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
      "model");
  g_unlink (path);
  g_free (path);
  g_free (data);

  for (guint i = 0; i < sizeof (random_bytes); i++)
    random_bytes[i] = g_rand_int_range (rand, 0, 256);
  path = temp_model (random_bytes, sizeof (random_bytes));
  expect_start_error (path, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
      "not a model");
  g_unlink (path);
  g_free (path);

  /* A valid TFLite model whose second operator is RESHAPE. */
  tiny = dls_test_tflite_unsupported_op ();
  path = temp_model (tiny->data, tiny->len);
  expect_start_error (path, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS,
      "RESHAPE");
  g_unlink (path);
  g_free (path);
  g_byte_array_unref (tiny);
  g_rand_free (rand);
}

GST_END_TEST;

/* gst-inspect-1.0 (the user's view) shows every property with its
 * description, and every property has a nick and a blurb. */
GST_START_TEST (test_properties_documented)
{
  GstElement *e = gst_element_factory_make ("deeplabseg", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (e);
  GParamSpec **props;
  guint n;
  gchar *out = NULL;
  gint status = 1;
  const gchar *argv[] = { "gst-inspect-1.0", "deeplabseg", NULL };

  fail_unless (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH
          | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status,
          NULL), "cannot run gst-inspect-1.0");
  fail_unless (g_spawn_check_wait_status (status, NULL),
      "gst-inspect-1.0 deeplabseg failed:\n%s", out);
  props = g_object_class_list_properties (klass, &n);
  for (guint i = 0; i < n; i++) {
    const gchar *blurb = g_param_spec_get_blurb (props[i]);
    gchar *line;
    if (props[i]->owner_type != G_OBJECT_TYPE (e))
      continue;
    fail_unless (blurb && strlen (blurb) > 10, "%s has no description",
        props[i]->name);
    line = g_strdup_printf ("%-20s: %s", props[i]->name, blurb);
    fail_unless (strstr (out, line) != NULL,
        "gst-inspect-1.0 does not show '%s'", line);
    g_free (line);
  }
  fail_unless (strstr (out, "overlay") && strstr (out, "meta")
      && strstr (out, "mask"), "modes not listed");
  g_free (props);
  g_free (out);
  gst_object_unref (e);
}

GST_END_TEST;

/* ---- embedding: classes, palette, background, messages, live changes ---- */

#define HORSE 13
#define PERSON 15

/* A palette string giving class c the colour custom_rgb (c) for c <= 20. */
static void
custom_rgb (guint c, guint8 rgb[3])
{
  rgb[0] = 11 * c + 1;
  rgb[1] = 255 - 7 * c;
  rgb[2] = (c * 37) & 0xff;
}

static gchar *
custom_palette_string (void)
{
  GString *s = g_string_new (NULL);

  for (guint c = 0; c <= 20; c++) {
    guint8 rgb[3];
    custom_rgb (c, rgb);
    g_string_append_printf (s, "%s0x%02x%02x%02x", c ? "," : "", rgb[0],
        rgb[1], rgb[2]);
  }
  return g_string_free (s, FALSE);
}

/* RGB pixel (x, y) of @buf. */
static const guint8 *
rgb_at (GstVideoFrame * f, int x, int y)
{
  return (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0) +
      y * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0) +
      x * GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
}

/* Checks an RGB overlay output pixel by pixel: class c != 0 shows
 * @colour (c) exactly (alpha 1), class 0 is the input. */
static void
check_rgb_pixels (GstBuffer * out, GstBuffer * in, const GstVideoInfo * info,
    const guint8 * classes, void (*colour) (guint c, guint8 rgb[3]),
    const gchar * what)
{
  int w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  GstVideoFrame fo, fi;

  fail_unless (gst_video_frame_map (&fo, info, out, GST_MAP_READ));
  fail_unless (gst_video_frame_map (&fi, info, in, GST_MAP_READ));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint c = classes[y * w + x];
      const guint8 *o = rgb_at (&fo, x, y), *i = rgb_at (&fi, x, y);
      guint8 want[3];

      if (c)
        colour (c, want);
      else
        memcpy (want, i, 3);
      fail_unless (memcmp (o, want, 3) == 0, "%s: (%d, %d) class %u is "
          "%u,%u,%u, expected %u,%u,%u", what, x, y, c, o[0], o[1], o[2],
          want[0], want[1], want[2]);
    }
  gst_video_frame_unmap (&fo);
  gst_video_frame_unmap (&fi);
}

/* @want with every class outside @keep set to 0. */
static guint8 *
select_map (const guint8 * want, gsize n, guint keep_a, guint keep_b)
{
  guint8 *m = g_memdup2 (want, n);

  for (gsize i = 0; i < n; i++)
    if (m[i] != keep_a && m[i] != keep_b)
      m[i] = 0;
  return m;
}

static gsize
count_class (const guint8 * map, gsize n, guint c)
{
  gsize k = 0;

  for (gsize i = 0; i < n; i++)
    k += map[i] == c;
  return k;
}

/* mask output with classes=horse (name) and classes=15 (id): the other
 * classes become 0, the kept one is untouched. */
GST_START_TEST (test_classes_select)
{
  GstSample *sample = load_frame ("RGB", 321, 241);
  GstVideoInfo info;
  guint8 *want = engine_map (sample, &info);
  gsize n = 321 * 241;
  const struct
  {
    const gchar *spec;
    guint keep;
  } cases[] = { {"horse", HORSE}, {"15", PERSON}, {" person , horse", 0} };

  /* the network sees a horse (the rider is too small at this size):
   * classes=15 (person) must remove it */
  fail_unless (count_class (want, n, HORSE) > n / 20, "%" G_GSIZE_FORMAT
      " horse pixels", count_class (want, n, HORSE));
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    GstHarness *hs = make_harness ("mask", sample);
    guint8 *sel = cases[k].keep ? select_map (want, n, cases[k].keep, 0) :
        select_map (want, n, HORSE, PERSON);
    GstBuffer *out;
    GstVideoFrame of;
    GstVideoInfo oinfo;

    g_object_set (hs->element, "classes", cases[k].spec, NULL);
    out = push_pull (hs, sample);
    gst_video_info_set_format (&oinfo, GST_VIDEO_FORMAT_GRAY8, 321, 241);
    fail_unless (gst_video_frame_map (&of, &oinfo, out, GST_MAP_READ));
    check_map (GST_VIDEO_FRAME_PLANE_DATA (&of, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&of, 0), sel, 321, 241, cases[k].spec);
    gst_video_frame_unmap (&of);
    gst_buffer_unref (out);
    g_free (sel);
    gst_harness_teardown (hs);
  }
  g_free (want);
  gst_sample_unref (sample);
}

GST_END_TEST;

/* A custom palette at alpha 1 paints exactly its colours, RGB and RGBA
 * (whose alpha byte must stay). */
GST_START_TEST (test_palette_custom)
{
  const gchar *fmts[] = { "RGB", "RGBA" };
  gchar *pal = custom_palette_string ();

  for (guint k = 0; k < G_N_ELEMENTS (fmts); k++) {
    GstSample *sample = load_frame (fmts[k], 321, 241);
    GstVideoInfo info;
    guint8 *want = engine_map (sample, &info);
    GstHarness *hs = make_harness ("overlay", sample);
    GstBuffer *out;
    gchar *got = NULL;

    g_object_set (hs->element, "palette", pal, "alpha", 1.0, NULL);
    g_object_get (hs->element, "palette", &got, NULL);
    fail_unless_equals_string (got, pal);
    out = push_pull (hs, sample);
    check_rgb_pixels (out, gst_sample_get_buffer (sample), &info, want,
        custom_rgb, fmts[k]);
    g_free (got);
    gst_buffer_unref (out);
    gst_harness_teardown (hs);
    g_free (want);
    gst_sample_unref (sample);
  }
  g_free (pal);
}

GST_END_TEST;

static guint8 bg_rgb[3] = { 0x20, 0x40, 0x80 };

static void
background_colour (guint c, guint8 rgb[3])
{
  memcpy (rgb, bg_rgb, 3);
}

/* mode=background, classes=horse: horse pixels bit-exact, all others
 * the background colour exactly; with background-blur the horse pixels
 * stay bit-exact and the rest changes. */
GST_START_TEST (test_background_mode)
{
  GstSample *sample = load_frame ("RGBx", 321, 241);
  GstVideoInfo info;
  guint8 *want = engine_map (sample, &info);
  gsize n = 321 * 241, changed = 0, bg = 0;
  guint8 *inv = g_malloc (n);
  GstHarness *hs = make_harness ("background", sample);
  GstBuffer *out;
  GstVideoFrame fo, fi;

  /* the checker paints class != 0: there, "class" = not a horse */
  for (gsize i = 0; i < n; i++)
    inv[i] = want[i] != HORSE;
  g_object_set (hs->element, "classes", "horse", "background-color",
      0x204080, NULL);
  out = push_pull (hs, sample);
  check_rgb_pixels (out, gst_sample_get_buffer (sample), &info, inv,
      background_colour, "background colour");
  gst_buffer_unref (out);

  g_object_set (hs->element, "background-blur", 6, NULL);
  out = push_pull (hs, sample);
  fail_unless (gst_video_frame_map (&fo, &info, out, GST_MAP_READ));
  fail_unless (gst_video_frame_map (&fi, &info, gst_sample_get_buffer
          (sample), GST_MAP_READ));
  for (int y = 0; y < 241; y++)
    for (int x = 0; x < 321; x++) {
      gboolean same = memcmp (rgb_at (&fo, x, y), rgb_at (&fi, x, y), 4) == 0;
      if (want[y * 321 + x] == HORSE)
        fail_unless (same, "blur changed horse pixel (%d, %d)", x, y);
      else {
        bg++;
        changed += !same;
      }
    }
  /* a 13x13 box blur of a photo changes nearly every pixel */
  fail_unless (changed > bg * 3 / 4, "blur changed %" G_GSIZE_FORMAT
      " of %" G_GSIZE_FORMAT " background pixels", changed, bg);
  gst_video_frame_unmap (&fo);
  gst_video_frame_unmap (&fi);
  gst_buffer_unref (out);
  gst_harness_teardown (hs);
  g_free (inv);
  g_free (want);
  gst_sample_unref (sample);
}

GST_END_TEST;

/* post-messages: one "deeplabseg" message a frame whose counts are the
 * histogram of the (selected) class map and add up to width x height. */
GST_START_TEST (test_messages)
{
  GstSample *sample = load_frame ("I420", 321, 241);
  GstVideoInfo info;
  guint8 *want = engine_map (sample, &info);
  guint8 *sel = select_map (want, 321 * 241, HORSE, 0);
  GstHarness *hs = make_harness ("overlay", sample);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  const GstStructure *st;
  const GValue *counts;
  guint64 sum = 0;
  GstBuffer *out;

  gst_element_set_bus (hs->element, bus);
  g_object_set (hs->element, "post-messages", TRUE, "classes", "horse", NULL);
  out = push_pull (hs, sample);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL, "no element message");
  st = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (st, "deeplabseg"));
  counts = gst_structure_get_value (st, "counts");
  fail_unless (counts && GST_VALUE_HOLDS_ARRAY (counts));
  fail_unless_equals_int (gst_value_array_get_size (counts), 21);
  for (guint c = 0; c < 21; c++) {
    guint64 k = g_value_get_uint64 (gst_value_array_get_value (counts, c));
    fail_unless_equals_uint64 (k, count_class (sel, 321 * 241, c));
    sum += k;
  }
  fail_unless_equals_uint64 (sum, 321 * 241);
  fail_unless (count_class (sel, 321 * 241, HORSE) > 0);
  fail_unless_equals_string (g_value_get_string (gst_value_array_get_value
          (gst_structure_get_value (st, "labels"), HORSE)), "horse");
  gst_message_unref (msg);
  gst_buffer_unref (out);
  gst_element_set_bus (hs->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (hs);
  g_free (sel);
  g_free (want);
  gst_sample_unref (sample);
}

GST_END_TEST;

/* Pops the next warning from @bus and checks it names @prop. */
static void
expect_warning (GstBus * bus, const gchar * prop)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  GError *err = NULL;

  fail_unless (msg != NULL, "no warning for an invalid %s", prop);
  gst_message_parse_warning (msg, &err, NULL);
  fail_unless (strstr (err->message, prop) != NULL, "warning '%s' does not "
      "name %s", err->message, prop);
  g_clear_error (&err);
  gst_message_unref (msg);
}

/* While playing: alpha + palette, classes, mode overlay -> meta -> overlay
 * each apply to the next frame; invalid palette and classes are refused
 * with a warning and the previous value stays. */
GST_START_TEST (test_live_changes)
{
  GstSample *sample = load_frame ("RGB", 321, 241);
  GstVideoInfo info;
  guint8 *want = engine_map (sample, &info);
  guint8 *horse = select_map (want, 321 * 241, HORSE, 0);
  GstHarness *hs = make_harness ("overlay", sample);
  GstBuffer *in = gst_sample_get_buffer (sample), *out;
  GstBus *bus = gst_bus_new ();
  gchar *pal = custom_palette_string (), *got = NULL;

  gst_element_set_bus (hs->element, bus);
  out = push_pull (hs, sample);
  fail_if (frames_equal (out, in, &info));
  gst_buffer_unref (out);

  g_object_set (hs->element, "alpha", 1.0, "palette", pal, NULL);
  out = push_pull (hs, sample);
  check_rgb_pixels (out, in, &info, want, custom_rgb, "new palette");
  gst_buffer_unref (out);

  g_object_set (hs->element, "classes", "horse", NULL);
  out = push_pull (hs, sample);
  check_rgb_pixels (out, in, &info, horse, custom_rgb, "classes=horse");
  gst_buffer_unref (out);

  gst_util_set_object_arg (G_OBJECT (hs->element), "mode", "meta");
  out = push_pull (hs, sample);
  fail_unless (frames_equal (out, in, &info), "meta changed the frame");
  fail_unless (gst_buffer_get_deeplabseg_meta (out) != NULL);
  gst_buffer_unref (out);
  gst_util_set_object_arg (G_OBJECT (hs->element), "mode", "overlay");

  g_object_set (hs->element, "palette", "0xZZ0000", NULL);
  expect_warning (bus, "palette");
  g_object_get (hs->element, "palette", &got, NULL);
  fail_unless_equals_string (got, pal);
  g_free (got);
  g_object_set (hs->element, "classes", "unicorn", NULL);
  expect_warning (bus, "classes");
  g_object_get (hs->element, "classes", &got, NULL);
  fail_unless_equals_string (got, "horse");
  g_free (got);
  out = push_pull (hs, sample);
  check_rgb_pixels (out, in, &info, horse, custom_rgb, "after refusals");
  gst_buffer_unref (out);

  gst_element_set_bus (hs->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (hs);
  g_free (pal);
  g_free (horse);
  g_free (want);
  gst_sample_unref (sample);
}

GST_END_TEST;

/* Pushes @sample's frame (DISCONT only if @discont: the decoded photo
 * carries the DISCONT of a stream's first buffer) into a mask-mode
 * harness and checks the output map is @want. */
static void
push_check_mask_flags (GstHarness * hs, GstSample * sample,
    const guint8 * want, gboolean discont)
{
  GstBuffer *in = gst_buffer_copy_deep (gst_sample_get_buffer (sample)), *out;
  GstVideoInfo info, oinfo;
  GstVideoFrame of;

  if (discont)
    GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DISCONT);
  else
    GST_BUFFER_FLAG_UNSET (in, GST_BUFFER_FLAG_DISCONT);
  out = gst_harness_push_and_pull (hs, in);
  fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps
          (sample)));
  gst_video_info_set_format (&oinfo, GST_VIDEO_FORMAT_GRAY8,
      GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info));
  fail_unless (gst_video_frame_map (&of, &oinfo, out, GST_MAP_READ));
  check_map (GST_VIDEO_FRAME_PLANE_DATA (&of, 0),
      GST_VIDEO_FRAME_PLANE_STRIDE (&of, 0), want,
      GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info), "mask");
  gst_video_frame_unmap (&of);
  gst_buffer_unref (out);
}

static void
push_check_mask (GstHarness * hs, GstSample * sample, const guint8 * want)
{
  push_check_mask_flags (hs, sample, want, FALSE);
}

/* interval=3: the network runs on frames 1, 4, 7...; frames 2 and 3 carry
 * frame 1's map; a DISCONT buffer runs the network at once. */
GST_START_TEST (test_interval)
{
  GstSample *a = load_frame ("RGB", 321, 241), *b;
  GstBuffer *black = gst_buffer_copy_deep (gst_sample_get_buffer (a));
  GstVideoInfo info;
  guint8 *map_a = engine_map (a, &info), *map_b;
  GstHarness *hs = make_harness ("mask", a);
  const struct
  {
    gboolean black, discont;
    guint8 **want;
  } steps[] = {
    {FALSE, FALSE, &map_a}, {TRUE, FALSE, &map_a}, {TRUE, FALSE, &map_a},
    {TRUE, FALSE, &map_b}, {FALSE, TRUE, &map_a}, {TRUE, FALSE, &map_a},
    {TRUE, TRUE, &map_b},
  };

  gst_buffer_memset (black, 0, 0, gst_buffer_get_size (black));
  b = gst_sample_new (black, gst_sample_get_caps (a), NULL, NULL);
  map_b = engine_map (b, &info);
  /* the comparisons below need maps that differ */
  fail_unless (memcmp (map_a, map_b, 321 * 241) != 0);
  g_object_set (hs->element, "interval", 3, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    push_check_mask_flags (hs, steps[i].black ? b : a, *steps[i].want,
        steps[i].discont);
  /* interval 1 runs every frame and must not leave a stale map behind:
   * back at 3, the next frame runs the network again */
  g_object_set (hs->element, "interval", 1, NULL);
  push_check_mask (hs, b, map_b);
  g_object_set (hs->element, "interval", 3, NULL);
  push_check_mask (hs, a, map_a);
  gst_harness_teardown (hs);
  g_free (map_a);
  g_free (map_b);
  gst_buffer_unref (black);
  gst_sample_unref (b);
  gst_sample_unref (a);
}

GST_END_TEST;

/* Only in the process meson starts with OCL_ICD_VENDORS at an empty
 * folder (the ICD loader reads it once per process). */
GST_START_TEST (test_no_opencl_platform)
{
  expect_start_error (model_path, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT,
      "OpenCL");
}

GST_END_TEST;

/* ---- confidence ---- */

/* round (255 * max softmax) of the upsampled logits, in double: the
 * network's logits for the C reference preprocess of the frame, and the
 * C reference's bilinear upsampling (dls_ref_upsample_unary gives -v). */
static guint8 *
expected_confidence (GstSample * sample, const GstVideoInfo * info)
{
  int w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  int iw, ih, ow, oh, n = dls_engine_n_classes (engine);
  GstVideoFrame frame;
  DlsImage img;
  GError *err = NULL;
  float *input, *logits, *u;
  guint8 *conf = g_malloc ((gsize) w * h);

  dls_engine_input_size (engine, &iw, &ih);
  dls_engine_output_size (engine, &ow, &oh);
  input = g_new (float, (gsize) iw * ih * 3);
  logits = g_new (float, (gsize) ow * oh * n);
  u = g_new (float, (gsize) w * h * n);
  fail_unless (gst_video_frame_map (&frame, info,
          gst_sample_get_buffer (sample), GST_MAP_READ));
  dls_image_from_frame (&img, &frame);
  dls_ref_preprocess (&img, iw, ih, DLS_DEFAULT_INPUT_MEAN,
      DLS_DEFAULT_INPUT_STD, input);
  gst_video_frame_unmap (&frame);
  fail_unless (dls_engine_run_tensor (engine, input, logits, &err),
      "engine: %s", err ? err->message : "");
  dls_ref_upsample_unary (logits, ow, oh, n, w, h, n, u);
  for (gsize i = 0; i < (gsize) w * h; i++) {
    const float *v = u + i * n;
    double mn = v[0], sum = 0.0;

    for (int k = 1; k < n; k++)
      mn = MIN (mn, v[k]);
    for (int k = 0; k < n; k++)
      sum += exp (mn - v[k]);   /* exp (logit_k - max logit) */
    conf[i] = (guint8) floor (255.0 / sum + 0.5);
  }
  g_free (input);
  g_free (logits);
  g_free (u);
  return conf;
}

/* The meta's confidence plane (checked: GRAY8, the frame's size, with a
 * GstVideoMeta) as dense rows; NULL when the meta has none. */
static guint8 *
meta_confidence (GstBuffer * out, int w, int h)
{
  GstDeeplabsegMeta *meta = gst_buffer_get_deeplabseg_meta (out);
  GstVideoMeta *vmeta;
  guint gw = 0, gh = 0;
  GBytes *bytes;
  guint8 *conf;

  fail_unless (meta != NULL, "no meta");
  if (!meta->confidence) {
    fail_unless (gst_deeplabseg_meta_get_confidence_map (meta, NULL,
            NULL) == NULL);
    return NULL;
  }
  vmeta = gst_buffer_get_video_meta (meta->confidence);
  fail_unless (vmeta != NULL, "confidence plane without a GstVideoMeta");
  fail_unless_equals_int (vmeta->format, GST_VIDEO_FORMAT_GRAY8);
  fail_unless_equals_int (vmeta->width, w);
  fail_unless_equals_int (vmeta->height, h);
  bytes = gst_deeplabseg_meta_get_confidence_map (meta, &gw, &gh);
  fail_unless (bytes != NULL);
  fail_unless_equals_int (gw, w);
  fail_unless_equals_int (gh, h);
  fail_unless_equals_int (g_bytes_get_size (bytes), w * h);
  conf = g_memdup2 (g_bytes_get_data (bytes, NULL), (gsize) w * h);
  g_bytes_unref (bytes);
  return conf;
}

/* Pushes @in (transfer full) and returns the output's confidence plane
 * (NULL when it has none). */
static guint8 *
push_confidence (GstHarness * hs, GstBuffer * in, int w, int h)
{
  GstBuffer *out = gst_harness_push_and_pull (hs, in);
  guint8 *conf;

  fail_unless (out != NULL);
  conf = meta_confidence (out, w, h);
  gst_buffer_unref (out);
  return conf;
}

#define SAMPLE_COPY(s) gst_buffer_copy_deep (gst_sample_get_buffer (s))

/* Pixel i of the class map is inside an object (its 5x5 neighbourhood is
 * all the same non-background class: 1), on a border between classes
 * (its 3x3 neighbourhood has two classes: 2), or neither (0). */
static int
pixel_kind (const guint8 * map, int w, int h, int x, int y)
{
  int c = map[y * w + x], r = 2, mixed3 = 0, mixed5 = 0;

  for (int dy = -r; dy <= r; dy++)
    for (int dx = -r; dx <= r; dx++) {
      int xx = CLAMP (x + dx, 0, w - 1), yy = CLAMP (y + dy, 0, h - 1);
      if (map[yy * w + xx] != c) {
        mixed5 = 1;
        mixed3 |= ABS (dx) <= 1 && ABS (dy) <= 1;
      }
    }
  return mixed3 ? 2 : (!mixed5 && c != 0 ? 1 : 0);
}

GST_START_TEST (test_confidence)
{
  const int w = 321, h = 241;
  GstSample *sample = load_frame ("RGB", w, h);
  GstVideoInfo info;
  guint8 *want_map = engine_map (sample, &info);
  guint8 *want = expected_confidence (sample, &info), *got;
  GstHarness *hs = make_harness ("meta", sample);
  double sum[3] = { 0 }, cnt[3] = { 0 };
  int maxd = 0, exact = 0, lo = 255, hi = 0;

  /* off by default: no plane */
  fail_unless (push_confidence (hs, SAMPLE_COPY (sample), w, h) == NULL,
      "a confidence plane without confidence=true");

  /* turned on while playing */
  g_object_set (hs->element, "confidence", TRUE, NULL);
  got = push_confidence (hs, SAMPLE_COPY (sample), w, h);
  fail_unless (got != NULL, "confidence=true: no confidence plane");
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int i = y * w + x, d = ABS ((int) got[i] - (int) want[i]);
      int kind = pixel_kind (want_map, w, h, x, y);

      maxd = MAX (maxd, d);
      exact += d == 0;
      lo = MIN (lo, got[i]);
      hi = MAX (hi, got[i]);
      sum[kind] += got[i];
      cnt[kind]++;
    }
  GST_INFO ("confidence: %d of %d exact, max |d| %d, range %d..%d, mean "
      "inside objects %.1f (%.0f px), on borders %.1f (%.0f px)", exact,
      w * h, maxd, lo, hi, sum[1] / cnt[1], cnt[1], sum[2] / cnt[2], cnt[2]);
  /* float on the device, double here: a value may round the other way */
  fail_unless (maxd <= 1, "confidence differs by %d levels", maxd);
  fail_unless (lo >= 1 && hi <= 255);
  fail_unless (cnt[1] > 1000 && cnt[2] > 100, "the photo has no objects?");
  /* the network is sure inside the horse and rider, unsure on borders */
  fail_unless (sum[1] / cnt[1] > sum[2] / cnt[2] + 20.0,
      "mean confidence inside objects %.1f, on borders %.1f",
      sum[1] / cnt[1], sum[2] / cnt[2]);
  g_free (got);

  /* the CRF's Q: max over 21 classes >= 1 / 21, so >= round (255 / 21);
   * and the CRF is sure of most of the photo: at the default crf-scale
   * (0.5) the plane is 255 * max of the upsampled Q, not a softmax of
   * those probabilities (which could not exceed 255 e / (e + 20) = 30) */
  g_object_set (hs->element, "crf", TRUE, NULL);
  got = push_confidence (hs, SAMPLE_COPY (sample), w, h);
  fail_unless (got != NULL, "crf=true: no confidence plane");
  lo = 255;
  {
    double mean = 0.0;
    for (int i = 0; i < w * h; i++) {
      lo = MIN (lo, got[i]);
      mean += got[i];
    }
    mean /= w * h;
    fail_unless (mean > 128.0, "crf: mean confidence %.1f", mean);
  }
  fail_unless (lo >= 12, "crf: confidence %d below 255 / 21", lo);
  g_free (got);

  /* interval=2: a black frame after the photo carries the photo's plane */
  g_object_set (hs->element, "crf", FALSE, "interval", 2, NULL);
  got = push_confidence (hs, SAMPLE_COPY (sample), w, h);
  {
    GstBuffer *black = SAMPLE_COPY (sample);
    guint8 *reused;

    gst_buffer_memset (black, 0, 0, gst_buffer_get_size (black));
    /* (the decoded photo carries a DISCONT, which would run the network) */
    GST_BUFFER_FLAG_UNSET (black, GST_BUFFER_FLAG_DISCONT);
    reused = push_confidence (hs, black, w, h);
    fail_unless (got && reused && memcmp (got, reused, (gsize) w * h) == 0,
        "interval=2: the second frame's confidence is not the first's");
    g_free (reused);
  }
  for (int i = 0; i < w * h; i++)
    fail_unless (ABS ((int) got[i] - (int) want[i]) <= 1);
  g_free (got);

  /* and off again */
  g_object_set (hs->element, "confidence", FALSE, "interval", 1, NULL);
  fail_unless (push_confidence (hs, SAMPLE_COPY (sample), w, h) == NULL);

  gst_harness_teardown (hs);
  g_free (want);
  g_free (want_map);
  gst_sample_unref (sample);
}

GST_END_TEST;

static Suite *
deeplabseg_suite (void)
{
  Suite *s = suite_create ("deeplabseg");
  TCase *tc = tcase_create ("general");

  model_path = dls_test_model_path ();
  image_path = dls_test_shared_path ("data/voc-dev/voc_008.png");
  suite_add_tcase (s, tc);
  if (g_getenv ("DLS_TEST_NO_OPENCL")) {
    tcase_add_test (tc, test_no_opencl_platform);
    return s;
  }
  {
    GError *err = NULL;
    engine = dls_engine_new (model_path, NULL, &err);
    if (!engine) {
      fprintf (stderr, "engine: %s\n", err->message);
      exit (err->code == DLS_ERROR_NO_DEVICE && !dls_test_in_ci ()?
          DLS_TEST_SKIP : 1);
    }
  }
  tcase_add_loop_test (tc, test_formats_sizes_modes, 0,
      G_N_ELEMENTS (formats) * G_N_ELEMENTS (sizes));
  tcase_add_test (tc, test_state_cycles_no_leak);
  tcase_add_test (tc, test_bad_models);
  tcase_add_test (tc, test_properties_documented);
  tcase_add_test (tc, test_classes_select);
  tcase_add_test (tc, test_palette_custom);
  tcase_add_test (tc, test_background_mode);
  tcase_add_test (tc, test_messages);
  tcase_add_test (tc, test_live_changes);
  tcase_add_test (tc, test_interval);
  tcase_add_test (tc, test_confidence);
  return s;
}

int
main (int argc, char **argv)
{
  Suite *s;
  int failed;

  gst_check_init (&argc, &argv);
  s = deeplabseg_suite ();
  failed = gst_check_run_suite (s, "deeplabseg", __FILE__);
  dls_engine_free (engine);
  g_free (model_path);
  g_free (image_path);
  return failed;
}

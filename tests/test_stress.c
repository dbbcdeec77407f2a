/* deeplabseg tests: reliability of the element under stress (GstCheck).
 *
 * - states: a pipeline walked NULL<->READY<->PAUSED<->PLAYING in a random
 *   order (fixed seed) 200 times, with a model that loads, with one that
 *   fails to load (every entry to PAUSED fails with an error on the bus, the
 *   rest succeeds) and switching between the two while in NULL or READY;
 * - soak: 320x240 frames through a GstHarness while a thread keeps setting
 *   alpha and the test switches mode (overlay, meta, mask: output caps
 *   change, background), crf and interval, caps change mid-stream (size
 *   and format), flush-seeks, EOS mid-stream (then a flush-seek) and at
 *   the end; every frame comes out in the size and format its mode and caps
 *   call for, no error, no critical, and the peak RSS of the last caps
 *   cycle exceeds that of the cycle ending the warm-up by < 1 MiB.
 *   DLS_SOAK_FRAMES (default 600) and DLS_SOAK_MODEL (default: the small
 *   in-code model, 3-channel variant) make the long run of
 *   scripts/soak.sh; DLS_SOAK_TRACE=N prints RSS every N frames;
 * - a model file replaced on disk while playing changes nothing until the
 *   next start (which then fails on the new content);
 * - the OpenCL device failing while playing (an injected error) gives a
 *   GST_ELEMENT_ERROR and a clean shutdown;
 * - many streams: 4 deeplabseg behind a tee give the class maps 1 gives,
 *   4 engines in one process share one OpenCL runtime (context and
 *   compiled programs), one parsed graph and one device copy of the
 *   weights per model file (also when started from 4 threads at once),
 *   with logits bit-equal to an engine holding its own weights; the RSS
 *   of 1 and 4 instances is printed.
 *
 * One process (CK_FORK=no): OpenCL state does not survive fork(). Run with
 * GST_TRACERS=leaks (meson): a GStreamer object left alive fails the test.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsink.h>
#include <glib/gstdio.h>
#include <malloc.h>
#include <string.h>

#include "backend/opencl.h"
#include "engine/engine.h"
#include "model/model.h"
#include "meta/gstdeeplabsegmeta.h"
#include "tflite_builder.h"
#include "testutil.h"

static gchar *tiny_path;        /* the small RGB model, in a temp file */
static const gchar *bad_path = "/nonexistent/deeplabseg-stress.tflite";

static gchar *
write_tiny_model (void)
{
  TinySpec spec = tiny_default;
  GByteArray *b;
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("dls-stress-XXXXXX.tflite", &path, NULL);

  /* Called before any test runs: no fail_unless here. */
  if (fd < 0)
    g_error ("cannot create a temporary file");
  g_close (fd, NULL);
  spec.rgb = TRUE;
  b = tiny_build (&spec);
  if (!g_file_set_contents (path, (const gchar *) b->data, b->len, NULL))
    g_error ("cannot write %s", path);
  g_byte_array_unref (b);
  return path;
}

/* Errors and warnings on @bus since the last call. */
static int
drain_errors (GstBus * bus, GstElement * from, gboolean verbose)
{
  GstMessage *msg;
  int n = 0;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR
              | GST_MESSAGE_WARNING))) {
    GError *err = NULL;
    gchar *debug = NULL;

    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
      gst_message_parse_error (msg, &err, &debug);
    else
      gst_message_parse_warning (msg, &err, &debug);
    if (verbose || (from && GST_MESSAGE_SRC (msg) != GST_OBJECT (from)))
      GST_WARNING ("%s from %s: %s (%s)", GST_MESSAGE_TYPE_NAME (msg),
          GST_MESSAGE_SRC_NAME (msg), err->message, debug);
    fail_unless (!from || GST_MESSAGE_SRC (msg) == GST_OBJECT (from),
        "error from %s, not deeplabseg: %s", GST_MESSAGE_SRC_NAME (msg),
        err->message);
    g_clear_error (&err);
    g_free (debug);
    gst_message_unref (msg);
    n++;
  }
  return n;
}

/* A harness on deeplabseg with @model: the harness plays a filter as it
 * makes it, which starts it with the default model, so stop, set, play. */
static GstHarness *
harness_with_model (const gchar * model)
{
  GstHarness *h = gst_harness_new ("deeplabseg");

  fail_unless_equals_int (gst_element_set_state (h->element,
          GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  g_object_set (h->element, "model", model, NULL);
  gst_harness_play (h);
  return h;
}

/* ------------------------------------------------------------------------
 * States.
 */

enum
{ WALK_GOOD, WALK_BAD, WALK_MIXED };

static void
walk_states (int kind, guint32 seed, int steps)
{
  static const GstState states[] = { GST_STATE_NULL, GST_STATE_READY,
    GST_STATE_PAUSED, GST_STATE_PLAYING
  };
  GstElement *pipe = gst_parse_launch ("videotestsrc is-live=true ! "
      "video/x-raw,format=RGB,width=320,height=240,framerate=30/1 ! "
      "deeplabseg name=seg ! fakesink sync=false", NULL);
  GstElement *seg = gst_bin_get_by_name (GST_BIN (pipe), "seg");
  GstBus *bus = gst_element_get_bus (pipe);
  GRand *rand = g_rand_new_with_seed (seed);
  gboolean bad = kind == WALK_BAD;
  GstState cur = GST_STATE_NULL;
  int n_fail = 0, n_swap = 0, visits[GST_STATE_PLAYING + 1] = { 0 };

  g_object_set (seg, "model", bad ? bad_path : tiny_path, NULL);
  for (int i = 0; i < steps; i++) {
    GstState target = states[g_rand_int_range (rand, 0, 4)];
    GstStateChangeReturn ret;
    gboolean expect_fail;

    if (target == cur)          /* another state: one of the three others */
      target = states[(cur - GST_STATE_NULL + g_rand_int_range (rand, 1, 4))
          % 4];
    if (kind == WALK_MIXED && cur <= GST_STATE_READY
        && g_rand_int_range (rand, 0, 3) == 0) {
      bad = !bad;
      n_swap++;
      g_object_set (seg, "model", bad ? bad_path : tiny_path, NULL);
    }
    expect_fail = bad && target >= GST_STATE_PAUSED;

    ret = gst_element_set_state (pipe, target);
    if (ret == GST_STATE_CHANGE_ASYNC)
      ret = gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND);
    if (expect_fail) {
      fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
      fail_unless (drain_errors (bus, seg, FALSE) >= 1,
          "step %d: no error message for a model that cannot load", i);
      n_fail++;
      /* A failed READY->PAUSED leaves the pipeline in READY. */
      gst_element_get_state (pipe, &cur, NULL, 0);
      fail_unless (cur <= GST_STATE_READY, "step %d: in %s after a failure",
          i, gst_element_state_get_name (cur));
      continue;
    }
    fail_unless (ret != GST_STATE_CHANGE_FAILURE, "step %d: %s -> %s failed",
        i, gst_element_state_get_name (cur),
        gst_element_state_get_name (target));
    fail_unless_equals_int (drain_errors (bus, NULL, TRUE), 0);
    gst_element_get_state (pipe, &cur, NULL, 0);
    fail_unless (cur == target, "step %d: in %s, wanted %s", i,
        gst_element_state_get_name (cur), gst_element_state_get_name (target));
    visits[cur]++;
    /* Let a few frames through now and then. */
    if (cur == GST_STATE_PLAYING && (i & 3) == 0)
      g_usleep (40000);
  }
  GST_INFO ("walk %d: %d steps, NULL %d READY %d PAUSED %d PLAYING %d, "
      "%d failed starts, %d model swaps", kind, steps,
      visits[GST_STATE_NULL], visits[GST_STATE_READY],
      visits[GST_STATE_PAUSED], visits[GST_STATE_PLAYING], n_fail, n_swap);
  /* Short walks (DLS_STRESS_STEPS) may miss a state. */
  if (kind == WALK_BAD || (kind == WALK_MIXED && steps >= 50))
    fail_unless (n_fail > 0);
  if (kind == WALK_GOOD || (kind == WALK_MIXED && steps >= 50))
    fail_unless (visits[GST_STATE_PLAYING] > 0);
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  g_rand_free (rand);
  gst_object_unref (bus);
  gst_object_unref (seg);
  gst_object_unref (pipe);
}

/* DLS_STRESS_STEPS shortens the walks (scripts/valgrind.sh). */
static int
walk_steps (void)
{
  const gchar *env = g_getenv ("DLS_STRESS_STEPS");
  return env ? MAX (atoi (env), 8) : 200;
}

GST_START_TEST (test_states_random)
{
  walk_states (WALK_GOOD, 1, walk_steps ());
}

GST_END_TEST;

GST_START_TEST (test_states_random_load_failure)
{
  walk_states (WALK_BAD, 2, walk_steps ());
}

GST_END_TEST;

GST_START_TEST (test_states_random_mixed)
{
  walk_states (WALK_MIXED, 3, walk_steps ());
}

GST_END_TEST;

/* The model is read whole at start(): replacing the file while playing
 * changes nothing until the next start, which then reads the new file. */
GST_START_TEST (test_model_replaced_while_playing)
{
  gchar *path = NULL, *data = NULL;
  gsize len = 0;
  gint fd = g_file_open_tmp ("dls-replaced-XXXXXX.tflite", &path, NULL);
  GstElement *pipe, *sink;
  GstBus *bus;
  GstSample *s;
  gchar *desc;

  fail_unless (fd >= 0);
  g_close (fd, NULL);
  fail_unless (g_file_get_contents (tiny_path, &data, &len, NULL));
  fail_unless (g_file_set_contents (path, data, len, NULL));
  desc = g_strdup_printf ("videotestsrc is-live=true ! video/x-raw,"
      "format=RGB,width=320,height=240,framerate=30/1 ! deeplabseg "
      "model=\"%s\" ! appsink name=sink sync=false max-buffers=2 drop=true",
      path);
  pipe = gst_parse_launch (desc, NULL);
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  bus = gst_element_get_bus (pipe);

  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 30 * GST_SECOND);
  fail_unless (s != NULL, "no frame before the file was replaced");
  gst_sample_unref (s);
  fail_unless (g_file_set_contents (path, "not a model any more", 20, NULL));
  for (int i = 0; i < 5; i++) {
    s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 30 * GST_SECOND);
    fail_unless (s != NULL, "frame %d after the file was replaced", i);
    gst_sample_unref (s);
  }
  fail_unless_equals_int (drain_errors (bus, NULL, TRUE), 0);

  /* A restart reads the new content: it is no model. */
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  fail_unless (drain_errors (bus, NULL, FALSE) >= 1);
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);

  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  g_unlink (path);
  g_free (path);
  g_free (data);
  g_free (desc);
}

GST_END_TEST;

/* The device failing at run time (injected in the OpenCL backend, see
 * DLS_TEST_CL_FAIL_RUN in gst/backend/opencl.c): the element posts a
 * LIBRARY/FAILED error with the cause, the pipeline stops and shuts down
 * cleanly (no leak under GST_TRACERS=leaks), and a restart works. */
GST_START_TEST (test_device_fails_while_playing)
{
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=40 ! video/x-raw,"
      "format=RGB,width=320,height=240 ! deeplabseg name=seg model=\"%s\" ! "
      "fakesink", tiny_path);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  GstElement *seg = gst_bin_get_by_name (GST_BIN (pipe), "seg");
  GstMessage *msg;
  GError *err = NULL;
  gchar *debug = NULL;

  g_setenv ("DLS_TEST_CL_FAIL_RUN", "5", TRUE);
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  g_unsetenv ("DLS_TEST_CL_FAIL_RUN");
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipe), 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
      "no error when the device failed");
  fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (seg));
  gst_message_parse_error (msg, &err, &debug);
  GST_INFO ("%s (%s)", err->message, debug);
  fail_unless (err->domain == GST_LIBRARY_ERROR
      && err->code == GST_LIBRARY_ERROR_FAILED, "got %s %d: %s",
      g_quark_to_string (err->domain), err->code, err->message);
  fail_unless (strstr (err->message, "injected") != NULL,
      "cause not given: %s", err->message);
  g_clear_error (&err);
  g_free (debug);
  gst_message_unref (msg);
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);

  /* Without the fault the same pipeline runs to the end. */
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipe), 120 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (seg);
  gst_object_unref (pipe);
  g_free (desc);
}

GST_END_TEST;

/* ------------------------------------------------------------------------
 * Soak.
 */

static const gchar *soak_caps[] = {
  "video/x-raw,format=RGB,width=320,height=240,framerate=30/1",
  "video/x-raw,format=I420,width=320,height=240,framerate=30/1",
  "video/x-raw,format=NV12,width=322,height=242,framerate=30/1",
  "video/x-raw,format=BGRx,width=240,height=320,framerate=30/1",
};

#define SOAK_CAPS_EVERY 50      /* frames between caps changes */
#define SOAK_MODE_EVERY 17      /* frames between mode changes */
#define SOAK_FLUSH_EVERY 120    /* frames between flush-seeks */
#define SOAK_EOS_EVERY 290      /* frames between EOS (then a flush-seek) */
#define SOAK_CYCLE (SOAK_CAPS_EVERY * G_N_ELEMENTS (soak_caps))
/* Warm-up: every caps with every mode, crf and interval seen. */
#define SOAK_WARM (2 * SOAK_CYCLE)
/* RSS is sampled every SOAK_RSS_EVERY frames; a window's figure is its
 * largest sample. A single sample would depend on the state it falls in:
 * RSS moves by ~12 MiB with the mode, crf and caps of the moment (which
 * sizes of buffers the heap holds), with no trend (3000 frames: flat). */
#define SOAK_RSS_EVERY 10

static GstBuffer *
soak_frame (const GstVideoInfo * info, guint n)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstMapInfo map;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  /* Diagonal bands that move with n: the map changes from frame to frame. */
  for (gsize k = 0; k < map.size; k++)
    map.data[k] = (guint8) ((k / 3 + (k / 997) * 7 + n * 5) & 0xff);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (n, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

static void
flush_seek (GstHarness * h)
{
  GstSegment seg;

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
}

static gsize
trimmed_rss_kib (void)
{
  /* Freed heap kept by malloc is not a leak: hand it back first. */
  malloc_trim (0);
  return dls_test_rss_kib ();
}

GST_START_TEST (test_soak)
{
  const gchar *env_frames = g_getenv ("DLS_SOAK_FRAMES");
  const gchar *env_model = g_getenv ("DLS_SOAK_MODEL");
  guint n_frames = env_frames ? (guint) g_ascii_strtoull (env_frames, NULL,
      10) : 600;
  GstHarness *h = harness_with_model (env_model ? env_model : tiny_path);
  GstBus *bus = gst_bus_new ();
  GstHarnessThread *stress;
  GstVideoInfo info;
  GValue alpha = G_VALUE_INIT;
  GObjectClass *klass = G_OBJECT_GET_CLASS (h->element);
  static const gchar *modes[] = { "overlay", "meta", "mask", "background" };
  guint mode = 0, n_flush = 0, n_mode = 0, n_caps = 0, n_eos = 0, pts = 0;
  gsize rss_warm = 0, rss_end = 0, rss;
  /* every sample, "frame:KiB ", printed when the check fails */
  GString *samples = g_string_new (NULL);
  gboolean got_eos = FALSE;
  GstEvent *ev;
  guint trace = g_getenv ("DLS_SOAK_TRACE") ?
      (guint) g_ascii_strtoull (g_getenv ("DLS_SOAK_TRACE"), NULL, 10) : 0;

  n_frames = MAX (n_frames, SOAK_WARM + SOAK_CYCLE);
  /* The end window once read 1.2 MiB above the warm one (typically
   * +30..+140 KiB), under a load of 3-4 from other jobs. Two allocator
   * effects can do that without a leak, and both are pinned here: glibc's
   * dynamic mmap threshold (it rises each time a large mmapped block is
   * freed, so later frames and maps come from the heap, whose fragments
   * the trim cannot give back; as test_state_cycles_no_leak), and a new
   * malloc arena, which glibc creates when a thread (PoCL's workers, the
   * alpha thread) finds the existing ones locked: more likely the busier
   * the machine. */
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
  mallopt (M_ARENA_MAX, 1);
  gst_element_set_bus (h->element, bus);
  /* A thread sets alpha all the time, racing the streaming thread. */
  g_value_init (&alpha, G_TYPE_DOUBLE);
  g_value_set_double (&alpha, 0.7);
  stress = gst_harness_stress_property_start_full (h, "alpha", &alpha, 500);

  for (guint i = 0; i < n_frames; i++) {
    GstBuffer *out;
    GstCaps *out_caps;
    GstVideoInfo out_info;

    if (i % SOAK_CAPS_EVERY == 0) {
      const gchar *caps = soak_caps[(i / SOAK_CAPS_EVERY)
          % G_N_ELEMENTS (soak_caps)];
      GstCaps *c = gst_caps_from_string (caps);

      fail_unless (gst_video_info_from_caps (&info, c));
      gst_harness_set_src_caps (h, c);
      n_caps++;
    }
    if (i % SOAK_MODE_EVERY == 0) {
      mode = (mode + 1) % G_N_ELEMENTS (modes);
      gst_util_set_object_arg (G_OBJECT (h->element), "mode", modes[mode]);
      g_object_set (h->element, "alpha", (i % 11) / 10.0, NULL);
      /* Properties other issues add, exercised once they exist. */
      if (g_object_class_find_property (klass, "crf"))
        gst_util_set_object_arg (G_OBJECT (h->element), "crf",
            (i / SOAK_MODE_EVERY / 4) & 1 ? "true" : "false");
      if (g_object_class_find_property (klass, "interval"))
        gst_util_set_object_arg (G_OBJECT (h->element), "interval",
            (i / SOAK_MODE_EVERY / 8) & 1 ? "2" : "1");
      n_mode++;
    }
    if (i % SOAK_FLUSH_EVERY == SOAK_FLUSH_EVERY - 1) {
      flush_seek (h);
      pts = 0;
      n_flush++;
    }
    /* EOS mid-stream: it comes out, and a flush-seek starts again. */
    if (i % SOAK_EOS_EVERY == SOAK_EOS_EVERY - 1) {
      gboolean eos_out = FALSE;

      fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
      while ((ev = gst_harness_try_pull_event (h))) {
        eos_out |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
        gst_event_unref (ev);
      }
      fail_unless (eos_out, "frame %u: EOS did not come out", i);
      flush_seek (h);
      pts = 0;
      n_eos++;
    }

    fail_unless_equals_int (gst_harness_push (h, soak_frame (&info, pts++)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (out != NULL, "frame %u: no output", i);
    out_caps = gst_pad_get_current_caps (h->sinkpad);
    fail_unless (gst_video_info_from_caps (&out_info, out_caps));
    gst_caps_unref (out_caps);
    /* The frame's own size, in GRAY8 exactly when in mask mode. */
    fail_unless (GST_VIDEO_INFO_WIDTH (&out_info) ==
        GST_VIDEO_INFO_WIDTH (&info) && GST_VIDEO_INFO_HEIGHT (&out_info) ==
        GST_VIDEO_INFO_HEIGHT (&info), "frame %u: output %dx%d for %dx%d", i,
        GST_VIDEO_INFO_WIDTH (&out_info), GST_VIDEO_INFO_HEIGHT (&out_info),
        GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info));
    fail_unless ((GST_VIDEO_INFO_FORMAT (&out_info) == GST_VIDEO_FORMAT_GRAY8)
        == (mode == 2), "frame %u: %s output in mode %s", i,
        GST_VIDEO_INFO_NAME (&out_info), modes[mode]);
    fail_unless (gst_buffer_get_size (out) >= GST_VIDEO_INFO_SIZE (&out_info));
    fail_unless ((gst_buffer_get_deeplabseg_meta (out) != NULL) == (mode == 1),
        "frame %u: meta %s in mode %s", i,
        gst_buffer_get_deeplabseg_meta (out) ? "present" : "missing",
        modes[mode]);
    gst_buffer_unref (out);
    /* Drop the events the sink collected (caps, segments, flushes). */
    while ((ev = gst_harness_try_pull_event (h)))
      gst_event_unref (ev);

    /* DLS_SOAK_TRACE=N: RSS every N frames, to see a trend. */
    if (trace && i % trace == trace - 1)
      printf ("frame %u: mode %s, caps %s, RSS %" G_GSIZE_FORMAT " KiB\n",
          i, modes[mode], GST_VIDEO_INFO_NAME (&info), trimmed_rss_kib ());
    /* Peak of the cycle that ends the warm-up vs peak of the last one. */
    if (i % SOAK_RSS_EVERY == SOAK_RSS_EVERY - 1) {
      rss = trimmed_rss_kib ();
      g_string_append_printf (samples, "%u:%" G_GSIZE_FORMAT " ", i, rss);
      if (i >= SOAK_WARM - SOAK_CYCLE && i < SOAK_WARM)
        rss_warm = MAX (rss_warm, rss);
      if (i >= n_frames - SOAK_CYCLE)
        rss_end = MAX (rss_end, rss);
    }
  }

  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((ev = gst_harness_try_pull_event (h))) {
    got_eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (got_eos, "EOS did not come out");
  gst_harness_stress_thread_stop (stress);
  g_value_unset (&alpha);
  fail_unless_equals_int (drain_errors (bus, NULL, TRUE), 0);

  printf ("soak: %u frames (%u caps changes, %u mode changes with alpha, "
      "crf and interval, %u flush-seeks, %u EOS, alpha set from a thread), "
      "peak RSS after warm-up %" G_GSIZE_FORMAT " KiB, at the end %"
      G_GSIZE_FORMAT " KiB: %+" G_GSSIZE_FORMAT " KiB\n", n_frames, n_caps,
      n_mode, n_flush, n_eos, rss_warm,
      rss_end, (gssize) rss_end - (gssize) rss_warm);
#ifndef __SANITIZE_ADDRESS__
  /* Under ASan freed memory waits in a 256 MiB quarantine, so RSS says
   * nothing there; LeakSanitizer checks for leaks at exit instead. */
  if (rss_end >= rss_warm + 1024)
    printf ("soak: RSS samples (frame:KiB) %s\n", samples->str);
  fail_unless (rss_end < rss_warm + 1024, "RSS grew by %" G_GSSIZE_FORMAT
      " KiB after warm-up", (gssize) rss_end - (gssize) rss_warm);
#endif
  g_string_free (samples, TRUE);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ------------------------------------------------------------------------
 * Findings of the element fuzzer (tests/fuzz/fuzz_element.c), replayed.
 */

/* post-messages in a segment of BYTES: the frame's stream and running
 * times are GST_CLOCK_TIME_NONE (gst_segment_to_stream_time() asserted on
 * the format: a critical). */
GST_START_TEST (test_fuzz_bytes_segment_messages)
{
  GstHarness *h = harness_with_model (tiny_path);
  GstBus *bus = gst_bus_new ();
  GstSegment seg;
  GstMessage *msg;
  const GstStructure *st;
  guint64 stream_time = 0, running_time = 0;

  gst_element_set_bus (h->element, bus);
  g_object_set (h->element, "post-messages", TRUE, NULL);
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=RGB,width=16,height=16,framerate=30/1");
  gst_segment_init (&seg, GST_FORMAT_BYTES);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  gst_buffer_unref (gst_harness_push_and_pull (h,
          gst_buffer_new_allocate (NULL, 16 * 16 * 3, NULL)));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL, "no deeplabseg message");
  st = gst_message_get_structure (msg);
  fail_unless (gst_structure_get_uint64 (st, "stream-time", &stream_time));
  fail_unless (gst_structure_get_uint64 (st, "running-time", &running_time));
  fail_unless (stream_time == GST_CLOCK_TIME_NONE
      && running_time == GST_CLOCK_TIME_NONE);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ------------------------------------------------------------------------
 * Many streams.
 */

#define STREAM_FRAMES 2

/* Class maps (mask mode) of @n deeplabseg behind a tee, on the photo at
 * 320x240; returns them as maps[instance * STREAM_FRAMES + frame] and the
 * RSS growth while the pipeline ran. */
static GPtrArray *
run_streams (const gchar * model, const gchar * image, int n, gsize * rss)
{
  GString *desc = g_string_new (NULL);
  GPtrArray *maps = g_ptr_array_new_with_free_func (
      (GDestroyNotify) g_bytes_unref);
  GstElement *pipe;
  GstMessage *msg;
  gsize before = trimmed_rss_kib (), peak = before;

  g_string_printf (desc, "filesrc location=\"%s\" ! decodebin ! videoconvert "
      "! videoscale ! video/x-raw,format=RGB,width=320,height=240 ! "
      "imagefreeze num-buffers=%d ! tee name=t", image, STREAM_FRAMES);
  for (int k = 0; k < n; k++)
    g_string_append_printf (desc, " t. ! queue ! deeplabseg model=\"%s\" "
        "mode=mask ! appsink name=sink%d sync=false", model, k);
  pipe = gst_parse_launch (desc->str, NULL);
  fail_unless (pipe != NULL);
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  for (int k = 0; k < n; k++) {
    gchar *name = g_strdup_printf ("sink%d", k);
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), name);

    for (int f = 0; f < STREAM_FRAMES; f++) {
      GstSample *s = gst_app_sink_pull_sample (GST_APP_SINK (sink));
      GstBuffer *b;
      GstMapInfo map;

      fail_unless (s != NULL, "instance %d: no frame %d", k, f);
      peak = MAX (peak, dls_test_rss_kib ());
      b = gst_sample_get_buffer (s);
      fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
      g_ptr_array_add (maps, g_bytes_new (map.data, map.size));
      gst_buffer_unmap (b, &map);
      gst_sample_unref (s);
    }
    gst_object_unref (sink);
    g_free (name);
  }
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipe), 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  peak = MAX (peak, dls_test_rss_kib ());
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_string_free (desc, TRUE);
  *rss = peak - before;
  return maps;
}

GST_START_TEST (test_many_streams)
{
  gchar *model = dls_test_model_path ();
  gchar *image = dls_test_shared_path ("data/voc-dev/voc_008.png");
  gsize rss1, rss4;
  GPtrArray *one = run_streams (model, image, 1, &rss1);
  GPtrArray *four = run_streams (model, image, 4, &rss4);

  fail_unless_equals_int (one->len, STREAM_FRAMES);
  fail_unless_equals_int (four->len, 4 * STREAM_FRAMES);
  for (guint i = 0; i < four->len; i++)
    fail_unless (g_bytes_equal (four->pdata[i],
            one->pdata[i % STREAM_FRAMES]), "instance %u frame %u: its class "
        "map differs from a single instance's", i / STREAM_FRAMES,
        i % STREAM_FRAMES);
  printf ("many streams: peak RSS growth 1 instance %.1f MiB, 4 instances "
      "%.1f MiB (320x240, %s)\n", rss1 / 1024.0, rss4 / 1024.0, model);
  g_ptr_array_unref (one);
  g_ptr_array_unref (four);
  g_free (model);
  g_free (image);
}

GST_END_TEST;

/* The element's engines share one runtime: the same path, driven
 * directly, since the plugin holds its own copy of the runtime's state. */
GST_START_TEST (test_engines_share_runtime)
{
  gchar *model = dls_test_model_path ();
  DlsEngine *e[4] = { NULL };
  guint rt0, pr0, rt1, pr1, rt4, pr4;
  GError *err = NULL;

  dls_cl_stats (&rt0, &pr0);
  for (int i = 0; i < 4; i++) {
    e[i] = dls_engine_new (model, NULL, &err);
    fail_unless (e[i] != NULL, "engine %d: %s", i, err ? err->message : "");
    if (i == 0)
      dls_cl_stats (&rt1, &pr1);
  }
  dls_cl_stats (&rt4, &pr4);
  GST_INFO ("runtimes %u/%u/%u, programs %u/%u/%u", rt0, rt1, rt4, pr0, pr1,
      pr4);
  fail_unless (rt0 == 0 && rt1 == 1 && pr1 > 0);
  fail_unless (rt4 == 1, "4 engines made %u OpenCL runtimes", rt4);
  fail_unless (pr4 == pr1, "4 engines hold %u programs, 1 held %u", pr4, pr1);
  for (int i = 0; i < 4; i++)
    dls_engine_free (e[i]);
  dls_cl_stats (&rt0, &pr0);
  fail_unless (rt0 == 0 && pr0 == 0, "the runtime outlived its engines");
  g_free (model);
}

GST_END_TEST;

/* Logits of @e for a fixed ramp input (the model's input shape). */
static float *
engine_logits (DlsEngine * e)
{
  int iw, ih, ow, oh, nc = dls_engine_n_classes (e);
  gsize n_in;
  float *in, *out;
  GError *err = NULL;

  dls_engine_input_size (e, &iw, &ih);
  dls_engine_output_size (e, &ow, &oh);
  n_in = (gsize) iw * ih * 3;
  in = g_new (float, n_in);
  out = g_new (float, (gsize) ow * oh * nc);
  for (gsize k = 0; k < n_in; k++)
    in[k] = (float) ((k * 37) % 255) / 127.5f - 1.0f;
  fail_unless (dls_engine_run_tensor (e, in, out, &err), "%s",
      err ? err->message : "");
  g_free (in);
  return out;
}

static gpointer
new_engine_thread (gpointer path)
{
  GError *err = NULL;
  DlsEngine *e = dls_engine_new (path, NULL, &err);

  if (!e)
    GST_ERROR ("engine: %s", err->message);
  g_clear_error (&err);
  return e;
}

/* Weights in device memory, and the parsed graph, are shared per model
 * file: 4 engines of one model hold the bytes 1 holds, a second model adds
 * its own set, and the last engine out frees them. An engine with its own
 * weights (a graph handed over, no model key) gives bit-equal logits, so
 * the shared buffers are the right ones. 4 engines started from 4 threads
 * at once share too (the cache is thread-safe). */
GST_START_TEST (test_engines_share_weights)
{
  gchar *model = dls_test_model_path ();
  DlsEngine *e[4] = { NULL }, *own, *tiny;
  DlsGraph *g;
  GThread *threads[4];
  guint sets0, sets1, sets4, sets_own, sets_tiny;
  guint64 bytes0, bytes1, bytes4, bytes_own, bytes_tiny;
  size_t n_logits;
  float *ref, *x;
  int ow, oh;
  GError *err = NULL;

  dls_cl_weight_stats (&sets0, &bytes0);
  fail_unless (sets0 == 0 && bytes0 == 0 && dls_model_shared_count () == 0);
  for (int i = 0; i < 4; i++) {
    e[i] = dls_engine_new (model, NULL, &err);
    fail_unless (e[i] != NULL, "engine %d: %s", i, err ? err->message : "");
    if (i == 0)
      dls_cl_weight_stats (&sets1, &bytes1);
  }
  dls_cl_weight_stats (&sets4, &bytes4);
  printf ("shared weights: 1 engine %u set(s) %.2f MiB, 4 engines %u set(s) "
      "%.2f MiB of device weights (%s)\n", sets1, bytes1 / 1048576.0, sets4,
      bytes4 / 1048576.0, model);
  fail_unless (sets1 == 1 && bytes1 > 1000000, "1 engine: %u sets, %"
      G_GUINT64_FORMAT " bytes", sets1, bytes1);
  fail_unless (sets4 == 1 && bytes4 == bytes1, "4 engines hold %u weight "
      "sets, %" G_GUINT64_FORMAT " bytes; 1 held %" G_GUINT64_FORMAT, sets4,
      bytes4, bytes1);
  fail_unless_equals_int (dls_model_shared_count (), 1);

  /* Another model: its own set. */
  tiny = dls_engine_new (tiny_path, NULL, &err);
  fail_unless (tiny != NULL, "%s", err ? err->message : "");
  dls_cl_weight_stats (&sets_tiny, &bytes_tiny);
  fail_unless (sets_tiny == 2 && bytes_tiny > bytes1);
  fail_unless_equals_int (dls_model_shared_count (), 2);
  dls_engine_free (tiny);

  /* The same weights, private: the same logits, bit for bit. */
  g = dls_model_load (model, &err);
  fail_unless (g != NULL, "%s", err ? err->message : "");
  own = dls_engine_new_from_graph (g, NULL, &err);
  fail_unless (own != NULL, "%s", err ? err->message : "");
  dls_cl_weight_stats (&sets_own, &bytes_own);
  fail_unless (sets_own == 2 && bytes_own == 2 * bytes1,
      "a private set: %u sets, %" G_GUINT64_FORMAT " bytes", sets_own,
      bytes_own);
  dls_engine_output_size (own, &ow, &oh);
  n_logits = (size_t) ow * oh * dls_engine_n_classes (own) * sizeof (float);
  ref = engine_logits (own);
  for (int i = 0; i < 4; i++) {
    x = engine_logits (e[i]);
    fail_unless (memcmp (x, ref, n_logits) == 0, "engine %d: logits differ "
        "from an engine with its own weights", i);
    g_free (x);
  }
  dls_engine_free (own);

  /* The last user frees the set and the graph; one left keeps them. */
  for (int i = 0; i < 3; i++)
    dls_engine_free (e[i]);
  dls_cl_weight_stats (&sets1, &bytes4);
  fail_unless (sets1 == 1 && bytes4 == bytes1 &&
      dls_model_shared_count () == 1);
  dls_engine_free (e[3]);
  dls_cl_weight_stats (&sets0, &bytes0);
  fail_unless (sets0 == 0 && bytes0 == 0 && dls_model_shared_count () == 0,
      "%u weight sets (%" G_GUINT64_FORMAT " bytes), %u graphs outlived "
      "their engines", sets0, bytes0, dls_model_shared_count ());

  /* Started from 4 threads at once: one set, one graph, same logits. */
  for (int i = 0; i < 4; i++)
    threads[i] = g_thread_new ("engine", new_engine_thread, model);
  for (int i = 0; i < 4; i++) {
    e[i] = g_thread_join (threads[i]);
    fail_unless (e[i] != NULL, "thread %d: no engine", i);
  }
  dls_cl_weight_stats (&sets4, &bytes4);
  fail_unless (sets4 == 1 && bytes4 == bytes1 &&
      dls_model_shared_count () == 1, "4 threads: %u sets, %"
      G_GUINT64_FORMAT " bytes, %u graphs", sets4, bytes4,
      dls_model_shared_count ());
  for (int i = 0; i < 4; i++) {
    x = engine_logits (e[i]);
    fail_unless (memcmp (x, ref, n_logits) == 0, "thread %d: logits differ",
        i);
    g_free (x);
    dls_engine_free (e[i]);
  }
  dls_cl_weight_stats (&sets0, &bytes0);
  fail_unless (sets0 == 0 && dls_model_shared_count () == 0);
  g_free (ref);
  g_free (model);
}

GST_END_TEST;

/* DLS_PROFILE=1 prints per-step times when a backend is freed: also for a
 * backend that never ran (every minimum still unset) and one that ran
 * (under the sanitized build, any bad read there is a failure). */
GST_START_TEST (test_profile_freed_backends)
{
  DlsEngine *e;
  float *logits;
  GError *err = NULL;

  g_setenv ("DLS_PROFILE", "1", TRUE);
  e = dls_engine_new (tiny_path, NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "");
  dls_engine_free (e);
  e = dls_engine_new (tiny_path, NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "");
  logits = engine_logits (e);
  g_free (logits);
  dls_engine_free (e);
  g_unsetenv ("DLS_PROFILE");
}

GST_END_TEST;

static Suite *
stress_suite (void)
{
  Suite *s = suite_create ("deeplabseg-stress");
  TCase *tc = tcase_create ("stress");
  DlsCl *cl;
  GError *err = NULL;

  /* No OpenCL: nothing here can run. */
  cl = dls_cl_acquire (NULL, &err);
  if (!cl) {
    fprintf (stderr, "no OpenCL device: %s\n", err->message);
    exit (dls_test_in_ci ()? 1 : DLS_TEST_SKIP);
  }
  dls_cl_release (cl);

  tiny_path = write_tiny_model ();
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_engines_share_runtime);
  tcase_add_test (tc, test_engines_share_weights);
  tcase_add_test (tc, test_profile_freed_backends);
  tcase_add_test (tc, test_states_random);
  tcase_add_test (tc, test_states_random_load_failure);
  tcase_add_test (tc, test_states_random_mixed);
  tcase_add_test (tc, test_model_replaced_while_playing);
  tcase_add_test (tc, test_device_fails_while_playing);
  tcase_add_test (tc, test_soak);
  tcase_add_test (tc, test_fuzz_bytes_segment_messages);
  tcase_add_test (tc, test_many_streams);
  return s;
}

int
main (int argc, char **argv)
{
  Suite *s;
  int failed;

  gst_check_init (&argc, &argv);
  s = stress_suite ();
  failed = gst_check_run_suite (s, "deeplabseg-stress", __FILE__);
  g_unlink (tiny_path);
  g_free (tiny_path);
  return failed;
}

/* deeplabseg fuzzing: a libFuzzer target for the element's caps, property,
 * buffer, event and state surface.
 *
 * Built with clang (-fsanitize=fuzzer,address,undefined) by
 * tests/fuzz/meson.build together with the element's own sources (the
 * element is registered statically; no plugin is loaded). Each input is
 * decoded into operations (tests/fuzz/element_ops.h) on one deeplabseg in
 * a GstHarness, made anew per input so that a finding replays from its
 * input alone: caps of every format with fuzzed sizes and framerates
 * (0, 1, odd, huge, negative), any property set by name from a string
 * (gst_util_set_object_arg; bad and out-of-range values too), buffers of
 * the right and of wrong sizes, flushes, segments, EOS, state changes and
 * caps queries.
 *
 * The model is the small RGB model of tests/tflite_builder.c (an 8x8
 * input: a frame costs its upload and the image kernels), written at start
 * and made the default with DEEPLABSEG_MODEL; $DLS_FUZZ_ELEMENT_MODEL
 * names another. The OpenCL runtime of device "auto" is held for the whole
 * run so that its compiled programs outlive each input's element.
 *
 * A finding: a crash, a sanitizer report, a GLib critical (made fatal: a
 * g_return_if_fail in our code or a GStreamer API misused by it), or a
 * timeout. GObject's warnings for out-of-range values are expected: they
 * are the "bad values" and are silenced.
 */
#include "gstdeeplabseg.h"
#include "backend/opencl.h"
#include "element_ops.h"
#include "tflite_builder.h"

#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 48
/* Buffers of the right size only up to this many bytes (a huge caps gets
 * a wrong-sized small buffer instead): the cost of an input stays low. */
#define PUSH_MAX_BYTES (512 * 1024)

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static char *tmp_dir;
static char *paths[8];          /* candidates for model, labels, palette */
static GPtrArray *prop_names;   /* fe_props first, then the element's others */

typedef struct
{
  const uint8_t *p;
  size_t n, i;
} Reader;

static guint8
rd (Reader * r)
{
  return r->i < r->n ? r->p[r->i++] : 0;
}

static void
write_file (const char *name, const void *data, gsize len, int slot)
{
  char *path = g_build_filename (tmp_dir, name, NULL);

  if (!g_file_set_contents (path, data, len, NULL)) {
    fprintf (stderr, "fuzz_element: cannot write %s\n", path);
    abort ();
  }
  paths[slot] = path;
}

/* GObject's "value ... is out of range" and the like: the bad values this
 * target sets on purpose. */
static void
quiet_log (const gchar * domain, GLogLevelFlags level, const gchar * msg,
    gpointer data)
{
}

/* Every other message as GLib prints it, and a critical is a finding:
 * abort(), which libFuzzer reports with the input (GLib's own fatal
 * criticals raise SIGTRAP, which kills the fuzzer without a report). */
static void
fatal_critical (const gchar * domain, GLogLevelFlags level,
    const gchar * msg, gpointer data)
{
  g_log_default_handler (domain, level, msg, data);
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
    abort ();
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  TinySpec spec = tiny_default;
  GByteArray *model;
  GObjectClass *klass;
  GParamSpec **specs;
  guint n_specs;
  GError *err = NULL;
  DlsCl *cl;

  /* No plugin loading: only the statically registered element. */
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  g_unsetenv ("GST_PLUGIN_PATH");
  g_unsetenv ("GST_DEBUG");
  gst_init (argc, argv);
  if (!GST_ELEMENT_REGISTER (deeplabseg, NULL))
    abort ();

  tmp_dir = g_dir_make_tmp ("dls-fuzz-element-XXXXXX", NULL);
  if (!tmp_dir)
    abort ();
  spec.rgb = TRUE;
  model = tiny_build (&spec);
  write_file ("tiny.tflite", model->data, model->len, 0);
  g_byte_array_unref (model);
  paths[1] = g_build_filename (tmp_dir, "missing.tflite", NULL);
  write_file ("empty", "", 0, 2);
  write_file ("text.txt", "not a model\n", 12, 3);
  write_file ("labels.txt", "background\nperson\n\ncat\n", 23, 4);
  write_file ("palette.txt", "0x000000,0xff0000\n0x00ff00", 26, 5);
  paths[6] = g_strdup (tmp_dir);        /* a directory */
  paths[7] = g_strdup ("");
  g_setenv ("DEEPLABSEG_MODEL", g_getenv ("DLS_FUZZ_ELEMENT_MODEL") ?
      g_getenv ("DLS_FUZZ_ELEMENT_MODEL") : paths[0], TRUE);

  /* Held to the end: programs are built once, not once per input. */
  cl = dls_cl_acquire ("auto", &err);
  if (!cl) {
    fprintf (stderr, "fuzz_element: no OpenCL device: %s\n", err->message);
    exit (77);
  }

  prop_names = g_ptr_array_new ();
  klass = g_type_class_ref (GST_TYPE_DEEPLABSEG);
  for (guint i = 0; i < G_N_ELEMENTS (fe_props); i++)
    if (g_object_class_find_property (klass, fe_props[i]))
      g_ptr_array_add (prop_names, (gpointer) fe_props[i]);
  specs = g_object_class_list_properties (klass, &n_specs);
  for (guint i = 0; i < n_specs; i++) {
    gboolean known = FALSE;
    for (guint k = 0; k < prop_names->len; k++)
      known |= strcmp (prop_names->pdata[k], specs[i]->name) == 0;
    if (!known && specs[i]->owner_type == GST_TYPE_DEEPLABSEG
        && (specs[i]->flags & G_PARAM_WRITABLE))
      g_ptr_array_add (prop_names, (gpointer) specs[i]->name);
  }
  g_free (specs);

  g_log_set_default_handler (fatal_critical, NULL);
  g_log_set_handler ("GLib-GObject", G_LOG_LEVEL_WARNING, quiet_log, NULL);
  g_log_set_handler ("GStreamer", G_LOG_LEVEL_WARNING, quiet_log, NULL);
  /* Loading OpenCL installed a SIGABRT handler (PoCL's LLVM); libFuzzer
   * keeps a handler it finds, and an abort() then ended the run with no
   * report and no input saved. */
  signal (SIGABRT, SIG_DFL);
  return 0;
}

static int
fe_dim (guint8 sel, guint8 lo, guint8 hi)
{
  static const int huge[] = { 16385, 32767, 65535, 100000, 1 << 20,
    G_MAXINT / 2, G_MAXINT
  };
  guint v = lo | (guint) hi << 8;

  switch (sel % FE_N_DIMS) {
    case FE_DIM_ZERO:
      return 0;
    case FE_DIM_ONE:
      return 1;
    case FE_DIM_TWO:
      return 2;
    case FE_DIM_SMALL:
      return 1 + v % 64;
    case FE_DIM_ODD:
      return 1 + 2 * (v % 160);
    case FE_DIM_MEDIUM:
      return 1 + v % 720;
    case FE_DIM_HUGE:
      return huge[v % G_N_ELEMENTS (huge)];
    case FE_DIM_ANY:
      return v;
    default:
      return -1 - (int) (v % 3);
  }
}

static GstCaps *
make_caps (Reader * r, gboolean with_rate)
{
  static const int rates[][2] = { {30, 1}, {0, 1}, {1, 1}, {30000, 1001},
  {G_MAXINT, 1}, {1, G_MAXINT}, {25, 1}, {-1, 1}
  };
  const char *fmt = fe_formats[rd (r) % G_N_ELEMENTS (fe_formats)];
  guint8 ws = rd (r), w0 = rd (r), w1 = rd (r);
  guint8 hs = with_rate ? rd (r) : ws, h0 = with_rate ? rd (r) : w1;
  guint8 h1 = with_rate ? rd (r) : w0;
  int w = fe_dim (ws, w0, w1), h = fe_dim (hs, h0, h1);
  GstCaps *caps = gst_caps_new_simple ("video/x-raw", "format",
      G_TYPE_STRING, fmt, "width", G_TYPE_INT, w, "height", G_TYPE_INT, h,
      NULL);

  if (with_rate) {
    guint8 k = rd (r) % G_N_ELEMENTS (rates);
    gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, rates[k][0],
        rates[k][1], NULL);
  }
  return caps;
}

/* A string for property @pspec from the input. */
static char *
prop_value (Reader * r, GParamSpec * pspec)
{
  static const char *const numbers[] = { "0", "1", "-1", "2", "3", "5",
    "100", "101", "255", "256", "65535", "2147483647", "-2147483648",
    "4294967295", "0.5", "-0.5", "1e-30", "1e30", "nan", "inf", "-inf",
    "0.05", "0.049", "1.0001", "x", "", "0x10", "16777215", "16777216"
  };
  static const char *const bools[] = { "true", "false", "1", "0", "yes",
    "maybe", ""
  };
  static const char *const strings[] = { "", "auto", "cpu", "gpu", "0:0",
    "9:9", "-1:0", "x:y", "person", "0,1,2", "person,dog", "255", "256",
    "-1", ",", "background,nope", "0xff0000", "0x000000,0xffffff", "0xgg",
    "red", "0x", ",,,", "0xffffff,", "dog,dog,dog"
  };
  guint8 kind = rd (r) % 4;
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);

  switch (kind) {
    case 0:
      if (G_TYPE_IS_ENUM (type)) {
        GEnumClass *ec = g_type_class_ref (type);
        guint8 k = rd (r) % (ec->n_values + 2);
        char *v = k < ec->n_values ? g_strdup (ec->values[k].value_nick)
            : g_strdup (k == ec->n_values ? "7" : "bogus");
        g_type_class_unref (ec);
        return v;
      }
      if (type == G_TYPE_BOOLEAN)
        return g_strdup (bools[rd (r) % G_N_ELEMENTS (bools)]);
      if (type == G_TYPE_STRING)
        return g_strdup (strings[rd (r) % G_N_ELEMENTS (strings)]);
      return g_strdup (numbers[rd (r) % G_N_ELEMENTS (numbers)]);
    case 1:{
      /* Raw bytes; no '/': a fuzzed path must not reach a device file. */
      guint8 len = rd (r) % 48;
      char *s = g_malloc0 (len + 1);
      for (guint8 i = 0; i < len; i++) {
        s[i] = (char) rd (r);
        if (s[i] == '/')
          s[i] = '_';
      }
      return s;
    }
    case 2:
      return g_strdup (paths[rd (r) % G_N_ELEMENTS (paths)]);
    default:{
      guint32 v = rd (r) | rd (r) << 8 | rd (r) << 16 | (guint32) rd (r) << 24;
      float f;
      if (v & 1)
        return g_strdup_printf ("%d", (gint32) v);
      memcpy (&f, &v, sizeof (f));
      return g_strdup_printf ("%.9g", f);
    }
  }
}

static guint n_out;             /* buffers out in this input */

static void
drain (GstHarness * h, GstBus * bus)
{
  GstBuffer *b;
  GstEvent *e;
  GstMessage *m;

  while ((b = gst_harness_try_pull (h))) {
    gst_buffer_unref (b);
    n_out++;
  }
  while ((e = gst_harness_try_pull_event (h)))
    gst_event_unref (e);
  while ((e = gst_harness_try_pull_upstream_event (h)))
    gst_event_unref (e);
  while ((m = gst_bus_pop (bus)))
    gst_message_unref (m);
}

/* A buffer for @info (NULL: no caps yet) of size kind @size. */
static GstBuffer *
make_buffer (const GstVideoInfo * info, guint8 size, guint8 fill,
    guint64 pts, gboolean timed)
{
  gsize right = info ? GST_VIDEO_INFO_SIZE (info) : 64, len = right;
  GstVideoInfo padded;
  GstBuffer *buf;
  GstMapInfo map;
  gboolean strided = FALSE;

  switch (size % FE_N_SIZES) {
    case FE_SIZE_ZERO:
      len = 0;
      break;
    case FE_SIZE_SHORT:
      len = right ? right - 1 : 0;
      break;
    case FE_SIZE_HALF:
      len = right / 2;
      break;
    case FE_SIZE_LONG:
      len = right + 1;
      break;
    case FE_SIZE_STRIDED:
      if (info) {
        GstVideoAlignment align;
        padded = *info;
        gst_video_alignment_reset (&align);
        align.padding_right = 1 + fill % 31;
        strided = gst_video_info_align (&padded, &align);
        if (strided)
          len = GST_VIDEO_INFO_SIZE (&padded);
      }
      break;
    default:
      break;
  }
  if (len > PUSH_MAX_BYTES)
    len = 1 + fill % 1024;      /* wrong, and small */
  buf = gst_buffer_new_allocate (NULL, len, NULL);
  if (len && gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
    for (gsize k = 0; k < map.size; k++)
      map.data[k] = (guint8) (fill + k * 7 + (k >> 9) * 13);
    gst_buffer_unmap (buf, &map);
  }
  if (strided && len == GST_VIDEO_INFO_SIZE (&padded))
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (&padded), GST_VIDEO_INFO_WIDTH (&padded),
        GST_VIDEO_INFO_HEIGHT (&padded), GST_VIDEO_INFO_N_PLANES (&padded),
        padded.offset, padded.stride);
  if (timed) {
    GST_BUFFER_PTS (buf) = pts * GST_SECOND / 30;
    GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  }
  return buf;
}

static void
push_event (GstHarness * h, guint8 kind)
{
  GstSegment seg;

  switch (kind % FE_N_EVENTS) {
    case FE_EV_FLUSH:
      gst_harness_push_event (h, gst_event_new_flush_start ());
      gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
      break;
    case FE_EV_SEGMENT:
      gst_segment_init (&seg, GST_FORMAT_TIME);
      gst_harness_push_event (h, gst_event_new_segment (&seg));
      break;
    case FE_EV_EOS:
      gst_harness_push_event (h, gst_event_new_eos ());
      break;
    case FE_EV_STREAM_START:
      gst_harness_push_event (h, gst_event_new_stream_start ("fuzz"));
      break;
    case FE_EV_GAP:
      gst_harness_push_event (h, gst_event_new_gap (0, GST_SECOND / 30));
      break;
    case FE_EV_FLUSH_START:
      gst_harness_push_event (h, gst_event_new_flush_start ());
      break;
    default:
      gst_segment_init (&seg, GST_FORMAT_BYTES);
      gst_harness_push_event (h, gst_event_new_segment (&seg));
      break;
  }
}

static void
query_caps (GstHarness * h, GstCaps * filter)
{
  GstQuery *q = gst_query_new_caps (filter);
  gboolean accept = FALSE;

  gst_pad_peer_query (h->srcpad, q);    /* the element's sink pad */
  gst_query_unref (q);
  q = gst_query_new_caps (filter);
  gst_pad_peer_query (h->sinkpad, q);   /* its src pad */
  gst_query_unref (q);
  if (gst_caps_is_fixed (filter)) {
    q = gst_query_new_accept_caps (filter);
    if (gst_pad_peer_query (h->srcpad, q))
      gst_query_parse_accept_caps_result (q, &accept);
    gst_query_unref (q);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  Reader r = { data, size, 0 };
  GstHarness *h = gst_harness_new ("deeplabseg");
  GstBus *bus = gst_bus_new ();
  GstVideoInfo info;
  guint64 pts = 0;

  n_out = 0;
  gst_element_set_bus (h->element, bus);
  gst_harness_push_event (h, gst_event_new_stream_start ("fuzz"));
  for (int op = 0; op < MAX_OPS && r.i < r.n; op++) {
    switch (rd (&r) % FE_N_OPS) {
      case FE_CAPS:{
        GstCaps *caps = make_caps (&r, TRUE);
        GstSegment seg;
        /* As gst_harness_set_src_caps() (which asserts on refused caps):
         * caps, then a TIME segment, so that buffers may flow. */
        gst_harness_push_event (h, gst_event_new_caps (caps));
        gst_segment_init (&seg, GST_FORMAT_TIME);
        gst_harness_push_event (h, gst_event_new_segment (&seg));
        gst_caps_unref (caps);
        break;
      }
      case FE_PROP:{
        const char *name = prop_names->pdata[rd (&r) % prop_names->len];
        GParamSpec *pspec = g_object_class_find_property
            (G_OBJECT_GET_CLASS (h->element), name);
        char *value = prop_value (&r, pspec);
        GValue back = G_VALUE_INIT;
        gst_util_set_object_arg (G_OBJECT (h->element), name, value);
        /* and read back (get_property) */
        g_value_init (&back, G_PARAM_SPEC_VALUE_TYPE (pspec));
        g_object_get_property (G_OBJECT (h->element), name, &back);
        g_value_unset (&back);
        g_free (value);
        break;
      }
      case FE_PUSH:{
        guint8 n = 1 + rd (&r) % 4, sz = rd (&r), flags = rd (&r);
        guint8 fill = rd (&r);
        /* Sized for the caps the element holds, and only when they are
         * the last ones pushed (the harness pad's sticky caps): caps the
         * element missed while flushing go out again before the buffer,
         * and refused ones may or may not, so with two different caps
         * the buffer gets no video meta. A meta that contradicts the caps
         * in force would be a bug of this producer, not of the element. */
        GstPad *sink = gst_pad_get_peer (h->srcpad);
        GstCaps *held = sink ? gst_pad_get_current_caps (sink) : NULL;
        GstCaps *last = gst_pad_get_current_caps (h->srcpad);
        gboolean have_info = held && last && gst_caps_is_equal (held, last)
            && gst_video_info_from_caps (&info, held);
        if (held)
          gst_caps_unref (held);
        if (last)
          gst_caps_unref (last);
        if (sink)
          gst_object_unref (sink);
        for (guint8 k = 0; k < n; k++) {
          GstBuffer *buf = make_buffer (have_info ? &info : NULL, sz,
              fill + k, pts++, !(flags & 2));
          if (flags & 1)
            GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
          gst_harness_push (h, buf);
          drain (h, bus);
        }
        break;
      }
      case FE_EVENT:
        push_event (h, rd (&r));
        break;
      case FE_STATE:{
        static const GstState states[] = { GST_STATE_NULL, GST_STATE_READY,
          GST_STATE_PAUSED, GST_STATE_PLAYING
        };
        gst_element_set_state (h->element, states[rd (&r) % 4]);
        break;
      }
      default:{
        GstCaps *filter = make_caps (&r, FALSE);
        query_caps (h, filter);
        gst_caps_unref (filter);
        break;
      }
    }
    drain (h, bus);
  }
  /* DLS_FUZZ_ELEMENT_STATS: what came out (to check inputs reach the
   * frame path). */
  if (g_getenv ("DLS_FUZZ_ELEMENT_STATS"))
    fprintf (stderr, "fuzz_element: %zu bytes, %u buffers out\n", size,
        n_out);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  return 0;
}

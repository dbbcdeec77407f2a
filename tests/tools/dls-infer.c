/* dls-infer: run the deeplabseg engine's network on raw tensors.
 *
 *   dls-infer --model M [--backend opencl|ref] [--device D]
 *             --input in.f32 --logits out.f32 [--input ... --logits ...]
 *   dls-infer --model M --repeat N [--warmup W] [--input in.f32]
 *             [--no-readback] [--no-upload]
 *   dls-infer --model M --repeat N --frame WxH
 *   dls-infer --model M --info
 *
 * Input files are dense float32 NHWC of the model's input shape (already
 * normalised); logits are written as dense float32 NHWC (H x W x classes).
 * --input/--logits may repeat (paired in order) so one process, with one
 * model load and one kernel build, serves many tensors.
 * --repeat N: W warm-up runs (--warmup, default 1), then N timed runs of
 * the network (with the logits read back); prints {"median_ms":..,"min_ms":..,"runs":N,
 * "start_ms":..,"first_ms":..}: start is the engine's creation (model load,
 * kernel build, weight repacking), first the first warm-up run.
 * --no-readback:
 * the timed runs leave the logits on the device (upload and graph only).
 * --no-upload: the warm-up run uploads the input, the timed runs find it
 * in place (the graph alone, as LiteRT's invoke() and as in the element,
 * whose input the preprocess kernel writes on the device).
 * --frame WxH: the timed runs are whole frames instead (an RGBx WxH frame
 * through dls_engine_process(): upload, preprocess, network,
 * upsample_argmax, class map read back), as in the element; with
 * DLS_PROFILE=1 the engine prints each stage's time at exit.
 * --info: prints {"input_width":..,"input_height":..,"classes":..,
 * "device":"..","macs":..,"backend":".."}.
 * Every output goes to stdout as one JSON line; errors go to stderr.
 * Exit status: 0 success, 1 failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model/model.h"

#define N_INPUT_CHANNELS 3

static char *opt_model;
static char *opt_backend;
static char *opt_device;
static char **opt_inputs;
static char **opt_logits;
static int opt_repeat, opt_warmup = 1;
static gboolean opt_info;
static gboolean opt_no_readback;
static gboolean opt_no_upload;
static char *opt_frame;

static GOptionEntry entries[] = {
  {"model", 'm', 0, G_OPTION_ARG_FILENAME, &opt_model,
      "Model file (.tflite)", "M"},
  {"backend", 'b', 0, G_OPTION_ARG_STRING, &opt_backend,
      "Backend: opencl (default) or ref", "B"},
  {"device", 'd', 0, G_OPTION_ARG_STRING, &opt_device,
      "OpenCL device: auto, gpu, cpu or P:D", "D"},
  {"input", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_inputs,
      "Raw float32 NHWC input tensor (repeatable)", "FILE"},
  {"logits", 'o', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_logits,
      "Raw float32 NHWC logits to write (one per --input)", "FILE"},
  {"repeat", 'r', 0, G_OPTION_ARG_INT, &opt_repeat,
      "Time N runs after the warm-up; print median/min ms", "N"},
  {"warmup", 'w', 0, G_OPTION_ARG_INT, &opt_warmup,
      "With --repeat: W untimed runs before (default 1)", "W"},
  {"no-readback", 0, 0, G_OPTION_ARG_NONE, &opt_no_readback,
      "With --repeat: do not read the logits back in the timed runs", NULL},
  {"no-upload", 0, 0, G_OPTION_ARG_NONE, &opt_no_upload,
      "With --repeat: the input uploaded once, not in the timed runs",
      NULL},
  {"frame", 0, 0, G_OPTION_ARG_STRING, &opt_frame,
      "With --repeat: time whole RGBx frames of this size", "WxH"},
  {"info", 0, 0, G_OPTION_ARG_NONE, &opt_info,
      "Print input size, classes, device and MACs", NULL},
  {NULL}
};

/* Prints @s as a JSON string literal. */
static void
print_json_string (const char *s)
{
  putchar ('"');
  for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\')
      printf ("\\%c", *p);
    else if (*p < 0x20)
      printf ("\\u%04x", *p);
    else
      putchar (*p);
  }
  putchar ('"');
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static gboolean
read_tensor (const char *path, float *data, gsize n_floats, GError ** error)
{
  gchar *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, error))
    return FALSE;
  if (len != n_floats * sizeof (float)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "%s: %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT
        " (float32 NHWC of the model input)", path, len,
        n_floats * sizeof (float));
    g_free (contents);
    return FALSE;
  }
  memcpy (data, contents, len);
  g_free (contents);
  return TRUE;
}

static gboolean
print_info (DlsEngine * e, GError ** error)
{
  int w = 0, h = 0;
  DlsGraph *g;
  guint64 macs;

  /* The engine does not expose its graph: read the model once more. */
  g = dls_model_load (opt_model, error);
  if (!g)
    return FALSE;
  macs = dls_graph_macs (g);
  dls_graph_free (g);

  dls_engine_input_size (e, &w, &h);
  printf ("{\"input_width\":%d,\"input_height\":%d,\"input_channels\":%d,"
      "\"classes\":%d,\"backend\":", w, h, N_INPUT_CHANNELS,
      dls_engine_n_classes (e));
  print_json_string (opt_backend ? opt_backend : "opencl");
  printf (",\"device\":");
  print_json_string (dls_engine_device_name (e));
  printf (",\"macs\":%" G_GUINT64_FORMAT "}\n", macs);
  return TRUE;
}

static gboolean
run_files (DlsEngine * e, float *input, gsize n_in, float *logits,
    gsize n_out, guint n_files, GError ** error)
{
  for (guint i = 0; i < n_files; i++) {
    if (!read_tensor (opt_inputs[i], input, n_in, error))
      return FALSE;
    if (!dls_engine_run_tensor (e, input, logits, error))
      return FALSE;
    if (!g_file_set_contents (opt_logits[i], (const gchar *) logits,
            n_out * sizeof (float), error))
      return FALSE;
  }
  return TRUE;
}

/* With --frame: one frame through the engine, its class map read back. */
typedef struct
{
  DlsImage img;
  guint8 *pixels, *map;
} Frame;

static gboolean
frame_init (DlsEngine * e, Frame * f, GError ** error)
{
  int w = 0, h = 0;

  if (sscanf (opt_frame, "%dx%d", &w, &h) != 2 || w < 1 || h < 1) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--frame '%s': expected WxH", opt_frame);
    return FALSE;
  }
  f->pixels = g_malloc ((gsize) w * h * 4);
  f->map = g_malloc ((gsize) w * h);
  /* a smooth pattern, so the network sees edges and regions */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p = f->pixels + ((gsize) y * w + x) * 4;
      p[0] = (guint8) (x * 255 / w);
      p[1] = (guint8) (y * 255 / h);
      p[2] = (guint8) ((x + y) & 0xff);
      p[3] = 255;
    }
  memset (&f->img, 0, sizeof (f->img));
  f->img.format = DLS_PIXEL_RGBX;
  f->img.width = w;
  f->img.height = h;
  f->img.planes[0] = f->pixels;
  f->img.strides[0] = w * 4;
  return dls_engine_set_frame (e, DLS_PIXEL_RGBX, w, h, error);
}

static gboolean
run_once (DlsEngine * e, const Frame * f, const float *input, float *logits,
    GError ** error)
{
  if (opt_frame)
    return dls_engine_process (e, &f->img, f->map, f->img.width, error);
  return dls_engine_run_tensor (e, input, logits, error);
}

static gboolean
run_repeat (DlsEngine * e, float *input, float *logits, gsize n_in,
    double start_ms, GError ** error)
{
  double *ms = g_new (double, opt_repeat);
  Frame frame = { 0 };
  double first_ms = 0.0;
  gint64 t_first;
  gboolean ok = FALSE;

  /* Without --input: a fixed pseudo-random tensor in [-1, 1]. */
  if (!opt_inputs || !opt_inputs[0]) {
    guint32 s = 12345;
    for (gsize k = 0; k < n_in; k++) {
      s = s * 1664525u + 1013904223u;
      input[k] = (float) (s >> 8) / (float) (1u << 23) - 1.0f;
    }
  } else if (!read_tensor (opt_inputs[0], input, n_in, error)) {
    goto out;
  }

  if (opt_frame && !frame_init (e, &frame, error))
    goto out;
  t_first = g_get_monotonic_time ();
  for (int r = 0; r < opt_warmup; r++) {
    if (!run_once (e, &frame, input, logits, error))
      goto out;
    if (r == 0)
      first_ms = (g_get_monotonic_time () - t_first) / 1000.0;
  }
  for (int r = 0; r < opt_repeat; r++) {
    gint64 t0 = g_get_monotonic_time ();
    if (!run_once (e, &frame, opt_no_upload ? NULL : input,
            opt_no_readback ? NULL : logits, error))
      goto out;
    ms[r] = (g_get_monotonic_time () - t0) / 1000.0;
  }
  qsort (ms, opt_repeat, sizeof (double), compare_double);
  printf ("{\"median_ms\":%.3f,\"min_ms\":%.3f,\"runs\":%d,"
      "\"start_ms\":%.3f,\"first_ms\":%.3f}\n",
      opt_repeat % 2 ? ms[opt_repeat / 2]
      : 0.5 * (ms[opt_repeat / 2 - 1] + ms[opt_repeat / 2]),
      ms[0], opt_repeat, start_ms, first_ms);
  ok = TRUE;
out:
  g_free (ms);
  g_free (frame.pixels);
  g_free (frame.map);
  return ok;
}

int
main (int argc, char **argv)
{
  GOptionContext *ctx;
  GError *error = NULL;
  DlsEngineOptions opts;
  DlsEngine *e = NULL;
  float *input = NULL, *logits = NULL;
  guint n_inputs, n_logits;
  gint64 t_start;
  double start_ms;
  int status = 1;

  ctx = g_option_context_new ("- run the deeplabseg network on raw tensors");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "Tensors are raw float32 NHWC: the input of the model's input shape\n"
      "(already normalised, e.g. x/127.5 - 1), the logits H x W x classes.\n"
      "Output: one JSON line on stdout for --info and --repeat.\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto out;

  n_inputs = opt_inputs ? g_strv_length (opt_inputs) : 0;
  n_logits = opt_logits ? g_strv_length (opt_logits) : 0;
  if (!opt_model) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
        "--model is required (see --help)");
    goto out;
  }
  if (argc > 1) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
        "unexpected argument '%s'", argv[1]);
    goto out;
  }
  if (opt_repeat < 0) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--repeat must be >= 1");
    goto out;
  }
  if (opt_warmup < 1) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--warmup must be >= 1");
    goto out;
  }
  if (n_inputs != n_logits && !(opt_repeat > 0 && n_inputs == 1
          && n_logits == 0)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
        "give one --logits for each --input (%u inputs, %u logits)",
        n_inputs, n_logits);
    goto out;
  }
  if (!opt_info && n_logits == 0 && opt_repeat == 0) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
        "nothing to do: give --input and --logits, --repeat or --info");
    goto out;
  }

  dls_engine_options_init (&opts);
  if (!opt_backend || g_str_equal (opt_backend, "opencl")) {
    opts.backend = DLS_BACKEND_OPENCL;
  } else if (g_str_equal (opt_backend, "ref")) {
    opts.backend = DLS_BACKEND_REF;
  } else {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "unknown --backend '%s' (opencl or ref)", opt_backend);
    goto out;
  }
  opts.device = opt_device;

  t_start = g_get_monotonic_time ();
  e = dls_engine_new (opt_model, &opts, &error);
  if (!e)
    goto out;
  start_ms = (g_get_monotonic_time () - t_start) / 1000.0;

  if (opt_info && !print_info (e, &error))
    goto out;

  if (n_logits > 0 || opt_repeat > 0) {
    int w = 0, h = 0;
    gsize n_in, n_out;

    dls_engine_input_size (e, &w, &h);
    n_in = (gsize) w * h * N_INPUT_CHANNELS;
    n_out = (gsize) w * h * dls_engine_n_classes (e);
    input = g_new (float, n_in);
    logits = g_new (float, n_out);
    if (n_logits > 0
        && !run_files (e, input, n_in, logits, n_out, n_logits, &error))
      goto out;
    if (opt_repeat > 0 && !run_repeat (e, input, logits, n_in, start_ms,
                &error))
      goto out;
  }
  status = 0;

out:
  if (error) {
    fprintf (stderr, "dls-infer: %s\n", error->message);
    g_clear_error (&error);
  }
  fflush (stdout);
  g_free (input);
  g_free (logits);
  if (e)
    dls_engine_free (e);
  g_option_context_free (ctx);
  g_free (opt_model);
  g_free (opt_backend);
  g_free (opt_device);
  g_free (opt_frame);
  g_strfreev (opt_inputs);
  g_strfreev (opt_logits);
  return status;
}

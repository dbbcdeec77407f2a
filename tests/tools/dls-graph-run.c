/* dls-graph-run: run a model's graph on one backend, without the engine.
 *
 *   dls-graph-run --model M [--backend ref|opencl] [--device D] --info
 *   dls-graph-run --model M [--backend ref|opencl] [--device D]
 *                 --input in0.f32 [--input in1.f32 ...]
 *                 --output out0.f32 [--output ...]
 *
 * For tests of the readers and ops on graphs that are not segmentation
 * networks (the ONNX node conformance tests: any number of inputs and
 * outputs, any channel count). Tensors are dense float32 in the IR's
 * layout, {1,H,W,C} NHWC, one file per graph input / output in order.
 * --info prints one JSON line: {"inputs":[{"name":..,"dims":[1,H,W,C]}],
 * "outputs":[...]} (after the backend prepared the graph, so an op the
 * backend cannot run fails here).
 * Exit status: 0 success; 1 failure, with the message on stderr; 3 when
 * the model is refused as unsupported (DLS_ERROR_UNSUPPORTED).
 */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/opencl.h"
#include "model/model.h"

static char *opt_model, *opt_backend, *opt_device;
static char **opt_inputs, **opt_outputs;
static gboolean opt_info;

static GOptionEntry entries[] = {
  {"model", 'm', 0, G_OPTION_ARG_FILENAME, &opt_model, "Model file", "M"},
  {"backend", 'b', 0, G_OPTION_ARG_STRING, &opt_backend,
      "Backend: ref (default) or opencl", "B"},
  {"device", 'd', 0, G_OPTION_ARG_STRING, &opt_device,
      "OpenCL device: auto, gpu, cpu or P:D", "D"},
  {"input", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_inputs,
      "Raw float32 NHWC tensor for each graph input, in order", "FILE"},
  {"output", 'o', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_outputs,
      "File for each graph output, in order", "FILE"},
  {"info", 0, 0, G_OPTION_ARG_NONE, &opt_info,
      "Print the graph's inputs and outputs", NULL},
  {NULL}
};

static void
print_tensors (const DlsGraph * g, GArray * ids)
{
  for (guint k = 0; k < ids->len; k++) {
    const DlsTensor *t = dls_graph_tensor (g, g_array_index (ids, int, k));
    const char *s = t->name;

    printf ("%s{\"name\":\"", k ? "," : "");
    for (; *s; s++)
      printf (*s == '"' || *s == '\\' ? "\\%c" : (guchar) * s < 0x20 ?
          "?" : "%c", *s);
    printf ("\",\"dims\":[%d,%d,%d,%d]}", t->dims[0], t->dims[1],
        t->dims[2], t->dims[3]);
  }
}

static gboolean
run (DlsBackend * be, const DlsGraph * g, GError ** error)
{
  guint n_in = opt_inputs ? g_strv_length (opt_inputs) : 0;
  guint n_out = opt_outputs ? g_strv_length (opt_outputs) : 0;

  if (n_in != g->inputs->len || n_out != g->outputs->len) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT, "the graph "
        "has %u inputs and %u outputs, got %u --input and %u --output",
        g->inputs->len, g->outputs->len, n_in, n_out);
    return FALSE;
  }
  for (guint k = 0; k < n_in; k++) {
    const DlsTensor *t = dls_graph_tensor (g, dls_graph_input (g, k));
    gsize want = dls_tensor_n_elements (t) * sizeof (float);
    gchar *data = NULL;
    gsize len = 0;
    gboolean ok;

    if (!g_file_get_contents (opt_inputs[k], &data, &len, error))
      return FALSE;
    if (len != want) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT, "%s: %"
          G_GSIZE_FORMAT " bytes, input '%s' needs %" G_GSIZE_FORMAT,
          opt_inputs[k], len, t->name, want);
      g_free (data);
      return FALSE;
    }
    ok = dls_backend_set_input (be, (int) k, (const float *) data, error);
    g_free (data);
    if (!ok)
      return FALSE;
  }
  if (!dls_backend_run (be, error))
    return FALSE;
  for (guint k = 0; k < n_out; k++) {
    const DlsTensor *t = dls_graph_tensor (g, dls_graph_output (g, k));
    gsize n = dls_tensor_n_elements (t);
    float *out = g_new (float, n);
    gboolean ok = dls_backend_get_output (be, (int) k, out, error)
        && g_file_set_contents (opt_outputs[k], (const gchar *) out,
        n * sizeof (float), error);

    g_free (out);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  GOptionContext *ctx = g_option_context_new ("- run a model's graph");
  GError *error = NULL;
  DlsGraph *g = NULL;
  DlsCl *cl = NULL;
  DlsBackend *be = NULL;
  int status = 1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto out;
  if (!opt_model) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
        "--model is required (see --help)");
    goto out;
  }
  if (!(g = dls_model_load (opt_model, &error)))
    goto out;
  if (!opt_backend || g_str_equal (opt_backend, "ref")) {
    be = dls_backend_ref_new ();
  } else if (g_str_equal (opt_backend, "opencl")) {
    if (!(cl = dls_cl_acquire (opt_device, &error))
        || !(be = dls_backend_opencl_new (cl, &error)))
      goto out;
  } else {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "unknown --backend '%s' (ref or opencl)", opt_backend);
    goto out;
  }
  if (!dls_backend_prepare (be, g, &error))
    goto out;
  if (opt_info) {
    printf ("{\"inputs\":[");
    print_tensors (g, g->inputs);
    printf ("],\"outputs\":[");
    print_tensors (g, g->outputs);
    printf ("]}\n");
  }
  if ((opt_inputs || opt_outputs || !opt_info) && !run (be, g, &error))
    goto out;
  status = 0;

out:
  if (error) {
    if (error->domain == DLS_ERROR && error->code == DLS_ERROR_UNSUPPORTED)
      status = 3;
    fprintf (stderr, "dls-graph-run: %s\n", error->message);
    g_clear_error (&error);
  }
  fflush (stdout);
  dls_backend_free (be);
  if (cl)
    dls_cl_release (cl);
  dls_graph_free (g);
  g_option_context_free (ctx);
  g_free (opt_model);
  g_free (opt_backend);
  g_free (opt_device);
  g_strfreev (opt_inputs);
  g_strfreev (opt_outputs);
  return status;
}

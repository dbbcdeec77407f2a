/* deeplabseg fuzzing: a libFuzzer target for a model reader.
 *
 * Built with clang (-fsanitize=fuzzer,address,undefined) by
 * tests/fuzz/meson.build, outside the gcc build: DLS_FUZZ_PARSE names the
 * reader under test (dls_tflite_parse by default; one target per reader).
 *
 * Each input is parsed from a private heap copy of exactly its size, so a
 * read past the end is a heap overflow ASan reports. The contract checked:
 * - a reader returns a finalized graph, or NULL with a DLS_ERROR whose
 *   message is non-empty UTF-8 (a crash, a sanitizer report, an abort from
 *   g_malloc on an absurd size, or a broken contract is a finding);
 * - a graph that passes dls_graph_finalize() is safe for a backend: when it
 *   is small enough to be cheap, the C reference backend (gst/backend/ref.c)
 *   prepares and runs it and must not fail or read out of bounds.
 */
#include "model/model.h"
#include "backend/backend.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DLS_FUZZ_PARSE
#define DLS_FUZZ_PARSE dls_tflite_parse
#endif

/* Above these a run would take more than about a millisecond. */
#define RUN_MAX_MACS (1u << 20)
#define RUN_MAX_ELEMENTS (1u << 18)

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static void
finding (const char *what, const GError * err)
{
  fprintf (stderr, "fuzz_model: %s%s%s\n", what, err ? ": " : "",
      err ? err->message : "");
  abort ();
}

/* Runs @g on the reference backend when that is cheap. Inputs are a ramp
 * (any values do: weights from a file may be NaN or huge). */
static void
run_reference (const DlsGraph * g)
{
  gsize n_elements = 0;
  DlsBackend *be;
  GError *err = NULL;

  if (dls_graph_macs (g) > RUN_MAX_MACS)
    return;
  for (guint t = 0; t < g->tensors->len; t++) {
    const DlsTensor *tensor = dls_graph_tensor (g, t);
    if (tensor->kind == DLS_TENSOR_ACTIVATION)
      n_elements += dls_tensor_n_elements (tensor);
    if (n_elements > RUN_MAX_ELEMENTS)
      return;
  }

  be = dls_backend_ref_new ();
  if (!dls_backend_prepare (be, g, &err))
    finding ("the reference backend refused a finalized graph", err);
  for (guint i = 0; i < g->inputs->len; i++) {
    const DlsTensor *in = dls_graph_tensor (g, dls_graph_input (g, i));
    gsize n = dls_tensor_n_elements (in);
    float *buf = g_new (float, MAX (n, 1));

    for (gsize k = 0; k < n; k++)
      buf[k] = (float) (k % 17) - 8.0f;
    if (!dls_backend_set_input (be, i, buf, &err))
      finding ("set_input failed", err);
    g_free (buf);
  }
  if (!dls_backend_run (be, &err))
    finding ("the reference backend failed to run a finalized graph", err);
  for (guint i = 0; i < g->outputs->len; i++) {
    const DlsTensor *out = dls_graph_tensor (g, dls_graph_output (g, i));
    float *buf = g_new (float, MAX (dls_tensor_n_elements (out), 1));

    if (!dls_backend_get_output (be, i, buf, &err))
      finding ("get_output failed", err);
    g_free (buf);
  }
  dls_backend_free (be);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  guint8 *copy = g_malloc (MAX (size, 1));
  GError *err = NULL;
  DlsGraph *g;

  memcpy (copy, data, size);
  g = DLS_FUZZ_PARSE (size ? copy : NULL, size, &err);
  g_free (copy);

  if (!g) {
    if (!err || err->domain != DLS_ERROR || !err->message
        || !err->message[0] || !g_utf8_validate (err->message, -1, NULL))
      finding ("NULL without a readable DLS_ERROR", err);
    g_error_free (err);
    return 0;
  }
  if (err)
    finding ("a graph and an error", err);
  if (!g->finalized || dls_graph_n_nodes (g) == 0 || g->inputs->len == 0
      || g->outputs->len == 0)
    finding ("a graph that is not finalized or is empty", NULL);
  run_reference (g);
  dls_graph_free (g);
  return 0;
}

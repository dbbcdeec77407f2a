/* deeplabseg tests: the model readers (gst/model/).
 *
 * Cases that need no data run first: a small TFLite model built here with
 * a minimal FlatBuffer writer (options, defaults, external buffers,
 * unsupported operators, activations and types), missing and empty files,
 * random bytes and mutated copies of the small model. Then, with
 * ../shared: the real DeepLab model (structure and options checked
 * against what LiteRT reports), truncations and mutations of it, and the
 * quantized models. Hostile input must give a DLS_ERROR, never a crash;
 * run under valgrind or ASan to also catch silent out-of-bounds reads
 * (every parse gets a buffer of exactly the file's size).
 *
 * One line per case; exit 0 pass, 1 fail, 77 skip (data missing).
 */
#include "model/model.h"
#include "testutil.h"
#include "tflite_builder.h"

#include <glib/gstdio.h>
#include <string.h>

static int n_failed;

static void
report (gboolean ok, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static void
report (gboolean ok, const char *name, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  printf ("%s %s: %s\n", ok ? "ok  " : "FAIL", name, msg);
  fflush (stdout);
  g_free (msg);
  if (!ok)
    n_failed++;
}


/* Parses a private copy of exactly @size bytes so that a read past the end
 * is a heap overflow the sanitizers see. */
static DlsGraph *
parse_exact (const guint8 * data, gsize size, GError ** error)
{
  guint8 *copy = g_malloc (MAX (size, 1));
  DlsGraph *g;

  memcpy (copy, data, size);
  g = dls_tflite_parse (size ? copy : NULL, size, error);
  g_free (copy);
  return g;
}

static int
count_op (const DlsGraph * g, DlsOpType op)
{
  int n = 0;
  for (int i = 0; i < dls_graph_n_nodes (g); i++)
    n += dls_graph_node (g, i)->op == op;
  return n;
}

static gboolean
dims_equal (const DlsTensor * t, int n, const int *dims)
{
  if (t->n_dims != n)
    return FALSE;
  for (int i = 0; i < n; i++)
    if (t->dims[i] != dims[i])
      return FALSE;
  return TRUE;
}

/* An error must be ours, carry a readable message and have @code
 * (-1: any). */
static gboolean
error_ok (const GError * err, int code)
{
  return err && err->domain == DLS_ERROR && (code < 0 || err->code == code)
      && err->message && err->message[0]
      && g_utf8_validate (err->message, -1, NULL);
}

static const char *
error_message (const GError * err)
{
  return err ? err->message : "(no error)";
}

static char *
tmp_file (const char *name, const void *data, gsize size)
{
  char *path = g_build_filename (g_get_tmp_dir (), name, NULL);
  GError *err = NULL;

  if (!g_file_set_contents (path, data, size, &err)) {
    report (FALSE, "tmp-file", "cannot write %s: %s", path, err->message);
    g_error_free (err);
  }
  return path;
}

/* ------------------------------------------------------------------------
 * Cases without data.
 */

static void
test_tiny_valid (void)
{
  GByteArray *b = tiny_build (&tiny_default);
  GError *err = NULL;
  DlsGraph *g = parse_exact (b->data, b->len, &err);
  static const int in_dims[] = { 1, 8, 8, 4 }, out_dims[] = { 1, 5, 7, 12 };
  gboolean ok;

  ok = g != NULL;
  if (ok) {
    const DlsNode *conv = dls_graph_node (g, 0), *dw = dls_graph_node (g, 1),
        *add = dls_graph_node (g, 2), *cat = dls_graph_node (g, 3),
        *pool = dls_graph_node (g, 4), *rs = dls_graph_node (g, 5);
    const DlsTensor *w = dls_graph_tensor (g, conv->inputs[1]);
    gboolean weights_ok = w->kind == DLS_TENSOR_CONSTANT
        && w->n_bytes == CONV_W_N * 4;

    for (int i = 0; weights_ok && i < CONV_W_N; i++)
      weights_ok = ((const float *) w->data)[i] == tiny_weight (i);
    ok = g->finalized && dls_graph_n_nodes (g) == 6
        && g->inputs->len == 1 && g->outputs->len == 1
        && dims_equal (dls_graph_tensor (g, dls_graph_input (g, 0)), 4, in_dims)
        && dims_equal (dls_graph_tensor (g, dls_graph_output (g, 0)), 4,
        out_dims)
        /* only used tensors: the resize size vector stays out */
        && g->tensors->len == T_COUNT - 1
        && conv->op == DLS_OP_CONV2D && conv->n_inputs == 3
        && conv->p.win.stride_h == 2 && conv->p.win.stride_w == 2
        && conv->p.win.dilation_h == 1 && conv->p.win.padding ==
        DLS_PADDING_SAME && conv->act_min == 0.0f && conv->act_max == 6.0f
        && conv->p.win.kernel_h == 3 && weights_ok
        && dw->op == DLS_OP_DEPTHWISE_CONV2D && dw->n_inputs == 3
        && ((const float *) dls_graph_tensor (g, dw->inputs[2])->data)[5]
        == -1.25f
        && dw->p.win.dilation_h == 2 && dw->p.win.dilation_w == 3
        && dw->p.win.depth_multiplier == 1 && dw->act_min == 0.0f
        && isinf (dw->act_max)
        && add->op == DLS_OP_ADD && add->act_min == -1.0f
        && add->act_max == 1.0f
        && cat->op == DLS_OP_CONCAT && cat->p.concat.axis == 3
        && isinf (cat->act_min) && cat->act_min < 0
        && pool->op == DLS_OP_AVERAGE_POOL2D && pool->p.win.kernel_h == 4
        && pool->p.win.kernel_w == 2 && pool->p.win.stride_h == 4
        && pool->p.win.stride_w == 2
        && pool->p.win.padding == DLS_PADDING_VALID
        && rs->op == DLS_OP_RESIZE_BILINEAR && rs->n_inputs == 1
        && rs->p.resize.out_h == 5 && rs->p.resize.out_w == 7
        && rs->p.resize.coord == DLS_RESIZE_ALIGN_CORNERS;
  }
  report (ok, "tiny-valid", "%u-byte model built in code: %s", b->len,
      g ? (ok ? "6 nodes, options, defaults and weights as written"
          : "loaded with wrong contents") : error_message (err));
  dls_graph_free (g);
  g_clear_error (&err);
  g_byte_array_unref (b);
}

static void
test_tiny_variants (void)
{
  struct
  {
    const char *name;
    TinySpec spec;
  } cases[] = {
    {"dw-defaults", tiny_default},
    {"resize-half-pixel", tiny_default},
    {"resize-asymmetric", tiny_default},
    {"concat-axis-3", tiny_default},
    {"external-buffer", tiny_default},
    {"dw-no-bias", tiny_default},
    {"dw-bias-minus-1", tiny_default},
  };
  GError *err = NULL;

  cases[0].spec.dw_no_dilation = TRUE;
  cases[0].spec.dw_no_multiplier = TRUE;
  cases[1].spec.resize_align = FALSE;
  cases[1].spec.resize_half_pixel = TRUE;
  cases[2].spec.resize_align = FALSE;
  cases[3].spec.concat_axis = 3;
  cases[4].spec.external = TRUE;
  cases[5].spec.dw_bias = 1;
  cases[6].spec.dw_bias = 2;

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    GByteArray *b = tiny_build (&cases[c].spec);
    DlsGraph *g = parse_exact (b->data, b->len, &err);
    gboolean ok = g != NULL;
    char *name = g_strdup_printf ("tiny-%s", cases[c].name);

    if (g) {
      const DlsNode *dw = dls_graph_node (g, 1), *cat = dls_graph_node (g, 3),
          *rs = dls_graph_node (g, 5);
      const DlsTensor *w = dls_graph_tensor (g, dls_graph_node (g,
              0)->inputs[1]);
      switch (c) {
        case 0:
          ok = dw->p.win.dilation_h == 1 && dw->p.win.dilation_w == 1
              && dw->p.win.depth_multiplier == 1;
          break;
        case 1:
          ok = rs->p.resize.coord == DLS_RESIZE_HALF_PIXEL;
          break;
        case 2:
          ok = rs->p.resize.coord == DLS_RESIZE_ASYMMETRIC;
          break;
        case 3:
          ok = cat->p.concat.axis == 3;
          break;
        case 4:
          ok = w->n_bytes == CONV_W_N * 4
              && ((const float *) w->data)[CONV_W_N - 1] ==
              tiny_weight (CONV_W_N - 1);
          break;
        case 5:
          ok = dw->n_inputs == 2;
          break;
        case 6:
          ok = dw->n_inputs == 3 && dw->inputs[2] == -1;
          break;
      }
    }
    report (ok, name, "%s", g ? (ok ? "loaded as expected" :
            "loaded with wrong parameters") : error_message (err));
    g_free (name);
    dls_graph_free (g);
    g_clear_error (&err);
    g_byte_array_unref (b);
  }
}

/* Variants that must fail with @code and a message containing @needle. */
static void
test_tiny_errors (void)
{
  struct
  {
    const char *name;
    int code;
    const char *needle;
    TinySpec spec;
  } cases[] = {
    {"unsupported-op", DLS_ERROR_UNSUPPORTED,
        "unsupported operator RESHAPE (builtin code 22) at operator 2",
        tiny_default},
    {"unsupported-op-high-code", DLS_ERROR_UNSUPPORTED, "GELU (builtin code "
          "150)", tiny_default},
    {"unsupported-op-argmax", DLS_ERROR_UNSUPPORTED, "ARG_MAX", tiny_default},
    {"unknown-op-code", DLS_ERROR_UNSUPPORTED, "unknown builtin code 4000",
        tiny_default},
    {"custom-op", DLS_ERROR_UNSUPPORTED, "custom operator 'MyOp'",
        tiny_default},
    {"activation-tanh", DLS_ERROR_UNSUPPORTED, "TANH", tiny_default},
    {"activation-unknown", DLS_ERROR_UNSUPPORTED, "activation 77",
        tiny_default},
    {"resize-both-flags", DLS_ERROR_UNSUPPORTED, "half_pixel_centers",
        tiny_default},
    {"quantized-input", DLS_ERROR_UNSUPPORTED,
        "tensor 'input' has type INT8: quantized", tiny_default},
    {"float16-input", DLS_ERROR_UNSUPPORTED, "FLOAT16", tiny_default},
    {"external-outside", DLS_ERROR_CORRUPT, "outside", tiny_default},
    {"schema-version", DLS_ERROR_UNSUPPORTED, "version 2", tiny_default},
    {"concat-axis", DLS_ERROR_INVALID_GRAPH, "axis 9", tiny_default},
    {"shared-buffer-bomb", DLS_ERROR_UNSUPPORTED, "times the file size",
        tiny_default},
  };
  GError *err = NULL;

  cases[0].spec.bad_op = 2;
  cases[0].spec.bad_code = 22;
  cases[1].spec.bad_op = 0;
  cases[1].spec.bad_code = 150;
  cases[2].spec.bad_op = 5;
  cases[2].spec.bad_code = 56;
  cases[3].spec.bad_op = 1;
  cases[3].spec.bad_code = 4000;
  cases[4].spec.bad_op = 3;
  cases[4].spec.bad_code = 32;
  cases[4].spec.custom_code = "MyOp";
  cases[5].spec.conv_act = 4;
  cases[6].spec.conv_act = 77;
  cases[7].spec.resize_half_pixel = TRUE;
  cases[8].spec.input_type = 9;
  cases[9].spec.input_type = 1;
  cases[10].spec.external = TRUE;
  cases[10].spec.external_shift = 64;
  cases[11].spec.version = 2;
  cases[12].spec.concat_axis = 9;
  cases[13].spec.bomb = TRUE;

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    GByteArray *b = tiny_build (&cases[c].spec);
    DlsGraph *g = parse_exact (b->data, b->len, &err);
    gboolean ok = !g && error_ok (err, cases[c].code)
        && strstr (err->message, cases[c].needle);
    char *name = g_strdup_printf ("tiny-%s", cases[c].name);

    report (ok, name, "%s", error_message (err));
    g_free (name);
    dls_graph_free (g);
    g_clear_error (&err);
    g_byte_array_unref (b);
  }
}

/* Adds @n to @g with its first input as the graph's input and its output
 * as the graph's output; finalize must refuse it as an invalid graph.
 * Frees @g. */
static void
expect_graph_refused (DlsGraph * g, const DlsNode * n, const char *what,
    const char *subject, const char *detail)
{
  GError *err = NULL;
  gboolean ok;

  dls_graph_add_node (g, n);
  dls_graph_add_input (g, n->inputs[0]);
  dls_graph_add_output (g, n->output);
  ok = !dls_graph_finalize (g, &err) && err
      && g_error_matches (err, DLS_ERROR, DLS_ERROR_INVALID_GRAPH);
  report (ok, what, "%s %s: %s", subject, detail,
      err ? err->message : "accepted");
  g_clear_error (&err);
  dls_graph_free (g);
}

/* Fuzzing regression (fuzz-tflite, a TFLite CONCATENATION listing tensor
 * -1): finalize took a variadic op's extra inputs for optional ones and
 * read tensor -1. An absent input is only for a convolution's bias. */
static void
test_absent_inputs (void)
{
  const int dims[4] = { 1, 2, 2, 3 };
  const DlsOpType ops[] = { DLS_OP_CONCAT, DLS_OP_ADD, DLS_OP_MUL };

  for (guint k = 0; k < G_N_ELEMENTS (ops); k++) {
    DlsGraph *g = dls_graph_new ();
    DlsNode n;
    int x = dls_graph_add_tensor (g, "x", DLS_TENSOR_ACTIVATION,
        DLS_DTYPE_FLOAT32, 4, dims, NULL, 0);
    int y = dls_graph_add_tensor (g, "y", DLS_TENSOR_ACTIVATION,
        DLS_DTYPE_FLOAT32, 0, NULL, NULL, 0);

    dls_node_init (&n, ops[k]);
    n.n_inputs = 2;
    n.inputs[0] = x;
    n.inputs[1] = -1;
    n.output = y;
    expect_graph_refused (g, &n, "absent input",
        dls_op_name (ops[k]), "with inputs {x, -1}");
  }
}

/* Fuzz finding (fuzz-tflite, UBSan): a depthwise multiplier of 1946157057
 * overflowed int in the weights check (channels x multiplier). Refused
 * with an error, no overflow. */
static void
test_depthwise_multiplier_overflow (void)
{
  const int dims[4] = { 1, 4, 4, 4 }, wdims[4] = { 1, 3, 3, 4 };
  DlsGraph *g = dls_graph_new ();
  DlsNode n;
  int x = dls_graph_add_tensor (g, "x", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 4, dims, NULL, 0);
  int wt = dls_graph_add_tensor (g, "w", DLS_TENSOR_CONSTANT,
      DLS_DTYPE_FLOAT32, 4, wdims, g_new0 (float, 36), 36 * sizeof (float));
  int y = dls_graph_add_tensor (g, "y", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 0, NULL, NULL, 0);

  dls_node_init (&n, DLS_OP_DEPTHWISE_CONV2D);
  n.n_inputs = 3;
  n.inputs[0] = x;
  n.inputs[1] = wt;
  n.inputs[2] = -1;
  n.output = y;
  n.p.win.depth_multiplier = 1946157057;
  expect_graph_refused (g, &n, "depthwise multiplier", "4 channels",
      "x 1946157057");
}

static void
test_load_paths (void)
{
  GError *err = NULL;
  char *missing = g_build_filename (g_get_tmp_dir (),
      "dls-test-model-no-such-file.tflite", NULL);
  char *empty = tmp_file ("dls-test-model-empty.tflite", "", 0);
  char *text = tmp_file ("dls-test-model-text.tflite", "hello, not a model",
      18);
  GByteArray *b = tiny_build (&tiny_default);
  char *tiny = tmp_file ("dls-test-model-tiny.tflite", b->data, b->len);
  GByteArray *bad_spec = NULL;
  char *bad = NULL;
  TinySpec s = tiny_default;
  DlsGraph *g;
  gboolean ok;

  g = dls_model_load (missing, &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_FOUND)
      && strstr (err->message, missing);
  report (ok, "load-missing", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (g_get_tmp_dir (), &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_FOUND);
  report (ok, "load-directory", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (empty, &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_A_MODEL)
      && strstr (err->message, "empty");
  report (ok, "load-empty", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (text, &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_A_MODEL)
      && strstr (err->message, "is not a model");
  report (ok, "load-text", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (tiny, &err);
  ok = g && g->finalized && dls_graph_n_nodes (g) == 6;
  report (ok, "load-tiny-file", "%s", g ? "6 nodes" : error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  s.bad_op = 4;
  s.bad_code = 17;
  bad_spec = tiny_build (&s);
  bad = tmp_file ("dls-test-model-maxpool.tflite", bad_spec->data,
      bad_spec->len);
  g = dls_model_load (bad, &err);
  ok = !g && error_ok (err, DLS_ERROR_UNSUPPORTED)
      && strstr (err->message, bad) && strstr (err->message, "MAX_POOL_2D");
  report (ok, "load-unsupported-file", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g_unlink (empty);
  g_unlink (text);
  g_unlink (tiny);
  g_unlink (bad);
  g_free (missing);
  g_free (empty);
  g_free (text);
  g_free (tiny);
  g_free (bad);
  g_byte_array_unref (b);
  g_byte_array_unref (bad_spec);
}

static void
test_random_bytes (void)
{
  static const gsize sizes[] = { 1, 4, 7, 8, 9, 12, 16, 31, 64, 100, 256,
    1000, 4096, 65536
  };
  GRand *rand = g_rand_new_with_seed (20240601);
  int n = 0, n_ok = 0;
  GError *err = NULL;

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    for (int rep = 0; rep < 8; rep++) {
      guint8 *buf = g_malloc (sizes[s]);
      DlsGraph *g;

      for (gsize i = 0; i < sizes[s]; i++)
        buf[i] = (guint8) g_rand_int (rand);
      /* Half of them carry the identifier, to get past the probe and
       * exercise the reader; the root offset is kept small in some so it
       * lands inside the buffer. */
      if (rep & 1 && sizes[s] >= 8)
        memcpy (buf + 4, "TFL3", 4);
      if (rep & 2 && sizes[s] >= 8) {
        guint32 root = GUINT32_TO_LE (g_rand_int_range (rand, 0,
                (gint32) MIN (sizes[s], G_MAXINT32)));
        memcpy (buf, &root, 4);
      }
      g = parse_exact (buf, sizes[s], &err);
      n++;
      if (!g && error_ok (err, -1))
        n_ok++;
      else
        report (FALSE, "random-bytes", "%" G_GSIZE_FORMAT " bytes (rep %d):"
            " %s", sizes[s], rep, g ? "loaded" : "bad error");
      dls_graph_free (g);
      g_clear_error (&err);
      g_free (buf);
    }
  }
  report (n_ok == n, "random-bytes", "%d/%d random buffers (1..65536 bytes, "
      "half with \"TFL3\") rejected cleanly", n_ok, n);
  g_rand_free (rand);
}

/* Random byte changes: each copy must load as a finalized graph or fail
 * with a DLS_ERROR. @where: 0 anywhere, else the first / last @span bytes
 * get two thirds of the changes (the FlatBuffer's structure; the middle of
 * a real model is weights). */
static void
mutate_many (const char *name, const guint8 * data, gsize size, int copies,
    guint32 seed, gsize span)
{
  GRand *rand = g_rand_new_with_seed (seed);
  guint8 *buf = g_malloc (size);
  int counts[DLS_ERROR_INVALID_ARGUMENT + 1] = { 0 };
  int n_loaded = 0, n_bad = 0;
  GError *err = NULL;

  memcpy (buf, data, size);
  for (int c = 0; c < copies; c++) {
    gsize pos[6];
    int n_mut = g_rand_int_range (rand, 1, 7);
    DlsGraph *g;

    for (int m = 0; m < n_mut; m++) {
      int zone = span ? g_rand_int_range (rand, 0, 3) : 2;
      gsize lo = 0, hi = size;

      if (zone == 0)
        hi = MIN (span, size);
      else if (zone == 1)
        lo = size > span ? size - span : 0;
      pos[m] = lo + (gsize) (g_rand_double (rand) * (hi - lo));
      pos[m] = MIN (pos[m], size - 1);
      if (g_rand_boolean (rand))
        buf[pos[m]] ^= 1u << g_rand_int_range (rand, 0, 8);
      else
        buf[pos[m]] = (guint8) g_rand_int (rand);
    }
    g = dls_tflite_parse (buf, size, &err);
    if (g) {
      if (g->finalized && dls_graph_n_nodes (g) > 0)
        n_loaded++;
      else
        n_bad++;
    } else if (error_ok (err, -1) && err->code < (int) G_N_ELEMENTS (counts)) {
      counts[err->code]++;
    } else {
      n_bad++;
    }
    dls_graph_free (g);
    g_clear_error (&err);
    for (int m = 0; m < n_mut; m++)
      buf[pos[m]] = data[pos[m]];
  }
  report (n_bad == 0, name, "%d mutated copies: %d loaded, corrupt %d, "
      "not-a-model %d, unsupported %d, invalid-graph %d, bad outcomes %d",
      copies, n_loaded, counts[DLS_ERROR_CORRUPT],
      counts[DLS_ERROR_NOT_A_MODEL], counts[DLS_ERROR_UNSUPPORTED],
      counts[DLS_ERROR_INVALID_GRAPH], n_bad);
  g_free (buf);
  g_rand_free (rand);
}

static void
test_tiny_mutations (void)
{
  TinySpec ext = tiny_default;
  GByteArray *b = tiny_build (&tiny_default);
  GByteArray *e;

  mutate_many ("tiny-mutations", b->data, b->len, 2000, 7, 0);
  ext.external = TRUE;
  e = tiny_build (&ext);
  mutate_many ("tiny-external-mutations", e->data, e->len, 500, 8, 0);
  g_byte_array_unref (b);
  g_byte_array_unref (e);
}

static void
test_tiny_truncated (void)
{
  GByteArray *b = tiny_build (&tiny_default);
  GError *err = NULL;
  guint n_ok = 0;

  for (guint len = 0; len < b->len; len++) {
    DlsGraph *g = parse_exact (b->data, len, &err);
    if (!g && error_ok (err, len < 8 ? DLS_ERROR_NOT_A_MODEL :
            DLS_ERROR_CORRUPT))
      n_ok++;
    else
      report (FALSE, "tiny-truncated", "cut at %u: %s", len,
          g ? "loaded" : "bad error");
    dls_graph_free (g);
    g_clear_error (&err);
  }
  report (n_ok == b->len, "tiny-truncated", "every cut 0..%u rejected, "
      "as not a model below 8 bytes, else corrupt (%u)", b->len - 1, n_ok);
  g_byte_array_unref (b);
}

/* ------------------------------------------------------------------------
 * Cases on ../shared data.
 */

static gboolean
read_file (const char *path, gchar ** data, gsize * size)
{
  GError *err = NULL;

  if (!g_file_get_contents (path, data, size, &err)) {
    report (FALSE, "read", "%s: %s", path, err->message);
    g_error_free (err);
    return FALSE;
  }
  return TRUE;
}

static void
test_real_model (const char *path)
{
  GError *err = NULL;
  DlsGraph *g = dls_model_load (path, &err);
  static const int in_dims[] = { 1, 257, 257, 3 };
  static const int out_dims[] = { 1, 257, 257, 21 };
  static const int w0_dims[] = { 16, 3, 3, 3 };
  /* MobilenetV2/Conv/weights[0..3] and bias[0], as LiteRT reads them. */
  static const float w0[] = { 0.22600266337394714f, -0.7725163102149963f,
    0.5276147127151489f, 0.3157399594783783f
  };
  int dil2 = 0, dil4 = 0, n_resize_ok = 0;
  gboolean ok, first_ok = FALSE, pool_ok = FALSE, concat_ok = FALSE;
  guint64 macs = 0;

  if (!g) {
    report (FALSE, "real-model", "%s", error_message (err));
    g_clear_error (&err);
    return;
  }
  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    const DlsNode *n = dls_graph_node (g, i);

    if (n->op == DLS_OP_DEPTHWISE_CONV2D) {
      dil2 += n->p.win.dilation_h == 2 && n->p.win.dilation_w == 2;
      dil4 += n->p.win.dilation_h == 4 && n->p.win.dilation_w == 4;
    } else if (n->op == DLS_OP_RESIZE_BILINEAR) {
      int size = i == 69 ? 257 : 33;
      n_resize_ok += n->n_inputs == 1 && n->p.resize.out_h == size
          && n->p.resize.out_w == size
          && n->p.resize.coord == DLS_RESIZE_ALIGN_CORNERS;
    } else if (n->op == DLS_OP_AVERAGE_POOL2D) {
      pool_ok = n->p.win.kernel_h == 33 && n->p.win.kernel_w == 33
          && n->p.win.stride_h == 33 && n->p.win.padding == DLS_PADDING_VALID;
    } else if (n->op == DLS_OP_CONCAT) {
      concat_ok = n->p.concat.axis == 3 && n->n_inputs == 2;
    }
  }
  {
    const DlsNode *n = dls_graph_node (g, 0);
    const DlsTensor *w = dls_graph_tensor (g, n->inputs[1]);
    const DlsTensor *b = dls_graph_tensor (g, n->inputs[2]);

    first_ok = n->op == DLS_OP_CONV2D && n->p.win.stride_h == 2
        && n->p.win.stride_w == 2 && n->p.win.padding == DLS_PADDING_SAME
        && n->act_min == 0.0f && n->act_max == 6.0f
        && g_strcmp0 (w->name, "MobilenetV2/Conv/weights") == 0
        && dims_equal (w, 4, w0_dims) && w->n_bytes == 16 * 27 * 4
        && memcmp (w->data, w0, sizeof (w0)) == 0
        && ((const float *) b->data)[0] == 0.5731321573257446f;
  }
  macs = dls_graph_macs (g);

  ok = g->finalized && dls_graph_n_nodes (g) == 70
      && count_op (g, DLS_OP_CONV2D) == 38
      && count_op (g, DLS_OP_DEPTHWISE_CONV2D) == 17
      && count_op (g, DLS_OP_ADD) == 10
      && count_op (g, DLS_OP_AVERAGE_POOL2D) == 1
      && count_op (g, DLS_OP_CONCAT) == 1
      && count_op (g, DLS_OP_RESIZE_BILINEAR) == 3
      && g->inputs->len == 1 && g->outputs->len == 1
      && dims_equal (dls_graph_tensor (g, dls_graph_input (g, 0)), 4, in_dims)
      && dims_equal (dls_graph_tensor (g, dls_graph_output (g, 0)), 4, out_dims)
      && dil2 == 7 && dil4 == 3 && n_resize_ok == 3 && pool_ok && concat_ok
      && first_ok && macs > 700000000 && macs < 760000000;
  report (ok, "real-model", "%d nodes (conv %d, dw %d [dilation 2: %d, 4: "
      "%d], add %d, pool %d, concat %d, resize %d [align_corners: %d]), "
      "1x257x257x3 -> 1x257x257x21, first conv %s, %.3f GMAC",
      dls_graph_n_nodes (g), count_op (g, DLS_OP_CONV2D),
      count_op (g, DLS_OP_DEPTHWISE_CONV2D), dil2, dil4,
      count_op (g, DLS_OP_ADD), count_op (g, DLS_OP_AVERAGE_POOL2D),
      count_op (g, DLS_OP_CONCAT), count_op (g, DLS_OP_RESIZE_BILINEAR),
      n_resize_ok, first_ok ? "ok" : "WRONG", macs / 1e9);
  dls_graph_free (g);
}

static void
test_real_truncated (const guint8 * data, gsize size)
{
  GError *err = NULL;
  int n = 0, n_ok = 0;
  char *path;
  DlsGraph *g;

  static const gsize tail[] = { 64, 48, 32, 24, 16, 10 };

  for (int i = 0; i < 56; i++) {
    /* 0..64 in steps of 4, then spread over the file, then near the end.
     * The model's last 7 bytes are never read (LiteRT loads those
     * truncations too), so the cuts stop 10 bytes short. */
    gsize len = i <= 16 ? (gsize) i * 4 : i < 50
        ? (gsize) ((guint64) size * (i - 16) / 34) : size - tail[i - 50];

    g = parse_exact (data, len, &err);
    n++;
    if (!g && error_ok (err, len < 8 ? DLS_ERROR_NOT_A_MODEL :
            DLS_ERROR_CORRUPT))
      n_ok++;
    else
      report (FALSE, "real-truncated", "cut at %" G_GSIZE_FORMAT ": %s", len,
          g ? "loaded" : "bad error");
    dls_graph_free (g);
    g_clear_error (&err);
  }
  report (n_ok == n, "real-truncated", "%d/%d truncations rejected "
      "(0..64 bytes, across the file, near the end)", n_ok, n);

  /* Through a file too: the path is named and nothing is read past it. */
  path = tmp_file ("dls-test-model-truncated.tflite", data, size / 2);
  g = dls_model_load (path, &err);
  report (!g && error_ok (err, DLS_ERROR_CORRUPT)
      && strstr (err->message, path), "real-truncated-file", "%s",
      error_message (err));
  dls_graph_free (g);
  g_clear_error (&err);
  g_unlink (path);
  g_free (path);
}

static void
test_quantized (void)
{
  static const char *const models[] = {
    "models/quantized/deeplabv3_mnv2_pascal_quant.tflite",
    "models/quantized/deeplabv3_mnv2_dm05_pascal_quant.tflite",
    "models/quantized/deeplabv3_mnv2_ade20k_uint8.tflite",
    "models/quantized/deeplabv3_mnv2_ade20k_int8.tflite",
    "models/quantized/deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite",
  };

  for (guint i = 0; i < G_N_ELEMENTS (models); i++) {
    char *path = dls_test_shared_path (models[i]);
    GError *err = NULL;
    DlsGraph *g = dls_model_load (path, &err);
    char *name = g_strdup_printf ("quantized-%s", strrchr (models[i], '/') + 1);

    report (!g && error_ok (err, DLS_ERROR_UNSUPPORTED)
        && strstr (err->message, "quantized models are not supported"),
        name, "%s", error_message (err));
    dls_graph_free (g);
    g_clear_error (&err);
    g_free (name);
    g_free (path);
  }
}

int
main (void)
{
  char *path;
  gchar *data;
  gsize size;

  test_tiny_valid ();
  test_tiny_variants ();
  test_tiny_errors ();
  test_absent_inputs ();
  test_depthwise_multiplier_overflow ();
  test_load_paths ();
  test_random_bytes ();
  test_tiny_truncated ();
  test_tiny_mutations ();
  /* A failure so far must not turn into a skip when data is missing. */
  if (n_failed)
    goto done;

  path = dls_test_model_path ();
  test_real_model (path);
  if (read_file (path, &data, &size)) {
    test_real_truncated ((const guint8 *) data, size);
    mutate_many ("real-mutations", (const guint8 *) data, size, 300, 42, 24576);
    g_free (data);
  }
  g_free (path);
  test_quantized ();

done:
  printf ("%s: %d failure(s)\n", n_failed ? "FAIL" : "PASS", n_failed);
  return n_failed ? 1 : 0;
}

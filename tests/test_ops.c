/* deeplabseg tests: every op of the IR, a second backend against the C
 * reference (gst/backend/ref.c), on a table of shapes.
 *
 *   test-ops [--backend opencl|ref] [--device SPEC] [--filter TEXT] [-v]
 *
 * For each case a one-node graph (or a short chain, for the buffer
 * plumbing between ops) is built with the graph API, fed inputs and
 * weights from a fixed-seed generator, ~U(-1, 1), and run on both
 * backends. One line per case: op, shapes, parameters, max abs error, max
 * rel error (relative to max |ref output|), PASS/FAIL. Exit 1 on any
 * failure; 77 (skip) when there is no OpenCL device, except under CI=true.
 * "--backend ref" runs the reference against a second instance of itself:
 * a self-check of the harness, with tolerance 0 (the reference is
 * deterministic, and must not depend on a previous run either).
 *
 * Before the table, a few cases check the reference alone against numbers
 * worked out by hand in the comments (conv taps and padding, TFLite's
 * average-pool edge counts, the three resize coordinate modes).
 *
 * Tolerance: max abs err <= 1e-4 * max (1, max |ref output|) per case;
 * exact equality for ADD and CONCAT (a copy and one IEEE add are exact on
 * any conforming device). Why 1e-4: the reference sums in double, so it
 * is the exact result rounded once; a float kernel compiled without
 * fast-math rounds once per tap, so on a sum of K products its error is
 * at most ~K * 2^-24 * sum |x w| and typically (random-walk rounding)
 * ~sqrt (K) * 2^-24 * sqrt (sum (x w)^2). With x, w ~U(-1, 1) the output
 * itself is ~sqrt (sum (x w)^2), so relative to max |out| the expected
 * error is ~sqrt (K) * 6e-8: 1.4e-6 at the largest K here (512, the
 * ASPP projection; 3x3x48 = 432 for the largest 3x3 conv; PoCL measured
 * 1.8e-6 at worst). 1e-4 leaves a margin of ~50 over that, while a wrong tap, pad, stride, channel or
 * weight index moves outputs by O(max |out|). The max (1, ...) keeps the
 * bound meaningful when outputs are small (a clamp that zeroes most of
 * them).
 *
 * The second backend runs each graph twice: first on other inputs, then
 * on the real ones, so a kernel that keeps state between runs (accumulates
 * into an output it never cleared, reads a stale buffer) fails.
 */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/opencl.h"
#include "graph/graph.h"
#include "testutil.h"

#define TOL_REL 1e-4

/* ------------------------------------------------------------------ */
/* Fixed-seed generator (splitmix64): the same numbers on every machine. */

static guint64 rng_state;

static void
rng_seed (guint64 seed)
{
  rng_state = seed;
}

static guint64
rng_next (void)
{
  guint64 z = (rng_state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* U(-1, 1) on a 2^-23 grid (exactly representable floats). */
static float
rng_uniform (void)
{
  return (float) ((double) (rng_next () >> 40) / (double) (1 << 23) - 1.0);
}

static float *
rng_fill (gsize n)
{
  float *v = g_new (float, MAX (n, 1));
  gsize i;

  for (i = 0; i < n; i++)
    v[i] = rng_uniform ();
  return v;
}

/* ------------------------------------------------------------------ */
/* Graph building helpers                                              */

typedef enum
{
  ACT_NONE,
  ACT_RELU,
  ACT_RELU6,
} Act;

static const char *const act_names[] = { "none", "relu", "relu6" };

static void
set_act (DlsNode * n, Act act)
{
  n->act_min = act == ACT_NONE ? -INFINITY : 0.0f;
  n->act_max = act == ACT_RELU6 ? 6.0f : INFINITY;
}

/* A graph under construction, with the host data of its inputs. */
typedef struct
{
  DlsGraph *g;
  GPtrArray *inputs;            /* float*, one per graph input */
  GArray *chans;                /* int per tensor id: activation channels,
                                 * known before finalize infers shapes */
} Builder;

static void
builder_init (Builder * b)
{
  b->g = dls_graph_new ();
  b->inputs = g_ptr_array_new_with_free_func (g_free);
  b->chans = g_array_new (FALSE, TRUE, sizeof (int));
}

static int
chans_of (Builder * b, int id)
{
  return g_array_index (b->chans, int, id);
}

static void
set_chans (Builder * b, int id, int c)
{
  if ((guint) id >= b->chans->len)
    g_array_set_size (b->chans, id + 1);
  g_array_index (b->chans, int, id) = c;
}

static void
builder_clear (Builder * b)
{
  dls_graph_free (b->g);
  g_ptr_array_unref (b->inputs);
  g_array_unref (b->chans);
}

static int
add_input (Builder * b, int h, int w, int c)
{
  int dims[4] = { 1, h, w, c };
  char *name = g_strdup_printf ("in%u", b->inputs->len);
  int id = dls_graph_add_tensor (b->g, name, DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 4, dims, NULL, 0);

  g_free (name);
  dls_graph_add_input (b->g, id);
  g_ptr_array_add (b->inputs, rng_fill ((gsize) h * w * c));
  set_chans (b, id, c);
  return id;
}

static int
add_const (Builder * b, int n_dims, const int *dims)
{
  gsize n = 1;
  int i;

  for (i = 0; i < n_dims; i++)
    n *= dims[i];
  return dls_graph_add_tensor (b->g, "const", DLS_TENSOR_CONSTANT,
      DLS_DTYPE_FLOAT32, n_dims, dims, rng_fill (n), n * sizeof (float));
}

/* A new activation of inferred shape (@c channels), output of @node;
 * returns its id. */
static int
add_node (Builder * b, DlsNode * node, int c)
{
  node->output = dls_graph_add_tensor (b->g, "act", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 0, NULL, NULL, 0);
  dls_graph_add_node (b->g, node);
  set_chans (b, node->output, c);
  return node->output;
}

static int
conv (Builder * b, int x, int co, int kh, int kw, int stride, int dil,
    DlsPadding pad, gboolean bias, Act act)
{
  int wd[4] = { co, kh, kw, chans_of (b, x) };
  DlsNode n;

  dls_node_init (&n, DLS_OP_CONV2D);
  n.inputs[0] = x;
  n.inputs[1] = add_const (b, 4, wd);
  n.n_inputs = 2;
  if (bias) {
    n.inputs[2] = add_const (b, 1, &co);
    n.n_inputs = 3;
  }
  n.p.win.stride_h = n.p.win.stride_w = stride;
  n.p.win.dilation_h = n.p.win.dilation_w = dil;
  n.p.win.padding = pad;
  set_act (&n, act);
  return add_node (b, &n, co);
}

static int
dwconv (Builder * b, int x, int mult, int k, int stride, int dil,
    DlsPadding pad, gboolean bias, Act act)
{
  int co = chans_of (b, x) * mult;
  int wd[4] = { 1, k, k, co };
  DlsNode n;

  dls_node_init (&n, DLS_OP_DEPTHWISE_CONV2D);
  n.inputs[0] = x;
  n.inputs[1] = add_const (b, 4, wd);
  n.n_inputs = 2;
  if (bias) {
    n.inputs[2] = add_const (b, 1, &co);
    n.n_inputs = 3;
  }
  n.p.win.stride_h = n.p.win.stride_w = stride;
  n.p.win.dilation_h = n.p.win.dilation_w = dil;
  n.p.win.depth_multiplier = mult;
  n.p.win.padding = pad;
  set_act (&n, act);
  return add_node (b, &n, co);
}

/* ADD, or MUL (ONNX), of x and y (y may broadcast for both). */
static int
binary (Builder * b, DlsOpType op, int x, int y, Act act)
{
  DlsNode n;

  dls_node_init (&n, op);
  n.inputs[0] = x;
  n.inputs[1] = y;
  n.n_inputs = 2;
  set_act (&n, act);
  return add_node (b, &n, chans_of (b, x));
}

static int
add2 (Builder * b, int x, int y, Act act)
{
  return binary (b, DLS_OP_ADD, x, y, act);
}

static int
avgpool (Builder * b, int x, int kh, int kw, int stride, DlsPadding pad,
    Act act)
{
  DlsNode n;

  dls_node_init (&n, DLS_OP_AVERAGE_POOL2D);
  n.inputs[0] = x;
  n.n_inputs = 1;
  n.p.win.kernel_h = kh;
  n.p.win.kernel_w = kw;
  n.p.win.stride_h = n.p.win.stride_w = stride;
  n.p.win.padding = pad;
  set_act (&n, act);
  return add_node (b, &n, chans_of (b, x));
}

static int
concat (Builder * b, const int *xs, int n_in, int axis, Act act)
{
  DlsNode n;
  int k, c = 0;

  dls_node_init (&n, DLS_OP_CONCAT);
  for (k = 0; k < n_in; k++)
    n.inputs[k] = xs[k];
  n.n_inputs = n_in;
  n.p.concat.axis = axis;
  set_act (&n, act);
  for (k = 0; k < n_in; k++)
    c += axis == 3 ? chans_of (b, xs[k]) : 0;
  return add_node (b, &n, axis == 3 ? c : chans_of (b, xs[0]));
}

static int
resize (Builder * b, int x, int oh, int ow, DlsResizeCoord coord)
{
  DlsNode n;

  dls_node_init (&n, DLS_OP_RESIZE_BILINEAR);
  n.inputs[0] = x;
  n.n_inputs = 1;
  /* Set every field: the resize params share a union with the window
   * params that dls_node_init() fills. */
  n.p.resize.out_h = oh;
  n.p.resize.out_w = ow;
  n.p.resize.coord = coord;
  return add_node (b, &n, chans_of (b, x));
}

/* ------------------------------------------------------------------ */
/* Running a graph                                                     */

/* @b's graph outputs from @be (float*, dense NHWC), or NULL with @error
 * set. */
static GPtrArray *
read_outputs (DlsBackend * be, Builder * b, GError ** error)
{
  GPtrArray *outs = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < b->g->outputs->len; i++) {
    const DlsTensor *t = dls_graph_tensor (b->g, dls_graph_output (b->g, i));
    float *o = g_new0 (float, MAX (dls_tensor_n_elements (t), 1));

    /* NaN-fill so an element the backend never writes cannot pass. */
    memset (o, 0xff, dls_tensor_n_elements (t) * sizeof (float));
    g_ptr_array_add (outs, o);
    if (!dls_backend_get_output (be, i, o, error)) {
      g_ptr_array_unref (outs);
      return NULL;
    }
  }
  return outs;
}

/* Prepares @be on @b's graph, runs it and returns the outputs (float*,
 * dense NHWC) or NULL with @error set. With @twice, first runs it twice
 * on the inputs negated (and halved), so the result must not depend on
 * what previous runs left behind. Then @again runs more on the same
 * inputs, whose outputs must be the first's bit for bit (a step whose
 * work-groups wait for each other: a missing wait shows as results that
 * change from run to run); on OpenCL every other one of them with the
 * dw_conv1x1 steps unchained (dls_backend_opencl_set_chained()): a launch
 * a step must give the chain's bits. */
static GPtrArray *
run_backend (DlsBackend * be, Builder * b, gboolean twice, int again,
    GError ** error)
{
  GPtrArray *outs = NULL;
  guint i;

  if (!dls_backend_prepare (be, b->g, error))
    goto fail;
  /* twice: two runs before, so a state a step keeps from run to run (the
   * claims of dw_conv1x1, marked with the run's count) has been used */
  for (int r = 0; twice && r < 2; r++) {
    for (i = 0; i < b->inputs->len; i++) {
      const DlsTensor *t = dls_graph_tensor (b->g, dls_graph_input (b->g,
              i));
      gsize k, n = dls_tensor_n_elements (t);
      const float *src = b->inputs->pdata[i];
      float *tmp = g_new (float, MAX (n, 1));
      gboolean ok;

      for (k = 0; k < n; k++)
        tmp[k] = -0.5f * src[k];
      ok = dls_backend_set_input (be, i, tmp, error);
      g_free (tmp);
      if (!ok)
        goto fail;
    }
    if (!dls_backend_run (be, error))
      goto fail;
  }
  for (i = 0; i < b->inputs->len; i++)
    if (!dls_backend_set_input (be, i, b->inputs->pdata[i], error))
      goto fail;
  if (!dls_backend_run (be, error) || !(outs = read_outputs (be, b, error)))
    goto fail;
  for (int r = 1; r <= again; r++) {
    GPtrArray *more;
    if (g_str_equal (be->vt->name, "opencl"))
      dls_backend_opencl_set_chained (be, r % 2 == 0);
    if (!dls_backend_run (be, error) || !(more = read_outputs (be, b, error)))
      goto fail;
    for (i = 0; i < outs->len; i++) {
      gsize n = dls_tensor_n_elements (dls_graph_tensor (b->g,
              dls_graph_output (b->g, i)));
      if (memcmp (outs->pdata[i], more->pdata[i], n * sizeof (float))) {
        g_set_error (error, DLS_ERROR, DLS_ERROR_DEVICE, "output %u of "
            "run %d on the same inputs differs from the first run's", i,
            r + 1);
        break;
      }
    }
    g_ptr_array_unref (more);
    if (i < outs->len)
      goto fail;
  }
  return outs;

fail:
  if (outs)
    g_ptr_array_unref (outs);
  return NULL;
}

static GPtrArray *
run_ref (Builder * b, GError ** error)
{
  DlsBackend *be = dls_backend_ref_new ();
  GPtrArray *outs = run_backend (be, b, FALSE, 0, error);

  dls_backend_free (be);
  return outs;
}

/* ------------------------------------------------------------------ */
/* Hand-computed checks of the reference itself                        */

static int hand_failures, hand_total;

/* Builds graphs with explicit data (no generator) for the hand checks. */
static int
hand_input (Builder * b, int h, int w, int c, const float *data)
{
  int id = add_input (b, h, w, c);

  memcpy (b->inputs->pdata[b->inputs->len - 1], data,
      (gsize) h * w * c * sizeof (float));
  return id;
}

static void
hand_set_const (Builder * b, int id, const float *data)
{
  DlsTensor *t = dls_graph_tensor (b->g, id);

  memcpy (t->data, data, t->n_bytes);
}

/* Finalizes @b, runs the reference and compares output 0 with @expect
 * (n values) to 1e-5 relative to max (1, |expect|). */
static void
hand_check (const char *what, Builder * b, int out, const float *expect, int n)
{
  GError *err = NULL;
  GPtrArray *outs;
  const DlsTensor *t;
  gboolean ok = TRUE;
  int i;

  hand_total++;
  dls_graph_add_output (b->g, out);
  if (!dls_graph_finalize (b->g, &err) || !(outs = run_ref (b, &err))) {
    printf ("ref-hand  %-52s ERROR %s\n", what, err->message);
    g_clear_error (&err);
    hand_failures++;
    return;
  }
  t = dls_graph_tensor (b->g, out);
  if (dls_tensor_n_elements (t) != (gsize) n) {
    printf ("ref-hand  %-52s FAIL %" G_GSIZE_FORMAT " outputs, expected %d\n",
        what, dls_tensor_n_elements (t), n);
    ok = FALSE;
  } else {
    const float *o = outs->pdata[0];

    for (i = 0; i < n; i++) {
      if (!(fabs (o[i] - expect[i]) <= 1e-5 * MAX (1.0, fabs (expect[i])))) {
        printf ("ref-hand  %-52s FAIL at %d: got %.9g, expected %.9g\n",
            what, i, o[i], expect[i]);
        ok = FALSE;
        break;
      }
    }
  }
  if (ok)
    printf ("ref-hand  %-52s PASS\n", what);
  else
    hand_failures++;
  g_ptr_array_unref (outs);
}

/* hand_check of a CONCAT of two inputs of H x W x C @s0 and @s1. */
static void
hand_concat (const char *what, const int s0[3], const float *d0,
    const int s1[3], const float *d1, int axis, Act act, const float *expect,
    int n)
{
  Builder b;
  int xs[2];

  builder_init (&b);
  xs[0] = hand_input (&b, s0[0], s0[1], s0[2], d0);
  xs[1] = hand_input (&b, s1[0], s1[1], s1[2], d1);
  hand_check (what, &b, concat (&b, xs, 2, axis, act), expect, n);
  builder_clear (&b);
}

/* kernels/conv.cl, eltwise.cl and image.cl are one program ("core",
 * gst/backend/opencl.c): once one of them was asked for, asking for the
 * others builds nothing more; a core file asked for with an option the
 * core program was not built with gets a program of its own. */
static void
program_sharing_check (DlsCl * cl)
{
  GError *err = NULL;
  cl_kernel k[4];
  guint p0 = 0, p1 = 0, p2 = 0;
  gboolean ok = TRUE;

  hand_total++;
  k[0] = dls_cl_kernel (cl, "eltwise", NULL, "add", &err);
  dls_cl_stats (NULL, &p0);
  k[1] = dls_cl_kernel (cl, "conv", NULL, "conv1x1", k[0] ? &err : NULL);
  k[2] = dls_cl_kernel (cl, "image", "-cl-fp32-correctly-rounded-divide-sqrt",
      "preprocess", k[1] ? &err : NULL);
  dls_cl_stats (NULL, &p1);
  k[3] = dls_cl_kernel (cl, "eltwise", "-DDLS_TEST_OTHER=1", "add",
      k[2] ? &err : NULL);
  dls_cl_stats (NULL, &p2);
  for (int i = 0; i < 4; i++) {
    ok = ok && k[i];
    if (k[i])
      clReleaseKernel (k[i]);
  }
  ok = ok && p1 == p0 && p2 == p0 + 1;
  printf ("cl-programs %-52s %s (programs %u, %u, %u)%s%s\n",
      "conv + eltwise + image one program", ok ? "PASS" : "FAIL", p0, p1, p2,
      err ? ": " : "", err ? err->message : "");
  g_clear_error (&err);
  if (!ok)
    hand_failures++;
}

static void
hand_tests (void)
{
  /* 4x4 ramp x[y][x] = 4y + x:
   *    0  1  2  3
   *    4  5  6  7
   *    8  9 10 11
   *   12 13 14 15 */
  static const float ramp[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    13, 14, 15
  };
  Builder b;
  int x, y, w, id;

  /* 3x3 conv, VALID, kernel [[0,1,0],[0,0,0],[0,0,2]] (OHWI, Co = Ci = 1):
   * out(y,x) = x[y][x+1] + 2 x[y+2][x+2] = (4y + x + 1) + 2 (4y + x + 10)
   *          = 12y + 3x + 21: [[21, 24], [33, 36]]. A kernel read upside
   * down (TFLite is correlation, not convolution) would give
   * 12y + 3x + 9. */
  {
    static const float k[9] = { 0, 1, 0, 0, 0, 0, 0, 0, 2 };
    static const float expect[4] = { 21, 24, 33, 36 };

    builder_init (&b);
    x = hand_input (&b, 4, 4, 1, ramp);
    y = conv (&b, x, 1, 3, 3, 1, 1, DLS_PADDING_VALID, FALSE, ACT_NONE);
    hand_set_const (&b, dls_graph_node (b.g, 0)->inputs[1], k);
    hand_check ("conv 3x3 VALID on 4x4 ramp (correlation order)", &b, y,
        expect, 4);
    builder_clear (&b);
  }

  /* 3x3 conv of ones, SAME (pad 1 all round): out = sum of the in-bounds
   * 3x3 neighbourhood. Row 0: 0+1+4+5 = 10, 0+1+2+4+5+6 = 18, 1+2+3+5+6+7
   * = 24, 2+3+6+7 = 18; row 1: 10+8+9 = 27, 45, 54, 18+10+11 = 39;
   * row 2: 4+5+8+9+12+13 = 51, 81, 90, 6+7+10+11+14+15 = 63;
   * row 3: 8+9+12+13 = 42, 8+9+10+12+13+14 = 66, 9+10+11+13+14+15 = 72,
   * 10+11+14+15 = 50. Then bias -40 and RELU6. */
  {
    static const float k[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const float bias[1] = { -40 };
    static const float expect[16] = {
      0, 0, 0, 0,
      0, 5, 6, 0,
      6, 6, 6, 6,
      2, 6, 6, 6
    };
    DlsNode *n;

    builder_init (&b);
    x = hand_input (&b, 4, 4, 1, ramp);
    y = conv (&b, x, 1, 3, 3, 1, 1, DLS_PADDING_SAME, TRUE, ACT_RELU6);
    n = dls_graph_node (b.g, 0);
    hand_set_const (&b, n->inputs[1], k);
    hand_set_const (&b, n->inputs[2], bias);
    hand_check ("conv 3x3 SAME ones, bias -40, relu6", &b, y, expect, 16);
    builder_clear (&b);
  }

  /* Same kernel, stride 2, SAME on 4 -> 2: total pad = (2-1)*2 + 3 - 4
   * = 1, which TFLite puts at the end (pad_top = pad_left = 0), so the
   * windows are centred on rows/cols 1 and 3: the SAME sums above at
   * (1,1) (1,3) (3,1) (3,3) = 45, 39, 66, 50. (Padding at the start
   * would give the sums at (0,0) (0,2) (2,0) (2,2) = 10, 24, 51, 90.) */
  {
    static const float k[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const float expect[4] = { 45, 39, 66, 50 };

    builder_init (&b);
    x = hand_input (&b, 4, 4, 1, ramp);
    y = conv (&b, x, 1, 3, 3, 2, 1, DLS_PADDING_SAME, FALSE, ACT_NONE);
    hand_set_const (&b, dls_graph_node (b.g, 0)->inputs[1], k);
    hand_check ("conv 3x3 SAME stride 2 (pad at the end)", &b, y, expect, 4);
    builder_clear (&b);
  }

  /* 3x3 kernel, dilation 2, SAME on 4x4 (pad 2 all round), centre tap
   * only at (1,1) and corner tap (0,0): out(y,x) = x[y][x] +
   * x[y-2][x-2] (0 outside). Row 0/1: x itself; (2,2) = 10 + 0 = 10,
   * (2,3) = 11 + 1, (3,2) = 14 + 4, (3,3) = 15 + 5. */
  {
    static const float k[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 0 };
    static const float expect[16] = {
      0, 1, 2, 3,
      4, 5, 6, 7,
      8, 9, 10, 12,
      12, 13, 18, 20
    };

    builder_init (&b);
    x = hand_input (&b, 4, 4, 1, ramp);
    y = conv (&b, x, 1, 3, 3, 1, 2, DLS_PADDING_SAME, FALSE, ACT_NONE);
    hand_set_const (&b, dls_graph_node (b.g, 0)->inputs[1], k);
    hand_check ("conv 3x3 dilation 2 SAME", &b, y, expect, 16);
    builder_clear (&b);
  }

  /* 1x1 conv, Ci = 2, Co = 3, OHWI weights w[o][i] = {{1,2},{3,4},{5,6}},
   * bias {0.5, 0, -100}, relu: in (1, 10) -> {21.5, 43, 0}. */
  {
    static const float in[2] = { 1, 10 };
    static const float k[6] = { 1, 2, 3, 4, 5, 6 };
    static const float bias[3] = { 0.5f, 0, -100 };
    static const float expect[3] = { 21.5f, 43, 0 };
    DlsNode *n;

    builder_init (&b);
    x = hand_input (&b, 1, 1, 2, in);
    y = conv (&b, x, 3, 1, 1, 1, 1, DLS_PADDING_VALID, TRUE, ACT_RELU);
    n = dls_graph_node (b.g, 0);
    hand_set_const (&b, n->inputs[1], k);
    hand_set_const (&b, n->inputs[2], bias);
    hand_check ("conv 1x1 OHWI channel order, bias, relu", &b, y, expect, 3);
    builder_clear (&b);
  }

  /* Depthwise 1x1, Ci = 2, M = 2: out channel o reads input o / 2:
   * in (1, 2), w {1, 10, 100, 1000} -> {1, 10, 200, 2000}. */
  {
    static const float in[2] = { 1, 2 };
    static const float k[4] = { 1, 10, 100, 1000 };
    static const float expect[4] = { 1, 10, 200, 2000 };

    builder_init (&b);
    x = hand_input (&b, 1, 1, 2, in);
    y = dwconv (&b, x, 2, 1, 1, 1, DLS_PADDING_VALID, FALSE, ACT_NONE);
    hand_set_const (&b, dls_graph_node (b.g, 0)->inputs[1], k);
    hand_check ("depthwise multiplier 2 channel mapping", &b, y, expect, 4);
    builder_clear (&b);
  }

  /* Average pool 3x3 SAME stride 1 on the 3x3 ramp 1..9: padding is not
   * counted, so corners average 4 taps, edges 6, the centre 9:
   * (0,0) (1+2+4+5)/4 = 3; (0,1) (1+2+3+4+5+6)/6 = 3.5;
   * (0,2) (2+3+5+6)/4 = 4; (1,0) (1+2+4+5+7+8)/6 = 4.5; (1,1) 45/9 = 5;
   * (1,2) 5.5; (2,0) (4+5+7+8)/4 = 6; (2,1) 6.5; (2,2) 7. */
  {
    static const float in[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    static const float expect[9] = { 3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7 };

    builder_init (&b);
    x = hand_input (&b, 3, 3, 1, in);
    y = avgpool (&b, x, 3, 3, 1, DLS_PADDING_SAME, ACT_NONE);
    hand_check ("avgpool 3x3 SAME: in-bounds tap counts", &b, y, expect, 9);
    builder_clear (&b);
  }

  /* Global average pool (filter = input, VALID) over the 4x4 ramp, two
   * channels (v, -v): mean 7.5 and -7.5. */
  {
    float in[32];
    static const float expect[2] = { 7.5f, -7.5f };
    int i;

    for (i = 0; i < 16; i++) {
      in[2 * i] = ramp[i];
      in[2 * i + 1] = -ramp[i];
    }
    builder_init (&b);
    x = hand_input (&b, 4, 4, 2, in);
    y = avgpool (&b, x, 4, 4, 4, DLS_PADDING_VALID, ACT_NONE);
    hand_check ("avgpool global 4x4 VALID", &b, y, expect, 2);
    builder_clear (&b);
  }

  /* Resize 1x2 [a, b] = [1, 5] to 1x4:
   * HALF_PIXEL: s = (d + .5) * .5 - .5 = -.25, .25, .75, 1.25, clamped
   *   -> [a, .75a + .25b, .25a + .75b, b] = [1, 2, 4, 5];
   * ASYMMETRIC: s = d / 2 = 0, .5, 1, 1.5 -> [a, (a+b)/2, b, b]
   *   = [1, 3, 5, 5];
   * ALIGN_CORNERS: s = d * 1/3 -> [a, a + (b-a)/3, a + 2(b-a)/3, b]
   *   = [1, 2.333.., 3.666.., 5]. */
  {
    static const float in[2] = { 1, 5 };
    static const float e_half[4] = { 1, 2, 4, 5 };
    static const float e_asym[4] = { 1, 3, 5, 5 };
    static const float e_align[4] = { 1, 7.0f / 3, 11.0f / 3, 5 };

    builder_init (&b);
    x = hand_input (&b, 1, 2, 1, in);
    y = resize (&b, x, 1, 4, DLS_RESIZE_HALF_PIXEL);
    hand_check ("resize 2->4 HALF_PIXEL", &b, y, e_half, 4);
    builder_clear (&b);

    builder_init (&b);
    x = hand_input (&b, 1, 2, 1, in);
    y = resize (&b, x, 1, 4, DLS_RESIZE_ASYMMETRIC);
    hand_check ("resize 2->4 ASYMMETRIC", &b, y, e_asym, 4);
    builder_clear (&b);

    builder_init (&b);
    x = hand_input (&b, 1, 2, 1, in);
    y = resize (&b, x, 1, 4, DLS_RESIZE_ALIGN_CORNERS);
    hand_check ("resize 2->4 ALIGN_CORNERS", &b, y, e_align, 4);
    builder_clear (&b);
  }

  /* ALIGN_CORNERS 4x4 ramp -> 7x7: s = d * 3/6 = d / 2, so the corners
   * are the input corners and out(2y, 2x) = x[y][x]; between them plain
   * averages: out(0,1) = 0.5, out(1,1) = (0+1+4+5)/4 = 2.5, out(6,5) =
   * 14.5. Check the whole first row and a few points via the formula
   * out(y,x) = 4 (y/2) + x/2 (the ramp is linear). */
  {
    float expect[49];

    for (y = 0; y < 7; y++)
      for (w = 0; w < 7; w++)
        expect[y * 7 + w] = 2.0f * y + 0.5f * w;
    builder_init (&b);
    x = hand_input (&b, 4, 4, 1, ramp);
    id = resize (&b, x, 7, 7, DLS_RESIZE_ALIGN_CORNERS);
    hand_check ("resize 4x4->7x7 ALIGN_CORNERS endpoints", &b, id, expect, 49);
    builder_clear (&b);
  }

  /* Concat along H (axis 1) of 1x2x1 [1, 2] and 2x2x1 [3, 4, 5, 6] ->
   * 3x2: [1, 2, 3, 4, 5, 6]. Along W (axis 2) of p (2x1x2) and q (2x2x2):
   * each output row is p's row then q's row: [1, 2, 10..13, 3, 4,
   * 14..17]. */
  {
    static const float a[2] = { 1, 2 };
    static const float c[4] = { 3, 4, 5, 6 };
    static const float e_h[6] = { 1, 2, 3, 4, 5, 6 };
    static const float p[4] = { 1, 2, 3, 4 };
    static const float q[8] = { 10, 11, 12, 13, 14, 15, 16, 17 };
    static const float e_w[12] = { 1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16,
      17
    };

    hand_concat ("concat axis 1", (const int[3]) {1, 2, 1}, a,
        (const int[3]) {2, 2, 1}, c, 1, ACT_NONE, e_h, 6);
    hand_concat ("concat axis 2", (const int[3]) {2, 1, 2}, p,
        (const int[3]) {2, 2, 2}, q, 2, ACT_NONE, e_w, 12);
  }

  /* Concat along channels with a fused RELU6 (TFLite CONCATENATION's
   * fused_activation_function): 1x1x2 [-1, 7] and 1x1x3 [3, -0.5, 6.5]
   * -> [0, 6, 3, 0, 6]. */
  {
    static const float a[2] = { -1, 7 };
    static const float c[3] = { 3, -0.5f, 6.5f };
    static const float expect[5] = { 0, 6, 3, 0, 6 };

    hand_concat ("concat channels relu6", (const int[3]) {1, 1, 2}, a,
        (const int[3]) {1, 1, 3}, c, 3, ACT_RELU6, expect, 5);
  }

  /* ADD with relu6: (1, 5, -3) + (2, 4, 1) = (3, 9, -2) -> (3, 6, 0). */
  {
    static const float a[3] = { 1, 5, -3 };
    static const float c[3] = { 2, 4, 1 };
    static const float expect[3] = { 3, 6, 0 };

    builder_init (&b);
    x = hand_input (&b, 1, 1, 3, a);
    w = hand_input (&b, 1, 1, 3, c);
    y = add2 (&b, x, w, ACT_RELU6);
    hand_check ("add relu6", &b, y, expect, 3);
    builder_clear (&b);
  }
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

typedef enum
{
  K_CONV,
  K_DW,
  K_ADD,
  K_POOL,
  K_CONCAT,
  K_RESIZE,
  K_CHAIN,
  K_DWPW,
  K_BLOCKS,
  K_FOLD,
  /* ONNX ops */
  K_UNARY,
  K_MUL,
  K_MAXPOOL,
  K_SE,
  K_NEAREST,
  K_TRANSPOSE,
  K_RESHAPE,
} CaseKind;

typedef struct
{
  CaseKind kind;
  const char *tag;              /* "deeplab" for the model's own shapes */
  int h, w, c;                  /* input 0 */
  int co;                       /* CONV: output channels; DW: multiplier */
  int kh, kw;                   /* CONV/DW kernel, POOL filter */
  int stride, dil;
  DlsPadding pad;
  int pads[4];                  /* EXPLICIT: top, left, bottom, right */
  gboolean bias;
  Act act;
  int n_in, sizes[3], axis;     /* CONCAT: extents along axis */
  int oh, ow;                   /* RESIZE */
  DlsResizeCoord coord;
  DlsOpType op;                 /* UNARY */
  float alpha, beta;            /* UNARY: HARD_SIGMOID, HARD_SWISH */
  DlsNearestMode nearest;       /* NEAREST */
  int fold;                     /* FOLD: F_* variants */
  int res;                      /* DWPW: 0, + a second input (RES_INPUT),
                                 * + the block's input (RES_X) */
  int pw2;                      /* DWPW: output channels of a conv1x1
                                 * (relu6) that reads the block's output
                                 * (the next block's expansion), 0: none */
  int pw2_var;                  /* DWPW with pw2: PW2_* variants */
  /* OpenCL only: the kernels of the steps each listed node must get
   * (dls_backend_opencl_node_kernels()), "node=k1 k2;node=;..." ("" for
   * none: folded into another node or elided). */
  const char *steps;
  int again;                    /* runs more on the same inputs, whose
                                 * outputs must be the first's bit for bit */
} OpCase;

/* K_FOLD variants (build_case()) */
enum
{
  F_MAIN_FIRST = 1 << 0,        /* concat (a, r) instead of (r, a) */
  F_CAT_OUT = 1 << 1,           /* the concat is also a graph output */
  F_CAT_READ2 = 1 << 2,         /* a second conv reads the concat */
  F_TWO_BCAST = 1 << 3,         /* a second broadcast branch */
  F_TWO_MAIN = 1 << 4,          /* x concatenated too: two full inputs */
  F_RES = 1 << 5,               /* + a after the conv (a fused ADD) */
  F_IDENTITY = 1 << 6,          /* then an identity resize and a conv */
  F_NEAREST = 1 << 7,           /* the broadcast is a nearest resize */
  F_POOL_READ2 = 1 << 8,        /* a second conv1x1 reads the pool */
  F_POOL_PART = 1 << 9,         /* the pool's one pixel covers (H-1)x(W-1) */
  F_P_OUT = 1 << 10,            /* the pool's conv is an output too */
  F_POOL_ACT = 1 << 11,         /* the pool has a relu */
  F_BCAST2_CONV = 1 << 12,      /* F_TWO_BCAST's pool then a conv1x1 too */
};

#define SAME DLS_PADDING_SAME
#define VALID DLS_PADDING_VALID
/* Each macro is the field list of one case; the table wraps it in braces
 * so that a case may add fields (.tag). */
#define CONV(H, W, C, CO, K, S, D, P, B, A) \
  .kind = K_CONV, .h = H, .w = W, .c = C, .co = CO, .kh = K, .kw = K, \
  .stride = S, .dil = D, .pad = P, .bias = B, .act = A
#define CONVK(H, W, C, CO, KH, KW, S, P, B, A) \
  .kind = K_CONV, .h = H, .w = W, .c = C, .co = CO, .kh = KH, .kw = KW, \
  .stride = S, .dil = 1, .pad = P, .bias = B, .act = A
#define CONVX(H, W, C, CO, K, S, T, L, BO, R) \
  .kind = K_CONV, .h = H, .w = W, .c = C, .co = CO, .kh = K, .kw = K, \
  .stride = S, .dil = 1, .pad = DLS_PADDING_EXPLICIT, \
  .pads = { T, L, BO, R }, .bias = TRUE, .act = ACT_NONE
#define DW(H, W, C, M, K, S, D, P, B, A) \
  .kind = K_DW, .h = H, .w = W, .c = C, .co = M, .kh = K, .kw = K, \
  .stride = S, .dil = D, .pad = P, .bias = B, .act = A
#define ADD(H, W, C, A) \
  .kind = K_ADD, .h = H, .w = W, .c = C, .act = A
#define POOL(H, W, C, KH, KW, S, P, A) \
  .kind = K_POOL, .h = H, .w = W, .c = C, .kh = KH, .kw = KW, \
  .stride = S, .pad = P, .act = A
#define CAT(H, W, C, AX, N, S0, S1, S2) \
  .kind = K_CONCAT, .h = H, .w = W, .c = C, .axis = AX, .n_in = N, \
  .sizes = { S0, S1, S2 }
#define RESIZE(H, W, C, OH, OW, M) \
  .kind = K_RESIZE, .h = H, .w = W, .c = C, .oh = OH, .ow = OW, .coord = M
/* Three whole cases: one per coordinate mode. */
#define RESIZE3(H, W, C, OH, OW) \
  {RESIZE (H, W, C, OH, OW, DLS_RESIZE_ASYMMETRIC)}, \
  {RESIZE (H, W, C, OH, OW, DLS_RESIZE_ALIGN_CORNERS)}, \
  {RESIZE (H, W, C, OH, OW, DLS_RESIZE_HALF_PIXEL)}
/* A depthwise 3x3 (relu6, bias) then a conv1x1 to CO (no activation),
 * then the residual R with act A; OpenCL fuses the pair (dw_conv1x1). */
#define DWPW(H, W, C, CO, S, D, R, A) \
  .kind = K_DWPW, .h = H, .w = W, .c = C, .co = CO, .stride = S, \
  .dil = D, .res = R, .act = A
enum
{ RES_INPUT = 1, RES_X };
/* Then a conv1x1 to E channels (relu6) reading the block's output b,
 * which OpenCL runs in the dw_conv1x1 step (pw2), with variants: */
#define DWPW2(H, W, C, CO, S, D, R, A, E, V) \
  DWPW (H, W, C, CO, S, D, R, A), .pw2 = E, .pw2_var = V
enum
{
  PW2_OUT = 1 << 0,             /* b is a graph output too */
  PW2_TWO = 1 << 1,             /* a second conv1x1 reads b after it: a
                                 * step of its own */
  PW2_BETWEEN = 1 << 2,         /* first a depthwise of b and its sum with
                                 * b (an output): a buffer that dies before
                                 * the pw2 conv, which must not be the one
                                 * pw2 writes in the earlier step; the
                                 * conv's output then read by a depthwise
                                 * (not an output: a buffer from the pool) */
  PW2_NO_DW = 1 << 3,           /* no depthwise: a conv1x1 then its pw2
                                 * conv, one dw_conv1x1 step that copies
                                 * the panel's input rows (kh = 0) */
};
#define CHAIN(H, W, C, V) \
  .kind = K_CHAIN, .h = H, .w = W, .c = C, .co = V
/* MobileNetV2 blocks in a row, each dw_conv1x1 step with the next
 * expansion as its pw2, then a conv1x1 with a pointwise reader (kh = 0):
 * on the CPU one launch runs them all (build_case()); channels x M. */
#define BLOCKS(H, W, C, M) \
  .kind = K_BLOCKS, .h = H, .w = W, .c = C, .co = M
/* The ASPP image-pooling branch folded into the projection: a HxWxC
 * input, branch channels CA (full) and CP (pooled, broadcast), CO out. */
#define FOLD(H, W, C, CA, CP, CO, M, A, F) \
  .kind = K_FOLD, .h = H, .w = W, .c = C, .sizes = { CA, CP, 0 }, \
  .co = CO, .coord = M, .act = A, .fold = F
#define DEEPLAB .tag = "deeplab"
/* ONNX ops. UNARY: op (alpha, beta for the hard ones); MUL: b's extents
 * (1 = broadcast); MAXPOOL: as POOL; SE: a squeeze-excitation block. */
#define UNARY(H, W, C, OP, AL, BE, A) \
  .kind = K_UNARY, .h = H, .w = W, .c = C, .op = OP, .alpha = AL, \
  .beta = BE, .act = A
#define MUL(H, W, C, BH, BW, BC, A) \
  .kind = K_MUL, .h = H, .w = W, .c = C, .sizes = { BH, BW, BC }, .act = A, \
  .op = DLS_OP_MUL
#define ADDB(H, W, C, BH, BW, BC, A) \
  .kind = K_MUL, .h = H, .w = W, .c = C, .sizes = { BH, BW, BC }, .act = A, \
  .op = DLS_OP_ADD
#define MAXPOOL(H, W, C, KH, KW, S, P, A) \
  .kind = K_MAXPOOL, .h = H, .w = W, .c = C, .kh = KH, .kw = KW, \
  .stride = S, .pad = P, .act = A
#define NEAREST(H, W, C, OH, OW, M, NM) \
  .kind = K_NEAREST, .h = H, .w = W, .c = C, .oh = OH, .ow = OW, \
  .coord = M, .nearest = NM
#define TRANSPOSE(H, W, C, P0, P1, P2) \
  .kind = K_TRANSPOSE, .h = H, .w = W, .c = C, .sizes = { P0, P1, P2 }
#define RESHAPE(H, W, C, OH, OW, OC) \
  .kind = K_RESHAPE, .h = H, .w = W, .c = C, .sizes = { OH, OW, OC }
#define SE(H, W, C, R) \
  .kind = K_SE, .h = H, .w = W, .c = C, .co = R

static const OpCase cases[] = {
  /* conv: 1x1 and 3x3, stride 1/2, SAME/VALID, odd sizes, channel counts
   * not multiple of 4 and multiples, bias or not, every activation. */
  {CONV (1, 1, 3, 5, 1, 1, 1, SAME, TRUE, ACT_NONE)},
  {CONV (1, 1, 16, 13, 3, 1, 1, SAME, TRUE, ACT_RELU)},
  {CONV (7, 5, 5, 13, 1, 1, 1, VALID, FALSE, ACT_RELU)},
  {CONV (7, 5, 13, 21, 3, 1, 1, SAME, TRUE, ACT_RELU6)},
  {CONV (7, 5, 3, 16, 3, 2, 1, SAME, TRUE, ACT_RELU6)},
  {CONV (8, 6, 5, 16, 3, 2, 1, SAME, FALSE, ACT_NONE)},
  {CONV (7, 5, 21, 3, 3, 2, 1, VALID, TRUE, ACT_NONE)},
  {CONV (33, 33, 16, 48, 3, 1, 1, VALID, TRUE, ACT_NONE)},
  {CONV (33, 33, 21, 13, 3, 2, 1, VALID, FALSE, ACT_RELU)},
  {CONV (33, 33, 48, 96, 1, 1, 1, SAME, TRUE, ACT_RELU6)},
  {CONV (33, 33, 96, 16, 1, 1, 1, VALID, FALSE, ACT_NONE)},
  {CONV (65, 63, 5, 21, 3, 1, 1, SAME, TRUE, ACT_RELU6)},
  {CONV (65, 63, 21, 16, 1, 2, 1, SAME, TRUE, ACT_NONE)},
  /* conv1x1 after a full block of 16 channels: a last block of 8 (conv.cl's
   * narrow tile, C1_LANES) and of 9 (cp 28: 12 lanes, a full tile); tiles
   * past the last pixel */
  {CONV (13, 11, 21, 24, 1, 1, 1, SAME, TRUE, ACT_RELU6),
      .steps = "0=conv1x1"},
  {CONV (13, 11, 21, 25, 1, 1, 1, VALID, FALSE, ACT_NONE),
      .steps = "0=conv1x1"},
  {CONV (64, 62, 13, 5, 3, 2, 1, SAME, TRUE, ACT_RELU)},
  {CONV (13, 11, 48, 96, 3, 1, 2, SAME, TRUE, ACT_RELU6)},
  /* dilation 1/2/4/6/12/18 on an input larger than the dilated kernel */
  {CONV (37, 41, 5, 13, 3, 1, 1, SAME, TRUE, ACT_RELU)},
  {CONV (37, 41, 5, 13, 3, 1, 2, SAME, TRUE, ACT_RELU)},
  {CONV (37, 41, 5, 13, 3, 1, 4, SAME, TRUE, ACT_RELU)},
  {CONV (37, 41, 5, 13, 3, 1, 6, SAME, TRUE, ACT_RELU)},
  {CONV (37, 41, 5, 13, 3, 1, 12, SAME, TRUE, ACT_RELU)},
  {CONV (37, 41, 5, 13, 3, 1, 18, SAME, TRUE, ACT_RELU)},
  {CONV (37, 41, 16, 21, 3, 1, 6, VALID, FALSE, ACT_NONE)},
  {CONV (37, 41, 16, 21, 3, 1, 12, VALID, TRUE, ACT_RELU6)},
  {CONV (37, 41, 16, 21, 3, 1, 18, VALID, FALSE, ACT_NONE)},
  {CONV (37, 41, 5, 8, 3, 2, 2, SAME, TRUE, ACT_NONE)},
  /* conv2d's row path (dilation 1, every tap of a 6-pixel tile inside
   * the row): tiles ending on the row's last pixel, stride 1 and 2, an odd
   * width, channel counts that fill their vectors (no zero-weight lanes) */
  {CONV (9, 24, 8, 12, 3, 1, 1, SAME, TRUE, ACT_RELU6)},
  {CONV (11, 24, 4, 16, 3, 2, 1, SAME, TRUE, ACT_NONE)},
  {CONV (10, 31, 12, 8, 3, 2, 1, SAME, FALSE, ACT_RELU)},
  {CONV (8, 30, 16, 20, 3, 1, 1, VALID, TRUE, ACT_NONE)},
  /* non-square kernels, explicit asymmetric padding */
  {CONVK (11, 9, 5, 5, 3, 1, 1, SAME, TRUE, ACT_NONE)},
  {CONVK (11, 9, 13, 8, 1, 3, 2, SAME, FALSE, ACT_RELU)},
  {CONVX (9, 7, 5, 3, 3, 1, 0, 1, 2, 0)},
  {CONVX (9, 7, 16, 21, 3, 2, 2, 0, 0, 1)},

  /* depthwise 3x3: dilation 1/2/4/6/12/18, stride 1/2, multiplier 1/2 */
  {DW (1, 1, 16, 1, 3, 1, 1, SAME, TRUE, ACT_NONE)},
  {DW (7, 5, 5, 1, 3, 1, 1, SAME, TRUE, ACT_RELU6)},
  {DW (7, 5, 5, 2, 3, 1, 1, SAME, FALSE, ACT_NONE)},
  {DW (7, 5, 13, 1, 3, 2, 1, SAME, TRUE, ACT_RELU)},
  {DW (8, 6, 3, 2, 3, 2, 1, SAME, TRUE, ACT_NONE)},
  {DW (33, 33, 16, 1, 3, 2, 1, SAME, TRUE, ACT_RELU6)},
  {DW (33, 33, 21, 2, 3, 2, 1, VALID, FALSE, ACT_NONE)},
  {DW (37, 41, 13, 1, 3, 1, 1, SAME, TRUE, ACT_RELU6)},
  {DW (37, 41, 13, 1, 3, 1, 2, SAME, TRUE, ACT_RELU6)},
  {DW (37, 41, 13, 1, 3, 1, 4, SAME, TRUE, ACT_RELU6)},
  {DW (37, 41, 13, 1, 3, 1, 6, SAME, TRUE, ACT_RELU6)},
  {DW (37, 41, 13, 1, 3, 1, 12, SAME, TRUE, ACT_RELU6)},
  {DW (37, 41, 13, 1, 3, 1, 18, SAME, TRUE, ACT_RELU6)},
  {DW (37, 41, 5, 2, 3, 1, 2, SAME, FALSE, ACT_RELU)},
  {DW (37, 41, 5, 2, 3, 1, 18, SAME, TRUE, ACT_NONE)},
  {DW (37, 41, 21, 2, 3, 1, 6, VALID, TRUE, ACT_NONE)},
  {DW (37, 41, 21, 1, 3, 1, 18, VALID, FALSE, ACT_NONE)},
  {DW (37, 41, 16, 1, 3, 2, 4, SAME, TRUE, ACT_RELU6)},
  {DW (13, 11, 96, 1, 3, 1, 2, SAME, TRUE, ACT_RELU6)},
  {DW (65, 63, 48, 1, 3, 2, 1, SAME, TRUE, ACT_RELU6)},

  /* add */
  {ADD (1, 1, 3, ACT_RELU)},
  {ADD (7, 5, 13, ACT_RELU6)},
  {ADD (33, 33, 16, ACT_NONE)},
  {ADD (65, 63, 21, ACT_NONE)},

  /* average pool: global (filter = input, VALID) and 3x3 SAME stride 2 */
  {POOL (33, 33, 21, 33, 33, 33, VALID, ACT_NONE)},
  {POOL (7, 5, 13, 7, 5, 1, VALID, ACT_RELU)},
  {POOL (33, 33, 16, 3, 3, 2, SAME, ACT_NONE)},
  {POOL (8, 6, 5, 3, 3, 2, SAME, ACT_RELU6)},
  {POOL (7, 5, 13, 3, 3, 1, SAME, ACT_NONE)},
  {POOL (7, 5, 3, 2, 2, 2, VALID, ACT_NONE)},

  /* concat: channels (2 and 3 inputs), H, W */
  {CAT (7, 5, 0, 3, 2, 5, 16, 0)},
  {CAT (33, 33, 0, 3, 3, 5, 16, 3)},
  {CAT (0, 5, 3, 1, 3, 2, 5, 1)},
  {CAT (7, 0, 13, 2, 2, 3, 4, 0)},
  /* with a fused activation (TFLite CONCATENATION's) */
  {CAT (7, 5, 0, 3, 3, 5, 16, 3), .act = ACT_RELU},
  {CAT (0, 5, 3, 1, 2, 2, 5, 0), .act = ACT_RELU6},

  /* resize bilinear, each in the three coordinate modes */
  RESIZE3 (1, 1, 16, 33, 33),
  RESIZE3 (33, 33, 21, 257, 257),
  /* to its own size: the identity, no step on OpenCL */
  {RESIZE (33, 33, 13, 33, 33, DLS_RESIZE_ASYMMETRIC), .steps = "0="},
  {RESIZE (33, 33, 13, 33, 33, DLS_RESIZE_ALIGN_CORNERS), .steps = "0="},
  {RESIZE (33, 33, 13, 33, 33, DLS_RESIZE_HALF_PIXEL), .steps = "0="},
  RESIZE3 (7, 5, 5, 13, 11),
  RESIZE3 (13, 11, 3, 7, 5),
  RESIZE3 (17, 17, 8, 34, 34),
  /* cp 12 (a whole and a half step of 8 channels), a row of whole runs
   * of pixels (RSP 8) */
  RESIZE3 (5, 3, 9, 9, 16),

  /* DeepLabV3 MobileNetV2 (shared model): its own shapes and options */
  {CONV (257, 257, 3, 16, 3, 2, 1, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {DW (129, 129, 16, 1, 3, 1, 1, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {CONV (129, 129, 16, 8, 1, 1, 1, SAME, TRUE, ACT_NONE), DEEPLAB},
  {DW (129, 129, 48, 1, 3, 2, 1, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {DW (65, 65, 72, 1, 3, 2, 1, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {ADD (65, 65, 12, ACT_NONE), DEEPLAB},
  {DW (33, 33, 288, 1, 3, 1, 2, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {DW (33, 33, 480, 1, 3, 1, 4, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {CONV (33, 33, 80, 480, 1, 1, 1, SAME, TRUE, ACT_RELU6), DEEPLAB},
  {CONV (33, 33, 480, 160, 1, 1, 1, SAME, TRUE, ACT_NONE), DEEPLAB},
  {POOL (33, 33, 160, 33, 33, 33, VALID, ACT_NONE), DEEPLAB},
  {CONV (1, 1, 160, 256, 1, 1, 1, SAME, TRUE, ACT_RELU), DEEPLAB},
  {RESIZE (1, 1, 256, 33, 33, DLS_RESIZE_ALIGN_CORNERS), DEEPLAB},
  {CAT (33, 33, 0, 3, 2, 256, 256, 0), DEEPLAB},
  {CONV (33, 33, 512, 256, 1, 1, 1, SAME, TRUE, ACT_RELU), DEEPLAB},
  {CONV (33, 33, 256, 21, 1, 1, 1, SAME, TRUE, ACT_NONE), DEEPLAB},
  {RESIZE (33, 33, 21, 257, 257, DLS_RESIZE_ALIGN_CORNERS), DEEPLAB},

  /* chains: intermediate buffers, multiple outputs; in the first, the
   * head's conv1x1 of d (node 7) runs in the block's dw_conv1x1 step
   * (pw2), before the pool, conv and resize between them (DeepLab's
   * node 60 and its ASPP 1x1 branch), and those three are one
   * pool_conv1x1 step (DeepLab's nodes 61-63) */
  {CHAIN (17, 17, 13, 0),
      .steps = "1=;2=dw_conv1x1;3=;4=;5=pool_conv1x1;6=;7=;8=;9=conv1x1"},
  {CHAIN (33, 31, 16, 1)},
  {CHAIN (15, 13, 9, 2),
      .steps = "1=;2=conv2d;3=dw_conv1x1;4=;5=pool_conv1x1"},
  /* dw_conv1x1 steps in a row: one launch (conv.cl's step table), a
   * '+' on the steps it runs after the first */
  {BLOCKS (23, 21, 5, 1), .again = 3,
      .steps = "0=conv1x1;2=dw_conv1x1;3=;5=+dw_conv1x1;6=;8=+dw_conv1x1;"
        "9=;10=;12=+dw_conv1x1;13=;14=+dw_conv1x1;15="},
  {BLOCKS (65, 65, 8, 4), .again = 8,
      .steps = "0=conv1x1;2=dw_conv1x1;5=+dw_conv1x1;8=+dw_conv1x1;"
        "12=+dw_conv1x1"},
  {BLOCKS (37, 35, 8, 1), .again = 3,
      .steps = "0=conv1x1;2=dw_conv1x1;5=+dw_conv1x1;8=+dw_conv1x1;"
        "12=+dw_conv1x1;14=+dw_conv1x1"},

  /* depthwise + conv1x1 fused (opencl.c, find_fusions(); conv.cl,
   * dw_conv1x1, panels of 42 pixels on the CPU): panels that end inside a
   * row and an edge panel (13x11), an image smaller than a panel,
   * channels that are not a multiple of the depthwise's 16 (21 -> cp 24)
   * nor of 4 (13), stride 2, the model's dilations, the ADD fused too
   * (the residual a second input or the depthwise's input); a panel
   * (16384 channels: 2.6 MB) larger than the local memory falls back to
   * the two kernels. */
  {DWPW (13, 11, 21, 10, 1, 1, 0, ACT_NONE), .steps = "0=;1=dw_conv1x1"},
  {DWPW (5, 3, 8, 20, 1, 1, 0, ACT_NONE), .steps = "0=;1=dw_conv1x1"},
  {DWPW (17, 17, 13, 24, 2, 1, RES_INPUT, ACT_RELU),
      .steps = "0=;1=dw_conv1x1;2="},
  {DWPW (33, 33, 40, 40, 1, 2, RES_X, ACT_NONE),
      .steps = "0=;1=dw_conv1x1;2="},
  {DWPW (33, 33, 96, 16, 1, 4, 0, ACT_NONE), .steps = "0=;1=dw_conv1x1"},
  {DWPW (65, 65, 72, 12, 2, 1, RES_INPUT, ACT_RELU6),
      .steps = "0=;1=dw_conv1x1;2="},
  {DWPW (2, 3, 16384, 8, 1, 1, 0, ACT_NONE),
      .steps = "0=depthwise;1=conv1x1"},
  {DWPW (2, 3, 16384, 8, 1, 1, RES_INPUT, ACT_NONE),
      .steps = "0=depthwise;1=conv1x1;2="},
  /* and the conv1x1 that reads the pair's output (the next block's
   * expansion, relu6) run in the same step (pw2, over each panel after
   * the projection): the same edges, odd channels (10 -> cp 12 read by
   * pw2, pw2's 13 -> cp 16), stride 2, dilation, the residual (pw2
   * reads the sum), the model's 33x33x12 -> 72; the block's output an
   * output too; a second reader (a step of its own); a buffer that dies
   * between the step and the pw2 conv's node; no fusion at all where the
   * panel does not fit. */
  {DWPW2 (13, 11, 21, 10, 1, 1, 0, ACT_NONE, 13, 0),
      .steps = "0=;1=dw_conv1x1;2="},
  {DWPW2 (5, 3, 8, 20, 1, 1, 0, ACT_NONE, 7, 0),
      .steps = "0=;1=dw_conv1x1;2="},
  {DWPW2 (17, 17, 13, 24, 2, 1, RES_INPUT, ACT_RELU, 21, 0),
      .steps = "0=;1=dw_conv1x1;2=;3="},
  {DWPW2 (33, 33, 40, 40, 1, 2, RES_X, ACT_NONE, 96, PW2_OUT),
      .steps = "0=;1=dw_conv1x1;2=;3="},
  {DWPW2 (65, 65, 72, 12, 2, 1, RES_INPUT, ACT_RELU6, 72, 0),
      .steps = "0=;1=dw_conv1x1;2=;3="},
  {DWPW2 (33, 33, 96, 16, 1, 4, 0, ACT_NONE, 96, PW2_OUT | PW2_TWO),
      .steps = "0=;1=dw_conv1x1;2=;3=conv1x1"},
  {DWPW2 (17, 15, 24, 24, 1, 1, RES_X, ACT_NONE, 16, PW2_BETWEEN),
      .steps = "0=;1=dw_conv1x1;2=;3=depthwise;4=add;5=;6=depthwise"},
  {DWPW2 (2, 3, 16384, 8, 1, 1, 0, ACT_NONE, 5, 0),
      .steps = "0=depthwise;1=conv1x1;2=conv1x1"},
  /* a conv1x1 and its pointwise reader in one step too (DeepLab's ASPP
   * projection and logits), the input rows copied into the panel: the
   * same edges, odd channels, the residual, the conv an output too, a
   * second reader; no fusion where the panel does not fit */
  {DWPW2 (13, 11, 21, 10, 1, 1, 0, ACT_NONE, 13, PW2_NO_DW),
      .steps = "0=dw_conv1x1;1="},
  {DWPW2 (5, 3, 8, 20, 1, 1, 0, ACT_NONE, 7, PW2_NO_DW),
      .steps = "0=dw_conv1x1;1="},
  {DWPW2 (17, 17, 13, 13, 1, 1, RES_X, ACT_RELU, 21, PW2_NO_DW),
      .steps = "0=dw_conv1x1;1=;2="},
  {DWPW2 (33, 33, 256, 21, 1, 1, 0, ACT_NONE, 96, PW2_NO_DW | PW2_OUT),
      .steps = "0=dw_conv1x1;1="},
  {DWPW2 (33, 33, 96, 16, 1, 1, RES_INPUT, ACT_NONE, 96,
          PW2_NO_DW | PW2_TWO), .steps = "0=dw_conv1x1;1=;2=;3=conv1x1"},
  {DWPW2 (2, 3, 16384, 8, 1, 1, 0, ACT_NONE, 5, PW2_NO_DW),
      .steps = "0=conv1x1;1=conv1x1"},

  /* ASPP image pooling folded into the projection (opencl.c,
   * find_fusions()): the resize's bias stage (a 1-pixel conv1x1 writing
   * the projection's bias) runs with the global pool and its conv in one
   * pool_conv1x1 step, the concat goes; both concat orders, channel
   * counts that pad, every coordinate mode and activation */
#define POOLED "1=;2=pool_conv1x1;3=;4=;5=conv1x1"
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_NONE, 0),
      .steps = POOLED},
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_ASYMMETRIC, ACT_RELU,
          F_MAIN_FIRST), .steps = POOLED},
  {FOLD (9, 11, 5, 13, 21, 6, DLS_RESIZE_HALF_PIXEL, ACT_RELU6, 0),
      .steps = POOLED},
  {FOLD (9, 11, 5, 13, 21, 6, DLS_RESIZE_HALF_PIXEL, ACT_RELU6,
          F_MAIN_FIRST), .steps = POOLED},
  {FOLD (7, 5, 3, 13, 5, 21, DLS_RESIZE_HALF_PIXEL, ACT_NONE,
          F_NEAREST | F_MAIN_FIRST), .steps = POOLED},
  /* the pool's own clamp; 100 channels: the pool's passes of 64, the
   * last a whole and a partial float16 (36 = 16 + 16 + 4) */
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU6,
          F_POOL_ACT), .steps = POOLED},
  {FOLD (9, 7, 100, 13, 21, 6, DLS_RESIZE_HALF_PIXEL, ACT_RELU,
          F_MAIN_FIRST), .steps = POOLED},
  /* two broadcast branches: two bias stages in a chain; the second's
   * 1x1 would take the first's buffer if that died at its resize; the
   * second's pool (then a conv1x1 too, its own pool_conv1x1 step) keeps
   * its bias stage as a step: only the first stage runs in a
   * pool_conv1x1 step */
  {FOLD (9, 7, 3, 7, 13, 21, DLS_RESIZE_ASYMMETRIC, ACT_RELU, F_TWO_BCAST),
      .steps = "1=;2=pool_conv1x1;3=;4=pool;5=conv1x1;6=;7=conv1x1"},
  {FOLD (9, 7, 3, 7, 13, 21, DLS_RESIZE_ASYMMETRIC, ACT_RELU,
          F_TWO_BCAST | F_BCAST2_CONV),
      .steps = "1=;2=pool_conv1x1;3=;4=;5=pool_conv1x1;6=conv1x1;7=;8=conv1x1"},
  {FOLD (9, 7, 3, 7, 13, 21, DLS_RESIZE_HALF_PIXEL, ACT_RELU6,
          F_TWO_BCAST | F_BCAST2_CONV | F_MAIN_FIRST),
      .steps = "1=;2=pool_conv1x1;3=;4=;5=pool_conv1x1;6=conv1x1;7=;8=conv1x1"},
  /* with a residual ADD fused into the projection too */
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU, F_RES),
      .steps = POOLED ";6="},
  /* no pool_conv1x1: the pool read by a second conv; a pool whose one
   * pixel does not cover the input; the pool's conv read by a second
   * node (an output): the pool and conv fused, the bias stage a step */
  {FOLD (9, 7, 5, 13, 7, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU,
          F_POOL_READ2), .steps = "1=pool;2=conv1x1;3=conv1x1;4=;5=conv1x1"},
  {FOLD (9, 7, 5, 13, 7, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU,
          F_POOL_PART), .steps = "1=pool;2=conv1x1;3=conv1x1;4=;5=conv1x1"},
  {FOLD (9, 7, 5, 13, 7, 21, DLS_RESIZE_ASYMMETRIC, ACT_RELU, F_P_OUT),
      .steps = "1=;2=pool_conv1x1;3=conv1x1;4=;5=conv1x1"},
  /* not folded: two full inputs; the concat also an output; the concat
   * read by a second conv (the pool and conv still one step) */
  {FOLD (9, 7, 5, 13, 7, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU,
          F_TWO_MAIN),
      .steps = "1=;2=pool_conv1x1;3=resize_bilinear;"
      "4=copy_block copy_block copy_block"},
  {FOLD (9, 7, 5, 13, 7, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU, F_CAT_OUT),
      .steps = "1=;2=pool_conv1x1;3=resize_bilinear;4=copy_block copy_block;"
      "5=conv1x1"},
  {FOLD (9, 7, 5, 13, 7, 21, DLS_RESIZE_HALF_PIXEL, ACT_NONE, F_CAT_READ2),
      .steps = "1=;2=pool_conv1x1;3=resize_bilinear;4=copy_block copy_block;"
      "5=conv1x1"},
  /* then an identity resize (DeepLab's 33x33 -> 33x33 before the
   * upsample) whose input is an output too, read by a conv: the
   * projection and that conv one dw_conv1x1 step without a depthwise */
#define POOLED_PW2 "1=;2=pool_conv1x1;3=;4=;5=dw_conv1x1;6=;7="
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU,
          F_IDENTITY), .steps = POOLED_PW2},
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_ASYMMETRIC, ACT_NONE,
          F_IDENTITY | F_MAIN_FIRST), .steps = POOLED_PW2},
  {FOLD (17, 15, 13, 21, 13, 21, DLS_RESIZE_HALF_PIXEL, ACT_RELU6,
          F_IDENTITY), .steps = POOLED_PW2},
  /* DeepLab's own head: 160 channels in, 256 + 256 -> 256; pool, conv
   * and bias stage one step */
  {FOLD (33, 33, 160, 256, 256, 256, DLS_RESIZE_ALIGN_CORNERS, ACT_RELU, 0),
      .steps = POOLED, DEEPLAB},
#undef POOLED
#undef POOLED_PW2

  /* ONNX ops: activations (ONNX defaults and other alpha/beta), odd sizes,
   * channels not multiple of 4 */
  {UNARY (7, 5, 13, DLS_OP_HARD_SIGMOID, 0.2f, 0.5f, ACT_NONE)},
  {UNARY (33, 31, 16, DLS_OP_HARD_SIGMOID, 1.0f / 6.0f, 0.5f, ACT_NONE)},
  {UNARY (1, 1, 3, DLS_OP_HARD_SIGMOID, 0.5f, 0.6f, ACT_NONE)},
  {UNARY (7, 5, 13, DLS_OP_HARD_SWISH, 1.0f / 6.0f, 0.5f, ACT_NONE)},
  {UNARY (33, 31, 21, DLS_OP_HARD_SWISH, 1.0f / 6.0f, 0.5f, ACT_RELU6)},
  {UNARY (7, 5, 13, DLS_OP_SIGMOID, 0, 0, ACT_NONE)},
  {UNARY (65, 63, 5, DLS_OP_SIGMOID, 0, 0, ACT_NONE)},
  {UNARY (7, 5, 13, DLS_OP_SOFTMAX, 0, 0, ACT_NONE)},
  {UNARY (33, 31, 21, DLS_OP_SOFTMAX, 0, 0, ACT_NONE)},
  {UNARY (9, 7, 1, DLS_OP_SOFTMAX, 0, 0, ACT_NONE)},
  {UNARY (7, 5, 13, DLS_OP_ARGMAX, 0, 0, ACT_NONE)},
  {UNARY (33, 31, 21, DLS_OP_ARGMAX, 0, 0, ACT_NONE)},
  {UNARY (9, 7, 1, DLS_OP_ARGMAX, 0, 0, ACT_NONE)},
  /* mul: same shape, SE scale {1,1,C}, per-pixel {H,W,1}, a row, a scalar */
  {MUL (7, 5, 13, 7, 5, 13, ACT_NONE)},
  {MUL (33, 31, 21, 1, 1, 21, ACT_NONE)},
  {MUL (17, 19, 16, 1, 1, 16, ACT_RELU)},
  {MUL (7, 5, 13, 7, 5, 1, ACT_NONE)},
  {MUL (7, 5, 6, 1, 5, 6, ACT_RELU6)},
  {MUL (9, 7, 3, 1, 1, 1, ACT_NONE)},
  /* add with a broadcast operand (ONNX) */
  {ADDB (33, 31, 21, 1, 1, 21, ACT_NONE)},
  {ADDB (7, 5, 13, 7, 5, 1, ACT_RELU)},
  {ADDB (7, 5, 6, 1, 5, 6, ACT_RELU6)},
  {ADDB (9, 7, 3, 1, 1, 1, ACT_NONE)},
  /* max pool: 3x3 s2 SAME (ResNet stem), 2x2 s2 VALID, global, 3x3 s1 */
  {MAXPOOL (33, 31, 16, 3, 3, 2, SAME, ACT_NONE)},
  {MAXPOOL (8, 6, 5, 2, 2, 2, VALID, ACT_NONE)},
  {MAXPOOL (7, 5, 13, 7, 5, 1, VALID, ACT_RELU)},
  {MAXPOOL (7, 5, 13, 3, 3, 1, SAME, ACT_RELU6)},
  /* nearest resize: up and down, odd sizes, every coordinate and rounding
   * mode */
  {NEAREST (7, 5, 13, 14, 15, DLS_RESIZE_ASYMMETRIC, DLS_NEAREST_FLOOR)},
  {NEAREST (13, 11, 5, 7, 5, DLS_RESIZE_ASYMMETRIC, DLS_NEAREST_CEIL)},
  {NEAREST (7, 5, 13, 13, 11, DLS_RESIZE_HALF_PIXEL,
          DLS_NEAREST_ROUND_PREFER_FLOOR)},
  {NEAREST (7, 5, 13, 13, 11, DLS_RESIZE_HALF_PIXEL,
          DLS_NEAREST_ROUND_PREFER_CEIL)},
  {NEAREST (13, 11, 5, 7, 5, DLS_RESIZE_ALIGN_CORNERS,
          DLS_NEAREST_ROUND_PREFER_FLOOR)},
  {NEAREST (33, 33, 21, 257, 257, DLS_RESIZE_HALF_PIXEL,
          DLS_NEAREST_ROUND_PREFER_FLOOR)},
  /* transpose (every permutation) and reshape (channel padding changes) */
  {TRANSPOSE (7, 5, 13, 1, 2, 3)},
  {TRANSPOSE (7, 5, 13, 1, 3, 2)},
  {TRANSPOSE (7, 5, 13, 2, 1, 3)},
  {TRANSPOSE (7, 5, 13, 2, 3, 1)},
  {TRANSPOSE (7, 5, 13, 3, 1, 2)},
  {TRANSPOSE (7, 5, 13, 3, 2, 1)},
  {TRANSPOSE (1, 1, 21, 3, 1, 2)},
  {RESHAPE (7, 5, 13, 1, 1, 455)},
  {RESHAPE (7, 5, 6, 3, 5, 14)},
  {RESHAPE (1, 1, 24, 2, 3, 4)},
  {RESHAPE (9, 7, 3, 1, 9, 21)},
  /* squeeze-excitation: GAP, 1x1 relu, 1x1, hard sigmoid, mul, hard swish */
  {SE (17, 15, 24, 8)},
  {SE (9, 11, 13, 4)},
};

/* The ONNX op cases of build_case(); returns the output tensor. */
static int
unary (Builder * b, int x, DlsOpType op, float alpha, float beta, Act act)
{
  DlsNode n;

  dls_node_init (&n, op);
  n.inputs[0] = x;
  n.n_inputs = 1;
  if (op == DLS_OP_HARD_SIGMOID || op == DLS_OP_HARD_SWISH) {
    n.p.unary.alpha = alpha;
    n.p.unary.beta = beta;
  }
  set_act (&n, act);
  return add_node (b, &n, op == DLS_OP_ARGMAX ? 1 : chans_of (b, x));
}

static int
nearest (Builder * b, int x, int oh, int ow, DlsResizeCoord coord,
    DlsNearestMode mode)
{
  DlsNode n;

  dls_node_init (&n, DLS_OP_RESIZE_NEAREST);
  n.inputs[0] = x;
  n.n_inputs = 1;
  n.p.resize.out_h = oh;
  n.p.resize.out_w = ow;
  n.p.resize.coord = coord;
  n.p.resize.nearest = mode;
  return add_node (b, &n, chans_of (b, x));
}

static int
build_onnx_case (const OpCase * c, Builder * b, GString * desc)
{
  static const char *const pads[] = { "EXPLICIT", "SAME", "VALID" };
  int x = add_input (b, c->h, c->w, c->c), y = -1;

  switch (c->kind) {
    case K_UNARY:
      y = unary (b, x, c->op, c->alpha, c->beta, c->act);
      g_string_append_printf (desc, "%-9s %dx%dx%d a%.4g b%.4g %s",
          c->op == DLS_OP_SIGMOID ? "sigmoid" : c->op == DLS_OP_HARD_SWISH ?
          "hswish" : c->op == DLS_OP_SOFTMAX ? "softmax" :
          c->op == DLS_OP_ARGMAX ? "argmax" : "hsigmoid", c->h, c->w, c->c,
          c->alpha, c->beta,
          act_names[c->act]);
      break;
    case K_MUL:
      y = binary (b, c->op, x, add_input (b, c->sizes[0], c->sizes[1],
              c->sizes[2]), c->act);
      g_string_append_printf (desc, "%s       %dx%dx%d %c %dx%dx%d %s",
          c->op == DLS_OP_MUL ? "mul" : "add", c->h, c->w, c->c,
          c->op == DLS_OP_MUL ? '*' : '+', c->sizes[0], c->sizes[1],
          c->sizes[2], act_names[c->act]);
      break;
    case K_MAXPOOL:{
      DlsNode n;

      dls_node_init (&n, DLS_OP_MAX_POOL2D);
      n.inputs[0] = x;
      n.n_inputs = 1;
      n.p.win.kernel_h = c->kh;
      n.p.win.kernel_w = c->kw;
      n.p.win.stride_h = n.p.win.stride_w = c->stride;
      n.p.win.padding = c->pad;
      set_act (&n, c->act);
      y = add_node (b, &n, c->c);
      g_string_append_printf (desc, "maxpool   %dx%dx%d  f%dx%d s%d %s %s",
          c->h, c->w, c->c, c->kh, c->kw, c->stride, pads[c->pad],
          act_names[c->act]);
      break;
    }
    case K_NEAREST:{
      static const char *const coords[] = { "asym", "align", "half" };
      static const char *const modes[] = { "round-floor", "round-ceil",
        "floor", "ceil"
      };

      y = nearest (b, x, c->oh, c->ow, c->coord, c->nearest);
      g_string_append_printf (desc, "nearest   %dx%dx%d -> %dx%d %s %s",
          c->h, c->w, c->c, c->oh, c->ow, coords[c->coord],
          modes[c->nearest]);
      break;
    }
    case K_TRANSPOSE:
    case K_RESHAPE:{
      DlsNode n;
      int oc = c->sizes[2];

      dls_node_init (&n, c->kind == K_TRANSPOSE ? DLS_OP_TRANSPOSE :
          DLS_OP_RESHAPE);
      n.inputs[0] = x;
      n.n_inputs = 1;
      if (c->kind == K_TRANSPOSE) {
        int d[4] = { 1, c->h, c->w, c->c };
        memcpy (n.p.transpose.perm, c->sizes, sizeof (int) * 3);
        oc = d[c->sizes[2]];
      } else {
        memcpy (n.p.reshape.dims, c->sizes, sizeof (int) * 3);
      }
      y = add_node (b, &n, oc);
      g_string_append_printf (desc, "%s %dx%dx%d %s(%d,%d,%d)",
          c->kind == K_TRANSPOSE ? "transpose" : "reshape  ", c->h, c->w,
          c->c, c->kind == K_TRANSPOSE ? "perm " : "to ", c->sizes[0],
          c->sizes[1], c->sizes[2]);
      break;
    }
    default:{                  /* K_SE */
      int s = avgpool (b, x, c->h, c->w, 1, VALID, ACT_NONE);

      s = conv (b, s, c->co, 1, 1, 1, 1, SAME, TRUE, ACT_RELU);
      s = conv (b, s, c->c, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
      s = unary (b, s, DLS_OP_HARD_SIGMOID, 1.0f / 6.0f, 0.5f, ACT_NONE);
      y = binary (b, DLS_OP_MUL, x, s, ACT_NONE);
      y = unary (b, y, DLS_OP_HARD_SWISH, 1.0f / 6.0f, 0.5f, ACT_NONE);
      g_string_append_printf (desc, "se-block  %dx%dx%d squeeze %d, hsigmoid "
          "scale, hswish", c->h, c->w, c->c, c->co);
      break;
    }
  }
  return y;
}

/* The ONNX ops' reference against values worked out by hand. */
static void
hand_tests_onnx (void)
{
  static const float v[6] = { -4, -3, 0, 1.5f, 3, 4 };
  /* hard swish x * clamp (x / 6 + 0.5, 0, 1): x <= -3 gives 0, x >= 3
   * gives x, 1.5 * (0.25 + 0.5) = 1.125. */
  static const float e_hswish[6] = { 0, 0, 0, 1.125f, 3, 4 };
  /* hard sigmoid, ONNX defaults 0.2 x + 0.5: 0, 0, 0.5, 0.8, 1, 1 */
  static const float e_hsig[6] = { 0, 0, 0.5f, 0.8f, 1, 1 };
  /* sigmoid (0) = 0.5, sigmoid (-x) = 1 - sigmoid (x) */
  static const float e_sig[6] = { 0.0179862100f, 0.0474258732f, 0.5f,
    0.817574476f, 0.952574127f, 0.982013790f
  };
  /* mul 2x1x3 by a {1,1,3} scale (SE): rows scaled channel by channel */
  static const float m[6] = { 1, 2, 3, 4, 5, 6 }, sc[3] = { 2, -1, 0.5f };
  static const float e_mul[6] = { 2, -2, 1.5f, 8, -5, 3 };
  /* max pool 2x2 stride 2 SAME on a 3x3 ramp 0..8: windows {0,1,3,4},
   * {2,5}, {6,7}, {8}: padding never wins even where all taps are < 0
   * (ramp - 10). */
  static const float r[9] = { -10, -9, -8, -7, -6, -5, -4, -3, -2 };
  static const float e_max[4] = { -6, -5, -3, -2 };
  /* softmax of (0, ln 2, ln 3) and of the same + 1000 (no overflow):
   * (1, 2, 3) / 6 */
  static const float sm[6] = { 0, 0.693147181f, 1.09861229f, 1000,
    1000.69315f, 1001.09861f
  };
  static const float e_sm[6] = { 1 / 6.0f, 2 / 6.0f, 3 / 6.0f, 1 / 6.0f,
    2 / 6.0f, 3 / 6.0f
  };
  Builder b;
  int x, y;

  /* nearest 1x2 -> 1x3, half pixel: s = (d + 0.5) * 2/3 - 0.5 = -1/6,
   * 1/2, 7/6: halves down (a, a, b), halves up (a, b, b) */
  {
    static const float ab[2] = { 10, 20 };
    static const float e_floor[3] = { 10, 10, 20 }, e_ceil[3] = { 10, 20, 20 };

    builder_init (&b);
    x = hand_input (&b, 1, 2, 1, ab);
    y = nearest (&b, x, 1, 3, DLS_RESIZE_HALF_PIXEL,
        DLS_NEAREST_ROUND_PREFER_FLOOR);
    hand_check ("nearest half pixel, halves down", &b, y, e_floor, 3);
    builder_clear (&b);
    builder_init (&b);
    x = hand_input (&b, 1, 2, 1, ab);
    y = nearest (&b, x, 1, 3, DLS_RESIZE_HALF_PIXEL,
        DLS_NEAREST_ROUND_PREFER_CEIL);
    hand_check ("nearest half pixel, halves up", &b, y, e_ceil, 3);
    builder_clear (&b);
  }

  /* transpose 1x2x3 (W = 2, C = 3) with perm (H, C, W): out[0,c,w] =
   * in[0,w,c]: 0 1 2 / 3 4 5 -> 0 3 / 1 4 / 2 5 */
  {
    static const float t[6] = { 0, 1, 2, 3, 4, 5 };
    static const float e_t[6] = { 0, 3, 1, 4, 2, 5 };
    DlsNode n;

    builder_init (&b);
    x = hand_input (&b, 1, 2, 3, t);
    dls_node_init (&n, DLS_OP_TRANSPOSE);
    n.inputs[0] = x;
    n.n_inputs = 1;
    n.p.transpose.perm[0] = 1;
    n.p.transpose.perm[1] = 3;
    n.p.transpose.perm[2] = 2;
    y = add_node (&b, &n, 2);
    hand_check ("transpose (H, C, W)", &b, y, e_t, 6);
    builder_clear (&b);
  }

  /* argmax of (1, 3, 3) and (-1, -5, -2): ties to the lowest, or the
   * highest with select_last */
  {
    static const float am[6] = { 1, 3, 3, -1, -5, -2 };
    static const float e_first[2] = { 1, 0 }, e_last[2] = { 2, 0 };
    DlsNode n;

    builder_init (&b);
    x = hand_input (&b, 2, 1, 3, am);
    y = unary (&b, x, DLS_OP_ARGMAX, 0, 0, ACT_NONE);
    hand_check ("argmax, ties to the first", &b, y, e_first, 2);
    builder_clear (&b);

    builder_init (&b);
    x = hand_input (&b, 2, 1, 3, am);
    dls_node_init (&n, DLS_OP_ARGMAX);
    n.inputs[0] = x;
    n.n_inputs = 1;
    n.p.argmax.select_last = TRUE;
    y = add_node (&b, &n, 1);
    hand_check ("argmax select_last", &b, y, e_last, 2);
    builder_clear (&b);
  }

  {
    /* one-input ops on 6 values: name, op, alpha, beta, h, w, c, in, out */
    static const struct
    {
      const char *what;
      DlsOpType op;
      float alpha, beta;
      int h, w, c;
      const float *in, *expect;
    } un[] = {
      {"softmax per pixel, large values", DLS_OP_SOFTMAX, 0, 0, 2, 1, 3,
          sm, e_sm},
      {"hard swish", DLS_OP_HARD_SWISH, 1.0f / 6.0f, 0.5f, 1, 1, 6, v,
          e_hswish},
      {"hard sigmoid (0.2, 0.5)", DLS_OP_HARD_SIGMOID, 0.2f, 0.5f, 1, 1, 6,
          v, e_hsig},
      {"sigmoid", DLS_OP_SIGMOID, 0, 0, 1, 1, 6, v, e_sig},
    };

    for (guint k = 0; k < G_N_ELEMENTS (un); k++) {
      builder_init (&b);
      x = hand_input (&b, un[k].h, un[k].w, un[k].c, un[k].in);
      y = unary (&b, x, un[k].op, un[k].alpha, un[k].beta, ACT_NONE);
      hand_check (un[k].what, &b, y, un[k].expect, 6);
      builder_clear (&b);
    }
  }

  builder_init (&b);
  x = hand_input (&b, 2, 1, 3, m);
  y = binary (&b, DLS_OP_MUL, x, hand_input (&b, 1, 1, 3, sc), ACT_NONE);
  hand_check ("mul, per-channel broadcast", &b, y, e_mul, 6);
  builder_clear (&b);

  builder_init (&b);
  {
    DlsNode n;

    x = hand_input (&b, 3, 3, 1, r);
    dls_node_init (&n, DLS_OP_MAX_POOL2D);
    n.inputs[0] = x;
    n.n_inputs = 1;
    n.p.win.kernel_h = n.p.win.kernel_w = 2;
    n.p.win.stride_h = n.p.win.stride_w = 2;
    n.p.win.padding = SAME;
    y = add_node (&b, &n, 1);
  }
  hand_check ("max pool 2x2 s2 SAME, negative values", &b, y, e_max, 4);
  builder_clear (&b);
}

/* Builds the graph of @c into @b (with its inputs); writes a description
 * (op, input shape -> output shape, params) into @desc. */
static void
build_case (const OpCase * c, Builder * b, GString * desc)
{
  int x, y = -1;
  const char *pad = c->pad == SAME ? "SAME" :
      c->pad == VALID ? "VALID" : "EXPLICIT";
  static const char *const coords[] = { "asym", "align", "half" };

  switch (c->kind) {
    case K_CONV:
      x = add_input (b, c->h, c->w, c->c);
      y = conv (b, x, c->co, c->kh, c->kw, c->stride, c->dil, c->pad,
          c->bias, c->act);
      if (c->pad == DLS_PADDING_EXPLICIT) {
        DlsNode *n = dls_graph_node (b->g, 0);

        n->p.win.pad_top = c->pads[0];
        n->p.win.pad_left = c->pads[1];
        n->p.win.pad_bottom = c->pads[2];
        n->p.win.pad_right = c->pads[3];
      }
      g_string_append_printf (desc, "conv2d    %dx%dx%d -> %d  k%dx%d s%d "
          "d%d %s", c->h, c->w, c->c, c->co, c->kh, c->kw, c->stride, c->dil,
          pad);
      if (c->pad == DLS_PADDING_EXPLICIT)
        g_string_append_printf (desc, "(%d,%d,%d,%d)", c->pads[0], c->pads[1],
            c->pads[2], c->pads[3]);
      g_string_append_printf (desc, " %s %s", c->bias ? "bias" : "nobias",
          act_names[c->act]);
      break;
    case K_DW:
      x = add_input (b, c->h, c->w, c->c);
      y = dwconv (b, x, c->co, c->kh, c->stride, c->dil, c->pad, c->bias,
          c->act);
      g_string_append_printf (desc, "depthwise %dx%dx%d m%d  k%dx%d s%d d%d "
          "%s %s %s", c->h, c->w, c->c, c->co, c->kh, c->kw, c->stride,
          c->dil, pad, c->bias ? "bias" : "nobias", act_names[c->act]);
      break;
    case K_ADD:
      x = add_input (b, c->h, c->w, c->c);
      y = add2 (b, x, add_input (b, c->h, c->w, c->c), c->act);
      g_string_append_printf (desc, "add       %dx%dx%d %s", c->h, c->w, c->c,
          act_names[c->act]);
      break;
    case K_POOL:
      x = add_input (b, c->h, c->w, c->c);
      y = avgpool (b, x, c->kh, c->kw, c->stride, c->pad, c->act);
      g_string_append_printf (desc, "avgpool   %dx%dx%d  f%dx%d s%d %s %s",
          c->h, c->w, c->c, c->kh, c->kw, c->stride, pad, act_names[c->act]);
      break;
    case K_CONCAT:{
      int xs[3], k;

      g_string_append_printf (desc, "concat    axis %d:", c->axis);
      for (k = 0; k < c->n_in; k++) {
        int h = c->axis == 1 ? c->sizes[k] : c->h;
        int w = c->axis == 2 ? c->sizes[k] : c->w;
        int ch = c->axis == 3 ? c->sizes[k] : c->c;

        xs[k] = add_input (b, h, w, ch);
        g_string_append_printf (desc, "%s%dx%dx%d", k ? " + " : " ", h, w, ch);
      }
      y = concat (b, xs, c->n_in, c->axis, c->act);
      g_string_append_printf (desc, " %s", act_names[c->act]);
      break;
    }
    case K_RESIZE:
      x = add_input (b, c->h, c->w, c->c);
      y = resize (b, x, c->oh, c->ow, c->coord);
      g_string_append_printf (desc, "resize    %dx%dx%d -> %dx%d %s", c->h,
          c->w, c->c, c->oh, c->ow, coords[c->coord]);
      break;
    case K_DWPW:{
      int t, h2 = (c->h + c->stride - 1) / c->stride;
      int w2 = (c->w + c->stride - 1) / c->stride;

      x = add_input (b, c->h, c->w, c->c);
      t = (c->pw2_var & PW2_NO_DW) ? x : dwconv (b, x, 1, 3, c->stride,
          c->dil, SAME, TRUE, ACT_RELU6);
      y = conv (b, t, c->co, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
      if (c->res == RES_INPUT)
        y = add2 (b, y, add_input (b, h2, w2, c->co), c->act);
      else if (c->res == RES_X)
        y = add2 (b, x, y, c->act);
      g_string_append_printf (desc, "%s %dx%dx%d s%d d%d -> %d%s",
          (c->pw2_var & PW2_NO_DW) ? "conv1x1   " : "dw+conv1x1", c->h,
          c->w, c->c, c->stride, c->dil, c->co,
          c->res == RES_INPUT ? " + in" : c->res == RES_X ? " + x" : "");
      if (c->pw2) {
        int v = c->pw2_var, e;
        if (v & PW2_OUT)
          dls_graph_add_output (b->g, y);
        if (v & PW2_BETWEEN)
          dls_graph_add_output (b->g, add2 (b, dwconv (b, y, 1, 3, 1, 1,
                      SAME, TRUE, ACT_NONE), y, ACT_NONE));
        e = conv (b, y, c->pw2, 1, 1, 1, 1, SAME, TRUE, ACT_RELU6);
        if (v & PW2_TWO)
          dls_graph_add_output (b->g, conv (b, y, 5, 1, 1, 1, 1, SAME, TRUE,
                  ACT_NONE));
        if (v & PW2_BETWEEN)
          e = dwconv (b, e, 1, 3, 1, 1, SAME, TRUE, ACT_NONE);
        y = e;
        g_string_append_printf (desc, ", pw %d%s%s%s", c->pw2,
            (v & PW2_OUT) ? " out" : "", (v & PW2_TWO) ? " +pw" : "",
            (v & PW2_BETWEEN) ? " +dw" : "");
      }
      break;
    }
    case K_BLOCKS:{
      /* a = expansion (a conv1x1 step); then blocks A (s1 d1 -> 8), B (s2
       * d1 -> 12), C (s1 d2 -> 12, + B's output), D (s1 d4 -> 20, an
       * output), expansions 48, 72, 72 (each the block before's pw2: the
       * panels grow along the launch, so it needs the largest); channels x
       * M. With M = 1, then q = conv1x1 relu6 to 32 (D's pw2), r = conv1x1
       * (q) whose one reader s = conv1x1 (r): a step without depthwise (kh
       * = 0) in the same launch. (With M = 4 the steps take long enough
       * that the two workers meet at every step's end; their random
       * weights then make the values too large for r and s to stay within
       * the tolerance.) */
      static const int stride[] = { 1, 2, 1, 1 }, dil[] = { 1, 1, 2, 4 };
      static const int out[] = { 8, 12, 12, 20 }, exp[] = { 48, 72, 72 };
      const int m = c->co;
      int e = conv (b, add_input (b, c->h, c->w, c->c), 24 * m, 1, 1, 1, 1,
          SAME, TRUE, ACT_RELU6), prev = -1;

      for (int k = 0; k < 4; k++) {
        int t = dwconv (b, e, 1, 3, stride[k], dil[k], SAME, TRUE,
            ACT_RELU6);
        y = conv (b, t, out[k] * m, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
        if (k == 2)
          y = add2 (b, prev, y, ACT_NONE);
        prev = y;
        if (k < 3)
          e = conv (b, y, exp[k] * m, 1, 1, 1, 1, SAME, TRUE, ACT_RELU6);
      }
      if (m == 1) {
        dls_graph_add_output (b->g, y);
        e = conv (b, y, 32, 1, 1, 1, 1, SAME, TRUE, ACT_RELU6);
        y = conv (b, conv (b, e, 16, 1, 1, 1, 1, SAME, TRUE, ACT_NONE), 5,
            1, 1, 1, 1, SAME, TRUE, ACT_NONE);
      }
      g_string_append_printf (desc, "blocks    %dx%dx%d 4 mobilenet blocks "
          "x%d, s2, d2, d4%s", c->h, c->w, c->c, m,
          m == 1 ? ", + kh 0 step" : "");
      break;
    }
    case K_CHAIN:{
      /* v0: a MobileNetV2 block then an ASPP-like head:
       *   a = conv1x1 relu6; d = a + conv1x1(dw3x3 d2 relu6 (a));
       *   pool -> conv1x1 relu -> resize align ‖ conv1x1 relu (d) -> concat
       *   -> conv1x1 + bias (logits); outputs: logits and d.
       * v1: stride-2 depthwise, a second input added late, 3-way concat
       *   with a constant-free branch (avgpool 3x3 SAME).
       * v2: global pool (a); q = conv1x1 (a), a's last other reader;
       *   r = conv1x1 (q) of a's size, conv1x1 (r) an output; then the
       *   pool's conv1x1 (an output), whose pool_conv1x1 step reads a: a
       *   must outlive q, or r takes a's buffer. */
      int a, t, d, p, q, xs[3];

      x = add_input (b, c->h, c->w, c->c);
      a = conv (b, x, 16, 1, 1, 1, 1, SAME, TRUE, ACT_RELU6);
      if (c->co == 0) {
        t = dwconv (b, a, 1, 3, 1, 2, SAME, TRUE, ACT_RELU6);
        t = conv (b, t, 16, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
        d = add2 (b, a, t, ACT_NONE);
        p = avgpool (b, d, c->h, c->w, c->h, VALID, ACT_NONE);
        p = conv (b, p, 8, 1, 1, 1, 1, SAME, TRUE, ACT_RELU);
        p = resize (b, p, c->h, c->w, DLS_RESIZE_ALIGN_CORNERS);
        q = conv (b, d, 8, 1, 1, 1, 1, SAME, TRUE, ACT_RELU);
        xs[0] = p;
        xs[1] = q;
        t = concat (b, xs, 2, 3, ACT_NONE);
        y = conv (b, t, 5, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
        dls_graph_add_output (b->g, y);
        y = d;
        g_string_append_printf (desc, "chain     %dx%dx%d mobilenet block + "
            "ASPP head, 2 outputs", c->h, c->w, c->c);
      } else if (c->co == 2) {
        p = avgpool (b, a, c->h, c->w, 1, VALID, ACT_NONE);
        /* a 3x3 reader: a pointwise one would run in a's step (pw2) */
        q = conv (b, a, 7, 3, 3, 1, 1, SAME, TRUE, ACT_NONE);
        q = conv (b, q, 16, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
        dls_graph_add_output (b->g, conv (b, q, 3, 1, 1, 1, 1, SAME, TRUE,
                ACT_NONE));
        y = conv (b, p, 5, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
        g_string_append_printf (desc, "chain     %dx%dx%d pool, a reader, "
            "its reader, the pool's conv", c->h, c->w, c->c);
      } else {
        int h2 = (c->h + 1) / 2, w2 = (c->w + 1) / 2;

        t = dwconv (b, a, 2, 3, 2, 1, SAME, TRUE, ACT_RELU6);
        t = conv (b, t, 13, 1, 1, 1, 1, SAME, FALSE, ACT_NONE);
        d = add2 (b, t, add_input (b, h2, w2, 13), ACT_RELU);
        p = avgpool (b, d, 3, 3, 1, SAME, ACT_NONE);
        q = dwconv (b, d, 1, 3, 1, 4, SAME, FALSE, ACT_NONE);
        xs[0] = d;
        xs[1] = p;
        xs[2] = q;
        t = concat (b, xs, 3, 3, ACT_NONE);
        y = resize (b, t, c->h, c->w, DLS_RESIZE_HALF_PIXEL);
        g_string_append_printf (desc, "chain     %dx%dx%d s2 block + 3-way "
            "concat + resize", c->h, c->w, c->c);
      }
      break;
    }
    case K_FOLD:{
      /* Nodes: 0 a = conv1x1 (x); 1 global pool (x) (F_POOL_PART: the
       * (H-1)x(W-1) window of a 1x1 output; F_POOL_ACT: relu); 2 p =
       * conv1x1 (1x1); 3 r = resize p -> HxW; [F_TWO_BCAST: 4 global
       * pool (a), [F_BCAST2_CONV: 5 its conv1x1,] its resize -> HxW];
       * then the concat of r, a [, the second broadcast] [, x]; its
       * conv1x1 to co (+ a, F_RES); F_CAT_READ2: a conv1x1 of the concat
       * to 3, an output; F_IDENTITY: the conv's resize to HxW in mode M
       * and a conv1x1 of that, outputs both; F_P_OUT: p an output;
       * F_POOL_READ2: last, a conv1x1 of the pool, an output. */
      int f = c->fold, a, pool, p, r, r2 = -1, t, xs[4], n = 0;
      static const char *const modes[] = { "asym", "align", "half" };

      x = add_input (b, c->h, c->w, c->c);
      a = conv (b, x, c->sizes[0], 1, 1, 1, 1, SAME, TRUE, c->act);
      pool = (f & F_POOL_PART) ? avgpool (b, x, c->h - 1, c->w - 1,
          MAX (c->h, c->w), VALID, ACT_NONE)
          : avgpool (b, x, c->h, c->w, 1, VALID,
          (f & F_POOL_ACT) ? ACT_RELU : ACT_NONE);
      p = conv (b, pool, c->sizes[1], 1, 1, 1, 1, SAME, TRUE, c->act);
      r = (f & F_NEAREST) ? nearest (b, p, c->h, c->w, c->coord,
          DLS_NEAREST_ROUND_PREFER_FLOOR)
          : resize (b, p, c->h, c->w, c->coord);
      if (f & F_TWO_BCAST) {
        r2 = avgpool (b, a, c->h, c->w, 1, VALID, ACT_NONE);
        if (f & F_BCAST2_CONV)
          r2 = conv (b, r2, 9, 1, 1, 1, 1, SAME, TRUE, ACT_RELU);
        r2 = resize (b, r2, c->h, c->w, c->coord);
      }
      if (f & F_MAIN_FIRST)
        xs[n++] = a;
      xs[n++] = r;
      if (!(f & F_MAIN_FIRST))
        xs[n++] = a;
      if (r2 >= 0)
        xs[n++] = r2;
      if (f & F_TWO_MAIN)
        xs[n++] = x;
      t = concat (b, xs, n, 3, ACT_NONE);
      y = conv (b, t, c->co, 1, 1, 1, 1, SAME, TRUE, c->act);
      if (f & F_RES)
        y = add2 (b, y, a, ACT_NONE);
      if (f & F_CAT_OUT)
        dls_graph_add_output (b->g, t);
      if (f & F_CAT_READ2)
        dls_graph_add_output (b->g, conv (b, t, 3, 1, 1, 1, 1, SAME, TRUE,
                ACT_NONE));
      if (f & F_IDENTITY) {
        dls_graph_add_output (b->g, y);
        y = resize (b, y, c->h, c->w, c->coord);
        y = conv (b, y, 5, 1, 1, 1, 1, SAME, TRUE, ACT_NONE);
      }
      if (f & F_P_OUT)
        dls_graph_add_output (b->g, p);
      if (f & F_POOL_READ2)
        dls_graph_add_output (b->g, conv (b, pool, 6, 1, 1, 1, 1, SAME, TRUE,
                ACT_NONE));
      g_string_append_printf (desc, "aspp-fold %dx%dx%d %s(%d) + %s(%d) "
          "%s -> %d %s%s%s%s%s%s%s%s%s%s%s%s%s", c->h, c->w, c->c,
          (f & F_MAIN_FIRST) ? "full" : "bcast",
          c->sizes[(f & F_MAIN_FIRST) ? 0 : 1],
          (f & F_MAIN_FIRST) ? "bcast" : "full",
          c->sizes[(f & F_MAIN_FIRST) ? 1 : 0], modes[c->coord], c->co,
          act_names[c->act], (f & F_NEAREST) ? " nearest" : "",
          (f & F_TWO_BCAST) ? " +bcast" : "", (f & F_TWO_MAIN) ? " +x" : "",
          (f & F_RES) ? " +res" : "", (f & F_CAT_OUT) ? " cat-out" : "",
          (f & F_CAT_READ2) ? " cat-read2" : "",
          (f & F_IDENTITY) ? " +identity" : "",
          (f & F_POOL_READ2) ? " pool-read2" : "",
          (f & F_POOL_PART) ? " pool-part" : "",
          (f & F_P_OUT) ? " pconv-out" : "",
          (f & F_POOL_ACT) ? " pool-relu" : "",
          (f & F_BCAST2_CONV) ? " +bcast-conv" : "");
      break;
    }
    case K_UNARY:
    case K_MUL:
    case K_MAXPOOL:
    case K_SE:
    case K_NEAREST:
    case K_TRANSPOSE:
    case K_RESHAPE:
      y = build_onnx_case (c, b, desc);
      break;
  }
  if (c->tag)
    g_string_append_printf (desc, " [%s]", c->tag);
  dls_graph_add_output (b->g, y);
}

typedef struct
{
  double max_abs, max_ref;
  gsize worst;                  /* index of the largest error */
  gboolean ok;
} Cmp;

static Cmp
compare (const float *ref, const float *got, gsize n, double tol_rel)
{
  Cmp r = { 0.0, 0.0, 0, TRUE };
  gsize i;

  for (i = 0; i < n; i++) {
    double e = fabs ((double) got[i] - (double) ref[i]);

    if (fabs (ref[i]) > r.max_ref)
      r.max_ref = fabs (ref[i]);
    /* !(e <= max) so that a NaN becomes the worst element. */
    if (!(e <= r.max_abs)) {
      r.max_abs = isnan (e) ? INFINITY : e;
      r.worst = i;
    }
  }
  r.ok = r.max_abs <= tol_rel * MAX (1.0, r.max_ref);
  return r;
}

/* The OpenCL steps of the nodes @c lists (c->steps): a rewrite that
 * should happen did, and one that must not did not. */
static gboolean
steps_check (const OpCase * c, DlsBackend * be)
{
  char **want = g_strsplit (c->steps, ";", -1);
  gboolean ok = TRUE;

  for (int i = 0; want[i]; i++) {
    char **kv = g_strsplit (want[i], "=", 2);
    char *got = dls_backend_opencl_node_kernels (be, atoi (kv[0]));
    gboolean same = kv[1] && g_str_equal (got, kv[1]);

    printf ("    steps of node %s: \"%s\"%s%s%s  %s\n", kv[0], got,
        same ? "" : ", expected \"", same ? "" : kv[1] ? kv[1] : "?",
        same ? "" : "\"", same ? "PASS" : "FAIL");
    ok = ok && same;
    g_free (got);
    g_strfreev (kv);
  }
  g_strfreev (want);
  return ok;
}

/* Runs case @c; prints its line (and, on failure, where). */
static gboolean
run_case (const OpCase * c, DlsBackend * other, gboolean verbose)
{
  Builder b;
  GString *desc = g_string_new (NULL);
  GError *err = NULL;
  GPtrArray *ref = NULL, *got = NULL;
  gboolean ok = TRUE;
  gint64 t0, t_other = 0;
  guint i;

  builder_init (&b);
  build_case (c, &b, desc);
  if (!dls_graph_finalize (b.g, &err)) {
    printf ("%-66s ERROR (graph) %s\n", desc->str, err->message);
    ok = FALSE;
    goto out;
  }
  if (!(ref = run_ref (&b, &err))) {
    printf ("%-66s ERROR (ref) %s\n", desc->str, err->message);
    ok = FALSE;
    goto out;
  }
  t0 = g_get_monotonic_time ();
  if (!(got = run_backend (other, &b, TRUE, c->again, &err))) {
    printf ("%-66s ERROR (%s) %s\n", desc->str, other->vt->name, err->message);
    ok = FALSE;
    goto out;
  }
  t_other = g_get_monotonic_time () - t0;

  for (i = 0; i < b.g->outputs->len; i++) {
    const DlsTensor *t = dls_graph_tensor (b.g, dls_graph_output (b.g, i));
    gsize n = dls_tensor_n_elements (t);
    gboolean exact = c->kind == K_ADD || c->kind == K_CONCAT
        || c->kind == K_MUL || c->kind == K_MAXPOOL || c->kind == K_NEAREST
        || c->kind == K_TRANSPOSE || c->kind == K_RESHAPE
        || (c->kind == K_UNARY && (c->op == DLS_OP_HARD_SIGMOID
                || c->op == DLS_OP_HARD_SWISH || c->op == DLS_OP_ARGMAX))
        || g_str_equal (other->vt->name, "ref");
    Cmp r = compare (ref->pdata[i], got->pdata[i], n, exact ? 0.0 : TOL_REL);
    double rel = r.max_ref > 0 ? r.max_abs / r.max_ref : r.max_abs;

    printf ("%-66s -> %dx%dx%d  maxabs %.2e maxrel %.2e  %s", i ? "" :
        desc->str, t->dims[1], t->dims[2], t->dims[3], r.max_abs, rel,
        r.ok ? "PASS" : "FAIL");
    if (verbose)
      printf ("  (%.1f ms, prepare + 2 runs)", t_other / 1000.0);
    printf ("\n");
    if (!r.ok) {
      gsize C = t->dims[3], W = t->dims[2];
      gsize p = r.worst / C;

      printf ("    worst at output %u (y %" G_GSIZE_FORMAT ", x %"
          G_GSIZE_FORMAT ", c %" G_GSIZE_FORMAT "): ref %.9g, %s %.9g; "
          "max |ref| %.6g\n", i, p / W, p % W, r.worst % C,
          ((float *) ref->pdata[i])[r.worst], other->vt->name,
          ((float *) got->pdata[i])[r.worst], r.max_ref);
      ok = FALSE;
    }
  }

  if (c->steps && g_str_equal (other->vt->name, "opencl"))
    ok = steps_check (c, other) && ok;

out:
  g_clear_error (&err);
  if (ref)
    g_ptr_array_unref (ref);
  if (got)
    g_ptr_array_unref (got);
  g_string_free (desc, TRUE);
  builder_clear (&b);
  return ok;
}

int
main (int argc, char **argv)
{
  gchar *backend = NULL, *device = NULL, *filter = NULL;
  gboolean verbose = FALSE;
  GOptionEntry entries[] = {
    {"backend", 'b', 0, G_OPTION_ARG_STRING, &backend,
        "Backend compared with the reference: opencl (default) or ref", "B"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device,
        "OpenCL device (auto, gpu, cpu, P:D)", "DEV"},
    {"filter", 'f', 0, G_OPTION_ARG_STRING, &filter,
        "Run only the cases whose description contains TEXT", "TEXT"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
        "Print the second backend's time per case", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- per-op backend tests");
  GError *err = NULL;
  DlsCl *cl = NULL;
  DlsBackend *other;
  int failures = 0, n_run = 0;
  guint i;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    fprintf (stderr, "%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);

  if (!backend || g_str_equal (backend, "opencl")) {
    cl = dls_cl_acquire (device, &err);
    if (!cl) {
      fprintf (stderr, "no OpenCL device: %s\n", err->message);
      return dls_test_in_ci ()? 1 : DLS_TEST_SKIP;
    }
    printf ("# OpenCL device: %s\n", dls_cl_device_name (cl));
    other = dls_backend_opencl_new (cl, &err);
    if (!other) {
      fprintf (stderr, "OpenCL backend: %s\n", err->message);
      dls_cl_release (cl);
      return 1;
    }
  } else if (g_str_equal (backend, "ref")) {
    other = dls_backend_ref_new ();
  } else {
    fprintf (stderr, "unknown backend '%s' (opencl, ref)\n", backend);
    return 2;
  }

  printf ("# reference vs hand-computed values\n");
  hand_tests ();
  hand_tests_onnx ();
  if (cl)
    program_sharing_check (cl);
  failures += hand_failures;

  printf ("# %s vs reference; tolerance max abs err <= %g * max (1, "
      "max |ref|), 0 for add and concat\n", other->vt->name, TOL_REL);
  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    /* One seed per case: a case's data does not depend on the others. */
    rng_seed (G_GUINT64_CONSTANT (0x5eed0000) + i);
    if (filter) {
      Builder b;
      GString *desc = g_string_new (NULL);
      gboolean match;

      builder_init (&b);
      build_case (&cases[i], &b, desc);
      match = strstr (desc->str, filter) != NULL;
      builder_clear (&b);
      g_string_free (desc, TRUE);
      if (!match)
        continue;
      rng_seed (G_GUINT64_CONSTANT (0x5eed0000) + i);
    }
    n_run++;
    /* A backend is prepared once (backend.h): a fresh one per case. */
    if (i > 0) {
      const char *name = other->vt->name;
      dls_backend_free (other);
      other = cl ? dls_backend_opencl_new (cl, &err) : dls_backend_ref_new ();
      if (!other) {
        fprintf (stderr, "%s backend: %s\n", name, err->message);
        g_clear_error (&err);
        dls_cl_release (cl);
        return 1;
      }
    }
    if (!run_case (&cases[i], other, verbose))
      failures++;
    fflush (stdout);
  }

  printf ("# %d of %d cases failed; %d of %d hand checks failed\n",
      failures - hand_failures, n_run, hand_failures, hand_total);
  dls_backend_free (other);
  if (cl)
    dls_cl_release (cl);
  g_free (backend);
  g_free (device);
  g_free (filter);
  return failures ? 1 : 0;
}

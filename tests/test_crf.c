/* deeplabseg tests: the dense CRF's OpenCL path (gst/crf/crf_cl.c,
 * kernels/crf.cl) against its C reference (gst/crf/crf.c), and bad values.
 * (The C reference itself is checked against pydensecrf by
 * tests/python/test_crf_fidelity.py.)
 *
 *  1. Cases table: size (odd, tiny, 1x1), classes (1, 2, 5, 21, 30), the
 *     two parameter sets, a cold run and then a warm one on a second frame
 *     (starting from the first frame's Q). Random RGB, a smooth random
 *     unary. Asserts no NaN/Inf, max |Q_cl - Q_ref| <= 1e-3 and argmax
 *     agreement >= 99.5 %. Then the same on runs of 3-8 frames (warm ones
 *     of 2 iterations) whose unary leaves a set number of classes
 *     probable (1-4: the class pruning's rows of 4 floats, 5-8, 9-16, 17+,
 *     all), changing from frame to frame; the count the device's list ends
 *     with is asserted.
 *  2. Degenerate inputs: all-equal unary (Q exactly uniform up to 1e-6, map
 *     all 0), one class (Q = 1), on both paths.
 *  3. Bad values: zero sizes and out-of-range parameters (also the class
 *     pruning's eps: above 0.01, negative, NaN, Inf) are refused with
 *     an error; a CRF too large to allocate is NULL, not an abort.
 *  4. The engine with the CRF on, both backends, synthetic one-node models:
 *     a single-class model, an all-zero-logits model, and a 3-class one;
 *     frames 1x1, 2x3, 7x5, 64x48, two frames each (cold then warm); the
 *     maps agree (>= 99.5 %), degenerate models give all-0 maps; a 0x0
 *     frame is refused. Also with the CRF on a half-size grid (scale 0.5,
 *     Q upsampled to the frame). The confidence plane (round (255 * max Q))
 *     is on: the two backends are within 1 level (|dQ| <= 1e-3 is 0.26
 *     levels, plus a rounding boundary), and the degenerate models give
 *     exactly 255 (one class: Q = 1) and round (255 / 21) = 12 (uniform Q).
 *     A third engine (OpenCL, confidence off: Q's class map by the
 *     shortcut of image.cl) gives the OpenCL map bit for bit.
 */
#include <math.h>
#include <string.h>
#include "crf/crf.h"
#include "crf/crf_cl.h"
#include "engine/engine.h"
#include "testutil.h"

static DlsCl *cl;
static cl_command_queue queue;
static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
      printf ("FAIL %s:%d: ", __FILE__, __LINE__); printf (__VA_ARGS__); \
      printf ("\n"); } } while (0)

static void
random_image (guint8 * rgb, int n, GRand * r)
{
  /* Two flat regions plus noise: edges for the bilateral kernel. */
  for (int i = 0; i < n * 3; i++)
    rgb[i] = (guint8) CLAMP ((i / 3) % 7 < 3 ? 40 : 200
        + g_rand_int_range (r, -20, 20), 0, 255);
}

/* Smooth-ish unary: per 4x4 block random energies, plus pixel noise. */
static void
random_unary (float *u, int w, int h, int c, GRand * r)
{
  float *blocks = g_new (float, ((w + 3) / 4) * ((h + 3) / 4) * c);

  for (int i = 0; i < ((w + 3) / 4) * ((h + 3) / 4) * c; i++)
    blocks[i] = (float) g_rand_double_range (r, 0.0, 4.0);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int k = 0; k < c; k++)
        u[((gsize) y * w + x) * c + k] =
            blocks[((y / 4) * ((w + 3) / 4) + x / 4) * c + k]
            + (float) g_rand_double_range (r, 0.0, 0.5);
  g_free (blocks);
}

static void
ref_frame (DlsCrf * crf, const float *u, const guint8 * rgb, int w,
    const DlsCrfParams * p)
{
  dls_crf_set_unary (crf, u);
  dls_crf_clear_pairwise (crf);
  dls_crf_add_pairwise_gaussian (crf, p->gaussian_sxy, p->gaussian_weight);
  dls_crf_add_pairwise_bilateral (crf, p->bilateral_sxy, p->bilateral_srgb,
      rgb, w * 3, p->bilateral_weight);
}

/* Uploads @u (dense) into the CRF's padded unary buffer. */
static gboolean
cl_unary (DlsCrfCl * crf, const float *u, int n, int c)
{
  int row = dls_crf_cl_row (crf);
  float *pad = g_new (float, (gsize) n * row);
  cl_int st;

  for (int i = 0; i < n; i++)
    for (int k = 0; k < row; k++)
      pad[(gsize) i * row + k] = k < c ? u[(gsize) i * c + k] : 1e30f;
  st = clEnqueueWriteBuffer (queue, dls_crf_cl_unary (crf), CL_TRUE, 0,
      sizeof (float) * n * row, pad, 0, NULL, NULL);
  g_free (pad);
  return st == CL_SUCCESS;
}

/* Compares Q of both paths; returns the agreement in %. */
static double
compare_q (const char *what, const float *a, const float *b, int n, int c,
    double *max_diff)
{
  int agree = 0, finite = 1;

  *max_diff = 0.0;
  for (int i = 0; i < n; i++) {
    int ba = 0, bb = 0;
    for (int k = 0; k < c; k++) {
      float x = a[(gsize) i * c + k], y = b[(gsize) i * c + k];
      if (!isfinite (x) || !isfinite (y))
        finite = 0;
      *max_diff = MAX (*max_diff, fabs (x - y));
      if (x > a[(gsize) i * c + ba])
        ba = k;
      if (y > b[(gsize) i * c + bb])
        bb = k;
    }
    agree += ba == bb;
  }
  CHECK (finite, "%s: Q not finite", what);
  return 100.0 * agree / n;
}

/* Makes all but @na of the @c classes of @u (w x h) improbable
 * everywhere (+30: Q ~ e^-26, below the pruning's eps), the kept ones
 * picked at random, the j-th favoured (-8) in the j-th of @na vertical
 * bands (so no filter smooths it away): the class pruning has @na active
 * classes. */
static void
keep_classes (float *u, int w, int h, int c, int na, GRand * r)
{
  int kept[256], rank[256];

  for (int l = 0; l < c; l++)
    rank[l] = -1;
  for (int k = 0; k < na;) {
    int l = g_rand_int_range (r, 0, c);
    if (rank[l] < 0) {
      rank[l] = k;
      kept[k++] = l;
    }
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int l = 0; l < c; l++) {
        float *e = &u[((gsize) y * w + x) * c + l];
        if (rank[l] < 0)
          *e += 30.0f;
        else if (l == kept[x * na / w])
          *e -= 8.0f;
      }
}

/* @frames frames, the first cold, the others warm with @warm_its
 * iterations; frame f has @active[f] active classes (keep_classes), or
 * whatever the random unary gives when 0 (it is then checked too). */
static void
core_case (int w, int h, int c, gboolean v2, const int *active, int frames,
    int warm_its, GRand * r)
{
  const int n = w * h;
  DlsCrfParams p;
  DlsCrf *ref = dls_crf_new (w, h, c);
  DlsCrfCl *crf = dls_crf_cl_new (cl, queue, NULL);
  /* the same frames with dls_crf_cl_start() first, as the engine runs
   * them: Q must be the same bits */
  DlsCrfCl *crf2 = dls_crf_cl_new (cl, queue, NULL);
  guint8 *rgb = g_new (guint8, n * 3);
  float *u = g_new (float, (gsize) n * c), *q = g_new (float, (gsize) n * c);
  float *q2 = g_new (float, (gsize) n * c);
  GError *err = NULL;
  char what[128];

  if (v2)
    dls_crf_params_init_deeplab_v2 (&p);
  else
    dls_crf_params_init (&p);
  if (!dls_crf_cl_set_size (crf, w, h, c, &err)
      || !dls_crf_cl_set_size (crf2, w, h, c, &err)) {
    CHECK (FALSE, "set_size %dx%d c %d: %s", w, h, c, err->message);
    g_clear_error (&err);
    goto out;
  }
  for (int frame = 0; frame < frames; frame++) {
    gboolean warm = frame > 0;
    double diff, agree;
    int na = 0;

    random_image (rgb, n, r);
    random_unary (u, w, h, c, r);
    if (active[frame] > 0)
      keep_classes (u, w, h, c, active[frame], r);
    ref_frame (ref, u, rgb, w, &p);
    if (!warm)
      dls_crf_start (ref);
    for (int i = 0; i < (warm ? warm_its : p.iterations); i++)
      dls_crf_step (ref);
    if (!cl_unary (crf, u, n, c)
        || !dls_crf_cl_set_image (crf, rgb, w * 3, &p, &err)
        || !dls_crf_cl_run (crf, warm ? warm_its : p.iterations, warm, &err)
        || !dls_crf_cl_read_q (crf, q, &err)
        || !dls_crf_cl_read_n_active (crf, &na, &err)
        || !cl_unary (crf2, u, n, c)
        || !dls_crf_cl_start (crf2, &p, warm, &err)
        || !dls_crf_cl_set_image (crf2, rgb, w * 3, &p, &err)
        || !dls_crf_cl_run (crf2, warm ? warm_its : p.iterations, warm, &err)
        || !dls_crf_cl_read_q (crf2, q2, &err)) {
      CHECK (FALSE, "opencl %dx%d: %s", w, h, err ? err->message : "write");
      g_clear_error (&err);
      goto out;
    }
    CHECK (memcmp (q, q2, sizeof (float) * n * c) == 0,
        "%dx%d classes %d: Q with dls_crf_cl_start() first differs", w, h, c);
    g_snprintf (what, sizeof (what), "%4dx%-4d classes %2d %-10s %s %d "
        "active %2d", w, h, c, v2 ? "deeplab-v2" : "demo",
        warm ? "warm" : "cold", warm ? warm_its : p.iterations, na);
    /* the last iteration's list: the frame's classes, whatever the
     * previous frame's Q had (the first iteration's list) */
    CHECK (active[frame] == 0 || na == active[frame], "%s: %d active, "
        "not %d", what, na, active[frame]);
    agree = compare_q (what, q, dls_crf_q (ref), n, c, &diff);
    printf ("%s  max |dQ| %.2e  agreement %.3f %%\n", what, diff, agree);
    CHECK (diff <= 1e-3, "%s: max |dQ| %g", what, diff);
    CHECK (agree >= 99.5, "%s: agreement %.3f", what, agree);
  }
out:
  dls_crf_free (ref);
  dls_crf_cl_free (crf);
  dls_crf_cl_free (crf2);
  g_free (rgb);
  g_free (u);
  g_free (q);
  g_free (q2);
}

/* All-equal unary and a single class: Q uniform / 1, map 0, no NaN. */
static void
degenerate_case (int w, int h, int c, GRand * r)
{
  const int n = w * h;
  DlsCrfParams p;
  DlsCrf *ref = dls_crf_new (w, h, c);
  DlsCrfCl *crf = dls_crf_cl_new (cl, queue, NULL);
  guint8 *rgb = g_new (guint8, n * 3), *map = g_new (guint8, n);
  float *u = g_new (float, (gsize) n * c), *q = g_new (float, (gsize) n * c);
  GError *err = NULL;
  double worst_ref = 0, worst_cl = 0;
  int nonzero = 0;

  dls_crf_params_init (&p);
  random_image (rgb, n, r);
  for (gsize i = 0; i < (gsize) n * c; i++)
    u[i] = 2.5f;
  ref_frame (ref, u, rgb, w, &p);
  dls_crf_inference (ref, p.iterations);
  dls_crf_map (ref, map, w, NULL, 0);
  if (!dls_crf_cl_set_size (crf, w, h, c, &err) || !cl_unary (crf, u, n, c)
      || !dls_crf_cl_set_image (crf, rgb, w * 3, &p, &err)
      || !dls_crf_cl_run (crf, p.iterations, FALSE, &err)
      || !dls_crf_cl_read_q (crf, q, &err)) {
    CHECK (FALSE, "degenerate %dx%d: %s", w, h, err ? err->message : "");
    g_clear_error (&err);
    goto out;
  }
  for (gsize i = 0; i < (gsize) n * c; i++) {
    /* NaN compares false: fabs (NaN) > x is false, so test isfinite. */
    worst_ref = MAX (worst_ref, isfinite (dls_crf_q (ref)[i])
        ? fabs (dls_crf_q (ref)[i] - 1.0 / c) : INFINITY);
    worst_cl = MAX (worst_cl, isfinite (q[i]) ? fabs (q[i] - 1.0 / c)
        : INFINITY);
  }
  for (int i = 0; i < n; i++)
    nonzero += map[i] != 0;
  printf ("%4dx%-4d classes %2d all-equal unary: max |Q - 1/C| ref %.1e "
      "opencl %.1e, non-zero map pixels %d\n", w, h, c, worst_ref, worst_cl,
      nonzero);
  CHECK (worst_ref <= 1e-6 && worst_cl <= 1e-6, "Q not uniform");
  CHECK (nonzero == 0, "map not all 0 (ties go to the lowest class)");
out:
  dls_crf_free (ref);
  dls_crf_cl_free (crf);
  g_free (rgb);
  g_free (map);
  g_free (u);
  g_free (q);
}

static void
bad_values (void)
{
  DlsCrfCl *crf = dls_crf_cl_new (cl, queue, NULL);
  DlsCrfParams p;
  GError *err = NULL;
  guint8 px[3] = { 0 };

  CHECK (!dls_crf_cl_set_size (crf, 0, 0, 21, &err) && err,
      "0x0 accepted");
  g_clear_error (&err);
  CHECK (!dls_crf_cl_set_size (crf, 4, 4, 0, &err) && err,
      "0 classes accepted");
  g_clear_error (&err);
  CHECK (!dls_crf_cl_set_image (crf, px, 3, (dls_crf_params_init (&p), &p),
          &err) && err, "set_image before set_size accepted");
  g_clear_error (&err);
  CHECK (!dls_crf_cl_run (crf, 1, FALSE, &err) && err,
      "run before set_size accepted");
  g_clear_error (&err);
  {
    float bad[] = { 0.0f, -1.0f, NAN, INFINITY };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      dls_crf_params_init (&p);
      p.bilateral_srgb = bad[i];
      CHECK (!dls_crf_params_valid (&p, &err) && err, "srgb %g accepted",
          bad[i]);
      g_clear_error (&err);
      dls_crf_params_init (&p);
      p.gaussian_weight = bad[i] == 0.0f ? -0.5f : bad[i];
      CHECK (!dls_crf_params_valid (&p, &err) && err, "weight accepted");
      g_clear_error (&err);
      dls_crf_params_init (&p);
      p.min_class_probability = bad[i] == 0.0f ? 0.0101f : bad[i];
      CHECK (!dls_crf_params_valid (&p, &err) && err,
          "minimum class probability %g accepted",
          p.min_class_probability);
      g_clear_error (&err);
    }
    dls_crf_params_init (&p);
    p.iterations = 101;
    CHECK (!dls_crf_params_valid (&p, &err) && err, "101 iterations");
    g_clear_error (&err);
  }
  /* Checked allocation: 8192 x 8192 x 256 classes is 64 GiB a table: NULL,
   * no g_new abort (not under ASan, whose allocator aborts instead). */
#if !defined(__SANITIZE_ADDRESS__)
  CHECK (dls_crf_new (8192, 8192, 256) == NULL, "64 GiB CRF allocated");
  CHECK (dls_crf_alloc (G_MAXSIZE / 2, 4) == NULL, "overflow allocated");
#endif
  dls_crf_cl_free (crf);
  printf ("bad values refused\n");
}

/* input {1, 5, 6, 3} -> 1x1 conv -> {1, 5, 6, classes}; weights from
 * @kind: 0 all zero (all logits 0), 1 a fixed pattern. */
static DlsGraph *
one_conv_graph (int classes, int kind)
{
  DlsGraph *g = dls_graph_new ();
  int in_dims[4] = { 1, 5, 6, 3 };
  int w_dims[4] = { classes, 1, 1, 3 };
  float *w = g_new0 (float, classes * 3);
  DlsNode node;

  for (int i = 0; kind == 1 && i < classes * 3; i++)
    w[i] = (float) ((i * 5) % 7 - 3) * 0.7f;
  dls_node_init (&node, DLS_OP_CONV2D);
  node.n_inputs = 2;
  node.inputs[0] = dls_graph_add_tensor (g, "in", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 4, in_dims, NULL, 0);
  node.inputs[1] = dls_graph_add_tensor (g, "w", DLS_TENSOR_CONSTANT,
      DLS_DTYPE_FLOAT32, 4, w_dims, w, sizeof (float) * classes * 3);
  node.output = dls_graph_add_tensor (g, "out", DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 0, NULL, NULL, 0);
  dls_graph_add_node (g, &node);
  dls_graph_add_input (g, node.inputs[0]);
  dls_graph_add_output (g, node.output);
  return g;
}

static void
engine_case (int classes, int kind, float scale, GRand * r)
{
  static const int sizes[][2] = { {1, 1}, {2, 3}, {7, 5}, {64, 48} };
  /* OpenCL, reference (both with the confidence), OpenCL without it */
  DlsEngine *e[3];
  DlsCrfParams p;
  GError *err = NULL;

  dls_crf_params_init_deeplab_v2 (&p);
  p.scale = scale;
  for (int b = 0; b < 3; b++) {
    DlsEngineOptions o;
    dls_engine_options_init (&o);
    o.backend = b == 1 ? DLS_BACKEND_REF : DLS_BACKEND_OPENCL;
    e[b] = dls_engine_new_from_graph (one_conv_graph (classes, kind), &o,
        &err);
    if (!e[b] || !dls_engine_set_crf (e[b], &p, &err)
        || !dls_engine_set_confidence (e[b], b < 2, &err)) {
      CHECK (FALSE, "engine: %s", err->message);
      g_clear_error (&err);
      return;
    }
  }
  CHECK (!dls_engine_set_frame (e[0], DLS_PIXEL_RGB, 0, 0, &err) && err,
      "0x0 frame accepted");
  g_clear_error (&err);
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    int w = sizes[s][0], h = sizes[s][1], n = w * h;
    guint8 *pix = g_new (guint8, n * 3);
    guint8 *map[3] = { g_new0 (guint8, n), g_new0 (guint8, n),
      g_new0 (guint8, n)
    };
    guint8 *conf[2] = { g_new0 (guint8, n), g_new0 (guint8, n) };
    DlsImage img = { DLS_PIXEL_RGB, w, h, {pix}, {w * 3} };

    for (int f = 0; f < 2; f++) {
      int agree = 0, zero = 0, cmax = 0, expect = -1, cwrong = 0, differ = 0;
      random_image (pix, n, r);
      for (int b = 0; b < 3; b++)
        if (!dls_engine_set_frame (e[b], DLS_PIXEL_RGB, w, h, &err)
            || !dls_engine_process_full (e[b], &img, map[b], w,
                b < 2 ? conf[b] : NULL, w, &err)) {
          CHECK (FALSE, "engine %dx%d: %s", w, h, err->message);
          g_clear_error (&err);
        }
      if (classes == 1)
        expect = 255;
      else if (kind == 0)
        expect = (int) (255.0 / classes + 0.5);
      for (int i = 0; i < n; i++) {
        agree += map[0][i] == map[1][i];
        differ += map[0][i] != map[2][i];
        zero += map[0][i] == 0 && map[1][i] == 0;
        cmax = MAX (cmax, ABS ((int) conf[0][i] - (int) conf[1][i]));
        cwrong += conf[0][i] < 1 || (expect >= 0 && (conf[0][i] != expect
                || conf[1][i] != expect));
      }
      printf ("engine + CRF, %2d classes %s, scale %.2f, %2dx%-2d %s: "
          "agreement %.2f %%, all-0 pixels %d of %d, confidence max |d| %d, "
          "map without confidence differs at %d\n",
          classes, kind ? "pattern" : "zero logits", scale, w, h,
          f ? "warm" : "cold", 100.0 * agree / n, zero, n, cmax, differ);
      CHECK (100.0 * agree / n >= 99.5 || n - agree <= 1,
          "engine maps differ");
      CHECK (cmax <= 1, "confidence differs by %d levels", cmax);
      /* without the confidence the map of Q comes from the class map's
       * shortcut (scale < 1): bit for bit the full upsample_argmax */
      CHECK (differ == 0, "map without confidence differs at %d pixels",
          differ);
      CHECK (cwrong == 0, "%d confidence values out of range or not %d",
          cwrong, expect);
      if (classes == 1 || kind == 0)
        CHECK (zero == n, "degenerate model: map not all 0");
    }
    g_free (pix);
    g_free (map[0]);
    g_free (map[1]);
    g_free (map[2]);
    g_free (conf[0]);
    g_free (conf[1]);
  }
  dls_engine_free (e[0]);
  dls_engine_free (e[1]);
  dls_engine_free (e[2]);
}

int
main (int argc, char **argv)
{
  static const int cases[][3] = {
    {1, 1, 2}, {2, 3, 5}, {7, 5, 21}, {33, 17, 2}, {64, 48, 21},
    {97, 61, 5}, {40, 30, 30},
  };
  static const int random_classes[2] = { 0, 0 };
  /* Class pruning's row widths (kernels/crf.cl BY_GROUPS): 1-4 active
   * classes rows of 4 floats, then 8, 16, CP; switching between them
   * from frame to frame (a warm frame's first iteration has the previous
   * frame's classes, its second its own), and all classes (ident). */
  static const struct
  {
    int w, h, c, frames, active[8];
  } pruned[] = {
    {64, 48, 21, 8, {3, 6, 2, 1, 4, 9, 5, 17}},
    {33, 17, 5, 4, {4, 5, 1, 3}},
    {31, 23, 3, 3, {3, 1, 2}},
    {97, 61, 30, 4, {2, 12, 3, 25}},
  };
  GRand *r = g_rand_new_with_seed (4);
  GError *err = NULL;
  cl_int st;

  if (!(cl = dls_cl_acquire (NULL, &err))) {
    fprintf (stderr, "no OpenCL: %s\n", err->message);
    return dls_test_in_ci ()? 1 : DLS_TEST_SKIP;
  }
  queue = clCreateCommandQueue (dls_cl_context (cl), dls_cl_device (cl), 0,
      &st);
  if (st != CL_SUCCESS)
    return 1;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    for (int v2 = 0; v2 < 2; v2++)
      core_case (cases[i][0], cases[i][1], cases[i][2], v2, random_classes,
          2, 1, r);
  for (guint i = 0; i < G_N_ELEMENTS (pruned); i++)
    for (int v2 = 0; v2 < 2; v2++)
      core_case (pruned[i].w, pruned[i].h, pruned[i].c, v2, pruned[i].active,
          pruned[i].frames, 2, r);
  degenerate_case (1, 1, 21, r);
  degenerate_case (31, 9, 21, r);
  degenerate_case (31, 9, 1, r);
  bad_values ();
  engine_case (1, 1, 1.0f, r);
  engine_case (21, 0, 1.0f, r);
  engine_case (3, 1, 1.0f, r);
  engine_case (21, 0, 0.5f, r);
  engine_case (3, 1, 0.5f, r);
  clReleaseCommandQueue (queue);
  dls_cl_release (cl);
  g_rand_free (r);
  printf ("# %d failures\n", failures);
  return failures ? 1 : 0;
}

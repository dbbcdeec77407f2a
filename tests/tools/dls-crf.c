/* dls-crf: run deeplabseg's dense CRF (C reference or OpenCL) on raw
 * arrays, for the CRF tests (vs pydensecrf) and the CRF benchmark.
 *
 *   dls-crf --width W --height H --classes C --rgb in.u8 --unary in.f32
 *           [--backend ref|opencl] [--device D] [--iterations N]
 *           [--gaussian-sxy S --gaussian-weight W --bilateral-sxy S
 *            --bilateral-srgb S --bilateral-weight W]
 *           [--min-class-probability E] [--q-init q0.f32] [--print-active]
 *           [--q out.f32] [--map out.u8] [--repeat R]
 *
 * in.u8: H x W x 3 bytes (RGB); in.f32: H x W x C float32 unary energies
 * U (pydensecrf's setUnaryEnergy, transposed to pixel-major); out.f32: Q
 * (H x W x C float32); out.u8: argmax map. Parameters default to the
 * pydensecrf demo's (Gaussian 3/3, bilateral 80/13/10, 5 iterations) and
 * the element's class pruning (--min-class-probability, crf.h; 0 = every
 * class). --q-init: the N iterations start from this Q (H x W x C
 * float32, a warm start) instead of softmax (-U). --print-active: prints
 * "active: A1 A2 ..." (the classes that got messages in each iteration;
 * the OpenCL path: the last iteration's only).
 * --repeat R: after one warm-up, R timed runs of each phase; prints one
 * JSON line {"backend","width","height","classes","setup_ms" (lattices
 * built and uploaded), "iteration_ms" (one mean-field update),
 * "frame_ms" (setup + start + N iterations + map read back),
 * "warm_frame_ms" (setup + 1 iteration from the previous Q + map read)}
 * with medians. Exit status 0 on success, 1 on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crf/crf.h"
#include "crf/crf_cl.h"

static int opt_w, opt_h, opt_c, opt_repeat;
static int opt_iterations = -1;
static char *opt_rgb, *opt_unary, *opt_q, *opt_map, *opt_backend,
    *opt_device, *opt_q_init;
static double opt_gs = -1, opt_gw = -1, opt_bs = -1, opt_br = -1,
    opt_bw = -1, opt_eps = -1;
static gboolean opt_print_active;
static float *q_init;

static GOptionEntry entries[] = {
  {"width", 0, 0, G_OPTION_ARG_INT, &opt_w, "Width", "W"},
  {"height", 0, 0, G_OPTION_ARG_INT, &opt_h, "Height", "H"},
  {"classes", 0, 0, G_OPTION_ARG_INT, &opt_c, "Classes", "C"},
  {"rgb", 0, 0, G_OPTION_ARG_FILENAME, &opt_rgb, "RGB bytes HxWx3", "F"},
  {"unary", 0, 0, G_OPTION_ARG_FILENAME, &opt_unary,
      "Unary energies float32 HxWxC", "F"},
  {"backend", 0, 0, G_OPTION_ARG_STRING, &opt_backend,
      "ref or opencl (default)", "B"},
  {"device", 0, 0, G_OPTION_ARG_STRING, &opt_device, "OpenCL device", "D"},
  {"iterations", 0, 0, G_OPTION_ARG_INT, &opt_iterations, "Iterations",
      "N"},
  {"gaussian-sxy", 0, 0, G_OPTION_ARG_DOUBLE, &opt_gs, "", "S"},
  {"gaussian-weight", 0, 0, G_OPTION_ARG_DOUBLE, &opt_gw, "", "W"},
  {"bilateral-sxy", 0, 0, G_OPTION_ARG_DOUBLE, &opt_bs, "", "S"},
  {"bilateral-srgb", 0, 0, G_OPTION_ARG_DOUBLE, &opt_br, "", "S"},
  {"bilateral-weight", 0, 0, G_OPTION_ARG_DOUBLE, &opt_bw, "", "W"},
  {"min-class-probability", 0, 0, G_OPTION_ARG_DOUBLE, &opt_eps,
      "Class pruning threshold (0 = every class)", "E"},
  {"q-init", 0, 0, G_OPTION_ARG_FILENAME, &opt_q_init,
      "Start from this Q (float32 HxWxC)", "F"},
  {"print-active", 0, 0, G_OPTION_ARG_NONE, &opt_print_active,
      "Print the active classes of each iteration", NULL},
  {"q", 0, 0, G_OPTION_ARG_FILENAME, &opt_q, "Write Q (float32)", "F"},
  {"map", 0, 0, G_OPTION_ARG_FILENAME, &opt_map, "Write the map (u8)", "F"},
  {"repeat", 0, 0, G_OPTION_ARG_INT, &opt_repeat, "Time R runs", "R"},
  {NULL}
};

static gboolean
read_exact (const char *path, void *buf, gsize size, GError ** error)
{
  gchar *data;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, error))
    return FALSE;
  if (len != size) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: %zu bytes, expected %zu", path, len, size);
    g_free (data);
    return FALSE;
  }
  memcpy (buf, data, size);
  g_free (data);
  return TRUE;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof (double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define NOW_MS() (g_get_monotonic_time () / 1000.0)

/* ---- C reference ---- */

static void
ref_setup (DlsCrf * crf, const DlsCrfParams * p, const guint8 * rgb)
{
  dls_crf_clear_pairwise (crf);
  dls_crf_add_pairwise_gaussian (crf, p->gaussian_sxy, p->gaussian_weight);
  dls_crf_add_pairwise_bilateral (crf, p->bilateral_sxy, p->bilateral_srgb,
      rgb, opt_w * 3, p->bilateral_weight);
}

static gboolean
run_ref (const DlsCrfParams * p, const guint8 * rgb, const float *unary,
    float *q, guint8 * map, GError ** error)
{
  DlsCrf *crf = dls_crf_new (opt_w, opt_h, opt_c);
  double *t[4];
  int r = MAX (opt_repeat, 1);

  dls_crf_set_unary (crf, unary);
  dls_crf_set_min_class_probability (crf, p->min_class_probability);
  ref_setup (crf, p, rgb);
  if (q_init)
    dls_crf_set_q (crf, q_init);
  else
    dls_crf_start (crf);
  if (opt_print_active)
    printf ("active:");
  for (int i = 0; i < p->iterations; i++) {
    if (!dls_crf_step (crf)) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "CRF step");
      dls_crf_free (crf);
      return FALSE;
    }
    if (opt_print_active)
      printf (" %d", dls_crf_n_active (crf));
  }
  if (opt_print_active)
    printf ("\n");
  memcpy (q, dls_crf_q (crf), sizeof (float) * opt_w * opt_h * opt_c);
  dls_crf_map (crf, map, opt_w, NULL, 0);
  if (opt_repeat > 0) {
    for (int i = 0; i < 4; i++)
      t[i] = g_new (double, r);
    for (int i = 0; i < r; i++) {
      double t0 = NOW_MS (), t1, t2, t3;
      ref_setup (crf, p, rgb);
      t1 = NOW_MS ();
      dls_crf_start (crf);
      t2 = NOW_MS ();
      dls_crf_step (crf);
      t3 = NOW_MS ();
      for (int k = 1; k < p->iterations; k++)
        dls_crf_step (crf);
      dls_crf_map (crf, map, opt_w, NULL, 0);
      t[0][i] = t1 - t0;
      t[1][i] = t3 - t2;
      t[2][i] = NOW_MS () - t0;
      /* Warm: set up, one step from the Q there, map. */
      t0 = NOW_MS ();
      ref_setup (crf, p, rgb);
      dls_crf_step (crf);
      dls_crf_map (crf, map, opt_w, NULL, 0);
      t[3][i] = NOW_MS () - t0;
    }
    printf ("{\"backend\":\"ref\",\"width\":%d,\"height\":%d,\"classes\":%d,"
        "\"iterations\":%d,\"setup_ms\":%.3f,\"iteration_ms\":%.3f,"
        "\"frame_ms\":%.3f,\"warm_frame_ms\":%.3f}\n", opt_w, opt_h, opt_c,
        p->iterations, median (t[0], r), median (t[1], r), median (t[2], r),
        median (t[3], r));
    for (int i = 0; i < 4; i++)
      g_free (t[i]);
  }
  dls_crf_free (crf);
  return TRUE;
}

/* ---- OpenCL ---- */

static gboolean
cl_frame (DlsCrfCl * crf, cl_command_queue queue, const DlsCrfParams * p,
    const guint8 * rgb, int iterations, gboolean warm, cl_mem map_mem,
    guint8 * map, GError ** error)
{
  return dls_crf_cl_set_image (crf, rgb, opt_w * 3, p, error)
      && dls_crf_cl_run (crf, iterations, warm, error)
      && dls_crf_cl_argmax (crf, map_mem, NULL, error)
      && dls_cl_check (clEnqueueReadBuffer (queue, map_mem, CL_TRUE, 0,
          (gsize) opt_w * opt_h, map, 0, NULL, NULL), "read map", error);
}

static gboolean
run_opencl (const DlsCrfParams * p, const guint8 * rgb, const float *unary,
    float *q, guint8 * map, GError ** error)
{
  const gsize n = (gsize) opt_w * opt_h;
  DlsCl *cl = NULL;
  DlsCrfCl *crf = NULL;
  cl_command_queue queue = NULL;
  cl_mem map_mem = NULL;
  float *padded = NULL;
  gboolean ok = FALSE;
  cl_int st;
  int cp;
  double *t[4] = { NULL };
  int r = MAX (opt_repeat, 1);

  if (!(cl = dls_cl_acquire (opt_device, error)))
    return FALSE;
  queue = clCreateCommandQueue (dls_cl_context (cl), dls_cl_device (cl), 0,
      &st);
  if (!dls_cl_check (st, "clCreateCommandQueue", error))
    goto done;
  map_mem = clCreateBuffer (dls_cl_context (cl), CL_MEM_READ_WRITE, n, NULL,
      &st);
  if (!dls_cl_check (st, "clCreateBuffer (map)", error))
    goto done;
  crf = dls_crf_cl_new (cl, queue, error);
  if (!crf || !dls_crf_cl_set_size (crf, opt_w, opt_h, opt_c, error))
    goto done;
  cp = dls_crf_cl_row (crf);
  padded = g_new (float, n * cp);
  for (gsize i = 0; i < n; i++)
    for (int k = 0; k < cp; k++)
      padded[i * cp + k] = k < opt_c ? unary[i * opt_c + k] : 1e30f;
  if (!dls_cl_check (clEnqueueWriteBuffer (queue, dls_crf_cl_unary (crf),
              CL_TRUE, 0, n * cp * sizeof (float), padded, 0, NULL, NULL),
          "write unary", error))
    goto done;
  if (q_init) {
    /* the padded lanes of Q are 0 */
    for (gsize i = 0; i < n; i++)
      for (int k = 0; k < cp; k++)
        padded[i * cp + k] = k < opt_c ? q_init[i * opt_c + k] : 0.0f;
    if (!dls_crf_cl_set_image (crf, rgb, opt_w * 3, p, error)
        || !dls_crf_cl_run (crf, 0, FALSE, error)
        || !dls_cl_check (clEnqueueWriteBuffer (queue, dls_crf_cl_q (crf),
                CL_TRUE, 0, n * cp * sizeof (float), padded, 0, NULL, NULL),
            "write Q", error))
      goto done;
  }
  if (!cl_frame (crf, queue, p, rgb, p->iterations, q_init != NULL, map_mem,
          map, error)
      || !dls_crf_cl_read_q (crf, q, error))
    goto done;
  if (opt_print_active) {
    int na;
    if (!dls_crf_cl_read_n_active (crf, &na, error))
      goto done;
    printf ("active: %d\n", na);
  }
  if (opt_repeat > 0) {
    for (int i = 0; i < 4; i++)
      t[i] = g_new (double, r);
    for (int i = 0; i < r; i++) {
      double t0 = NOW_MS (), t1, t2;
      if (!dls_crf_cl_set_image (crf, rgb, opt_w * 3, p, error)
          || !dls_cl_check (clFinish (queue), "clFinish", error))
        goto done;
      t[0][i] = NOW_MS () - t0;
      if (!dls_crf_cl_run (crf, 0, FALSE, error)
          || !dls_cl_check (clFinish (queue), "clFinish", error))
        goto done;
      t1 = NOW_MS ();
      if (!dls_crf_cl_run (crf, p->iterations, TRUE, error)
          || !dls_cl_check (clFinish (queue), "clFinish", error))
        goto done;
      t2 = NOW_MS ();
      t[1][i] = (t2 - t1) / MAX (p->iterations, 1);
      t0 = NOW_MS ();
      if (!cl_frame (crf, queue, p, rgb, p->iterations, FALSE, map_mem, map,
              error))
        goto done;
      t[2][i] = NOW_MS () - t0;
      t0 = NOW_MS ();
      if (!cl_frame (crf, queue, p, rgb, 1, TRUE, map_mem, map, error))
        goto done;
      t[3][i] = NOW_MS () - t0;
    }
    printf ("{\"backend\":\"opencl\",\"device\":\"%s\",\"width\":%d,"
        "\"height\":%d,\"classes\":%d,\"iterations\":%d,\"setup_ms\":%.3f,"
        "\"iteration_ms\":%.3f,\"frame_ms\":%.3f,\"warm_frame_ms\":%.3f}\n",
        dls_cl_device_name (cl), opt_w, opt_h, opt_c, p->iterations,
        median (t[0], r), median (t[1], r), median (t[2], r),
        median (t[3], r));
    /* The timed runs changed Q: leave the first run's results. */
  }
  ok = TRUE;
done:
  for (int i = 0; i < 4; i++)
    g_free (t[i]);
  g_free (padded);
  dls_crf_cl_free (crf);
  if (map_mem)
    clReleaseMemObject (map_mem);
  if (queue)
    clReleaseCommandQueue (queue);
  dls_cl_release (cl);
  return ok;
}

int
main (int argc, char **argv)
{
  GOptionContext *ctx = g_option_context_new ("- deeplabseg dense CRF");
  GError *err = NULL;
  DlsCrfParams p;
  guint8 *rgb = NULL, *map = NULL;
  float *unary = NULL, *q = NULL;
  gsize n;
  gboolean ok;
  int ret = 1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err))
    goto out;
  if (opt_w < 1 || opt_h < 1 || opt_c < 1 || opt_c > 256 || !opt_rgb
      || !opt_unary || (gint64) opt_w * opt_h > (1 << 24)) {
    g_set_error (&err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "need --width, --height, --classes (1..256), --rgb and --unary");
    goto out;
  }
  dls_crf_params_init (&p);
  if (opt_iterations >= 0)
    p.iterations = opt_iterations;
#define OPT(o, f) if (o >= 0) p.f = (float) o
  OPT (opt_gs, gaussian_sxy);
  OPT (opt_gw, gaussian_weight);
  OPT (opt_bs, bilateral_sxy);
  OPT (opt_br, bilateral_srgb);
  OPT (opt_bw, bilateral_weight);
  OPT (opt_eps, min_class_probability);
#undef OPT
  if (!dls_crf_params_valid (&p, &err))
    goto out;
  n = (gsize) opt_w * opt_h;
  rgb = g_new (guint8, n * 3);
  unary = g_new (float, n * opt_c);
  q = g_new (float, n * opt_c);
  map = g_new (guint8, n);
  if (!read_exact (opt_rgb, rgb, n * 3, &err)
      || !read_exact (opt_unary, unary, n * opt_c * sizeof (float), &err))
    goto out;
  if (opt_q_init) {
    q_init = g_new (float, n * opt_c);
    if (!read_exact (opt_q_init, q_init, n * opt_c * sizeof (float), &err))
      goto out;
  }
  if (!opt_backend || strcmp (opt_backend, "opencl") == 0)
    ok = run_opencl (&p, rgb, unary, q, map, &err);
  else if (strcmp (opt_backend, "ref") == 0)
    ok = run_ref (&p, rgb, unary, q, map, &err);
  else {
    g_set_error (&err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "unknown backend '%s'", opt_backend);
    ok = FALSE;
  }
  if (!ok)
    goto out;
  if ((opt_q && !g_file_set_contents (opt_q, (const gchar *) q,
              n * opt_c * sizeof (float), &err))
      || (opt_map && !g_file_set_contents (opt_map, (const gchar *) map, n,
              &err)))
    goto out;
  ret = 0;
out:
  if (err)
    fprintf (stderr, "dls-crf: %s\n", err->message);
  g_clear_error (&err);
  g_option_context_free (ctx);
  g_free (rgb);
  g_free (unary);
  g_free (q);
  g_free (q_init);
  g_free (map);
  return ret;
}

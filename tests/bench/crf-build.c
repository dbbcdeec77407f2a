/* dls-crf-build: the host's share of a CRF frame, the bilateral lattice
 * build (gst/crf/crf.c) and its normalisation, timed alone
 * (docs/performance.md, "Dense CRF").
 *
 *   dls-crf-build WIDTH HEIGHT RGB_FILE [SXY SRGB [REPEAT]]
 *
 * RGB_FILE: HEIGHT x WIDTH x 3 bytes. SXY and SRGB are in grid pixels
 * (default 33.5 and 3: the element's defaults on a 640x480 frame at
 * crf-scale 0.5). After one warm-up, REPEAT (default 7) builds, each
 * followed by the normalisation; prints one JSON line with the vertex
 * count and the best (least) wall and CPU times (CPU summed over the
 * process's threads: the build runs on two) in milliseconds.
 */
#include "crf/crf.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now_ms (clockid_t clock)
{
  struct timespec ts;

  clock_gettime (clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main (int argc, char **argv)
{
  int w, h, n, repeat;
  float sxy, srgb;
  gsize len = 0;
  gchar *rgb = NULL;
  float *f, *norm;
  DlsLattice *l;
  double best[4] = { 1e30, 1e30, 1e30, 1e30 };

  if (argc < 4) {
    fprintf (stderr, "usage: %s WIDTH HEIGHT RGB_FILE [SXY SRGB [REPEAT]]\n",
        argv[0]);
    return 2;
  }
  w = atoi (argv[1]);
  h = atoi (argv[2]);
  sxy = argc > 5 ? (float) atof (argv[4]) : 33.5f;
  srgb = argc > 5 ? (float) atof (argv[5]) : 3.0f;
  repeat = argc > 6 ? atoi (argv[6]) : 7;
  if (w < 1 || h < 1 || (gint64) w * h > (1 << 24) || repeat < 1
      || !g_file_get_contents (argv[3], &rgb, &len, NULL)
      || len != (gsize) w * h * 3) {
    fprintf (stderr, "need a %dx%d RGB file\n", w, h);
    return 1;
  }
  n = w * h;
  f = g_new (float, (gsize) n * 5);
  norm = g_new (float, n);
  dls_crf_bilateral_features (f, w, h, sxy, srgb, (const guint8 *) rgb,
      w * 3);
  if (!(l = dls_lattice_new (5, n)))
    return 1;
  for (int r = 0; r <= repeat; r++) {
    double w0 = now_ms (CLOCK_MONOTONIC);
    double c0 = now_ms (CLOCK_PROCESS_CPUTIME_ID), w1, c1, w2, c2;

    if (!dls_lattice_build (l, f, n))
      return 1;
    w1 = now_ms (CLOCK_MONOTONIC);
    c1 = now_ms (CLOCK_PROCESS_CPUTIME_ID);
    if (!dls_crf_lattice_norm (l, norm))
      return 1;
    w2 = now_ms (CLOCK_MONOTONIC);
    c2 = now_ms (CLOCK_PROCESS_CPUTIME_ID);
    if (r == 0)
      continue;
    best[0] = MIN (best[0], w1 - w0);
    best[1] = MIN (best[1], c1 - c0);
    best[2] = MIN (best[2], w2 - w1);
    best[3] = MIN (best[3], c2 - c1);
  }
  printf ("{\"points\":%d,\"vertices\":%d,\"build_wall_ms\":%.2f,"
      "\"build_cpu_ms\":%.2f,\"norm_wall_ms\":%.2f,\"norm_cpu_ms\":%.2f}\n",
      n, dls_lattice_n_vertices (l), best[0], best[1], best[2], best[3]);
  dls_lattice_free (l);
  g_free (f);
  g_free (norm);
  g_free (rgb);
  return 0;
}

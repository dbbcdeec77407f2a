/* dls-fma-peak: the machine's single-precision FMA peak, for the bench.
 *
 *   dls-fma-peak [THREADS]     (default: the number of online CPUs)
 *
 * Every thread runs independent chains of vector FMAs (GCC vector
 * extensions, built with -march=native, so the widest vector unit the CPU
 * has) on register-resident data; enough chains to hide the FMA latency
 * on two pipes. Prints {"threads":T,"gflops":G,"vector_bits":B} with G the
 * best of 5 rounds (2 flops per FMA lane).
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __AVX512F__
#define VEC_BYTES 64
#define N_CHAINS 16             /* 32 zmm registers */
#else
#define VEC_BYTES 32
#define N_CHAINS 10             /* 16 ymm registers */
#endif
#define LANES (VEC_BYTES / 4)
#define ITERS 20000000

typedef float vfloat __attribute__((vector_size (VEC_BYTES)));

static gpointer
fma_loop (gpointer data)
{
  vfloat acc[N_CHAINS], a, b;
  float *sink = data;
  float s = 0.0f;

  for (int l = 0; l < LANES; l++) {
    a[l] = 0.999999f;
    b[l] = 1e-7f * (l + 1);
  }
  for (int c = 0; c < N_CHAINS; c++)
    acc[c] = b * (float) c;
  for (long i = 0; i < ITERS; i++) {
#pragma GCC unroll 32
    for (int c = 0; c < N_CHAINS; c++)
      acc[c] = acc[c] * a + b;  /* contracted into one FMA */
    __asm__ volatile ("":"+x" (a));     /* keep the loop */
  }
  for (int c = 0; c < N_CHAINS; c++)
    for (int l = 0; l < LANES; l++)
      s += acc[c][l];
  *sink = s;
  return NULL;
}

int
main (int argc, char **argv)
{
  int threads = argc > 1 ? atoi (argv[1]) : (int) g_get_num_processors ();
  double best = 0.0;
  float *sinks;

  if (threads < 1 || threads > 256) {
    fprintf (stderr, "dls-fma-peak: bad thread count\n");
    return 1;
  }
  sinks = g_new0 (float, threads);
  for (int round = 0; round < 5; round++) {
    GThread **t = g_new (GThread *, threads);
    gint64 t0 = g_get_monotonic_time ();
    double s, gflops;
    for (int i = 0; i < threads; i++)
      t[i] = g_thread_new ("fma", fma_loop, &sinks[i]);
    for (int i = 0; i < threads; i++)
      g_thread_join (t[i]);
    s = (g_get_monotonic_time () - t0) / 1e6;
    gflops = 2.0 * LANES * N_CHAINS * (double) ITERS * threads / s / 1e9;
    best = MAX (best, gflops);
    g_free (t);
  }
  printf ("{\"threads\":%d,\"gflops\":%.1f,\"vector_bits\":%d}\n", threads,
      best, VEC_BYTES * 8);
  g_free (sinks);
  return 0;
}

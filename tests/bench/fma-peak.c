/* dls-fma-peak: the machine's single-precision FMA peak, for the bench.
 *
 *   dls-fma-peak [THREADS]     (default: the number of online CPUs)
 *
 * Every thread runs independent chains of vector FMAs (GCC vector
 * extensions, built with -march=native, so the widest vector unit the CPU
 * has) on register-resident data; enough chains to hide the FMA latency
 * on two pipes; 1000 short rounds. Prints {"threads":T,"gflops":G,
 * "vector_bits":B} with G the sum over the threads of each one's best
 * round (2 flops per FMA lane): on a machine shared with other jobs, each
 * thread's best round is one where it had its core to itself.
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
#define ITERS 250000

typedef float vfloat __attribute__((vector_size (VEC_BYTES)));

typedef struct
{
  float sink;
  double best_gflops;           /* this thread's best round */
} Worker;

static gpointer
fma_loop (gpointer data)
{
  vfloat acc[N_CHAINS], a, b;
  Worker *wk = data;
  float s = 0.0f;
  gint64 t0 = g_get_monotonic_time ();
  double secs;

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
  secs = (g_get_monotonic_time () - t0) / 1e6;
  for (int c = 0; c < N_CHAINS; c++)
    for (int l = 0; l < LANES; l++)
      s += acc[c][l];
  wk->sink = s;
  wk->best_gflops = MAX (wk->best_gflops,
      2.0 * LANES * N_CHAINS * (double) ITERS / secs / 1e9);
  return NULL;
}

int
main (int argc, char **argv)
{
  int threads = argc > 1 ? atoi (argv[1]) : (int) g_get_num_processors ();
  double total = 0.0;
  Worker *workers;

  if (threads < 1 || threads > 256) {
    fprintf (stderr, "dls-fma-peak: bad thread count\n");
    return 1;
  }
  workers = g_new0 (Worker, threads);
  for (int round = 0; round < 1000; round++) {
    GThread **t = g_new (GThread *, threads);
    for (int i = 0; i < threads; i++)
      t[i] = g_thread_new ("fma", fma_loop, &workers[i]);
    for (int i = 0; i < threads; i++)
      g_thread_join (t[i]);
    g_free (t);
  }
  for (int i = 0; i < threads; i++)
    total += workers[i].best_gflops;
  printf ("{\"threads\":%d,\"gflops\":%.1f,\"vector_bits\":%d}\n", threads,
      total, VEC_BYTES * 8);
  g_free (workers);
  return 0;
}

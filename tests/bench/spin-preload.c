/* libdls-spin-preload.so: an LD_PRELOAD experiment, never part of the
 * element. PoCL 3.1's pthread device puts a worker that runs out of
 * work-groups to sleep at once (pthread_cond_wait, no spin phase), and
 * the next kernel then waits for its wake-up. This library gives every
 * thread but the main one a spin phase: for SPIN_US microseconds after it
 * first finds nothing to do, pthread_cond_wait unlocks, pauses ~1 us and
 * returns (a spurious wake-up, which POSIX allows and PoCL's loops re-check),
 * then it sleeps as before. The gain on the graph is what PoCL's sleeps
 * cost (docs/performance.md, "Where a graph run ... spend their time"):
 *
 *   SPIN_US=100 LD_PRELOAD=build/tests/bench/libdls-spin-preload.so \
 *     build/tests/tools/dls-infer --model M --repeat 60 --no-readback
 *
 * Only for measuring: it spins every helper thread of the process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int (*real_wait) (pthread_cond_t *, pthread_mutex_t *);
static long spin_ns = -1;
static __thread long idle_start, last_exit;

static long
now_ns (void)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

int
pthread_cond_wait (pthread_cond_t * c, pthread_mutex_t * m)
{
  int r;

  if (!real_wait)
    real_wait = dlvsym (RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
  if (spin_ns < 0) {
    const char *s = getenv ("SPIN_US");

    spin_ns = s ? atol (s) * 1000 : 0;
  }
  if (spin_ns > 0 && syscall (SYS_gettid) != getpid ()) {
    long t = now_ns ();

    /* More than 3 us since the last return: the thread did work in
     * between, so a new idle period starts. */
    if (t - last_exit > 3000)
      idle_start = t;
    if (t - idle_start < spin_ns) {
      pthread_mutex_unlock (m);
      for (int i = 0; i < 50; i++)
        _mm_pause ();
      pthread_mutex_lock (m);
      last_exit = now_ns ();
      return 0;
    }
  }
  r = real_wait (c, m);
  last_exit = now_ns ();
  return r;
}

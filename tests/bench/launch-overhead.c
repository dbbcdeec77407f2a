/* dls-launch-overhead: what one kernel launch costs on the OpenCL device,
 * to weigh fusing steps (docs/performance.md, "Where the time goes").
 *
 *   dls-launch-overhead [DEVICE]     (DEVICE as the element's `device`)
 *
 * An empty kernel (one store no work-item reaches) with work-groups of 14
 * (conv1x1's), for 1, 13, 78 and 208 work-groups (a 33x33 conv1x1 has
 * 13 per channel block, 208 for 256 outputs): 600 launches queued on one
 * in-order queue then one clFinish, as the graph runs, and 200 launches
 * each followed by clFinish, as DLS_PROFILE runs them. Then what a
 * work-group costs: the same kernel with work-groups of 9 (depthwise's)
 * and 33 (resize_bilinear's), for 990 and 2000 groups (a 33x33x480
 * depthwise, the 257x257 resize) and for a quarter as many groups four
 * times larger (the same work-items). Best of 5 rounds (the machine may
 * be shared). Prints one JSON object a line:
 * {"local":L,"groups":G,"queued_us":Q,"finished_us":F}, microseconds per
 * launch.
 */
#include "backend/opencl.h"

#include <stdio.h>

static const char *source =
    "__kernel void empty (__global float *p, int never)\n"
    "{ if (get_global_id (0) == never) p[0] = 1.0f; }\n";

int
main (int argc, char **argv)
{
  /* (local size, work-groups) */
  static const size_t cases[][2] = {
    {14, 1}, {14, 13}, {14, 78}, {14, 208},
    {9, 990}, {36, 248}, {33, 2000}, {132, 500},
  };
  GError *error = NULL;
  DlsCl *cl = dls_cl_acquire (argc > 1 ? argv[1] : NULL, &error);
  cl_context ctx;
  cl_device_id dev;
  cl_command_queue q = NULL;
  cl_program prog = NULL;
  cl_kernel k = NULL;
  cl_mem buf = NULL;
  cl_int st;
  int never = -1, ret = 1;

  if (!cl) {
    g_printerr ("%s\n", error->message);
    return 77;
  }
  ctx = dls_cl_context (cl);
  dev = dls_cl_device (cl);
  q = clCreateCommandQueue (ctx, dev, 0, &st);
  if (st != CL_SUCCESS)
    goto out;
  prog = clCreateProgramWithSource (ctx, 1, &source, NULL, &st);
  if (st != CL_SUCCESS || clBuildProgram (prog, 1, &dev, "", NULL,
          NULL) != CL_SUCCESS)
    goto out;
  k = clCreateKernel (prog, "empty", &st);
  buf = clCreateBuffer (ctx, CL_MEM_READ_WRITE, 64, NULL, &st);
  if (!k || !buf || clSetKernelArg (k, 0, sizeof (buf), &buf) != CL_SUCCESS
      || clSetKernelArg (k, 1, sizeof (never), &never) != CL_SUCCESS)
    goto out;

  for (guint g = 0; g < G_N_ELEMENTS (cases); g++) {
    size_t local = cases[g][0], global = cases[g][0] * cases[g][1];
    double best_q = G_MAXDOUBLE, best_f = G_MAXDOUBLE;

    for (int round = 0; round < 5; round++) {
      gint64 t0, t1, t2;
      /* the first launch compiles the work-group function */
      clEnqueueNDRangeKernel (q, k, 1, NULL, &global, &local, 0, NULL, NULL);
      clFinish (q);
      t0 = g_get_monotonic_time ();
      for (int i = 0; i < 600; i++)
        clEnqueueNDRangeKernel (q, k, 1, NULL, &global, &local, 0, NULL,
            NULL);
      clFinish (q);
      t1 = g_get_monotonic_time ();
      for (int i = 0; i < 200; i++) {
        clEnqueueNDRangeKernel (q, k, 1, NULL, &global, &local, 0, NULL,
            NULL);
        clFinish (q);
      }
      t2 = g_get_monotonic_time ();
      best_q = MIN (best_q, (t1 - t0) / 600.0);
      best_f = MIN (best_f, (t2 - t1) / 200.0);
    }
    printf ("{\"local\":%zu,\"groups\":%zu,\"queued_us\":%.1f,"
        "\"finished_us\":%.1f}\n", local, cases[g][1], best_q, best_f);
  }
  ret = 0;
out:
  if (ret)
    g_printerr ("OpenCL setup failed (%d)\n", st);
  if (buf)
    clReleaseMemObject (buf);
  if (k)
    clReleaseKernel (k);
  if (prog)
    clReleaseProgram (prog);
  if (q)
    clReleaseCommandQueue (q);
  dls_cl_release (cl);
  return ret;
}

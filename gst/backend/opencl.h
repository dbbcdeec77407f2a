/* deeplabseg: the OpenCL runtime shared by every engine in the process
 * (platform, device, context and a program cache keyed by (kernel file,
 * build options)), and the OpenCL backend. */
#ifndef DLS_OPENCL_H
#define DLS_OPENCL_H

#include <CL/cl.h>
#include "backend.h"

G_BEGIN_DECLS

typedef struct _DlsCl DlsCl;

/* Returns the process-wide runtime for @device (NULL/"auto": first GPU,
 * else first CPU; "gpu"; "cpu"; "P:D" platform and device index), creating
 * it on first use; release with dls_cl_release(). DLS_ERROR_NO_DEVICE when
 * there is no platform or no matching device. */
DlsCl *dls_cl_acquire (const char *device, GError ** error);
void dls_cl_release (DlsCl * cl);
const char *dls_cl_device_name (const DlsCl * cl);
/* Process-wide counts, for tests of sharing: runtimes (one OpenCL context
 * each) alive, and programs they hold. */
void dls_cl_stats (guint * n_runtimes, guint * n_programs);
/* Process-wide: weight sets (one per model shared by its backends, one per
 * backend without a model key) and their device bytes, for tests. */
void dls_cl_weight_stats (guint * n_sets, guint64 * bytes);
cl_context dls_cl_context (const DlsCl * cl);
/* clCreateBuffer in @cl's context that counts its bytes (@what names the
 * buffer in the error; buffers around host memory, CL_MEM_USE_HOST_PTR,
 * are not counted); every device buffer of the engine, the backend and
 * the CRF is made by it. */
cl_mem dls_cl_buffer (DlsCl * cl, cl_mem_flags flags, gsize bytes,
    void *host, const char *what, GError ** error);
/* Bytes of the dls_cl_buffer() buffers alive in the process (for the
 * benchmark's memory figures and tests). */
gsize dls_cl_buffer_bytes (void);
/* Fault injection for tests: the @n-th dls_cl_buffer() call from now (any
 * thread) fails as an out-of-memory device would; 0 turns it off. */
void dls_cl_test_fail_buffer (int n);
cl_device_id dls_cl_device (const DlsCl * cl);

/* Builds (once per process) and returns kernel @kernel of kernels/@file.cl
 * compiled with @options. The kernel object is new: clReleaseKernel() it.
 * DLS_ERROR_KERNEL_BUILD carries the build log. */
cl_kernel dls_cl_kernel (DlsCl * cl, const char *file, const char *options,
    const char *kernel, GError ** error);

/* Sets a GError from an OpenCL status; returns FALSE if @status failed. */
gboolean dls_cl_check (cl_int status, const char *what, GError ** error);

/* The OpenCL backend; holds a reference on @cl. */
DlsBackend *dls_backend_opencl_new (DlsCl * cl, GError ** error);

/* Before prepare(): backends on one runtime given the same @model_key
 * (the model's identity, dls_model_acquire()) share one device copy of
 * the repacked weights, released with the last of them. */
void dls_backend_opencl_share_weights (DlsBackend * be,
    const char *model_key);

/* Device buffer and queue of the backend, for the engine's image kernels:
 * a tensor's buffer is NHWC with channels padded to *c_stride. */
cl_mem dls_backend_opencl_tensor (DlsBackend * be, int tensor_id,
    int *c_stride);
cl_command_queue dls_backend_opencl_queue (DlsBackend * be);

/* Whether runs of consecutive dw_conv1x1 steps go as one launch (the
 * tuning's dwf_chain; on after dls_backend_opencl_new() where the tuning
 * has it, off while $DLS_PROFILE times each step), or a launch a step.
 * In one launch the work-groups spin while they wait for each other's
 * last panels of a step: faster when the network has the cores to itself,
 * slower when host threads run beside it and lose their core to the spin
 * (the CRF's lattice build; dls_engine_set_crf() turns it off while the
 * CRF is on). Any time, between runs. */
void dls_backend_opencl_set_chained (DlsBackend * be, gboolean chained);

/* For tests of the graph rewrites: the kernels of the steps prepare()
 * filed under node @node, in order, space-separated ("" for none: a
 * node folded into another or elided); a step that runs in the launch of
 * the step before it when chained (dls_backend_opencl_set_chained()) with
 * a '+' before its kernel. Free with g_free(). */
char *dls_backend_opencl_node_kernels (DlsBackend * be, int node);

G_END_DECLS

#endif /* DLS_OPENCL_H */

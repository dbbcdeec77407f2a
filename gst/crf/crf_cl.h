/* deeplabseg: the dense CRF on OpenCL (kernels/crf.cl), driven by the
 * engine; same maths as the C reference in crf.h. The lattices are built
 * on the host with crf.c (the Gaussian kernel's tables only when the frame
 * size or its sxy changes) with their gather lists, into host arrays
 * the kernels read in place (mapped and unmapped on the queue, no copy on
 * a CPU device); every iteration runs on the device. Buffers are sized in
 * dls_crf_cl_set_size(); the vertex value buffers grow (with headroom)
 * only when a frame's lattice is larger than any before.
 */
#ifndef DLS_CRF_CL_H
#define DLS_CRF_CL_H

#include "../backend/opencl.h"
#include "crf.h"

G_BEGIN_DECLS

typedef struct _DlsCrfCl DlsCrfCl;

/* Enqueues on @queue (in order). */
DlsCrfCl *dls_crf_cl_new (DlsCl * cl, cl_command_queue queue,
    GError ** error);
void dls_crf_cl_free (DlsCrfCl * c);

/* Sizes every per-pixel buffer and builds the kernels for @n_classes;
 * drops the warm-start state. Cheap when nothing changed. */
gboolean dls_crf_cl_set_size (DlsCrfCl * c, int width, int height,
    int n_classes, GError ** error);
/* Classes padded to a multiple of 8: the row length of the unary buffer. */
int dls_crf_cl_row (const DlsCrfCl * c);
/* The unary energies U (pixels x row floats, padded lanes 1e30) the caller
 * fills before dls_crf_cl_run(); the engine upsamples -logits into it. */
cl_mem dls_crf_cl_unary (DlsCrfCl * c);

/* Builds the frame's lattices from @rgb (3 bytes a pixel, rows @stride
 * apart) and @p into their tables, and enqueues the tables' unmaps. Host
 * work only (the tables were mapped behind the previous run): call it
 * while the device runs the network. */
gboolean dls_crf_cl_set_image (DlsCrfCl * c, const guint8 * rgb, int stride,
    const DlsCrfParams * p, GError ** error);
/* Optional, before dls_crf_cl_set_image(): applies @p and enqueues what
 * the first iteration needs no bilateral lattice for (Q's start, its
 * active classes, its Gaussian message), so that the device does it while
 * the host builds the lattice; dls_crf_cl_run() then continues (with the
 * same @warm). */
gboolean dls_crf_cl_start (DlsCrfCl * c, const DlsCrfParams * p,
    gboolean warm, GError ** error);
/* Enqueues Q = softmax (-U) unless @warm and a previous Q exists (unless
 * dls_crf_cl_start() did), then @iterations mean-field updates. */
gboolean dls_crf_cl_run (DlsCrfCl * c, int iterations, gboolean warm,
    GError ** error);
/* Enqueues the argmax of Q into @map (width x height bytes) and, unless
 * @conf is NULL, round (255 * max Q) into @conf (same layout). */
gboolean dls_crf_cl_argmax (DlsCrfCl * c, cl_mem map, cl_mem conf,
    GError ** error);
/* Forgets the previous Q: the next run starts cold. */
void dls_crf_cl_reset (DlsCrfCl * c);
/* Whether a Q from a previous run is there to start from. */
gboolean dls_crf_cl_has_q (const DlsCrfCl * c);
/* Q (pixels x row floats), e.g. for upsampling it to a larger map. */
cl_mem dls_crf_cl_q (DlsCrfCl * c);
/* For tests: blocking read of the number of classes that got messages in
 * the last iteration (crf.h: class pruning; the last run's eps). */
gboolean dls_crf_cl_read_n_active (DlsCrfCl * c, int *n_active,
    GError ** error);
/* For tests: blocking read of Q (pixels x n_classes, dense). */
gboolean dls_crf_cl_read_q (DlsCrfCl * c, float *q, GError ** error);

G_END_DECLS

#endif /* DLS_CRF_CL_H */

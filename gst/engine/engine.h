/* deeplabseg: the engine. Owns a model graph, a backend and the image
 * kernels around it; the element (and tests, tools, benchmarks) drive it
 * without seeing OpenCL. All allocation and kernel building happens in
 * dls_engine_new() and dls_engine_set_frame(); dls_engine_process() only
 * enqueues work and reads the class map back.
 */
#ifndef DLS_ENGINE_H
#define DLS_ENGINE_H

#include "../graph/graph.h"
#include "image.h"
#include "../crf/crf.h"

G_BEGIN_DECLS

typedef struct _DlsEngine DlsEngine;

typedef enum
{
  DLS_BACKEND_OPENCL,
  DLS_BACKEND_REF,
} DlsBackendKind;

typedef struct
{
  DlsBackendKind backend;
  /* OpenCL device: NULL or "auto" (first GPU, else first CPU), "gpu",
   * "cpu", or "P:D" (platform and device index). */
  const char *device;
  float input_mean;             /* normalised = (v - mean) / std */
  float input_std;
} DlsEngineOptions;

#define DLS_DEFAULT_INPUT_MEAN 127.5f
#define DLS_DEFAULT_INPUT_STD 127.5f

void dls_engine_options_init (DlsEngineOptions * opts);

/* Loads the model (any format gst/model/ reads), prepares the backend.
 * Engines of the same model file (same bytes) in one process share its
 * parsed graph and, on one OpenCL device, its device weights. */
DlsEngine *dls_engine_new (const char *model_path,
    const DlsEngineOptions * opts, GError ** error);
/* The same from a finalized graph (taken over, freed on failure too); for
 * small synthetic models built in code by tests. */
DlsEngine *dls_engine_new_from_graph (DlsGraph * graph,
    const DlsEngineOptions * opts, GError ** error);
void dls_engine_free (DlsEngine * e);

int dls_engine_n_classes (const DlsEngine * e);
void dls_engine_input_size (const DlsEngine * e, int *width, int *height);
/* Size of the logits the network produces (before upsampling). */
void dls_engine_output_size (const DlsEngine * e, int *width, int *height);
/* Human-readable device description ("PoCL: pthread-haswell..."; "C reference"). */
const char *dls_engine_device_name (const DlsEngine * e);

/* Bytes of OpenCL device buffers alive in the process, every engine's
 * (weights, activations, frame planes, CRF), for the benchmark's memory
 * figures; 0 without OpenCL. */
gsize dls_engine_device_bytes (void);

/* Sizes the per-frame buffers for frames of @format, @width x @height.
 * Call when caps change; cheap when nothing changed. */
gboolean dls_engine_set_frame (DlsEngine * e, DlsPixelFormat format,
    int width, int height, GError ** error);

/* Runs one frame: preprocess, network, upsample + argmax. Writes the
 * class map (width x height bytes, rows @map_stride apart). */
gboolean dls_engine_process (DlsEngine * e, const DlsImage * frame,
    guint8 * map, int map_stride, GError ** error);

/* Per-pixel confidence: on, dls_engine_process_full() can also write
 * round (255 * max_c p_c) per pixel, p the softmax of the upsampled logits
 * (or, with the CRF, its final Q); 1..255. Sizes the device buffer for the
 * current frame (dls_engine_set_frame() resizes it): call it when the
 * setting changes, not per frame. Off by default. */
gboolean dls_engine_set_confidence (DlsEngine * e, gboolean on,
    GError ** error);
/* dls_engine_process() that also writes the confidence plane into @conf
 * (width x height bytes, rows @conf_stride apart) when @conf is not NULL
 * (which needs dls_engine_set_confidence (e, TRUE)). Computed in the same
 * kernel as the map and read back under the same wait; @conf NULL is
 * exactly dls_engine_process(). */
gboolean dls_engine_process_full (DlsEngine * e, const DlsImage * frame,
    guint8 * map, int map_stride, guint8 * conf, int conf_stride,
    GError ** error);

/* Runs the network alone on a dense NHWC input tensor of the model's input
 * shape; writes the dense NHWC logits (dls_engine_output_size() x
 * n_classes).
 * For fidelity tests and benchmarks. @logits may be NULL (no read back);
 * @input NULL runs on the input of the previous call, already in place
 * (as the element's own input, which its preprocess kernel writes). */
gboolean dls_engine_run_tensor (DlsEngine * e, const float *input,
    float *logits, GError ** error);

/* Dense CRF after the network (gst/crf/): @params turns it on with those
 * parameters, NULL turns it off. Sizes the CRF's buffers for the current
 * frame size (dls_engine_set_frame() resizes them): call it when a
 * parameter changes, not per frame. The map of dls_engine_process() is
 * then the CRF's.
 * Warm start (params->warm_start): a frame starts mean-field from the
 * previous frame's Q instead of softmax (-U) and runs warm_iterations;
 * the first frame, and any after dls_engine_crf_reset() or a scene cut
 * (mean absolute RGB difference to the previous frame above
 * DLS_CRF_SCENE_CUT levels), runs iterations from cold. */
gboolean dls_engine_set_crf (DlsEngine * e, const DlsCrfParams * params,
    GError ** error);
/* Forgets the previous frame (flush, seek, caps change, discontinuity). */
void dls_engine_crf_reset (DlsEngine * e);

#define DLS_CRF_SCENE_CUT 40.0f

G_END_DECLS

#endif /* DLS_ENGINE_H */

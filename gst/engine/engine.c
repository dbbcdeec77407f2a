/* deeplabseg: the engine -- model + backend + the image steps around it.
 *
 * OpenCL path, one frame (all on one in-order queue, one wait at the end):
 *   upload frame planes -> preprocess (kernels/image.cl) into the graph's
 *   input buffer -> graph steps -> the class map into the map buffer ->
 *   blocking read of the class map. The map: by the shortcut of image.cl
 *   (logits_summary, cell_classes, upsample_cells, upsample_mixed: a lookup
 *   for pixels inside a region, the interpolation at its edges), or, with
 *   confidence on, by upsample_argmax, which also writes the confidence
 *   plane (read without blocking just before the map). $DLS_PROFILE times
 *   each stage (a clFinish after each) and prints them at free.
 * With the dense CRF on (dls_engine_set_crf), upsample_argmax is replaced
 * by upsample_unary (U = -logits at frame size) -> mean-field on the device
 * (gst/crf/crf_cl.c) -> argmax of Q; the host builds the frame's lattice
 * meanwhile (the device is still busy with the network).
 * Reference path: the same with gst/engine/image.c, the C backend and the
 * C CRF (gst/crf/crf.c).
 */
#include "engine.h"

#include <math.h>

#include <string.h>
#include "../backend/opencl.h"
#include "../model/model.h"
#include "../crf/crf_cl.h"

/* Frame stages timed with $DLS_PROFILE. */
enum
{
  DLS_STAGE_UPLOAD,
  DLS_STAGE_PREPROCESS,
  DLS_STAGE_GRAPH,
  DLS_STAGE_MAP,
  DLS_STAGE_READBACK,
  DLS_STAGE_COUNT
};

struct _DlsEngine
{
  DlsBackendKind kind;
  const DlsGraph *graph;
  DlsGraph *own_graph;          /* built in code: the engine's own */
  gboolean shared_graph;        /* from dls_model_acquire() */
  DlsBackend *backend;
  DlsCl *cl;
  char *device_name;
  int in_w, in_h;                /* network input */
  int out_w, out_h, n_classes;  /* logits: upsampled to the frame */
  float mean, std;

  /* Frame geometry from dls_engine_set_frame(). */
  DlsPixelFormat format;
  int fw, fh;

  /* OpenCL image steps. */
  cl_command_queue queue;       /* the backend's */
  cl_kernel k_pre, k_up;
  /* the class map's shortcut (image.cl): logits_summary, cell_classes,
   * upsample_cells, upsample_mixed, and their buffers */
  cl_kernel k_sum, k_cells, k_ucells, k_mixed;
  cl_mem summary, cells;
  cl_mem frame_mem;
  gsize frame_cap;
  cl_mem map_mem;
  cl_mem conf_mem;              /* confidence plane, while conf_on */

  /* Confidence (dls_engine_set_confidence): sized with the frame. */
  gboolean conf_on;

  /* Reference path scratch (allocated once). */
  float *input, *logits;

  /* Dense CRF (dls_engine_set_crf); buffers sized with the frame. */
  gboolean crf_on;
  DlsCrfParams crf;
  DlsCrfCl *crf_cl;             /* OpenCL path */
  cl_kernel k_unary;
  DlsCrf *crf_ref;              /* reference path */
  float *crf_unary;             /* reference path: U at frame size */
  gboolean crf_ref_has_q;
  guint8 *rgb, *prev_rgb;       /* the frame as RGB; the previous one */
  gboolean have_prev;
  int crf_w, crf_h;             /* the CRF grid its buffers are sized for */
  cl_mem crf_summary, crf_cells;        /* the map shortcut's, for Q */
  DlsCrfParams crf_grid;        /* crf with the sxy in grid pixels */

  /* $DLS_PROFILE: each stage of a frame timed (with a clFinish after it),
   * printed by dls_engine_free(). */
  gboolean profile;
  gint64 stage_t0;
  gint64 stage_us[DLS_STAGE_COUNT], stage_min[DLS_STAGE_COUNT];
  int stage_runs[DLS_STAGE_COUNT];
};

static const char *const stage_names[DLS_STAGE_COUNT] = {
  "upload", "preprocess", "graph", "class map (and CRF)", "read back",
};

/* With $DLS_PROFILE: waits for the queue and files the time since the
 * last call under @stage. */
static void
stage_done (DlsEngine * e, int stage)
{
  gint64 now, us;

  if (G_LIKELY (!e->profile))
    return;
  if (e->queue)
    clFinish (e->queue);
  now = g_get_monotonic_time ();
  if (stage >= 0) {
    us = now - e->stage_t0;
    e->stage_us[stage] += us;
    e->stage_min[stage] = e->stage_runs[stage]
        ? MIN (e->stage_min[stage], us) : us;
    e->stage_runs[stage]++;
  }
  e->stage_t0 = now;
}

static void
print_stages (DlsEngine * e)
{
  g_printerr ("# engine frame profile (%dx%d)\n", e->fw, e->fh);
  for (int i = 0; i < DLS_STAGE_COUNT; i++)
    if (e->stage_runs[i])
      g_printerr ("%8.3f ms (min %7.3f)  %s\n",
          e->stage_us[i] / 1000.0 / e->stage_runs[i], e->stage_min[i] / 1000.0,
          stage_names[i]);
}

static DlsEngine *engine_new (const DlsGraph * shared, DlsGraph * own,
    const char *key, const char *what, const DlsEngineOptions * opts,
    GError ** error);

/* A kernel of kernels/image.cl (one program: the same options for all). */
static cl_kernel
image_kernel (DlsEngine * e, const char *name, GError ** error)
{
  return dls_cl_kernel (e->cl, "image",
      "-cl-fp32-correctly-rounded-divide-sqrt", name, error);
}

void
dls_engine_options_init (DlsEngineOptions * opts)
{
  memset (opts, 0, sizeof (*opts));
  opts->backend = DLS_BACKEND_OPENCL;
  opts->input_mean = DLS_DEFAULT_INPUT_MEAN;
  opts->input_std = DLS_DEFAULT_INPUT_STD;
}

/* The element needs one RGB input and one logits output of the same size. */
static gboolean
check_model_io (DlsEngine * e, const char *what, GError ** error)
{
  const DlsGraph *g = e->graph;
  const DlsTensor *in, *out;

  if (g->inputs->len != 1 || g->outputs->len != 1) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
        "model %s has %u inputs and %u outputs; a segmentation model "
        "with one image input and one logits output is needed", what,
        g->inputs->len, g->outputs->len);
    return FALSE;
  }
  in = dls_graph_tensor (g, dls_graph_input (g, 0));
  out = dls_graph_tensor (g, dls_graph_output (g, 0));
  if (in->dims[3] != 3) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
        "model %s input '%s' has %d channels, expected 3 (RGB)", what,
        in->name, in->dims[3]);
    return FALSE;
  }
  if (out->dims[3] < 1 || out->dims[3] > 256) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
        "model %s output '%s' has %d classes, 1..256 supported", what,
        out->name, out->dims[3]);
    return FALSE;
  }
  e->in_h = in->dims[1];
  e->in_w = in->dims[2];
  e->out_h = out->dims[1];
  e->out_w = out->dims[2];
  e->n_classes = out->dims[3];
  return TRUE;
}

DlsEngine *
dls_engine_new (const char *model_path, const DlsEngineOptions * opts,
    GError ** error)
{
  const char *key = NULL;
  const DlsGraph *g = dls_model_acquire (model_path, &key, error);
  DlsEngine *e;
  char *what;

  if (!g)
    return NULL;
  what = g_strdup_printf ("'%s'", model_path);
  e = engine_new (g, NULL, key, what, opts, error);
  g_free (what);
  return e;
}

DlsEngine *
dls_engine_new_from_graph (DlsGraph * graph, const DlsEngineOptions * opts,
    GError ** error)
{
  if (!dls_graph_finalize (graph, error)) {
    dls_graph_free (graph);
    return NULL;
  }
  return engine_new (NULL, graph, NULL, "(built in code)", opts, error);
}

/* One of @shared (from dls_model_acquire(), with its @key: engines of the
 * same model share its graph and device weights) or @own (taken over). */
static DlsEngine *
engine_new (const DlsGraph * shared, DlsGraph * own, const char *key,
    const char *what, const DlsEngineOptions * opts, GError ** error)
{
  DlsEngineOptions defaults;
  DlsEngine *e;

  if (!opts) {
    dls_engine_options_init (&defaults);
    opts = &defaults;
  }
  e = g_new0 (DlsEngine, 1);
  e->graph = shared ? shared : own;
  e->own_graph = own;
  e->shared_graph = shared != NULL;
  if (!(opts->input_std > 0.0f)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "input-std must be positive");
    goto fail;
  }
  e->kind = opts->backend;
  e->mean = opts->input_mean;
  e->std = opts->input_std;
  e->format = DLS_PIXEL_COUNT;
  e->profile = g_getenv ("DLS_PROFILE") != NULL;

  if (!check_model_io (e, what, error))
    goto fail;

  if (e->kind == DLS_BACKEND_REF) {
    e->backend = dls_backend_ref_new ();
    e->device_name = g_strdup ("C reference");
    e->input = g_new (float, (gsize) e->in_w * e->in_h * 3);
    e->logits = g_new (float, (gsize) e->out_w * e->out_h * e->n_classes);
  } else {
    if (!(e->cl = dls_cl_acquire (opts->device, error))
        || !(e->backend = dls_backend_opencl_new (e->cl, error)))
      goto fail;
    if (key)
      dls_backend_opencl_share_weights (e->backend, key);
    e->device_name = g_strdup (dls_cl_device_name (e->cl));
    e->queue = dls_backend_opencl_queue (e->backend);
    if (!(e->k_pre = image_kernel (e, "preprocess", error))
        || !(e->k_up = image_kernel (e, "upsample_argmax", error))
        || !(e->k_sum = image_kernel (e, "logits_summary", error))
        || !(e->k_cells = image_kernel (e, "cell_classes", error))
        || !(e->k_ucells = image_kernel (e, "upsample_cells", error))
        || !(e->k_mixed = image_kernel (e, "upsample_mixed", error))
        || !(e->summary = dls_cl_buffer (e->cl, CL_MEM_READ_WRITE,
                (gsize) e->out_w * e->out_h * 4 * sizeof (float), NULL,
                "clCreateBuffer (logits summary)", error))
        || !(e->cells = dls_cl_buffer (e->cl, CL_MEM_READ_WRITE,
                (gsize) e->out_w * e->out_h * sizeof (int), NULL,
                "clCreateBuffer (cell classes)", error)))
      goto fail;
  }
  if (!dls_backend_prepare (e->backend, e->graph, error))
    goto fail;
  return e;

fail:
  dls_engine_free (e);
  return NULL;
}

static void
release_frame_buffers (DlsEngine * e)
{
  if (e->frame_mem)
    clReleaseMemObject (e->frame_mem);
  if (e->map_mem)
    clReleaseMemObject (e->map_mem);
  if (e->conf_mem)
    clReleaseMemObject (e->conf_mem);
  e->frame_mem = e->map_mem = e->conf_mem = NULL;
  e->frame_cap = 0;
}

/* A device plane of @w x @h bytes (class map, confidence). */
static cl_mem
plane_new (DlsEngine * e, int w, int h, const char *what, GError ** error)
{
  return dls_cl_buffer (e->cl, CL_MEM_READ_WRITE, (gsize) w * h, NULL, what,
      error);
}

/**
 * dls_engine_set_confidence:
 * @on: compute the confidence plane for the frames after this call
 *
 * Sizes the device's confidence buffer for the current frame size (then
 * again in dls_engine_set_frame()); turning it off frees nothing. On
 * failure the setting stays as it was.
 */
gboolean
dls_engine_set_confidence (DlsEngine * e, gboolean on, GError ** error)
{
  if (on && e->kind != DLS_BACKEND_REF && e->fw > 0 && !e->conf_mem
      && !(e->conf_mem = plane_new (e, e->fw, e->fh,
              "clCreateBuffer (confidence)", error)))
    return FALSE;
  e->conf_on = on;
  return TRUE;
}

static void crf_free_buffers (DlsEngine * e);

void
dls_engine_free (DlsEngine * e)
{
  if (!e)
    return;
  if (e->queue)
    clFinish (e->queue);
  if (e->profile)
    print_stages (e);
  crf_free_buffers (e);
  release_frame_buffers (e);
  {
    cl_kernel ks[] = { e->k_unary, e->k_pre, e->k_up, e->k_sum, e->k_cells,
      e->k_ucells, e->k_mixed
    };
    for (guint i = 0; i < G_N_ELEMENTS (ks); i++)
      if (ks[i])
        clReleaseKernel (ks[i]);
  }
  if (e->summary)
    clReleaseMemObject (e->summary);
  if (e->cells)
    clReleaseMemObject (e->cells);
  dls_backend_free (e->backend);
  dls_cl_release (e->cl);
  if (e->shared_graph)
    dls_model_release (e->graph);
  dls_graph_free (e->own_graph);
  g_free (e->device_name);
  g_free (e->input);
  g_free (e->logits);
  g_free (e);
}

int
dls_engine_n_classes (const DlsEngine * e)
{
  return e->n_classes;
}

void
dls_engine_input_size (const DlsEngine * e, int *width, int *height)
{
  if (width)
    *width = e->in_w;
  if (height)
    *height = e->in_h;
}

void
dls_engine_output_size (const DlsEngine * e, int *width, int *height)
{
  if (width)
    *width = e->out_w;
  if (height)
    *height = e->out_h;
}

const char *
dls_engine_device_name (const DlsEngine * e)
{
  return e->device_name;
}

gsize
dls_engine_device_bytes (void)
{
  return dls_cl_buffer_bytes ();
}

/* ---- dense CRF ---- */

/* What the CRF needs at one grid size; made aside and swapped in whole,
 * so a failure leaves the engine's previous CRF as it was. */
typedef struct
{
  DlsCrfCl *cl;                 /* OpenCL path */
  DlsCrf *ref;                  /* reference path */
  float *unary;                 /* reference path: U at grid size */
  guint8 *rgb, *prev_rgb;
  cl_mem summary, cells;        /* the class map's shortcut on Q (grid) */
  int w, h;
} CrfBuffers;

static void
crf_buffers_clear (CrfBuffers * b)
{
  g_clear_pointer (&b->cl, dls_crf_cl_free);
  g_clear_pointer (&b->ref, dls_crf_free);
  g_clear_pointer (&b->unary, g_free);
  g_clear_pointer (&b->rgb, g_free);
  g_clear_pointer (&b->prev_rgb, g_free);
  if (b->summary)
    clReleaseMemObject (b->summary);
  if (b->cells)
    clReleaseMemObject (b->cells);
  b->summary = b->cells = NULL;
  b->w = b->h = 0;
}

static void
crf_free_buffers (DlsEngine * e)
{
  CrfBuffers b = { e->crf_cl, e->crf_ref, e->crf_unary, e->rgb, e->prev_rgb,
    e->crf_summary, e->crf_cells, e->crf_w, e->crf_h
  };

  crf_buffers_clear (&b);
  e->crf_cl = NULL;
  e->crf_ref = NULL;
  e->crf_unary = NULL;
  e->rgb = e->prev_rgb = NULL;
  e->crf_summary = e->crf_cells = NULL;
  e->have_prev = e->crf_ref_has_q = FALSE;
  e->crf_w = e->crf_h = 0;
}

/* The CRF grid of a @fw x @fh frame: round (frame * scale), at least 1x1,
 * and at most CRF_MAX_POINTS points: a larger frame's grid takes the
 * scale that fits (truncated, so the product stays within), as the
 * crf-scale property documents. The lattice and its device tables take
 * ~0.6 KB a point (the neighbour lists alone 288 bytes: a 4K frame at
 * scale 1 asked for a 2.3 GB array, fuzz-element). */
#define CRF_MAX_POINTS (1 << 21)        /* 1920x1080 at scale 1 fits */
static void
crf_grid_size (int fw, int fh, float scale, int *gw, int *gh)
{
  double points = (double) fw * scale * fh * scale;

  if (points > CRF_MAX_POINTS) {
    double s = scale * sqrt (CRF_MAX_POINTS / points);
    *gw = MAX (1, (int) (fw * s));
    *gh = MAX (1, (int) (fh * s));
    return;
  }
  *gw = MAX (1, (int) (fw * scale + 0.5f));
  *gh = MAX (1, (int) (fh * scale + 0.5f));
}

/* e->crf_grid: e->crf with the position standard deviations in grid
 * pixels (they shrink with the grid). */
static void
crf_update_grid (DlsEngine * e)
{
  int gw, gh;
  float s;

  crf_grid_size (e->fw, e->fh, e->crf.scale, &gw, &gh);
  s = e->fw > 0 ? (float) gw / (float) e->fw : 1.0f;
  e->crf_grid = e->crf;
  e->crf_grid.gaussian_sxy = MAX (0.01f, e->crf.gaussian_sxy * s);
  e->crf_grid.bilateral_sxy = MAX (0.01f, e->crf.bilateral_sxy * s);
}

/* Sizes the CRF for a @fw x @fh frame with @scale (no-op when it already
 * is, or before the first dls_engine_set_frame()). All or nothing: on
 * failure the previous buffers stay. */
static gboolean
crf_size (DlsEngine * e, int fw, int fh, float scale, GError ** error)
{
  CrfBuffers b = { 0 };
  int gw, gh;
  gsize n;

  if (fw < 1)
    return TRUE;
  crf_grid_size (fw, fh, scale, &gw, &gh);
  if (gw == e->crf_w && gh == e->crf_h)
    return TRUE;
  n = (gsize) gw * gh;
  if (e->kind == DLS_BACKEND_REF) {
    if (!(b.ref = dls_crf_new (gw, gh, e->n_classes))
        || !(b.unary = dls_crf_alloc (n * e->n_classes, sizeof (float)))) {
      crf_buffers_clear (&b);
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "CRF: cannot allocate the %dx%d grid's tables", gw, gh);
    }
  } else {
    if (!e->k_unary && !(e->k_unary = image_kernel (e, "upsample_unary",
                error)))
      return FALSE;
    if (!(b.cl = dls_crf_cl_new (e->cl, e->queue, error))
        || !dls_crf_cl_set_size (b.cl, gw, gh, e->n_classes, error)
        || !(b.summary = dls_cl_buffer (e->cl, CL_MEM_READ_WRITE,
                n * 4 * sizeof (float), NULL, "clCreateBuffer (Q summary)",
                error))
        || !(b.cells = dls_cl_buffer (e->cl, CL_MEM_READ_WRITE,
                n * sizeof (int), NULL, "clCreateBuffer (Q cells)",
                error))) {
      crf_buffers_clear (&b);
      return FALSE;
    }
  }
  if (!(b.rgb = dls_crf_alloc (n, 3)) || !(b.prev_rgb = dls_crf_alloc (n, 3))) {
    crf_buffers_clear (&b);
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "CRF: cannot allocate the %dx%d grid's images", gw, gh);
  }
  crf_free_buffers (e);
  e->crf_cl = b.cl;
  e->crf_ref = b.ref;
  e->crf_unary = b.unary;
  e->rgb = b.rgb;
  e->prev_rgb = b.prev_rgb;
  e->crf_summary = b.summary;
  e->crf_cells = b.cells;
  e->crf_w = gw;
  e->crf_h = gh;
  return TRUE;
}

/**
 * dls_engine_set_crf:
 * @params: (nullable): the CRF's parameters, NULL to turn it off
 *
 * Turns the dense CRF on (or off) for the next frames. Sizes its buffers
 * for the current frame size (then again in dls_engine_set_frame()); a
 * change of parameters alone allocates nothing. On failure the CRF stays
 * as it was (on with the old parameters, or off).
 */
gboolean
dls_engine_set_crf (DlsEngine * e, const DlsCrfParams * params,
    GError ** error)
{
  if (!params) {
    e->crf_on = FALSE;
    dls_engine_crf_reset (e);
  } else {
    if (!dls_crf_params_valid (params, error)
        || !crf_size (e, e->fw, e->fh, params->scale, error))
      return FALSE;
    e->crf = *params;
    e->crf_on = TRUE;
    crf_update_grid (e);
  }
  /* The host builds the CRF's lattice while the device runs the network:
   * no spinning work-groups then (dls_backend_opencl_set_chained()). */
  if (e->cl)
    dls_backend_opencl_set_chained (e->backend, !e->crf_on);
  return TRUE;
}

void
dls_engine_crf_reset (DlsEngine * e)
{
  e->have_prev = FALSE;
  e->crf_ref_has_q = FALSE;
  if (e->crf_cl)
    dls_crf_cl_reset (e->crf_cl);
}

/* Mean absolute difference of two RGB frames, on every 7th byte. */
static float
rgb_difference (const guint8 * a, const guint8 * b, gsize bytes)
{
  guint64 sum = 0, count = 0;

  for (gsize i = 0; i < bytes; i += 7, count++)
    sum += (guint) ABS ((int) a[i] - (int) b[i]);
  return count ? (float) sum / (float) count : 0.0f;
}

/* The host side of a CRF frame: the frame as RGB, the scene-cut check,
 * and whether this frame starts from the previous Q. */
static gboolean
crf_prepare (DlsEngine * e, const DlsImage * f)
{
  const gsize bytes = (gsize) e->crf_w * e->crf_h * 3;
  gboolean warm;
  guint8 *t;

  dls_ref_frame_rgb (f, e->crf_w, e->crf_h, e->rgb, e->crf_w * 3);
  warm = e->crf.warm_start && e->have_prev;
  if (warm && rgb_difference (e->rgb, e->prev_rgb, bytes) >
      DLS_CRF_SCENE_CUT) {
    warm = FALSE;
  }
  t = e->prev_rgb;
  e->prev_rgb = e->rgb;
  e->rgb = t;
  e->have_prev = TRUE;
  return warm;
}

/**
 * dls_engine_set_frame:
 *
 * All or nothing: the new planes (and the CRF's buffers, when it is on)
 * are made before the old ones go, so on failure the engine still runs
 * frames of the previous size.
 */
gboolean
dls_engine_set_frame (DlsEngine * e, DlsPixelFormat format, int width,
    int height, GError ** error)
{
  cl_mem map = NULL, conf = NULL;

  if ((guint) format >= DLS_PIXEL_COUNT || width < 1 || height < 1
      || width > 16384 || height > 16384) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "unsupported frame %dx%d (format %d)", width, height, format);
    return FALSE;
  }
  if (format == e->format && width == e->fw && height == e->fh)
    return TRUE;
  if (e->kind != DLS_BACKEND_REF
      && (!(map = plane_new (e, width, height, "clCreateBuffer (class map)",
                  error))
          || (e->conf_on && !(conf = plane_new (e, width, height,
                      "clCreateBuffer (confidence)", error)))))
    goto fail;
  if (e->crf_on && !crf_size (e, width, height, e->crf.scale, error))
    goto fail;
  release_frame_buffers (e);
  e->map_mem = map;
  e->conf_mem = conf;
  e->format = format;
  e->fw = width;
  e->fh = height;
  crf_update_grid (e);
  return TRUE;

fail:
  if (map)
    clReleaseMemObject (map);
  if (conf)
    clReleaseMemObject (conf);
  return FALSE;
}

/* Total bytes of the frame's planes, and each plane's offset in the
 * upload buffer; 0 if a plane the format needs is missing or its stride
 * is shorter than a row. */
static gsize
frame_layout (const DlsImage * f, int offsets[3], gsize sizes[3])
{
  int n_planes = f->format == DLS_PIXEL_I420 ? 3
      : f->format == DLS_PIXEL_NV12 ? 2 : 1;
  gsize total = 0;

  for (int p = 0; p < 3; p++) {
    sizes[p] = p < n_planes ? dls_image_plane_size (f->format, p, f->width,
        f->height, f->strides[p]) : 0;
    if (p < n_planes && (sizes[p] == 0 || !f->planes[p]))
      return 0;
    offsets[p] = (int) total;
    total += sizes[p];
  }
  return total;
}

/* The arguments upsample_argmax and upsample_unary share (image.cl). */
static cl_int
set_upsample_args (cl_kernel k, cl_mem src, int lw, int lh, int cp,
    int n_classes, float sx, float sy, cl_mem dst, int dst_w)
{
  cl_int st = CL_SUCCESS;

#define SET(i, v) st |= clSetKernelArg (k, i, sizeof (v), &(v))
  SET (0, src);
  SET (1, lw);
  SET (2, lh);
  SET (3, cp);
  SET (4, n_classes);
  SET (5, sx);
  SET (6, sy);
  SET (7, dst);
  SET (8, dst_w);
#undef SET
  return st;
}

/* upsample_argmax's last arguments: the confidence plane (NULL: none) and
 * whether its input already holds probabilities (the CRF's Q). */
static cl_int
set_conf_args (cl_kernel k, cl_mem conf, int probs)
{
  return clSetKernelArg (k, 9, sizeof (conf), &conf)
      | clSetKernelArg (k, 10, sizeof (probs), &probs);
}

/* A 2-d launch over @w x @h work-items in work-groups of IMAGE_WG x 1: the
 * global size is rounded up (the kernels skip what lies outside), so PoCL
 * never falls back to work-groups of one on sizes like 257. */
#define IMAGE_WG 16

static cl_int
enqueue_image (DlsEngine * e, cl_kernel k, int w, int h)
{
  size_t global[2] = { (w + IMAGE_WG - 1) / IMAGE_WG * IMAGE_WG, h };
  size_t local[2] = { IMAGE_WG, 1 };

  return clEnqueueNDRangeKernel (e->queue, k, 2, NULL, global, local, 0,
      NULL, NULL);
}

/* upsample_argmax: the frame's size exactly, PoCL's own work-groups. */
static cl_int
enqueue_full (DlsEngine * e, cl_kernel k, int w, int h)
{
  size_t global[2] = { w, h };

  return clEnqueueNDRangeKernel (e->queue, k, 2, NULL, global, NULL, 0, NULL,
      NULL);
}

/* The class map without confidence, by the shortcut (image.cl): the
 * summary of @src (@lw x @lh pixels of @cp floats: the logits, or the
 * CRF's Q), the cells' classes, the pixels of cells with a class, then the
 * others the full way. @summary and @cells hold @lw x @lh entries. */
static gboolean
enqueue_map (DlsEngine * e, cl_mem src, int cp, int lw, int lh,
    cl_mem summary, cl_mem cells, int fw, int fh, float sx, float sy,
    GError ** error)
{
  /* upsample_cells: pixels of a row a work-item (1280x720: 1.7 -> 0.7 ms
   * with 8, no better with 32) */
  const int px = 8;
  cl_int st = CL_SUCCESS;

#define SET(k, i, v) st |= clSetKernelArg (k, i, sizeof (v), &(v))
  SET (e->k_sum, 0, src);
  SET (e->k_sum, 1, lw);
  SET (e->k_sum, 2, lh);
  SET (e->k_sum, 3, cp);
  SET (e->k_sum, 4, e->n_classes);
  SET (e->k_sum, 5, summary);
  SET (e->k_cells, 0, summary);
  SET (e->k_cells, 1, lw);
  SET (e->k_cells, 2, lh);
  SET (e->k_cells, 3, cells);
  SET (e->k_ucells, 0, cells);
  SET (e->k_ucells, 1, lw);
  SET (e->k_ucells, 2, lh);
  SET (e->k_ucells, 3, sx);
  SET (e->k_ucells, 4, sy);
  SET (e->k_ucells, 5, e->map_mem);
  SET (e->k_ucells, 6, fw);
  SET (e->k_ucells, 7, fh);
  SET (e->k_ucells, 8, px);
  st |= set_upsample_args (e->k_mixed, src, lw, lh, cp,
      e->n_classes, sx, sy, e->map_mem, fw);
  SET (e->k_mixed, 9, fh);
  SET (e->k_mixed, 10, cells);
#undef SET
  return dls_cl_check (st, "clSetKernelArg (class map)", error)
      && dls_cl_check (enqueue_image (e, e->k_sum, lw, lh),
      "logits_summary", error)
      && dls_cl_check (enqueue_image (e, e->k_cells, lw, lh),
      "cell_classes", error)
      && dls_cl_check (enqueue_image (e, e->k_ucells, (fw + px - 1) / px,
          fh),
      "upsample_cells", error)
      && dls_cl_check (enqueue_image (e, e->k_mixed, lw, lh),
      "upsample_mixed", error);
}

/* Enqueues the CRF after the network: U at frame size, the lattices (built
 * on the host while the device runs the network), mean-field, argmax into
 * the map buffer. Warm frames start from the previous frame's Q and run
 * crf.warm_iterations; cold ones crf.iterations. */
static gboolean
crf_opencl (DlsEngine * e, const DlsImage * f, cl_mem logits, int cp,
    cl_mem conf,
    GError ** error)
{
  const int gw = e->crf_w, gh = e->crf_h;
  cl_mem unary = dls_crf_cl_unary (e->crf_cl), q = dls_crf_cl_q (e->crf_cl);
  int row = dls_crf_cl_row (e->crf_cl);
  float ux = (float) e->out_w / (float) gw;
  float uy = (float) e->out_h / (float) gh;
  float qx = (float) gw / (float) f->width;
  float qy = (float) gh / (float) f->height;
  size_t grid[2] = { gw, gh };
  cl_int st = CL_SUCCESS;
  gboolean warm;

  st = set_upsample_args (e->k_unary, logits, e->out_w, e->out_h, cp,
      e->n_classes, ux, uy, unary, gw);
  st |= clSetKernelArg (e->k_unary, 9, sizeof (row), &row);
  if (!dls_cl_check (st, "clSetKernelArg (upsample_unary)", error)
      || !dls_cl_check (clEnqueueNDRangeKernel (e->queue, e->k_unary, 2,
              NULL, grid, NULL, 0, NULL, NULL), "upsample_unary", error))
    return FALSE;
  warm = crf_prepare (e, f) && dls_crf_cl_has_q (e->crf_cl);
  /* The device starts the mean-field while the host builds the lattice. */
  if (!dls_crf_cl_start (e->crf_cl, &e->crf_grid, warm, error)
      || !dls_crf_cl_set_image (e->crf_cl, e->prev_rgb, gw * 3, &e->crf_grid,
          error)
      || !dls_crf_cl_run (e->crf_cl, warm ? e->crf.warm_iterations
          : e->crf.iterations, warm, error))
    return FALSE;
  if (gw == f->width && gh == f->height)
    return dls_crf_cl_argmax (e->crf_cl, e->map_mem, conf, error);
  /* A smaller grid: Q to the frame size (bilinear), then the argmax; without
   * the confidence by the class map's shortcut (a lookup where the four Q
   * pixels around agree, bit for bit the full map), with it the full way
   * (round (255 * max Q): Q already holds probabilities). */
  if (!conf)
    return enqueue_map (e, q, row, gw, gh, e->crf_summary, e->crf_cells,
        f->width, f->height, qx, qy, error);
  st = set_upsample_args (e->k_up, q, gw, gh, row, e->n_classes, qx, qy,
      e->map_mem, f->width);
  st |= set_conf_args (e->k_up, conf, 1);
  return dls_cl_check (st, "clSetKernelArg (upsample_argmax of Q)", error)
      && dls_cl_check (enqueue_full (e, e->k_up, f->width, f->height),
      "upsample_argmax (Q)", error);
}

static gboolean
process_opencl (DlsEngine * e, const DlsImage * f, const int off[3],
    const gsize sizes[3], gsize total, guint8 * map, int map_stride,
    guint8 * conf, int conf_stride, GError ** error)
{
  /* NULL: the kernels skip the confidence (a NULL buffer argument is a
   * NULL pointer in the kernel) */
  cl_mem conf_mem = conf ? e->conf_mem : NULL;
  int out_id = dls_graph_output (e->graph, 0);
  int in_id = dls_graph_input (e->graph, 0);
  int cp, in_cp, kind, bpp = 1, ro = 0, go = 0, bo = 0;
  cl_mem logits = dls_backend_opencl_tensor (e->backend, out_id, &cp);
  cl_mem input = dls_backend_opencl_tensor (e->backend, in_id, &in_cp);
  float sx = (float) f->width / (float) e->in_w;
  float sy = (float) f->height / (float) e->in_h;
  float ux = (float) e->out_w / (float) f->width;
  float uy = (float) e->out_h / (float) f->height;
  /* preprocess: pixels of a row a work-item */
  const int pre_px = 8;
  size_t origin[3] = { 0, 0, 0 };
  size_t region[3] = { f->width, f->height, 1 };
  cl_int st = CL_SUCCESS;

  stage_done (e, -1);
  /* Strides are only known with the first frame: the upload buffer grows
   * then (and if a later frame has larger strides), never per frame. */
  if (total > e->frame_cap) {
    if (e->frame_mem)
      clReleaseMemObject (e->frame_mem);
    e->frame_mem = dls_cl_buffer (e->cl, CL_MEM_READ_ONLY, total, NULL,
        "clCreateBuffer (frame)", error);
    if (!e->frame_mem) {
      e->frame_cap = 0;
      return FALSE;
    }
    e->frame_cap = total;
  }
  for (int p = 0; p < 3 && st == CL_SUCCESS; p++)
    if (sizes[p])
      st = clEnqueueWriteBuffer (e->queue, e->frame_mem, CL_FALSE, off[p],
          sizes[p], f->planes[p], 0, NULL, NULL);
  if (!dls_cl_check (st, "clEnqueueWriteBuffer (frame)", error))
    return FALSE;
  stage_done (e, DLS_STAGE_UPLOAD);

  if (dls_pixel_format_packed (f->format, &bpp, &ro, &go, &bo))
    kind = 0;
  else
    kind = f->format == DLS_PIXEL_I420 ? 1 : 2;

#define SET(k, i, v) st |= clSetKernelArg (k, i, sizeof (v), &(v))
  SET (e->k_pre, 0, e->frame_mem);
  SET (e->k_pre, 1, kind);
  SET (e->k_pre, 2, bpp);
  SET (e->k_pre, 3, ro);
  SET (e->k_pre, 4, go);
  SET (e->k_pre, 5, bo);
  SET (e->k_pre, 6, off[0]);
  SET (e->k_pre, 7, f->strides[0]);
  SET (e->k_pre, 8, off[1]);
  SET (e->k_pre, 9, f->strides[1]);
  SET (e->k_pre, 10, off[2]);
  SET (e->k_pre, 11, f->strides[2]);
  SET (e->k_pre, 12, f->width);
  SET (e->k_pre, 13, f->height);
  SET (e->k_pre, 14, sx);
  SET (e->k_pre, 15, sy);
  SET (e->k_pre, 16, f->yuv.y_offset);
  SET (e->k_pre, 17, f->yuv.y_scale);
  SET (e->k_pre, 18, f->yuv.rv);
  SET (e->k_pre, 19, f->yuv.gu);
  SET (e->k_pre, 20, f->yuv.gv);
  SET (e->k_pre, 21, f->yuv.bu);
  SET (e->k_pre, 22, input);
  SET (e->k_pre, 23, e->in_w);
  SET (e->k_pre, 24, e->mean);
  SET (e->k_pre, 25, e->std);
  SET (e->k_pre, 26, e->in_h);
  SET (e->k_pre, 27, pre_px);

#undef SET
  st |= set_upsample_args (e->k_up, logits, e->out_w, e->out_h, cp,
      e->n_classes, ux, uy, e->map_mem, f->width);
  st |= set_conf_args (e->k_up, conf_mem, 0);
  if (!dls_cl_check (st, "clSetKernelArg (image kernels)", error)
      || !dls_cl_check (enqueue_image (e, e->k_pre,
              (e->in_w + pre_px - 1) / pre_px, e->in_h),
          "preprocess", error))
    return FALSE;
  stage_done (e, DLS_STAGE_PREPROCESS);
  if (!dls_backend_run (e->backend, error))
    return FALSE;
  stage_done (e, DLS_STAGE_GRAPH);
  if (e->crf_on) {
    if (!crf_opencl (e, f, logits, cp, conf_mem, error))
      return FALSE;
  } else if (conf_mem) {
    /* the confidence needs every logit: no shortcut */
    if (!dls_cl_check (enqueue_full (e, e->k_up, f->width, f->height),
            "upsample_argmax", error))
      return FALSE;
  } else if (!enqueue_map (e, logits, cp, e->out_w, e->out_h, e->summary,
          e->cells, f->width, f->height, ux, uy, error)) {
    return FALSE;
  }
  stage_done (e, DLS_STAGE_MAP);
  /* In order: the blocking read of the map below also waits for this one. */
  if (conf && !dls_cl_check (clEnqueueReadBufferRect (e->queue, conf_mem,
              CL_FALSE, origin, origin, region, f->width, 0, conf_stride, 0,
              conf, 0, NULL, NULL), "clEnqueueReadBufferRect (confidence)",
          error))
    return FALSE;
  if (!dls_cl_check (clEnqueueReadBufferRect (e->queue, e->map_mem, CL_TRUE,
              origin, origin, region, f->width, 0, map_stride, 0, map, 0,
              NULL, NULL), "clEnqueueReadBufferRect (class map)", error)) {
    /* the confidence read must not write into @conf after we return */
    return FALSE;
  }
  stage_done (e, DLS_STAGE_READBACK);
  return TRUE;
}

gboolean
dls_engine_process (DlsEngine * e, const DlsImage * frame, guint8 * map,
    int map_stride, GError ** error)
{
  return dls_engine_process_full (e, frame, map, map_stride, NULL, 0, error);
}

gboolean
dls_engine_process_full (DlsEngine * e, const DlsImage * frame, guint8 * map,
    int map_stride, guint8 * conf, int conf_stride, GError ** error)
{
  int off[3];
  gsize sizes[3], total;

  if (frame->format != e->format || frame->width != e->fw
      || frame->height != e->fh || map_stride < frame->width) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "frame %dx%d (format %d) does not match dls_engine_set_frame()",
        frame->width, frame->height, frame->format);
    return FALSE;
  }
  if (conf && (!e->conf_on || conf_stride < frame->width)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "confidence asked for without dls_engine_set_confidence() or with "
        "a stride (%d) shorter than a row", conf_stride);
    return FALSE;
  }
  total = frame_layout (frame, off, sizes);
  if (total == 0 || total > G_MAXINT32) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "frame %dx%d: a plane is missing, too large or its stride is "
        "shorter than a row", frame->width, frame->height);
    return FALSE;
  }
  if (e->kind == DLS_BACKEND_OPENCL) {
    if (process_opencl (e, frame, off, sizes, total, map, map_stride, conf,
            conf_stride, error))
      return TRUE;
    /* The upload and the confidence read do not block: neither may touch
     * the caller's frame or @conf after we return. */
    clFinish (e->queue);
    return FALSE;
  }

  dls_ref_preprocess (frame, e->in_w, e->in_h, e->mean, e->std, e->input);
  if (!dls_backend_set_input (e->backend, 0, e->input, error)
      || !dls_backend_run (e->backend, error)
      || !dls_backend_get_output (e->backend, 0, e->logits, error))
    return FALSE;
  if (!e->crf_on) {
    dls_ref_upsample_argmax (e->logits, e->out_w, e->out_h, e->n_classes,
        frame->width, frame->height, map, map_stride, conf, conf_stride,
        FALSE);
    return TRUE;
  }
  {
    const DlsCrfParams *p = &e->crf_grid;
    const int gw = e->crf_w, gh = e->crf_h;
    gboolean warm = crf_prepare (e, frame) && e->crf_ref_has_q;
    const guint8 *rgb = e->prev_rgb;    /* this frame's, after the swap */

    dls_ref_upsample_unary (e->logits, e->out_w, e->out_h, e->n_classes,
        gw, gh, e->n_classes, e->crf_unary);
    dls_crf_set_unary (e->crf_ref, e->crf_unary);
    dls_crf_set_min_class_probability (e->crf_ref, p->min_class_probability);
    dls_crf_clear_pairwise (e->crf_ref);
    if (!dls_crf_add_pairwise_gaussian (e->crf_ref, p->gaussian_sxy,
            p->gaussian_weight)
        || !dls_crf_add_pairwise_bilateral (e->crf_ref, p->bilateral_sxy,
            p->bilateral_srgb, rgb, gw * 3, p->bilateral_weight))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "CRF: out of memory building the lattices");
    if (!warm)
      dls_crf_start (e->crf_ref);
    for (int i = 0; i < (warm ? e->crf.warm_iterations : e->crf.iterations);
        i++)
      if (!dls_crf_step (e->crf_ref))
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
            "CRF: out of memory in mean-field");
    if (gw == frame->width && gh == frame->height)
      dls_crf_map (e->crf_ref, map, map_stride, conf, conf_stride);
    else
      dls_ref_upsample_argmax (dls_crf_q (e->crf_ref), gw, gh, e->n_classes,
          frame->width, frame->height, map, map_stride, conf, conf_stride,
          TRUE);
    e->crf_ref_has_q = TRUE;
  }
  return TRUE;
}

gboolean
dls_engine_run_tensor (DlsEngine * e, const float *input, float *logits,
    GError ** error)
{
  if ((input && !dls_backend_set_input (e->backend, 0, input, error))
      || !dls_backend_run (e->backend, error))
    return FALSE;
  if (logits)
    return dls_backend_get_output (e->backend, 0, logits, error);
  if (e->queue)
    return dls_cl_check (clFinish (e->queue), "clFinish", error);
  return TRUE;
}

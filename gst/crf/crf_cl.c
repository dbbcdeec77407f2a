/* deeplabseg: dense CRF on OpenCL (see crf_cl.h; kernels/crf.cl has the
 * layouts). Host side per frame: bilateral lattice build (crf.c, which
 * also gives the splat's gather lists) and its normalisation, into arrays
 * allocated in set_size() that the kernels read in place: device buffers
 * made once around them (CL_MEM_USE_HOST_PTR), written by the host
 * between a map and an unmap (on PoCL's CPU device neither copies; on a
 * device with memory of its own the unmap uploads); the weights times the
 * normalisation are formed on the device (crf_weights). The Gaussian
 * kernel depends on the frame size and sxy only: its taps and
 * normalisation (separable, sxy <= DLS_CRF_SEPARABLE_MAX_SXY) or its 2-d
 * lattice are rebuilt only when they change.
 */
#include "crf_cl.h"

#include <math.h>
#include <string.h>

#define DIM_B 5
/* The class pruning's maxima: Q in this many chunks of pixels
 * (crf_class_max), then one work-item reduces them (crf_class_list). */
#define CLASS_CHUNKS 64
/* Ints of the active-class list (kernels/crf.cl: act). */
#define ACT_INTS(cp) (4 + 2 * (cp))
#define SET(k, i, v) st |= clSetKernelArg (k, i, sizeof (v), &(v))

/* Vertex buffers grow to 5/4 of the largest lattice seen. */
#define GROW(n) ((n) + (n) / 4 + 64)

/* A lattice's tables the host writes: the lattice's own offsets,
 * barycentric weights, splat lists and neighbours (crf.h), and Lat's norm
 * (crf_weights turns the weights and the norm into d_wt and d_ws on the
 * device). */
enum
{ TAB_OFF, TAB_BW, TAB_PIX, TAB_SW, TAB_START, TAB_NB, TAB_NORM, N_TABS };

/* One lattice's host tables and device buffers. */
typedef struct
{
  int d;
  DlsLattice *lattice;
  float *norm;                  /* n */
  float alpha;                  /* 1 / (1 + 2^-d), the slice's scale */
  int m;                        /* vertices of the current build */
  int m_cap;                    /* vertices d_val holds */
  cl_mem d_wt, d_ws;            /* crf_weights: n * (d + 1) each */
  cl_mem d_tab[N_TABS];         /* around h_tab (CL_MEM_USE_HOST_PTR) */
  void *h_tab[N_TABS];
  gsize tab_bytes[N_TABS];
  /* Mapped (the host may write h_tab once map_done has completed) or
   * unmapped (the kernels may read d_tab). */
  gboolean mapped;
  cl_event map_done;
  cl_mem d_val[2];
} Lat;

struct _DlsCrfCl
{
  DlsCl *cl;
  cl_context ctx;
  cl_command_queue queue;
  int w, h, n, n_classes, cp;
  cl_kernel k_init, k_splat, k_blur, k_slice, k_argmax, k_gx, k_gys;
  cl_kernel k_cmax, k_clist, k_compact, k_weights;
  cl_mem d_unary, d_q;
  cl_mem d_cmax, d_act;         /* class pruning: chunk maxima, the list */
  cl_mem d_qc;                  /* Q's active classes (crf_compact) */
  float eps;                    /* its threshold (set_image's params) */
  float *features;              /* n * DIM_B */
  Lat b;                        /* the bilateral lattice */
  Lat g;                        /* the Gaussian one, for a large sxy */
  gboolean g_sep;               /* the Gaussian is separable (small sxy) */
  cl_kernel k_gmsg;
  /* The separable Gaussian: taps, normalisation (host copies stay for the
   * non-blocking uploads), and the two passes' outputs. */
  float g_taps[DLS_CRF_MAX_RADIUS + 1];
  float *g_norm, *g_scratch;
  int g_r;
  cl_mem d_taps, d_gnorm, d_gtmp, d_gval;
  float g_sxy, g_weight;        /* what the Gaussian tables were built for */
  gboolean g_valid;
  gboolean q_valid;
  gboolean started;             /* dls_crf_cl_start() ran, run() has not */
  cl_event g_write;             /* g_taps, g_norm busy until it completes */
};

static void
lat_release_vertex_buffers (Lat * l)
{
  for (int i = 0; i < 2; i++)
    if (l->d_val[i])
      clReleaseMemObject (l->d_val[i]);
  l->d_val[0] = l->d_val[1] = NULL;
  l->m_cap = 0;
}

/* The queue must be idle: the kernels read the host arrays freed here. */
static void
lat_clear (DlsCrfCl * c, Lat * l)
{
  lat_release_vertex_buffers (l);
  if (l->d_wt)
    clReleaseMemObject (l->d_wt);
  if (l->d_ws)
    clReleaseMemObject (l->d_ws);
  if (l->map_done)
    clReleaseEvent (l->map_done);
  for (int i = 0; i < N_TABS; i++)
    if (l->d_tab[i]) {
      if (l->mapped)
        clEnqueueUnmapMemObject (c->queue, l->d_tab[i], l->h_tab[i], 0,
            NULL, NULL);
      clReleaseMemObject (l->d_tab[i]);
    }
  if (l->mapped)
    clFinish (c->queue);
  dls_lattice_free (l->lattice);
  g_free (l->norm);
  memset (l, 0, sizeof (*l));
}

static void
release_kernels (DlsCrfCl * c)
{
  cl_kernel *ks[] = { &c->k_init, &c->k_splat, &c->k_blur, &c->k_slice,
    &c->k_argmax, &c->k_gx, &c->k_gys, &c->k_gmsg, &c->k_cmax, &c->k_clist,
    &c->k_compact, &c->k_weights
  };
  cl_mem *ms[] = { &c->d_taps, &c->d_gnorm, &c->d_gtmp, &c->d_gval,
    &c->d_cmax, &c->d_act, &c->d_qc
  };
  for (guint i = 0; i < G_N_ELEMENTS (ks); i++)
    if (*ks[i]) {
      clReleaseKernel (*ks[i]);
      *ks[i] = NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (ms); i++)
    if (*ms[i]) {
      clReleaseMemObject (*ms[i]);
      *ms[i] = NULL;
    }
}

static void
clear_size (DlsCrfCl * c)
{
  if (c->queue)
    clFinish (c->queue);
  if (c->g_write) {
    clReleaseEvent (c->g_write);
    c->g_write = NULL;
  }
  release_kernels (c);
  lat_clear (c, &c->g);
  g_clear_pointer (&c->g_norm, g_free);
  g_clear_pointer (&c->g_scratch, g_free);
  lat_clear (c, &c->b);
  if (c->d_unary)
    clReleaseMemObject (c->d_unary);
  if (c->d_q)
    clReleaseMemObject (c->d_q);
  c->d_unary = c->d_q = NULL;
  g_clear_pointer (&c->features, g_free);
  c->n = c->w = c->h = c->n_classes = 0;
  c->g_valid = c->q_valid = c->started = FALSE;
}

DlsCrfCl *
dls_crf_cl_new (DlsCl * cl, cl_command_queue queue, GError ** error)
{
  DlsCrfCl *c = g_new0 (DlsCrfCl, 1);

  c->cl = cl;
  c->ctx = dls_cl_context (cl);
  c->queue = queue;
  return c;
}

void
dls_crf_cl_free (DlsCrfCl * c)
{
  if (!c)
    return;
  clear_size (c);
  g_free (c);
}

static cl_mem
new_buffer (DlsCrfCl * c, gsize bytes, const char *what, GError ** error)
{
  return dls_cl_buffer (c->cl, CL_MEM_READ_WRITE, MAX (bytes, 4), NULL, what,
      error);
}

/* Host memory of @n elements of @size, or an error naming @what (no
 * abort on a huge size). */
static gpointer
host_alloc (gsize n, gsize size, const char *what, GError ** error)
{
  gpointer p = dls_crf_alloc (n, size);

  if (!p)
    g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
        "CRF: cannot allocate %s (%" G_GSIZE_FORMAT " x %" G_GSIZE_FORMAT
        " bytes)", what, n, size);
  return p;
}

/* Enqueues the maps of @l's tables (the host may write them once
 * l->map_done has completed). */
static gboolean
lat_map (DlsCrfCl * c, Lat * l, GError ** error)
{
  for (int i = 0; i < N_TABS; i++) {
    cl_int st = CL_SUCCESS;
    void *p = clEnqueueMapBuffer (c->queue, l->d_tab[i], CL_FALSE,
        CL_MAP_WRITE_INVALIDATE_REGION, 0, l->tab_bytes[i], 0, NULL,
        i == N_TABS - 1 ? &l->map_done : NULL, &st);

    if (!dls_cl_check (st, "clEnqueueMapBuffer (crf lattice)", error))
      return FALSE;
    l->mapped = TRUE;
    /* The spec's rule for CL_MEM_USE_HOST_PTR: the builds write there. */
    if (p != l->h_tab[i]) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
          "CRF: the OpenCL device mapped a lattice table away from its "
          "host memory");
      return FALSE;
    }
  }
  return TRUE;
}

/* Makes @l's tables writable by the host: mapped, the maps completed. */
static gboolean
lat_begin_write (DlsCrfCl * c, Lat * l, GError ** error)
{
  if (!l->mapped && !lat_map (c, l, error))
    return FALSE;
  if (l->map_done) {
    cl_int st = clWaitForEvents (1, &l->map_done);

    clReleaseEvent (l->map_done);
    l->map_done = NULL;
    return dls_cl_check (st, "clWaitForEvents (crf lattice map)", error);
  }
  return TRUE;
}

/* Enqueues the unmaps of @l's tables: the kernels enqueued after them
 * read what the host wrote. */
static gboolean
lat_end_write (DlsCrfCl * c, Lat * l, GError ** error)
{
  cl_int st = CL_SUCCESS;

  if (!l->mapped)
    return TRUE;
  for (int i = 0; i < N_TABS; i++)
    st |= clEnqueueUnmapMemObject (c->queue, l->d_tab[i], l->h_tab[i], 0,
        NULL, NULL);
  l->mapped = FALSE;
  if (l->map_done) {
    clReleaseEvent (l->map_done);
    l->map_done = NULL;
  }
  return dls_cl_check (st, "clEnqueueUnmapMemObject (crf lattice)", error);
}

static gboolean
lat_init (DlsCrfCl * c, Lat * l, int d, GError ** error)
{
  static const char *names[N_TABS] = { "crf offsets", "crf weights",
    "crf splat points", "crf splat weights", "crf splat lists",
    "crf neighbours", "crf norm"
  };
  gsize v;

  l->d = d;
  l->alpha = 1.0f / (1.0f + powf (2.0f, (float) -d));
  if (!(l->lattice = dls_lattice_new (d, c->n))) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
        "CRF: cannot allocate a %d-d lattice of %d points", d, c->n);
    return FALSE;
  }
  if (!(l->norm = host_alloc (c->n, sizeof (float), "lattice norm", error)))
    return FALSE;
  /* The lattice's arrays at their largest (crf.h: V = n (d + 1) entries,
   * the lists' V + 2 starts, the neighbours' V (d + 1) pairs), written in
   * place by every build (so cast from const). */
  v = dls_lattice_max_vertices (l->lattice);
  l->h_tab[TAB_OFF] = (int *) dls_lattice_offsets (l->lattice);
  l->tab_bytes[TAB_OFF] = v * sizeof (int);
  l->h_tab[TAB_BW] = (float *) dls_lattice_weights (l->lattice);
  l->tab_bytes[TAB_BW] = v * sizeof (float);
  l->h_tab[TAB_PIX] = (int *) dls_lattice_splat_points (l->lattice);
  l->tab_bytes[TAB_PIX] = v * sizeof (int);
  l->h_tab[TAB_SW] = (float *) dls_lattice_splat_weights (l->lattice);
  l->tab_bytes[TAB_SW] = v * sizeof (float);
  l->h_tab[TAB_START] = (int *) dls_lattice_splat_start (l->lattice);
  l->tab_bytes[TAB_START] = (v + 2) * sizeof (int);
  l->h_tab[TAB_NB] = (int *) dls_lattice_neighbours (l->lattice);
  l->tab_bytes[TAB_NB] = v * (d + 1) * 2 * sizeof (int);
  l->h_tab[TAB_NORM] = l->norm;
  l->tab_bytes[TAB_NORM] = c->n * sizeof (float);
  for (int i = 0; i < N_TABS; i++)
    if (!(l->d_tab[i] = dls_cl_buffer (c->cl,
                CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, l->tab_bytes[i],
                l->h_tab[i], names[i], error)))
      return FALSE;
  if (!(l->d_wt = new_buffer (c, v * sizeof (float), "crf splat weights",
              error))
      || !(l->d_ws = new_buffer (c, v * sizeof (float), "crf slice weights",
              error)))
    return FALSE;
  /* Mapped from the start: the first build waits only for this. */
  return lat_map (c, l, error);
}

gboolean
dls_crf_cl_set_size (DlsCrfCl * c, int width, int height, int n_classes,
    GError ** error)
{
  char opts[128];

  if (width == c->w && height == c->h && n_classes == c->n_classes) {
    c->q_valid = FALSE;
    return TRUE;
  }
  clear_size (c);
  if (width < 1 || height < 1 || n_classes < 1 || n_classes > 256
      || (gint64) width * height > (1 << 24)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "CRF: unsupported size %dx%d with %d classes", width, height,
        n_classes);
    return FALSE;
  }
  c->w = width;
  c->h = height;
  c->n = width * height;
  c->n_classes = n_classes;
  /* Rows of 8-float vectors: one AVX register a vector on the CPU
   * device; 21 classes take 24 floats either way. */
  c->cp = (n_classes + 7) / 8 * 8;
  g_snprintf (opts, sizeof (opts), "-DCP=%d -DDB=%d", c->cp, DIM_B);
  if (!(c->features = host_alloc ((gsize) c->n * DIM_B, sizeof (float),
              "features", error))
      || !(c->g_norm = host_alloc (c->n, sizeof (float), "Gaussian norm",
              error))
      || !(c->g_scratch = host_alloc (c->n, sizeof (float), "Gaussian norm",
              error))
      || !(c->k_init = dls_cl_kernel (c->cl, "crf", opts, "crf_init", error))
      || !(c->k_splat = dls_cl_kernel (c->cl, "crf", opts, "crf_splat", error))
      || !(c->k_blur = dls_cl_kernel (c->cl, "crf", opts, "crf_blur", error))
      || !(c->k_slice = dls_cl_kernel (c->cl, "crf", opts,
              "crf_slice_softmax", error))
      || !(c->k_argmax = dls_cl_kernel (c->cl, "crf", opts, "crf_argmax",
              error))
      || !(c->d_unary = new_buffer (c, (gsize) c->n * c->cp * sizeof (float),
              "crf unary", error))
      || !(c->d_q = new_buffer (c, (gsize) c->n * c->cp * sizeof (float),
              "crf Q", error))
      || !(c->k_gx = dls_cl_kernel (c->cl, "crf", opts, "crf_gauss_x",
              error))
      || !(c->k_gys = dls_cl_kernel (c->cl, "crf", opts,
              "crf_gauss_y_slice_softmax", error))
      || !(c->k_gmsg = dls_cl_kernel (c->cl, "crf", opts,
              "crf_lattice_message", error))
      || !lat_init (c, &c->g, 2, error)
      || !(c->d_taps = new_buffer (c, sizeof (c->g_taps), "crf taps", error))
      || !(c->d_gnorm = new_buffer (c, (gsize) c->n * sizeof (float),
              "crf Gaussian norm", error))
      || !(c->d_gtmp = new_buffer (c, (gsize) c->n * c->cp * sizeof (float),
              "crf Gaussian pass", error))
      || !(c->d_gval = new_buffer (c, (gsize) c->n * c->cp * sizeof (float),
              "crf Gaussian pass", error))
      || !(c->k_cmax = dls_cl_kernel (c->cl, "crf", opts, "crf_class_max",
              error))
      || !(c->k_clist = dls_cl_kernel (c->cl, "crf", opts, "crf_class_list",
              error))
      || !(c->d_cmax = new_buffer (c, (gsize) CLASS_CHUNKS * c->cp
              * sizeof (float), "crf class maxima", error))
      || !(c->d_act = new_buffer (c, ACT_INTS (c->cp) * sizeof (int),
              "crf class list", error))
      || !(c->k_compact = dls_cl_kernel (c->cl, "crf", opts, "crf_compact",
              error))
      || !(c->k_weights = dls_cl_kernel (c->cl, "crf", opts, "crf_weights",
              error))
      || !(c->d_qc = new_buffer (c, (gsize) c->n * c->cp * sizeof (float),
              "crf compacted Q", error))
      || !lat_init (c, &c->b, DIM_B, error)) {
    clear_size (c);
    return FALSE;
  }
  return TRUE;
}

int
dls_crf_cl_row (const DlsCrfCl * c)
{
  return c->cp;
}

cl_mem
dls_crf_cl_unary (DlsCrfCl * c)
{
  return c->d_unary;
}

cl_mem
dls_crf_cl_q (DlsCrfCl * c)
{
  return c->d_q;
}

void
dls_crf_cl_reset (DlsCrfCl * c)
{
  c->q_valid = FALSE;
}

gboolean
dls_crf_cl_has_q (const DlsCrfCl * c)
{
  return c->q_valid;
}

/* Builds @l from c->features with its normalisation n, unmaps the tables
 * for the device and enqueues crf_weights (the splat's weights b * n(point)
 * in list order, the slice's b * n(i) * alpha * @weight), and grows the
 * vertex buffers if the lattice is larger than any before. */
static gboolean
lat_tables (DlsCrfCl * c, Lat * l, float weight, GError ** error)
{
  const int d1 = l->d + 1, n = c->n;
  const size_t gn = n;
  cl_int st = CL_SUCCESS;

  if (!lat_begin_write (c, l, error))
    return FALSE;
  if (!dls_lattice_build (l->lattice, c->features, n)
      || !dls_crf_lattice_norm (l->lattice, l->norm)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
        "CRF: out of memory building a %d-d lattice", l->d);
    return FALSE;
  }
  l->m = dls_lattice_n_vertices (l->lattice);
  if (!lat_end_write (c, l, error))
    return FALSE;
  SET (c->k_weights, 0, l->d_tab[TAB_SW]);
  SET (c->k_weights, 1, l->d_tab[TAB_PIX]);
  SET (c->k_weights, 2, l->d_tab[TAB_BW]);
  SET (c->k_weights, 3, l->d_tab[TAB_NORM]);
  SET (c->k_weights, 4, d1);
  SET (c->k_weights, 5, l->alpha);
  SET (c->k_weights, 6, weight);
  SET (c->k_weights, 7, l->d_wt);
  SET (c->k_weights, 8, l->d_ws);
  if (!dls_cl_check (st, "crf_weights args", error)
      || !dls_cl_check (clEnqueueNDRangeKernel (c->queue, c->k_weights, 1,
              NULL, &gn, NULL, 0, NULL, NULL), "crf_weights", error))
    return FALSE;
  if (l->m + 1 > l->m_cap) {
    int cap = MIN (GROW (l->m + 1), n * d1 + 1);

    lat_release_vertex_buffers (l);
    for (int i = 0; i < 2; i++)
      if (!(l->d_val[i] = new_buffer (c, (gsize) cap * c->cp * sizeof (float),
                  "crf lattice values", error))) {
        lat_release_vertex_buffers (l);
        return FALSE;
      }
    l->m_cap = cap;
  }
  return TRUE;
}

/* @p's Gaussian tables (rebuilt only when its sxy changed), weights and
 * pruning threshold. */
static gboolean
set_params (DlsCrfCl * c, const DlsCrfParams * p, GError ** error)
{
  gboolean g_new_tables;

  if (!c->n) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "CRF: no size set");
    return FALSE;
  }
  if (!dls_crf_params_valid (p, error))
    return FALSE;

  g_new_tables = !c->g_valid || c->g_sxy != p->gaussian_sxy;
  c->g_sep = p->gaussian_sxy <= DLS_CRF_SEPARABLE_MAX_SXY;
  if (g_new_tables && !c->g_sep) {
    /* Slice weights b * n(i) * alpha: the message comes out normalised
     * and the Potts weight is applied in the slice. */
    dls_crf_gaussian_features (c->features, c->w, c->h, p->gaussian_sxy);
    if (!lat_tables (c, &c->g, 1.0f, error))
      return FALSE;
    c->g_sxy = p->gaussian_sxy;
    c->g_valid = TRUE;
  } else if (g_new_tables) {
    cl_int st;

    /* An earlier upload may still read the host copies. */
    if (c->g_write) {
      st = clWaitForEvents (1, &c->g_write);
      clReleaseEvent (c->g_write);
      c->g_write = NULL;
      if (!dls_cl_check (st, "clWaitForEvents (crf Gaussian)", error))
        return FALSE;
    }
    c->g_r = dls_crf_gaussian_taps (p->gaussian_sxy, c->g_taps);
    dls_crf_gaussian_norm (c->w, c->h, c->g_taps, c->g_r, c->g_norm,
        c->g_scratch);
    st = clEnqueueWriteBuffer (c->queue, c->d_taps, CL_FALSE, 0,
        sizeof (c->g_taps), c->g_taps, 0, NULL, NULL);
    st |= clEnqueueWriteBuffer (c->queue, c->d_gnorm, CL_FALSE, 0,
        (gsize) c->n * sizeof (float), c->g_norm, 0, NULL, &c->g_write);
    if (!dls_cl_check (st, "clEnqueueWriteBuffer (crf Gaussian)", error))
      return FALSE;
    c->g_sxy = p->gaussian_sxy;
    c->g_valid = TRUE;
  }
  c->g_weight = p->gaussian_weight;
  c->eps = p->min_class_probability;
  return TRUE;
}

gboolean
dls_crf_cl_set_image (DlsCrfCl * c, const guint8 * rgb, int stride,
    const DlsCrfParams * p, GError ** error)
{
  if (!set_params (c, p, error))
    return FALSE;
  dls_crf_bilateral_features (c->features, c->w, c->h, p->bilateral_sxy,
      p->bilateral_srgb, rgb, stride);
  return lat_tables (c, &c->b, p->bilateral_weight, error);
}

/* Work-group size of the kernels whose global size follows the lattice
 * (crf_splat, crf_blur): one value, so PoCL builds one work-group function. */
#define CRF_LOCAL_SIZE 64

/* Splat + d + 1 blurs of @l; returns the buffer with the result. */
static cl_mem
lat_filter (DlsCrfCl * c, Lat * l, GError ** error)
{
  /* The vertex count changes every frame: a global size of exactly m + 1
   * with the device choosing the work-group would make PoCL compile a
   * work-group function for each new local size it picks (a stall, and
   * memory that grows with every new size). Padded to a fixed work-group,
   * the kernels skip the padding. */
  const int count = l->m + 1;
  const size_t lv = CRF_LOCAL_SIZE;
  const size_t gv = ((size_t) count + lv - 1) / lv * lv;
  cl_int st = CL_SUCCESS;
  int cur = 0;

  SET (c->k_splat, 0, c->d_q);
  SET (c->k_splat, 1, c->d_qc);
  SET (c->k_splat, 2, l->d_tab[TAB_START]);
  SET (c->k_splat, 3, l->d_tab[TAB_PIX]);
  SET (c->k_splat, 4, l->d_wt);
  SET (c->k_splat, 5, l->d_val[0]);
  SET (c->k_splat, 6, count);
  SET (c->k_splat, 7, c->d_act);
  st |= clEnqueueNDRangeKernel (c->queue, c->k_splat, 1, NULL, &gv, &lv, 0,
      NULL, NULL);
  for (int j = 0; j <= l->d && st == CL_SUCCESS; j++) {
    const int nb_off = j * l->m * 2;

    SET (c->k_blur, 0, l->d_val[cur]);
    SET (c->k_blur, 1, l->d_val[1 - cur]);
    SET (c->k_blur, 2, l->d_tab[TAB_NB]);
    SET (c->k_blur, 3, nb_off);
    SET (c->k_blur, 4, l->m);
    SET (c->k_blur, 5, c->d_act);
    st |= clEnqueueNDRangeKernel (c->queue, c->k_blur, 1, NULL, &gv, &lv, 0,
        NULL, NULL);
    cur = 1 - cur;
  }
  if (!dls_cl_check (st, "crf splat/blur", error))
    return NULL;
  return l->d_val[cur];
}

/* Enqueues the active classes of the current Q (kernels/crf.cl: act;
 * crf.h: class pruning) and Q compacted to them. With eps 0 the list is
 * every class, whatever Q: written once a run (@first), no compaction. */
static gboolean
class_list (DlsCrfCl * c, gboolean first, GError ** error)
{
  const size_t chunks = CLASS_CHUNKS, one = 1, gn = c->n;
  const int n_chunks = CLASS_CHUNKS;
  cl_int st = CL_SUCCESS;

  if (c->eps <= 0.0f && !first)
    return TRUE;
  SET (c->k_cmax, 0, c->d_q);
  SET (c->k_cmax, 1, c->n);
  SET (c->k_cmax, 2, c->d_cmax);
  SET (c->k_clist, 0, c->d_cmax);
  SET (c->k_clist, 1, n_chunks);
  SET (c->k_clist, 2, c->eps);
  SET (c->k_clist, 3, c->n_classes);
  SET (c->k_clist, 4, c->d_act);
  SET (c->k_compact, 0, c->d_q);
  SET (c->k_compact, 1, c->d_qc);
  SET (c->k_compact, 2, c->d_act);
  if (!dls_cl_check (st, "crf class list args", error))
    return FALSE;
  if (c->eps > 0.0f)
    st = clEnqueueNDRangeKernel (c->queue, c->k_cmax, 1, NULL, &chunks,
        NULL, 0, NULL, NULL);
  if (st == CL_SUCCESS)
    st = clEnqueueNDRangeKernel (c->queue, c->k_clist, 1, NULL, &one, NULL,
        0, NULL, NULL);
  if (st == CL_SUCCESS && c->eps > 0.0f)
    st = clEnqueueNDRangeKernel (c->queue, c->k_compact, 1, NULL, &gn, NULL,
        0, NULL, NULL);
  return dls_cl_check (st, "crf_class_max/list/compact", error);
}

/* Enqueues the Gaussian message of the current Q (its active classes):
 * the separable filter's x pass (the slice does the y pass), or the 2-d
 * lattice's filter and message. */
static gboolean
gaussian_message (DlsCrfCl * c, GError ** error)
{
  const size_t gn = c->n, g2[2] = { c->w, c->h };
  cl_int st = CL_SUCCESS;
  const int d1 = c->g.d + 1;
  cl_mem vg;

  if (c->g_sep)
    return dls_cl_check (clEnqueueNDRangeKernel (c->queue, c->k_gx, 2, NULL,
            g2, NULL, 0, NULL, NULL), "crf_gauss_x", error);
  if (!(vg = lat_filter (c, &c->g, error)))
    return FALSE;
  SET (c->k_gmsg, 0, vg);
  SET (c->k_gmsg, 1, c->g.d_tab[TAB_OFF]);
  SET (c->k_gmsg, 2, c->g.d_ws);
  SET (c->k_gmsg, 3, d1);
  SET (c->k_gmsg, 4, c->d_gval);
  SET (c->k_gmsg, 5, c->d_act);
  return dls_cl_check (st, "crf_lattice_message args", error)
      && dls_cl_check (clEnqueueNDRangeKernel (c->queue, c->k_gmsg, 1, NULL,
          &gn, NULL, 0, NULL, NULL), "crf_lattice_message", error);
}

/* The first iteration's work that needs no bilateral lattice: Q's start
 * (softmax (-U) unless @warm and a Q is there), its active classes and
 * its Gaussian message. */
static gboolean
start_run (DlsCrfCl * c, gboolean warm, GError ** error)
{
  const size_t gn = c->n;
  cl_int st = CL_SUCCESS;

  if (!c->n || !c->g_valid) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "CRF: run before set_size/set_image");
    return FALSE;
  }
  if (!lat_end_write (c, &c->g, error))
    return FALSE;
  if (!warm || !c->q_valid) {
    SET (c->k_init, 0, c->d_unary);
    SET (c->k_init, 1, c->d_q);
    if (!dls_cl_check (st, "crf_init args", error)
        || !dls_cl_check (clEnqueueNDRangeKernel (c->queue, c->k_init, 1,
                NULL, &gn, NULL, 0, NULL, NULL), "crf_init", error))
      return FALSE;
  }
  SET (c->k_gx, 0, c->d_q);
  SET (c->k_gx, 1, c->d_qc);
  SET (c->k_gx, 2, c->d_gnorm);
  SET (c->k_gx, 3, c->d_taps);
  SET (c->k_gx, 4, c->g_r);
  SET (c->k_gx, 5, c->d_gtmp);
  SET (c->k_gx, 6, c->d_act);
  if (!dls_cl_check (st, "crf_gauss_x args", error)
      || !class_list (c, TRUE, error) || !gaussian_message (c, error))
    return FALSE;
  c->started = TRUE;
  return TRUE;
}

gboolean
dls_crf_cl_start (DlsCrfCl * c, const DlsCrfParams * p, gboolean warm,
    GError ** error)
{
  if (!c->n) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "CRF: no size set");
    return FALSE;
  }
  return set_params (c, p, error) && start_run (c, warm, error);
}

gboolean
dls_crf_cl_run (DlsCrfCl * c, int iterations, gboolean warm, GError ** error)
{
  const size_t gn = c->n, g2[2] = { c->w, c->h };
  cl_int st = CL_SUCCESS;

  if (!c->started && !start_run (c, warm, error))
    return FALSE;
  c->started = FALSE;
  /* Mapped after the last run for the next build: a run on the same
   * tables gives them back to the device. */
  if (!lat_end_write (c, &c->b, error))
    return FALSE;
  for (int it = 0; it < iterations; it++) {
    cl_mem vb;
    cl_kernel ks = c->g_sep ? c->k_gys : c->k_slice;
    int a = 0;

    if (it > 0 && (!class_list (c, FALSE, error)
            || !gaussian_message (c, error)))
      return FALSE;
    if (!(vb = lat_filter (c, &c->b, error)))
      return FALSE;
    /* The separable Gaussian's y pass is done by the slice: its arguments
     * are the x pass's output, the normalisation, the taps and r in place
     * of gval. */
    SET (ks, a++, c->d_unary);
    if (c->g_sep) {
      SET (ks, a++, c->d_gtmp);
      SET (ks, a++, c->d_gnorm);
      SET (ks, a++, c->d_taps);
      SET (ks, a++, c->g_r);
    } else
      SET (ks, a++, c->d_gval);
    SET (ks, a++, c->g_weight);
    SET (ks, a++, vb);
    SET (ks, a++, c->b.d_tab[TAB_OFF]);
    SET (ks, a++, c->b.d_ws);
    SET (ks, a++, c->d_q);
    SET (ks, a++, c->d_act);
    if (!dls_cl_check (st, "crf_slice_softmax args", error)
        || !dls_cl_check (clEnqueueNDRangeKernel (c->queue, ks,
                c->g_sep ? 2 : 1, NULL, c->g_sep ? g2 : &gn, NULL, 0, NULL,
                NULL), "crf_slice_softmax", error))
      return FALSE;
  }
  c->q_valid = TRUE;
  /* The next frame's build writes the bilateral tables while the device
   * runs its network: map them now, behind this run's kernels. */
  return lat_map (c, &c->b, error);
}

gboolean
dls_crf_cl_argmax (DlsCrfCl * c, cl_mem map, cl_mem conf, GError ** error)
{
  const size_t gn = c->n;
  cl_int st = CL_SUCCESS;

  SET (c->k_argmax, 0, c->d_q);
  SET (c->k_argmax, 1, c->n_classes);
  SET (c->k_argmax, 2, map);
  /* a NULL buffer is a NULL pointer in the kernel: no confidence */
  SET (c->k_argmax, 3, conf);
  return dls_cl_check (st, "crf_argmax args", error)
      && dls_cl_check (clEnqueueNDRangeKernel (c->queue, c->k_argmax, 1, NULL,
          &gn, NULL, 0, NULL, NULL), "crf_argmax", error);
}

#undef SET

gboolean
dls_crf_cl_read_n_active (DlsCrfCl * c, int *n_active, GError ** error)
{
  int act[ACT_INTS (256)];

  if (!dls_cl_check (clEnqueueReadBuffer (c->queue, c->d_act, CL_TRUE, 0,
              ACT_INTS (c->cp) * sizeof (int), act, 0, NULL, NULL),
          "clEnqueueReadBuffer (crf class list)", error))
    return FALSE;
  *n_active = act[1];
  return TRUE;
}

gboolean
dls_crf_cl_read_q (DlsCrfCl * c, float *q, GError ** error)
{
  size_t origin[3] = { 0, 0, 0 };
  size_t region[3] = { c->n_classes * sizeof (float), c->n, 1 };

  return dls_cl_check (clEnqueueReadBufferRect (c->queue, c->d_q, CL_TRUE,
          origin, origin, region, c->cp * sizeof (float), 0,
          c->n_classes * sizeof (float), 0, q, 0, NULL, NULL),
      "clEnqueueReadBufferRect (crf Q)", error);
}

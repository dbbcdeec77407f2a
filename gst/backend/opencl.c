/* deeplabseg: OpenCL runtime (device, context, program cache shared by the
 * whole process) and the OpenCL backend.
 *
 * The backend does all its work in prepare(): repack weights into the
 * layouts kernels/conv.cl documents, plan activation memory (buffers are
 * reused once a tensor is dead), create every kernel and set its arguments.
 * run() then only enqueues the prepared steps: no allocation, no argument
 * setting, no build.
 *
 * Activations live on the device as NHWC with channels padded to a
 * multiple of 4; set_input() and get_output() convert from and to dense
 * NHWC.
 */
#include "opencl.h"

#include <stdio.h>
#include <string.h>

#define DLS_CL_CHECK(call, what) \
  if (!dls_cl_check ((call), (what), error)) goto fail

/* Defined by kernels/embed.py in the generated kernels.c. */
const char *dls_kernel_source (const char *name);

/* ---- tuning table: the one source of truth for tile sizes ---- */

typedef struct
{
  cl_device_type type;
  int conv_tp;                  /* TP of conv1x1 / conv2d */
  int conv_tco;                 /* TCO of conv1x1 / conv2d */
  int dw_tp;                    /* DWP of depthwise */
  int dw_tc;                    /* DWC of depthwise */
  int conv_wg;                  /* work-group size along conv1x1's pixels */
  int dw_wg;                    /* work-group size along depthwise's tiles,
                                 * 0: a row's tiles */
  int px_wg;                    /* work-group size along resize_bilinear's
                                 * pixels, 0: the device picks */
  int px_tp;                    /* RSP: output pixels per work-item of
                                 * resize_bilinear */
  int dwf_px;                   /* DFP: output pixels a work-group of
                                 * dw_conv1x1 (a multiple of conv_tp), 0:
                                 * no depthwise fused into its conv1x1 */
  int dwf_pw2;                  /* 1: the pointwise conv that reads a
                                 * dw_conv1x1's output runs in its step
                                 * (pw2), 0: in a conv1x1 step of its own */
  int pool_conv;                /* 1: a global average pool and the 1-pixel
                                 * pointwise conv that reads it run as one
                                 * pool_conv1x1 step (one work-item), 0: a
                                 * pool and a conv1x1 step */
  int dwf_chain;                /* 1: consecutive dw_conv1x1 steps run
                                 * as one launch, 0: a launch a step */
} DlsTuning;

/* CPU (PoCL, AVX2 here): a 6 x 16 tile is 12 ymm accumulators, 2 for the
 * weights and 1 broadcast, the register file of an AVX2 core (XNNPACK's
 * 6x16 micro-kernel): 1089x512x256 ran at 175 GFLOP/s with work-groups of
 * 14, at 95 with PoCL's choice (one or three work-groups for two cores).
 * Depthwise 4 pixels x 16 channels: 0.30 ms for 33x33x480 (0.75 with 4x8
 * and a gather path in the same kernel). PoCL compiles a work-group
 * function per kernel and local size at the first launch (0.1-0.3 s of
 * LLVM each, paid by a cold start): depthwise and resize_bilinear take one
 * local size for every layer, 9 tiles (a 33-wide row at DWP 4) and 33
 * work-items (8 pixels each: a 257-wide row); other local sizes and a
 * per-layer choice measured no faster (docs/performance.md). A depthwise
 * fused into its projection conv1x1 (dw_conv1x1) works on panels of 42
 * pixels (7 tiles), one work-item a group: panels of 18 to 66 measured
 * alike, 132 slower; with the next pointwise conv in the same step (pw2,
 * 41 -> 24 steps, PoCL's worker wakes once less per pair) 42 and 24
 * measured alike, 18, 30 and 36 no faster. DeepLab's image pooling
 * (global pool, 1-pixel conv, its folded bias stage) as one step of one
 * work-item (pool_conv1x1): three steps' launches and wakes less.
 * Consecutive dw_conv1x1 steps as one launch (chain): PoCL's workers
 * sleep at the end of a kernel and wake for the next, and a late or
 * preempted worker held each step's end; in one launch the two work-groups
 * claim panels and wait for each other's at a step's end instead (the
 * graph's fastest run 9.2-9.3 -> 8.8-8.9 ms; docs/performance.md). Not on
 * a GPU (0): one work-item a group would leave it idle. */
static const DlsTuning tunings[] = {
  {CL_DEVICE_TYPE_GPU, 4, 8, 2, 4, 16, 0, 0, 1, 0, 0, 0, 0},
  {CL_DEVICE_TYPE_CPU, 6, 16, 4, 16, 14, 9, 33, 8, 42, 1, 1, 1},
};

/* The row for @type;
 * $DLS_TUNING="TP,TCO,DWP,DWC,WG,DWWG,PXWG[,PXP[,DFP[,PW2[,POOL[,CHAIN]]]]]"
 * overrides it (to measure other tile sizes with the bench without
 * rebuilding); PXP, DFP, PW2, POOL and CHAIN, when left out, are the
 * row's. */
static const DlsTuning *
tuning_for (cl_device_type type)
{
  static DlsTuning env_tuning;
  const char *env = g_getenv ("DLS_TUNING");
  const DlsTuning *t = &tunings[G_N_ELEMENTS (tunings) - 1];

  for (guint i = 0; i < G_N_ELEMENTS (tunings); i++)
    if (type & tunings[i].type) {
      t = &tunings[i];
      break;
    }
  if (env) {
    DlsTuning e = *t;
    int n = sscanf (env, "%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d", &e.conv_tp,
        &e.conv_tco, &e.dw_tp, &e.dw_tc, &e.conv_wg, &e.dw_wg, &e.px_wg,
        &e.px_tp, &e.dwf_px, &e.dwf_pw2, &e.pool_conv, &e.dwf_chain);
    if (n >= 7 && e.px_tp >= 1 && e.dwf_px >= 0
        && e.dwf_px % MAX (1, e.conv_tp) == 0
        && (e.dwf_pw2 == 0 || e.dwf_pw2 == 1)
        && (e.pool_conv == 0 || e.pool_conv == 1)
        && (e.dwf_chain == 0 || e.dwf_chain == 1)) {
      env_tuning = e;
      env_tuning.type = type;
      return &env_tuning;
    }
  }
  return t;
}

/* ---- errors ---- */

gboolean
dls_cl_check (cl_int status, const char *what, GError ** error)
{
  if (status == CL_SUCCESS)
    return TRUE;
  g_set_error (error, DLS_ERROR, DLS_ERROR_DEVICE,
      "OpenCL error %d in %s", status, what);
  return FALSE;
}

/* GDestroyNotify wrappers: clRelease* return cl_int. */
static void
release_program (gpointer p)
{
  clReleaseProgram (p);
}

static void
release_mem (gpointer p)
{
  clReleaseMemObject (p);
}

/* ---- the shared runtime ---- */

struct _DlsCl
{
  gint refcount;
  char *selector;
  char *device_name;
  cl_platform_id platform;
  cl_device_id device;
  cl_device_type type;
  cl_context context;
  GMutex lock;                  /* guards programs */
  GHashTable *programs;         /* "file\noptions" -> cl_program */
  GMutex weights_lock;          /* guards weight_sets and their refcounts */
  GPtrArray *weight_sets;       /* WeightSet*, shared and private */
};

/* The repacked constants (weights, biases) of one prepared graph on one
 * runtime. prepare() is a pure function of the graph, the tuning row and
 * the device, and makes its constants in a fixed order: so backends
 * prepared with the same model key (dls_backend_opencl_share_weights)
 * take the nth constant from the nth buffer here, made by whichever got
 * there first, and the device holds one copy per model file. A backend
 * without a key has a private set. */
typedef struct
{
  gint refcount;                /* under the runtime's weights_lock */
  char *key;                    /* model key + tuning; NULL: private */
  GMutex lock;                  /* guards bufs, bytes */
  GPtrArray *bufs;              /* cl_mem, in prepare() order */
  guint64 bytes;
} WeightSet;

static GMutex runtimes_lock;
static GList *runtimes;         /* DlsCl*, one per device selector */

static gboolean
pick_device (const char *sel, cl_platform_id * out_platform,
    cl_device_id * out_device, GError ** error)
{
  cl_platform_id platforms[16];
  cl_uint n_platforms = 0;
  cl_int st;
  int want_p = -1, want_d = -1;
  cl_device_type pass_types[2] = { CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_CPU };
  int n_passes = 2;

  if (sel && *sel && g_strcmp0 (sel, "auto") != 0) {
    if (g_ascii_strcasecmp (sel, "gpu") == 0) {
      n_passes = 1;
    } else if (g_ascii_strcasecmp (sel, "cpu") == 0) {
      pass_types[0] = CL_DEVICE_TYPE_CPU;
      n_passes = 1;
    } else if (sscanf (sel, "%d:%d", &want_p, &want_d) != 2 || want_p < 0
        || want_d < 0) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
          "bad OpenCL device '%s': use auto, gpu, cpu or P:D", sel);
      return FALSE;
    }
  }

  st = clGetPlatformIDs (G_N_ELEMENTS (platforms), platforms, &n_platforms);
  if (st != CL_SUCCESS || n_platforms == 0) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NO_DEVICE,
        "no OpenCL platform found (error %d): install an OpenCL driver "
        "(e.g. pocl-opencl-icd) or check OCL_ICD_VENDORS", st);
    return FALSE;
  }

  if (want_p >= 0) {
    cl_device_id devs[16];
    cl_uint n = 0;
    if ((cl_uint) want_p < n_platforms
        && clGetDeviceIDs (platforms[want_p], CL_DEVICE_TYPE_ALL,
            G_N_ELEMENTS (devs), devs, &n) == CL_SUCCESS
        && (cl_uint) want_d < n) {
      *out_platform = platforms[want_p];
      *out_device = devs[want_d];
      return TRUE;
    }
  } else {
    for (int pass = 0; pass < n_passes; pass++) {
      for (cl_uint p = 0; p < n_platforms; p++) {
        cl_device_id dev;
        cl_uint n = 0;
        if (clGetDeviceIDs (platforms[p], pass_types[pass], 1, &dev,
                &n) == CL_SUCCESS && n > 0) {
          *out_platform = platforms[p];
          *out_device = dev;
          return TRUE;
        }
      }
    }
  }
  g_set_error (error, DLS_ERROR, DLS_ERROR_NO_DEVICE,
      "no OpenCL device matches '%s' (%u platform(s) found)",
      sel ? sel : "auto", n_platforms);
  return FALSE;
}

static void runtime_free (DlsCl * cl);

static DlsCl *
runtime_new (const char *selector, GError ** error)
{
  DlsCl *cl = g_new0 (DlsCl, 1);
  char name[256] = "", pname[256] = "";
  cl_int st;

  cl->refcount = 1;
  cl->selector = g_strdup (selector ? selector : "auto");
  g_mutex_init (&cl->lock);
  cl->programs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      release_program);
  g_mutex_init (&cl->weights_lock);
  cl->weight_sets = g_ptr_array_new ();
  if (!pick_device (selector, &cl->platform, &cl->device, error))
    goto fail;
  clGetDeviceInfo (cl->device, CL_DEVICE_NAME, sizeof (name) - 1, name, NULL);
  clGetPlatformInfo (cl->platform, CL_PLATFORM_NAME, sizeof (pname) - 1,
      pname, NULL);
  clGetDeviceInfo (cl->device, CL_DEVICE_TYPE, sizeof (cl->type), &cl->type,
      NULL);
  cl->device_name = g_strdup_printf ("%s: %s", pname, name);
  cl->context = clCreateContext (NULL, 1, &cl->device, NULL, NULL, &st);
  DLS_CL_CHECK (st, "clCreateContext");
  return cl;

fail:
  runtime_free (cl);            /* the caller holds runtimes_lock */
  return NULL;
}

static void
runtime_free (DlsCl * cl)
{
  g_hash_table_unref (cl->programs);
  /* Every backend holds the runtime: its weight sets are gone by now. */
  g_warn_if_fail (cl->weight_sets->len == 0);
  g_ptr_array_unref (cl->weight_sets);
  g_mutex_clear (&cl->weights_lock);
  if (cl->context)
    clReleaseContext (cl->context);
  g_mutex_clear (&cl->lock);
  g_free (cl->selector);
  g_free (cl->device_name);
  g_free (cl);
}

DlsCl *
dls_cl_acquire (const char *device, GError ** error)
{
  const char *sel = device && *device ? device : "auto";
  DlsCl *cl = NULL;

  g_mutex_lock (&runtimes_lock);
  for (GList * l = runtimes; l; l = l->next) {
    DlsCl *c = l->data;
    if (g_strcmp0 (c->selector, sel) == 0) {
      cl = c;
      cl->refcount++;
      break;
    }
  }
  if (!cl) {
    cl = runtime_new (sel, error);
    if (cl)
      runtimes = g_list_prepend (runtimes, cl);
  }
  g_mutex_unlock (&runtimes_lock);
  return cl;
}

void
dls_cl_release (DlsCl * cl)
{
  gboolean last;

  if (!cl)
    return;
  g_mutex_lock (&runtimes_lock);
  last = --cl->refcount == 0;
  if (last)
    runtimes = g_list_remove (runtimes, cl);
  g_mutex_unlock (&runtimes_lock);
  if (last)
    runtime_free (cl);
}

void
dls_cl_stats (guint * n_runtimes, guint * n_programs)
{
  guint nr = 0, np = 0;

  g_mutex_lock (&runtimes_lock);
  for (GList * l = runtimes; l; l = l->next) {
    DlsCl *c = l->data;
    nr++;
    g_mutex_lock (&c->lock);
    np += g_hash_table_size (c->programs);
    g_mutex_unlock (&c->lock);
  }
  g_mutex_unlock (&runtimes_lock);
  if (n_runtimes)
    *n_runtimes = nr;
  if (n_programs)
    *n_programs = np;
}

/* Bytes of the device buffers dls_cl_buffer() made that are still alive,
 * process-wide (the destructor callback runs when a buffer is freed). */
static gssize buffer_bytes;

static void CL_CALLBACK
buffer_freed (cl_mem m, void *bytes)
{
  (void) m;
  g_atomic_pointer_add (&buffer_bytes, -(gssize) GPOINTER_TO_SIZE (bytes));
}

/* dls_cl_test_fail_buffer(): the countdown to the failing call; 0 off */
static gint fail_buffer;

void
dls_cl_test_fail_buffer (int n)
{
  g_atomic_int_set (&fail_buffer, MAX (n, 0));
}

cl_mem
dls_cl_buffer (DlsCl * cl, cl_mem_flags flags, gsize bytes, void *host,
    const char *what, GError ** error)
{
  cl_int st;
  cl_mem m;

  if (G_UNLIKELY (g_atomic_int_get (&fail_buffer) > 0)
      && g_atomic_int_dec_and_test (&fail_buffer)) {
    dls_cl_check (CL_MEM_OBJECT_ALLOCATION_FAILURE, what, error);
    return NULL;
  }
  m = clCreateBuffer (cl->context, flags, bytes, host, &st);
  if (!dls_cl_check (st, what, error))
    return NULL;
  /* Around the caller's memory: counted with the host's, not here. */
  if (flags & CL_MEM_USE_HOST_PTR)
    return m;
  if (clSetMemObjectDestructorCallback (m, buffer_freed,
          GSIZE_TO_POINTER (bytes)) == CL_SUCCESS)
    g_atomic_pointer_add (&buffer_bytes, (gssize) bytes);
  return m;
}

gsize
dls_cl_buffer_bytes (void)
{
  return (gsize) g_atomic_pointer_get (&buffer_bytes);
}

void
dls_cl_weight_stats (guint * n_sets, guint64 * bytes)
{
  guint ns = 0;
  guint64 nb = 0;

  g_mutex_lock (&runtimes_lock);
  for (GList * l = runtimes; l; l = l->next) {
    DlsCl *c = l->data;
    g_mutex_lock (&c->weights_lock);
    for (guint i = 0; i < c->weight_sets->len; i++) {
      WeightSet *w = c->weight_sets->pdata[i];
      ns++;
      g_mutex_lock (&w->lock);
      nb += w->bytes;
      g_mutex_unlock (&w->lock);
    }
    g_mutex_unlock (&c->weights_lock);
  }
  g_mutex_unlock (&runtimes_lock);
  if (n_sets)
    *n_sets = ns;
  if (bytes)
    *bytes = nb;
}

/* The set for @key (NULL: a new private one), with a reference. */
static WeightSet *
weight_set_acquire (DlsCl * cl, const char *key)
{
  WeightSet *w = NULL;

  g_mutex_lock (&cl->weights_lock);
  for (guint i = 0; key && i < cl->weight_sets->len && !w; i++) {
    WeightSet *c = cl->weight_sets->pdata[i];
    if (g_strcmp0 (c->key, key) == 0)
      w = c;
  }
  if (w) {
    w->refcount++;
  } else {
    w = g_new0 (WeightSet, 1);
    w->refcount = 1;
    w->key = g_strdup (key);
    g_mutex_init (&w->lock);
    w->bufs = g_ptr_array_new_with_free_func (release_mem);
    g_ptr_array_add (cl->weight_sets, w);
  }
  g_mutex_unlock (&cl->weights_lock);
  return w;
}

static void
weight_set_release (DlsCl * cl, WeightSet * w)
{
  gboolean last;

  if (!w)
    return;
  g_mutex_lock (&cl->weights_lock);
  last = --w->refcount == 0;
  if (last)
    g_ptr_array_remove_fast (cl->weight_sets, w);
  g_mutex_unlock (&cl->weights_lock);
  if (!last)
    return;
  g_ptr_array_unref (w->bufs);
  g_mutex_clear (&w->lock);
  g_free (w->key);
  g_free (w);
}

const char *
dls_cl_device_name (const DlsCl * cl)
{
  return cl->device_name;
}

cl_context
dls_cl_context (const DlsCl * cl)
{
  return cl->context;
}

cl_device_id
dls_cl_device (const DlsCl * cl)
{
  return cl->device;
}

/* The text of kernels/@file.cl: from $DEEPLABSEG_KERNEL_DIR when set (for
 * kernel development without rebuilding), else the embedded copy. */
static char *
kernel_text (const char *file, GError ** error)
{
  const char *dir = g_getenv ("DEEPLABSEG_KERNEL_DIR");
  const char *embedded;

  if (dir && *dir) {
    char *path = g_strdup_printf ("%s/%s.cl", dir, file);
    char *text = NULL;
    gboolean ok = g_file_get_contents (path, &text, NULL, error);
    g_free (path);
    return ok ? text : NULL;
  }
  embedded = dls_kernel_source (file);
  if (!embedded) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_KERNEL_BUILD,
        "no kernel file '%s.cl' is embedded", file);
    return NULL;
  }
  return g_strdup (embedded);
}

/* Builds the kernel files @files (NULL-terminated; one translation unit,
 * in that order) with @options. */
static cl_program
build_program (DlsCl * cl, const char *const *files, const char *options,
    GError ** error)
{
  int n_files = g_strv_length ((char **) files);
  char **texts = g_new0 (char *, n_files + 1);
  char *opts = NULL, *names = NULL;
  cl_program prog = NULL;
  cl_int st;

  for (int i = 0; i < n_files; i++)
    if (!(texts[i] = kernel_text (files[i], error)))
      goto out;
  prog = clCreateProgramWithSource (cl->context, n_files,
      (const char **) texts, NULL, &st);
  if (!dls_cl_check (st, "clCreateProgramWithSource", error))
    goto out;
  /* No fast-math: kernels are compared with the C reference. */
  opts = g_strdup_printf ("-cl-std=CL1.2 %s", options ? options : "");
  st = clBuildProgram (prog, 1, &cl->device, opts, NULL, NULL);
  if (st != CL_SUCCESS) {
    size_t len = 0;
    char *log;
    clGetProgramBuildInfo (prog, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL,
        &len);
    log = g_malloc0 (len + 1);
    clGetProgramBuildInfo (prog, cl->device, CL_PROGRAM_BUILD_LOG, len, log,
        NULL);
    names = g_strjoinv (".cl + kernels/", (char **) files);
    g_set_error (error, DLS_ERROR, DLS_ERROR_KERNEL_BUILD,
        "building kernels/%s.cl with '%s' failed (error %d):\n%s", names,
        opts, st, log);
    g_free (log);
    clReleaseProgram (prog);
    prog = NULL;
  }
out:
  g_strfreev (texts);
  g_free (opts);
  g_free (names);
  return prog;
}

/* The kernel files of the graph (TFLite ops) and of the engine's frame
 * path, built together as one program: PoCL spends ~0.4 s of LLVM on
 * every program at a cold start whatever its size (its kernel library is
 * linked into each), so one program instead of three. Order matters:
 * eltwise.cl and image.cl turn FP_CONTRACT off from their pragma to the
 * end of the program, and conv.cl comes first. */
static const char *const core_files[] = { "conv", "eltwise", "image", NULL };

/* conv.cl's and eltwise.cl's options: the tuning table's -D values
 * (-w: clang notes every float16 value as an ABI change on a CPU without
 * AVX-512, dozens of lines at a cold start, nothing to fix). The core
 * program's are these and image.cl's correctly rounded division. */
#define CONV_OPTIONS_LEN 96
static void
conv_options (const DlsCl * cl, char opts[CONV_OPTIONS_LEN])
{
  const DlsTuning *t = tuning_for (cl->type);

  g_snprintf (opts, CONV_OPTIONS_LEN,
      "-DTP=%d -DTCO=%d -DDWP=%d -DDWC=%d -DRSP=%d -DDFP=%d -w",
      t->conv_tp, t->conv_tco, t->dw_tp, t->dw_tc, t->px_tp,
      t->dwf_px ? t->dwf_px : t->conv_tp);
}

/* TRUE when every option of @options is one of @group's. */
static gboolean
options_within (const char *options, const char *group)
{
  char **want = g_strsplit (options ? options : "", " ", -1);
  char **have = g_strsplit (group, " ", -1);
  gboolean ok = TRUE;

  for (int i = 0; ok && want[i]; i++)
    ok = !*want[i] || g_strv_contains ((const char *const *) have, want[i]);
  g_strfreev (want);
  g_strfreev (have);
  return ok;
}

cl_kernel
dls_cl_kernel (DlsCl * cl, const char *file, const char *options,
    const char *kernel, GError ** error)
{
  char conv_opts[CONV_OPTIONS_LEN], *core_opts;
  gboolean core;
  const char *one[] = { file, NULL };
  char *key;
  cl_program prog;
  cl_kernel k = NULL;
  cl_int st;

  conv_options (cl, conv_opts);
  core_opts = g_strdup_printf ("%s -cl-fp32-correctly-rounded-divide-sqrt",
      conv_opts);
  core = g_strv_contains (core_files, file)
      && options_within (options, core_opts);
  key = core ? g_strdup_printf ("core\n%s", core_opts)
      : g_strdup_printf ("%s\n%s", file, options ? options : "");
  /* Held across the build so two instances never build the same program. */
  g_mutex_lock (&cl->lock);
  prog = g_hash_table_lookup (cl->programs, key);
  if (!prog) {
    prog = core ? build_program (cl, core_files, core_opts, error)
        : build_program (cl, one, options, error);
    if (prog)
      g_hash_table_insert (cl->programs, g_strdup (key), prog);
  }
  g_mutex_unlock (&cl->lock);
  g_free (key);
  g_free (core_opts);
  if (!prog)
    return NULL;
  k = clCreateKernel (prog, kernel, &st);
  if (st != CL_SUCCESS) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_KERNEL_BUILD,
        "no kernel '%s' in kernels/%s.cl (error %d)", kernel, file, st);
    return NULL;
  }
  return k;
}

/* ---- the backend ---- */

typedef struct
{
  cl_kernel kernel;
  cl_uint dims;
  size_t global[3];
  size_t local[3];              /* local[0] == 0: the device picks */
  int node;                     /* the graph node it belongs to */
  int dwf;                      /* a dw_conv1x1 step: its row of the step
                                 * table (b->dwf), else -1 */
  int launches;                 /* the steps its launch runs: 1; a
                                 * dw_conv1x1 step heading a chain: the
                                 * chain's length; one inside a chain: 0
                                 * (no launch of its own when chained) */
  cl_kernel chain;              /* a chain's head: the kernel of the
                                 * chain's launch (@kernel runs the step
                                 * alone), else NULL */
  size_t panel;                 /* a dw_conv1x1 step: its panel's bytes */
  gint64 total_us;              /* with DLS_PROFILE set */
  gint64 min_us;
  int runs;
} Step;

/* Per node, what find_fusions() decided for it. */
typedef struct
{
  int fused_add;                /* a pointwise conv: the ADD fused into it;
                                 * that ADD: its conv; else -1 */
  int folded;                   /* a pointwise conv: the CONCAT folded into
                                 * it; else -1 */
  int fused_dw;                 /* a pointwise conv: the depthwise fused
                                 * into it (dw_conv1x1); else -1 */
  int fused_pw2;                /* a dw_conv1x1 step's conv: the pointwise
                                 * conv that runs in its step as the second
                                 * stage (pw2); that conv: the step's conv;
                                 * else -1 */
  int fused_pool;               /* a 1-pixel pointwise conv: the global
                                 * average pool it reads, run in its step
                                 * (pool_conv1x1); that pool: its conv;
                                 * else -1 */
  int fold_stage;               /* a pool_conv1x1's conv: the pointwise
                                 * conv whose folded CONCAT's first bias
                                 * stage (this conv's output its first
                                 * broadcast input) runs in its step; that
                                 * conv: the pool_conv1x1's conv; else -1 */
  gboolean skip;                /* prepare_node() makes no step for it: a
                                 * fused ADD, an identity RESIZE, a folded
                                 * CONCAT or broadcast RESIZE (whose bias
                                 * step prepare_fold() files under it), a
                                 * pool_conv1x1's pool */
} NodePlan;

typedef struct
{
  DlsBackend parent;
  DlsCl *cl;
  const DlsTuning *tuning;
  cl_command_queue queue;
  const DlsGraph *graph;
  int n_tensors;
  cl_mem *mem;                  /* per tensor id; shared by dead tensors */
  int *cp;                      /* padded channel count per activation */
  GPtrArray *buffers;           /* every buffer prepare() made: the
                                 * activations, the folded biases, the
                                 * dw_conv1x1 steps' table and sync */
  char *weights_key;            /* dls_backend_opencl_share_weights() */
  WeightSet *weights;           /* repacked weights and biases */
  guint n_consts;               /* constants made so far by prepare() */
  GArray *steps;                /* Step */
  float *staging;               /* padded host copy for set_input/get_output */
  gsize staging_len;
  int current_node;             /* node add_step() files steps under */
  NodePlan *plan;               /* per node (find_fusions()) */
  int *alias;                   /* per tensor: the tensor whose buffer it is
                                 * (itself; an identity RESIZE's output: its
                                 * input's), -1: none (folded away) */
  cl_mem *fold_bias;            /* per node, a conv with a fold_stage: the
                                 * per-frame bias its pool_conv1x1 step
                                 * writes (prepare_fold() reads it on) */
  GArray *dwf;                  /* guint64: the dw_conv1x1 steps' table
                                 * (DWF_SLOTS a step, kernels/conv.cl) */
  GArray *dwf_probes;           /* DwfProbe: its pointer slots, filled with
                                 * the device's addresses at prepare */
  int dwf_sync;                 /* ints of sync the steps use so far */
  cl_int epoch;                 /* run count for the dw_conv1x1 claims:
                                 * 1, 2, ... (never 0: sync starts zero) */
  gboolean chained;             /* dls_backend_opencl_set_chained() */
  gboolean profile;             /* $DLS_PROFILE: time each step, print at free */
  /* Fault injection for tests ($DLS_TEST_CL_FAIL_RUN=N): run N fails as a
   * device lost would (tests/test_stress.c). 0: off. */
  guint64 fail_run, runs;
  /* For tests ($DLS_TEST_DWF_GROUPS=N): the dw_conv1x1 launches' work-group
   * count instead of the device's compute units (tests/meson.build runs
   * test-ops with more groups than threads). 0: off. */
  guint dwf_groups;
} OclBackend;

static int
round_up (int v, int m)
{
  return (v + m - 1) / m * m;
}

/* The next constant of prepare(): made from @data, or the buffer another
 * backend of the same model made for it (WeightSet). */
static cl_mem
make_const (OclBackend * b, const float *data, gsize n_floats,
    GError ** error)
{
  WeightSet *w = b->weights;
  guint index = b->n_consts++;
  gsize bytes = n_floats * sizeof (float);
  cl_mem m = NULL;
  cl_int st;

  g_mutex_lock (&w->lock);
  if (index < w->bufs->len) {
    size_t have = 0;
    m = g_ptr_array_index (w->bufs, index);
    st = clGetMemObjectInfo (m, CL_MEM_SIZE, sizeof (have), &have, NULL);
    if (dls_cl_check (st, "clGetMemObjectInfo (shared weights)", error)
        && have != bytes) {
      g_set_error (error, DLS_ERROR, DLS_ERROR_DEVICE, "shared weights: "
          "constant %u has %" G_GSIZE_FORMAT " bytes, another instance of "
          "the model made it with %" G_GSIZE_FORMAT, index, bytes,
          (gsize) have);
      st = CL_INVALID_BUFFER_SIZE;
    }
    if (st != CL_SUCCESS)
      m = NULL;
  } else if (index == w->bufs->len) {
    m = dls_cl_buffer (b->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes,
        (void *) data, "clCreateBuffer (weights)", error);
    if (m) {
      g_ptr_array_add (w->bufs, m);
      w->bytes += bytes;
    }
  } else {
    /* Cannot happen: a backend makes constants 0..n-1 before n. */
    g_set_error (error, DLS_ERROR, DLS_ERROR_DEVICE, "shared weights: "
        "constant %u of %u missing", index, w->bufs->len);
  }
  g_mutex_unlock (&w->lock);
  return m;
}

/* Bias padded to @n floats (zeros beyond the real channels). */
static cl_mem
make_bias (OclBackend * b, const DlsNode * n, int co, int padded,
    GError ** error)
{
  float *buf = g_new0 (float, padded);
  cl_mem m;

  if (n->n_inputs > 2 && n->inputs[2] >= 0)
    memcpy (buf, dls_graph_tensor (b->graph, n->inputs[2])->data,
        co * sizeof (float));
  m = make_const (b, buf, padded, error);
  g_free (buf);
  return m;
}

/* OHWI input channels @i0 .. @i0 + @ni - 1 -> [Cop/TCO][KH][KW][Cip][TCO],
 * zero padded (a part of the input channels: a folded CONCAT's input). */
static cl_mem
pack_conv_weights (OclBackend * b, const DlsTensor * wt, int i0, int ni,
    int cip, int cop_t, int tco, GError ** error)
{
  const float *src = wt->data;
  int co = wt->dims[0], kh = wt->dims[1], kw = wt->dims[2], ci = wt->dims[3];
  gsize n = (gsize) cop_t * kh * kw * cip;
  float *dst = g_new0 (float, n);
  cl_mem m;

  for (int o = 0; o < co; o++)
    for (int y = 0; y < kh; y++)
      for (int x = 0; x < kw; x++)
        for (int i = 0; i < ni; i++)
          dst[((((gsize) (o / tco) * kh + y) * kw + x) * cip + i) * tco
              + o % tco] = src[(((gsize) o * kh + y) * kw + x) * ci + i0 + i];
  m = make_const (b, dst, n, error);
  g_free (dst);
  return m;
}

/* {1,KH,KW,Co} -> [KH][KW][@cop], zero padded. */
static cl_mem
pack_dw_weights (OclBackend * b, const DlsTensor * wt, int cop,
    GError ** error)
{
  const float *src = wt->data;
  int kh = wt->dims[1], kw = wt->dims[2], co = wt->dims[3];
  float *dst = g_new0 (float, (gsize) kh * kw * cop);
  cl_mem m;

  for (int k = 0; k < kh * kw; k++)
    memcpy (dst + (gsize) k * cop, src + (gsize) k * co, co * sizeof (float));
  m = make_const (b, dst, (gsize) kh * kw * cop, error);
  g_free (dst);
  return m;
}

/* Sets kernel arguments from a list of (size, pointer) pairs. */
static gboolean
set_args (cl_kernel k, GError ** error, int n, ...)
{
  va_list ap;
  cl_int st = CL_SUCCESS;

  va_start (ap, n);
  for (int i = 0; i < n && st == CL_SUCCESS; i++) {
    size_t size = va_arg (ap, size_t);
    const void *ptr = va_arg (ap, const void *);
    st = clSetKernelArg (k, i, size, ptr);
  }
  va_end (ap);
  return dls_cl_check (st, "clSetKernelArg", error);
}

#define ARG(v) sizeof (v), (const void *) &(v)

static void
add_step (OclBackend * b, cl_kernel k, cl_uint dims, size_t g0, size_t g1,
    size_t g2)
{
  Step s = { k, dims, {g0, g1, g2}, {0, 0, 0}, b->current_node, -1, 1,
    NULL, 0, 0, G_MAXINT64, 0
  };
  g_array_append_val (b->steps, s);
}

/* Gives the last step work-groups of @l0 x 1 x 1 (the kernel guards
 * dimension 0, which is rounded up to a multiple). PoCL's own choice for
 * these grids can be one or three work-groups for two cores; many small
 * ones balance. One size for every step: PoCL compiles a work-group
 * function per local size at the first launch, which a cold start pays.
 * Beyond what the device allows for the kernel, the device picks. */
static void
set_local (OclBackend * b, size_t l0)
{
  Step *s = &g_array_index (b->steps, Step, b->steps->len - 1);
  size_t max = 0;

  l0 = MAX (1, l0);
  if (clGetKernelWorkGroupInfo (s->kernel, dls_cl_device (b->cl),
          CL_KERNEL_WORK_GROUP_SIZE, sizeof (max), &max, NULL) != CL_SUCCESS
      || l0 > max)
    return;
  s->global[0] = round_up (s->global[0], l0);
  s->local[0] = l0;
  s->local[1] = s->local[2] = 1;
}

/* A convolution that conv1x1 runs: 1x1, stride 1, no padding. */
static gboolean
is_pointwise (const DlsGraph * g, const DlsNode * n)
{
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);
  const DlsTensor *out = dls_graph_tensor (g, n->output);
  const DlsWindowParams *w = &n->p.win;

  return n->op == DLS_OP_CONV2D && w->kernel_h == 1 && w->kernel_w == 1
      && w->stride_h == 1 && w->stride_w == 1 && w->pad_top == 0
      && w->pad_left == 0 && in->dims[1] == out->dims[1]
      && in->dims[2] == out->dims[2];
}

/* No fused clamp: {-INFINITY, INFINITY}. */
static gboolean
no_clamp (const DlsNode * n)
{
  return isinf (n->act_min) && n->act_min < 0 && isinf (n->act_max)
      && n->act_max > 0;
}

/* A RESIZE to its own size with a step of exactly 1 on both axes: the
 * identity in every mode. Each source coordinate is its own index (d * 1,
 * or (d + 0.5) * 1 - 0.5: exact in float), so nearest picks it and
 * bilinear's weights are 1 and 0: v * 1 * 1 + v * 0 * 1 + v * 1 * 0
 * + v * 0 * 0 = v for every finite v (an infinite v gives NaN there:
 * inf * 0). */
static gboolean
is_identity_resize (const DlsGraph * g, const DlsNode * n)
{
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);
  const DlsTensor *out = dls_graph_tensor (g, n->output);

  return (n->op == DLS_OP_RESIZE_BILINEAR || n->op == DLS_OP_RESIZE_NEAREST)
      && no_clamp (n) && in->kind == DLS_TENSOR_ACTIVATION
      && memcmp (in->dims, out->dims, sizeof (in->dims)) == 0
      && dls_resize_step (n, in->dims[1], out->dims[1], TRUE) == 1.0f
      && dls_resize_step (n, in->dims[2], out->dims[2], FALSE) == 1.0f;
}

/* A RESIZE of a 1x1 tensor: every output pixel reads input pixel 0 in
 * every mode (s0 = s1 = 0), a broadcast. TFLite's bilinear formula weighs
 * the four equal taps with weights that sum to 1 but are rounded in
 * float: v (1 - dy) (1 - dx) + v dy (1 - dx) + ... is v exactly with
 * ALIGN_CORNERS (dy = dx = 0, DeepLab's), and within 3 ulp of v with
 * ASYMMETRIC, 6 with HALF_PIXEL (measured over 1 -> 2..257); the
 * broadcast is v itself. */
static gboolean
is_broadcast_resize (const DlsGraph * g, const DlsNode * n)
{
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);

  return (n->op == DLS_OP_RESIZE_BILINEAR || n->op == DLS_OP_RESIZE_NEAREST)
      && no_clamp (n) && in->kind == DLS_TENSOR_ACTIVATION
      && in->dims[1] == 1 && in->dims[2] == 1;
}

/* An AVERAGE_POOL_2D whose one output pixel's window covers the whole
 * input (TFLite's global pool, filter = input): the mean of every pixel,
 * which pool_conv1x1 computes. */
static gboolean
is_global_pool (const DlsGraph * g, const DlsNode * n)
{
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);
  const DlsTensor *out = dls_graph_tensor (g, n->output);
  const DlsWindowParams *w = &n->p.win;

  return n->op == DLS_OP_AVERAGE_POOL2D && in->kind == DLS_TENSOR_ACTIVATION
      && out->dims[1] == 1 && out->dims[2] == 1
      && w->kernel_h - w->pad_top >= in->dims[1]
      && w->kernel_w - w->pad_left >= in->dims[2];
}

/* The first broadcast input of folded CONCAT @cat (find_fusions(): the
 * inputs without a buffer of their own): its index, and in *@off the
 * channels of the inputs before it. */
static int
first_broadcast (OclBackend * b, const DlsNode * cat, int *off)
{
  int k = 0;

  *off = 0;
  for (; b->alias[cat->inputs[k]] >= 0; k++)
    *off += dls_graph_tensor (b->graph, cat->inputs[k])->dims[3];
  return k;
}

/* The tensor whose buffer the step of node @i writes: its output, or
 * the output of the ADD fused into it. */
static int
step_output (OclBackend * b, int i)
{
  int a = b->plan[i].fused_add;

  return dls_graph_node (b->graph, a >= 0 && !b->plan[i].skip ? a : i)->output;
}

/* Graph rewrites that remove work; the C reference runs the graph as it
 * is, and every rewrite is exact or within a few ulp of it.
 *
 * Residual ADDs fused into the pointwise convolution just before them
 * (MobileNetV2's projection + skip): node i a pointwise conv whose output
 * only node i + 1, an ADD of two same-shape tensors, reads. conv1x1
 * (has_res) then writes the ADD's output; the conv's own output gets no
 * buffer, and plan_memory() keeps the conv's inputs alive through i + 1
 * so that buffer never aliases them. Only the next node: no step between
 * could still be reading the buffer it takes.
 *
 * Identity resizes (is_identity_resize(): DeepLab's 33x33 -> 33x33 before
 * the final upsample): no step, the output is the input's buffer.
 *
 * Broadcast branches folded into a pointwise conv (DeepLab's ASPP image
 * pooling: pool -> conv -> resize 1x1 -> 33x33 -> concat -> conv1x1):
 * conv (concat (A, broadcast (p))) = conv' (A) with W' the weights of A's
 * channels and a per-frame bias b + W_p . p. When a channel CONCAT is
 * read only by a pointwise conv, every input but one (A) is an
 * is_broadcast_resize() of a 1x1 tensor p read only by the CONCAT, and
 * neither has a clamp: the CONCAT and the resizes have no buffer and no
 * step; per broadcast input, in order, a conv1x1 on p's one pixel (the
 * weights of its channels, no clamp) adds W_p . p to the previous bias
 * (first the conv's own) into a small per-frame buffer (prepare_fold()),
 * and the conv reads A with that buffer as its bias. The sum is then b,
 * the broadcast channels, A's channels: with the broadcast first in the
 * CONCAT (DeepLab) the order of the unfolded conv, so its output is bit
 * for bit the same; otherwise another float order of the same sum. With
 * two or more non-broadcast inputs nothing is folded (a CONCAT of those
 * would stay: more code for a shape DeepLab does not have).
 *
 * A depthwise fused into the pointwise conv that reads it (MobileNetV2's
 * depthwise + projection; dw_conv1x1, kernels/conv.cl): a depthwise of
 * depth multiplier 1 whose output only a pointwise conv reads (which may
 * have a fused ADD of its own), when the tuning's panel of dwf_px pixels x
 * the depthwise's channels fits the device's local memory. The depthwise
 * makes no step and its output no buffer; the conv's step reads the
 * depthwise's input, which plan_memory() keeps alive until then
 * (node_reads()). The values are bit for bit the two kernels'.
 *
 * The pointwise conv that reads a dw_conv1x1 step's output (the next
 * MobileNetV2 block's expansion, DeepLab's ASPP 1x1 branch; pw2) runs in
 * that step when the tuning says so (dwf_pw2): a pointwise conv is
 * pixel-local, so each work-group runs it over its own panel once the
 * panel's output is stored (kernels/conv.cl). The first such conv in node
 * order without a fused ADD or CONCAT of its own is taken; it makes no
 * step, and its output is placed with the step's (plan_memory()), which
 * also keeps the step's output alive until then: the second stage reads
 * it. The step's output is still stored whole for its other readers (the
 * next residual ADD, the pool). Bit for bit the two kernels' values. A
 * pointwise conv step without a depthwise whose panel of input rows fits
 * the local memory takes its pw2 reader the same way (DeepLab's ASPP
 * projection and logits): a dw_conv1x1 step with no depthwise, which
 * copies the rows into the panel (kh = 0; dw_conv1x1_step()).
 *
 * A global average pool fused into the 1-pixel pointwise conv that reads
 * it (DeepLab's image pooling, nodes 61 -> 62; pool_conv1x1,
 * kernels/conv.cl) when the tuning says so (pool_conv): an
 * is_global_pool() that only that conv reads (not an output), the conv
 * without a fused ADD. The pool makes no step; its output keeps its
 * buffer, which the step writes and then reads, and its input stays alive
 * until the conv's node (node_reads()). When the conv's output is read
 * only by the broadcast RESIZE that is the first broadcast input of a
 * folded CONCAT (above; DeepLab's node 63), that fold's first bias stage
 * runs in the step too (fold_stage): prepare_fold() makes no step for it
 * and goes on from the bias buffer the step writes (b->fold_bias). Later
 * broadcast inputs, and a conv whose output has another reader, keep
 * their own steps. Bit for bit the three kernels' values. */
static void
find_fusions (OclBackend * b)
{
  const DlsGraph *g = b->graph;
  int n_nodes = dls_graph_n_nodes (g);
  int *readers = g_new0 (int, b->n_tensors);
  cl_ulong local_mem = 0;

  g_free (b->plan);
  g_free (b->alias);
  g_free (b->fold_bias);
  b->plan = g_new (NodePlan, n_nodes);
  b->alias = g_new (int, b->n_tensors);
  b->fold_bias = g_new0 (cl_mem, n_nodes);
  for (int t = 0; t < b->n_tensors; t++)
    b->alias[t] = t;
  for (int i = 0; i < n_nodes; i++) {
    const DlsNode *n = dls_graph_node (g, i);
    b->plan[i].fused_add = b->plan[i].folded = b->plan[i].fused_dw = -1;
    b->plan[i].fused_pw2 = b->plan[i].fused_pool = b->plan[i].fold_stage = -1;
    b->plan[i].skip = FALSE;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0)
        readers[n->inputs[k]]++;
  }
  for (guint i = 0; i < g->outputs->len; i++)
    readers[dls_graph_output (g, i)]++;

  for (int i = 0; i + 1 < n_nodes; i++) {
    const DlsNode *c = dls_graph_node (g, i), *a = dls_graph_node (g, i + 1);
    const DlsTensor *t = dls_graph_tensor (g, c->output);
    gboolean ok = is_pointwise (g, c) && a->op == DLS_OP_ADD
        && a->n_inputs == 2 && readers[c->output] == 1
        && b->plan[i].fused_add < 0;
    for (int k = 0; ok && k < 2; k++) {
      const DlsTensor *x = dls_graph_tensor (g, a->inputs[k]);
      ok = x->n_dims == 4 && memcmp (x->dims, t->dims, sizeof (x->dims)) == 0;
    }
    if (ok && (a->inputs[0] == c->output) != (a->inputs[1] == c->output)) {
      b->plan[i].fused_add = i + 1;
      b->plan[i + 1].fused_add = i;
      b->plan[i + 1].skip = TRUE;
      b->alias[c->output] = -1;
    }
  }

  for (int i = 0; i < n_nodes; i++) {
    const DlsNode *n = dls_graph_node (g, i);
    if (is_identity_resize (g, n)) {
      b->plan[i].skip = TRUE;
      b->alias[n->output] = b->alias[n->inputs[0]];
    }
  }

  for (int i = 0; i < n_nodes; i++) {
    const DlsNode *n = dls_graph_node (g, i), *cat;
    int ci, n_main = 0, n_bcast = 0;

    if (!is_pointwise (g, n))
      continue;
    ci = dls_graph_tensor (g, n->inputs[0])->producer;
    cat = ci >= 0 ? dls_graph_node (g, ci) : NULL;
    if (!cat || cat->op != DLS_OP_CONCAT || cat->p.concat.axis != 3
        || !no_clamp (cat) || readers[cat->output] != 1)
      continue;
    for (int k = 0; k < cat->n_inputs; k++) {
      int t = cat->inputs[k], r = dls_graph_tensor (g, t)->producer;
      if (r >= 0 && readers[t] == 1
          && is_broadcast_resize (g, dls_graph_node (g, r)))
        n_bcast++;
      else if (dls_graph_tensor (g, t)->kind == DLS_TENSOR_ACTIVATION)
        n_main++;
      else
        n_main += 2;            /* a constant: nothing to read A from */
    }
    if (n_main != 1 || n_bcast == 0)
      continue;
    b->plan[i].folded = ci;
    b->plan[ci].skip = TRUE;
    b->alias[cat->output] = -1;
    for (int k = 0; k < cat->n_inputs; k++) {
      int t = cat->inputs[k], r = dls_graph_tensor (g, t)->producer;
      if (r >= 0 && readers[t] == 1
          && is_broadcast_resize (g, dls_graph_node (g, r))) {
        b->plan[r].skip = TRUE;
        b->alias[t] = -1;
      }
    }
  }

  /* Panel steps (dw_conv1x1) only with panels (dwf_px) that fit. */
  if (b->tuning->dwf_px <= 0
      || clGetDeviceInfo (dls_cl_device (b->cl), CL_DEVICE_LOCAL_MEM_SIZE,
          sizeof (local_mem), &local_mem, NULL) != CL_SUCCESS)
    local_mem = 0;
  if (local_mem > 0) {
    for (int i = 0; i < n_nodes; i++) {
      const DlsNode *n = dls_graph_node (g, i), *d;
      int di;

      if (!is_pointwise (g, n) || b->plan[i].folded >= 0)
        continue;
      di = dls_graph_tensor (g, n->inputs[0])->producer;
      d = di >= 0 ? dls_graph_node (g, di) : NULL;
      if (!d || d->op != DLS_OP_DEPTHWISE_CONV2D
          || d->p.win.depth_multiplier != 1 || readers[d->output] != 1
          || dls_graph_tensor (g, d->inputs[0])->kind
          != DLS_TENSOR_ACTIVATION
          || (cl_ulong) b->tuning->dwf_px * round_up (dls_graph_tensor (g,
                  d->output)->dims[3], 4) * sizeof (float) > local_mem)
        continue;
      b->plan[i].fused_dw = di;
      b->plan[di].skip = TRUE;
      b->alias[d->output] = -1;
    }
  }

  for (int i = 0; b->tuning->dwf_pw2 && local_mem > 0 && i < n_nodes; i++) {
    const DlsNode *n = dls_graph_node (g, i);
    int o = step_output (b, i);
    /* a dw_conv1x1 step, or a conv1x1 one whose panel of input rows fits
     * the local memory (the kernel copies them there: kh = 0) */
    if (b->plan[i].skip || !is_pointwise (g, n) || (b->plan[i].fused_dw < 0
            && (cl_ulong) b->tuning->dwf_px * round_up (dls_graph_tensor (g,
                    n->inputs[0])->dims[3], 4) * sizeof (float) > local_mem))
      continue;
    for (int j = i + 1; j < n_nodes; j++) {
      const DlsNode *p = dls_graph_node (g, j);
      if (!b->plan[j].skip && is_pointwise (g, p)
          && b->alias[p->inputs[0]] == o && b->plan[j].folded < 0
          && b->plan[j].fused_add < 0 && b->plan[j].fused_dw < 0) {
        b->plan[i].fused_pw2 = j;
        b->plan[j].fused_pw2 = i;
        b->plan[j].skip = TRUE;
        break;
      }
    }
  }

  for (int i = 0; b->tuning->pool_conv && i < n_nodes; i++) {
    const DlsNode *n = dls_graph_node (g, i), *pl;
    int pi;

    /* not in a dw_conv1x1 step (pw2 above), as either of its convs */
    if (!is_pointwise (g, n) || b->plan[i].fused_add >= 0
        || b->plan[i].fused_pw2 >= 0)
      continue;
    pi = dls_graph_tensor (g, n->inputs[0])->producer;
    pl = pi >= 0 ? dls_graph_node (g, pi) : NULL;
    if (!pl || !is_global_pool (g, pl) || readers[pl->output] != 1)
      continue;
    b->plan[i].fused_pool = pi;
    b->plan[pi].fused_pool = i;
    b->plan[pi].skip = TRUE;
    for (int j = i + 1; readers[n->output] == 1 && j < n_nodes; j++) {
      const DlsNode *cat;
      int k, off;
      if (b->plan[j].folded < 0)
        continue;
      cat = dls_graph_node (g, b->plan[j].folded);
      k = first_broadcast (b, cat, &off);
      if (dls_graph_node (g, dls_graph_tensor (g,
                  cat->inputs[k])->producer)->inputs[0] == n->output) {
        b->plan[i].fold_stage = j;
        b->plan[j].fold_stage = i;
        break;
      }
    }
  }
  g_free (readers);
}

/* The activations the steps of node @i read, as the tensors whose buffers
 * they are (b->alias): a conv with a fused ADD also reads the residual; a
 * conv with a folded CONCAT reads its main input and the 1x1 tensors of
 * its broadcast inputs (but the one a pool_conv1x1 step's fold stage
 * reads); a pool_conv1x1 step reads the pool's input, then the pooled
 * pixel and, with a fold stage, the conv's output, which it writes
 * itself; a node without a step of its own reads nothing. Returns how
 * many. */
static int
node_reads (OclBackend * b, int i, int reads[DLS_MAX_INPUTS + 1])
{
  const DlsGraph *g = b->graph;
  const DlsNode *n = dls_graph_node (g, i);
  const DlsNode *src = n;
  int nr = 0;

  if (b->plan[i].skip)
    return 0;
  if (b->plan[i].folded >= 0)
    src = dls_graph_node (g, b->plan[i].folded);
  else if (b->plan[i].fused_dw >= 0)
    src = dls_graph_node (g, b->plan[i].fused_dw);
  else if (b->plan[i].fused_pool >= 0)
    src = dls_graph_node (g, b->plan[i].fused_pool);
  for (int k = 0; k < src->n_inputs; k++) {
    int t = src->inputs[k];
    if (t >= 0 && b->alias[t] < 0)      /* a folded broadcast: its 1x1 */
      t = dls_graph_node (g, dls_graph_tensor (g, t)->producer)->inputs[0];
    if (b->plan[i].folded >= 0 && b->plan[i].fold_stage >= 0
        && t == dls_graph_node (g, b->plan[i].fold_stage)->output)
      continue;                 /* read in the pool_conv1x1 step */
    if (t >= 0 && dls_graph_tensor (g, t)->kind == DLS_TENSOR_ACTIVATION)
      reads[nr++] = b->alias[t];
  }
  if (b->plan[i].fused_pool >= 0) {
    reads[nr++] = b->alias[src->output];
    if (b->plan[i].fold_stage >= 0)
      reads[nr++] = b->alias[n->output];
  }
  if (b->plan[i].fused_add >= 0) {
    const DlsNode *a = dls_graph_node (g, b->plan[i].fused_add);
    int r = a->inputs[0] == n->output ? a->inputs[1] : a->inputs[0];
    reads[nr++] = b->alias[r];
  }
  if (b->plan[i].fused_pw2 >= 0)        /* pw2 reads the step's output */
    reads[nr++] = b->alias[step_output (b, i)];
  return nr;
}

/* A conv1x1 step (kernels/conv.cl): @n_pix pixels of @cip channels from
 * @src into @dst (@cop floats a pixel, @cop_t channels computed), clamped
 * to [@lo, @hi]; with @res (a fused ADD) then + @res clamped to [@lo2,
 * @hi2]. Work-groups of the tuning's conv_wg for every conv1x1: one
 * work-group function. */
static gboolean
conv1x1_step (OclBackend * b, cl_kernel k, cl_mem src, int cip, int n_pix,
    cl_mem wm, cl_mem bm, cl_mem dst, int cop, int cop_t, float lo, float hi,
    cl_mem res, float lo2, float hi2, GError ** error)
{
  int tp = b->tuning->conv_tp, has_res = res != NULL;

  /* Without a fused ADD, res is never read: any buffer will do. */
  if (!res)
    res = dst;
  add_step (b, k, 2, (n_pix + tp - 1) / tp, cop_t / b->tuning->conv_tco, 1);
  set_local (b, b->tuning->conv_wg);
  return set_args (k, error, 13, ARG (src), ARG (cip), ARG (n_pix),
      ARG (wm), ARG (bm), ARG (dst), ARG (cop), ARG (lo), ARG (hi),
      ARG (has_res), ARG (res), ARG (lo2), ARG (hi2));
}

/* A bias stage of the CONCAT folded into pointwise conv @n: the weights
 * of @n's input channels @off .. @off + @c - 1 packed for conv1x1 on the
 * broadcast's 1x1 tensor (@pcp channels), the bias it reads (@prev, the
 * previous stage's; NULL: the first stage, @n's own bias) and a new
 * per-frame bias buffer of @cop_t floats that it writes. */
static gboolean
fold_stage_consts (OclBackend * b, const DlsNode * n, int off, int c,
    int pcp, int cop_t, cl_mem prev, cl_mem * wm, cl_mem * bin,
    cl_mem * bout, GError ** error)
{
  const DlsTensor *wt = dls_graph_tensor (b->graph, n->inputs[1]);
  int co = dls_graph_tensor (b->graph, n->output)->dims[3];

  if (!(*wm = pack_conv_weights (b, wt, off, c, pcp, cop_t,
              b->tuning->conv_tco, error))
      || !(*bin = prev ? prev : make_bias (b, n, co, cop_t, error))
      || !(*bout = dls_cl_buffer (b->cl, CL_MEM_READ_WRITE,
              cop_t * sizeof (float), NULL, "clCreateBuffer (folded bias)",
              error)))
    return FALSE;
  g_ptr_array_add (b->buffers, *bout);
  return TRUE;
}

/* The bias steps of the CONCAT folded into pointwise conv @n
 * (find_fusions()): per broadcast input p, in order, conv1x1 on p's one
 * pixel with the weights of p's channels and no clamp writes bias_j =
 * bias_(j-1) + W_p . p (bias_0: @n's own bias) into a buffer of @cop_t
 * floats, a step filed under the resize it replaces; the first stage
 * makes no step when a pool_conv1x1 step runs it (fold_stage), whose
 * buffer the next stage reads. Returns the last one, @n's per-frame
 * bias, and sets @n's main input: its buffer, padded channels, and
 * channel range in @n's weights. */
static cl_mem
prepare_fold (OclBackend * b, const DlsNode * n, int cop_t, cl_mem * src,
    int *cip, int *i0, int *ni, GError ** error)
{
  const DlsGraph *g = b->graph;
  const DlsNode *cat = dls_graph_node (g, b->plan[b->current_node].folded);
  int node = b->current_node, off = 0;
  gboolean ok;
  char opts[CONV_OPTIONS_LEN];
  cl_mem bias = NULL;

  conv_options (b->cl, opts);
  for (int k = 0; k < cat->n_inputs; k++) {
    int t = cat->inputs[k], c = dls_graph_tensor (g, t)->dims[3];
    int r = dls_graph_tensor (g, t)->producer, p;
    cl_mem wm, bin, bout;
    cl_kernel kern;

    if (b->alias[t] >= 0) {     /* the main input */
      *src = b->mem[t];
      *cip = b->cp[t];
      *i0 = off;
      *ni = c;
      off += c;
      continue;
    }
    p = dls_graph_node (g, r)->inputs[0];
    if (!bias && b->plan[node].fold_stage >= 0) {
      bias = b->fold_bias[node];        /* pool_conv1x1_step() wrote it */
      off += c;
      continue;
    }
    if (!fold_stage_consts (b, n, off, c, b->cp[p], cop_t, bias, &wm, &bin,
            &bout, error)
        || !(kern = dls_cl_kernel (b->cl, "conv", opts, "conv1x1", error)))
      return NULL;
    b->current_node = r;
    ok = conv1x1_step (b, kern, b->mem[p], b->cp[p], 1, wm, bin, bout, cop_t,
        cop_t, -INFINITY, INFINITY, NULL, 0.0f, 0.0f, error);
    b->current_node = node;
    if (!ok)
      return NULL;
    bias = bout;
    off += c;
  }
  return bias;
}

/* Depthwise @d's weights and bias, packed for depthwise and dw_conv1x1. */
static gboolean
dw_consts (OclBackend * b, const DlsNode * d, cl_mem * wm, cl_mem * bm,
    GError ** error)
{
  int cop_t = round_up (b->cp[d->output], b->tuning->dw_tc);

  return (*wm = pack_dw_weights (b, dls_graph_tensor (b->graph,
              d->inputs[1]), cop_t, error))
      && (*bm = make_bias (b, d, dls_graph_tensor (b->graph,
              d->output)->dims[3], cop_t, error));
}

/* Conv @n's bias and weights, packed for conv1x1, conv2d and
 * dw_conv1x1's second stage (every input channel: not a folded CONCAT's
 * part, prepare_fold()). */
static gboolean
conv_consts (OclBackend * b, const DlsNode * n, cl_mem * wm, cl_mem * bm,
    GError ** error)
{
  const DlsTensor *wt = dls_graph_tensor (b->graph, n->inputs[1]);
  int co = dls_graph_tensor (b->graph, n->output)->dims[3];
  int tco = b->tuning->conv_tco, cop_t = round_up (co, tco);

  return (*bm = make_bias (b, n, co, cop_t, error))
      && (*wm = pack_conv_weights (b, wt, 0, wt->dims[3],
          b->cp[n->inputs[0]], cop_t, tco, error));
}

/* kernels/conv.cl's dw_conv1x1 table: DWF_SLOTS 64-bit slots a step. */
#define DWF_SLOTS 36

/* A pointer slot of the table and the buffer whose device address goes
 * there (dwf_finish()). */
typedef struct
{
  guint slot;
  cl_mem mem;
} DwfProbe;

static guint64
dwf_int (int v)
{
  return (guint32) v;
}

static guint64
dwf_float (float v)
{
  guint32 u;

  memcpy (&u, &v, sizeof (u));
  return u;
}

/* The dw_conv1x1 step of pointwise conv @n (kernels/conv.cl): a row of
 * the step table (b->dwf) with conv1x1_step()'s arguments, panels of
 * dwf_px pixels. With the depthwise fused into it (find_fusions()), the
 * source is the depthwise's input (@src, @cip and @n_pix are the conv's
 * own otherwise: kh = 0 tells the kernel to copy the panel's rows); with
 * a pw2 conv (find_fusions()), its weights, bias, output and clamp for
 * the second stage; a mark and a done flag a panel in the sync buffer.
 * dwf_finish() makes the table, the sync and the launches. */
static gboolean
dw_conv1x1_step (OclBackend * b, cl_kernel k, cl_mem src, int cip,
    int n_pix, cl_mem wm, cl_mem bm, cl_mem dst, int cop, float lo,
    float hi, cl_mem res, float lo2, float hi2, GError ** error)
{
  static const DlsWindowParams no_window;
  const DlsGraph *g = b->graph;
  int di = b->plan[b->current_node].fused_dw;
  const DlsNode *d = di >= 0 ? dls_graph_node (g, di) : NULL;
  const DlsWindowParams *w = d ? &d->p.win : &no_window;
  int ih = 0, iw = 0, ow = 1;
  int dfp = b->tuning->dwf_px;
  int j = b->plan[b->current_node].fused_pw2, has_pw2 = j >= 0;
  cl_mem dwm = wm, dbm = bm, pw2m = wm, pw2b = bm, pw2o = dst;
  int cop2 = cop, n_panels;
  float dlo = 0.0f, dhi = 0.0f, lo3 = 0.0f, hi3 = 0.0f;
  Step *step;

  if (d) {
    const DlsTensor *in = dls_graph_tensor (g, d->inputs[0]);
    const DlsTensor *out = dls_graph_tensor (g, d->output);
    ih = in->dims[1];
    iw = in->dims[2];
    ow = out->dims[2];
    n_pix = out->dims[1] * ow;
    src = b->mem[d->inputs[0]];
    cip = b->cp[d->inputs[0]];
    dlo = d->act_min;
    dhi = d->act_max;
  }
  /* The step first: it owns @k (released with the steps on failure). */
  add_step (b, k, 1, 1, 1, 1);
  set_local (b, 1);
  step = &g_array_index (b->steps, Step, b->steps->len - 1);
  step->dwf = b->dwf->len / DWF_SLOTS;
  step->panel = (size_t) dfp * cip * sizeof (float);
  n_panels = (n_pix + dfp - 1) / dfp;
  if (d && !dw_consts (b, d, &dwm, &dbm, error))
    return FALSE;
  if (has_pw2) {
    const DlsNode *p = dls_graph_node (g, j);
    if (!conv_consts (b, p, &pw2m, &pw2b, error))
      return FALSE;
    pw2o = b->mem[p->output];
    cop2 = b->cp[p->output];
    lo3 = p->act_min;
    hi3 = p->act_max;
  }
  {
    /* DWF_PARAMS' order; the pointer slots (0 here) from mem[]. */
    const guint64 row[DWF_SLOTS] = {
      0, dwf_int (ih), dwf_int (iw), dwf_int (cip), 0, 0, dwf_int (ow),
      dwf_int (w->kernel_h), dwf_int (w->kernel_w), dwf_int (w->stride_h),
      dwf_int (w->stride_w), dwf_int (w->dilation_h),
      dwf_int (w->dilation_w), dwf_int (w->pad_top), dwf_int (w->pad_left),
      dwf_float (dlo), dwf_float (dhi), dwf_int (n_pix), 0, 0, 0,
      dwf_int (cop), dwf_float (lo), dwf_float (hi), dwf_int (res != NULL),
      0, dwf_float (lo2), dwf_float (hi2), dwf_int (has_pw2), 0, 0, 0,
      dwf_int (cop2), dwf_float (lo3), dwf_float (hi3),
      dwf_int (b->dwf_sync)
    };
    const cl_mem mem[DWF_SLOTS] = {
      [0] = src, [4] = dwm, [5] = dbm, [18] = wm, [19] = bm, [20] = dst,
      [25] = res ? res : dst, [29] = pw2m, [30] = pw2b, [31] = pw2o
    };
    for (guint i = 0; i < DWF_SLOTS; i++) {
      DwfProbe pr = { b->dwf->len + i, mem[i] };
      if (mem[i])
        g_array_append_val (b->dwf_probes, pr);
    }
    g_array_append_vals (b->dwf, row, DWF_SLOTS);
  }
  /* a mark and a done flag a panel */
  b->dwf_sync += 2 * n_panels;
  return TRUE;
}

/* dw_conv1x1's probe arguments: @slot >= 0 makes a launch write the
 * device's address of @m into that slot of the table. */
static gboolean
set_probe (cl_kernel k, cl_mem m, cl_int slot, GError ** error)
{
  return dls_cl_check (clSetKernelArg (k, 6, sizeof (m), &m),
      "clSetKernelArg", error)
      && dls_cl_check (clSetKernelArg (k, 7, sizeof (slot), &slot),
      "clSetKernelArg", error);
}

/* After every step is made: the dw_conv1x1 steps' table and sync on the
 * device, the device's address of each pointer slot's buffer written into
 * the table (the kernel's probe launches: an address is the device's to
 * know), and the launches, as many work-groups of one work-item as the
 * device has compute units: each step's kernel runs it alone; with the
 * tuning's dwf_chain (and not profiling, which times each step), the
 * first of consecutive dw_conv1x1 steps also gets a kernel that runs them
 * all as one launch (b->chained chooses at run()). */
static gboolean
dwf_finish (OclBackend * b, GError ** error)
{
  cl_mem table, sync;
  cl_uint units = 0;
  int *zero;
  cl_kernel probe = NULL;
  char opts[CONV_OPTIONS_LEN];

  if (b->dwf->len == 0)
    return TRUE;
  if (!dls_cl_check (clGetDeviceInfo (dls_cl_device (b->cl),
              CL_DEVICE_MAX_COMPUTE_UNITS, sizeof (units), &units, NULL),
          "clGetDeviceInfo (compute units)", error))
    return FALSE;
  if (b->dwf_groups)
    units = b->dwf_groups;
  table = dls_cl_buffer (b->cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
      b->dwf->len * sizeof (guint64), b->dwf->data,
      "clCreateBuffer (dw_conv1x1 steps)", error);
  if (!table)
    return FALSE;
  g_ptr_array_add (b->buffers, table);
  zero = g_new0 (int, b->dwf_sync);
  sync = dls_cl_buffer (b->cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
      b->dwf_sync * sizeof (int), zero, "clCreateBuffer (dw_conv1x1 sync)",
      error);
  g_free (zero);
  if (!sync)
    return FALSE;
  g_ptr_array_add (b->buffers, sync);

  conv_options (b->cl, opts);
  for (guint i = 0, j; i < b->steps->len; i = j) {
    Step *s = &g_array_index (b->steps, Step, i);
    size_t panel = s->panel;
    cl_int first = s->dwf, one = 1, n;

    for (j = i + 1; s->dwf >= 0 && b->tuning->dwf_chain && !b->profile
        && j < b->steps->len && g_array_index (b->steps, Step, j).dwf >= 0;
        j++) {
      Step *t = &g_array_index (b->steps, Step, j);
      t->launches = 0;
      panel = MAX (panel, t->panel);
    }
    if (s->dwf < 0)
      continue;
    s->launches = n = j - i;
    if (n > 1 && !(s->chain = dls_cl_kernel (b->cl, "conv", opts,
                "dw_conv1x1", error)))
      return FALSE;
    /* each step alone, and the chain's launch from its head */
    for (guint k = i; k < j; k++) {
      Step *t = &g_array_index (b->steps, Step, k);
      t->global[0] = MAX (1, units);
      if (!set_args (t->kernel, error, 6, ARG (table), ARG (t->dwf),
              ARG (one), t->panel, NULL, ARG (sync), ARG (b->epoch))
          || !set_probe (t->kernel, NULL, -1, error))
        return FALSE;
    }
    if (s->chain && (!set_args (s->chain, error, 6, ARG (table),
                ARG (first), ARG (n), panel, NULL, ARG (sync),
                ARG (b->epoch)) || !set_probe (s->chain, NULL, -1, error)))
      return FALSE;
    if (!probe)
      probe = s->kernel;
  }
  for (guint i = 0; i < b->dwf_probes->len; i++) {
    const DwfProbe *pr = &g_array_index (b->dwf_probes, DwfProbe, i);
    const size_t one = 1;
    if (!set_probe (probe, pr->mem, pr->slot, error)
        || !dls_cl_check (clEnqueueNDRangeKernel (b->queue, probe, 1, NULL,
                &one, &one, 0, NULL, NULL), "clEnqueueNDRangeKernel (probe)",
            error))
      return FALSE;
  }
  return set_probe (probe, NULL, -1, error);
}

/* The pool_conv1x1 step of 1-pixel pointwise conv @n with the global
 * average pool it reads fused into it (find_fusions()): the pool's
 * input, pixel count and clamp, its output buffer for the pooled pixel,
 * then conv1x1_step()'s constants, output and clamp; with a fold stage,
 * the folded conv's first bias stage (fold_stage_consts(): its weights of
 * the broadcast's channels, its own bias, the per-frame bias buffer,
 * kept in b->fold_bias for prepare_fold()). One work-group of one
 * work-item. */
static gboolean
pool_conv1x1_step (OclBackend * b, cl_kernel k, cl_mem wm, cl_mem bm,
    cl_mem dst, int cop, float lo, float hi, GError ** error)
{
  const DlsGraph *g = b->graph;
  const NodePlan *plan = &b->plan[b->current_node];
  const DlsNode *pl = dls_graph_node (g, plan->fused_pool);
  const DlsTensor *in = dls_graph_tensor (g, pl->inputs[0]);
  int n_in = in->dims[1] * in->dims[2], cip = b->cp[pl->inputs[0]];
  int has_fold = plan->fold_stage >= 0, fcop = cop;
  cl_mem fw = wm, fb = bm, fo = dst;

  /* The step first: it owns @k (released with the steps on failure). */
  add_step (b, k, 1, 1, 1, 1);
  set_local (b, 1);
  if (has_fold) {
    const DlsNode *f = dls_graph_node (g, plan->fold_stage);
    const DlsNode *cat = dls_graph_node (g, b->plan[plan->fold_stage].folded);
    int off, i = first_broadcast (b, cat, &off);  /* our output, resized */
    fcop = round_up (dls_graph_tensor (g, f->output)->dims[3],
        b->tuning->conv_tco);
    if (!fold_stage_consts (b, f, off, dls_graph_tensor (g,
                cat->inputs[i])->dims[3], cop, fcop, NULL, &fw, &fb, &fo,
            error))
      return FALSE;
    b->fold_bias[plan->fold_stage] = fo;
  }
  return set_args (k, error, 17, ARG (b->mem[pl->inputs[0]]), ARG (n_in),
      ARG (cip), ARG (pl->act_min), ARG (pl->act_max),
      ARG (b->mem[pl->output]), ARG (wm), ARG (bm), ARG (dst), ARG (cop),
      ARG (lo), ARG (hi), ARG (has_fold), ARG (fw), ARG (fb), ARG (fo),
      ARG (fcop));
}

static gboolean
prepare_conv (OclBackend * b, const DlsNode * n, GError ** error)
{
  const DlsGraph *g = b->graph;
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);
  const DlsTensor *out = dls_graph_tensor (g, n->output);
  const DlsTensor *wt = dls_graph_tensor (g, n->inputs[1]);
  const DlsWindowParams *w = &n->p.win;
  cl_mem src = b->mem[n->inputs[0]], dst = b->mem[n->output], wm, bm;
  int cip = b->cp[n->inputs[0]], cop = b->cp[n->output];
  int ih = in->dims[1], iw = in->dims[2], oh = out->dims[1], ow = out->dims[2];
  float lo = n->act_min, hi = n->act_max;
  const DlsTuning *t = b->tuning;
  char opts[CONV_OPTIONS_LEN];
  cl_kernel k;

  /* Every conv.cl kernel from one build (the core program): one set of
   * options, the ones b->tuning was read with. */
  conv_options (b->cl, opts);
  if (n->op == DLS_OP_DEPTHWISE_CONV2D) {
    int tp = b->tuning->dw_tp, tc = b->tuning->dw_tc;
    int mult = w->depth_multiplier, cop_t = round_up (cop, tc);
    if (!dw_consts (b, n, &wm, &bm, error)
        || !(k = dls_cl_kernel (b->cl, "conv", opts,
                mult == 1 ? "depthwise" : "depthwise_mult", error)))
      return FALSE;
    /* One local size for every layer (the tuning table): one work-group
     * function to compile, where a row's tile count makes one per width.
     * Tiles past the row store nothing. */
    add_step (b, k, 3, (ow + tp - 1) / tp, oh, cop_t / tc);
    set_local (b, t->dw_wg ? t->dw_wg : (ow + tp - 1) / tp);
    return set_args (k, error, 21, ARG (src), ARG (ih), ARG (iw), ARG (cip),
        ARG (mult), ARG (wm), ARG (bm), ARG (dst), ARG (oh), ARG (ow),
        ARG (cop), ARG (w->kernel_h), ARG (w->kernel_w), ARG (w->stride_h),
        ARG (w->stride_w), ARG (w->dilation_h), ARG (w->dilation_w),
        ARG (w->pad_top), ARG (w->pad_left), ARG (lo), ARG (hi));
  } else {
    int tp = b->tuning->conv_tp, tco = b->tuning->conv_tco;
    int cop_t = round_up (out->dims[3], tco), i0 = 0, ni = wt->dims[3];
    gboolean pointwise = is_pointwise (g, n);
    int add = b->plan[b->current_node].fused_add;
    gboolean fused_pool = b->plan[b->current_node].fused_pool >= 0;
    /* a panel step: a depthwise or a second pointwise conv fused */
    gboolean panels = b->plan[b->current_node].fused_dw >= 0
        || b->plan[b->current_node].fused_pw2 >= 0;
    const char *name = panels ? "dw_conv1x1" : fused_pool ? "pool_conv1x1"
        : pointwise ? "conv1x1" : "conv2d";

    if (b->plan[b->current_node].folded >= 0) {
      if (!(bm = prepare_fold (b, n, cop_t, &src, &cip, &i0, &ni, error))
          || !(wm = pack_conv_weights (b, wt, i0, ni, cip, cop_t, tco,
                  error)))
        return FALSE;
    } else if (!conv_consts (b, n, &wm, &bm, error)) {
      return FALSE;
    }
    if (!(k = dls_cl_kernel (b->cl, "conv", opts, name, error)))
      return FALSE;
    if (pointwise) {
      cl_mem res = NULL;
      float lo2 = 0.0f, hi2 = 0.0f;
      if (add >= 0) {
        const DlsNode *a = dls_graph_node (g, add);
        int r = a->inputs[0] == n->output ? a->inputs[1] : a->inputs[0];
        res = b->mem[r];
        dst = b->mem[a->output];
        lo2 = a->act_min;
        hi2 = a->act_max;
      }
      if (panels)
        return dw_conv1x1_step (b, k, src, cip, oh * ow, wm, bm, dst, cop,
            lo, hi, res, lo2, hi2, error);
      if (fused_pool)           /* no fused ADD (find_fusions()) */
        return pool_conv1x1_step (b, k, wm, bm, dst, cop, lo, hi, error);
      return conv1x1_step (b, k, src, cip, oh * ow, wm, bm, dst, cop, cop_t,
          lo, hi, res, lo2, hi2, error);
    }
    add_step (b, k, 3, (ow + tp - 1) / tp, oh, cop_t / tco);
    set_local (b, (ow + tp - 1) / tp);
    return set_args (k, error, 20, ARG (src), ARG (ih), ARG (iw), ARG (cip),
        ARG (wm), ARG (bm), ARG (dst), ARG (oh), ARG (ow), ARG (cop),
        ARG (w->kernel_h), ARG (w->kernel_w), ARG (w->stride_h),
        ARG (w->stride_w), ARG (w->dilation_h), ARG (w->dilation_w),
        ARG (w->pad_top), ARG (w->pad_left), ARG (lo), ARG (hi));
  }
}


/* RESIZE_BILINEAR @n's coordinates (kernels/eltwise.cl, resize_bilinear):
 * per output row, then per output column, the two source indices and the
 * weights d and 1 - d as the C reference computes them
 * (dls_resize_coord()), once at prepare instead of per output pixel. */
static cl_mem
resize_table (OclBackend * b, const DlsNode * n, int ih, int iw, int oh,
    int ow, GError ** error)
{
  gboolean half = n->p.resize.coord == DLS_RESIZE_HALF_PIXEL;
  gint32 *tab = g_new (gint32, 4 * (oh + ow));
  cl_mem m;

  for (int i = 0; i < oh + ow; i++) {
    gboolean row = i < oh;
    int d = row ? i : i - oh, size = row ? ih : iw, lo, hi;
    float s, w[2], scale = row ? dls_resize_step (n, ih, oh, TRUE)
        : dls_resize_step (n, iw, ow, FALSE);

    dls_resize_coord (d, scale, half, size, &s, &lo, &hi);
    w[0] = s - (float) lo;
    w[1] = 1.0f - w[0];
    tab[4 * i] = lo;
    tab[4 * i + 1] = hi;
    memcpy (tab + 4 * i + 2, w, sizeof (w));
  }
  m = make_const (b, (const float *) tab, 4 * (oh + ow), error);
  g_free (tab);
  return m;
}

static gboolean
prepare_node (OclBackend * b, const DlsNode * n, GError ** error)
{
  const DlsGraph *g = b->graph;
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);
  const DlsTensor *out = dls_graph_tensor (g, n->output);
  cl_mem src = b->mem[n->inputs[0]], dst = b->mem[n->output];
  int cp = b->cp[n->output];
  int ih = in->dims[1], iw = in->dims[2], oh = out->dims[1], ow = out->dims[2];
  float lo = n->act_min, hi = n->act_max;
  cl_kernel k;

  switch (n->op) {
    case DLS_OP_CONV2D:
    case DLS_OP_DEPTHWISE_CONV2D:
      return prepare_conv (b, n, error);
    case DLS_OP_ADD:{
      cl_mem src2 = b->mem[n->inputs[1]];
      if (memcmp (dls_graph_tensor (g, n->inputs[1])->dims, out->dims,
              sizeof (out->dims)) == 0) {
        if (!(k = dls_cl_kernel (b->cl, "eltwise", NULL, "add", error)))
          return FALSE;
        add_step (b, k, 1, (size_t) oh * ow * cp / 4, 1, 1);
        return set_args (k, error, 5, ARG (src), ARG (src2), ARG (dst),
            ARG (lo), ARG (hi));
      }
      /* a broadcast operand (ONNX): as MUL does */
    }
      /* fall through */
    case DLS_OP_MUL:{
      const DlsTensor *bt = dls_graph_tensor (g, n->inputs[1]);
      cl_mem src2 = b->mem[n->inputs[1]];
      int bh = bt->dims[1], bw = bt->dims[2], bcp = b->cp[n->inputs[1]];
      int bc1 = bt->dims[3] == 1 && out->dims[3] > 1;
      int mul = n->op == DLS_OP_MUL;
      if (!(k = dls_cl_kernel (b->cl, "activation", NULL, "binary_bcast",
                  error)))
        return FALSE;
      add_step (b, k, 3, ow, oh, cp / 4);
      return set_args (k, error, 12, ARG (src), ARG (src2), ARG (dst),
          ARG (ow), ARG (cp), ARG (bh), ARG (bw), ARG (bcp), ARG (bc1),
          ARG (mul), ARG (lo), ARG (hi));
    }
    case DLS_OP_AVERAGE_POOL2D:
    case DLS_OP_MAX_POOL2D:{
      const DlsWindowParams *w = &n->p.win;
      int is_max = n->op == DLS_OP_MAX_POOL2D;
      if (!(k = dls_cl_kernel (b->cl, "eltwise", NULL, "pool", error)))
        return FALSE;
      add_step (b, k, 3, ow, oh, cp / 4);
      return set_args (k, error, 16, ARG (src), ARG (ih), ARG (iw), ARG (cp),
          ARG (dst), ARG (oh), ARG (ow), ARG (w->kernel_h), ARG (w->kernel_w),
          ARG (w->stride_h), ARG (w->stride_w), ARG (w->pad_top),
          ARG (w->pad_left), ARG (is_max), ARG (lo), ARG (hi));
    }
    case DLS_OP_RESIZE_BILINEAR:{
      cl_mem tab = resize_table (b, n, ih, iw, oh, ow, error);
      if (!tab || !(k = dls_cl_kernel (b->cl, "eltwise", NULL,
                  "resize_bilinear", error)))
        return FALSE;
      /* One local size for every shape: one work-group function for
       * PoCL to compile (its own choice differs with the grid). */
      add_step (b, k, 2, (ow + b->tuning->px_tp - 1) / b->tuning->px_tp, oh,
          1);
      if (b->tuning->px_wg)
        set_local (b, b->tuning->px_wg);
      return set_args (k, error, 7, ARG (src), ARG (iw), ARG (cp),
          ARG (dst), ARG (oh), ARG (ow), ARG (tab));
    }
    case DLS_OP_CONCAT:{
      int axis = n->p.concat.axis, off = 0;
      for (int i = 0; i < n->n_inputs; i++) {
        const DlsTensor *t = dls_graph_tensor (g, n->inputs[i]);
        cl_mem s = b->mem[n->inputs[i]];
        int scp = b->cp[n->inputs[i]];
        int oy = axis == 1 ? off : 0, ox = axis == 2 ? off : 0;
        int oc = axis == 3 ? off : 0;
        if (!(k = dls_cl_kernel (b->cl, "eltwise", NULL, "copy_block",
                    error)))
          return FALSE;
        add_step (b, k, 2, t->dims[2], t->dims[1], 1);
        if (!set_args (k, error, 11, ARG (s), ARG (scp), ARG (t->dims[3]),
                ARG (dst), ARG (ow), ARG (cp), ARG (oy), ARG (ox), ARG (oc),
                ARG (lo), ARG (hi)))
          return FALSE;
        off += t->dims[axis];
      }
      return TRUE;
    }
      /* The ops ONNX models add (kernels/activation.cl, resize.cl,
       * layout.cl). */
    case DLS_OP_HARD_SIGMOID:
    case DLS_OP_HARD_SWISH:
    case DLS_OP_SIGMOID:{
      int mode = n->op == DLS_OP_HARD_SIGMOID ? 0
          : n->op == DLS_OP_HARD_SWISH ? 1 : 2;
      float alpha = n->p.unary.alpha, beta = n->p.unary.beta;
      if (n->op == DLS_OP_SIGMOID)
        alpha = beta = 0.0f;
      if (!(k = dls_cl_kernel (b->cl, "activation", NULL, "unary", error)))
        return FALSE;
      add_step (b, k, 1, (size_t) oh * ow * cp / 4, 1, 1);
      return set_args (k, error, 7, ARG (src), ARG (dst), ARG (mode),
          ARG (alpha), ARG (beta), ARG (lo), ARG (hi));
    }
    case DLS_OP_RESIZE_NEAREST:{
      int half = n->p.resize.coord == DLS_RESIZE_HALF_PIXEL;
      int mode = n->p.resize.nearest;
      float sy = dls_resize_step (n, ih, oh, TRUE);
      float sx = dls_resize_step (n, iw, ow, FALSE);
      if (!(k = dls_cl_kernel (b->cl, "resize", NULL, "resize_nearest",
                  error)))
        return FALSE;
      add_step (b, k, 3, ow, oh, cp / 4);
      return set_args (k, error, 11, ARG (src), ARG (ih), ARG (iw), ARG (cp),
          ARG (dst), ARG (oh), ARG (ow), ARG (sy), ARG (sx), ARG (half),
          ARG (mode));
    }
    case DLS_OP_ARGMAX:{
      int c = in->dims[3], cpi = b->cp[n->inputs[0]];
      int last = n->p.argmax.select_last;
      if (!(k = dls_cl_kernel (b->cl, "activation", NULL, "argmax", error)))
        return FALSE;
      add_step (b, k, 1, (size_t) oh * ow, 1, 1);
      return set_args (k, error, 8, ARG (src), ARG (dst), ARG (c), ARG (cpi),
          ARG (cp), ARG (last), ARG (lo), ARG (hi));
    }
    case DLS_OP_TRANSPOSE:{
      /* Input strides of its H, W, C in the padded buffer. */
      int cpi = b->cp[n->inputs[0]];
      int st[4] = { 0, iw * cpi, cpi, 1 };
      int s0 = st[n->p.transpose.perm[0]], s1 = st[n->p.transpose.perm[1]];
      int s2 = st[n->p.transpose.perm[2]];
      if (!(k = dls_cl_kernel (b->cl, "layout", NULL, "transpose", error)))
        return FALSE;
      add_step (b, k, 3, ow, oh, out->dims[3]);
      return set_args (k, error, 7, ARG (src), ARG (dst), ARG (s0), ARG (s1),
          ARG (s2), ARG (ow), ARG (cp));
    }
    case DLS_OP_RESHAPE:{
      int ci = in->dims[3], cpi = b->cp[n->inputs[0]], co = out->dims[3];
      if (!(k = dls_cl_kernel (b->cl, "layout", NULL, "reshape", error)))
        return FALSE;
      add_step (b, k, 1, (size_t) oh * ow * co, 1, 1);
      return set_args (k, error, 6, ARG (src), ARG (dst), ARG (ci), ARG (cpi),
          ARG (co), ARG (cp));
    }
    case DLS_OP_SOFTMAX:{
      int c = out->dims[3];
      if (!(k = dls_cl_kernel (b->cl, "activation", NULL, "softmax", error)))
        return FALSE;
      add_step (b, k, 1, (size_t) oh * ow, 1, 1);
      return set_args (k, error, 6, ARG (src), ARG (dst), ARG (c), ARG (cp),
          ARG (lo), ARG (hi));
    }
    default:
      g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
          "the OpenCL backend cannot run %s", dls_op_name (n->op));
      return FALSE;
  }
}

static gsize
tensor_bytes (OclBackend * b, int id)
{
  const DlsTensor *t = dls_graph_tensor (b->graph, id);
  return (gsize) t->dims[1] * t->dims[2] * b->cp[id] * sizeof (float);
}

/* Liveness over the node order: a tensor's buffer returns to the pool
 * after its last reader; an output takes the smallest free buffer that
 * fits, else a new one. Graph inputs and outputs are never reused. */
static gboolean
plan_memory (OclBackend * b, GError ** error)
{
  const DlsGraph *g = b->graph;
  int *last_use = g_new (int, b->n_tensors);
  gboolean *pinned = g_new0 (gboolean, b->n_tensors);
  GPtrArray *free_list = g_ptr_array_new ();
  GHashTable *sizes = g_hash_table_new (NULL, NULL);
  gboolean ok = FALSE;

  for (int t = 0; t < b->n_tensors; t++)
    last_use[t] = -1;
  /* An identity resize's output is its input's buffer (b->alias): what
   * pins or reads the one, pins or reads the other. */
  for (guint i = 0; i < g->inputs->len; i++)
    pinned[b->alias[dls_graph_input (g, i)]] = TRUE;
  for (guint i = 0; i < g->outputs->len; i++)
    pinned[b->alias[dls_graph_output (g, i)]] = TRUE;
  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    int reads[DLS_MAX_INPUTS + 1], nr = node_reads (b, i, reads);
    /* A conv with a fused ADD writes the ADD's output: its inputs live
     * until that buffer is placed (find_fusions()). */
    int until = MAX (i, b->plan[i].fused_add);
    for (int k = 0; k < nr; k++)
      last_use[reads[k]] = MAX (last_use[reads[k]], until);
  }

  for (int t = 0; t < b->n_tensors; t++) {
    const DlsTensor *tt = dls_graph_tensor (g, t);
    if (tt->kind == DLS_TENSOR_ACTIVATION && tt->n_dims == 4)
      b->cp[t] = round_up (tt->dims[3], 4);
  }

  /* kernels/conv.cl's vector loads may run up to 64 bytes past the last
   * channel group: every buffer has that slack. */
#define NEW_BUFFER(id) G_STMT_START {                                       \
    gsize bytes_ = tensor_bytes (b, (id));                                \
    cl_mem m_ = dls_cl_buffer (b->cl, CL_MEM_READ_WRITE, bytes_ + 64,     \
        NULL, "clCreateBuffer (activation)", error);                      \
    if (!m_)                                                              \
      goto out;                                                           \
    g_ptr_array_add (b->buffers, m_);                                     \
    g_hash_table_insert (sizes, m_, GSIZE_TO_POINTER (bytes_));           \
    b->mem[(id)] = m_;                                                    \
  } G_STMT_END

  for (guint i = 0; i < g->inputs->len; i++)
    NEW_BUFFER (dls_graph_input (g, i));

  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    const NodePlan *p = &b->plan[i];
    /* The outputs placed now: node i's, but a pw2 conv's (find_fusions()),
     * which is placed with the output of the dw_conv1x1 step it runs in:
     * at that conv's node, or at its fused ADD's. */
    int c = p->skip && p->fused_add >= 0 ? p->fused_add : i, outs[2], n_out = 0;
    if (!(p->skip && p->fused_pw2 >= 0))
      outs[n_out++] = dls_graph_node (g, i)->output;
    if (!b->plan[c].skip && b->plan[c].fused_pw2 >= 0
        && MAX (c, b->plan[c].fused_add) == i)
      outs[n_out++] = dls_graph_node (g, b->plan[c].fused_pw2)->output;

    for (int k = 0; k < n_out; k++) {
      int o = outs[k], best = -1;
      gsize need = tensor_bytes (b, o);

      if (!pinned[o] && b->alias[o] == o) {
        for (guint f = 0; f < free_list->len; f++) {
          gsize have = GPOINTER_TO_SIZE (g_hash_table_lookup (sizes,
                  g_ptr_array_index (free_list, f)));
          if (have >= need && (best < 0 || have < GPOINTER_TO_SIZE
                  (g_hash_table_lookup (sizes,
                          g_ptr_array_index (free_list, best)))))
            best = f;
        }
      }
      if (b->alias[o] != o)
        /* no buffer (folded away, a fused conv's output), or another's */
        b->mem[o] = b->alias[o] >= 0 ? b->mem[b->alias[o]] : NULL;
      else if (best >= 0)
        b->mem[o] = g_ptr_array_steal_index (free_list, best);
      else
        NEW_BUFFER (o);
    }
    /* Tensors whose last reader is node i die after its output is placed,
     * so they never alias it. Not only n's inputs: a conv with a fused ADD
     * keeps its own inputs alive until the ADD (node i + 1). */
    for (int t = 0; t < b->n_tensors; t++) {
      if (last_use[t] == i && !pinned[t] && b->mem[t]
          && dls_graph_tensor (g, t)->kind == DLS_TENSOR_ACTIVATION
          && !g_ptr_array_find (free_list, b->mem[t], NULL))
        g_ptr_array_add (free_list, b->mem[t]);
    }
  }
#undef NEW_BUFFER
  ok = TRUE;
out:
  g_free (last_use);
  g_free (pinned);
  g_ptr_array_unref (free_list);
  g_hash_table_unref (sizes);
  return ok;
}

static gboolean
ocl_prepare (DlsBackend * be, const DlsGraph * g, GError ** error)
{
  OclBackend *b = (OclBackend *) be;
  gsize staging = 0;

  /* Once per backend (backend.h): a second graph would leak the first's
   * plan and run its steps too. */
  g_return_val_if_fail (b->graph == NULL, FALSE);
  b->graph = g;
  b->n_tensors = (int) g->tensors->len;
  b->mem = g_new0 (cl_mem, b->n_tensors);
  b->cp = g_new0 (int, b->n_tensors);
  if (b->weights_key) {
    const DlsTuning *t = b->tuning;
    char *key = g_strdup_printf ("%s\n%d,%d,%d,%d,%d,%d,%d,%d",
        b->weights_key, t->conv_tp, t->conv_tco, t->dw_tp, t->dw_tc,
        t->conv_wg, t->dwf_px, t->dwf_pw2, t->pool_conv);
    b->weights = weight_set_acquire (b->cl, key);
    g_free (key);
  } else {
    b->weights = weight_set_acquire (b->cl, NULL);
  }
  find_fusions (b);
  if (!plan_memory (b, error))
    return FALSE;

  /* Padded lanes must hold finite values (0 * NaN would leak into real
   * channels), and fresh buffers hold anything: zero them once. */
  for (guint i = 0; i < b->buffers->len; i++) {
    cl_mem m = g_ptr_array_index (b->buffers, i);
    size_t size = 0;
    float zero = 0.0f;
    if (!dls_cl_check (clGetMemObjectInfo (m, CL_MEM_SIZE, sizeof (size),
                &size, NULL), "clGetMemObjectInfo", error)
        || !dls_cl_check (clEnqueueFillBuffer (b->queue, m, &zero,
                sizeof (zero), 0, size, 0, NULL, NULL), "clEnqueueFillBuffer",
            error))
      return FALSE;
  }

  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    b->current_node = i;
    if (!b->plan[i].skip && !prepare_node (b, dls_graph_node (g, i), error))
      return FALSE;
  }
  if (!dwf_finish (b, error))
    return FALSE;

  for (guint i = 0; i < g->inputs->len; i++)
    staging = MAX (staging, tensor_bytes (b, dls_graph_input (g, i)));
  for (guint i = 0; i < g->outputs->len; i++)
    staging = MAX (staging, tensor_bytes (b, dls_graph_output (g, i)));
  b->staging = g_malloc (staging);
  b->staging_len = staging;
  return dls_cl_check (clFinish (b->queue), "clFinish", error);
}

static gboolean
ocl_set_input (DlsBackend * be, int index, const float *data,
    GError ** error)
{
  OclBackend *b = (OclBackend *) be;
  int id = dls_graph_input (b->graph, index);
  const DlsTensor *t = dls_graph_tensor (b->graph, id);
  int c = t->dims[3], cp = b->cp[id];
  gsize pixels = (gsize) t->dims[1] * t->dims[2];

  memset (b->staging, 0, tensor_bytes (b, id));
  for (gsize p = 0; p < pixels; p++)
    memcpy (b->staging + p * cp, data + p * c, c * sizeof (float));
  return dls_cl_check (clEnqueueWriteBuffer (b->queue, b->mem[id], CL_TRUE,
          0, tensor_bytes (b, id), b->staging, 0, NULL, NULL),
      "clEnqueueWriteBuffer", error);
}

static gboolean
ocl_run (DlsBackend * be, GError ** error)
{
  OclBackend *b = (OclBackend *) be;

  if (G_UNLIKELY (b->fail_run) && ++b->runs >= b->fail_run)
    return dls_cl_check (CL_OUT_OF_RESOURCES, "clEnqueueNDRangeKernel "
        "(injected by DLS_TEST_CL_FAIL_RUN)", error);
  /* this run's claims mark (kernels/conv.cl, dw_conv1x1) */
  b->epoch = b->epoch < G_MAXINT32 ? b->epoch + 1 : 1;
  for (guint i = 0; i < b->steps->len; i++) {
    Step *s = &g_array_index (b->steps, Step, i);
    gint64 t0 = b->profile ? g_get_monotonic_time () : 0;
    cl_kernel k = s->kernel;

    if (s->dwf >= 0 && b->chained) {
      if (s->launches == 0)
        continue;               /* run by the launch of a step before */
      if (s->chain)
        k = s->chain;
    }
    if (s->dwf >= 0 && !dls_cl_check (clSetKernelArg (k, 5,
                sizeof (b->epoch), &b->epoch), "clSetKernelArg", error))
      return FALSE;
    if (!dls_cl_check (clEnqueueNDRangeKernel (b->queue, k, s->dims,
                NULL, s->global, s->local[0] ? s->local : NULL, 0, NULL,
                NULL),
            "clEnqueueNDRangeKernel", error))
      return FALSE;
    if (b->profile) {
      gint64 us;
      clFinish (b->queue);
      us = g_get_monotonic_time () - t0;
      s->total_us += us;
      s->min_us = MIN (s->min_us, us);
      s->runs++;
    }
  }
  return dls_cl_check (clFlush (b->queue), "clFlush", error);
}

static gboolean
ocl_get_output (DlsBackend * be, int index, float *data, GError ** error)
{
  OclBackend *b = (OclBackend *) be;
  int id = dls_graph_output (b->graph, index);
  const DlsTensor *t = dls_graph_tensor (b->graph, id);
  int c = t->dims[3], cp = b->cp[id];
  gsize pixels = (gsize) t->dims[1] * t->dims[2];

  if (!dls_cl_check (clEnqueueReadBuffer (b->queue, b->mem[id], CL_TRUE, 0,
              tensor_bytes (b, id), b->staging, 0, NULL, NULL),
          "clEnqueueReadBuffer", error))
    return FALSE;
  for (gsize p = 0; p < pixels; p++)
    memcpy (data + p * c, b->staging + p * cp, c * sizeof (float));
  return TRUE;
}

static gint
compare_step_time (gconstpointer a, gconstpointer b)
{
  gint64 ta = ((const Step *) a)->total_us, tb = ((const Step *) b)->total_us;
  return ta < tb ? 1 : ta > tb ? -1 : 0;
}

/* Per-step mean and min times on stderr, slowest first (DLS_PROFILE=1);
 * on a loaded machine the min is the steadier figure. */
static void
print_profile (OclBackend * b)
{
  GArray *order;
  gint64 sum = 0, sum_min = 0;

  /* No step (a prepare() that failed first), or never run. */
  if (!b->steps || b->steps->len == 0
      || g_array_index (b->steps, Step, 0).runs == 0) {
    g_printerr ("# OpenCL backend profile: %u steps, never run\n",
        b->steps ? b->steps->len : 0);
    return;
  }
  order = g_array_copy (b->steps);
  g_array_sort (order, (GCompareFunc) compare_step_time);
  for (guint i = 0; i < order->len; i++) {
    const Step *s = &g_array_index (order, Step, i);
    sum += s->total_us;
    sum_min += s->runs ? s->min_us : 0;
  }
  g_printerr ("# OpenCL backend profile: %u steps, mean %.3f ms a run, "
      "sum of step minima %.3f ms\n", order->len,
      sum / 1000.0 / g_array_index (b->steps, Step, 0).runs,
      sum_min / 1000.0);
  for (guint i = 0; i < order->len; i++) {
    const Step *s = &g_array_index (order, Step, i);
    const DlsNode *n = dls_graph_node (b->graph, s->node);
    const DlsTensor *o = dls_graph_tensor (b->graph, n->output);
    char name[64] = "";
    clGetKernelInfo (s->kernel, CL_KERNEL_FUNCTION_NAME, sizeof (name) - 1,
        name, NULL);
    g_printerr ("%8.3f ms (min %7.3f)  node %3d %-16s %-16s -> %dx%dx%d\n",
        s->total_us / 1000.0 / MAX (1, s->runs),
        s->runs ? s->min_us / 1000.0 : 0.0, s->node,
        dls_op_name (n->op), name, o->dims[1], o->dims[2], o->dims[3]);
  }
  g_array_unref (order);
}

static void
ocl_free (DlsBackend * be)
{
  OclBackend *b = (OclBackend *) be;

  if (b->profile && b->graph)
    print_profile (b);
  if (b->queue)
    clFinish (b->queue);
  if (b->steps) {
    for (guint i = 0; i < b->steps->len; i++) {
      Step *s = &g_array_index (b->steps, Step, i);
      clReleaseKernel (s->kernel);
      if (s->chain)
        clReleaseKernel (s->chain);
    }
    g_array_unref (b->steps);
  }
  g_ptr_array_unref (b->buffers);
  g_array_unref (b->dwf);
  g_array_unref (b->dwf_probes);
  weight_set_release (b->cl, b->weights);
  g_free (b->weights_key);
  if (b->queue)
    clReleaseCommandQueue (b->queue);
  dls_cl_release (b->cl);
  g_free (b->mem);
  g_free (b->cp);
  g_free (b->plan);
  g_free (b->alias);
  g_free (b->fold_bias);
  g_free (b->staging);
  g_free (b);
}

static const DlsBackendVTable ocl_vtable = {
  "opencl", ocl_prepare, ocl_set_input, ocl_run, ocl_get_output, ocl_free,
};

DlsBackend *
dls_backend_opencl_new (DlsCl * cl, GError ** error)
{
  OclBackend *b = g_new0 (OclBackend, 1);
  cl_int st;

  b->parent.vt = &ocl_vtable;
  g_mutex_lock (&runtimes_lock);
  cl->refcount++;
  g_mutex_unlock (&runtimes_lock);
  b->cl = cl;
  b->tuning = tuning_for (cl->type);
  b->buffers = g_ptr_array_new_with_free_func (release_mem);
  b->steps = g_array_new (FALSE, FALSE, sizeof (Step));
  b->dwf = g_array_new (FALSE, FALSE, sizeof (guint64));
  b->dwf_probes = g_array_new (FALSE, FALSE, sizeof (DwfProbe));
  b->profile = g_getenv ("DLS_PROFILE") != NULL;
  b->chained = TRUE;
  if (g_getenv ("DLS_TEST_CL_FAIL_RUN"))
    b->fail_run = g_ascii_strtoull (g_getenv ("DLS_TEST_CL_FAIL_RUN"), NULL,
        10);
  if (g_getenv ("DLS_TEST_DWF_GROUPS"))
    b->dwf_groups = CLAMP (atoi (g_getenv ("DLS_TEST_DWF_GROUPS")), 0, 64);
  b->queue = clCreateCommandQueue (cl->context, cl->device, 0, &st);
  if (!dls_cl_check (st, "clCreateCommandQueue", error)) {
    ocl_free (&b->parent);
    return NULL;
  }
  return &b->parent;
}

void
dls_backend_opencl_share_weights (DlsBackend * be, const char *model_key)
{
  OclBackend *b = (OclBackend *) be;

  g_return_if_fail (b->graph == NULL);
  g_free (b->weights_key);
  b->weights_key = g_strdup (model_key);
}

cl_mem
dls_backend_opencl_tensor (DlsBackend * be, int tensor_id, int *c_stride)
{
  OclBackend *b = (OclBackend *) be;

  if (c_stride)
    *c_stride = b->cp[tensor_id];
  return b->mem[tensor_id];
}

void
dls_backend_opencl_set_chained (DlsBackend * be, gboolean chained)
{
  ((OclBackend *) be)->chained = chained;
}

cl_command_queue
dls_backend_opencl_queue (DlsBackend * be)
{
  return ((OclBackend *) be)->queue;
}

char *
dls_backend_opencl_node_kernels (DlsBackend * be, int node)
{
  OclBackend *b = (OclBackend *) be;
  GString *names = g_string_new (NULL);

  for (guint i = 0; i < b->steps->len; i++) {
    const Step *s = &g_array_index (b->steps, Step, i);
    char name[64] = "";
    if (s->node != node)
      continue;
    clGetKernelInfo (s->kernel, CL_KERNEL_FUNCTION_NAME, sizeof (name) - 1,
        name, NULL);
    g_string_append_printf (names, "%s%s%s", names->len ? " " : "",
        s->launches ? "" : "+", name);
  }
  return g_string_free (names, FALSE);
}

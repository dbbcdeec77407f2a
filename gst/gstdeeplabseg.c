/* deeplabseg: semantic segmentation of video with DeepLab on OpenCL.
 *
 * SECTION:element-deeplabseg
 * @title: deeplabseg
 *
 * Runs a DeepLab segmentation network on every frame through OpenCL and,
 * by #GstDeeplabseg:mode, blends the class palette into the frame
 * (overlay), attaches the class map as a #GstDeeplabsegMeta (meta),
 * outputs the class map itself as GRAY8 frames (mask), or replaces (or
 * blurs) everything but the selected classes (background).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! deeplabseg model=deeplabv3.tflite ! videoconvert ! autovideosink
 * ]| Live camera with the segmentation blended in.
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! deeplabseg ! x264enc ! mp4mux ! filesink location=out.mp4
 * ]| Segments a file with the default model and writes the overlay.
 * |[
 * gst-launch-1.0 filesrc location=im.png ! pngdec ! videoconvert ! deeplabseg mode=mask ! pngenc ! filesink location=map.png
 * ]| Writes the class map of an image (pixel value = class id).
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! deeplabseg mode=background classes=person background-blur=15 ! videoconvert ! autovideosink
 * ]| Video-call style: people stay as they are, everything else is blurred.
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=3 ! deeplabseg post-messages=true classes=person,dog palette=0x000000,0xff0000 ! fakesink
 * ]| Prints a "deeplabseg" element message per frame with the pixel count of
 * each class (classes other than person and dog count as background).
 *
 * The model is loaded and the OpenCL kernels are built in start(); the
 * per-frame buffers are sized in set_info(); a frame only runs them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstdeeplabseg.h"

#include <string.h>
#include "engine/engine.h"
#include "frame.h"
#include "meta/gstdeeplabsegmeta.h"
#include "overlay/overlay.h"

GST_DEBUG_CATEGORY_STATIC (gst_deeplabseg_debug);
#define GST_CAT_DEFAULT gst_deeplabseg_debug

#define DEFAULT_PROP_MODEL NULL
#define DEFAULT_PROP_LABELS NULL
#define DEFAULT_PROP_MODE GST_DEEPLABSEG_MODE_OVERLAY
#define DEFAULT_PROP_ALPHA 0.5
#define DEFAULT_PROP_DEVICE "auto"
#define DEFAULT_PROP_INPUT_MEAN DLS_DEFAULT_INPUT_MEAN
#define DEFAULT_PROP_INPUT_STD DLS_DEFAULT_INPUT_STD
/* Dense CRF (gst/crf/): off by default. The parameters' defaults are
 * defined once, in gst/crf/crf.h (DLS_CRF_DEFAULT_*, with why). */
#define DEFAULT_PROP_CRF FALSE
#define DEFAULT_PROP_CRF_ITERATIONS DLS_CRF_DEFAULT_ITERATIONS
#define DEFAULT_PROP_CRF_GAUSSIAN_SXY DLS_CRF_DEFAULT_GAUSSIAN_SXY
#define DEFAULT_PROP_CRF_GAUSSIAN_WEIGHT DLS_CRF_DEFAULT_GAUSSIAN_WEIGHT
#define DEFAULT_PROP_CRF_BILATERAL_SXY DLS_CRF_DEFAULT_BILATERAL_SXY
#define DEFAULT_PROP_CRF_BILATERAL_SRGB DLS_CRF_DEFAULT_BILATERAL_SRGB
#define DEFAULT_PROP_CRF_BILATERAL_WEIGHT DLS_CRF_DEFAULT_BILATERAL_WEIGHT
#define DEFAULT_PROP_CRF_WARM_START DLS_CRF_DEFAULT_WARM_START
#define DEFAULT_PROP_CRF_WARM_ITERATIONS DLS_CRF_DEFAULT_WARM_ITERATIONS
#define DEFAULT_PROP_CRF_SCALE DLS_CRF_DEFAULT_SCALE
#define DEFAULT_PROP_CRF_MIN_CLASS_PROBABILITY \
    DLS_CRF_DEFAULT_MIN_CLASS_PROBABILITY
#define DEFAULT_PROP_PALETTE NULL
#define DEFAULT_PROP_CLASSES NULL
#define DEFAULT_PROP_BACKGROUND_COLOR 0x000000
#define DEFAULT_PROP_BACKGROUND_BLUR 0
#define DEFAULT_PROP_POST_MESSAGES FALSE
#define DEFAULT_PROP_INTERVAL 1
#define DEFAULT_PROP_CONFIDENCE FALSE

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LABELS,
  PROP_MODE,
  PROP_ALPHA,
  PROP_DEVICE,
  PROP_INPUT_MEAN,
  PROP_INPUT_STD,
  PROP_CRF,
  PROP_CRF_ITERATIONS,
  PROP_CRF_GAUSSIAN_SXY,
  PROP_CRF_GAUSSIAN_WEIGHT,
  PROP_CRF_BILATERAL_SXY,
  PROP_CRF_BILATERAL_SRGB,
  PROP_CRF_BILATERAL_WEIGHT,
  PROP_CRF_WARM_START,
  PROP_CRF_WARM_ITERATIONS,
  PROP_CRF_SCALE,
  PROP_CRF_MIN_CLASS_PROBABILITY,
  PROP_PALETTE,
  PROP_CLASSES,
  PROP_BACKGROUND_COLOR,
  PROP_BACKGROUND_BLUR,
  PROP_POST_MESSAGES,
  PROP_INTERVAL,
  PROP_CONFIDENCE,
};

struct _GstDeeplabseg
{
  GstVideoFilter parent;

  /* Properties (object lock). */
  gchar *model;
  gchar *labels_path;
  GstDeeplabsegMode mode;
  gdouble alpha;
  gchar *device;
  gfloat input_mean;
  gfloat input_std;
  gboolean crf;
  DlsCrfParams crf_params;
  gboolean crf_changed;         /* the engine has not seen them yet */
  gboolean stream_reset;        /* flush/seek/segment: forget the past */
  gchar *palette_spec;
  gchar *classes_spec;
  guint background_color;       /* 0xRRGGBB */
  gint background_blur;
  gboolean post_messages;
  guint interval;
  gboolean confidence;

  /* Parsed from palette_spec / classes_spec (object lock); @keep is
   * resolved against the labels, so names work from start() on. */
  DlsPalette palette;
  guint8 keep[256];
  gboolean keep_all;

  /* From start() to stop(); published under the object lock. */
  DlsEngine *engine;
  int n_classes;
  gchar **labels;
  gboolean engine_conf;         /* the engine's confidence buffers are on */

  /* From set_info(). */
  GstVideoInfo info;
  DlsOverlay *overlay;
  guint8 *map;                  /* width x height class map (overlay) */
  GstBufferPool *mask_pool;     /* GRAY8 masks for the meta */
  GstBufferPool *conf_pool;     /* GRAY8 confidence planes for the meta */
  /* background-blur: the blurred frame and its scratch, made by the first
   * frame that needs them and kept until the caps change */
  GstBuffer *blur_buf[2];
  guint32 *blur_acc;
  /* interval > 1: the last map the network made, reused by the frames
   * between two runs (streaming thread only) */
  guint8 *last_map;
  guint8 *last_conf;            /* its confidence, if that run made one */
  gboolean have_last, have_last_conf;
  guint since_run;
  gsize device_bytes;           /* last logged dls_engine_device_bytes() */
};

#define FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (FORMATS) ";"
        GST_VIDEO_CAPS_MAKE ("GRAY8")));

/* PASCAL VOC class names, used when a 21-class model has no labels file. */
static const gchar *const voc_labels[] = {
  "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
  "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
  "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor", NULL
};

GType
gst_deeplabseg_mode_get_type (void)
{
  static gsize id = 0;
  static const GEnumValue values[] = {
    {GST_DEEPLABSEG_MODE_OVERLAY, "Blend the class palette into the frame",
        "overlay"},
    {GST_DEEPLABSEG_MODE_META, "Attach the class map as a meta, frame "
          "untouched", "meta"},
    {GST_DEEPLABSEG_MODE_MASK, "Output the class map as GRAY8 (pixel = "
          "class id)", "mask"},
    {GST_DEEPLABSEG_MODE_BACKGROUND, "Keep the selected classes, replace "
          "or blur the rest", "background"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&id))
    g_once_init_leave (&id, g_enum_register_static ("GstDeeplabsegMode",
            values));
  return id;
}

#define gst_deeplabseg_parent_class parent_class
G_DEFINE_TYPE (GstDeeplabseg, gst_deeplabseg, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (deeplabseg, "deeplabseg", GST_RANK_NONE,
    GST_TYPE_DEEPLABSEG);

/* ---- properties ---- */

/* classes: resolved against the labels once they are known (start()). With
 * the object lock held. FALSE (and nothing changed) when @spec names a
 * class the model does not have. */
static gboolean
resolve_classes (GstDeeplabseg * self, const gchar * spec, GError ** error)
{
  int n = self->n_classes ? self->n_classes : 256;
  guint8 keep[256];

  if (!dls_class_select_resolve (spec, (const gchar * const *) self->labels,
          n, keep, error))
    return FALSE;
  memcpy (self->keep, keep, sizeof (keep));
  self->keep_all = !spec || !*spec;
  return TRUE;
}

static void
gst_deeplabseg_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (object);
  gboolean reconfigure = FALSE;
  const gchar *rejected = NULL;
  GError *err = NULL;
  DlsPalette palette;
  gboolean palette_ok = FALSE;

  /* outside the lock the streaming thread takes per frame: may read a file */
  if (prop_id == PROP_PALETTE)
    palette_ok = dls_palette_parse (&palette, g_value_get_string (value),
        &err);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model);
      self->model = g_value_dup_string (value);
      break;
    case PROP_LABELS:
      g_free (self->labels_path);
      self->labels_path = g_value_dup_string (value);
      break;
    case PROP_MODE:{
      GstDeeplabsegMode mode = g_value_get_enum (value);
      /* Into or out of mask mode the output caps change. */
      reconfigure = (mode == GST_DEEPLABSEG_MODE_MASK)
          != (self->mode == GST_DEEPLABSEG_MODE_MASK);
      self->mode = mode;
      break;
    }
    case PROP_ALPHA:
      self->alpha = g_value_get_double (value);
      break;
    case PROP_DEVICE:
      g_free (self->device);
      self->device = g_value_dup_string (value);
      break;
    case PROP_INPUT_MEAN:
      self->input_mean = g_value_get_float (value);
      break;
    case PROP_INPUT_STD:
      self->input_std = g_value_get_float (value);
      break;
    case PROP_CRF:
      self->crf = g_value_get_boolean (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_ITERATIONS:
      self->crf_params.iterations = g_value_get_int (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_GAUSSIAN_SXY:
      self->crf_params.gaussian_sxy = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_GAUSSIAN_WEIGHT:
      self->crf_params.gaussian_weight = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_BILATERAL_SXY:
      self->crf_params.bilateral_sxy = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_BILATERAL_SRGB:
      self->crf_params.bilateral_srgb = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_BILATERAL_WEIGHT:
      self->crf_params.bilateral_weight = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_WARM_START:
      self->crf_params.warm_start = g_value_get_boolean (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_WARM_ITERATIONS:
      self->crf_params.warm_iterations = g_value_get_int (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_SCALE:
      self->crf_params.scale = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_CRF_MIN_CLASS_PROBABILITY:
      self->crf_params.min_class_probability = g_value_get_float (value);
      self->crf_changed = TRUE;
      break;
    case PROP_PALETTE:
      if (palette_ok) {
        self->palette = palette;
        g_free (self->palette_spec);
        self->palette_spec = g_value_dup_string (value);
      } else {
        rejected = "palette";
      }
      break;
    case PROP_CLASSES:{
      const gchar *spec = g_value_get_string (value);

      /* names need the labels: before start() the whole list is checked
       * there */
      if (self->labels && !resolve_classes (self, spec, &err)) {
        rejected = "classes";
        break;
      }
      g_free (self->classes_spec);
      self->classes_spec = g_strdup (spec);
      break;
    }
    case PROP_BACKGROUND_COLOR:
      self->background_color = g_value_get_uint (value);
      break;
    case PROP_BACKGROUND_BLUR:
      self->background_blur = g_value_get_int (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_INTERVAL:
      self->interval = g_value_get_uint (value);
      break;
    case PROP_CONFIDENCE:
      self->confidence = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (rejected) {
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("Invalid '%s' ignored, the previous value stays: %s", rejected,
            err->message), (NULL));
    g_clear_error (&err);
  }
  if (reconfigure)
    gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
}

static void
gst_deeplabseg_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;
    case PROP_LABELS:
      g_value_set_string (value, self->labels_path);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_ALPHA:
      g_value_set_double (value, self->alpha);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_INPUT_MEAN:
      g_value_set_float (value, self->input_mean);
      break;
    case PROP_INPUT_STD:
      g_value_set_float (value, self->input_std);
      break;
    case PROP_CRF:
      g_value_set_boolean (value, self->crf);
      break;
    case PROP_CRF_ITERATIONS:
      g_value_set_int (value, self->crf_params.iterations);
      break;
    case PROP_CRF_GAUSSIAN_SXY:
      g_value_set_float (value, self->crf_params.gaussian_sxy);
      break;
    case PROP_CRF_GAUSSIAN_WEIGHT:
      g_value_set_float (value, self->crf_params.gaussian_weight);
      break;
    case PROP_CRF_BILATERAL_SXY:
      g_value_set_float (value, self->crf_params.bilateral_sxy);
      break;
    case PROP_CRF_BILATERAL_SRGB:
      g_value_set_float (value, self->crf_params.bilateral_srgb);
      break;
    case PROP_CRF_BILATERAL_WEIGHT:
      g_value_set_float (value, self->crf_params.bilateral_weight);
      break;
    case PROP_CRF_WARM_START:
      g_value_set_boolean (value, self->crf_params.warm_start);
      break;
    case PROP_CRF_WARM_ITERATIONS:
      g_value_set_int (value, self->crf_params.warm_iterations);
      break;
    case PROP_CRF_SCALE:
      g_value_set_float (value, self->crf_params.scale);
      break;
    case PROP_CRF_MIN_CLASS_PROBABILITY:
      g_value_set_float (value, self->crf_params.min_class_probability);
      break;
    case PROP_PALETTE:
      g_value_set_string (value, self->palette_spec);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, self->classes_spec);
      break;
    case PROP_BACKGROUND_COLOR:
      g_value_set_uint (value, self->background_color);
      break;
    case PROP_BACKGROUND_BLUR:
      g_value_set_int (value, self->background_blur);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_INTERVAL:
      g_value_set_uint (value, self->interval);
      break;
    case PROP_CONFIDENCE:
      g_value_set_boolean (value, self->confidence);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- start / stop ---- */

/* The model: the property, else $DEEPLABSEG_MODEL, else the shared model
 * beside the source checkout (for the demo and tests). */
static gchar *
resolve_model_path (GstDeeplabseg * self)
{
  const gchar *env = g_getenv ("DEEPLABSEG_MODEL");
  gchar *path = NULL;

  GST_OBJECT_LOCK (self);
  if (self->model && *self->model)
    path = g_strdup (self->model);
  GST_OBJECT_UNLOCK (self);
  if (!path && env && *env)
    path = g_strdup (env);
#ifdef DLS_DEFAULT_MODEL
  if (!path && g_file_test (DLS_DEFAULT_MODEL, G_FILE_TEST_EXISTS))
    path = g_strdup (DLS_DEFAULT_MODEL);
#endif
  return path;
}

/* Posts a DlsError as the GStreamer error a user can act on. */
static void
post_error (GstDeeplabseg * self, const GError * err, const gchar * what)
{
  GQuark domain = GST_LIBRARY_ERROR;
  gint code = GST_LIBRARY_ERROR_FAILED;

  if (err->domain == DLS_ERROR) {
    switch (err->code) {
      case DLS_ERROR_NOT_FOUND:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_NOT_FOUND;
        break;
      case DLS_ERROR_NOT_A_MODEL:
      case DLS_ERROR_CORRUPT:
      case DLS_ERROR_INVALID_GRAPH:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_READ;
        break;
      case DLS_ERROR_UNSUPPORTED:
      case DLS_ERROR_INVALID_ARGUMENT:
        domain = GST_LIBRARY_ERROR;
        code = GST_LIBRARY_ERROR_SETTINGS;
        break;
      case DLS_ERROR_NO_DEVICE:
      case DLS_ERROR_KERNEL_BUILD:
        domain = GST_LIBRARY_ERROR;
        code = GST_LIBRARY_ERROR_INIT;
        break;
      default:
        break;
    }
  }
  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR, domain,
      code, g_strdup_printf ("%s: %s", what, err->message),
      g_strdup_printf ("%s (%s:%d)", what, g_quark_to_string (err->domain),
          err->code), __FILE__, GST_FUNCTION, __LINE__);
}

static gchar **
load_labels (GstDeeplabseg * self, const gchar * path, int n_classes,
    GError ** error)
{
  gchar *text = NULL;
  gchar **lines, **labels;
  int n = 0;

  if (!path) {
    if (n_classes == (int) G_N_ELEMENTS (voc_labels) - 1)
      return g_strdupv ((gchar **) voc_labels);
    labels = g_new0 (gchar *, n_classes + 1);
    for (int i = 0; i < n_classes; i++)
      labels[i] = g_strdup_printf ("class%d", i);
    return labels;
  }
  if (!g_file_get_contents (path, &text, NULL, error)) {
    (*error)->domain = DLS_ERROR;
    (*error)->code = DLS_ERROR_NOT_FOUND;
    return NULL;
  }
  lines = g_strsplit (text, "\n", -1);
  g_free (text);
  labels = g_new0 (gchar *, n_classes + 1);
  for (gchar ** l = lines; *l && n < n_classes; l++) {
    g_strstrip (*l);
    if (**l)
      labels[n++] = g_strdup (*l);
  }
  g_strfreev (lines);
  if (n != n_classes)
    GST_WARNING_OBJECT (self, "labels file '%s' names %d classes, the model "
        "has %d", path, n, n_classes);
  for (; n < n_classes; n++)
    labels[n] = g_strdup_printf ("class%d", n);
  return labels;
}

static gboolean
gst_deeplabseg_start (GstBaseTransform * trans)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (trans);
  DlsEngineOptions opts;
  GError *err = NULL;
  gchar *model = resolve_model_path (self);
  gchar *labels_path, *device, **labels;
  DlsEngine *engine = NULL;

  if (!model) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No model: set the 'model' property or DEEPLABSEG_MODEL."),
        ("no model property, no DEEPLABSEG_MODEL, no default model"));
    return FALSE;
  }

  dls_engine_options_init (&opts);
  GST_OBJECT_LOCK (self);
  device = g_strdup (self->device);
  labels_path = g_strdup (self->labels_path);
  opts.input_mean = self->input_mean;
  opts.input_std = self->input_std;
  GST_OBJECT_UNLOCK (self);
  opts.device = device;

  GST_INFO_OBJECT (self, "loading model %s on device %s", model, device);
  engine = dls_engine_new (model, &opts, &err);
  if (!engine) {
    post_error (self, err, "Could not load the model");
    goto fail;
  }
  GST_INFO_OBJECT (self, "model %s on %s", model,
      dls_engine_device_name (engine));
  labels = load_labels (self, labels_path && *labels_path ?
      labels_path : NULL, dls_engine_n_classes (engine), &err);
  if (!labels) {
    post_error (self, err, "Could not read the labels");
    goto fail;
  }
  /* published complete: set_property() reads them under the lock */
  GST_OBJECT_LOCK (self);
  self->engine = engine;
  self->n_classes = dls_engine_n_classes (engine);
  self->labels = labels;
  self->crf_changed = TRUE;     /* a new engine: give it the CRF settings */
  if (!resolve_classes (self, self->classes_spec, &err)) {
    resolve_classes (self, NULL, NULL);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("Invalid 'classes' ignored, every class is shown: %s",
            err->message), (NULL));
    g_clear_error (&err);
  } else {
    GST_OBJECT_UNLOCK (self);
  }
  g_free (model);
  g_free (device);
  g_free (labels_path);
  return TRUE;

fail:
  g_clear_error (&err);
  dls_engine_free (engine);
  g_free (model);
  g_free (device);
  g_free (labels_path);
  return FALSE;
}

static void
clear_frame_state (GstDeeplabseg * self)
{
  g_clear_pointer (&self->overlay, dls_overlay_free);
  g_clear_pointer (&self->map, g_free);
  gst_clear_buffer (&self->blur_buf[0]);
  gst_clear_buffer (&self->blur_buf[1]);
  g_clear_pointer (&self->blur_acc, g_free);
  g_clear_pointer (&self->last_map, g_free);
  g_clear_pointer (&self->last_conf, g_free);
  self->have_last = self->have_last_conf = FALSE;
  for (int i = 0; i < 2; i++) {
    GstBufferPool **pool = i ? &self->conf_pool : &self->mask_pool;

    if (*pool) {
      gst_buffer_pool_set_active (*pool, FALSE);
      gst_clear_object (pool);
    }
  }
}

static gboolean
gst_deeplabseg_stop (GstBaseTransform * trans)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (trans);

  DlsEngine *engine;
  gchar **labels;

  clear_frame_state (self);
  GST_OBJECT_LOCK (self);
  engine = g_steal_pointer (&self->engine);
  labels = g_steal_pointer (&self->labels);
  self->n_classes = 0;
  self->engine_conf = FALSE;
  GST_OBJECT_UNLOCK (self);
  dls_engine_free (engine);
  g_strfreev (labels);
  return TRUE;
}

static gboolean apply_crf (GstDeeplabseg * self, GstBuffer * buf);

/* ---- caps ---- */

static GstCaps *
gst_deeplabseg_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (trans);
  GstDeeplabsegMode mode;
  GstCaps *ret;

  GST_OBJECT_LOCK (self);
  mode = self->mode;
  GST_OBJECT_UNLOCK (self);

  if (mode != GST_DEEPLABSEG_MODE_MASK) {
    ret = gst_caps_copy (caps);
    /* Never offer GRAY8 as an input for overlay/meta. */
    if (direction == GST_PAD_SRC) {
      GstCaps *tmpl = gst_static_pad_template_get_caps (&sink_template);
      GstCaps *t = gst_caps_intersect (ret, tmpl);
      gst_caps_unref (ret);
      gst_caps_unref (tmpl);
      ret = t;
    }
  } else {
    const gchar *fmt_field = "format";
    ret = gst_caps_new_empty ();
    for (guint i = 0; i < gst_caps_get_size (caps); i++) {
      GstStructure *s = gst_structure_copy (gst_caps_get_structure (caps, i));
      if (direction == GST_PAD_SINK) {
        gst_structure_set (s, fmt_field, G_TYPE_STRING, "GRAY8", NULL);
      } else {
        GstCaps *tmpl = gst_static_pad_template_get_caps (&sink_template);
        const GValue *formats = gst_structure_get_value
            (gst_caps_get_structure (tmpl, 0), fmt_field);
        gst_structure_set_value (s, fmt_field, formats);
        gst_caps_unref (tmpl);
      }
      /* Colorimetry and chroma siting of the input do not apply to a map. */
      gst_structure_remove_fields (s, "colorimetry", "chroma-site", NULL);
      ret = gst_caps_merge_structure (ret, s);
    }
  }
  if (filter) {
    GstCaps *t = gst_caps_intersect_full (filter, ret,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (ret);
    ret = t;
  }
  GST_DEBUG_OBJECT (self, "%s caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, ret);
  return ret;
}

/* An active pool of GRAY8 @w x @h buffers with a GstVideoMeta: the planes
 * the meta carries (they outlive the frame, so they cannot be scratch). */
static GstBufferPool *
new_gray8_pool (GstDeeplabseg * self, int w, int h, const gchar * what)
{
  GstVideoInfo info;
  GstCaps *caps;
  GstStructure *config;
  GstBufferPool *pool;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8, w, h);
  caps = gst_video_info_to_caps (&info);
  pool = gst_video_buffer_pool_new ();
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps,
      GST_VIDEO_INFO_SIZE (&info), 2, 0);
  gst_buffer_pool_config_add_option (config,
      GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_caps_unref (caps);
  if (!gst_buffer_pool_set_config (pool, config)
      || !gst_buffer_pool_set_active (pool, TRUE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, (NULL),
        ("could not set up the %s buffer pool", what));
    gst_object_unref (pool);
    return NULL;
  }
  return pool;
}

static gboolean
gst_deeplabseg_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (filter);
  int w = GST_VIDEO_INFO_WIDTH (in_info), h = GST_VIDEO_INFO_HEIGHT (in_info);
  gboolean mask_out = GST_VIDEO_INFO_FORMAT (out_info) == GST_VIDEO_FORMAT_GRAY8;
  DlsPixelFormat format;
  GError *err = NULL;

  clear_frame_state (self);
  if (!self->engine)
    return FALSE;

  format = dls_pixel_format_from_video (GST_VIDEO_INFO_FORMAT (in_info));
  if (format == DLS_PIXEL_COUNT || w < 1 || h < 1) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("unsupported input %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  if (!dls_engine_set_frame (self->engine, format, w, h, &err)) {
    post_error (self, err, "Could not prepare for the frame size");
    g_clear_error (&err);
    return FALSE;
  }
  /* New caps: the previous frame's CRF state does not apply. */
  dls_engine_crf_reset (self->engine);
  if (!apply_crf (self, NULL))
    return FALSE;
  self->last_map = g_malloc ((gsize) w * h);
  self->last_conf = g_malloc ((gsize) w * h);

  if (mask_out) {
    gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), FALSE);
    return TRUE;
  }
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);

  /* Overlay and meta both need: a map scratch, the blender, a mask pool;
   * all created here so a mode change while playing needs no allocation. */
  self->overlay = dls_overlay_new (in_info);
  if (!self->overlay) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("no overlay blend for %s", gst_video_format_to_string
            (GST_VIDEO_INFO_FORMAT (in_info))));
    return FALSE;
  }
  self->info = *in_info;
  self->map = g_malloc ((gsize) w * h);
  /* the confidence pool too, so turning `confidence` on while playing
   * needs no allocation in the frame path (buffers come on first use) */
  if (!(self->mask_pool = new_gray8_pool (self, w, h, "mask"))
      || !(self->conf_pool = new_gray8_pool (self, w, h, "confidence")))
    return FALSE;
  return TRUE;
}

/* ---- per frame ---- */

/* Hands changed crf-* properties to the engine (it allocates only when the
 * CRF is turned on or its grid size changes) and forgets the previous
 * frames (CRF warm start, the map reused by interval) on a flush, a new
 * segment or a DISCONT @buf (NULL from set_info(), where the buffers are
 * sized and the kernels built before any frame). */
static gboolean
apply_crf (GstDeeplabseg * self, GstBuffer * buf)
{
  DlsCrfParams params;
  gboolean changed, on, reset;
  GError *err = NULL;

  GST_OBJECT_LOCK (self);
  changed = self->crf_changed;
  reset = self->stream_reset;
  on = self->crf;
  params = self->crf_params;
  self->crf_changed = self->stream_reset = FALSE;
  GST_OBJECT_UNLOCK (self);

  if (changed && !dls_engine_set_crf (self->engine, on ? &params : NULL,
          &err)) {
    post_error (self, err, "Could not set up the CRF");
    g_clear_error (&err);
    return FALSE;
  }
  if (reset || (buf && GST_BUFFER_FLAG_IS_SET (buf,
              GST_BUFFER_FLAG_DISCONT))) {
    GST_DEBUG_OBJECT (self, "CRF warm start and interval reset (%s)",
        reset ? "flush/segment" : "discont");
    dls_engine_crf_reset (self->engine);
    self->have_last = FALSE;
  }
  return TRUE;
}

static gboolean
gst_deeplabseg_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_STREAM_START:
      GST_OBJECT_LOCK (self);
      self->stream_reset = TRUE;
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* The properties a frame uses, read once under the object lock. */
typedef struct
{
  GstDeeplabsegMode mode;
  gdouble alpha;
  DlsPalette palette;
  guint8 keep[256];
  gboolean keep_all;
  guint background_color;
  gint background_blur;
  gboolean post_messages;
  guint interval;
  gboolean confidence;
} FrameSettings;

static void
read_settings (GstDeeplabseg * self, FrameSettings * fs)
{
  GST_OBJECT_LOCK (self);
  fs->mode = self->mode;
  fs->alpha = self->alpha;
  fs->palette = self->palette;
  memcpy (fs->keep, self->keep, sizeof (fs->keep));
  fs->keep_all = self->keep_all;
  fs->background_color = self->background_color;
  fs->background_blur = self->background_blur;
  fs->post_messages = self->post_messages;
  fs->interval = self->interval;
  fs->confidence = self->confidence;
  GST_OBJECT_UNLOCK (self);
}

/* Posts the "deeplabseg" element message of a frame: its times, size and
 * the pixel count of every class (the counts add up to width x height). */
static void
post_counts (GstDeeplabseg * self, GstBuffer * buf, const guint64 * counts,
    int w, int h)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime stream_time = GST_CLOCK_TIME_NONE;
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  int n = dls_engine_n_classes (self->engine);
  GValue arr = G_VALUE_INIT, names = G_VALUE_INIT, v = G_VALUE_INIT;
  GstStructure *st;

  /* A segment in another format (BYTES) gives a PTS no times: the
   * conversions would fail an assertion (fuzz finding). */
  if (seg->format == GST_FORMAT_TIME) {
    stream_time = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts);
    running_time = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
  }
  st = gst_structure_new ("deeplabseg",
      "timestamp", G_TYPE_UINT64, pts,
      "stream-time", G_TYPE_UINT64, stream_time,
      "running-time", G_TYPE_UINT64, running_time,
      "duration", G_TYPE_UINT64, GST_BUFFER_DURATION (buf),
      "width", G_TYPE_INT, w, "height", G_TYPE_INT, h,
      "n-classes", G_TYPE_INT, n, NULL);
  gst_value_array_init (&arr, n);
  gst_value_array_init (&names, n);
  for (int c = 0; c < n; c++) {
    g_value_init (&v, G_TYPE_UINT64);
    g_value_set_uint64 (&v, counts[c]);
    gst_value_array_append_and_take_value (&arr, &v);
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, self->labels[c]);
    gst_value_array_append_and_take_value (&names, &v);
  }
  gst_structure_take_value (st, "counts", &arr);
  gst_structure_take_value (st, "labels", &names);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), st));
}

/* Runs the network on @frame into @map and, unless @conf is NULL, its
 * confidence into @conf (or, with interval N > 1, reuses the last run's
 * for the N - 1 frames after it), then applies the class selection
 * (unselected classes become 0; the confidence stays the model's) and
 * posts the counts if asked. */
static gboolean
segment_frame (GstDeeplabseg * self, const FrameSettings * fs,
    GstVideoFrame * frame, guint8 * map, int map_stride, guint8 * conf,
    int conf_stride)
{
  int w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  guint64 counts[256] = { 0 };
  guint8 lut[256];
  DlsImage img;
  GError *err = NULL;

  if (!apply_crf (self, frame->buffer))
    return FALSE;
  /* turned on for the first time: the engine sizes its buffers once */
  if (conf && !self->engine_conf) {
    if (!dls_engine_set_confidence (self->engine, TRUE, &err)) {
      post_error (self, err, "Could not set up the confidence");
      g_clear_error (&err);
      return FALSE;
    }
    self->engine_conf = TRUE;
  }
  if (fs->interval > 1 && self->have_last && self->since_run < fs->interval
      && (!conf || self->have_last_conf)) {
    for (int y = 0; y < h; y++) {
      memcpy (map + (gsize) y * map_stride, self->last_map + (gsize) y * w, w);
      if (conf)
        memcpy (conf + (gsize) y * conf_stride,
            self->last_conf + (gsize) y * w, w);
    }
    self->since_run++;
  } else {
    dls_image_from_frame (&img, frame);
    if (!dls_engine_process_full (self->engine, &img, map, map_stride, conf,
            conf_stride, &err)) {
      post_error (self, err, "Segmentation failed");
      g_clear_error (&err);
      return FALSE;
    }
    /* tests/bench/bench.py reads this line for its memory figures */
    if (dls_engine_device_bytes () != self->device_bytes) {
      self->device_bytes = dls_engine_device_bytes ();
      GST_INFO_OBJECT (self, "device buffers: %" G_GSIZE_FORMAT " bytes "
          "in the process", self->device_bytes);
    }
    if (fs->interval > 1) {
      for (int y = 0; y < h; y++) {
        memcpy (self->last_map + (gsize) y * w, map + (gsize) y * map_stride,
            w);
        if (conf)
          memcpy (self->last_conf + (gsize) y * w,
              conf + (gsize) y * conf_stride, w);
      }
    }
    /* a run with interval 1 leaves last_map stale: never reuse it later */
    self->have_last = fs->interval > 1;
    self->have_last_conf = self->have_last && conf != NULL;
    self->since_run = 1;
  }
  if (fs->keep_all && !fs->post_messages)
    return TRUE;

  for (int c = 0; c < 256; c++)
    lut[c] = fs->keep[c] ? c : 0;
  for (int y = 0; y < h; y++) {
    guint8 *row = map + (gsize) y * map_stride;

    for (int x = 0; x < w; x++) {
      row[x] = lut[row[x]];
      counts[row[x]]++;
    }
  }
  if (fs->post_messages)
    post_counts (self, frame->buffer, counts, w, h);
  return TRUE;
}

/* A GRAY8 buffer of the frame's size from @pool (transfer full into
 * *@buf), mapped for writing into @vf. */
static GstFlowReturn
acquire_plane (GstDeeplabseg * self, GstBufferPool * pool,
    GstVideoFrame * frame, GstBuffer ** buf, GstVideoFrame * vf)
{
  GstVideoInfo info;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8,
      GST_VIDEO_FRAME_WIDTH (frame), GST_VIDEO_FRAME_HEIGHT (frame));
  *buf = NULL;
  if (gst_buffer_pool_acquire_buffer (pool, buf, NULL) != GST_FLOW_OK)
    return GST_FLOW_FLUSHING;
  if (!gst_video_frame_map (vf, &info, *buf, GST_MAP_WRITE)) {
    gst_clear_buffer (buf);
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, (NULL),
        ("cannot map a GRAY8 plane"));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static GstFlowReturn
attach_meta (GstDeeplabseg * self, const FrameSettings * fs,
    GstVideoFrame * frame)
{
  GstBuffer *mask = NULL, *conf = NULL;
  GstVideoFrame mf, cf;
  GstDeeplabsegMeta *meta;
  GstFlowReturn ret;
  gboolean ok;

  if ((ret = acquire_plane (self, self->mask_pool, frame, &mask, &mf))
      != GST_FLOW_OK)
    return ret;
  if (fs->confidence && (ret = acquire_plane (self, self->conf_pool, frame,
              &conf, &cf)) != GST_FLOW_OK) {
    gst_video_frame_unmap (&mf);
    gst_buffer_unref (mask);
    return ret;
  }
  ok = segment_frame (self, fs, frame, GST_VIDEO_FRAME_PLANE_DATA (&mf, 0),
      GST_VIDEO_FRAME_PLANE_STRIDE (&mf, 0),
      conf ? GST_VIDEO_FRAME_PLANE_DATA (&cf, 0) : NULL,
      conf ? GST_VIDEO_FRAME_PLANE_STRIDE (&cf, 0) : 0);
  gst_video_frame_unmap (&mf);
  if (conf)
    gst_video_frame_unmap (&cf);
  if (!ok) {
    gst_buffer_unref (mask);
    gst_clear_buffer (&conf);
    return GST_FLOW_ERROR;
  }
  /* both take their plane (transfer full), also when they fail */
  meta = gst_buffer_add_deeplabseg_meta (frame->buffer, mask,
      dls_engine_n_classes (self->engine),
      (const gchar * const *) self->labels);
  if (!meta || (conf && !gst_deeplabseg_meta_set_confidence (meta, conf))) {
    if (!meta)
      gst_clear_buffer (&conf);
    GST_ELEMENT_ERROR (self, CORE, FAILED, (NULL),
        ("could not attach the segmentation meta"));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* mode=background on self->map (selection applied): the selected,
 * non-background classes stay bit-exact, every other pixel takes the
 * background colour, or the blurred frame with background-blur > 0. Both
 * are the overlay's blend at alpha 1 on the inverted map (1 = replace). */
static GstFlowReturn
replace_background (GstDeeplabseg * self, const FrameSettings * fs,
    GstVideoFrame * frame)
{
  int w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  GstVideoFrame tmp, blurred;
  DlsPalette pal;

  for (gsize i = 0; i < (gsize) w * h; i++)
    self->map[i] = self->map[i] == 0;

  if (fs->background_blur <= 0) {
    memset (&pal, 0, sizeof (pal));
    pal.rgb[1][0] = (fs->background_color >> 16) & 0xff;
    pal.rgb[1][1] = (fs->background_color >> 8) & 0xff;
    pal.rgb[1][2] = fs->background_color & 0xff;
    dls_overlay_blend (self->overlay, frame, self->map, w, &pal, 1.0);
    return GST_FLOW_OK;
  }

  /* one-time: the first blurred frame after caps allocates its buffers */
  if (!self->blur_buf[0]) {
    for (int i = 0; i < 2; i++)
      self->blur_buf[i] = gst_buffer_new_allocate (NULL,
          GST_VIDEO_INFO_SIZE (&self->info), NULL);
    self->blur_acc = g_new (guint32, 4 * (gsize) w);
  }
  if (!gst_video_frame_map (&tmp, &self->info, self->blur_buf[0],
          GST_MAP_READWRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, (NULL),
        ("cannot map the blur buffer"));
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map (&blurred, &self->info, self->blur_buf[1],
          GST_MAP_READWRITE)) {
    gst_video_frame_unmap (&tmp);
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, (NULL),
        ("cannot map the blur buffer"));
    return GST_FLOW_ERROR;
  }
  dls_blur_frame (frame, &tmp, &blurred, fs->background_blur,
      self->blur_acc);
  dls_overlay_composite (self->overlay, frame, &blurred, self->map, w, 1.0);
  gst_video_frame_unmap (&blurred);
  gst_video_frame_unmap (&tmp);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_deeplabseg_transform_frame_ip (GstVideoFilter * filter,
    GstVideoFrame * frame)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (filter);
  FrameSettings fs;

  read_settings (self, &fs);
  if (fs.mode == GST_DEEPLABSEG_MODE_META)
    return attach_meta (self, &fs, frame);

  /* Overlay (also while a switch to mask waits for renegotiation). */
  if (!segment_frame (self, &fs, frame, self->map,
          GST_VIDEO_FRAME_WIDTH (frame), NULL, 0))
    return GST_FLOW_ERROR;
  if (fs.mode == GST_DEEPLABSEG_MODE_BACKGROUND)
    return replace_background (self, &fs, frame);
  dls_overlay_blend (self->overlay, frame, self->map,
      GST_VIDEO_FRAME_WIDTH (frame), &fs.palette, fs.alpha);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_deeplabseg_transform_frame (GstVideoFilter * filter,
    GstVideoFrame * in_frame, GstVideoFrame * out_frame)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (filter);
  FrameSettings fs;

  read_settings (self, &fs);
  if (!segment_frame (self, &fs, in_frame,
          GST_VIDEO_FRAME_PLANE_DATA (out_frame, 0),
          GST_VIDEO_FRAME_PLANE_STRIDE (out_frame, 0), NULL, 0))
    return GST_FLOW_ERROR;
  return GST_FLOW_OK;
}

/* ---- class ---- */

static void
gst_deeplabseg_finalize (GObject * object)
{
  GstDeeplabseg *self = GST_DEEPLABSEG (object);

  g_free (self->model);
  g_free (self->labels_path);
  g_free (self->device);
  g_free (self->palette_spec);
  g_free (self->classes_spec);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_deeplabseg_class_init (GstDeeplabsegClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_deeplabseg_debug, "deeplabseg", 0,
      "DeepLab segmentation");

  gobject_class->set_property = gst_deeplabseg_set_property;
  gobject_class->get_property = gst_deeplabseg_get_property;
  gobject_class->finalize = gst_deeplabseg_finalize;

  /**
   * GstDeeplabseg:model:
   *
   * Path of the segmentation model (.tflite or .onnx, told apart by their
   * content). When unset, the element uses
   * $DEEPLABSEG_MODEL, else the shared DeepLabV3 model beside the source
   * tree it was built from. Read when the element starts (READY->PAUSED).
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the segmentation model (.tflite or .onnx); default: "
          "$DEEPLABSEG_MODEL, else the shared DeepLabV3 model",
          DEFAULT_PROP_MODEL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDeeplabseg:labels:
   *
   * Optional text file with one class name a line, in class-id order.
   * Without it, 21-class models get the PASCAL VOC names, others
   * "classN". The names go into the meta.
   */
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_string ("labels", "Labels",
          "Text file with one class name a line (optional)",
          DEFAULT_PROP_LABELS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDeeplabseg:mode:
   *
   * What to do with the class map: blend it into the frame (overlay),
   * attach it as a #GstDeeplabsegMeta (meta), output it as GRAY8 frames
   * with pixel = class id (mask), or keep the pixels of the selected
   * classes and replace the rest (background, see
   * #GstDeeplabseg:background-color and #GstDeeplabseg:background-blur).
   * Switching into or out of mask renegotiates the output caps; the other
   * modes switch on the next frame.
   */
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode", "What to output",
          GST_TYPE_DEEPLABSEG_MODE, DEFAULT_PROP_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:alpha:
   *
   * Opacity of the palette in overlay mode: 0 leaves the frame as it is,
   * 1 paints the class colour. Background (class 0) is never painted.
   */
  g_object_class_install_property (gobject_class, PROP_ALPHA,
      g_param_spec_double ("alpha", "Alpha",
          "Opacity of the overlay palette (0 = invisible, 1 = opaque)",
          0.0, 1.0, DEFAULT_PROP_ALPHA,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING | GST_PARAM_CONTROLLABLE));

  /**
   * GstDeeplabseg:device:
   *
   * OpenCL device: "auto" (the first GPU, else the first CPU device),
   * "gpu", "cpu", or "P:D" for device D of platform P (clinfo's order).
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "OpenCL device: auto, gpu, cpu or P:D (platform:device index)",
          DEFAULT_PROP_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDeeplabseg:input-mean:
   *
   * The network sees (v - input-mean) / input-std for each 0..255 RGB
   * value v. The defaults (127.5, 127.5) map to [-1, 1], right for the
   * DeepLabV3 TFLite models.
   */
  g_object_class_install_property (gobject_class, PROP_INPUT_MEAN,
      g_param_spec_float ("input-mean", "Input mean",
          "Subtracted from each 0..255 RGB value before the network",
          -1000.0f, 1000.0f, DEFAULT_PROP_INPUT_MEAN,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDeeplabseg:input-std:
   *
   * Divisor applied after #GstDeeplabseg:input-mean.
   */
  g_object_class_install_property (gobject_class, PROP_INPUT_STD,
      g_param_spec_float ("input-std", "Input std",
          "Divides each RGB value after the mean is subtracted",
          1e-6f, 1e6f, DEFAULT_PROP_INPUT_STD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDeeplabseg:palette:
   *
   * Class colours for mode=overlay, in class-id order: "0xRRGGBB,..."
   * (also #RRGGBB or RRGGBB, separated by commas or spaces), or the path of
   * a file holding such a list ("//" starts a comment). Classes past the
   * list keep the PASCAL VOC colour; unset is the VOC palette. An invalid
   * value is refused with a warning message and the previous one stays.
   */
  g_object_class_install_property (gobject_class, PROP_PALETTE,
      g_param_spec_string ("palette", "Palette",
          "Class colours \"0xRRGGBB,...\" in class-id order, or a file of "
          "them (default: PASCAL VOC colours)", DEFAULT_PROP_PALETTE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:classes:
   *
   * The classes to show and emit, as names (see #GstDeeplabseg:labels) or
   * ids separated by commas, e.g. "person,dog" or "15,12". Every other
   * class counts as background (0) in every mode: overlay, meta, mask,
   * background and the messages. Unset selects all. Names are checked
   * against the model's labels when the element starts; an unknown class
   * is refused with a warning message and the previous value stays.
   */
  g_object_class_install_property (gobject_class, PROP_CLASSES,
      g_param_spec_string ("classes", "Classes",
          "Classes to show, names or ids separated by commas (others count "
          "as background; default: all)", DEFAULT_PROP_CLASSES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:background-color:
   *
   * In mode=background with #GstDeeplabseg:background-blur 0: the colour
   * (0xRRGGBB) that replaces every pixel not of a selected class.
   */
  g_object_class_install_property (gobject_class, PROP_BACKGROUND_COLOR,
      g_param_spec_uint ("background-color", "Background colour",
          "mode=background: colour 0xRRGGBB replacing the background",
          0, 0xffffff, DEFAULT_PROP_BACKGROUND_COLOR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING | GST_PARAM_CONTROLLABLE));

  /**
   * GstDeeplabseg:background-blur:
   *
   * In mode=background: when > 0, the background is replaced by a box blur
   * of the frame of this radius in pixels (chroma planes: half of it)
   * instead of #GstDeeplabseg:background-color.
   */
  g_object_class_install_property (gobject_class, PROP_BACKGROUND_BLUR,
      g_param_spec_int ("background-blur", "Background blur",
          "mode=background: blur radius in pixels (0 = use "
          "background-color)", 0, 256, DEFAULT_PROP_BACKGROUND_BLUR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING | GST_PARAM_CONTROLLABLE));

  /**
   * GstDeeplabseg:post-messages:
   *
   * Post an element message named "deeplabseg" for every frame, with
   * fields timestamp, stream-time, running-time, duration (guint64, ns),
   * width, height, n-classes (gint), counts (#GstValueArray of guint64:
   * the pixel count of each class id after #GstDeeplabseg:classes; they
   * add up to width x height) and labels (#GstValueArray of strings).
   */
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a \"deeplabseg\" element message per frame with the pixel "
          "count of each class", DEFAULT_PROP_POST_MESSAGES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf:
   *
   * Refine the class map with a fully connected CRF (Krähenbühl & Koltun
   * 2011) on the frame's colours, run on the OpenCL device after the
   * network. The mask, meta and overlay modes all carry the refined map.
   */
  g_object_class_install_property (gobject_class, PROP_CRF,
      g_param_spec_boolean ("crf", "CRF",
          "Refine the map with a dense CRF (Gaussian + bilateral kernels)",
          DEFAULT_PROP_CRF,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-iterations:
   *
   * Mean-field iterations of a cold frame (the first one, and after a
   * reset or a scene cut). 0 leaves the network's map as it is.
   */
  g_object_class_install_property (gobject_class, PROP_CRF_ITERATIONS,
      g_param_spec_int ("crf-iterations", "CRF iterations",
          "Mean-field iterations of a cold CRF frame", 0, 100,
          DEFAULT_PROP_CRF_ITERATIONS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-gaussian-sxy:
   *
   * Standard deviation in pixels of the CRF's Gaussian (smoothness)
   * kernel over position.
   */
  g_object_class_install_property (gobject_class, PROP_CRF_GAUSSIAN_SXY,
      g_param_spec_float ("crf-gaussian-sxy", "CRF Gaussian sxy",
          "Position standard deviation of the smoothness kernel (pixels)",
          0.01f, 1e4f, DEFAULT_PROP_CRF_GAUSSIAN_SXY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-gaussian-weight:
   *
   * Potts weight of the Gaussian kernel (pydensecrf's compat). 0 turns the
   * kernel off.
   */
  g_object_class_install_property (gobject_class, PROP_CRF_GAUSSIAN_WEIGHT,
      g_param_spec_float ("crf-gaussian-weight", "CRF Gaussian weight",
          "Potts weight of the smoothness kernel", 0.0f, 1000.0f,
          DEFAULT_PROP_CRF_GAUSSIAN_WEIGHT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-bilateral-sxy:
   *
   * Standard deviation in pixels of the bilateral (appearance) kernel
   * over position.
   */
  g_object_class_install_property (gobject_class, PROP_CRF_BILATERAL_SXY,
      g_param_spec_float ("crf-bilateral-sxy", "CRF bilateral sxy",
          "Position standard deviation of the appearance kernel (pixels)",
          0.01f, 1e4f, DEFAULT_PROP_CRF_BILATERAL_SXY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-bilateral-srgb:
   *
   * Standard deviation of the bilateral kernel over colour, in 0..255 RGB
   * levels.
   */
  g_object_class_install_property (gobject_class, PROP_CRF_BILATERAL_SRGB,
      g_param_spec_float ("crf-bilateral-srgb", "CRF bilateral srgb",
          "Colour standard deviation of the appearance kernel (0..255)",
          0.01f, 1e4f, DEFAULT_PROP_CRF_BILATERAL_SRGB,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-bilateral-weight:
   *
   * Potts weight of the bilateral kernel. 0 turns the kernel off.
   */
  g_object_class_install_property (gobject_class, PROP_CRF_BILATERAL_WEIGHT,
      g_param_spec_float ("crf-bilateral-weight", "CRF bilateral weight",
          "Potts weight of the appearance kernel", 0.0f, 1000.0f,
          DEFAULT_PROP_CRF_BILATERAL_WEIGHT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-warm-start:
   *
   * Start each frame's mean-field from the previous frame's Q (and run
   * #GstDeeplabseg:crf-warm-iterations) instead of softmax of the unary:
   * Q_t^0 = Q_{t-1}, then Q_t^{k+1} = softmax (-U_t + messages (Q_t^k)).
   * Frame t's own unary enters every update in full, so the previous frame
   * only shapes the first messages: a fixed point of frame t-1 is close to
   * one of frame t, and a single update gets there. Reset (a cold frame)
   * on flush, seek, new segment or stream, caps change, a DISCONT buffer,
   * and a scene cut (mean absolute RGB change above 40 levels).
   */
  g_object_class_install_property (gobject_class, PROP_CRF_WARM_START,
      g_param_spec_boolean ("crf-warm-start", "CRF warm start",
          "Start the CRF from the previous frame's Q",
          DEFAULT_PROP_CRF_WARM_START,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-warm-iterations:
   *
   * Mean-field iterations of a warm-started frame; at least 1 (with none,
   * the previous frame's Q would be the map and never follow the video).
   */
  g_object_class_install_property (gobject_class, PROP_CRF_WARM_ITERATIONS,
      g_param_spec_int ("crf-warm-iterations", "CRF warm iterations",
          "Mean-field iterations of a warm-started CRF frame", 1, 100,
          DEFAULT_PROP_CRF_WARM_ITERATIONS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:interval:
   *
   * Run the network on one frame in N and reuse its class map for the
   * N - 1 frames after it (the overlay, meta, mask and messages of those
   * frames carry that map). Trades latency of the segmentation for CPU or
   * GPU time on fast streams. A flush, a new segment, a DISCONT buffer and
   * a caps change make the next frame run the network.
   */
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint ("interval", "Interval",
          "Run the network every N frames, reuse its map in between", 1,
          1000, DEFAULT_PROP_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-scale:
   *
   * Run the CRF on a grid of the frame's size times this (at least 1x1):
   * the unary and the colours are resampled to it, the position standard
   * deviations scaled with it, and Q is upsampled (bilinear) to the frame
   * before the argmax. The CRF's cost falls with the square of the scale.
   * The grid has at most 2^21 points (1920x1080 at scale 1): a larger
   * frame's grid takes the smaller scale that fits (the lattice needs
   * ~0.6 KB a point).
   */
  g_object_class_install_property (gobject_class, PROP_CRF_SCALE,
      g_param_spec_float ("crf-scale", "CRF scale",
          "CRF grid size relative to the frame (1 = frame size)", 0.05f,
          1.0f, DEFAULT_PROP_CRF_SCALE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:crf-min-class-probability:
   *
   * Class pruning of the CRF: each mean-field iteration, a class whose
   * probability Q stays below this everywhere on the grid gets no
   * pairwise messages (the filtering runs on the other classes only).
   * One iteration's Q moves by at most a factor e^B - 1 with
   * B = this * (crf-gaussian-weight + crf-bilateral-weight) (about;
   * gst/crf/crf.h has the exact bound). 0 keeps every class (exact).
   */
  g_object_class_install_property (gobject_class,
      PROP_CRF_MIN_CLASS_PROBABILITY,
      g_param_spec_float ("crf-min-class-probability",
          "CRF minimum class probability",
          "Classes whose Q stays below this get no CRF messages (0 = all)",
          0.0f, DLS_CRF_MAX_MIN_CLASS_PROBABILITY,
          DEFAULT_PROP_CRF_MIN_CLASS_PROBABILITY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstDeeplabseg:confidence:
   *
   * mode=meta: also attach a per-pixel confidence plane to the
   * #GstDeeplabsegMeta (its @confidence field, a GRAY8 buffer of the
   * frame's size with a #GstVideoMeta): round (255 * max_c p_c), p the
   * softmax of the upsampled logits at that pixel, or the CRF's final Q
   * with #GstDeeplabseg:crf; 1..255. It is the model's confidence in its
   * most likely class, unaffected by #GstDeeplabseg:classes. Other modes
   * ignore it.
   */
  g_object_class_install_property (gobject_class, PROP_CONFIDENCE,
      g_param_spec_boolean ("confidence", "Confidence",
          "mode=meta: attach a per-pixel confidence plane "
          "(255 * max class probability) to the meta",
          DEFAULT_PROP_CONFIDENCE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_set_static_metadata (element_class,
      "DeepLab semantic segmentation", "Filter/Effect/Video/Analyzer",
      "Segments video with a DeepLab network on OpenCL: overlay, meta or "
      "class-map output", "deeplabseg developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_deeplabseg_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_deeplabseg_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_deeplabseg_sink_event);
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_deeplabseg_transform_caps);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_deeplabseg_set_info);
  filter_class->transform_frame =
      GST_DEBUG_FUNCPTR (gst_deeplabseg_transform_frame);
  filter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_deeplabseg_transform_frame_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_DEEPLABSEG_MODE, 0);
}

static void
gst_deeplabseg_init (GstDeeplabseg * self)
{
  self->mode = DEFAULT_PROP_MODE;
  self->alpha = DEFAULT_PROP_ALPHA;
  self->device = g_strdup (DEFAULT_PROP_DEVICE);
  self->input_mean = DEFAULT_PROP_INPUT_MEAN;
  self->input_std = DEFAULT_PROP_INPUT_STD;
  self->crf = DEFAULT_PROP_CRF;
  dls_crf_params_init_default (&self->crf_params);
  self->background_color = DEFAULT_PROP_BACKGROUND_COLOR;
  self->background_blur = DEFAULT_PROP_BACKGROUND_BLUR;
  self->post_messages = DEFAULT_PROP_POST_MESSAGES;
  self->interval = DEFAULT_PROP_INTERVAL;
  self->confidence = DEFAULT_PROP_CONFIDENCE;
  dls_palette_init_voc (&self->palette);
  for (int c = 0; c < 256; c++)
    self->keep[c] = 1;
  self->keep_all = TRUE;
}

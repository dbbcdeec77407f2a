/* deeplabseg: the graph IR.
 *
 * A model reader (gst/model/) turns a file into a DlsGraph; a backend
 * (gst/backend/) consumes a finalized DlsGraph and nothing else.
 *
 * Conventions (the same for every reader and backend):
 * - Activations are 4-D float32 NHWC with N = 1: dims = {1, H, W, C}, dense,
 *   channels innermost. A backend may store them padded internally, but
 *   set_input()/get_output() speak dense NHWC.
 * - Constants keep the layout given below per op, dense, row-major.
 * - Every node writes exactly one output tensor; a tensor is produced by at
 *   most one node; nodes are stored in execution (topological) order.
 * - A fused activation is a clamp: out = min(max(x, act_min), act_max).
 *   None is {-INFINITY, INFINITY}, RELU {0, INFINITY}, RELU6 {0, 6}.
 *
 * Op semantics (inputs by position; "-1" = absent):
 * - CONV2D: in[0] activation {1,H,W,Ci}; in[1] weights OHWI {Co,KH,KW,Ci};
 *   in[2] bias {Co} or -1. out[y,x,o] = act(bias[o] + sum_{ky,kx,i}
 *   in[y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, i] * w[o,ky,kx,i]),
 *   taps outside the input read 0.
 * - DEPTHWISE_CONV2D: in[1] weights {1,KH,KW,Ci*M} (M = depth_multiplier);
 *   output channel o reads input channel o / M.
 * - ADD: in[0] + in[1], same shape, or in[1] broadcast as for MUL below;
 *   act fused.
 * - AVERAGE_POOL2D: window over in[0]; the mean is over the taps that fall
 *   inside the input (padding is not counted), as TFLite does.
 * - CONCAT: in[0..n-1] along axis (3 = channels; 1 and 2 also allowed);
 *   act fused (TFLite CONCATENATION has one).
 * - RESIZE_BILINEAR: in[0] to {1,out_h,out_w,C}. Source coordinate of
 *   output index d (per axis, in = input size, out = output size):
 *     ASYMMETRIC:    s = d * in / out
 *     ALIGN_CORNERS: s = d * (in - 1) / (out - 1)   (0 if out == 1)
 *     HALF_PIXEL:    s = (d + 0.5) * in / out - 0.5
 *   then s0 = max(floor(s), 0), s1 = min(ceil(s), in - 1) and
 *   out = lerp with weight (s - s0), exactly as TFLite's reference
 *   resize_bilinear (scales computed in float32).
 *
 * Ops added for ONNX models (MobileNetV3 blocks, torchvision heads); each
 * takes the fused clamp like the others:
 * - HARD_SIGMOID: out = max(0, min(1, alpha * x + beta)) (p.unary).
 * - HARD_SWISH: out = x * max(0, min(1, alpha * x + beta)), alpha = 1/6,
 *   beta = 0.5 by default (p.unary).
 * - SIGMOID: out = 1 / (1 + exp(-x)).
 * - MUL: in[0] * in[1]; in[1] is {1,H,W,C} with any of H, W, C equal to
 *   in[0]'s or 1, broadcast (a squeeze-excitation scale is {1,1,1,C}).
 * - RESIZE_BILINEAR with p.resize.has_scale: see DlsNode.
 * - SOFTMAX: over the channels of each pixel, exp(x - max) / sum.
 * - ARGMAX: {1,H,W,1}, the index (as a float) of the largest channel of
 *   each pixel; ties go to the lowest index, or the highest with
 *   p.argmax.select_last.
 * - TRANSPOSE: out axis k (1 = H, 2 = W, 3 = C) is in axis
 *   p.transpose.perm[k - 1]: out[i1,i2,i3] = in[j] with j[perm[k-1]] = ik.
 * - RESHAPE: the same elements in the same dense order, {1,H,W,C} =
 *   p.reshape.dims.
 * - RESIZE_NEAREST: p.resize as RESIZE_BILINEAR for the source coordinate
 *   s (scale from the sizes or given), then the pixel
 *   round(s) by p.resize.nearest (halves down, halves up, floor, ceil),
 *   clamped to [0, in - 1]; as ONNX Resize mode "nearest".
 * - MAX_POOL2D: max over the window's taps inside the input (padding never
 *   wins), window params as AVERAGE_POOL2D.
 */
#ifndef DLS_GRAPH_H
#define DLS_GRAPH_H

#include <glib.h>
#include <math.h>
#include "../common.h"

G_BEGIN_DECLS

#define DLS_MAX_DIMS 4
#define DLS_MAX_INPUTS 8

typedef enum
{
  DLS_OP_CONV2D,
  DLS_OP_DEPTHWISE_CONV2D,
  DLS_OP_ADD,
  DLS_OP_AVERAGE_POOL2D,
  DLS_OP_CONCAT,
  DLS_OP_RESIZE_BILINEAR,
  /* ONNX ops (see above) */
  DLS_OP_HARD_SIGMOID,
  DLS_OP_HARD_SWISH,
  DLS_OP_SIGMOID,
  DLS_OP_MUL,
  DLS_OP_MAX_POOL2D,
  DLS_OP_SOFTMAX,
  DLS_OP_RESIZE_NEAREST,
  DLS_OP_TRANSPOSE,
  DLS_OP_RESHAPE,
  DLS_OP_ARGMAX,
  DLS_OP_COUNT
} DlsOpType;

/* One row per DlsOpType; guarded by a static assert in graph.c. */
typedef struct
{
  const char *name;
  int min_inputs;
  int max_inputs;
  /* Inputs past min_inputs may be -1 (absent: a convolution's bias). Not
   * for variadic ops (CONCAT), whose every listed input is real. */
  gboolean absent_ok;
} DlsOpInfo;

const DlsOpInfo *dls_op_info (DlsOpType op);
const char *dls_op_name (DlsOpType op);

typedef enum
{
  DLS_DTYPE_FLOAT32,
  DLS_DTYPE_INT32,
} DlsDType;

typedef enum
{
  DLS_TENSOR_ACTIVATION,        /* a graph input or a node's output */
  DLS_TENSOR_CONSTANT,          /* weights, biases, shape vectors */
} DlsTensorKind;

typedef struct
{
  char *name;
  DlsTensorKind kind;
  DlsDType dtype;
  int n_dims;
  int dims[DLS_MAX_DIMS];
  gpointer data;                /* constants only; owned; n_bytes long */
  gsize n_bytes;
  int producer;                 /* node index, -1 for inputs and constants */
} DlsTensor;

typedef enum
{
  DLS_PADDING_EXPLICIT,         /* pad_* as given */
  DLS_PADDING_SAME,             /* pad_* computed by dls_graph_finalize() */
  DLS_PADDING_VALID,            /* pad_* = 0 */
} DlsPadding;

/* RESIZE_NEAREST's rounding of the source coordinate (ONNX nearest_mode). */
typedef enum
{
  DLS_NEAREST_ROUND_PREFER_FLOOR,
  DLS_NEAREST_ROUND_PREFER_CEIL,
  DLS_NEAREST_FLOOR,
  DLS_NEAREST_CEIL,
} DlsNearestMode;

typedef enum
{
  DLS_RESIZE_ASYMMETRIC,
  DLS_RESIZE_ALIGN_CORNERS,
  DLS_RESIZE_HALF_PIXEL,
} DlsResizeCoord;

/* CONV2D, DEPTHWISE_CONV2D, AVERAGE_POOL2D, MAX_POOL2D. For convolutions
 * kernel_h/w are filled from the weights by dls_graph_finalize(); for
 * pooling they are the filter size. */
typedef struct
{
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int dilation_h, dilation_w;
  DlsPadding padding;
  int pad_top, pad_left, pad_bottom, pad_right;
  int depth_multiplier;         /* DEPTHWISE_CONV2D only */
} DlsWindowParams;

typedef struct
{
  DlsOpType op;
  int n_inputs;
  int inputs[DLS_MAX_INPUTS];
  int output;
  float act_min, act_max;
  union
  {
    DlsWindowParams win;
    struct
    {
      int axis;
    } concat;
    struct
    {
      int out_h, out_w;
      DlsResizeCoord coord;
      /* ONNX Resize with scales: the source step per output pixel is
       * given (1 / scale; for align_corners (in - 1) / (in * scale - 1))
       * instead of derived from the sizes; "scale" in the formulas above
       * is then scale_h / scale_w. */
      gboolean has_scale;
      float scale_h, scale_w;
      DlsNearestMode nearest;   /* RESIZE_NEAREST */
    } resize;
    struct
    {
      float alpha, beta;
    } unary;                    /* HARD_SIGMOID, HARD_SWISH */
    struct
    {
      int perm[3];
    } transpose;
    struct
    {
      int dims[3];
    } reshape;
    struct
    {
      gboolean select_last;
    } argmax;
  } p;
} DlsNode;

typedef struct
{
  GPtrArray *tensors;           /* DlsTensor*, index = tensor id */
  GArray *nodes;                /* DlsNode, execution order */
  GArray *inputs;               /* int tensor ids */
  GArray *outputs;              /* int tensor ids */
  gboolean finalized;
} DlsGraph;

DlsGraph *dls_graph_new (void);
void dls_graph_free (DlsGraph * g);

/* Adds a tensor; takes ownership of @data (g_free'd). For activations
 * @dims may be given (checked by finalize) or n_dims = 0 (inferred).
 * Returns the tensor id. */
int dls_graph_add_tensor (DlsGraph * g, const char *name, DlsTensorKind kind,
    DlsDType dtype, int n_dims, const int *dims, gpointer data, gsize n_bytes);

/* Copies @node; returns its index (producers are set by finalize). */
int dls_graph_add_node (DlsGraph * g, const DlsNode * node);
void dls_graph_add_input (DlsGraph * g, int tensor_id);
void dls_graph_add_output (DlsGraph * g, int tensor_id);

/* Fills a node with neutral defaults: no activation, stride/dilation 1,
 * depth multiplier 1, VALID padding, channel axis, asymmetric resize. */
void dls_node_init (DlsNode * node, DlsOpType op);

/* Validates every index, arity, data type and constant size; checks the
 * nodes are in topological order; infers activation shapes (and checks
 * them against shapes declared by the file); resolves SAME/VALID padding
 * into pad_*; fills conv kernel sizes from the weights. After success the
 * graph is immutable. Errors: DLS_ERROR_INVALID_GRAPH. */
gboolean dls_graph_finalize (DlsGraph * g, GError ** error);

/* For readers that need shapes while they build (the ONNX reader folds
 * shape sub-graphs): checks node @i's arity and input indices, requires
 * every input to be a constant or an activation with a shape, infers the
 * output shape and stores it in the output tensor (finalize checks it
 * again). Errors: DLS_ERROR_INVALID_GRAPH. */
gboolean dls_graph_infer_node (DlsGraph * g, int i, GError ** error);

static inline DlsTensor *
dls_graph_tensor (const DlsGraph * g, int id)
{
  return (DlsTensor *) g_ptr_array_index (g->tensors, id);
}

static inline DlsNode *
dls_graph_node (const DlsGraph * g, int i)
{
  return &g_array_index (g->nodes, DlsNode, i);
}

static inline int
dls_graph_n_nodes (const DlsGraph * g)
{
  return (int) g->nodes->len;
}

static inline int
dls_graph_input (const DlsGraph * g, int i)
{
  return g_array_index (g->inputs, int, i);
}

static inline int
dls_graph_output (const DlsGraph * g, int i)
{
  return g_array_index (g->outputs, int, i);
}

/* Number of elements of a tensor (product of dims). */
gsize dls_tensor_n_elements (const DlsTensor * t);

/* Multiply-accumulates of one run (convolutions only), for GFLOP/s. */
guint64 dls_graph_macs (const DlsGraph * g);

/* The source step ("scale" in the RESIZE_BILINEAR formulas above) of a
 * RESIZE_* node along H (@vertical) or W, from input size @in to output
 * size @out: p.resize.scale_h / scale_w when given, (in - 1) / (out - 1)
 * for ALIGN_CORNERS with out > 1, else in / out; in float32 as TFLite.
 * The one place every backend takes it from. */
float dls_resize_step (const DlsNode * n, int in, int out, gboolean vertical);

/* TFLite's ComputeInterpolationValues in float for output coordinate @d of
 * a RESIZE_BILINEAR with step @scale (dls_resize_step()) from @in_size
 * input pixels: the source coordinate *@s (d * scale, or (d + 0.5) *
 * scale - 0.5 with @half_pixel) and its neighbours *@s0 = max (floor (s),
 * 0), *@s1 = min (ceil (s), in_size - 1). The one place every backend
 * takes them from (the OpenCL backend tables them at prepare). */
void dls_resize_coord (int d, float scale, gboolean half_pixel, int in_size,
    float *s, int *s0, int *s1);

G_END_DECLS

#endif /* DLS_GRAPH_H */

/* deeplabseg: the graph IR -- construction, validation, shape inference.
 *
 * Readers build a graph with dls_graph_add_*() from untrusted files, so
 * dls_graph_finalize() trusts nothing: every index, arity, data type and
 * constant size is checked before a backend sees the graph.
 */
#include "graph.h"

#include <math.h>
#include <string.h>

static const DlsOpInfo op_table[] = {
  [DLS_OP_CONV2D] = {"CONV2D", 2, 3, TRUE},
  [DLS_OP_DEPTHWISE_CONV2D] = {"DEPTHWISE_CONV2D", 2, 3, TRUE},
  [DLS_OP_ADD] = {"ADD", 2, 2},
  [DLS_OP_AVERAGE_POOL2D] = {"AVERAGE_POOL2D", 1, 1},
  [DLS_OP_CONCAT] = {"CONCAT", 1, DLS_MAX_INPUTS},
  [DLS_OP_RESIZE_BILINEAR] = {"RESIZE_BILINEAR", 1, 1},
  [DLS_OP_HARD_SIGMOID] = {"HARD_SIGMOID", 1, 1},
  [DLS_OP_HARD_SWISH] = {"HARD_SWISH", 1, 1},
  [DLS_OP_SIGMOID] = {"SIGMOID", 1, 1},
  [DLS_OP_MUL] = {"MUL", 2, 2},
  [DLS_OP_MAX_POOL2D] = {"MAX_POOL2D", 1, 1},
  [DLS_OP_SOFTMAX] = {"SOFTMAX", 1, 1},
  [DLS_OP_RESIZE_NEAREST] = {"RESIZE_NEAREST", 1, 1},
  [DLS_OP_TRANSPOSE] = {"TRANSPOSE", 1, 1},
  [DLS_OP_RESHAPE] = {"RESHAPE", 1, 1},
  [DLS_OP_ARGMAX] = {"ARGMAX", 1, 1},
};

G_STATIC_ASSERT (G_N_ELEMENTS (op_table) == DLS_OP_COUNT);

/* Guards against absurd sizes from hostile files: no tensor dimension
 * beyond this, no activation beyond 2^31 bytes. */
#define DLS_MAX_DIM (1 << 16)

/* Input @k of an op is @t == -1, absent, and allowed to be. */
static gboolean
input_absent (const DlsOpInfo * info, int k, int t)
{
  return t == -1 && info->absent_ok && k >= info->min_inputs;
}

const DlsOpInfo *
dls_op_info (DlsOpType op)
{
  if ((unsigned) op >= DLS_OP_COUNT)
    return NULL;
  return &op_table[op];
}

const char *
dls_op_name (DlsOpType op)
{
  const DlsOpInfo *info = dls_op_info (op);
  return info ? info->name : "UNKNOWN";
}

static void
tensor_free (gpointer p)
{
  DlsTensor *t = p;
  g_free (t->name);
  g_free (t->data);
  g_free (t);
}

DlsGraph *
dls_graph_new (void)
{
  DlsGraph *g = g_new0 (DlsGraph, 1);
  g->tensors = g_ptr_array_new_with_free_func (tensor_free);
  g->nodes = g_array_new (FALSE, TRUE, sizeof (DlsNode));
  g->inputs = g_array_new (FALSE, FALSE, sizeof (int));
  g->outputs = g_array_new (FALSE, FALSE, sizeof (int));
  return g;
}

void
dls_graph_free (DlsGraph * g)
{
  if (!g)
    return;
  g_ptr_array_unref (g->tensors);
  g_array_unref (g->nodes);
  g_array_unref (g->inputs);
  g_array_unref (g->outputs);
  g_free (g);
}

int
dls_graph_add_tensor (DlsGraph * g, const char *name, DlsTensorKind kind,
    DlsDType dtype, int n_dims, const int *dims, gpointer data, gsize n_bytes)
{
  DlsTensor *t = g_new0 (DlsTensor, 1);
  t->name = g_strdup (name ? name : "");
  t->kind = kind;
  t->dtype = dtype;
  t->n_dims = CLAMP (n_dims, 0, DLS_MAX_DIMS);
  for (int i = 0; i < t->n_dims; i++)
    t->dims[i] = dims[i];
  t->data = data;
  t->n_bytes = n_bytes;
  t->producer = -1;
  g_ptr_array_add (g->tensors, t);
  return (int) g->tensors->len - 1;
}

void
dls_node_init (DlsNode * node, DlsOpType op)
{
  memset (node, 0, sizeof (*node));
  node->op = op;
  node->output = -1;
  node->act_min = -INFINITY;
  node->act_max = INFINITY;
  node->p.win.stride_h = node->p.win.stride_w = 1;
  node->p.win.dilation_h = node->p.win.dilation_w = 1;
  node->p.win.depth_multiplier = 1;
  node->p.win.padding = DLS_PADDING_VALID;
  /* The parameters share a union: set the neutral value of the op's own. */
  if (op == DLS_OP_CONCAT)
    node->p.concat.axis = 3;
  if (op == DLS_OP_RESIZE_BILINEAR || op == DLS_OP_RESIZE_NEAREST) {
    node->p.resize.coord = DLS_RESIZE_ASYMMETRIC;
    node->p.resize.has_scale = FALSE;
    node->p.resize.scale_h = node->p.resize.scale_w = 0.0f;
    node->p.resize.nearest = DLS_NEAREST_ROUND_PREFER_FLOOR;
  }
  if (op == DLS_OP_HARD_SIGMOID) {
    node->p.unary.alpha = 0.2f;
    node->p.unary.beta = 0.5f;
  }
  if (op == DLS_OP_ARGMAX)
    node->p.argmax.select_last = FALSE;
  if (op == DLS_OP_HARD_SWISH) {
    node->p.unary.alpha = 1.0f / 6.0f;
    node->p.unary.beta = 0.5f;
  }
}

int
dls_graph_add_node (DlsGraph * g, const DlsNode * node)
{
  g_array_append_val (g->nodes, *node);
  return (int) g->nodes->len - 1;
}

void
dls_graph_add_input (DlsGraph * g, int tensor_id)
{
  g_array_append_val (g->inputs, tensor_id);
}

void
dls_graph_add_output (DlsGraph * g, int tensor_id)
{
  g_array_append_val (g->outputs, tensor_id);
}

gsize
dls_tensor_n_elements (const DlsTensor * t)
{
  gsize n = 1;
  for (int i = 0; i < t->n_dims; i++)
    n *= (gsize) t->dims[i];
  return n;
}

static gboolean
fail (GError ** error, const DlsGraph * g, int node, const char *fmt, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError ** error, const DlsGraph * g, int node, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (node >= 0)
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_GRAPH,
        "invalid graph: node %d (%s): %s", node,
        dls_op_name (dls_graph_node (g, node)->op), msg);
  else
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_GRAPH,
        "invalid graph: %s", msg);
  g_free (msg);
  return FALSE;
}

/* Output size and leading padding of one axis of a window op, TFLite's
 * rules: SAME gives ceil(in / stride) and splits the total padding with
 * the odd pixel at the end. */
static gboolean
window_axis (DlsPadding padding, int in, int k, int stride, int dilation,
    int *pad_before, int *pad_after, int *out)
{
  int eff = (k - 1) * dilation + 1;

  switch (padding) {
    case DLS_PADDING_SAME:{
      int o = (in + stride - 1) / stride;
      int total = MAX ((o - 1) * stride + eff - in, 0);
      *pad_before = total / 2;
      *pad_after = total - total / 2;
      *out = o;
      return TRUE;
    }
    case DLS_PADDING_VALID:
      *pad_before = *pad_after = 0;
      *out = in >= eff ? (in - eff) / stride + 1 : 0;
      return *out > 0;
    case DLS_PADDING_EXPLICIT:
      if (*pad_before < 0 || *pad_after < 0 || *pad_before > DLS_MAX_DIM
          || *pad_after > DLS_MAX_DIM)
        return FALSE;
      in += *pad_before + *pad_after;
      *out = in >= eff ? (in - eff) / stride + 1 : 0;
      return *out > 0;
  }
  return FALSE;
}

static gboolean
is_activation_4d (const DlsTensor * t)
{
  return t->kind == DLS_TENSOR_ACTIVATION && t->dtype == DLS_DTYPE_FLOAT32
      && t->n_dims == 4 && t->dims[0] == 1;
}

static gboolean
check_dims (const int *dims, int n)
{
  for (int i = 0; i < n; i++)
    if (dims[i] <= 0 || dims[i] > DLS_MAX_DIM)
      return FALSE;
  return TRUE;
}

/* Infers node @i's output shape into @out (4 dims). */
static gboolean
infer_node (DlsGraph * g, int i, int *out, GError ** error)
{
  DlsNode *n = dls_graph_node (g, i);
  const DlsTensor *in = dls_graph_tensor (g, n->inputs[0]);

  if (!is_activation_4d (in))
    return fail (error, g, i, "input '%s' is not a 1xHxWxC float tensor",
        in->name);

  switch (n->op) {
    case DLS_OP_CONV2D:
    case DLS_OP_DEPTHWISE_CONV2D:{
      DlsWindowParams *w = &n->p.win;
      const DlsTensor *wt = dls_graph_tensor (g, n->inputs[1]);
      gboolean dw = n->op == DLS_OP_DEPTHWISE_CONV2D;
      int co;

      if (wt->kind != DLS_TENSOR_CONSTANT || wt->dtype != DLS_DTYPE_FLOAT32
          || wt->n_dims != 4 || !check_dims (wt->dims, 4))
        return fail (error, g, i, "weights '%s' must be a 4-D float constant",
            wt->name);
      if (w->stride_h < 1 || w->stride_w < 1 || w->dilation_h < 1
          || w->dilation_w < 1 || w->stride_h > 64 || w->stride_w > 64
          || w->dilation_h > 1024 || w->dilation_w > 1024)
        return fail (error, g, i, "stride or dilation out of range");
      w->kernel_h = wt->dims[1];
      w->kernel_w = wt->dims[2];
      if (dw) {
        if (w->depth_multiplier < 1 || wt->dims[0] != 1
            || wt->dims[3] != (gint64) in->dims[3] * w->depth_multiplier)
          return fail (error, g, i, "depthwise weights %dx%dx%dx%d do not "
              "match %d input channels x multiplier %d", wt->dims[0],
              wt->dims[1], wt->dims[2], wt->dims[3], in->dims[3],
              w->depth_multiplier);
        co = wt->dims[3];
      } else {
        if (wt->dims[3] != in->dims[3])
          return fail (error, g, i, "weights have %d input channels, input "
              "'%s' has %d", wt->dims[3], in->name, in->dims[3]);
        co = wt->dims[0];
      }
      if (n->n_inputs > 2 && n->inputs[2] >= 0) {
        const DlsTensor *b = dls_graph_tensor (g, n->inputs[2]);
        if (b->kind != DLS_TENSOR_CONSTANT || b->dtype != DLS_DTYPE_FLOAT32
            || dls_tensor_n_elements (b) != (gsize) co)
          return fail (error, g, i, "bias '%s' must be %d floats", b->name, co);
      }
      if (!window_axis (w->padding, in->dims[1], w->kernel_h, w->stride_h,
              w->dilation_h, &w->pad_top, &w->pad_bottom, &out[1])
          || !window_axis (w->padding, in->dims[2], w->kernel_w, w->stride_w,
              w->dilation_w, &w->pad_left, &w->pad_right, &out[2]))
        return fail (error, g, i, "window does not fit the input");
      out[3] = co;
      break;
    }
    case DLS_OP_AVERAGE_POOL2D:
    case DLS_OP_MAX_POOL2D:{
      DlsWindowParams *w = &n->p.win;
      if (w->kernel_h < 1 || w->kernel_w < 1 || w->kernel_h > DLS_MAX_DIM
          || w->kernel_w > DLS_MAX_DIM || w->stride_h < 1 || w->stride_w < 1
          || w->stride_h > DLS_MAX_DIM || w->stride_w > DLS_MAX_DIM)
        return fail (error, g, i, "bad filter or stride");
      w->dilation_h = w->dilation_w = 1;
      if (!window_axis (w->padding, in->dims[1], w->kernel_h, w->stride_h, 1,
              &w->pad_top, &w->pad_bottom, &out[1])
          || !window_axis (w->padding, in->dims[2], w->kernel_w, w->stride_w,
              1, &w->pad_left, &w->pad_right, &out[2]))
        return fail (error, g, i, "window does not fit the input");
      out[3] = in->dims[3];
      break;
    }
    case DLS_OP_ADD:
    case DLS_OP_MUL:{
      /* in[1] may be broadcast: each of its H, W, C is in[0]'s or 1. */
      const DlsTensor *b = dls_graph_tensor (g, n->inputs[1]);
      if (!is_activation_4d (b))
        return fail (error, g, i, "operand '%s' is not an activation",
            b->name);
      for (int d = 1; d < 4; d++)
        if (b->dims[d] != in->dims[d] && b->dims[d] != 1)
          return fail (error, g, i, "operand '%s' (%dx%dx%d) does not "
              "broadcast to '%s' (%dx%dx%d)", b->name, b->dims[1],
              b->dims[2], b->dims[3], in->name, in->dims[1], in->dims[2],
              in->dims[3]);
      memcpy (out, in->dims, sizeof (int) * 4);
      break;
    }
    case DLS_OP_CONCAT:{
      int axis = n->p.concat.axis;
      if (axis < 1 || axis > 3)
        return fail (error, g, i, "concat axis %d not supported", axis);
      memcpy (out, in->dims, sizeof (int) * 4);
      out[axis] = 0;
      for (int k = 0; k < n->n_inputs; k++) {
        const DlsTensor *t = dls_graph_tensor (g, n->inputs[k]);
        if (!is_activation_4d (t))
          return fail (error, g, i, "input %d is not an activation", k);
        for (int d = 1; d < 4; d++)
          if (d != axis && t->dims[d] != in->dims[d])
            return fail (error, g, i, "input %d shape does not match", k);
        out[axis] += t->dims[axis];
      }
      break;
    }
    case DLS_OP_HARD_SIGMOID:
    case DLS_OP_HARD_SWISH:
      if (!isfinite (n->p.unary.alpha) || !isfinite (n->p.unary.beta))
        return fail (error, g, i, "alpha and beta must be finite");
      memcpy (out, in->dims, sizeof (int) * 4);
      break;
    case DLS_OP_SIGMOID:
    case DLS_OP_SOFTMAX:
      memcpy (out, in->dims, sizeof (int) * 4);
      break;
    case DLS_OP_ARGMAX:
      memcpy (out, in->dims, sizeof (int) * 4);
      out[3] = 1;
      break;
    case DLS_OP_TRANSPOSE:{
      const int *pm = n->p.transpose.perm;
      if (pm[0] < 1 || pm[0] > 3 || pm[1] < 1 || pm[1] > 3 || pm[2] < 1
          || pm[2] > 3 || pm[0] == pm[1] || pm[0] == pm[2] || pm[1] == pm[2])
        return fail (error, g, i, "perm is not a permutation of 1, 2, 3");
      for (int k = 0; k < 3; k++)
        out[k + 1] = in->dims[pm[k]];
      break;
    }
    case DLS_OP_RESHAPE:{
      const int *d = n->p.reshape.dims;
      if (!check_dims (d, 3) || (guint64) d[0] * d[1] * d[2]
          != (guint64) in->dims[1] * in->dims[2] * in->dims[3])
        return fail (error, g, i, "reshape to %dx%dx%d changes the element "
            "count", d[0], d[1], d[2]);
      memcpy (out + 1, d, sizeof (int) * 3);
      break;
    }
    case DLS_OP_RESIZE_BILINEAR:
    case DLS_OP_RESIZE_NEAREST:
      if (n->op == DLS_OP_RESIZE_NEAREST
          && (unsigned) n->p.resize.nearest > DLS_NEAREST_CEIL)
        return fail (error, g, i, "unknown nearest mode");
      if (n->p.resize.has_scale && !(n->p.resize.scale_h >= 0.0f
              && n->p.resize.scale_h <= DLS_MAX_DIM
              && n->p.resize.scale_w >= 0.0f
              && n->p.resize.scale_w <= DLS_MAX_DIM))
        return fail (error, g, i, "resize scale out of range");
      if (n->p.resize.coord > DLS_RESIZE_HALF_PIXEL)
        return fail (error, g, i, "unknown coordinate mode");
      out[1] = n->p.resize.out_h;
      out[2] = n->p.resize.out_w;
      out[3] = in->dims[3];
      break;
    default:
      return fail (error, g, i, "unknown op %d", n->op);
  }
  out[0] = 1;
  if (!check_dims (out, 4)
      || (guint64) out[1] * out[2] * out[3] > G_MAXINT32 / 4)
    return fail (error, g, i, "output shape %dx%dx%d out of range", out[1],
        out[2], out[3]);
  return TRUE;
}

static gboolean
check_tensor (DlsGraph * g, int id, GError ** error)
{
  const DlsTensor *t = dls_graph_tensor (g, id);
  gsize esize = 4;              /* float32 and int32 */

  if (t->n_dims < 0 || t->n_dims > DLS_MAX_DIMS)
    return fail (error, g, -1, "tensor %d has %d dims", id, t->n_dims);
  if (t->kind == DLS_TENSOR_CONSTANT) {
    if (!check_dims (t->dims, t->n_dims))
      return fail (error, g, -1, "constant '%s' has a bad shape", t->name);
    if (!t->data || t->n_bytes != dls_tensor_n_elements (t) * esize)
      return fail (error, g, -1, "constant '%s' holds %" G_GSIZE_FORMAT
          " bytes, its shape needs %" G_GSIZE_FORMAT, t->name, t->n_bytes,
          dls_tensor_n_elements (t) * esize);
  }
  return TRUE;
}

gboolean
dls_graph_finalize (DlsGraph * g, GError ** error)
{
  int n_tensors = (int) g->tensors->len;
  gboolean *ready;
  gboolean ok = FALSE;

  if (g->finalized)
    return TRUE;
  if (g->inputs->len == 0 || g->outputs->len == 0 || g->nodes->len == 0)
    return fail (error, g, -1, "the graph has no input, output or node");

  ready = g_new0 (gboolean, n_tensors);
  for (int t = 0; t < n_tensors; t++) {
    DlsTensor *tensor = dls_graph_tensor (g, t);
    if (!check_tensor (g, t, error))
      goto out;
    tensor->producer = -1;
    if (tensor->kind == DLS_TENSOR_CONSTANT)
      ready[t] = TRUE;
  }
  for (guint k = 0; k < g->inputs->len; k++) {
    int t = dls_graph_input (g, k);
    if (t < 0 || t >= n_tensors) {
      fail (error, g, -1, "graph input %d out of range", t);
      goto out;
    }
    if (!is_activation_4d (dls_graph_tensor (g, t))
        || !check_dims (dls_graph_tensor (g, t)->dims, 4)) {
      fail (error, g, -1, "graph input '%s' must be 1xHxWxC float",
          dls_graph_tensor (g, t)->name);
      goto out;
    }
    ready[t] = TRUE;
  }

  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    DlsNode *n = dls_graph_node (g, i);
    const DlsOpInfo *info = dls_op_info (n->op);
    DlsTensor *o;
    int shape[4];

    if (!info) {
      fail (error, g, i, "unknown op %d", n->op);
      goto out;
    }
    if (n->n_inputs < info->min_inputs || n->n_inputs > info->max_inputs) {
      fail (error, g, i, "%d inputs, expected %d..%d", n->n_inputs,
          info->min_inputs, info->max_inputs);
      goto out;
    }
    for (int k = 0; k < n->n_inputs; k++) {
      int t = n->inputs[k];
      if (input_absent (info, k, t))
        continue;
      if (t < 0 || t >= n_tensors) {
        fail (error, g, i, "input %d refers to tensor %d of %d", k, t,
            n_tensors);
        goto out;
      }
      if (!ready[t]) {
        fail (error, g, i, "input '%s' is used before it is produced",
            dls_graph_tensor (g, t)->name);
        goto out;
      }
    }
    if (n->output < 0 || n->output >= n_tensors) {
      fail (error, g, i, "output refers to tensor %d of %d", n->output,
          n_tensors);
      goto out;
    }
    o = dls_graph_tensor (g, n->output);
    if (o->kind != DLS_TENSOR_ACTIVATION || ready[n->output]) {
      fail (error, g, i, "output '%s' is a constant, an input or produced "
          "twice", o->name);
      goto out;
    }
    if (!(n->act_min <= n->act_max)) {
      fail (error, g, i, "activation range is empty");
      goto out;
    }
    if (!infer_node (g, i, shape, error))
      goto out;
    if (o->n_dims != 0 && (o->n_dims != 4 || memcmp (o->dims, shape,
                sizeof (shape)) != 0)) {
      fail (error, g, i, "output '%s' declared %dx%dx%dx%d, computed "
          "%dx%dx%dx%d", o->name, o->dims[0], o->dims[1], o->dims[2],
          o->dims[3], shape[0], shape[1], shape[2], shape[3]);
      goto out;
    }
    o->n_dims = 4;
    o->dtype = DLS_DTYPE_FLOAT32;
    memcpy (o->dims, shape, sizeof (shape));
    o->producer = i;
    ready[n->output] = TRUE;
  }

  for (guint k = 0; k < g->outputs->len; k++) {
    int t = dls_graph_output (g, k);
    if (t < 0 || t >= n_tensors || !ready[t]
        || dls_graph_tensor (g, t)->kind != DLS_TENSOR_ACTIVATION) {
      fail (error, g, -1, "graph output %d is not produced by any node", t);
      goto out;
    }
  }
  g->finalized = TRUE;
  ok = TRUE;
out:
  g_free (ready);
  return ok;
}

gboolean
dls_graph_infer_node (DlsGraph * g, int i, GError ** error)
{
  int n_tensors = (int) g->tensors->len;
  const DlsOpInfo *info;
  DlsNode *n;
  DlsTensor *o;
  int shape[4];

  if (i < 0 || i >= dls_graph_n_nodes (g))
    return fail (error, g, -1, "node %d out of range", i);
  n = dls_graph_node (g, i);
  info = dls_op_info (n->op);
  if (!info)
    return fail (error, g, i, "unknown op %d", n->op);
  if (n->n_inputs < info->min_inputs || n->n_inputs > info->max_inputs)
    return fail (error, g, i, "%d inputs, expected %d..%d", n->n_inputs,
        info->min_inputs, info->max_inputs);
  for (int k = 0; k < n->n_inputs; k++) {
    int t = n->inputs[k];
    if (input_absent (info, k, t))
      continue;
    if (t < 0 || t >= n_tensors)
      return fail (error, g, i, "input %d refers to tensor %d of %d", k, t,
          n_tensors);
    if (!check_tensor (g, t, error))
      return FALSE;
    if (dls_graph_tensor (g, t)->kind == DLS_TENSOR_ACTIVATION
        && dls_graph_tensor (g, t)->n_dims != 4)
      return fail (error, g, i, "input '%s' has no shape yet",
          dls_graph_tensor (g, t)->name);
  }
  if (n->output < 0 || n->output >= n_tensors
      || dls_graph_tensor (g, n->output)->kind != DLS_TENSOR_ACTIVATION)
    return fail (error, g, i, "output refers to tensor %d of %d", n->output,
        n_tensors);
  if (!infer_node (g, i, shape, error))
    return FALSE;
  o = dls_graph_tensor (g, n->output);
  o->n_dims = 4;
  o->dtype = DLS_DTYPE_FLOAT32;
  memcpy (o->dims, shape, sizeof (shape));
  return TRUE;
}

guint64
dls_graph_macs (const DlsGraph * g)
{
  guint64 macs = 0;

  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    const DlsNode *n = dls_graph_node (g, i);
    const DlsTensor *o = dls_graph_tensor (g, n->output);
    guint64 pixels = (guint64) o->dims[1] * o->dims[2];

    if (n->op == DLS_OP_CONV2D) {
      const DlsTensor *w = dls_graph_tensor (g, n->inputs[1]);
      macs += pixels * dls_tensor_n_elements (w);
    } else if (n->op == DLS_OP_DEPTHWISE_CONV2D) {
      macs += pixels * o->dims[3] * n->p.win.kernel_h * n->p.win.kernel_w;
    }
  }
  return macs;
}

float
dls_resize_step (const DlsNode * n, int in, int out, gboolean vertical)
{
  if (n->p.resize.has_scale)
    return vertical ? n->p.resize.scale_h : n->p.resize.scale_w;
  if (n->p.resize.coord == DLS_RESIZE_ALIGN_CORNERS && out > 1)
    return (float) (in - 1) / (float) (out - 1);
  /* ALIGN_CORNERS with out == 1 keeps in / out, as TFLite does: s = 0 for
   * d = 0 either way. */
  return (float) in / (float) out;
}

void
dls_resize_coord (int d, float scale, gboolean half_pixel, int in_size,
    float *s, int *s0, int *s1)
{
  float v = (float) d;
  int c;

  if (half_pixel)
    *s = (v + 0.5f) * scale - 0.5f;
  else
    *s = v * scale;
  *s0 = MAX ((int) floorf (*s), 0);
  c = (int) ceilf (*s);
  *s1 = MIN (c, in_size - 1);
}

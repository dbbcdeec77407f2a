/* deeplabseg: the C reference backend ("ref"), the oracle every faster path
 * is tested against.
 *
 * It owns: dls_ref_run_node(), one straightforward loop nest per op of
 * graph/graph.h, and a DlsBackendVTable around it that keeps one dense NHWC
 * host buffer per activation tensor (no memory planning: an oracle should
 * be obviously right, not small).
 *
 * Layouts (graph/graph.h): activations {1,H,W,C} float32 NHWC, channels
 * innermost; CONV2D weights OHWI {Co,KH,KW,Ci}; DEPTHWISE_CONV2D weights
 * {1,KH,KW,Ci*M} with output channel o reading input channel o / M; biases
 * {Co}. Index of (y, x, c) in an {1,H,W,C} tensor: (y * W + x) * C + c.
 *
 * Precision. Convolution and pooling sums accumulate in double: each
 * float * float product is exact in double and the sum of up to a few
 * thousand of them loses nothing visible, so the result is the exact sum
 * rounded once to float. A float kernel (OpenCL, XNNPACK inside LiteRT) sums
 * in its own order, and no order is "the" float answer; against an exact
 * reference, a comparison measures only the fast path's own rounding
 * error (about sqrt(K) * 2^-24 * sum |x*w| for K taps), so one tolerance
 * serves every summation order. ADD and RESIZE_BILINEAR are computed in
 * float, the way TFLite writes them, since there the float result is
 * well defined and matching it exactly is the point. No FMA contraction
 * happens here: the build targets generic x86-64 (no -mfma).
 */
#include <string.h>

#include "backend.h"

/* ------------------------------------------------------------------ */
/* Shapes                                                              */

/* The H, W, C of an activation tensor ({1,H,W,C}; fewer dims are read as
 * leading ones, so {C} is 1x1xC). */
static void
tensor_hwc (const DlsTensor * t, int *h, int *w, int *c)
{
  int d[4] = { 1, 1, 1, 1 };
  int i;

  for (i = 0; i < t->n_dims && i < 4; i++)
    d[4 - t->n_dims + i] = t->dims[i];
  *h = d[1];
  *w = d[2];
  *c = d[3];
}

static inline float
clamp_act (float v, float lo, float hi)
{
  /* Comparisons, not fmaxf()/fminf(): a NaN must reach the output and
   * fail the comparison instead of being replaced by a bound. */
  if (v < lo)
    v = lo;
  if (v > hi)
    v = hi;
  return v;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */

/* out[y,x,o] = act(bias[o] + sum_{ky,kx,i} in[y*sh - pt + ky*dh,
 *                                              x*sw - pl + kx*dw, i]
 *                                        * w[o,ky,kx,i]), zero outside. */
static void
ref_conv2d (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  const DlsWindowParams *p = &node->p.win;
  const DlsTensor *tw = dls_graph_tensor (g, node->inputs[1]);
  const float *x = in[0], *w = in[1];
  const float *bias = node->n_inputs > 2 ? in[2] : NULL;
  int ih, iw, ic, oh, ow, oc, kh, kw;
  int oy, ox, o, ky, kx, i;

  tensor_hwc (dls_graph_tensor (g, node->inputs[0]), &ih, &iw, &ic);
  tensor_hwc (dls_graph_tensor (g, node->output), &oh, &ow, &oc);
  kh = tw->dims[1];
  kw = tw->dims[2];

  for (oy = 0; oy < oh; oy++) {
    for (ox = 0; ox < ow; ox++) {
      for (o = 0; o < oc; o++) {
        double acc = bias ? bias[o] : 0.0;

        for (ky = 0; ky < kh; ky++) {
          int iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;

          if (iy < 0 || iy >= ih)
            continue;
          for (kx = 0; kx < kw; kx++) {
            int ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
            const float *xp, *wp;

            if (ix < 0 || ix >= iw)
              continue;
            xp = x + ((gsize) iy * iw + ix) * ic;
            wp = w + (((gsize) o * kh + ky) * kw + kx) * ic;
            for (i = 0; i < ic; i++)
              acc += (double) xp[i] * (double) wp[i];
          }
        }
        out[((gsize) oy * ow + ox) * oc + o] =
            clamp_act ((float) acc, node->act_min, node->act_max);
      }
    }
  }
}

/* out[y,x,o] = act(bias[o] + sum_{ky,kx} in[y*sh - pt + ky*dh,
 *                                            x*sw - pl + kx*dw, o / M]
 *                                      * w[0,ky,kx,o]), zero outside. */
static void
ref_depthwise_conv2d (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  const DlsWindowParams *p = &node->p.win;
  const DlsTensor *tw = dls_graph_tensor (g, node->inputs[1]);
  const float *x = in[0], *w = in[1];
  const float *bias = node->n_inputs > 2 ? in[2] : NULL;
  int ih, iw, ic, oh, ow, oc, kh, kw, m;
  int oy, ox, o, ky, kx;

  tensor_hwc (dls_graph_tensor (g, node->inputs[0]), &ih, &iw, &ic);
  tensor_hwc (dls_graph_tensor (g, node->output), &oh, &ow, &oc);
  kh = tw->dims[1];
  kw = tw->dims[2];
  /* oc = ic * M is checked by finalize; derive M from it rather than
   * trusting a zero depth_multiplier. */
  m = ic > 0 ? oc / ic : 1;
  if (m < 1)
    m = 1;

  for (oy = 0; oy < oh; oy++) {
    for (ox = 0; ox < ow; ox++) {
      for (o = 0; o < oc; o++) {
        double acc = bias ? bias[o] : 0.0;
        int c = o / m;

        for (ky = 0; ky < kh; ky++) {
          int iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;

          if (iy < 0 || iy >= ih)
            continue;
          for (kx = 0; kx < kw; kx++) {
            int ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;

            if (ix < 0 || ix >= iw)
              continue;
            acc += (double) x[((gsize) iy * iw + ix) * ic + c]
                * (double) w[((gsize) ky * kw + kx) * oc + o];
          }
        }
        out[((gsize) oy * ow + ox) * oc + o] =
            clamp_act ((float) acc, node->act_min, node->act_max);
      }
    }
  }
}

static void ref_binary_bcast (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out);

/* out = act(a + b), elementwise, same shape; the float sum as TFLite. A
 * broadcast b (ONNX) goes through ref_binary_bcast(). */
static void
ref_add (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  gsize n = dls_tensor_n_elements (dls_graph_tensor (g, node->output));
  gsize i;

  if (dls_tensor_n_elements (dls_graph_tensor (g, node->inputs[1])) != n) {
    ref_binary_bcast (g, node, in, out);
    return;
  }
  for (i = 0; i < n; i++)
    out[i] = clamp_act (in[0][i] + in[1][i], node->act_min, node->act_max);
}

/* AVERAGE_POOL2D and MAX_POOL2D: over the taps (ky < KH, kx < KW) of
 * in[y*sh - pt + ky, x*sw - pl + kx, c] inside the input, the mean
 * (padding is not counted, as in TFLite's AveragePool) or the max (padding
 * never wins, as ONNX MaxPool pads with -inf), then act(). A window wholly
 * in the padding, which SAME and VALID never make, gives 0 (what TFLite's
 * optimized path writes there). Pooling has no dilation; dilation_* is
 * ignored. */
static void
ref_pool2d (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  const DlsWindowParams *p = &node->p.win;
  const float *x = in[0];
  gboolean is_max = node->op == DLS_OP_MAX_POOL2D;
  int ih, iw, ic, oh, ow, oc;
  int oy, ox, c, ky, kx;

  tensor_hwc (dls_graph_tensor (g, node->inputs[0]), &ih, &iw, &ic);
  tensor_hwc (dls_graph_tensor (g, node->output), &oh, &ow, &oc);

  for (oy = 0; oy < oh; oy++) {
    for (ox = 0; ox < ow; ox++) {
      int y0 = oy * p->stride_h - p->pad_top;
      int x0 = ox * p->stride_w - p->pad_left;

      for (c = 0; c < oc; c++) {
        double acc = 0.0;
        float m = -INFINITY, v;
        int count = 0;

        for (ky = 0; ky < p->kernel_h; ky++) {
          int iy = y0 + ky;

          if (iy < 0 || iy >= ih)
            continue;
          for (kx = 0; kx < p->kernel_w; kx++) {
            int ix = x0 + kx;

            if (ix < 0 || ix >= iw)
              continue;
            v = x[((gsize) iy * iw + ix) * ic + c];
            /* !(v <= m): a NaN tap propagates. */
            if (is_max && (!count || !(v <= m)))
              m = v;
            acc += v;
            count++;
          }
        }
        v = !count ? 0.0f : is_max ? m : (float) (acc / count);
        out[((gsize) oy * ow + ox) * oc + c] =
            clamp_act (v, node->act_min, node->act_max);
      }
    }
  }
}

/* Concatenation along @axis of the 4-D shape: for each index of the dims
 * before the axis ("outer"), copy each input's slab of dims[axis] * (the
 * product of the dims after it) floats in input order. */
static void
ref_concat (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  const DlsTensor *to = dls_graph_tensor (g, node->output);
  int axis = node->p.concat.axis;
  gsize outer = 1, inner = 1, o;
  int k, d;

  if (axis < 0)
    axis += to->n_dims;
  for (d = 0; d < axis; d++)
    outer *= to->dims[d];
  for (d = axis + 1; d < to->n_dims; d++)
    inner *= to->dims[d];

  for (o = 0; o < outer; o++) {
    for (k = 0; k < node->n_inputs; k++) {
      const DlsTensor *ti = dls_graph_tensor (g, node->inputs[k]);
      gsize slab = (gsize) ti->dims[axis] * inner;

      for (gsize i = 0; i < slab; i++)
        out[i] = clamp_act (in[k][o * slab + i], node->act_min,
            node->act_max);
      out += slab;
    }
  }
}

/* TFLite's reference_ops::ResizeBilinear for float, step by step:
 *   scale = (float) in / out, or (float) (in - 1) / (out - 1) for
 *   ALIGN_CORNERS when out > 1;
 *   s = d * scale, or (d + 0.5f) * scale - 0.5f for HALF_PIXEL;
 *   s0 = max (floor (s), 0), s1 = min (ceil (s), in - 1);
 *   out = v00 * (1 - dy) * (1 - dx) + v10 * dy * (1 - dx)
 *       + v01 * (1 - dy) * dx + v11 * dy * dx,  dy = sy - y0, dx = sx - x0,
 * all in float and in that order. Note dy may be negative (HALF_PIXEL,
 * s < 0): then y0 == y1 and the weights still sum to 1, as in TFLite. */
static void
ref_resize_bilinear (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  const float *x = in[0];
  DlsResizeCoord coord = node->p.resize.coord;
  gboolean half = coord == DLS_RESIZE_HALF_PIXEL;
  int ih, iw, ic, oh, ow, oc;
  float hs, ws;
  int oy, ox, c;

  tensor_hwc (dls_graph_tensor (g, node->inputs[0]), &ih, &iw, &ic);
  tensor_hwc (dls_graph_tensor (g, node->output), &oh, &ow, &oc);

  hs = dls_resize_step (node, ih, oh, TRUE);
  ws = dls_resize_step (node, iw, ow, FALSE);

  for (oy = 0; oy < oh; oy++) {
    float sy;
    int y0, y1;

    dls_resize_coord (oy, hs, half, ih, &sy, &y0, &y1);
    for (ox = 0; ox < ow; ox++) {
      float sx, dy, dx;
      int x0, x1;
      const float *p00, *p01, *p10, *p11;

      dls_resize_coord (ox, ws, half, iw, &sx, &x0, &x1);
      dy = sy - (float) y0;
      dx = sx - (float) x0;
      p00 = x + ((gsize) y0 * iw + x0) * ic;
      p01 = x + ((gsize) y0 * iw + x1) * ic;
      p10 = x + ((gsize) y1 * iw + x0) * ic;
      p11 = x + ((gsize) y1 * iw + x1) * ic;
      for (c = 0; c < oc; c++) {
        float v = p00[c] * (1.0f - dy) * (1.0f - dx)
            + p10[c] * dy * (1.0f - dx)
            + p01[c] * (1.0f - dy) * dx + p11[c] * dy * dx;

        out[((gsize) oy * ow + ox) * oc + c] = v;
      }
    }
  }
}

/* ------------------------------------------------------------------ */
/* Ops added for ONNX models                                           */

/* HARD_SIGMOID, HARD_SWISH, SIGMOID, elementwise, in float:
 * hs(x) = max (0, min (1, alpha * x + beta)); hard swish x * hs(x);
 * sigmoid 1 / (1 + exp (-x)) (in double, rounded once). */
static void
ref_unary (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  gsize n = dls_tensor_n_elements (dls_graph_tensor (g, node->output));
  float a = node->p.unary.alpha, b = node->p.unary.beta;
  gsize i;

  for (i = 0; i < n; i++) {
    float x = in[0][i], v;

    if (node->op == DLS_OP_SIGMOID) {
      v = (float) (1.0 / (1.0 + exp (-(double) x)));
    } else {
      float h = a * x + b;

      h = h < 0.0f ? 0.0f : h > 1.0f ? 1.0f : h;
      v = node->op == DLS_OP_HARD_SWISH ? x * h : h;
    }
    out[i] = clamp_act (v, node->act_min, node->act_max);
  }
}

/* out[y,x,c] = act(a[y,x,c] op b[y', x', c']) where each of y', x', c' is
 * 0 when b's extent on that axis is 1 (broadcast); op is * (MUL) or +. */
static void
ref_binary_bcast (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  int h, w, c, bh, bw, bc, y, x, k;

  tensor_hwc (dls_graph_tensor (g, node->output), &h, &w, &c);
  tensor_hwc (dls_graph_tensor (g, node->inputs[1]), &bh, &bw, &bc);
  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++)
      for (k = 0; k < c; k++) {
        gsize o = ((gsize) y * w + x) * c + k;
        gsize bi = ((gsize) (bh == 1 ? 0 : y) * bw + (bw == 1 ? 0 : x)) * bc
            + (bc == 1 ? 0 : k);

        float v = node->op == DLS_OP_MUL ? in[0][o] * in[1][bi]
            : in[0][o] + in[1][bi];

        out[o] = clamp_act (v, node->act_min, node->act_max);
      }
}

/* out[p,c] = act(exp (x[p,c] - m) / sum_k exp (x[p,k] - m)), m = max_k
 * x[p,k], per pixel p, in double. */
static void
ref_softmax (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  int h, w, c;
  gsize p, k;

  tensor_hwc (dls_graph_tensor (g, node->output), &h, &w, &c);
  for (p = 0; p < (gsize) h * w; p++) {
    const float *x = in[0] + p * c;
    double m = x[0], sum = 0.0;

    for (k = 1; k < (gsize) c; k++)
      if (x[k] > m)
        m = x[k];
    for (k = 0; k < (gsize) c; k++)
      sum += exp ((double) x[k] - m);
    for (k = 0; k < (gsize) c; k++)
      out[p * c + k] = clamp_act ((float) (exp ((double) x[k] - m) / sum),
          node->act_min, node->act_max);
  }
}

/* The source index of output index @d for RESIZE_NEAREST, in float as
 * ONNX's reference: s from the coordinate mode, rounded by @mode, clamped. */
static int
nearest_index (int d, float step, DlsResizeCoord coord, DlsNearestMode mode,
    int in)
{
  float s = coord == DLS_RESIZE_HALF_PIXEL ?
      ((float) d + 0.5f) * step - 0.5f : (float) d * step;
  float f = floorf (s);
  int i;

  switch (mode) {
    case DLS_NEAREST_ROUND_PREFER_CEIL:
      i = (int) floorf (s + 0.5f);
      break;
    case DLS_NEAREST_FLOOR:
      i = (int) f;
      break;
    case DLS_NEAREST_CEIL:
      i = (int) ceilf (s);
      break;
    default:                   /* round, halves down */
      i = s - f == 0.5f ? (int) f : (int) floorf (s + 0.5f);
      break;
  }
  return CLAMP (i, 0, in - 1);
}

static void
ref_resize_nearest (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  int ih, iw, ic, oh, ow, oc, oy, ox;
  float hs, ws;

  tensor_hwc (dls_graph_tensor (g, node->inputs[0]), &ih, &iw, &ic);
  tensor_hwc (dls_graph_tensor (g, node->output), &oh, &ow, &oc);
  hs = dls_resize_step (node, ih, oh, TRUE);
  ws = dls_resize_step (node, iw, ow, FALSE);
  for (oy = 0; oy < oh; oy++) {
    int sy = nearest_index (oy, hs, node->p.resize.coord,
        node->p.resize.nearest, ih);

    for (ox = 0; ox < ow; ox++) {
      int sx = nearest_index (ox, ws, node->p.resize.coord,
          node->p.resize.nearest, iw);

      memcpy (out + ((gsize) oy * ow + ox) * oc,
          in[0] + ((gsize) sy * iw + sx) * ic, sizeof (float) * oc);
    }
  }
}

/* out[p] = the channel of the largest x[p, c]: the first among equals, or
 * the last with select_last; clamped by the fused activation. */
static void
ref_argmax (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  int h, w, c;
  gsize p;

  tensor_hwc (dls_graph_tensor (g, node->inputs[0]), &h, &w, &c);
  for (p = 0; p < (gsize) h * w; p++) {
    const float *x = in[0] + p * c;
    int best = 0;

    for (int k = 1; k < c; k++)
      if (x[k] > x[best] || (node->p.argmax.select_last && x[k] == x[best]))
        best = k;
    out[p] = clamp_act ((float) best, node->act_min, node->act_max);
  }
}

/* TRANSPOSE: out[i1,i2,i3] = in at axis perm[k-1] = ik; RESHAPE: a copy
 * of the dense data. */
static void
ref_layout (const DlsGraph * g, const DlsNode * node,
    const float *const *in, float *out)
{
  const DlsTensor *ti = dls_graph_tensor (g, node->inputs[0]);
  const DlsTensor *to = dls_graph_tensor (g, node->output);
  gsize stride[4], i[4];

  if (node->op == DLS_OP_RESHAPE) {
    memcpy (out, in[0], dls_tensor_n_elements (to) * sizeof (float));
    return;
  }
  stride[3] = 1;
  stride[2] = ti->dims[3];
  stride[1] = (gsize) ti->dims[2] * ti->dims[3];
  for (i[1] = 0; i[1] < (gsize) to->dims[1]; i[1]++)
    for (i[2] = 0; i[2] < (gsize) to->dims[2]; i[2]++)
      for (i[3] = 0; i[3] < (gsize) to->dims[3]; i[3]++)
        *out++ = in[0][i[1] * stride[node->p.transpose.perm[0]]
            + i[2] * stride[node->p.transpose.perm[1]]
            + i[3] * stride[node->p.transpose.perm[2]]];
}

static gboolean
ref_supports (DlsOpType op)
{
  switch (op) {
    case DLS_OP_CONV2D:
    case DLS_OP_DEPTHWISE_CONV2D:
    case DLS_OP_ADD:
    case DLS_OP_AVERAGE_POOL2D:
    case DLS_OP_CONCAT:
    case DLS_OP_RESIZE_BILINEAR:
    case DLS_OP_HARD_SIGMOID:
    case DLS_OP_HARD_SWISH:
    case DLS_OP_SIGMOID:
    case DLS_OP_MUL:
    case DLS_OP_MAX_POOL2D:
    case DLS_OP_SOFTMAX:
    case DLS_OP_RESIZE_NEAREST:
    case DLS_OP_TRANSPOSE:
    case DLS_OP_RESHAPE:
    case DLS_OP_ARGMAX:
      return TRUE;
    default:
      return FALSE;
  }
}

void
dls_ref_run_node (const DlsGraph * g, const DlsNode * node,
    const float *const *inputs, float *output)
{
  g_return_if_fail (g != NULL && node != NULL);
  g_return_if_fail (inputs != NULL && output != NULL);

  switch (node->op) {
    case DLS_OP_CONV2D:
      ref_conv2d (g, node, inputs, output);
      break;
    case DLS_OP_DEPTHWISE_CONV2D:
      ref_depthwise_conv2d (g, node, inputs, output);
      break;
    case DLS_OP_ADD:
      ref_add (g, node, inputs, output);
      break;
    case DLS_OP_AVERAGE_POOL2D:
    case DLS_OP_MAX_POOL2D:
      ref_pool2d (g, node, inputs, output);
      break;
    case DLS_OP_CONCAT:
      ref_concat (g, node, inputs, output);
      break;
    case DLS_OP_RESIZE_BILINEAR:
      ref_resize_bilinear (g, node, inputs, output);
      break;
    case DLS_OP_HARD_SIGMOID:
    case DLS_OP_HARD_SWISH:
    case DLS_OP_SIGMOID:
      ref_unary (g, node, inputs, output);
      break;
    case DLS_OP_MUL:
      ref_binary_bcast (g, node, inputs, output);
      break;
    case DLS_OP_SOFTMAX:
      ref_softmax (g, node, inputs, output);
      break;
    case DLS_OP_RESIZE_NEAREST:
      ref_resize_nearest (g, node, inputs, output);
      break;
    case DLS_OP_TRANSPOSE:
    case DLS_OP_RESHAPE:
      ref_layout (g, node, inputs, output);
      break;
    case DLS_OP_ARGMAX:
      ref_argmax (g, node, inputs, output);
      break;
    default:
      /* prepare() refuses such graphs; a direct caller gets a warning. */
      g_return_if_reached ();
  }
}

/* ------------------------------------------------------------------ */
/* The backend                                                         */

typedef struct
{
  DlsBackend parent;
  const DlsGraph *g;
  /* Per tensor id: an owned dense buffer for activations, the graph's own
   * data for float constants, NULL otherwise (int32 shape vectors). */
  float **bufs;
  gboolean *owned;
  guint n_tensors;
} DlsRefBackend;

static void
ref_clear (DlsRefBackend * rb)
{
  guint i;

  for (i = 0; i < rb->n_tensors; i++)
    if (rb->owned[i])
      g_free (rb->bufs[i]);
  g_clear_pointer (&rb->bufs, g_free);
  g_clear_pointer (&rb->owned, g_free);
  rb->n_tensors = 0;
  rb->g = NULL;
}

static gboolean
ref_prepare (DlsBackend * be, const DlsGraph * g, GError ** error)
{
  DlsRefBackend *rb = (DlsRefBackend *) be;
  int i;
  guint t;

  if (!g->finalized) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "ref backend: the graph is not finalized");
    return FALSE;
  }
  for (i = 0; i < dls_graph_n_nodes (g); i++) {
    const DlsNode *node = dls_graph_node (g, i);

    if (!ref_supports (node->op)) {
      const char *name = (guint) node->op < DLS_OP_COUNT ?
          dls_op_name (node->op) : NULL;

      if (name)
        g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
            "ref backend: unsupported operator %s (node %d)", name, i);
      else
        g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
            "ref backend: unsupported operator #%d (node %d)",
            (int) node->op, i);
      return FALSE;
    }
  }

  ref_clear (rb);
  rb->g = g;
  rb->n_tensors = g->tensors->len;
  rb->bufs = g_new0 (float *, rb->n_tensors);
  rb->owned = g_new0 (gboolean, rb->n_tensors);
  for (t = 0; t < rb->n_tensors; t++) {
    DlsTensor *tensor = dls_graph_tensor (g, t);

    if (tensor->dtype != DLS_DTYPE_FLOAT32) {
      if (tensor->kind == DLS_TENSOR_ACTIVATION) {
        g_set_error (error, DLS_ERROR, DLS_ERROR_UNSUPPORTED,
            "ref backend: activation %s is not float32", tensor->name);
        ref_clear (rb);
        return FALSE;
      }
      continue;
    }
    if (tensor->kind == DLS_TENSOR_CONSTANT) {
      rb->bufs[t] = tensor->data;
    } else {
      /* At least one float, so a zero-sized tensor still has a pointer. */
      rb->bufs[t] = g_new0 (float, MAX (dls_tensor_n_elements (tensor), 1));
      rb->owned[t] = TRUE;
    }
  }
  return TRUE;
}

static gboolean
ref_io_check (DlsRefBackend * rb, GArray * ids, int index, const char *what,
    GError ** error)
{
  if (!rb->g) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "ref backend: not prepared");
    return FALSE;
  }
  if (index < 0 || (guint) index >= ids->len) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "ref backend: %s index %d out of range (%u)", what, index, ids->len);
    return FALSE;
  }
  return TRUE;
}

static gboolean
ref_set_input (DlsBackend * be, int index, const float *data, GError ** error)
{
  DlsRefBackend *rb = (DlsRefBackend *) be;
  const DlsTensor *t;
  int id;

  if (!ref_io_check (rb, rb->g ? rb->g->inputs : NULL, index, "input", error))
    return FALSE;
  id = dls_graph_input (rb->g, index);
  t = dls_graph_tensor (rb->g, id);
  memcpy (rb->bufs[id], data, dls_tensor_n_elements (t) * sizeof (float));
  return TRUE;
}

static gboolean
ref_run (DlsBackend * be, GError ** error)
{
  DlsRefBackend *rb = (DlsRefBackend *) be;
  const float *inputs[DLS_MAX_INPUTS];
  int i, k;

  if (!rb->g) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_INVALID_ARGUMENT,
        "ref backend: not prepared");
    return FALSE;
  }
  for (i = 0; i < dls_graph_n_nodes (rb->g); i++) {
    const DlsNode *node = dls_graph_node (rb->g, i);

    for (k = 0; k < node->n_inputs; k++)
      inputs[k] = node->inputs[k] >= 0 ? rb->bufs[node->inputs[k]] : NULL;
    dls_ref_run_node (rb->g, node, inputs, rb->bufs[node->output]);
  }
  return TRUE;
}

static gboolean
ref_get_output (DlsBackend * be, int index, float *data, GError ** error)
{
  DlsRefBackend *rb = (DlsRefBackend *) be;
  const DlsTensor *t;
  int id;

  if (!ref_io_check (rb, rb->g ? rb->g->outputs : NULL, index, "output", error))
    return FALSE;
  id = dls_graph_output (rb->g, index);
  t = dls_graph_tensor (rb->g, id);
  memcpy (data, rb->bufs[id], dls_tensor_n_elements (t) * sizeof (float));
  return TRUE;
}

static void
ref_free (DlsBackend * be)
{
  DlsRefBackend *rb = (DlsRefBackend *) be;

  ref_clear (rb);
  g_free (rb);
}

static const DlsBackendVTable ref_vtable = {
  .name = "ref",
  .prepare = ref_prepare,
  .set_input = ref_set_input,
  .run = ref_run,
  .get_output = ref_get_output,
  .free = ref_free,
};

/**
 * dls_backend_ref_new:
 *
 * Returns: (transfer full): the C reference backend; prepare() it with a
 * finalized graph, free with dls_backend_free().
 */
DlsBackend *
dls_backend_ref_new (void)
{
  DlsRefBackend *rb = g_new0 (DlsRefBackend, 1);

  rb->parent.vt = &ref_vtable;
  return &rb->parent;
}

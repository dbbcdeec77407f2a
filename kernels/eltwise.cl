/* deeplabseg kernels: element-wise and data-movement ops.
 *
 * Layout: activations NHWC (N = 1) float32, channels padded to a multiple
 * of 4 (Cp), as in conv.cl. Every kernel works on float4 channel groups
 * except copy_block, which moves real channels one at a time so it can
 * concatenate tensors whose channel counts are not multiples of 4.
 *
 *   add             out = clamp(a + b); global: (H*W*Cp / 4)
 *   pool            over the window's taps inside the input: with
 *                   is_max = 0 their mean (TFLite AVERAGE_POOL_2D: padding
 *                   is not counted), with is_max = 1 their max (ONNX
 *                   MaxPool: padding never wins; a window wholly outside
 *                   gives 0); then clamp (lo, hi); global: (OW, OH, Cp / 4)
 *   resize_bilinear TFLite's reference ResizeBilinear; the host passes the
 *                   float32 scales and the mode (0 asymmetric, 1 align
 *                   corners, 2 half pixel); a work-item does RSP
 *                   consecutive output pixels of one row (the y
 *                   coordinates once), every channel of each, 8 at a time
 *                   (buffers have 64 bytes of slack, see conv.cl);
 *                   global: (ceil(OW / RSP) rounded up to the local size,
 *                   OH)
 *   copy_block      dst[y + oy, x + ox, c + oc] = clamp(src[y, x, c], lo,
 *                   hi), c < C (a CONCAT's fused activation); a work-item
 *                   copies one pixel, float4 at a time when C and oc are
 *                   multiples of 4; global: (W, H) of the source
 *
 * Contraction into fma is off so resize_bilinear gives TFLite's reference
 * bits (and the C reference's).
 *
 * Stores go through float4 pointers (a channel group is 16-byte aligned):
 * PoCL lowers vstore8 / vstore16 to 64-bit scalar stores.
 *
 * -D options (the host's tuning table is the source of truth):
 *   RSP  output pixels per work-item, resize_bilinear: 1..   (default 8)
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef RSP
#define RSP 8
#endif

__kernel void
add (__global const float4 *restrict a, __global const float4 *restrict b,
    __global float4 *restrict out, float lo, float hi)
{
  const int i = get_global_id (0);
  out[i] = clamp (a[i] + b[i], lo, hi);
}

__kernel void
pool (__global const float *restrict in, int ih, int iw, int cp,
    __global float *restrict out, int oh, int ow, int kh, int kw, int sh,
    int sw, int pt, int pl, int is_max, float lo, float hi)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  const int c0 = get_global_id (2) * 4;
  const int y0 = max (y * sh - pt, 0), y1 = min (y * sh - pt + kh, ih);
  const int x0 = max (x * sw - pl, 0), x1 = min (x * sw - pl + kw, iw);
  const int n = max (y1 - y0, 0) * max (x1 - x0, 0);
  float4 acc = is_max ? (float4) (-INFINITY) : (float4) (0.0f);

  for (int iy = y0; iy < y1; iy++)
    for (int ix = x0; ix < x1; ix++) {
      const float4 v = vload4 (0, in + ((size_t) iy * iw + ix) * cp + c0);
      acc = is_max ? fmax (acc, v) : acc + v;
    }
  if (n == 0)
    acc = 0.0f;
  else if (!is_max)
    acc /= (float) n;
  vstore4 (clamp (acc, lo, hi), 0, out + ((size_t) y * ow + x) * cp + c0);
}

/* TFLite's ComputeInterpolationValues: lo = max(floor(s), 0), hi =
 * min(ceil(s), size - 1), from the truncation t = (int) s: ceil(s) =
 * t + (t < s) for any s (t < s only for positive s with a fraction);
 * floor(s) = t for s >= 0, and for s < 0 both are <= 0 and clamp to 0.
 * PoCL's floor() and ceil() are software routines, and this runs for
 * every output pixel: half of the 257x257 resize's arithmetic. */
inline float
source_coord (int d, float scale, int mode, int size, int *lo, int *hi)
{
  const float s = mode == 2 ? ((float) d + 0.5f) * scale - 0.5f
      : (float) d * scale;
  const int t = (int) s;

  *lo = max (t, 0);
  *hi = min ((float) t < s ? t + 1 : t, size - 1);
  return s;
}

__kernel void
resize_bilinear (__global const float *restrict in, int ih, int iw, int cp,
    __global float *restrict out, int oh, int ow, float scale_y,
    float scale_x, int mode)
{
  const int xs = get_global_id (0) * RSP;
  const int y = get_global_id (1);
  const int xe = min (xs + RSP, ow);
  int y0, y1;

  if (xs >= ow)
    return;
  const float sy = source_coord (y, scale_y, mode, ih, &y0, &y1);
  const float dy = sy - y0, wy = 1 - dy;
  __global const float *ra = in + (size_t) y0 * iw * cp;
  __global const float *rb = in + (size_t) y1 * iw * cp;
  __global float *po = out + ((size_t) y * ow + xs) * cp;

  /* Weights in TFLite's order: ((v * wy) * wx), summed left to right.
   * Eight channels a step; when cp is 4 mod 8 the last step's loads run
   * into the next pixel or the buffer's slack and only 4 lanes are
   * stored. */
  for (int x = xs; x < xe; x++, po += cp) {
    int x0, x1;
    const float sx = source_coord (x, scale_x, mode, iw, &x0, &x1);
    const float dx = sx - x0, wx = 1 - dx;
    __global const float *pa = ra + x0 * cp, *pb = rb + x0 * cp;
    __global const float *pc = ra + x1 * cp, *pd = rb + x1 * cp;
    for (int c0 = 0; c0 < cp; c0 += 8) {
      const float8 a = vload8 (0, pa + c0), b = vload8 (0, pb + c0);
      const float8 c = vload8 (0, pc + c0), d = vload8 (0, pd + c0);
      const float8 v = a * wy * wx + b * dy * wx + c * wy * dx + d * dy * dx;
      __global float4 *o = (__global float4 *) (po + c0);
      o[0] = v.lo;
      if (c0 + 8 <= cp)
        o[1] = v.hi;
    }
  }
}

__kernel void
copy_block (__global const float *restrict src, int scp, int n_c,
    __global float *restrict dst, int dw, int dcp, int oy, int ox, int oc,
    float lo, float hi)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  const int sw = get_global_size (0);
  __global const float *s = src + ((size_t) y * sw + x) * scp;
  __global float *d = dst + ((size_t) (y + oy) * dw + x + ox) * dcp + oc;

  if (n_c % 4 == 0 && oc % 4 == 0)
    for (int c = 0; c < n_c; c += 4)
      vstore4 (clamp (vload4 (0, s + c), lo, hi), 0, d + c);
  else
    for (int c = 0; c < n_c; c++)
      d[c] = clamp (s[c], lo, hi);
}

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
 *   resize_bilinear TFLite's reference ResizeBilinear; the host tables
 *                   the coordinates (gst/backend/opencl.c,
 *                   resize_table()): tab[y] for output row y, tab[OH + x]
 *                   for column x, each (s0, s1, d, 1 - d) with the floats
 *                   as their bits; a work-item does RSP consecutive
 *                   output pixels of one row, every channel of each, 8 at
 *                   a time (buffers have 64 bytes of slack, see conv.cl);
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

/* A work-item: RSP output pixels of row y, channel group by channel
 * group (8 lanes; when cp is 4 mod 8 the last group's loads run into the
 * next pixel or the buffer's slack and only 4 lanes are stored). The
 * products in TFLite's order, ((v * wy) * wx) summed left to right; the
 * vertical products v * wy and v * dy of a source column are made once
 * for the consecutive output pixels that share it (8 of them for
 * DeepLab's 33 -> 257). */
__kernel void
resize_bilinear (__global const float *restrict in, int iw, int cp,
    __global float *restrict out, int oh, int ow,
    __global const int4 *restrict tab)
{
  const int xs = get_global_id (0) * RSP;
  const int y = get_global_id (1);
  const int xe = min (xs + RSP, ow);

  if (xs >= ow)
    return;
  const int4 ty = tab[y];
  const float dy = as_float (ty.z), wy = as_float (ty.w);
  __global const float *ra = in + (size_t) ty.x * iw * cp;
  __global const float *rb = in + (size_t) ty.y * iw * cp;

  for (int c0 = 0; c0 < cp; c0 += 8) {
    int x0 = -1, x1 = -1;
    float8 a0 = 0.0f, b0 = 0.0f, a1 = 0.0f, b1 = 0.0f;
    __global float *po = out + ((size_t) y * ow + xs) * cp + c0;
    for (int x = xs; x < xe; x++, po += cp) {
      const int4 tx = tab[oh + x];
      const float dx = as_float (tx.z), wx = as_float (tx.w);
      if (tx.x != x0) {
        x0 = tx.x;
        a0 = vload8 (0, ra + x0 * cp + c0) * wy;
        b0 = vload8 (0, rb + x0 * cp + c0) * dy;
      }
      if (tx.y != x1) {
        x1 = tx.y;
        a1 = vload8 (0, ra + x1 * cp + c0) * wy;
        b1 = vload8 (0, rb + x1 * cp + c0) * dy;
      }
      const float8 v = a0 * wx + b0 * wx + a1 * dx + b1 * dx;
      __global float4 *o = (__global float4 *) po;
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

/* deeplabseg kernels: convolutions.
 *
 * Layout: activations are NHWC (N = 1) float32 with the channel count padded
 * to a multiple of 4 (Cp); padded lanes hold finite values that never reach
 * a real channel (their weights are 0). Weights are repacked once by the
 * host (gst/backend/opencl.c) into the layouts below.
 *
 *   conv1x1    1x1, stride 1, no padding: a GEMM over the H*W pixels.
 *              w: [Cop/TCO][Cip][TCO], bias: [Cop/TCO * TCO]
 *              global: (ceil(H*W / TP), Cop/TCO)
 *   conv2d     any kernel, stride, dilation and padding.
 *              w: [Cop/TCO][KH][KW][Cip][TCO], bias as conv1x1
 *              global: (ceil(OW / TP), OH, Cop/TCO)
 *   depthwise  any kernel, stride, dilation, padding, depth multiplier M
 *              (output channel o reads input channel o / M).
 *              w: [KH][KW][Cop], bias: [Cop]
 *              global: (ceil(OW / TP), OH, Cop / 4)
 *
 * Each work-item owns a tile of TP output pixels x TCO output channels (4
 * channels for depthwise) accumulated in vector registers: one output per
 * work-item is the slow path on CPU devices (DESIGN.md).
 * Every kernel ends with the fused activation: clamp(x, lo, hi).
 *
 * -D options (the host's tuning table is the source of truth):
 *   TP   output pixels per work-item              (default 4)
 *   TCO  output channels per work-item: 4, 8, 16  (default 8)
 */

#ifndef TP
#define TP 4
#endif
#ifndef TCO
#define TCO 8
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define floatT CAT(float, TCO)
#define vloadT CAT(vload, TCO)
#define vstoreT CAT(vstore, TCO)

/* Stores the channels of @v that exist (< cop), 4 at a time. */
inline void
store_tile (floatT v, __global float *dst, int co0, int cop)
{
  float tmp[TCO];
  vstoreT (v, 0, tmp);
  for (int g = 0; g < TCO / 4; g++)
    if (co0 + 4 * g < cop)
      vstore4 (vload4 (g, tmp), 0, dst + 4 * g);
}

__kernel void
conv1x1 (__global const float *restrict in, int cip, int n_pix,
    __global const float *restrict w, __global const float *restrict bias,
    __global float *restrict out, int cop, float lo, float hi)
{
  const int p0 = get_global_id (0) * TP;
  const int cb = get_global_id (1);
  const floatT b = vloadT (cb, bias);
  __global const float *wp = w + (size_t) cb * cip * TCO;
  __global const float *row[TP];
  floatT acc[TP];

  for (int p = 0; p < TP; p++) {
    acc[p] = b;
    row[p] = in + (size_t) min (p0 + p, n_pix - 1) * cip;
  }
  for (int c = 0; c < cip; c += 4) {
    const floatT w0 = vloadT (0, wp);
    const floatT w1 = vloadT (1, wp);
    const floatT w2 = vloadT (2, wp);
    const floatT w3 = vloadT (3, wp);
    wp += 4 * TCO;
    for (int p = 0; p < TP; p++) {
      const float4 x = vload4 (0, row[p] + c);
      acc[p] = fma ((floatT) (x.s0), w0, acc[p]);
      acc[p] = fma ((floatT) (x.s1), w1, acc[p]);
      acc[p] = fma ((floatT) (x.s2), w2, acc[p]);
      acc[p] = fma ((floatT) (x.s3), w3, acc[p]);
    }
  }
  for (int p = 0; p < TP; p++)
    if (p0 + p < n_pix)
      store_tile (clamp (acc[p], lo, hi),
          out + (size_t) (p0 + p) * cop + cb * TCO, cb * TCO, cop);
}

__kernel void
conv2d (__global const float *restrict in, int ih, int iw, int cip,
    __global const float *restrict w, __global const float *restrict bias,
    __global float *restrict out, int oh, int ow, int cop,
    int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl,
    float lo, float hi)
{
  const int x0 = get_global_id (0) * TP;
  const int y = get_global_id (1);
  const int cb = get_global_id (2);
  const floatT b = vloadT (cb, bias);
  floatT acc[TP];

  for (int p = 0; p < TP; p++)
    acc[p] = b;

  for (int ky = 0; ky < kh; ky++) {
    const int iy = y * sh - pt + ky * dh;
    if (iy < 0 || iy >= ih)
      continue;
    for (int kx = 0; kx < kw; kx++) {
      __global const float *wp =
          w + ((size_t) (cb * kh + ky) * kw + kx) * cip * TCO;
      __global const float *src[TP];
      float m[TP];
      for (int p = 0; p < TP; p++) {
        const int ix = (x0 + p) * sw - pl + kx * dw;
        const int ok = ix >= 0 && ix < iw;
        m[p] = ok ? 1.0f : 0.0f;
        src[p] = in + ((size_t) iy * iw + (ok ? ix : 0)) * cip;
      }
      for (int c = 0; c < cip; c += 4) {
        const floatT w0 = vloadT (0, wp);
        const floatT w1 = vloadT (1, wp);
        const floatT w2 = vloadT (2, wp);
        const floatT w3 = vloadT (3, wp);
        wp += 4 * TCO;
        for (int p = 0; p < TP; p++) {
          const float4 x = vload4 (0, src[p] + c) * m[p];
          acc[p] = fma ((floatT) (x.s0), w0, acc[p]);
          acc[p] = fma ((floatT) (x.s1), w1, acc[p]);
          acc[p] = fma ((floatT) (x.s2), w2, acc[p]);
          acc[p] = fma ((floatT) (x.s3), w3, acc[p]);
        }
      }
    }
  }
  for (int p = 0; p < TP; p++)
    if (x0 + p < ow)
      store_tile (clamp (acc[p], lo, hi),
          out + ((size_t) y * ow + x0 + p) * cop + cb * TCO, cb * TCO, cop);
}

__kernel void
depthwise (__global const float *restrict in, int ih, int iw, int cip,
    int mult, __global const float *restrict w,
    __global const float *restrict bias, __global float *restrict out,
    int oh, int ow, int cop, int kh, int kw, int sh, int sw, int dh, int dw,
    int pt, int pl, float lo, float hi)
{
  const int x0 = get_global_id (0) * TP;
  const int y = get_global_id (1);
  const int c0 = get_global_id (2) * 4;
  const float4 b = vload4 (0, bias + c0);
  /* Input channel of each output lane; only used when mult > 1. */
  const int4 ci = min ((int4) (c0, c0 + 1, c0 + 2, c0 + 3) / mult, cip - 1);
  float4 acc[TP];

  for (int p = 0; p < TP; p++)
    acc[p] = b;

  for (int ky = 0; ky < kh; ky++) {
    const int iy = y * sh - pt + ky * dh;
    if (iy < 0 || iy >= ih)
      continue;
    for (int kx = 0; kx < kw; kx++) {
      const float4 wv = vload4 (0, w + (ky * kw + kx) * cop + c0);
      for (int p = 0; p < TP; p++) {
        const int ix = (x0 + p) * sw - pl + kx * dw;
        __global const float *px;
        float4 x;
        if (ix < 0 || ix >= iw)
          continue;
        px = in + ((size_t) iy * iw + ix) * cip;
        if (mult == 1)
          x = vload4 (0, px + c0);
        else
          x = (float4) (px[ci.s0], px[ci.s1], px[ci.s2], px[ci.s3]);
        acc[p] = fma (x, wv, acc[p]);
      }
    }
  }
  for (int p = 0; p < TP; p++)
    if (x0 + p < ow)
      vstore4 (clamp (acc[p], lo, hi), 0,
          out + ((size_t) y * ow + x0 + p) * cop + c0);
}

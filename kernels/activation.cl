/* deeplabseg kernels: activations and broadcasting products of the ops
 * that ONNX models add (MobileNetV3 blocks: hard sigmoid, hard swish,
 * squeeze-excitation scale; sigmoid).
 *
 * Layout: activations NHWC (N = 1) float32, channels padded to a multiple
 * of 4 (Cp), as in conv.cl; padded lanes hold finite values and stay
 * finite here.
 *
 *   unary      out = clamp (f (x), lo, hi), f by `mode`: 0 hard sigmoid
 *              max (0, min (1, alpha x + beta)), 1 hard swish x * that,
 *              2 sigmoid 1 / (1 + exp (-x)); global: (H*W*Cp / 4)
 *   binary_bcast  out[y,x,c] = clamp (a[y,x,c] op b[y',x',c'], lo, hi),
 *              op * (mul = 1) or + (mul = 0), where y' = 0 if bh == 1,
 *              x' = 0 if bw == 1 and c' = 0 if b has one channel (bc1 = 1);
 *              global: (W, H, Cp / 4)
 *   argmax     out[p] (padded by cpo) = the index of the largest of the c
 *              real channels of pixel p, the first among equals (the last
 *              with last = 1), clamped (lo, hi); global: (H*W)
 *   softmax    over the c real channels of each pixel: exp (x - max) / sum,
 *              then clamp (lo, hi); global: (H*W)
 *
 * Contraction into fma is off so that the hard functions give the C
 * reference's bits (gst/backend/ref.c).
 * No -D options.
 */
#pragma OPENCL FP_CONTRACT OFF

__kernel void
unary (__global const float4 *restrict in, __global float4 *restrict out,
    int mode, float alpha, float beta, float lo, float hi)
{
  const int i = get_global_id (0);
  const float4 x = in[i];
  float4 v;

  if (mode == 2) {
    v = 1.0f / (1.0f + exp (-x));
  } else {
    v = clamp (alpha * x + beta, 0.0f, 1.0f);
    if (mode == 1)
      v = x * v;
  }
  out[i] = clamp (v, lo, hi);
}

__kernel void
binary_bcast (__global const float *restrict a,
    __global const float *restrict b, __global float *restrict out, int w,
    int cp, int bh, int bw, int bcp, int bc1, int mul, float lo, float hi)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  const int c0 = get_global_id (2) * 4;
  const size_t o = ((size_t) y * w + x) * cp + c0;
  const size_t bi = ((size_t) (bh == 1 ? 0 : y) * bw + (bw == 1 ? 0 : x))
      * bcp;
  const float4 bv = bc1 ? (float4) (b[bi]) : vload4 (0, b + bi + c0);

  const float4 av = vload4 (0, a + o);

  vstore4 (clamp (mul ? av * bv : av + bv, lo, hi), 0, out + o);
}

__kernel void
softmax (__global const float *restrict in, __global float *restrict out,
    int c, int cp, float lo, float hi)
{
  const size_t p = (size_t) get_global_id (0) * cp;
  float m = in[p], sum = 0.0f;

  for (int k = 1; k < c; k++)
    m = fmax (m, in[p + k]);
  for (int k = 0; k < c; k++)
    sum += exp (in[p + k] - m);
  for (int k = 0; k < c; k++)
    out[p + k] = clamp (exp (in[p + k] - m) / sum, lo, hi);
}

__kernel void
argmax (__global const float *restrict in, __global float *restrict out,
    int c, int cp, int cpo, int last, float lo, float hi)
{
  const size_t p = get_global_id (0);
  __global const float *x = in + p * cp;
  int best = 0;

  for (int k = 1; k < c; k++)
    if (x[k] > x[best] || (last && x[k] == x[best]))
      best = k;
  out[p * cpo] = clamp ((float) best, lo, hi);
}

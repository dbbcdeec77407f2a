/* deeplabseg kernels: max pooling (ONNX MaxPool). Average pooling, which
 * the TFLite models use, stays in eltwise.cl.
 *
 * Layout: activations NHWC (N = 1) float32, channels padded to a multiple
 * of 4 (Cp), as in conv.cl.
 *
 *   maxpool  max over the window's taps inside the input (padding never
 *            wins; a window wholly outside gives 0), then clamp (lo, hi);
 *            global: (OW, OH, Cp / 4)
 *
 * No -D options.
 */

__kernel void
maxpool (__global const float *restrict in, int ih, int iw, int cp,
    __global float *restrict out, int oh, int ow, int kh, int kw, int sh,
    int sw, int pt, int pl, float lo, float hi)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  const int c0 = get_global_id (2) * 4;
  const int y0 = max (y * sh - pt, 0), y1 = min (y * sh - pt + kh, ih);
  const int x0 = max (x * sw - pl, 0), x1 = min (x * sw - pl + kw, iw);
  float4 m = (float4) (-INFINITY);

  for (int iy = y0; iy < y1; iy++)
    for (int ix = x0; ix < x1; ix++)
      m = fmax (m, vload4 (0, in + ((size_t) iy * iw + ix) * cp + c0));
  if (y1 <= y0 || x1 <= x0)
    m = 0.0f;
  vstore4 (clamp (m, lo, hi), 0, out + ((size_t) y * ow + x) * cp + c0);
}

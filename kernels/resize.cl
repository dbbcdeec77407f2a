/* deeplabseg kernels: nearest-neighbour resize (ONNX Resize mode
 * "nearest", Upsample). Bilinear resize, which the TFLite models use, stays
 * in eltwise.cl.
 *
 * Layout: activations NHWC (N = 1) float32, channels padded to a multiple
 * of 4 (Cp), as in conv.cl.
 *
 *   resize_nearest  out[y,x] = in[iy, ix]: s = d * step, or (d + 0.5) *
 *                   step - 0.5 with half_pixel = 1; index by `mode`
 *                   (0 round halves down, 1 round halves up, 2 floor,
 *                   3 ceil), clamped to the input; global: (OW, OH, Cp / 4)
 *
 * Contraction into fma is off so that the indices are the C reference's
 * (gst/backend/ref.c).
 * No -D options.
 */
#pragma OPENCL FP_CONTRACT OFF

inline int
nearest_index (int d, float step, int half_pixel, int mode, int size)
{
  const float s = half_pixel ? ((float) d + 0.5f) * step - 0.5f
      : (float) d * step;
  const float f = floor (s);
  int i;

  if (mode == 1)
    i = (int) floor (s + 0.5f);
  else if (mode == 2)
    i = (int) f;
  else if (mode == 3)
    i = (int) ceil (s);
  else
    i = s - f == 0.5f ? (int) f : (int) floor (s + 0.5f);
  return clamp (i, 0, size - 1);
}

__kernel void
resize_nearest (__global const float *restrict in, int ih, int iw, int cp,
    __global float *restrict out, int oh, int ow, float step_y, float step_x,
    int half_pixel, int mode)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  const int c0 = get_global_id (2) * 4;
  const int iy = nearest_index (y, step_y, half_pixel, mode, ih);
  const int ix = nearest_index (x, step_x, half_pixel, mode, iw);

  vstore4 (vload4 (0, in + ((size_t) iy * iw + ix) * cp + c0), 0,
      out + ((size_t) y * ow + x) * cp + c0);
}

/* deeplabseg kernels: data movement between layouts (ONNX Transpose of
 * activations, Reshape / Flatten of a tensor whose element order changes
 * its channel padding).
 *
 * Layout: activations NHWC (N = 1) float32, channels padded to a multiple
 * of 4 (Cp), as in conv.cl; these kernels move one real element each.
 *
 *   transpose  out[y,x,c] (padded by cpo) = in at y * s0 + x * s1 + c * s2,
 *              the input strides of the axes the output's H, W, C come
 *              from; global: (OW, OH, OC)
 *   reshape    dense element e: out[(e / co) * cpo + e % co] =
 *              in[(e / ci) * cpi + e % ci]; global: (H*W*C)
 *
 * No -D options.
 */

__kernel void
transpose (__global const float *restrict in, __global float *restrict out,
    int s0, int s1, int s2, int ow, int cpo)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  const int c = get_global_id (2);

  out[((size_t) y * ow + x) * cpo + c] =
      in[(size_t) y * s0 + (size_t) x * s1 + (size_t) c * s2];
}

__kernel void
reshape (__global const float *restrict in, __global float *restrict out,
    int ci, int cpi, int co, int cpo)
{
  const size_t e = get_global_id (0);

  out[(e / co) * cpo + e % co] = in[(e / ci) * cpi + e % ci];
}

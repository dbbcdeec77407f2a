/* deeplabseg kernels: dense CRF mean-field on permutohedral lattices
 * (gst/crf/crf.h has the maths and citations; gst/crf/crf.c is the C
 * reference these kernels are tested against; gst/crf/crf_cl.c drives
 * them).
 *
 * Per mean-field iteration, the Gaussian (position) kernel, exact and
 * separable, normalisation n(i) folded in:
 *   crf_gauss_x        tmp[x, y] = sum_t taps[|t|] n(x+t, y) Q[x+t, y]
 *                      global: (width, height)
 *   (the y pass, gval[x, y] = n(x, y) sum_t taps[|t|] tmp[x, y+t], |t| <= r,
 *   zero outside the image, is done inside crf_gauss_y_slice_softmax below:
 *   one pass over the pixels' arrays fewer)
 * or, for a large sxy, on a 2-d permutohedral lattice (splat and blur as
 * below), then
 *   crf_lattice_message gval[i] = sum_j ws_ij values[off_ij] (ws = b n(i)
 *                      alpha).   global: (pixels)
 * and the bilateral kernel on its permutohedral lattice (built on the
 * host once per frame):
 *   crf_splat          values[v] = sum over the points i splatting onto v
 *                      of sw_i * Q[i]: a gather over a CSR list built on
 *                      the host (start[v] .. start[v+1] into pix / wt,
 *                      points in increasing order, wt = barycentric weight
 *                      * normalisation n(i)), so no atomics.
 *                      global: (vertices + 1); row `vertices` is the
 *                      absent neighbour and comes out 0.
 *   crf_blur           one of the d + 1 directions:
 *                      out[v] = in[v] + 0.5 (in[n1] + in[n2]),
 *                      absent neighbours (-1) read the zero row m; the
 *                      neighbours of direction j start at nb_off = j * 2m.
 *                      global: (vertices + 1)
 * then both messages at once:
 *   crf_slice_softmax  t = -U[i] + g_weight gval[i]
 *                             + sum_j wb_ij values_b[ob_ij],
 *                      Q[i] = softmax (t) (max subtracted first); the slice
 *                      weights already hold barycentric * n_b(i) * alpha *
 *                      Potts weight. global: (pixels)
 *   crf_gauss_y_slice_softmax  the same with gval computed in place from the
 *                      x pass's tmp (separable Gaussian).
 *                      global: (width, height)
 * and around the iterations:
 *   crf_init           Q[i] = softmax (-U[i]).   global: (pixels)
 *   crf_argmax         map[i] = argmax Q[i], ties to the lowest class;
 *                      if conf is not NULL also conf[i] =
 *                      round (255 * max Q[i]) (as dls_crf_map()).
 *                      global: (pixels)
 *
 * Layout: U, Q and lattice values are row-major arrays of CP floats a row
 * (a pixel or a vertex), classes innermost, padded to CP lanes; padded
 * lanes of U hold a huge energy (1e30), so their Q is exactly 0 and they
 * never win. Bilateral offsets and weights: DB + 1 per pixel.
 *
 * -D options (host side: crf_cl.c):
 *   CP  classes padded to a multiple of 8 (default 24): rows of float8
 *       vectors (one AVX register on a CPU device)
 *   DB  dimension of the bilateral (position + colour) lattice (default 5)
 */
#ifndef CP
#define CP 24
#endif
#ifndef DB
#define DB 5
#endif
#define C8 (CP / 8)

/* Q = softmax (t): the maximum and the sum taken lane-wise over the
 * float8 vectors first, then across the lanes (a sum of 24 scalars a pixel
 * cost ~10 % of the slice). */
inline void
softmax_store (float8 * t, __global float *q)
{
  float8 mx8 = t[0], s8 = (float8) (0.0f);
  float4 m4, s4;
  float mx, s;

  for (int k = 1; k < C8; k++)
    mx8 = fmax (mx8, t[k]);
  m4 = fmax (mx8.lo, mx8.hi);
  mx = fmax (fmax (m4.x, m4.y), fmax (m4.z, m4.w));
  for (int k = 0; k < C8; k++) {
    t[k] = native_exp (t[k] - mx);
    s8 += t[k];
  }
  s4 = s8.lo + s8.hi;
  s = (s4.x + s4.y) + (s4.z + s4.w);
  for (int k = 0; k < C8; k++)
    vstore8 (t[k] / s, k, q);
}

__kernel void
crf_init (__global const float *unary, __global float *q)
{
  const size_t i = get_global_id (0);
  float8 t[C8];

  for (int k = 0; k < C8; k++)
    t[k] = -vload8 (k, unary + i * CP);
  softmax_store (t, q + i * CP);
}

__kernel void
crf_splat (__global const float *q, __global const int *start,
    __global const int *pix, __global const float *wt,
    __global float *values, int count)
{
  const int v = get_global_id (0);
  if (v >= count)
    return;                     /* the global size is padded (host) */
  const int e0 = start[v], e1 = start[v + 1];
  float8 acc[C8];

  for (int k = 0; k < C8; k++)
    acc[k] = (float8) (0.0f);
  for (int e = e0; e < e1; e++) {
    __global const float *qi = q + (size_t) pix[e] * CP;
    const float w = wt[e];
    for (int k = 0; k < C8; k++)
      acc[k] += w * vload8 (k, qi);
  }
  for (int k = 0; k < C8; k++)
    vstore8 (acc[k], k, values + (size_t) v * CP);
}

__kernel void
crf_blur (__global const float *in, __global float *out,
    __global const int *nb, int nb_off, int m)
{
  const int v = get_global_id (0);
  __global float *o = out + (size_t) v * CP;

  if (v > m)
    return;                     /* the global size is padded (host) */
  if (v == m) {
    for (int k = 0; k < C8; k++)
      vstore8 ((float8) (0.0f), k, o);
    return;
  }
  __global const float *a = in + (size_t) v * CP;
  const int n1 = nb[nb_off + 2 * v], n2 = nb[nb_off + 2 * v + 1];
  __global const float *b1 = in + (size_t) (n1 < 0 ? m : n1) * CP;
  __global const float *b2 = in + (size_t) (n2 < 0 ? m : n2) * CP;
  for (int k = 0; k < C8; k++)
    vstore8 (vload8 (k, a) + 0.5f * (vload8 (k, b1) + vload8 (k, b2)), k, o);
}

__kernel void
crf_gauss_x (__global const float *q, __global const float *norm,
    __constant float *taps, int r, __global float *out)
{
  const int x = get_global_id (0), y = get_global_id (1);
  const int w = get_global_size (0);
  const size_t row = (size_t) y * w;
  float8 acc[C8];

  for (int k = 0; k < C8; k++)
    acc[k] = (float8) (0.0f);
  for (int t = max (-r, -x); t <= min (r, w - 1 - x); t++) {
    const size_t j = row + x + t;
    const float f = taps[abs (t)] * norm[j];
    for (int k = 0; k < C8; k++)
      acc[k] += f * vload8 (k, q + j * CP);
  }
  for (int k = 0; k < C8; k++)
    vstore8 (acc[k], k, out + (row + x) * CP);
}

__kernel void
crf_lattice_message (__global const float *values, __global const int *off,
    __global const float *ws, int d1, __global float *out)
{
  const size_t i = get_global_id (0);
  float8 acc[C8];

  for (int k = 0; k < C8; k++)
    acc[k] = (float8) (0.0f);
  for (int j = 0; j < d1; j++) {
    __global const float *v = values + (size_t) off[i * d1 + j] * CP;
    const float w = ws[i * d1 + j];
    for (int k = 0; k < C8; k++)
      acc[k] += w * vload8 (k, v);
  }
  for (int k = 0; k < C8; k++)
    vstore8 (acc[k], k, out + i * CP);
}

/* t += sum_j wb_ij values_b[ob_ij] (the bilateral message of pixel i),
 * then Q[i] = softmax (t). */
inline void
slice_softmax (float8 * t, size_t i, __global const float *vb,
    __global const int *ob, __global const float *wb, __global float *q)
{
  for (int j = 0; j <= DB; j++) {
    __global const float *v = vb + (size_t) ob[i * (DB + 1) + j] * CP;
    const float w = wb[i * (DB + 1) + j];
    for (int k = 0; k < C8; k++)
      t[k] += w * vload8 (k, v);
  }
  softmax_store (t, q + i * CP);
}

__kernel void
crf_slice_softmax (__global const float *unary, __global const float *gval,
    float g_weight, __global const float *vb, __global const int *ob,
    __global const float *wb, __global float *q)
{
  const size_t i = get_global_id (0);
  float8 t[C8];

  for (int k = 0; k < C8; k++)
    t[k] = -vload8 (k, unary + i * CP) + g_weight * vload8 (k,
        gval + i * CP);
  slice_softmax (t, i, vb, ob, wb, q);
}

__kernel void
crf_gauss_y_slice_softmax (__global const float *unary,
    __global const float *gtmp, __global const float *norm,
    __constant float *taps, int r, float g_weight, __global const float *vb,
    __global const int *ob, __global const float *wb, __global float *q)
{
  const int x = get_global_id (0), y = get_global_id (1);
  const int w = get_global_size (0), h = get_global_size (1);
  const size_t i = (size_t) y * w + x;
  float8 acc[C8], t[C8];

  for (int k = 0; k < C8; k++)
    acc[k] = (float8) (0.0f);
  for (int s = max (-r, -y); s <= min (r, h - 1 - y); s++) {
    const float f = taps[abs (s)];
    for (int k = 0; k < C8; k++)
      acc[k] += f * vload8 (k, gtmp + ((size_t) (y + s) * w + x) * CP);
  }
  const float n = norm[i];
  for (int k = 0; k < C8; k++)
    t[k] = -vload8 (k, unary + i * CP) + g_weight * (n * acc[k]);
  slice_softmax (t, i, vb, ob, wb, q);
}

__kernel void
crf_argmax (__global const float *q, int n_classes, __global uchar * map,
    __global uchar * conf)
{
  const size_t i = get_global_id (0);
  __global const float *p = q + i * CP;
  float best_v = p[0];
  int best = 0;

  for (int k = 1; k < n_classes; k++)
    if (p[k] > best_v) {
      best_v = p[k];
      best = k;
    }
  map[i] = (uchar) best;
  if (conf)
    conf[i] = (uchar) fmin (255.0f * best_v + 0.5f, 255.0f);
}

/* deeplabseg kernels: dense CRF mean-field on permutohedral lattices
 * (gst/crf/crf.h has the maths and citations; gst/crf/crf.c is the C
 * reference these kernels are tested against; gst/crf/crf_cl.c drives
 * them).
 *
 * Per mean-field iteration, first the active classes (class pruning,
 * gst/crf/crf.h): those whose Q reaches eps somewhere get messages,
 * decided on the device:
 *   crf_class_max      cmax[c] = lane-wise max of Q over chunk c of the
 *                      pixels.   global: (chunks)
 *   crf_class_list     act (below) from the chunks' maxima; eps 0: every
 *                      class (then cmax is not read).   global: (1)
 *   crf_compact        qc[i] = Q[i]'s active classes (a gather by the
 *                      list, once, instead of in each of the splat's and
 *                      the x pass's reads); nothing when all are active
 *                      (the filters then read Q).   global: (pixels)
 * Every per-class array between Q and the slice (qc, tmp, gval, the
 * lattice values) holds the active classes compacted: lane k of a row is
 * class act[ACT_LIST + k], rows of R floats: 4 with at most 4 active
 * classes, else G float8 groups (G = the list's group count where
 * BY_GROUPS has a case for it, else C8); lanes past the count are
 * don't-care. The filters move a sixth of the bytes (21 classes) when at
 * most 4 are active, a third with 5-8. A row of 4 is computed in the low
 * lanes of a float8 (RLOAD, RSTORE), the same operations a lane as a
 * float8 row. Then the Gaussian
 * (position) kernel, exact and separable, normalisation n(i) folded in:
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
 *   crf_weights        once a frame a lattice: wt[e] = sw[e] n(pix[e])
 *                      over the gather lists (below; sw the barycentric
 *                      weights in list order) and ws[e] = b[e] n(i)
 *                      alpha weight over the points' corners (b their
 *                      barycentric weights; e = i d1 + j, point i's
 *                      corner j), n the lattice's normalisation;
 *                      products in this order (they were the host's).
 *                      global: (points), a work-item a point's d1
 *                      entries
 *   crf_splat          values[v] = sum over the points i splatting onto v
 *                      of wt * Q[i]: a gather over a CSR list built on
 *                      the host (start[v] .. start[v+1] into pix / wt,
 *                      points in increasing order), so no atomics.
 *                      global: (vertices + 1); row `vertices` is the
 *                      absent neighbour and comes out 0.
 *   crf_blur           one of the d + 1 directions:
 *                      out[v] = in[v] + 0.5 (in[n1] + in[n2]),
 *                      absent neighbours (-1) read the zero row m; the
 *                      neighbours of direction j start at nb_off = j * 2m.
 *                      global: (vertices + 1)
 * then both messages at once:
 *   crf_slice_softmax  t = -U[i] + g_weight gval[i]
 *                             + sum_j wb_ij values_b[ob_ij] on the active
 *                      classes, t = -U[i] on the others,
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
 * never win. Bilateral offsets and weights: DB + 1 per pixel. The active
 * classes, act (ints): act[ACT_GROUPS] float8 groups, act[ACT_COUNT]
 * classes, act[ACT_IDENT] 1 when they are all the classes (rows need no
 * gather), act[ACT_LIST + k] (k < CP) the k-th, increasing, 0 past the
 * count, act[ACT_POS + l] (l < CP) class l's position in the list, -1 when
 * it is not active.
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
/* The slice prefetches the bilateral vertex rows of the pixel this far
 * ahead: its six gathers scatter over the lattice values (4.4 MB on a
 * 320x240 DAVIS grid) and waited on the cache misses (40 % of the slice's
 * samples); 8 measured as good as 4-32 (docs/performance.md). */
#define SLICE_AHEAD 8
/* A cache-line prefetch with clang's builtin (PoCL compiles with clang);
 * other OpenCL compilers get none (the slice is correct either way). */
#ifdef __clang__
#define PREFETCH(p) __builtin_prefetch (p)
#else
#define PREFETCH(p) ((void) (p))
#endif

#define ACT_GROUPS 0
#define ACT_COUNT 1
#define ACT_IDENT 2
#define ACT_LIST 4
#define ACT_POS (ACT_LIST + CP)

/* LANES (a, l): lane i is a's lane l.si (l: uint8, each < 8), i.e.
 * shuffle (a, l). With a variable mask PoCL lowers shuffle through the
 * stack (an extract and an insert a lane, 54 in the slice); with AVX2
 * (PoCL's CPU device defines __AVX2__ when the host has it) one vpermps:
 * the slice -10..-20 %, the lanes moved the same (docs/performance.md). */
#ifdef __AVX2__
#define LANES(a, l) as_float8 (__builtin_ia32_permvarsf256 ((a), \
          as_int8 (l)))
#else
#define LANES(a, l) shuffle ((a), (l))
#endif

/* The k-th float8 group of the active classes of @row (CP floats). */
inline __attribute__ ((always_inline)) float8
act_load (__global const float *row, int k, __global const int *act,
    int ident)
{
  if (ident)
    return vload8 (k, row);
  const int8 ix = vload8 (k, act + ACT_LIST);
#ifdef __AVX2__
  /* by permutes of the row's groups: no scalar loads */
  const uint8 lane = as_uint8 (ix & 7);
  float8 v = LANES (vload8 (0, row), lane);
  for (int g = 1; g < C8; g++)
    v = select (v, LANES (vload8 (g, row), lane), (ix >> 3) == g);
  return v;
#else
  return (float8) (row[ix.s0], row[ix.s1], row[ix.s2], row[ix.s3],
      row[ix.s4], row[ix.s5], row[ix.s6], row[ix.s7]);
#endif
}

/* cmax[c] = max of Q over the pixels [c n / chunks, (c + 1) n / chunks). */
__kernel void
crf_class_max (__global const float *q, int n, __global float *cmax)
{
  const int c = get_global_id (0), chunks = get_global_size (0);
  const int i0 = (int) ((long) c * n / chunks);
  const int i1 = (int) ((long) (c + 1) * n / chunks);
  float8 mx[C8];

  for (int k = 0; k < C8; k++)
    mx[k] = (float8) (0.0f);
  for (int i = i0; i < i1; i++)
    for (int k = 0; k < C8; k++)
      mx[k] = fmax (mx[k], vload8 (k, q + (size_t) i * CP));
  for (int k = 0; k < C8; k++)
    vstore8 (mx[k], k, cmax + (size_t) c * CP);
}

/* act (see the banner): the classes l < nc with max_c cmax[c][l] >= eps,
 * every class when eps <= 0. */
__kernel void
crf_class_list (__global const float *cmax, int chunks, float eps, int nc,
    __global int *act)
{
  int na = 0;

  for (int l = 0; l < CP; l++) {
    float m = 0.0f;
    if (eps > 0.0f)
      for (int c = 0; c < chunks; c++)
        m = fmax (m, cmax[c * CP + l]);
    act[ACT_POS + l] = -1;
    if (l < nc && (eps <= 0.0f || m >= eps)) {
      act[ACT_POS + l] = na;
      act[ACT_LIST + na++] = l;
    }
  }
  for (int k = na; k < CP; k++)
    act[ACT_LIST + k] = 0;
  act[ACT_GROUPS] = (na + 7) / 8;
  act[ACT_COUNT] = na;
  act[ACT_IDENT] = na == nc;
}

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
crf_weights (__global const float *sw, __global const int *pix,
    __global const float *b, __global const float *norm, int d1,
    float alpha, float weight, __global float *wt, __global float *ws)
{
  const size_t i = get_global_id (0);
  const float ni = norm[i];

  /* a point's d1 entries: no division by d1 to find the point */
  for (size_t e = i * d1; e < (i + 1) * d1; e++) {
    wt[e] = sw[e] * norm[pix[e]];
    ws[e] = b[e] * ni * alpha * weight;
  }
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

/* Runs CALL with R (floats a row of the per-class arrays, a constant:
 * 4, or G float8 groups, 8 G) and I (1: the active classes are all the
 * classes, rows are read without a gather) for the list in act: the loops
 * over the groups unroll, with no test inside. Lanes past the count are
 * don't-care, so a count with no case of its own runs with R = CP. At most
 * 4 active classes: rows of 4 floats (half the bytes of a float8 row), held
 * in the low lanes of one float8 (RLOAD: high lanes 0; RSTORE: the low
 * ones), so the arithmetic a lane is the float8 rows' bit for bit. */
#define GMAX (C8 > 2 ? C8 : 2)
#define BY_GROUPS(act, CALL) do { \
    const int n8_ = act[ACT_GROUPS], n4_ = act[ACT_COUNT] <= 4; \
    if (act[ACT_IDENT] && C8 == 1 && n4_) { const int R = 4, I = 1; CALL; } \
    else if (act[ACT_IDENT]) { const int R = CP, I = 1; CALL; } \
    else if (n4_) { const int R = 4, I = 0; CALL; } \
    else if (n8_ == 1) { const int R = 8, I = 0; CALL; } \
    else if (C8 > 2 && n8_ == 2) { const int R = 16, I = 0; CALL; } \
    else { const int R = CP, I = 0; CALL; } } while (0)

/* The float8 groups of a row of R floats; group k of row p into a float8,
 * and back (R = 4: the low half, high lanes 0). */
#define GROUPS(R) (((R) + 7) / 8)
#define RLOAD(R, k, p) ((R) == 4 ? (float8) (vload4 (0, (p)), \
        (float4) (0.0f)) : vload8 ((k), (p)))
#define RSTORE(R, v, k, p) do { if ((R) == 4) vstore4 ((v).lo, 0, (p)); \
    else vstore8 ((v), (k), (p)); } while (0)

/* The filters' input: Q itself when every class is active (rows of CP),
 * else Q compacted by crf_compact (rows of R). */
#define QROW(I, q, qc, i, R) ((I) ? (q) + (size_t) (i) * CP \
    : (qc) + (size_t) (i) * (R))

inline __attribute__ ((always_inline)) void
compact_rows (const int R, __global const float *q, __global float *qc,
    size_t i, __global const int *act)
{
  for (int k = 0; k < GROUPS (R); k++)
    RSTORE (R, act_load (q + i * CP, k, act, 0), k, qc + i * R);
}

/* qc[i] = Q[i]'s active classes (nothing to do when all are). */
__kernel void
crf_compact (__global const float *q, __global float *qc,
    __global const int *act)
{
  const size_t i = get_global_id (0);

  if (!act[ACT_IDENT])
    BY_GROUPS (act, compact_rows (R, q, qc, i, act));
}

inline __attribute__ ((always_inline)) void
splat_rows (const int R, const int I, __global const float *q,
    __global const float *qc, __global const int *pix,
    __global const float *wt, int e0, int e1, __global float *out)
{
  float8 acc[GMAX];

  for (int k = 0; k < GROUPS (R); k++)
    acc[k] = (float8) (0.0f);
  for (int e = e0; e < e1; e++) {
    __global const float *qi = QROW (I, q, qc, pix[e], R);
    const float w = wt[e];
    for (int k = 0; k < GROUPS (R); k++)
      acc[k] += w * RLOAD (R, k, qi);
  }
  for (int k = 0; k < GROUPS (R); k++)
    RSTORE (R, acc[k], k, out);
}

__kernel void
crf_splat (__global const float *q, __global const float *qc,
    __global const int *start, __global const int *pix,
    __global const float *wt, __global float *values, int count,
    __global const int *act)
{
  const int v = get_global_id (0);
  if (v >= count)
    return;                     /* the global size is padded (host) */
  const int e0 = start[v], e1 = start[v + 1];

  BY_GROUPS (act, splat_rows (R, I, q, qc, pix, wt, e0, e1,
          values + (size_t) v * R));
}

inline __attribute__ ((always_inline)) void
blur_rows (const int R, __global const float *in, __global float *out,
    __global const int *nb, int nb_off, int m, int v)
{
  __global float *o = out + (size_t) v * R;

  if (v == m) {
    for (int k = 0; k < GROUPS (R); k++)
      RSTORE (R, (float8) (0.0f), k, o);
    return;
  }
  __global const float *a = in + (size_t) v * R;
  const int n1 = nb[nb_off + 2 * v], n2 = nb[nb_off + 2 * v + 1];
  __global const float *b1 = in + (size_t) (n1 < 0 ? m : n1) * R;
  __global const float *b2 = in + (size_t) (n2 < 0 ? m : n2) * R;
  for (int k = 0; k < GROUPS (R); k++)
    RSTORE (R, RLOAD (R, k, a) + 0.5f * (RLOAD (R, k, b1)
            + RLOAD (R, k, b2)), k, o);
}

__kernel void
crf_blur (__global const float *in, __global float *out,
    __global const int *nb, int nb_off, int m, __global const int *act)
{
  const int v = get_global_id (0);

  if (v > m)
    return;                     /* the global size is padded (host) */
  BY_GROUPS (act, blur_rows (R, in, out, nb, nb_off, m, v));
}

inline __attribute__ ((always_inline)) void
gauss_x_rows (const int R, const int I, __global const float *q,
    __global const float *qc, __global const float *norm,
    __constant float *taps, int r, int x, int w, size_t row,
    __global float *out)
{
  float8 acc[GMAX];

  for (int k = 0; k < GROUPS (R); k++)
    acc[k] = (float8) (0.0f);
  for (int t = max (-r, -x); t <= min (r, w - 1 - x); t++) {
    const size_t j = row + x + t;
    const float f = taps[abs (t)] * norm[j];
    for (int k = 0; k < GROUPS (R); k++)
      acc[k] += f * RLOAD (R, k, QROW (I, q, qc, j, R));
  }
  for (int k = 0; k < GROUPS (R); k++)
    RSTORE (R, acc[k], k, out + (row + x) * R);
}

__kernel void
crf_gauss_x (__global const float *q, __global const float *qc,
    __global const float *norm, __constant float *taps, int r,
    __global float *out, __global const int *act)
{
  const int x = get_global_id (0), y = get_global_id (1);
  const int w = get_global_size (0);

  BY_GROUPS (act, gauss_x_rows (R, I, q, qc, norm, taps, r, x, w,
          (size_t) y * w, out));
}

inline __attribute__ ((always_inline)) void
message_rows (const int R, __global const float *values,
    __global const int *off, __global const float *ws, int d1, size_t i,
    __global float *out)
{
  float8 acc[GMAX];

  for (int k = 0; k < GROUPS (R); k++)
    acc[k] = (float8) (0.0f);
  for (int j = 0; j < d1; j++) {
    __global const float *v = values + (size_t) off[i * d1 + j] * R;
    const float w = ws[i * d1 + j];
    for (int k = 0; k < GROUPS (R); k++)
      acc[k] += w * RLOAD (R, k, v);
  }
  for (int k = 0; k < GROUPS (R); k++)
    RSTORE (R, acc[k], k, out + i * R);
}

__kernel void
crf_lattice_message (__global const float *values, __global const int *off,
    __global const float *ws, int d1, __global float *out,
    __global const int *act)
{
  const size_t i = get_global_id (0);

  BY_GROUPS (act, message_rows (R, values, off, ws, d1, i, out));
}

/* tc (the active classes' t, GROUPS (R) float8) += sum_j wb_ij values_b[ob_ij]
 * (the bilateral message of pixel i of n); t = -U[i] with tc put in the
 * active classes' lanes; Q[i] = softmax (t). */
inline __attribute__ ((always_inline)) void
slice_softmax (const int R, const int I, float8 * tc, size_t i, size_t n,
    __global const float *unary, __global const float *vb,
    __global const int *ob, __global const float *wb,
    __global const int *act, __global float *q)
{
  float8 t[C8];

  if (i + SLICE_AHEAD < n)
    for (int j = 0; j <= DB; j++)
      PREFETCH (vb + (size_t) ob[(i + SLICE_AHEAD) * (DB + 1) + j] * R);
  for (int j = 0; j <= DB; j++) {
    __global const float *v = vb + (size_t) ob[i * (DB + 1) + j] * R;
    const float w = wb[i * (DB + 1) + j];
    for (int k = 0; k < GROUPS (R); k++)
      tc[k] += w * RLOAD (R, k, v);
  }
  if (I) {
    for (int k = 0; k < C8; k++)
      t[k] = tc[k];
  } else {
    /* Lane l of group g: tc's lane pos (l) if active, else -U; by
     * shuffles in registers (scalar stores into an array read back as
     * vectors stalled the store forwarding: a fifth of the kernel). */
    for (int g = 0; g < C8; g++) {
      const int8 pos = vload8 (g, act + ACT_POS);
      const uint8 lane = as_uint8 (pos & 7);
      float8 v = -vload8 (g, unary + i * CP);

      for (int k = 0; k < GROUPS (R); k++)
        v = select (v, LANES (tc[k], lane), (pos >> 3) == k);
      t[g] = v;
    }
  }
  softmax_store (t, q + i * CP);
}

inline __attribute__ ((always_inline)) void
slice_rows (const int R, const int I, size_t i, __global const float *unary,
    __global const float *gval, float g_weight, __global const float *vb,
    __global const int *ob, __global const float *wb, __global float *q,
    __global const int *act)
{
  const size_t n = get_global_size (0);
  float8 tc[GMAX];

  for (int k = 0; k < GROUPS (R); k++)
    tc[k] = -act_load (unary + i * CP, k, act, I)
        + g_weight * RLOAD (R, k, gval + i * R);
  slice_softmax (R, I, tc, i, n, unary, vb, ob, wb, act, q);
}

__kernel void
crf_slice_softmax (__global const float *unary, __global const float *gval,
    float g_weight, __global const float *vb, __global const int *ob,
    __global const float *wb, __global float *q, __global const int *act)
{
  const size_t i = get_global_id (0);

  BY_GROUPS (act, slice_rows (R, I, i, unary, gval, g_weight, vb, ob, wb, q,
          act));
}

inline __attribute__ ((always_inline)) void
gauss_y_slice_rows (const int R, const int I, int x, int y, int w, int h,
    __global const float *unary, __global const float *gtmp,
    __global const float *norm, __constant float *taps, int r,
    float g_weight, __global const float *vb, __global const int *ob,
    __global const float *wb, __global float *q, __global const int *act)
{
  const size_t i = (size_t) y * w + x, np = (size_t) w * h;
  float8 acc[GMAX], tc[GMAX];

  for (int k = 0; k < GROUPS (R); k++)
    acc[k] = (float8) (0.0f);
  for (int s = max (-r, -y); s <= min (r, h - 1 - y); s++) {
    const float f = taps[abs (s)];
    for (int k = 0; k < GROUPS (R); k++)
      acc[k] += f * RLOAD (R, k, gtmp + ((size_t) (y + s) * w + x)
          * R);
  }
  const float n = norm[i];
  for (int k = 0; k < GROUPS (R); k++)
    tc[k] = -act_load (unary + i * CP, k, act, I) + g_weight * (n * acc[k]);
  slice_softmax (R, I, tc, i, np, unary, vb, ob, wb, act, q);
}

__kernel void
crf_gauss_y_slice_softmax (__global const float *unary,
    __global const float *gtmp, __global const float *norm,
    __constant float *taps, int r, float g_weight, __global const float *vb,
    __global const int *ob, __global const float *wb, __global float *q,
    __global const int *act)
{
  const int x = get_global_id (0), y = get_global_id (1);
  const int w = get_global_size (0), h = get_global_size (1);

  BY_GROUPS (act, gauss_y_slice_rows (R, I, x, y, w, h, unary, gtmp, norm,
          taps, r, g_weight, vb, ob, wb, q, act));
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

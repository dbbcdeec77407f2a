/* deeplabseg kernels: convolutions.
 *
 * Layout: activations are NHWC (N = 1) float32 with the channel count padded
 * to a multiple of 4 (Cp); padded lanes hold finite values that never reach
 * a real channel (their weights are 0). Every activation buffer has at
 * least 64 bytes of slack after its last pixel, so a vector load that runs
 * past the last channel group stays inside the buffer. Weights are repacked
 * once by the host (gst/backend/opencl.c) into the layouts below.
 *
 *   conv1x1    1x1, stride 1, no padding: a GEMM over the H*W pixels;
 *              with has_res, then + a residual `res` (same layout as out)
 *              and a second clamp (lo2, hi2): an ADD fused into its
 *              producer (one kernel for both: one work-group function
 *              for PoCL to compile at a cold start).
 *              w: [Cop/TCO][Cip][TCO], bias: [Cop/TCO * TCO]
 *              global: (ceil(H*W / TP) rounded up to the local size,
 *              Cop/TCO). Work-groups go in panel order: consecutive
 *              groups share one panel of local-size x TP pixels and walk
 *              its channel blocks, so the panel's inputs stay in cache
 *              while the weights stream (in grid order every channel
 *              block streamed the whole input again).
 *   conv2d     any kernel, stride, dilation and padding. Without
 *              dilation, a row of taps that lies wholly inside the input
 *              for the tile is one loop over kw * cip consecutive floats
 *              (no per-tap bounds masks); tiles at the edges take the
 *              masked loop.
 *              w: [Cop/TCO][KH][KW][Cip][TCO], bias as conv1x1
 *              global: (ceil(OW / TP), OH, Cop/TCO)
 *   depthwise  any kernel, stride, dilation, padding; depth multiplier
 *   depthwise_mult  M = 1 (depthwise) or any M (output channel o reads
 *              input channel o / M).
 *              w: [KH][KW][ceil(Cop/DWC)*DWC], bias: [ceil(Cop/DWC)*DWC]
 *              global: (ceil(OW / DWP) rounded up to the local size, OH,
 *              ceil(Cop / DWC)): one local size for every layer (one
 *              work-group function to compile); tiles past OW store
 *              nothing
 *   dw_conv1x1  depthwise (M = 1) then the conv1x1 that is its only
 *              reader, one step; the depthwise's output stays in __local
 *              memory (the panel, DFP * Cip floats). Optionally (has_pw2)
 *              a second pointwise conv that reads `out` (the next block's
 *              expansion), run over the same panel after the first (pw2:
 *              `out` is still written whole, for its other readers).
 *              With kh = 0 there is no depthwise: the panel takes a copy
 *              of the rows of `in` (the conv1x1's input, Cip floats a
 *              pixel), so a conv1x1 and its pw2 reader run as one step.
 *              Weights: depthwise's and conv1x1's layouts.
 *              The steps' arguments are not kernel arguments but rows of
 *              a table (DWF_PARAMS, one 64-bit slot each), so that one
 *              launch runs several consecutive steps: steps `first` ..
 *              `first + n_steps - 1`. Work-group g computes panel p of a
 *              step, output pixels p * DFP .. p * DFP + DFP - 1: first its
 *              own run of panels, then the highest panels nobody has
 *              claimed (`sync` holds a mark and a done flag a panel,
 *              compared with the run's `epoch`), then waits for every
 *              panel of the step before the next step. A group waits
 *              only for claimed panels, so any number of groups running
 *              at once finishes the launch (see the kernel).
 *              global: (G), local: (1), G the device's compute units
 *   pool_conv1x1  a global average pool (one output pixel whose window
 *              covers the input), the 1-pixel pointwise conv that is its
 *              only reader, and optionally (has_fold) the first bias
 *              stage of a CONCAT folded into a later pointwise conv (the
 *              conv's output its first broadcast input; DeepLab's ASPP
 *              image pooling), one step. Arguments: the pool's input,
 *              its pixel count n_in, Cip, the pool's clamp, its output
 *              `pooled` (Cip floats, written); conv1x1's weights, bias,
 *              output, Cop and clamp; has_fold, the folded conv's
 *              weights of the broadcast's channels (conv1x1's layout,
 *              Cip = this conv's Cop), its own bias and the per-frame
 *              bias it writes (fcop = Cop/TCO * TCO floats), no clamp.
 *              The pool sums in pixel order and divides by n_in (bit for
 *              bit eltwise.cl's pool), PLG float16 channel groups a pass;
 *              the two convs are pw2_panel() on one pixel (bit for bit
 *              conv1x1's). global: (1), local: (1)
 *
 * Each work-item owns a tile of output pixels x output channels held in
 * vector registers (one named variable per pixel, unrolled by the REP
 * macros: PoCL leaves an array of vectors in memory). conv1x1 and conv2d
 * walk the input channels one at a time: one TCO-wide weight load and TP
 * broadcast FMAs per step, the shape of a register-tiled GEMM micro-kernel.
 * The pointwise convs (conv1x1, dw_conv1x1's and pool_conv1x1's) compute a
 * last channel block of at most TCO / 2 channels (a 16 -> 8 conv) with
 * TCO / 2 lanes: the first half of each weight row (same layout), half
 * the FMAs, the same bits.
 * One output per work-item is the slow path on CPU devices (DESIGN.md).
 * Every kernel ends with the fused bias and activation: clamp(x, lo, hi).
 * Products are summed in the order of the C reference (fma per input
 * channel, taps in row-major order).
 *
 * -D options (the host's tuning table is the source of truth):
 *   TP   output pixels per work-item, conv1x1/conv2d: 1..16   (default 4)
 *   TCO  output channels per work-item: 4, 8 or 16            (default 8)
 *        (conv1x1's narrow last block: TCO / 2 lanes, TCO 8 or 16)
 *   DWP  output pixels per work-item, depthwise: 1..16        (default 4)
 *   DWC  channels per work-item, depthwise: 4, 8 or 16        (default 4)
 *   DFP  pixels a work-group of dw_conv1x1, a multiple of TP   (default 48)
 */

#ifndef TP
#define TP 4
#endif
#ifndef TCO
#define TCO 8
#endif
/* The lanes of a conv1x1 tile in a last channel block of at most TCOH
 * channels (C1_LANES); TCO itself when TCO is 4. */
#if TCO == 16
#define TCOH 8
#elif TCO == 8
#define TCOH 4
#else
#define TCOH TCO
#endif
#ifndef DWP
#define DWP 4
#endif
#ifndef DWC
#define DWC 4
#endif
#ifndef DFP
#define DFP 48
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define floatT CAT(float, TCO)
#define vloadT CAT(vload, TCO)
#define vstoreT CAT(vstore, TCO)
#define floatC CAT(float, DWC)
#define vloadC CAT(vload, DWC)
#define vstoreC CAT(vstore, DWC)

/* REPA(n, X, a): X(0, a) X(1, a) ... X(n - 1, a), for n = 1..16;
 * REP(n, X): X(0) X(1) ... X(n - 1). */
#define REP1(X, a) X(0, a)
#define REP2(X, a) REP1(X, a) X(1, a)
#define REP3(X, a) REP2(X, a) X(2, a)
#define REP4(X, a) REP3(X, a) X(3, a)
#define REP5(X, a) REP4(X, a) X(4, a)
#define REP6(X, a) REP5(X, a) X(5, a)
#define REP7(X, a) REP6(X, a) X(6, a)
#define REP8(X, a) REP7(X, a) X(7, a)
#define REP9(X, a) REP8(X, a) X(8, a)
#define REP10(X, a) REP9(X, a) X(9, a)
#define REP11(X, a) REP10(X, a) X(10, a)
#define REP12(X, a) REP11(X, a) X(11, a)
#define REP13(X, a) REP12(X, a) X(12, a)
#define REP14(X, a) REP13(X, a) X(13, a)
#define REP15(X, a) REP14(X, a) X(14, a)
#define REP16(X, a) REP15(X, a) X(15, a)
#define REPA(n, X, a) CAT(REP, n)(X, a)
#define REP(n, X) REPA(n, REP_CALL, X)
#define REP_CALL(i, X) X(i)

/* The fused activation, as the C reference's clamp_act: comparisons, so a
 * NaN reaches the output; one vmaxps and one vminps a vector, where
 * clamp() costs PoCL a NaN test and a blend besides. */
#define ACT(v, lo, hi) act_min_max ((v), (lo), (hi))
#define ACT_FN(T) inline T __attribute__ ((overloadable)) \
  act_min_max (T v, float lo, float hi) \
  { v = v < lo ? (T) (lo) : v; return v > hi ? (T) (hi) : v; }
ACT_FN (float4)
ACT_FN (float8)
ACT_FN (float16)

/* Stores the 4-channel groups of a tile of N = 4, 8 or 16 lanes that exist
 * (at most @n_c channels), through float4 pointers (a group is 16-byte
 * aligned; PoCL lowers vstore8 / vstore16 to 64-bit scalar stores), with
 * no private array (PoCL would put one on the stack). */
#define STORE_GROUPS(N, v, dst, n_c) STORE_GROUPS_AS (__global, N, v, dst, n_c)
#define STORE_GROUPS_AS(AS, N, v, dst, n_c) do { \
    const float16 v16_ = CAT (STORE_WIDEN, N) (v); \
    AS float4 *d4_ = (AS float4 *) (dst); \
    d4_[0] = v16_.s0123; \
    if ((n_c) >= N) { \
      if (N > 4) d4_[1] = v16_.s4567; \
      if (N > 8) d4_[2] = v16_.s89ab; \
      if (N > 8) d4_[3] = v16_.scdef; \
    } else { \
      if ((n_c) > 4) d4_[1] = v16_.s4567; \
      if ((n_c) > 8) d4_[2] = v16_.s89ab; \
    } \
  } while (0)
#define STORE_WIDEN4(v) ((float16) ((v), (v), (v), (v)))
#define STORE_WIDEN8(v) ((float16) ((v), (v)))
#define STORE_WIDEN16(v) (v)

/* conv1x1, with or without a residual ADD fused into it (out =
 * clamp(clamp(acc, lo, hi) + res, lo2, hi2)), on a tile of TP pixels x N
 * lanes of channel block cb (weights wp, bias b from C1_BIAS). The
 * residual's tile is read whole (lanes past cop stay in the pixel or the
 * buffer's slack and are never stored). */
#define C1_DECL(i, N) CAT (float, N) acc##i = b; \
  C1_AS const float *row##i = C1_ROW (min (p0 + i, n_pix - 1));
#define C1_FMA(i, N) \
  acc##i = fma ((CAT (float, N)) (row##i[c]), wv, acc##i);
#define C1_STORE(i, N) if (p0 + i < n_pix) { \
    const size_t o = (size_t) (p0 + i) * cop + cb * TCO; \
    CAT (float, N) v = ACT (acc##i, lo, hi); \
    if (has_res) \
      v = ACT (v + CAT (vload, N) (0, res + o), lo2, hi2); \
    STORE_GROUPS (N, v, out + o, cop - cb * TCO); \
  }

#define C1_BIAS(N) \
  const CAT (float, N) b = CAT (vload, N) (0, bias + cb * TCO);
#define C1_TILE(N) \
  REPA (TP, C1_DECL, N) \
  for (int c = 0; c < cip; c++) { \
    const CAT (float, N) wv = CAT (vload, N) (0, wp + (size_t) c * TCO); \
    REPA (TP, C1_FMA, N) \
  } \
  REPA (TP, C1_STORE, N)
/* X (N) after C1_BIAS (N): N = TCOH when block cb is a last one of at
 * most TCOH channels (a 16 -> 8 conv, the logits' 21 = 16 + 5), which
 * reads the first TCOH lanes of each TCO-wide weight row (half the FMAs
 * of a full tile, the same ones in the same order: the same bits),
 * else N = TCO. */
#define C1_LANES(X) \
  if (TCOH < TCO && cop - cb * TCO <= TCOH) { \
    C1_BIAS (TCOH) X (TCOH) \
  } else { \
    C1_BIAS (TCO) X (TCO) \
  }
/* conv1x1 reads pixel p's row of the input. */
#define C1_AS __global
#define C1_ROW(p) (in + (size_t) (p) * cip)

__kernel void
conv1x1 (__global const float *restrict in, int cip, int n_pix,
    __global const float *restrict w, __global const float *restrict bias,
    __global float *restrict out, int cop, float lo, float hi,
    int has_res, __global const float *restrict res, float lo2, float hi2)
{
  /* Work-groups in panel order (see the banner): group g, counted as
   * the device numbers them, takes channel block g % n_cb of pixel panel
   * g / n_cb. */
  const int n_cb = get_num_groups (1);
  const int g = get_group_id (1) * get_num_groups (0) + get_group_id (0);
  const int cb = g % n_cb;
  const int p0 = ((g / n_cb) * get_local_size (0) + get_local_id (0)) * TP;
  /* Tiles past the last pixel (the grid is rounded up to the local size):
   * nothing to store. A 1-pixel conv (image pooling, a folded bias) has
   * 13 such work-items of 14. */
  if (p0 >= n_pix)
    return;
  __global const float *wp = w + (size_t) cb * cip * TCO;
  C1_LANES (C1_TILE)
}

/* conv1x1's micro-kernel over the panel of pixels q0 .. q1 - 1 of a
 * dw_conv1x1 work-group (q1 - q0 <= DFP), channel block after channel
 * block, so each block's weights (pw) stay in cache for the panel's
 * DFP / TP tiles; rows from C1_ROW. */
#define C1_PANEL \
  for (int cb = 0; cb < (cop + TCO - 1) / TCO; cb++) { \
    __global const float *wp = pw + (size_t) cb * cip * TCO; \
    C1_LANES (C1_TILES) \
  }
#define C1_TILES(N) \
  for (int p0 = q0; p0 < q1; p0 += TP) { \
    C1_TILE (N) \
  }

/* dw_conv1x1's second pointwise conv (pw2): C1_PANEL reading the panel's
 * rows of @in, which this work-item has just written (still in cache); no
 * residual. The values are bit for bit conv1x1's. */
inline void
pw2_panel (__global const float *restrict in, int cip, int q0, int q1,
    int n_pix, __global const float *restrict pw,
    __global const float *restrict bias, __global float *restrict out,
    int cop, float lo, float hi)
{
  const int has_res = 0;
  __global const float *res = out;
  const float lo2 = 0.0f, hi2 = 0.0f;

  C1_PANEL
}
#undef C1_AS
#undef C1_ROW

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

#define C2_DECL(i) floatT acc##i = b;
  REP (TP, C2_DECL)
  for (int ky = 0; ky < kh; ky++) {
    const int iy = y * sh - pt + ky * dh;
    if (iy < 0 || iy >= ih)
      continue;
    /* Without dilation, a pixel's taps along a row are kw * cip
     * consecutive floats, and so are their weights: when every tap of the
     * tile lies inside the row, one loop over them, the conv1x1 micro-kernel
     * (the same products in the same order as below). */
    if (dw == 1 && x0 * sw - pl >= 0
        && (x0 + TP - 1) * sw - pl + kw - 1 < iw) {
      __global const float *wp = w + (size_t) (cb * kh + ky) * kw * cip * TCO;
#define C2_ROW(i) __global const float *row##i = \
          in + ((size_t) iy * iw + (x0 + i) * sw - pl) * cip;
      REP (TP, C2_ROW)
      for (int j = 0; j < kw * cip; j++) {
        const floatT wv = vloadT (j, wp);
#define C2_FMA_ROW(i) acc##i = fma ((floatT) (row##i[j]), wv, acc##i);
        REP (TP, C2_FMA_ROW)
      }
      continue;
    }
    for (int kx = 0; kx < kw; kx++) {
      __global const float *wp =
          w + ((size_t) (cb * kh + ky) * kw + kx) * cip * TCO;
      /* Out-of-image taps read pixel 0 and weigh it by 0. */
#define C2_SRC(i) const int ix##i = (x0 + i) * sw - pl + kx * dw; \
      const int ok##i = ix##i >= 0 && ix##i < iw; \
      const float m##i = ok##i ? 1.0f : 0.0f; \
      __global const float *src##i = \
          in + ((size_t) iy * iw + (ok##i ? ix##i : 0)) * cip;
      REP (TP, C2_SRC)
      for (int c = 0; c < cip; c++) {
        const floatT wv = vloadT (c, wp);
#define C2_FMA(i) acc##i = fma ((floatT) (src##i[c] * m##i), wv, acc##i);
        REP (TP, C2_FMA)
      }
    }
  }
#define C2_STORE(i) if (x0 + i < ow) \
    STORE_GROUPS (TCO, ACT (acc##i, lo, hi), \
        out + ((size_t) y * ow + x0 + i) * cop + cb * TCO, cop - cb * TCO);
  REP (TP, C2_STORE)
}

/* Depthwise, M = 1 (depthwise) or any M (depthwise_mult, which gathers
 * input channel (c0 + lane) / M lane by lane): one body, two kernels (each
 * defines DW_LOAD), so the common case carries no gather code. */
#define DW_BODY \
  const int x0 = get_global_id (0) * DWP; \
  const int y = get_global_id (1); \
  const int c0 = get_global_id (2) * DWC; \
  const int wstride = (cop + DWC - 1) / DWC * DWC; \
  const floatC b = vloadC (0, bias + c0); \
  DW_TILE \
  REP (DWP, DW_STORE)
/* The accumulators acc0.. of the DWP pixels (x0 + i, y), channels c0.. */
#define DW_TILE \
  REP (DWP, DW_DECL) \
  for (int ky = 0; ky < kh; ky++) { \
    const int iy = y * sh - pt + ky * dh; \
    __global const float *row; \
    if (iy < 0 || iy >= ih) \
      continue; \
    row = in + (size_t) iy * iw * cip; \
    for (int kx = 0; kx < kw; kx++) { \
      const floatC wv = vloadC (0, w + (ky * kw + kx) * wstride + c0); \
      REP (DWP, DW_FMA) \
    } \
  }
#define DW_DECL(i) floatC acc##i = b;
#define DW_FMA(i) { const int ix = (x0 + i) * sw - pl + kx * dw; \
    if (ix >= 0 && ix < iw) \
      acc##i = fma (DW_LOAD (row + (size_t) ix * cip), wv, acc##i); }
#define DW_STORE(i) if (x0 + i < ow) \
    STORE_GROUPS (DWC, ACT (acc##i, lo, hi), \
        out + ((size_t) y * ow + x0 + i) * cop + c0, cop - c0);

#define DW_ARGS \
    __global const float *restrict in, int ih, int iw, int cip, \
    int mult, __global const float *restrict w, \
    __global const float *restrict bias, __global float *restrict out, \
    int oh, int ow, int cop, int kh, int kw, int sh, int sw, int dh, int dw, \
    int pt, int pl, float lo, float hi

#define DW_LOAD(px) vloadC (0, (px) + c0)

__kernel void
depthwise (DW_ARGS)
{
  DW_BODY
}
#undef DW_LOAD

inline floatC
gather_input (__global const float *px, int c0, int mult, int cip)
{
  float tmp[DWC];

  for (int l = 0; l < DWC; l++)
    tmp[l] = px[min ((c0 + l) / mult, cip - 1)];
  return vloadC (0, tmp);
}

#define DW_LOAD(px) gather_input ((px), c0, mult, cip)

__kernel void
depthwise_mult (DW_ARGS)
{
  DW_BODY
}
#undef DW_LOAD

/* dw_conv1x1: a depthwise (M = 1) and the pointwise conv1x1 that is its
 * only reader, in one step: the depthwise output never reaches global
 * memory. dw_panel() computes the panel of DFP consecutive output pixels
 * p * DFP ..: first the depthwise of the panel's pixels,
 * every channel, into @panel (__local, [DFP][cip], the layout of the
 * depthwise's output buffer), DWP pixels of a row x DWC channels at a
 * time (DW_TILE: the taps, bias and clamp of depthwise, so the values are
 * bit for bit the unfused step's); then conv1x1's micro-kernel over the
 * panel (C1_PANEL), with has_res the fused residual ADD as conv1x1; then,
 * with has_pw2, the pointwise conv that reads `out` over the same pixels
 * (pw2_panel(): pointwise convs are pixel-local, so a panel needs only
 * its own rows of `out`, which this work-item has just stored). */
#define DW_LOAD(px) vloadC (0, (px) + c0)
#define DWF_STORE(i) if (i < n) \
    STORE_GROUPS_AS (__local, DWC, ACT (acc##i, dlo, dhi), \
        dst + i * cip + c0, cip - c0);
#define C1_AS __local
#define C1_ROW(p) (panel + (size_t) ((p) - q0) * cip)
#if DFP % TP
#error DFP must be a multiple of TP (a tile never crosses a panel)
#endif

/* One step's arguments, as dw_panel() takes them and as the host's step
 * table holds them (opencl.c, DwfSlot: a 64-bit slot each, in this
 * order; pointers as the device's addresses, ints as themselves, floats
 * as their bits). */
#define DWF_PARAMS \
    __global const float *restrict in, int ih, int iw, int cip, \
    __global const float *restrict w, __global const float *restrict dbias, \
    int ow, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl, \
    float dlo, float dhi, int n_pix, \
    __global const float *restrict pw, __global const float *restrict bias, \
    __global float *restrict out, int cop, float lo, float hi, \
    int has_res, __global const float *restrict res, float lo2, float hi2, \
    int has_pw2, __global const float *restrict pw2, \
    __global const float *restrict bias2, __global float *restrict out2, \
    int cop2, float lo3, float hi3
#define DWF_SLOTS 36            /* the 35 above and the step's sync offset */
#define DWF_P(T, i) ((__global T *) a[i])
#define DWF_I(i) ((int) a[i])
#define DWF_F(i) as_float ((uint) a[i])
#define DWF_FROM_TABLE \
  DWF_P (const float, 0), DWF_I (1), DWF_I (2), DWF_I (3), \
  DWF_P (const float, 4), DWF_P (const float, 5), DWF_I (6), DWF_I (7), \
  DWF_I (8), DWF_I (9), DWF_I (10), DWF_I (11), DWF_I (12), DWF_I (13), \
  DWF_I (14), DWF_F (15), DWF_F (16), DWF_I (17), DWF_P (const float, 18), \
  DWF_P (const float, 19), DWF_P (float, 20), DWF_I (21), DWF_F (22), \
  DWF_F (23), DWF_I (24), DWF_P (const float, 25), DWF_F (26), DWF_F (27), \
  DWF_I (28), DWF_P (const float, 29), DWF_P (const float, 30), \
  DWF_P (float, 31), DWF_I (32), DWF_F (33), DWF_F (34)

/* Panel p of one step: its depthwise (or row copy) into @panel, the
 * conv1x1, then pw2. */
inline void
dw_panel (int p, __local float *restrict panel, DWF_PARAMS)
{
  const int wstride = (cip + DWC - 1) / DWC * DWC;
  const int q0 = p * DFP;
  const int q1 = min (q0 + DFP, n_pix);

  /* No depthwise (kh = 0, a conv1x1 with pw2): the panel's input rows. */
  for (int q = q0; kh == 0 && q < q1; q++)
    for (int c = 0; c < cip; c += 4)
      vstore4 (vload4 (0, in + (size_t) q * cip + c), 0,
          panel + (size_t) (q - q0) * cip + c);
  for (int q = q0; kh > 0 && q < q1;) {
    const int y = q / ow, x0 = q - y * ow;
    const int n = min (min (DWP, ow - x0), q1 - q);
    __local float *dst = panel + (size_t) (q - q0) * cip;
    for (int c0 = 0; c0 < cip; c0 += DWC) {
      const floatC b = vloadC (0, dbias + c0);
      DW_TILE
      REP (DWP, DWF_STORE)
    }
    q += n;
  }
  C1_PANEL
  if (has_pw2)
    pw2_panel (out, cop, q0, q1, n_pix, pw2, bias2, out2, cop2, lo3, hi3);
}

/* Panel @p of the step in table row @a unless another group took it
 * this run (@epoch swapped into its mark): computed, then its done flag
 * set to @epoch. FALSE: taken. */
inline bool
take_panel (int p, __local float *restrict panel, __global const ulong * a,
    __global volatile int *mark, __global volatile int *done, int epoch)
{
  if (atomic_xchg (mark + p, epoch) == epoch)
    return false;
  dw_panel (p, panel, DWF_FROM_TABLE);
  mem_fence (CLK_GLOBAL_MEM_FENCE);
  atomic_xchg (done + p, epoch);
  return true;
}

/* Steps first .. first + n_steps - 1 of the table @steps, one after the
 * other in one launch (a launch a step made PoCL's workers sleep and wake
 * at every step's end). Each step's panels: work-group g of G takes its
 * own run of them, n * g / G .. n * (g + 1) / G - 1, in order, then the
 * highest ones nobody has taken, then waits until every panel of the step
 * is done before the next step (whose depthwise reads its neighbours'
 * rows); after the last step it ends at once (a launch of one step has no
 * wait, so no spin). A panel is taken by swapping this run's @epoch (the
 * host's run count, never 0) into its mark, sync[off + p], and done when
 * its flag, sync[off + n + p], holds @epoch. A group waits only for
 * taken panels, whose takers are running, so the launch finishes whatever
 * number of groups the device runs at once: one group alone computes
 * every panel.
 * With @probe_slot >= 0 (at prepare), instead: the device's address of
 * @probe into slot @probe_slot of the table, the pointer slots' values. */
__kernel void
dw_conv1x1 (__global ulong *restrict steps, int first, int n_steps,
    __local float *restrict panel, __global volatile int *restrict sync,
    int epoch, __global const float *probe, int probe_slot)
{
  const int n_groups = get_num_groups (0), g = get_group_id (0);

  if (probe_slot >= 0) {
    steps[probe_slot] = (ulong) probe;
    return;
  }
  for (int s = first; s < first + n_steps; s++) {
    __global const ulong *a = steps + (size_t) s * DWF_SLOTS;
    const int n_pix = DWF_I (17), n = (n_pix + DFP - 1) / DFP;
    __global volatile int *mark = sync + DWF_I (35), *done = mark + n;

    /* a panel taken from the far end: so are those after it */
    for (int p = n * g / n_groups; p < n * (g + 1) / n_groups; p++)
      if (!take_panel (p, panel, a, mark, done, epoch))
        break;
    for (int p = n - 1; p >= 0; p--)
      if (mark[p] != epoch)
        take_panel (p, panel, a, mark, done, epoch);
    /* the launch's end waits for the last step's groups */
    for (int p = 0; s + 1 < first + n_steps && p < n; p++)
      while (done[p] != epoch)
        ;
    mem_fence (CLK_GLOBAL_MEM_FENCE);
  }
}
#undef DW_LOAD
#undef C1_AS
#undef C1_ROW

/* pool_conv1x1: a global average pool (the window of its one output pixel
 * covers the input), the 1-pixel pointwise conv that is its only reader
 * and, with has_fold, the first bias stage of the CONCAT folded into a
 * later pointwise conv whose first broadcast input is that conv's output
 * (DeepLab's ASPP image pooling, opencl.c find_fusions()), in one step
 * of one work-item: three tiny kernels were three launches and wakes.
 * The pool sums the n_in pixels of every channel in pixel order and
 * divides by n_in, then its clamp (eltwise.cl's pool: the same bits),
 * PLG float16 channel groups a pass (independent add chains: one chain
 * would wait on the add latency), into @pooled (the pool's output
 * buffer); then conv1x1's micro-kernel on that pixel (pw2_panel(), the
 * conv's clamp) into @out; then with has_fold the same on @out with the
 * folded conv's weights of those channels, @fbias in (its own bias) and
 * the per-frame bias @fout out, no clamp (conv1x1's fold step). */
/* PLG float16 sums a pass: 8 ymm accumulators on AVX2 (of 16), enough
 * independent adds to hide the add latency; 2, 8 and 10 (DeepLab's 160
 * channels in one pass) measured alike (docs/performance.md). */
#define PLG 4
#define PL_DECL(i) float16 s##i = 0.0f;
#define PL_ADD(i) if (nc > 16 * i) s##i += vload16 (i, px);
#define PL_STORE(i) if (nc > 16 * i) \
    STORE_GROUPS (16, ACT (s##i / (float) n_in, plo, phi), \
        pooled + c0 + 16 * i, nc - 16 * i);

__kernel void
pool_conv1x1 (__global const float *restrict in, int n_in, int cip,
    float plo, float phi, __global float *restrict pooled,
    __global const float *restrict pw, __global const float *restrict bias,
    __global float *restrict out, int cop, float lo, float hi, int has_fold,
    __global const float *restrict fw, __global const float *restrict fbias,
    __global float *restrict fout, int fcop)
{
  for (int c0 = 0; c0 < cip; c0 += 16 * PLG) {
    const int nc = cip - c0;
    __global const float *px = in + c0;
    REP (PLG, PL_DECL)
    for (int p = 0; p < n_in; p++, px += cip) {
      REP (PLG, PL_ADD)
    }
    REP (PLG, PL_STORE)
  }
  pw2_panel (pooled, cip, 0, 1, 1, pw, bias, out, cop, lo, hi);
  if (has_fold)
    pw2_panel (out, cop, 0, 1, 1, fw, fbias, fout, fcop, -INFINITY,
        INFINITY);
}

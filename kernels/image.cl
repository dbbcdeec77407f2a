/* deeplabseg kernels: the image steps around the network.
 *
 *   preprocess       frame (any DlsPixelFormat, uploaded as one byte buffer
 *                    with the planes at off0/off1/off2) -> network input,
 *                    NHWC with 4 channels (R, G, B, 0), (v - mean) / std.
 *                    px pixels of a row a work-item.
 *                    global: (input width / px, input height) rounded
 *                    up; work-items past (ow, oh) do nothing
 *   upsample_argmax  logits NHWC (channels padded to cp) -> class map of the
 *                    frame's size, one byte a pixel, rows map_w apart;
 *                    when conf is not NULL also the confidence plane
 *                    (same layout): with probs 0 (logits) round (255 * max
 *                    softmax), i.e. 255 / sum_k exp (v_k - max) + 0.5
 *                    truncated, the sum taken per lane of eight classes,
 *                    then s0 + s1 + ... + s7 (image.c sums in the same
 *                    order); with probs 1 (the CRF's Q, already
 *                    probabilities) round (255 * max), at most 255.
 *                    global: (frame width, frame height)
 *   the same class map in three steps, when no confidence is asked for:
 *   logits_summary   per logits pixel (argmax class, top-1 minus top-2,
 *                    largest |logit|) as a float4;
 *   cell_classes     per cell of four neighbouring logits pixels: the class
 *                    they share with a margin (see logits_summary), or -1;
 *   upsample_cells   per output pixel: its cell's class, if any (most
 *                    pixels: the cheap path); px pixels a work-item;
 *   upsample_mixed   per cell of class -1: its output pixels as in
 *                    upsample_argmax. The map is bit for bit the same.
 *                    global: (logits width, logits height) rounded up,
 *                    upsample_cells (frame width / px, frame height)
 *                    rounded up
 *   upsample_unary   the same interpolation, written as the dense CRF's
 *                    unary energies U = -v, row floats a pixel (row a
 *                    multiple of 8; padded lanes 1e30), for kernels/crf.cl.
 *                    global: (frame width, frame height)
 *
 * The maths is exactly gst/engine/image.c's (the C reference the tests
 * compare with): half-pixel source coordinates clamped to the image,
 * bilinear as (1 - fy) * top + fy * bottom, conversion to RGB before
 * interpolation, nearest co-sited chroma, ties of argmax to the lowest
 * class. Contraction into fma is off and the host passes the float32
 * scales, so both give the same bits. The one exception is the
 * confidence: OpenCL's exp may be off by up to 3 ulp (glibc's expf by
 * less than 1), so a value that lands within a few ulp of a rounding
 * boundary can come out one level apart (tests/test_image.c allows 1).
 *
 * Pixel kinds (argument kind): 0 packed (bpp bytes a pixel, R/G/B at byte
 * offsets ro/go/bo; GRAY8 is bpp 1 with all offsets 0), 1 I420, 2 NV12.
 * No -D options.
 */
#pragma OPENCL FP_CONTRACT OFF

typedef struct
{
  float y_offset, y_scale, rv, gu, gv, bu;
} Yuv;

inline float3
read_rgb (__global const uchar * f, int kind, int bpp, int ro, int go,
    int bo, int off0, int s0, int off1, int s1, int off2, int s2, Yuv m,
    int x, int y)
{
  if (kind == 0) {
    __global const uchar *p = f + off0 + (size_t) y * s0 + (size_t) x * bpp;
    return (float3) (p[ro], p[go], p[bo]);
  } else {
    const float Y = f[off0 + (size_t) y * s0 + x];
    float U, V;
    if (kind == 1) {
      U = f[off1 + (size_t) (y / 2) * s1 + x / 2];
      V = f[off2 + (size_t) (y / 2) * s2 + x / 2];
    } else {
      __global const uchar *uv = f + off1 + (size_t) (y / 2) * s1
          + (size_t) (x / 2) * 2;
      U = uv[0];
      V = uv[1];
    }
    const float l = m.y_scale * (Y - m.y_offset);
    const float u = U - 128.0f, v = V - 128.0f;
    return clamp ((float3) (l + m.rv * v, l - m.gu * u - m.gv * v,
            l + m.bu * u), 0.0f, 255.0f);
  }
}

inline void
half_pixel (int d, int in, float scale, int *s0, int *s1, float *f)
{
  float s = ((float) d + 0.5f) * scale - 0.5f;
  s = clamp (s, 0.0f, (float) (in - 1));
  *s0 = (int) s;
  *s1 = min (*s0 + 1, in - 1);
  *f = s - (float) *s0;
}

__kernel void
preprocess (__global const uchar * frame, int kind, int bpp, int ro, int go,
    int bo, int off0, int s0, int off1, int s1, int off2, int s2,
    int fw, int fh, float scale_x, float scale_y, float y_offset,
    float y_scale, float rv, float gu, float gv, float bu,
    __global float *out, int ow, float mean, float std, int oh, int px)
{
  const int oy = get_global_id (1);
  const Yuv m = { y_offset, y_scale, rv, gu, gv, bu };
  int x0, x1, y0, y1;
  float fx, fy;

  if (oy >= oh)
    return;
  half_pixel (oy, fh, scale_y, &y0, &y1, &fy);
  for (int ox = get_global_id (0) * px;
      ox < min ((int) (get_global_id (0) + 1) * px, ow); ox++) {
    half_pixel (ox, fw, scale_x, &x0, &x1, &fx);
#define RGB(x, y) read_rgb (frame, kind, bpp, ro, go, bo, off0, s0, off1, \
    s1, off2, s2, m, x, y)
    const float3 p00 = RGB (x0, y0), p01 = RGB (x1, y0);
    const float3 p10 = RGB (x0, y1), p11 = RGB (x1, y1);
#undef RGB
    const float3 top = (1.0f - fx) * p00 + fx * p01;
    const float3 bot = (1.0f - fx) * p10 + fx * p11;
    const float3 v = ((1.0f - fy) * top + fy * bot - mean) / std;

    vstore4 ((float4) (v, 0.0f), 0, out + ((size_t) oy * ow + ox) * 4);
  }
}

/* The four logits rows around output pixel (ox, oy) and the weights, for
 * both upsampling kernels. */
typedef struct
{
  __global const float *p00, *p01, *p10, *p11;
  float fx, fy;
} Taps;

inline Taps
taps_at (__global const float *logits, int lw, int lh, int cp,
    float scale_x, float scale_y, int ox, int oy)
{
  Taps t;
  int x0, x1, y0, y1;

  half_pixel (ox, lw, scale_x, &x0, &x1, &t.fx);
  half_pixel (oy, lh, scale_y, &y0, &y1, &t.fy);
  t.p00 = logits + ((size_t) y0 * lw + x0) * cp;
  t.p01 = logits + ((size_t) y0 * lw + x1) * cp;
  t.p10 = logits + ((size_t) y1 * lw + x0) * cp;
  t.p11 = logits + ((size_t) y1 * lw + x1) * cp;
  return t;
}

/* Classes c0 .. c0 + 7 of the four samples, bilinear (a load may run past
 * cp into the next pixel or the buffer's 64-byte slack; classes from
 * n_classes on read -inf). */
inline float8
bilinear8 (__global const float *p00, __global const float *p01,
    __global const float *p10, __global const float *p11, int c0, float fx,
    float fy, int n_classes)
{
  const int8 k = c0 + (int8) (0, 1, 2, 3, 4, 5, 6, 7);
  const float8 top = (1.0f - fx) * vload8 (0, p00 + c0)
      + fx * vload8 (0, p01 + c0);
  const float8 bot = (1.0f - fx) * vload8 (0, p10 + c0)
      + fx * vload8 (0, p11 + c0);

  return select ((1.0f - fy) * top + fy * bot, (float8) (-INFINITY),
      k >= n_classes);
}

/* The shortcut of the class map. If class c is the argmax at each of
 * the four taps, it is the argmax of any mix of them with non-negative
 * weights (v_c - v_k is a mix of the taps' v_c - v_k >= 0), and float
 * rounding cannot undo that: fl (a * w) and fl (a + b) are monotone in a
 * and b, so the interpolated v_c stays >= every interpolated v_k. Equality
 * would still hand the pixel to a lower class k (ties), so the shortcut
 * also needs every tap's margin top-1 - top-2 above 1e-5 of the largest
 * |logit| among the taps: the rounding error of the interpolation is below
 * 1e-6 of it. NaN or inf fail the tests and take the full path. The class
 * map is then bit for bit what the full path gives. */
__kernel void
logits_summary (__global const float *logits, int lw, int lh, int cp,
    int n_classes, __global float4 * summary)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);
  if (x >= lw || y >= lh)
    return;
  __global const float *p = logits + ((size_t) y * lw + x) * cp;
  /* per lane l over classes l, l + 8, ...: the largest (its first class)
   * and the second largest; a tie within a lane makes them equal */
  float8 top8 = -INFINITY, second8 = -INFINITY, big8 = 0.0f;
  int8 best8 = 0, nan8 = 0;
  for (int c0 = 0; c0 < n_classes; c0 += 8) {
    const int8 k = c0 + (int8) (0, 1, 2, 3, 4, 5, 6, 7);
    const int8 pad = k >= n_classes;
    const float8 raw = vload8 (0, p + c0);
    const float8 v = select (raw, (float8) (-INFINITY), pad);
    nan8 |= isnan (v);
    big8 = fmax (big8, select (fabs (raw), (float8) 0.0f, pad));
    second8 = fmax (second8, fmin (top8, v));
    best8 = select (best8, k, v > top8);
    top8 = fmax (top8, v);
  }
  /* the lanes meet: the first lane with the largest value wins; any other
   * lane's top is a second */
  float top = top8.s0, second = second8.s0;
  int best = best8.s0;
#define LANE(s) \
  if (top8.s > top) { \
    second = fmax (second, top); \
    top = top8.s; \
    best = best8.s; \
  } else { \
    second = fmax (second, top8.s); \
  } \
  second = fmax (second, second8.s);
  LANE (s1) LANE (s2) LANE (s3) LANE (s4) LANE (s5) LANE (s6) LANE (s7)
#undef LANE
  const float big = fmax (fmax (fmax (big8.s0, big8.s1), fmax (big8.s2,
              big8.s3)), fmax (fmax (big8.s4, big8.s5), fmax (big8.s6,
              big8.s7)));
  const int nan = any (nan8 != 0);
  /* class -1: never the shortcut (a NaN) */
  summary[(size_t) y * lw + x] = (float4) (nan ? -1 : best, top - second,
      big, 0.0f);
}

/* One pixel of upsample_argmax (and of upsample_mixed). */
inline void
argmax_pixel (__global const float *logits, int lw, int lh, int cp,
    int n_classes, float scale_x, float scale_y, __global uchar * map,
    int map_w, __global uchar * conf, int probs, int ox, int oy)
{
  const Taps t = taps_at (logits, lw, lh, cp, scale_x, scale_y, ox, oy);
  int best = 0;
  float best_v = 0.0f;
  /* Eight classes at a time (bilinear8), the same per-lane arithmetic as
   * one at a time, and without branches: lane l keeps the first maximum
   * of classes l, l + 8, ... (strict >), then the lanes meet, ties to the
   * lowest class. */
  float8 best8 = -INFINITY;
  int8 best_k = (int8) (0, 1, 2, 3, 4, 5, 6, 7);
  for (int c0 = 0; c0 < n_classes; c0 += 8) {
    const int8 k = c0 + (int8) (0, 1, 2, 3, 4, 5, 6, 7);
    const float8 v = bilinear8 (t.p00, t.p01, t.p10, t.p11, c0, t.fx, t.fy, n_classes);
    const int8 gt = v > best8;
    best8 = select (best8, v, gt);
    best_k = select (best_k, k, gt);
  }
  best = best_k.s0;
  best_v = best8.s0;
#define ARGMAX_LANE(s) \
  if (best8.s > best_v || (best8.s == best_v && best_k.s < best)) { \
    best_v = best8.s; \
    best = best_k.s; \
  }
  ARGMAX_LANE (s1) ARGMAX_LANE (s2) ARGMAX_LANE (s3) ARGMAX_LANE (s4)
      ARGMAX_LANE (s5) ARGMAX_LANE (s6) ARGMAX_LANE (s7)
#undef ARGMAX_LANE
  map[(size_t) oy * map_w + ox] = (uchar) best;
  if (!conf)
    return;
  if (probs) {
    conf[(size_t) oy * map_w + ox] = (uchar) min (255.0f * best_v + 0.5f,
        255.0f);
    return;
  }
  /* Second pass, the same interpolation: the softmax's denominator with
   * the maximum subtracted (padded lanes: exp (-inf) = 0). */
  float8 sum8 = 0.0f;
  for (int c0 = 0; c0 < n_classes; c0 += 8)
    sum8 += exp (bilinear8 (t.p00, t.p01, t.p10, t.p11, c0, t.fx, t.fy, n_classes)
        - best_v);
  const float total = sum8.s0 + sum8.s1 + sum8.s2 + sum8.s3 + sum8.s4
      + sum8.s5 + sum8.s6 + sum8.s7;
  conf[(size_t) oy * map_w + ox] = (uchar) (255.0f / total + 0.5f);
}

/* No bounds test: the global size is the frame's (with one, the 1280x720
 * confidence rows ran 10-20 % slower, A/B). */
__kernel void
upsample_argmax (__global const float *logits, int lw, int lh, int cp,
    int n_classes, float scale_x, float scale_y, __global uchar * map,
    int map_w, __global uchar * conf, int probs)
{
  argmax_pixel (logits, lw, lh, cp, n_classes, scale_x, scale_y, map, map_w,
      conf, probs, get_global_id (0), get_global_id (1));
}

/* The shortcut's cells: cell (x, y) is the four logits pixels (x, y),
 * (x + 1, y), (x, y + 1), (x + 1, y + 1) (clamped) an output pixel with
 * x0 = x, y0 = y interpolates; its class when all four share it with the
 * margin above, else -1. */
__kernel void
cell_classes (__global const float4 * summary, int lw, int lh,
    __global int *cells)
{
  const int x = get_global_id (0);
  const int y = get_global_id (1);

  if (x >= lw || y >= lh)
    return;
  const int x1 = min (x + 1, lw - 1), y1 = min (y + 1, lh - 1);
  const float4 s00 = summary[(size_t) y * lw + x];
  const float4 s01 = summary[(size_t) y * lw + x1];
  const float4 s10 = summary[(size_t) y1 * lw + x];
  const float4 s11 = summary[(size_t) y1 * lw + x1];
  const float margin = fmin (fmin (s00.y, s01.y), fmin (s10.y, s11.y));
  const float big = fmax (fmax (s00.z, s01.z), fmax (s10.z, s11.z));

  cells[(size_t) y * lw + x] = s00.x >= 0.0f && s00.x == s01.x
      && s00.x == s10.x && s00.x == s11.x && margin > 1e-5f * big
      && big < INFINITY ? (int) s00.x : -1;
}

/* The class map where the pixel's cell has a class; the other pixels are
 * left to upsample_mixed. A few operations a pixel; px pixels of a row a
 * work-item (fewer work-items, the row's y computed once). */
__kernel void
upsample_cells (__global const int *cells, int lw, int lh, float scale_x,
    float scale_y, __global uchar * map, int map_w, int map_h, int px)
{
  const int oy = get_global_id (1);
  int x0, x1, y0, y1;
  float fx, fy;

  if (oy >= map_h)
    return;
  half_pixel (oy, lh, scale_y, &y0, &y1, &fy);
  __global const int *row = cells + (size_t) y0 * lw;
  __global uchar *out = map + (size_t) oy * map_w;
  for (int ox = get_global_id (0) * px;
      ox < min ((int) (get_global_id (0) + 1) * px, map_w); ox++) {
    half_pixel (ox, lw, scale_x, &x0, &x1, &fx);
    const int c = row[x0];
    if (c >= 0)
      out[ox] = (uchar) c;
  }
}

/* Output pixels d along an axis whose x0 (half_pixel) may be cell i: a
 * superset, each candidate is then checked with half_pixel itself. */
inline void
cell_span (int i, int in, int out, float scale, int *lo, int *hi)
{
  *lo = i == 0 ? 0 : max (0, (int) floor ((i + 0.5f) / scale - 0.5f) - 2);
  *hi = i == in - 1 ? out - 1
      : min (out - 1, (int) ceil ((i + 1.5f) / scale - 0.5f) + 2);
}

/* Every output pixel of a cell without a class (upsample_cells skipped
 * it), the full way. global: the cells (logits width, height) rounded up. */
__kernel void
upsample_mixed (__global const float *logits, int lw, int lh, int cp,
    int n_classes, float scale_x, float scale_y, __global uchar * map,
    int map_w, int map_h, __global const int *cells)
{
  const int cx = get_global_id (0);
  const int cy = get_global_id (1);
  int xlo, xhi, ylo, yhi, a, b;
  float f;

  if (cx >= lw || cy >= lh || cells[(size_t) cy * lw + cx] >= 0)
    return;
  cell_span (cx, lw, map_w, scale_x, &xlo, &xhi);
  cell_span (cy, lh, map_h, scale_y, &ylo, &yhi);
  for (int oy = ylo; oy <= yhi; oy++) {
    half_pixel (oy, lh, scale_y, &a, &b, &f);
    if (a != cy)
      continue;
    for (int ox = xlo; ox <= xhi; ox++) {
      half_pixel (ox, lw, scale_x, &a, &b, &f);
      if (a == cx)
        argmax_pixel (logits, lw, lh, cp, n_classes, scale_x, scale_y, map,
            map_w, NULL, 0, ox, oy);
    }
  }
}

__kernel void
upsample_unary (__global const float *logits, int lw, int lh, int cp,
    int n_classes, float scale_x, float scale_y, __global float *unary,
    int map_w, int row)
{
  const int ox = get_global_id (0);
  const int oy = get_global_id (1);
  const Taps t = taps_at (logits, lw, lh, cp, scale_x, scale_y, ox, oy);
  __global float *u = unary + ((size_t) oy * map_w + ox) * row;

  /* eight classes a step (row is a multiple of 8) */
  for (int c0 = 0; c0 < row; c0 += 8) {
    const int8 k = c0 + (int8) (0, 1, 2, 3, 4, 5, 6, 7);
    const float8 v = bilinear8 (t.p00, t.p01, t.p10, t.p11, c0, t.fx, t.fy,
        n_classes);
    vstore8 (select (-v, (float8) (1e30f), k >= n_classes), 0, u + c0);
  }
}

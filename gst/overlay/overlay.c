/* deeplabseg: palette blending of a class map into a video frame.
 *
 * For every pixel whose class c is not 0:
 *
 *   out = in + (((colour (c) - in) * a) >> 8),  a = round (alpha * 256)
 *
 * per colour byte, in exact integer arithmetic (">>" is a floor; see
 * blend.orc). Class 0 (background) and any alpha/padding byte get a = 0,
 * which leaves them bit-exact; alpha = 0 leaves the whole frame untouched.
 *
 * The work is split so that the arithmetic is one ORC call per row: a row
 * routine chosen once per format (dls_overlay_new(), i.e. at negotiation)
 * expands the class-map row through the palette into a colour row and a
 * per-byte weight row laid out exactly like the frame row, then
 * dls_orc_blend_u8() blends the three. The scratch rows are allocated once
 * in dls_overlay_new(); nothing is allocated per frame.
 *
 * I420 / NV12: Y is blended at full resolution. U and V are blended at
 * chroma resolution (ceil (w / 2) x ceil (h / 2), so odd sizes work), each
 * chroma sample taking the class of the top-left luma pixel of its 2x2
 * block, which is the co-sited sample for MPEG-2 style (left) chroma and a
 * cheap, stable choice otherwise. The palette is converted to Y'CbCr with
 * the matrix (Kr, Kb) and range of the frame's colorimetry: for R', G', B'
 * in 0..1,
 *
 *   Y' = Kr R' + (1 - Kr - Kb) G' + Kb B'
 *   Pb = (B' - Y') / (2 (1 - Kb)),  Pr = (R' - Y') / (2 (1 - Kr))
 *   Y  = oY + sY Y',  U = oC + sC Pb,  V = oC + sC Pr
 *
 * rounded to nearest and clamped to 0..255 (ITU-R BT.601 / BT.709 /
 * BT.2020 section on Y'CbCr; oY, sY, oC, sC from
 * gst_video_color_range_offsets(): 16, 219, 128, 224 for limited range,
 * 0, 255, 128, 255 for full range). When the colorimetry has no Y'CbCr
 * matrix (unknown or RGB), BT.601 is used. The converted palette is cached
 * and recomputed only when the palette passed in changes.
 */
#include "overlay.h"

#include <math.h>
#include <string.h>

#include <orc/orc.h>

#include "blend-orc.h"

/* @src: NULL to blend the palette colours, else a frame of the same info
 * whose bytes are the colours (dls_overlay_composite()). */
typedef void (*DlsBlendRowFunc) (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, guint y, const guint8 * map_row);

/* Row @y of plane @plane of @frame. */
static inline guint8 *
plane_row (const GstVideoFrame * frame, guint plane, guint y)
{
  return (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (frame, plane) +
      (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (frame, plane);
}

struct _DlsOverlay
{
  GstVideoInfo info;
  DlsBlendRowFunc blend_row;

  /* packed RGB: bytes per pixel and byte offsets of R, G, B in a pixel
   * (the alpha/padding byte, if any, is the one left over) */
  guint pstride;
  guint off_r, off_g, off_b;

  /* scratch rows, sized for the widest row the format needs: colour bytes
   * (two of them: U and V of I420 are blended separately) and weights */
  guint8 *colour[2];
  gint16 *weight;

  /* Rebuilt by each dls_overlay_blend() call (256 entries, cheaper than
   * comparing palettes): for each class, the bytes of one pixel in the
   * order the row routine lays them out (R, G, B at their offsets for
   * packed RGB; Y, U, V for I420 / NV12) and their weights, so that the
   * expansion is a branch-free table copy. Class 0 and alpha/padding
   * bytes weigh 0. */
  guint8 px[256][4];
  gint16 wt[256][4];

  /* Y'CbCr palette (I420 / NV12) and the RGB palette it was made from */
  gboolean yuv_valid;
  guint8 yuv_src[256][3];
  guint8 yuv[256][3];
};

/**
 * dls_palette_init_voc:
 * @p: the palette to fill
 *
 * Fills @p with the PASCAL VOC colour map: the bits of class id c are dealt
 * out, three at a time from the least significant, to R, G and B, filling
 * each channel from its most significant bit down (the "bitget" loop of the
 * VOC development kit, VOClabelcolormap.m). Class 0 is black, 1 is
 * (128, 0, 0), 2 is (0, 128, 0), 15 (person) is (192, 128, 128).
 */
void
dls_palette_init_voc (DlsPalette * p)
{
  guint c;

  g_return_if_fail (p != NULL);

  for (c = 0; c < 256; c++) {
    guint id = c, r = 0, g = 0, b = 0, j;

    for (j = 0; j < 8; j++) {
      r |= ((id >> 0) & 1) << (7 - j);
      g |= ((id >> 1) & 1) << (7 - j);
      b |= ((id >> 2) & 1) << (7 - j);
      id >>= 3;
    }
    p->rgb[c][0] = r;
    p->rgb[c][1] = g;
    p->rgb[c][2] = b;
  }
}

static guint8
clamp_round_u8 (double v)
{
  v = floor (v + 0.5);
  return (guint8) CLAMP (v, 0.0, 255.0);
}

/* Converts @pal to Y'CbCr for the frame's colorimetry (see the banner for
 * the formula), unless the cached conversion is of the same palette. */
static void
update_yuv_palette (DlsOverlay * o, const DlsPalette * pal)
{
  gdouble kr, kb, kg;
  gint offset[GST_VIDEO_MAX_COMPONENTS], scale[GST_VIDEO_MAX_COMPONENTS];
  guint c;

  if (o->yuv_valid && memcmp (o->yuv_src, pal->rgb, sizeof (pal->rgb)) == 0)
    return;

  if (!gst_video_color_matrix_get_Kr_Kb (o->info.colorimetry.matrix, &kr,
          &kb)) {
    /* GST_VIDEO_COLOR_MATRIX_RGB / _UNKNOWN carry no Kr, Kb */
    kr = 0.299;
    kb = 0.114;
  }
  kg = 1.0 - kr - kb;
  gst_video_color_range_offsets (o->info.colorimetry.range, o->info.finfo,
      offset, scale);

  for (c = 0; c < 256; c++) {
    gdouble r = pal->rgb[c][0] / 255.0;
    gdouble g = pal->rgb[c][1] / 255.0;
    gdouble b = pal->rgb[c][2] / 255.0;
    gdouble y = kr * r + kg * g + kb * b;
    gdouble pb = (b - y) / (2.0 * (1.0 - kb));
    gdouble pr = (r - y) / (2.0 * (1.0 - kr));

    o->yuv[c][0] = clamp_round_u8 (offset[0] + scale[0] * y);
    o->yuv[c][1] = clamp_round_u8 (offset[1] + scale[1] * pb);
    o->yuv[c][2] = clamp_round_u8 (offset[2] + scale[2] * pr);
  }
  memcpy (o->yuv_src, pal->rgb, sizeof (pal->rgb));
  o->yuv_valid = TRUE;
}

/* Packed RGB with 3 or 4 bytes per pixel, any component order. The two
 * loops differ only in the copy size, fixed so the copies are inlined. */
static void
blend_row_packed (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, guint y, const guint8 * map_row)
{
  guint8 *dst = plane_row (frame, 0, y);
  guint width = GST_VIDEO_INFO_WIDTH (&o->info);
  guint8 *col = o->colour[0];
  gint16 *w = o->weight;
  guint any = 0;
  guint x;

  if (o->pstride == 4) {
    for (x = 0; x < width; x++) {
      guint c = map_row[x];

      memcpy (col + 4 * x, o->px[c], 4);
      memcpy (w + 4 * x, o->wt[c], 4 * sizeof (gint16));
      any |= c;
    }
  } else {
    for (x = 0; x < width; x++) {
      guint c = map_row[x];

      memcpy (col + 3 * x, o->px[c], 3);
      memcpy (w + 3 * x, o->wt[c], 3 * sizeof (gint16));
      any |= c;
    }
  }

  /* a row of background only: nothing to do */
  if (any)
    dls_orc_blend_u8 (dst, src ? plane_row (src, 0, y) : col, w,
        width * o->pstride);
}

/* Y plane row @y; returns FALSE when the row is all background. */
static gboolean
blend_luma_row (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, guint y, const guint8 * map_row)
{
  guint8 *dst = plane_row (frame, 0, y);
  guint width = GST_VIDEO_INFO_WIDTH (&o->info);
  guint8 *col = o->colour[0];
  gint16 *w = o->weight;
  guint any = 0;
  guint x;

  for (x = 0; x < width; x++) {
    guint c = map_row[x];

    col[x] = o->px[c][0];
    w[x] = o->wt[c][0];
    any |= c;
  }
  if (any)
    dls_orc_blend_u8 (dst, src ? plane_row (src, 0, y) : col, w, width);
  return any != 0;
}

/* I420: U and V rows are blended separately with the same weights. */
static void
blend_row_i420 (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, guint y, const guint8 * map_row)
{
  guint cwidth = GST_VIDEO_FRAME_COMP_WIDTH (frame, 1);
  guint cy = y / 2;
  guint8 *u = o->colour[0], *v = o->colour[1];
  gint16 *w = o->weight;
  guint8 *du, *dv;
  guint x;

  /* chroma row cy is blended with luma row 2 cy; an all-background luma
   * row has no non-background block corner either */
  if (!blend_luma_row (o, frame, src, y, map_row) || (y & 1))
    return;

  for (x = 0; x < cwidth; x++) {
    guint c = map_row[2 * x];   /* top-left pixel of the 2x2 block */

    u[x] = o->px[c][1];
    v[x] = o->px[c][2];
    w[x] = o->wt[c][1];
  }
  du = plane_row (frame, 1, cy);
  dv = plane_row (frame, 2, cy);
  dls_orc_blend_u8 (du, src ? plane_row (src, 1, cy) : u, w, cwidth);
  dls_orc_blend_u8 (dv, src ? plane_row (src, 2, cy) : v, w, cwidth);
}

/* NV12: one interleaved U V row, each pair weighted alike. */
static void
blend_row_nv12 (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, guint y, const guint8 * map_row)
{
  guint cwidth = GST_VIDEO_FRAME_COMP_WIDTH (frame, 1);
  guint cy = y / 2;
  guint8 *col = o->colour[0];
  gint16 *w = o->weight;
  guint8 *duv;
  guint x;

  if (!blend_luma_row (o, frame, src, y, map_row) || (y & 1))
    return;

  for (x = 0; x < cwidth; x++) {
    guint c = map_row[2 * x];   /* top-left pixel of the 2x2 block */

    memcpy (col + 2 * x, &o->px[c][1], 2);
    memcpy (w + 2 * x, &o->wt[c][1], 2 * sizeof (gint16));
  }
  duv = plane_row (frame, 1, cy);
  dls_orc_blend_u8 (duv, src ? plane_row (src, 1, cy) : col, w, 2 * cwidth);
}

/* Fills the per-class tables for weight @a (1..256) and @pal. */
static void
build_tables (DlsOverlay * o, const DlsPalette * pal, gint16 a)
{
  guint c;

  if (o->blend_row == blend_row_packed) {
    for (c = 0; c < 256; c++) {
      gint16 wc = c != 0 ? a : 0;

      memset (o->px[c], 0, sizeof (o->px[c]));
      memset (o->wt[c], 0, sizeof (o->wt[c]));      /* alpha / padding */
      o->px[c][o->off_r] = pal->rgb[c][0];
      o->px[c][o->off_g] = pal->rgb[c][1];
      o->px[c][o->off_b] = pal->rgb[c][2];
      o->wt[c][o->off_r] = o->wt[c][o->off_g] = o->wt[c][o->off_b] = wc;
    }
  } else {
    update_yuv_palette (o, pal);
    for (c = 0; c < 256; c++) {
      gint16 wc = c != 0 ? a : 0;

      o->px[c][0] = o->yuv[c][0];
      o->px[c][1] = o->yuv[c][1];
      o->px[c][2] = o->yuv[c][2];
      o->px[c][3] = 0;
      o->wt[c][0] = o->wt[c][1] = o->wt[c][2] = wc;
      o->wt[c][3] = 0;
    }
  }
}

/**
 * dls_overlay_new:
 * @info: the video info of the frames that will be blended
 *
 * Chooses the row routine for @info's format and allocates the scratch
 * rows. Supported: RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR
 * (the alpha/padding byte is never modified), I420 and NV12.
 *
 * Returns: (transfer full) (nullable): a new #DlsOverlay, or %NULL when the
 *   format is not supported.
 */
DlsOverlay *
dls_overlay_new (const GstVideoInfo * info)
{
  DlsOverlay *o;
  DlsBlendRowFunc blend_row = NULL;
  const GstVideoFormatInfo *finfo;
  guint width, row_bytes;

  g_return_val_if_fail (info != NULL && info->finfo != NULL, NULL);
  g_return_val_if_fail (GST_VIDEO_INFO_WIDTH (info) > 0, NULL);

  finfo = info->finfo;
  switch (GST_VIDEO_INFO_FORMAT (info)) {
    case GST_VIDEO_FORMAT_RGB:
    case GST_VIDEO_FORMAT_BGR:
    case GST_VIDEO_FORMAT_RGBx:
    case GST_VIDEO_FORMAT_BGRx:
    case GST_VIDEO_FORMAT_xRGB:
    case GST_VIDEO_FORMAT_xBGR:
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_ARGB:
    case GST_VIDEO_FORMAT_ABGR:
      blend_row = blend_row_packed;
      break;
    case GST_VIDEO_FORMAT_I420:
      blend_row = blend_row_i420;
      break;
    case GST_VIDEO_FORMAT_NV12:
      blend_row = blend_row_nv12;
      break;
    default:
      return NULL;
  }

  /* ORC picks its code generator (SSE, NEON, ... or the C backup) here;
   * cheap and idempotent after the first call */
  orc_init ();

  o = g_new0 (DlsOverlay, 1);
  o->info = *info;
  o->blend_row = blend_row;

  width = GST_VIDEO_INFO_WIDTH (info);
  if (blend_row == blend_row_packed) {
    o->pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
    o->off_r = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_R);
    o->off_g = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_G);
    o->off_b = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_B);
    row_bytes = width * o->pstride;
  } else {
    /* Y row: width; NV12 UV row: 2 * ceil (width / 2) <= width + 1 */
    row_bytes = width + 1;
  }

  /* zeroed so that colour bytes under a zero weight are never read
   * uninitialised by the blend */
  o->colour[0] = g_malloc0 (row_bytes);
  o->colour[1] = g_malloc0 (row_bytes);
  o->weight = g_new0 (gint16, row_bytes);

  return o;
}

/**
 * dls_overlay_free:
 * @o: (transfer full) (nullable): a #DlsOverlay
 *
 * Frees @o and its scratch rows.
 */
void
dls_overlay_free (DlsOverlay * o)
{
  if (o == NULL)
    return;
  g_free (o->colour[0]);
  g_free (o->colour[1]);
  g_free (o->weight);
  g_free (o);
}

/* @f has the format and size @o was made for. */
static gboolean
frame_matches (const DlsOverlay * o, const GstVideoFrame * f)
{
  return GST_VIDEO_FRAME_FORMAT (f) == GST_VIDEO_INFO_FORMAT (&o->info)
      && GST_VIDEO_FRAME_WIDTH (f) == GST_VIDEO_INFO_WIDTH (&o->info)
      && GST_VIDEO_FRAME_HEIGHT (f) == GST_VIDEO_INFO_HEIGHT (&o->info);
}

/* The body of dls_overlay_blend() and dls_overlay_composite(). */
static void
blend_frame (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, const guint8 * map, int map_stride,
    const DlsPalette * palette, double alpha)
{
  guint y, height;
  double a;

  g_return_if_fail (o != NULL && frame != NULL && map != NULL);
  g_return_if_fail (frame_matches (o, frame));
  g_return_if_fail (src == NULL || frame_matches (o, src));
  g_return_if_fail (map_stride >= GST_VIDEO_INFO_WIDTH (&o->info));

  /* out-of-range values are clamped; NaN fails the test below */
  a = floor (CLAMP (alpha, 0.0, 1.0) * 256.0 + 0.5);
  if (!(a > 0.0))
    return;                     /* a = 0: the blend is the identity */

  build_tables (o, palette, (gint16) a);

  height = GST_VIDEO_INFO_HEIGHT (&o->info);

  for (y = 0; y < height; y++)
    o->blend_row (o, frame, src, y, map + (gsize) y * map_stride);
}

/**
 * dls_overlay_blend:
 * @o: a #DlsOverlay made for @frame's video info
 * @frame: a frame mapped writable, modified in place
 * @map: width x height class ids
 * @map_stride: bytes between the starts of two rows of @map
 * @palette: the colour of each class
 * @alpha: opacity of the overlay, 0..1 (clamped), rounded to 1/256
 *
 * Blends @palette[@map] into @frame with weight round (@alpha * 256) / 256
 * where the class is not 0 (see the file banner for the exact arithmetic).
 * Allocates nothing. Calls on the same @o must not run concurrently (its
 * scratch rows and tables are per call); distinct overlays are independent.
 */
void
dls_overlay_blend (DlsOverlay * o, GstVideoFrame * frame,
    const guint8 * map, int map_stride, const DlsPalette * palette,
    double alpha)
{
  g_return_if_fail (palette != NULL);
  blend_frame (o, frame, NULL, map, map_stride, palette, alpha);
}

/**
 * dls_overlay_composite:
 * @o: a #DlsOverlay made for @frame's video info
 * @frame: a frame mapped writable, modified in place
 * @src: a frame of the same video info: the colours
 * @map: width x height class ids
 * @map_stride: bytes between the starts of two rows of @map
 * @alpha: opacity of @src, 0..1 (clamped), rounded to 1/256
 *
 * dls_overlay_blend() with the colour of each pixel taken from @src instead
 * of a palette: where the class is not 0, @frame moves towards @src with
 * the same arithmetic; @alpha = 1 copies @src's bytes exactly. Class 0
 * pixels and alpha/padding bytes are left bit-exact. For I420 / NV12 the
 * chroma of a 2x2 block follows its top-left pixel's class.
 */
void
dls_overlay_composite (DlsOverlay * o, GstVideoFrame * frame,
    const GstVideoFrame * src, const guint8 * map, int map_stride,
    double alpha)
{
  static DlsPalette black;

  g_return_if_fail (src != NULL);
  /* the palette only feeds the weight tables here */
  blend_frame (o, frame, src, map, map_stride, &black, alpha);
}

/* deeplabseg tests: the class-map overlay (gst/overlay) against a plain C
 * reference.
 *
 * Every supported format, at 257x257, 640x480, 321x241 (odd) and 1x1, with
 * default and padded strides: the frame is filled with random bytes (fixed
 * seed, padding included), blended with a random class map (more than half
 * background, some all-background and all-foreground rows), and every byte
 * of the buffer is compared with the documented formula
 *
 *   d' = d + floor ((s - d) * a / 256),  a = round (alpha * 256)
 *
 * computed here independently: component offsets from a table of our own
 * rather than GstVideoFormatInfo, and Y'CbCr palettes from Kr, Kb and the
 * range numbers written out. Equality must be exact. Background pixels,
 * alpha/padding bytes and stride padding must come out untouched, and
 * alpha = 0 must leave the frame identical.
 */
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include <math.h>
#include <string.h>

#include "overlay/overlay.h"

#define SEED 0x5eed1e55

typedef struct
{
  GstVideoFormat format;
  /* packed RGB: bytes per pixel and byte offsets of R, G, B; 0 for YUV */
  guint pstride, r, g, b;
} FormatCase;

static const FormatCase formats[] = {
  {GST_VIDEO_FORMAT_RGB, 3, 0, 1, 2},
  {GST_VIDEO_FORMAT_BGR, 3, 2, 1, 0},
  {GST_VIDEO_FORMAT_RGBx, 4, 0, 1, 2},
  {GST_VIDEO_FORMAT_BGRx, 4, 2, 1, 0},
  {GST_VIDEO_FORMAT_xRGB, 4, 1, 2, 3},
  {GST_VIDEO_FORMAT_xBGR, 4, 3, 2, 1},
  {GST_VIDEO_FORMAT_RGBA, 4, 0, 1, 2},
  {GST_VIDEO_FORMAT_BGRA, 4, 2, 1, 0},
  {GST_VIDEO_FORMAT_ARGB, 4, 1, 2, 3},
  {GST_VIDEO_FORMAT_ABGR, 4, 3, 2, 1},
  {GST_VIDEO_FORMAT_I420, 0, 0, 0, 0},
  {GST_VIDEO_FORMAT_NV12, 0, 0, 0, 0},
};

static const struct
{
  guint w, h;
} sizes[] = {
  {257, 257}, {640, 480}, {321, 241}, {1, 1},
};

static const gdouble alphas[] = { 0.5, 1.0, 0.3 };

/* colorimetries tried on I420 / NV12; the first keeps what set_format()
 * chose (BT.601 limited range at these sizes), the last has no matrix, for
 * which the overlay falls back to BT.601 */
static const struct
{
  gboolean set;
  GstVideoColorMatrix matrix;
  GstVideoColorRange range;
} colorimetries[] = {
  {FALSE, GST_VIDEO_COLOR_MATRIX_UNKNOWN, GST_VIDEO_COLOR_RANGE_UNKNOWN},
  {TRUE, GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_16_235},
  {TRUE, GST_VIDEO_COLOR_MATRIX_BT2020, GST_VIDEO_COLOR_RANGE_0_255},
  {TRUE, GST_VIDEO_COLOR_MATRIX_UNKNOWN, GST_VIDEO_COLOR_RANGE_16_235},
};

/* The documented blend, with an explicit floor instead of ">>" on a
 * negative number. */
static guint8
ref_mix (guint8 d, guint8 s, gint a)
{
  gint t = ((gint) s - (gint) d) * a;
  gint q = t >= 0 ? t / 256 : -((-t + 255) / 256);

  return (guint8) (d + q);
}

/* Y'CbCr palette for @matrix / @range, from first principles. */
static void
ref_yuv_palette (const DlsPalette * pal, GstVideoColorMatrix matrix,
    GstVideoColorRange range, guint8 yuv[256][3])
{
  gdouble kr, kb, ys, yo, cs;
  guint c, i;

  switch (matrix) {
    case GST_VIDEO_COLOR_MATRIX_UNKNOWN:       /* documented fallback */
    case GST_VIDEO_COLOR_MATRIX_BT601:
      kr = 0.299;
      kb = 0.114;
      break;
    case GST_VIDEO_COLOR_MATRIX_BT709:
      kr = 0.2126;
      kb = 0.0722;
      break;
    case GST_VIDEO_COLOR_MATRIX_BT2020:
      kr = 0.2627;
      kb = 0.0593;
      break;
    default:
      fail ("test has no Kr, Kb for matrix %d", matrix);
      return;
  }
  if (range == GST_VIDEO_COLOR_RANGE_16_235) {
    yo = 16;
    ys = 219;
    cs = 224;
  } else {
    yo = 0;
    ys = 255;
    cs = 255;
  }

  for (c = 0; c < 256; c++) {
    gdouble r = pal->rgb[c][0] / 255.0, g = pal->rgb[c][1] / 255.0,
        b = pal->rgb[c][2] / 255.0;
    gdouble y = kr * r + (1.0 - kr - kb) * g + kb * b;
    gdouble v[3];

    v[0] = yo + ys * y;
    v[1] = 128 + cs * (b - y) / (2.0 * (1.0 - kb));
    v[2] = 128 + cs * (r - y) / (2.0 * (1.0 - kr));
    for (i = 0; i < 3; i++)
      yuv[c][i] = (guint8) CLAMP (floor (v[i] + 0.5), 0, 255);
  }
}

/* Applies the blend to @data (a frame laid out as @info) the slow way. */
static void
ref_blend (const FormatCase * fc, const GstVideoInfo * info, guint8 * data,
    const guint8 * map, gint map_stride, const DlsPalette * pal, gint a)
{
  guint w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  guint cw = (w + 1) / 2, ch = (h + 1) / 2;
  guint x, y;

  if (fc->pstride) {
    for (y = 0; y < h; y++) {
      for (x = 0; x < w; x++) {
        guint c = map[y * map_stride + x];
        guint8 *p = data + info->offset[0] + y * info->stride[0] +
            x * fc->pstride;

        if (c == 0)
          continue;
        p[fc->r] = ref_mix (p[fc->r], pal->rgb[c][0], a);
        p[fc->g] = ref_mix (p[fc->g], pal->rgb[c][1], a);
        p[fc->b] = ref_mix (p[fc->b], pal->rgb[c][2], a);
      }
    }
    return;
  }

  {
    guint8 yuv[256][3];

    ref_yuv_palette (pal, info->colorimetry.matrix, info->colorimetry.range,
        yuv);

    for (y = 0; y < h; y++) {
      for (x = 0; x < w; x++) {
        guint c = map[y * map_stride + x];
        guint8 *p = data + info->offset[0] + y * info->stride[0] + x;

        if (c != 0)
          *p = ref_mix (*p, yuv[c][0], a);
      }
    }
    for (y = 0; y < ch; y++) {
      for (x = 0; x < cw; x++) {
        guint c = map[2 * y * map_stride + 2 * x];
        guint8 *u, *v;

        if (c == 0)
          continue;
        if (fc->format == GST_VIDEO_FORMAT_I420) {
          u = data + info->offset[1] + y * info->stride[1] + x;
          v = data + info->offset[2] + y * info->stride[2] + x;
        } else {
          u = data + info->offset[1] + y * info->stride[1] + 2 * x;
          v = u + 1;
        }
        *u = ref_mix (*u, yuv[c][1], a);
        *v = ref_mix (*v, yuv[c][2], a);
      }
    }
  }
}

/* Random class map, @stride >= @w, with garbage in the row padding. About
 * 60 % background; every 7th row all background, every 11th row none. */
static guint8 *
random_map (GRand * rand, guint w, guint h, gint stride)
{
  guint8 *map = g_malloc (stride * h);
  guint x, y;

  for (y = 0; y < h; y++) {
    for (x = 0; x < (guint) stride; x++) {
      guint8 c;

      if (x >= w)
        c = 0xa5;
      else if (y % 7 == 3)
        c = 0;
      else if (y % 11 == 5 || g_rand_int_range (rand, 0, 100) >= 60)
        c = g_rand_int_range (rand, 1, 256);
      else
        c = 0;
      map[y * stride + x] = c;
    }
  }
  return map;
}

static void
random_palette (GRand * rand, DlsPalette * pal)
{
  guint c, i;

  for (c = 0; c < 256; c++)
    for (i = 0; i < 3; i++)
      pal->rgb[c][i] = g_rand_int_range (rand, 0, 256);
}

static void
fill_random (GRand * rand, guint8 * data, gsize size)
{
  gsize i;

  for (i = 0; i < size; i++)
    data[i] = g_rand_int_range (rand, 0, 256);
}

/* Fails with every parameter of the case and the first differing byte. */
static void
assert_same_bytes (const guint8 * got, const guint8 * want,
    const guint8 * orig, gsize size, const GstVideoInfo * info,
    const gchar * what, gdouble alpha, gboolean padded, const gchar * pal)
{
  gsize i;

  if (memcmp (got, want, size) == 0)
    return;
  for (i = 0; i < size && got[i] == want[i]; i++);
  fail ("%s %s %ux%u%s matrix %d range %d alpha %.3f palette %s: byte %"
      G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " is %u, expected %u (was %u)",
      what, gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (info)),
      GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info),
      padded ? " padded" : "", info->colorimetry.matrix,
      info->colorimetry.range, alpha, pal, i, size, got[i], want[i], orig[i]);
}

/* One format, size, stride layout and colorimetry: all alphas, two
 * palettes (the second one also checks that the overlay notices a palette
 * change). */
static void
check_case (GRand * rand, const FormatCase * fc, const GstVideoInfo * info,
    gboolean padded)
{
  guint w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  gint map_stride = w + 5;
  DlsPalette pals[2];
  const gchar *pal_names[2] = { "voc", "random" };
  DlsOverlay *o;
  GstBuffer *buf;
  guint8 *orig, *want, *map;
  guint p, i;

  dls_palette_init_voc (&pals[0]);
  random_palette (rand, &pals[1]);
  map = random_map (rand, w, h, map_stride);
  orig = g_malloc (info->size);
  want = g_malloc (info->size);
  buf = gst_buffer_new_allocate (NULL, info->size, NULL);

  o = dls_overlay_new (info);
  fail_unless (o != NULL, "no overlay for %s",
      gst_video_format_to_string (fc->format));

  for (p = 0; p < G_N_ELEMENTS (pals); p++) {
    for (i = 0; i <= G_N_ELEMENTS (alphas); i++) {
      /* the last round is alpha = 0 */
      gdouble alpha = i < G_N_ELEMENTS (alphas) ? alphas[i] : 0.0;
      gint a = (gint) lround (alpha * 256);
      GstVideoFrame frame;
      GstMapInfo minfo;

      fill_random (rand, orig, info->size);
      gst_buffer_fill (buf, 0, orig, info->size);
      memcpy (want, orig, info->size);
      if (a > 0)
        ref_blend (fc, info, want, map, map_stride, &pals[p], a);

      fail_unless (gst_video_frame_map (&frame, (GstVideoInfo *) info, buf,
              GST_MAP_READWRITE));
      dls_overlay_blend (o, &frame, map, map_stride, &pals[p], alpha);
      gst_video_frame_unmap (&frame);

      fail_unless (gst_buffer_map (buf, &minfo, GST_MAP_READ));
      assert_same_bytes (minfo.data, want, orig, info->size, info, "blend",
          alpha, padded, pal_names[p]);
      if (a == 0)
        assert_same_bytes (minfo.data, orig, orig, info->size, info,
            "identity", alpha, padded, pal_names[p]);
      gst_buffer_unmap (buf, &minfo);
    }
  }

  dls_overlay_free (o);
  gst_buffer_unref (buf);
  g_free (map);
  g_free (want);
  g_free (orig);
}

/* __i__: index into formats[] */
GST_START_TEST (test_blend_matches_reference)
{
  const FormatCase *fc = &formats[__i__];
  gboolean is_yuv = fc->pstride == 0;
  GRand *rand = g_rand_new_with_seed (SEED + __i__);
  guint s, c, padded;

  for (s = 0; s < G_N_ELEMENTS (sizes); s++) {
    for (padded = 0; padded <= 1; padded++) {
      for (c = 0; c < (is_yuv ? G_N_ELEMENTS (colorimetries) : 1); c++) {
        GstVideoInfo info;

        fail_unless (gst_video_info_set_format (&info, fc->format,
                sizes[s].w, sizes[s].h));
        if (colorimetries[c].set) {
          info.colorimetry.matrix = colorimetries[c].matrix;
          info.colorimetry.range = colorimetries[c].range;
        }
        if (padded) {
          GstVideoAlignment align;
          guint i;

          /* extra bytes right and below, 32-byte aligned strides */
          gst_video_alignment_reset (&align);
          align.padding_right = 7;
          align.padding_bottom = 3;
          for (i = 0; i < GST_VIDEO_MAX_PLANES; i++)
            align.stride_align[i] = 31;
          fail_unless (gst_video_info_align (&info, &align));
        }
        check_case (rand, fc, &info, padded);
      }
    }
  }
  g_rand_free (rand);
}

GST_END_TEST;

GST_START_TEST (test_palette_voc)
{
  static const struct
  {
    guint c;
    guint8 r, g, b;
  } known[] = {
    {0, 0, 0, 0}, {1, 128, 0, 0}, {2, 0, 128, 0}, {3, 128, 128, 0},
    {4, 0, 0, 128}, {5, 128, 0, 128}, {7, 128, 128, 128}, {8, 64, 0, 0},
    {12, 64, 0, 128}, {15, 192, 128, 128}, {20, 0, 64, 128},
    {255, 224, 224, 192},
  };
  DlsPalette pal;
  guint i, j;

  dls_palette_init_voc (&pal);
  for (i = 0; i < G_N_ELEMENTS (known); i++) {
    fail_unless (pal.rgb[known[i].c][0] == known[i].r &&
        pal.rgb[known[i].c][1] == known[i].g &&
        pal.rgb[known[i].c][2] == known[i].b,
        "class %u is (%u, %u, %u), expected (%u, %u, %u)", known[i].c,
        pal.rgb[known[i].c][0], pal.rgb[known[i].c][1],
        pal.rgb[known[i].c][2], known[i].r, known[i].g, known[i].b);
  }
  /* the bit interleave makes every class a distinct colour */
  for (i = 0; i < 256; i++)
    for (j = 0; j < i; j++)
      fail_if (memcmp (pal.rgb[i], pal.rgb[j], 3) == 0,
          "classes %u and %u share a colour", i, j);
}

GST_END_TEST;

/* The Y'CbCr palette in absolute terms (not only against ref_yuv_palette):
 * alpha = 1 writes the palette value itself. BT.601 limited range:
 * VOC class 15 (person, (192, 128, 128)) is Y 142, U 119, V 156 and
 * class 1 (aeroplane, (128, 0, 0)) is Y 49, U 109, V 184. */
GST_START_TEST (test_yuv_palette_bt601)
{
  GstVideoInfo info;
  DlsPalette pal;
  DlsOverlay *o;
  GstBuffer *buf;
  GstVideoFrame frame;
  static const guint8 map[8] = { 15, 15, 1, 1, 15, 15, 1, 1 };
  const guint8 *y, *u, *v;

  fail_unless (gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 4,
          2));
  info.colorimetry.matrix = GST_VIDEO_COLOR_MATRIX_BT601;
  info.colorimetry.range = GST_VIDEO_COLOR_RANGE_16_235;
  dls_palette_init_voc (&pal);
  o = dls_overlay_new (&info);
  fail_unless (o != NULL);
  buf = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_memset (buf, 0, 0, info.size);

  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_READWRITE));
  dls_overlay_blend (o, &frame, map, 4, &pal, 1.0);
  y = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
  u = GST_VIDEO_FRAME_PLANE_DATA (&frame, 1);
  v = GST_VIDEO_FRAME_PLANE_DATA (&frame, 2);
  fail_unless_equals_int (y[0], 142);
  fail_unless_equals_int (u[0], 119);
  fail_unless_equals_int (v[0], 156);
  fail_unless_equals_int (y[2], 49);
  fail_unless_equals_int (u[1], 109);
  fail_unless_equals_int (v[1], 184);
  gst_video_frame_unmap (&frame);

  gst_buffer_unref (buf);
  dls_overlay_free (o);
}

GST_END_TEST;

GST_START_TEST (test_unsupported_formats)
{
  static const GstVideoFormat unsupported[] = {
    GST_VIDEO_FORMAT_YUY2, GST_VIDEO_FORMAT_GRAY8, GST_VIDEO_FORMAT_NV21,
    GST_VIDEO_FORMAT_Y444, GST_VIDEO_FORMAT_RGB16,
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (unsupported); i++) {
    GstVideoInfo info;

    fail_unless (gst_video_info_set_format (&info, unsupported[i], 64, 48));
    fail_unless (dls_overlay_new (&info) == NULL, "%s should be refused",
        gst_video_format_to_string (unsupported[i]));
  }
}

GST_END_TEST;

static Suite *
overlay_suite (void)
{
  Suite *s = suite_create ("overlay");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_palette_voc);
  tcase_add_test (tc, test_yuv_palette_bt601);
  tcase_add_test (tc, test_unsupported_formats);
  tcase_add_loop_test (tc, test_blend_matches_reference, 0,
      G_N_ELEMENTS (formats));
  return s;
}

GST_CHECK_MAIN (overlay);

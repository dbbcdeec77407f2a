/* deeplabseg: box blur of a video frame, for mode=background with
 * background-blur (the blurred frame is composited where the class is
 * background, see dls_overlay_composite()).
 *
 * out(x) = (1 / (2r + 1)) sum_{|k| <= r} in(clamp (x + k)), rounded to
 * nearest, applied along rows then along columns (separable, so
 * O(1) per sample whatever the radius: running sums). Edges replicate the
 * border sample. Each byte lane of a packed pixel is blurred on its own.
 */
#include "overlay.h"

#include <string.h>

/* Horizontal pass of one row: @n pixels of @ch interleaved bytes. */
static void
blur_row (const guint8 * in, guint8 * out, int n, int ch, int r)
{
  const guint32 div = 2 * r + 1, half = div / 2;

  for (int c = 0; c < ch; c++) {
    guint32 sum = 0;

    for (int k = -r; k <= r; k++)
      sum += in[CLAMP (k, 0, n - 1) * ch + c];
    for (int x = 0; x < n; x++) {
      out[x * ch + c] = (sum + half) / div;
      sum += in[MIN (x + r + 1, n - 1) * ch + c];
      sum -= in[MAX (x - r, 0) * ch + c];
    }
  }
}

/* One plane: rows of @w pixels x @ch bytes, @h rows; @tmp has @dst's
 * layout. @acc: w * ch running column sums. */
static void
blur_plane (const guint8 * src, int src_stride, guint8 * tmp, guint8 * dst,
    int stride, int w, int h, int ch, int r, guint32 * acc)
{
  const int n = w * ch;
  const guint32 div = 2 * r + 1, half = div / 2;

  for (int y = 0; y < h; y++)
    blur_row (src + (gsize) y * src_stride, tmp + (gsize) y * stride, w, ch, r);

  memset (acc, 0, n * sizeof (guint32));
  for (int k = -r; k <= r; k++) {
    const guint8 *row = tmp + (gsize) CLAMP (k, 0, h - 1) * stride;
    for (int i = 0; i < n; i++)
      acc[i] += row[i];
  }
  for (int y = 0; y < h; y++) {
    const guint8 *add = tmp + (gsize) MIN (y + r + 1, h - 1) * stride;
    const guint8 *sub = tmp + (gsize) MAX (y - r, 0) * stride;
    guint8 *out = dst + (gsize) y * stride;

    for (int i = 0; i < n; i++) {
      out[i] = (acc[i] + half) / div;
      acc[i] += add[i];
      acc[i] -= sub[i];
    }
  }
}

/**
 * dls_blur_frame:
 * @src: the frame to blur
 * @tmp: a frame of @src's info, scratch for the horizontal pass
 * @dst: a frame of @src's info, the result
 * @radius: in luma / RGB pixels, >= 1; chroma planes use max (1, radius / 2)
 * @acc: scratch of 4 * width guint32
 *
 * Box-blurs every plane of @src into @dst (see the banner). @tmp and @dst
 * must have the same strides (frames of the same buffer layout).
 */
void
dls_blur_frame (const GstVideoFrame * src, GstVideoFrame * tmp,
    GstVideoFrame * dst, int radius, guint32 * acc)
{
  const GstVideoFormatInfo *finfo = src->info.finfo;

  g_return_if_fail (radius >= 1);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (src); p++) {
    int comp[GST_VIDEO_MAX_COMPONENTS];
    int w, h, ch;

    gst_video_format_info_component (finfo, p, comp);
    w = GST_VIDEO_FRAME_COMP_WIDTH (src, comp[0]);
    h = GST_VIDEO_FRAME_COMP_HEIGHT (src, comp[0]);
    ch = GST_VIDEO_FRAME_COMP_PSTRIDE (src, comp[0]);
    g_return_if_fail (GST_VIDEO_FRAME_PLANE_STRIDE (tmp, p) ==
        GST_VIDEO_FRAME_PLANE_STRIDE (dst, p));
    blur_plane (GST_VIDEO_FRAME_PLANE_DATA (src, p),
        GST_VIDEO_FRAME_PLANE_STRIDE (src, p),
        GST_VIDEO_FRAME_PLANE_DATA (tmp, p), GST_VIDEO_FRAME_PLANE_DATA (dst, p),
        GST_VIDEO_FRAME_PLANE_STRIDE (dst, p), w, h, ch,
        p == 0 || !GST_VIDEO_FORMAT_INFO_IS_YUV (finfo) ? radius :
        MAX (1, radius / 2), acc);
  }
}

/* deeplabseg: GStreamer video glue (see frame.h). */
#include "frame.h"

#include <string.h>

DlsPixelFormat
dls_pixel_format_from_video (GstVideoFormat f)
{
  switch (f) {
    case GST_VIDEO_FORMAT_RGB:
      return DLS_PIXEL_RGB;
    case GST_VIDEO_FORMAT_BGR:
      return DLS_PIXEL_BGR;
    case GST_VIDEO_FORMAT_RGBx:
      return DLS_PIXEL_RGBX;
    case GST_VIDEO_FORMAT_BGRx:
      return DLS_PIXEL_BGRX;
    case GST_VIDEO_FORMAT_xRGB:
      return DLS_PIXEL_XRGB;
    case GST_VIDEO_FORMAT_xBGR:
      return DLS_PIXEL_XBGR;
    case GST_VIDEO_FORMAT_RGBA:
      return DLS_PIXEL_RGBA;
    case GST_VIDEO_FORMAT_BGRA:
      return DLS_PIXEL_BGRA;
    case GST_VIDEO_FORMAT_ARGB:
      return DLS_PIXEL_ARGB;
    case GST_VIDEO_FORMAT_ABGR:
      return DLS_PIXEL_ABGR;
    case GST_VIDEO_FORMAT_I420:
      return DLS_PIXEL_I420;
    case GST_VIDEO_FORMAT_NV12:
      return DLS_PIXEL_NV12;
    default:
      return DLS_PIXEL_COUNT;
  }
}

void
dls_yuv_matrix_from_info (DlsYuvMatrix * m, const GstVideoInfo * info)
{
  gdouble kr, kb;

  if (!gst_video_color_matrix_get_Kr_Kb (info->colorimetry.matrix, &kr, &kb)) {
    kr = 0.299;
    kb = 0.114;
  }
  dls_yuv_matrix_init (m, kr, kb,
      info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255);
}

void
dls_image_from_frame (DlsImage * img, const GstVideoFrame * frame)
{
  memset (img, 0, sizeof (*img));
  img->format = dls_pixel_format_from_video (GST_VIDEO_FRAME_FORMAT (frame));
  img->width = GST_VIDEO_FRAME_WIDTH (frame);
  img->height = GST_VIDEO_FRAME_HEIGHT (frame);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame) && p < 3; p++) {
    img->planes[p] = GST_VIDEO_FRAME_PLANE_DATA (frame, p);
    img->strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, p);
  }
  dls_yuv_matrix_from_info (&img->yuv, &frame->info);
}

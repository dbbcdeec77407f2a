/* deeplabseg: GStreamer video glue -- how a GstVideoFrame is seen by the
 * engine (DlsImage). Shared by the element and the tests so both feed the
 * engine the same way. */
#ifndef DLS_FRAME_H
#define DLS_FRAME_H

#include <gst/video/video.h>
#include "engine/image.h"

G_BEGIN_DECLS

/* DLS_PIXEL_COUNT when the element does not take @f. */
DlsPixelFormat dls_pixel_format_from_video (GstVideoFormat f);

/* The YUV -> RGB matrix of @info's colorimetry (BT.601 when it names
 * none, e.g. for RGB). */
void dls_yuv_matrix_from_info (DlsYuvMatrix * m, const GstVideoInfo * info);

/* Points @img at @frame's planes (no copy): valid while it is mapped. */
void dls_image_from_frame (DlsImage * img, const GstVideoFrame * frame);

G_END_DECLS

#endif /* DLS_FRAME_H */

/* deeplabseg: the element (GstVideoFilter). See gstdeeplabseg.c. */
#ifndef GST_DEEPLABSEG_H
#define GST_DEEPLABSEG_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

/**
 * GstDeeplabsegMode:
 * @GST_DEEPLABSEG_MODE_OVERLAY: blend the class palette into the frame
 * @GST_DEEPLABSEG_MODE_META: leave the frame alone, attach a
 *   #GstDeeplabsegMeta with the class map
 * @GST_DEEPLABSEG_MODE_MASK: output the class map as GRAY8 frames
 * @GST_DEEPLABSEG_MODE_BACKGROUND: keep the pixels of the selected classes
 *   bit-exact and replace the others by a colour or a blur of the frame
 */
typedef enum
{
  GST_DEEPLABSEG_MODE_OVERLAY,
  GST_DEEPLABSEG_MODE_META,
  GST_DEEPLABSEG_MODE_MASK,
  GST_DEEPLABSEG_MODE_BACKGROUND,
} GstDeeplabsegMode;

#define GST_TYPE_DEEPLABSEG_MODE (gst_deeplabseg_mode_get_type ())
GType gst_deeplabseg_mode_get_type (void);

#define GST_TYPE_DEEPLABSEG (gst_deeplabseg_get_type ())
G_DECLARE_FINAL_TYPE (GstDeeplabseg, gst_deeplabseg, GST, DEEPLABSEG,
    GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE (deeplabseg);

G_END_DECLS

#endif /* GST_DEEPLABSEG_H */

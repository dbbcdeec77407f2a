/* deeplabseg: plugin entry point; registers the element and nothing else. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include "gstdeeplabseg.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (deeplabseg, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, deeplabseg,
    "DeepLab semantic segmentation on OpenCL", plugin_init, VERSION,
    "LGPL", "deeplabseg", "deeplabseg")

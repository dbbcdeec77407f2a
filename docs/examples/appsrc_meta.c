/* deeplabseg example: an application feeds its own frames to deeplabseg
 * and reads the class map back from the meta.
 *
 *   appsrc ! videoconvert ! deeplabseg mode=meta ! appsink
 *
 * Build (installed):  gcc appsrc_meta.c -o appsrc_meta \
 *     $(pkg-config --cflags --libs gstreamer-app-1.0 gstreamer-deeplabseg-meta-1.0)
 * Run:  ./appsrc_meta [N_FRAMES [WIDTH HEIGHT [MODEL]]]
 *
 * The frames are synthesised here (a moving gradient with a bright disc);
 * a real application pushes camera or decoder output the same way. For each
 * frame the example prints the pixel count of every class present; the
 * counts of a frame add up to WIDTH * HEIGHT. Exit status 0 when every
 * frame came back with a GstDeeplabsegMeta of the frame's size.
 */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gstdeeplabsegmeta.h>     /* pkg-config: gstreamer-deeplabseg-meta-1.0 */
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdlib.h>

/* One RGB frame: a gradient that drifts with @n and a disc in the middle.
 * Rows are GStreamer's default stride for RGB (padded to 4 bytes), as
 * @info says: odd widths have padding. */
static GstBuffer *
make_frame (int n, const GstVideoInfo * info)
{
  int w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  int stride = GST_VIDEO_INFO_PLANE_STRIDE (info, 0);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info),
      NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p = map.data + (gsize) y * stride + x * 3;
      int dx = x - w / 2, dy = y - h / 2;
      gboolean disc = dx * dx + dy * dy < (h / 4) * (h / 4);

      p[0] = disc ? 230 : (x + 4 * n) * 255 / (w + 4 * n);
      p[1] = disc ? 200 : y * 255 / h;
      p[2] = disc ? 180 : 96;
    }
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (n, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

/* Prints the class counts of @meta's map; FALSE if it cannot be read. */
static gboolean
print_counts (int n, GstDeeplabsegMeta * meta)
{
  GstVideoMeta *vmeta = gst_buffer_get_video_meta (meta->mask);
  guint64 counts[256] = { 0 }, total = 0;
  GstMapInfo map;
  gpointer data;
  gint stride;

  if (!vmeta || !gst_video_meta_map (vmeta, 0, &map, &data, &stride,
          GST_MAP_READ))
    return FALSE;
  for (guint y = 0; y < meta->height; y++)
    for (guint x = 0; x < meta->width; x++)
      counts[((guint8 *) data)[y * stride + x]]++;
  gst_video_meta_unmap (vmeta, 0, &map);

  g_print ("frame %d %ux%u:", n, meta->width, meta->height);
  for (guint c = 0; c < 256; c++) {
    const gchar *label = gst_deeplabseg_meta_get_label (meta, c);
    if (counts[c])
      g_print (" %s=%" G_GUINT64_FORMAT, label ? label : "?", counts[c]);
    total += counts[c];
  }
  g_print (" (total %" G_GUINT64_FORMAT ")\n", total);
  return total == (guint64) meta->width * meta->height;
}

int
main (int argc, char **argv)
{
  int n_frames = argc > 1 ? atoi (argv[1]) : 5;
  int w = argc > 3 ? atoi (argv[2]) : 320, h = argc > 3 ? atoi (argv[3]) : 240;
  const char *model = argc > 4 ? argv[4] : NULL;
  GstElement *pipe, *src, *sink, *seg;
  GstVideoInfo info;
  GstCaps *caps;
  int ok = 0;

  gst_init (&argc, &argv);
  if (n_frames < 1 || w < 1 || h < 1) {
    g_printerr ("usage: %s [N_FRAMES [WIDTH HEIGHT [MODEL]]]\n", argv[0]);
    return 2;
  }
  pipe = gst_parse_launch ("appsrc name=src format=time ! videoconvert ! "
      "deeplabseg name=seg mode=meta ! appsink name=sink sync=false", NULL);
  if (!pipe) {
    g_printerr ("cannot build the pipeline: is deeplabseg on GST_PLUGIN_PATH?\n");
    return 1;
  }
  src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  seg = gst_bin_get_by_name (GST_BIN (pipe), "seg");
  if (model)
    g_object_set (seg, "model", model, NULL);
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, w, h);
  GST_VIDEO_INFO_FPS_N (&info) = 30;
  GST_VIDEO_INFO_FPS_D (&info) = 1;
  caps = gst_video_info_to_caps (&info);
  gst_app_src_set_caps (GST_APP_SRC (src), caps);
  gst_caps_unref (caps);

  if (gst_element_set_state (pipe, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("the pipeline failed to start (no model? no OpenCL?)\n");
    goto done;
  }
  for (int n = 0; n < n_frames; n++) {
    GstSample *sample;
    GstDeeplabsegMeta *meta;

    if (gst_app_src_push_buffer (GST_APP_SRC (src), make_frame (n, &info))
        != GST_FLOW_OK)
      break;
    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        60 * GST_SECOND);
    if (!sample)
      break;
    meta = gst_buffer_get_deeplabseg_meta (gst_sample_get_buffer (sample));
    if (meta && meta->width == (guint) w && meta->height == (guint) h
        && print_counts (n, meta))
      ok++;
    else
      g_printerr ("frame %d: no readable meta of the frame's size\n", n);
    gst_sample_unref (sample);
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));

done:
  {
    GstMessage *msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipe),
        ok ? 10 * GST_SECOND : 0, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gst_message_parse_error (msg, &err, NULL);
      g_printerr ("error: %s\n", err->message);
      g_clear_error (&err);
      ok = 0;
    }
    if (msg)
      gst_message_unref (msg);
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (seg);
  gst_object_unref (pipe);
  g_print ("%d of %d frames read\n", ok, n_frames);
  return ok == n_frames ? 0 : 1;
}

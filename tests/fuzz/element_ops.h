/* deeplabseg fuzzing: the byte code of the element fuzzer
 * (fuzz_element.c), shared with its seed writer (seeds.c).
 *
 * An input is a sequence of operations on one deeplabseg in a GstHarness.
 * Each starts with a byte whose value modulo FE_N_OPS picks it; its
 * arguments are the bytes after it (read as 0 past the end):
 *
 *   FE_CAPS  format, w_sel, w_lo, w_hi, h_sel, h_lo, h_hi, rate
 *            a caps event: fe_formats[format % n], sizes by fe_dim()
 *            (0, 1, 2, small, odd, up to 720, huge, any 16-bit; negative),
 *            framerate fe_rates[rate % n]
 *   FE_PROP  prop, kind, len, bytes[len]
 *            a property by name (fe_props[prop % n], then the element's
 *            other properties) set from a string by gst_util_set_object_arg:
 *            kind % 4: 0 a value of the property's type's table, 1 the
 *            bytes as a string, 2 a path (model, labels, palette file),
 *            3 a number made of the bytes; then read back
 *   FE_PUSH  n, size, flags, fill
 *            1 + n % 4 buffers: size % 6 is right, 0, one byte short, half,
 *            one byte long, right with a padded-stride GstVideoMeta; flags:
 *            bit 0 DISCONT, bit 1 no timestamps; the outputs are pulled
 *   FE_EVENT kind: flush, segment, EOS, stream-start, gap, flush-start
 *            alone, a segment in BYTES
 *   FE_STATE state % 4: NULL, READY, PAUSED, PLAYING
 *   FE_QUERY format, w_sel, w_lo, w_hi: a caps query with that filter on
 *            both pads, and an accept-caps
 */
#ifndef DLS_FUZZ_ELEMENT_OPS_H
#define DLS_FUZZ_ELEMENT_OPS_H

enum
{
  FE_CAPS,
  FE_PROP,
  FE_PUSH,
  FE_EVENT,
  FE_STATE,
  FE_QUERY,
  FE_N_OPS
};

/* Formats of FE_CAPS: the element's 12, GRAY8 (refused as input), a
 * format no template has. */
static const char *const fe_formats[] = {
  "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB",
  "ABGR", "I420", "NV12", "GRAY8", "YUY2",
};

/* Properties by index (seeds name them by position here). */
static const char *const fe_props[] = {
  "model", "labels", "mode", "alpha", "device", "input-mean", "input-std",
  "crf", "crf-iterations", "crf-gaussian-sxy", "crf-gaussian-weight",
  "crf-bilateral-sxy", "crf-bilateral-srgb", "crf-bilateral-weight",
  "crf-warm-start", "crf-warm-iterations", "crf-scale", "palette", "classes",
  "background-color", "background-blur", "post-messages", "interval",
  "confidence", "qos",
};

enum
{
  FE_EV_FLUSH, FE_EV_SEGMENT, FE_EV_EOS, FE_EV_STREAM_START, FE_EV_GAP,
  FE_EV_FLUSH_START, FE_EV_SEGMENT_BYTES, FE_N_EVENTS
};

enum
{
  FE_SIZE_RIGHT, FE_SIZE_ZERO, FE_SIZE_SHORT, FE_SIZE_HALF, FE_SIZE_LONG,
  FE_SIZE_STRIDED, FE_N_SIZES
};

/* w_sel of FE_CAPS, FE_QUERY. */
enum
{
  FE_DIM_ZERO, FE_DIM_ONE, FE_DIM_TWO, FE_DIM_SMALL, FE_DIM_ODD,
  FE_DIM_MEDIUM, FE_DIM_HUGE, FE_DIM_ANY, FE_DIM_NEGATIVE, FE_N_DIMS
};

#endif /* DLS_FUZZ_ELEMENT_OPS_H */

#!/usr/bin/env python3
"""Reads deeplabseg's class map from Python, with a pad probe.

    python3 segment_meta.py VIDEO_OR_IMAGE [--frames N] [--model M] [--dump DIR]
                            [--confidence]
    python3 segment_meta.py --camera [/dev/video0]

Pipeline: uridecodebin (or v4l2src) ! videoconvert ! deeplabseg mode=meta !
fakesink, with a buffer probe on the sink pad that reads each frame's
GstDeeplabsegMeta through the GstDeeplabseg-1.0 typelib and prints the
class coverage, e.g. `frame 3 0:00:00.100000000 person 23.1% sofa 4.2%`.
--dump DIR also writes each class map as DIR/map-NNNNN.pgm (pixel = class
id), which the test suite compares with mode=mask output. --confidence
sets the element's confidence=true and adds the frame's mean confidence
(the mean of the meta's per-pixel max class probability), e.g.
`mean confidence 91.4%`.

Uninstalled build (from the checkout):
    GST_PLUGIN_PATH=build/gst GI_TYPELIB_PATH=build/gst/meta \\
    LD_LIBRARY_PATH=build/gst/meta python3 docs/examples/segment_meta.py \\
    ../shared/data/video/bedroom.mp4 --frames 10
Needs Debian's python3-gi and python3-gst-1.0 (scripts/setup.sh installs them).
"""
import argparse
import collections
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstDeeplabseg", "1.0")
from gi.repository import GLib, Gst, GstDeeplabseg  # noqa: E402


def coverage(data, n_classes):
    """Fraction of pixels of each class id present in the map."""
    counts = collections.Counter(data)
    total = len(data) or 1
    return {c: counts[c] / total for c in sorted(counts) if c < n_classes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input", nargs="?", help="video or image file")
    ap.add_argument("--camera", nargs="?", const="/dev/video0", help="V4L2 device")
    ap.add_argument("--model", help="model file (default: the element's)")
    ap.add_argument("--frames", type=int, default=0, help="stop after N frames")
    ap.add_argument("--dump", help="write each class map as DIR/map-NNNNN.pgm")
    ap.add_argument("--confidence", action="store_true",
                    help="print the mean per-pixel confidence of each frame")
    args = ap.parse_args()
    if not args.input and not args.camera:
        ap.error("give a file or --camera")

    Gst.init(None)
    if args.camera:
        src = f"v4l2src device={args.camera}"
    else:
        src = f"uridecodebin uri={Gst.filename_to_uri(os.path.abspath(args.input))}"
    model = f' model="{args.model}"' if args.model else ""
    if args.confidence:
        model += " confidence=true"
    pipeline = Gst.parse_launch(
        f"{src} ! videoconvert ! deeplabseg name=seg mode=meta{model} ! "
        "fakesink name=sink sync=false")
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    loop = GLib.MainLoop()
    state = {"n": 0, "status": 0}

    def on_buffer(pad, info):
        if args.frames and state["n"] >= args.frames:
            return Gst.PadProbeReturn.DROP
        buf = info.get_buffer()
        meta = GstDeeplabseg.buffer_get_deeplabseg_meta(buf)
        if meta is None:
            print("frame without a GstDeeplabsegMeta", file=sys.stderr)
            state["status"] = 1
            return Gst.PadProbeReturn.OK
        data, w, h = meta.get_class_map()
        pixels = data.get_data()
        cov = coverage(pixels, meta.n_classes)
        shown = " ".join(f"{meta.get_label(c)} {100 * f:.1f}%" for c, f in
                         sorted(cov.items(), key=lambda kv: -kv[1]))
        if args.confidence:
            conf = meta.get_confidence_map()  # None without confidence=true
            if conf is None:
                print("frame without a confidence plane", file=sys.stderr)
                state["status"] = 1
            else:
                cdata = conf[0].get_data()  # round (255 * max probability)
                shown += f" mean confidence {100 * sum(cdata) / (255 * len(cdata)):.1f}%"
        print(f"frame {state['n']} {Gst.TIME_ARGS(buf.pts)} {w}x{h} {shown}",
              flush=True)
        if args.dump:
            path = os.path.join(args.dump, f"map-{state['n']:05d}.pgm")
            with open(path, "wb") as f:
                f.write(b"P5\n%d %d\n255\n" % (w, h) + pixels)
        state["n"] += 1
        if args.frames and state["n"] == args.frames:
            GLib.idle_add(loop.quit)
        return Gst.PadProbeReturn.OK

    sink = pipeline.get_by_name("sink").get_static_pad("sink")
    sink.add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.EOS:
            loop.quit()
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"error from {msg.src.get_name()}: {err.message}\n{dbg}",
                  file=sys.stderr)
            state["status"] = 1
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        on_message(bus, bus.pop_filtered(Gst.MessageType.ERROR) or
                   Gst.Message.new_eos(pipeline))
        state["status"] = 1
    else:
        loop.run()
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())

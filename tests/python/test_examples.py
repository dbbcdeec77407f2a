#!/usr/bin/env python3
"""The Python example (docs/examples/segment_meta.py) reads the same class
maps that mode=mask outputs.

Runs the example on the first FRAMES frames of a shared clip with --dump,
then decodes the same clip through `deeplabseg mode=mask ! appsink` and
asserts every dumped map equals the mask frame byte for byte (and that the
maps are not trivial: some foreground). The example runs with --confidence,
so the confidence plane is read through the typelib too: every frame's line
must carry a mean confidence in (1/21, 100] %. Needs PyGObject with the
GstDeeplabseg-1.0 typelib of the build (meson sets GI_TYPELIB_PATH,
LD_LIBRARY_PATH, GST_PLUGIN_PATH); re-executes with Debian's /usr/bin/python3
when this interpreter has no gi. Exit 0 pass, 1 fail, 77 skip (a failure
under CI=true).
"""
import os
import subprocess
import sys
import tempfile

SKIP = 77
FRAMES = 6
CLIP = "data/video/bedroom.mp4"


def skip(msg):
    print(f"SKIP: {msg}")
    if os.environ.get("CI", "").lower() in ("true", "1"):
        print("CI=true: this must run, so it is a failure")
        sys.exit(1)
    sys.exit(SKIP)


try:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as exc:
    if os.path.exists("/usr/bin/python3") and not os.environ.get("_DLS_REEXEC"):
        os.environ["_DLS_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    skip(f"no PyGObject/GStreamer bindings ({exc}): install python3-gi python3-gst-1.0")

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "docs", "examples", "segment_meta.py")


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, dims, maxval, rest = data.split(b"\n", 3)
    assert magic == b"P5" and maxval == b"255", path
    w, h = map(int, dims.split())
    assert len(rest) == w * h, f"{path}: {len(rest)} bytes for {w}x{h}"
    return w, h, rest


def mask_frames(clip, n):
    """The first @n GRAY8 frames of deeplabseg mode=mask, dense rows."""
    Gst.init(None)
    p = Gst.parse_launch(
        f"uridecodebin uri={Gst.filename_to_uri(clip)} ! videoconvert ! "
        "deeplabseg mode=mask ! appsink name=out sync=false max-buffers=2")
    sink = p.get_by_name("out")
    if p.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        raise RuntimeError("mask pipeline failed to start")
    maps = []
    try:
        for _ in range(n):
            sample = sink.emit("try-pull-sample", 120 * Gst.SECOND)
            if sample is None:
                raise RuntimeError(f"mask pipeline ended after {len(maps)} frames")
            s = sample.get_caps().get_structure(0)
            assert s.get_string("format") == "GRAY8", sample.get_caps().to_string()
            w, h = s.get_value("width"), s.get_value("height")
            buf = sample.get_buffer()
            raw = buf.extract_dup(0, buf.get_size())
            stride = len(raw) // h
            maps.append((w, h, b"".join(raw[y * stride:y * stride + w] for y in range(h))))
    finally:
        p.set_state(Gst.State.NULL)
    return maps


def main():
    shared = os.environ.get("DLS_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
    clip = os.path.abspath(os.path.join(shared, CLIP))
    if not os.path.exists(clip):
        skip(f"missing {clip} (set DLS_SHARED_DIR)")
    with tempfile.TemporaryDirectory(prefix="dls-example-") as tmp:
        p = subprocess.run([sys.executable, EXAMPLE, clip, "--frames", str(FRAMES),
                            "--dump", tmp, "--confidence"], capture_output=True, text=True,
                           timeout=600)
        print(p.stdout, end="")
        if p.returncode != 0:
            print(f"FAIL: the example exited {p.returncode}:\n{p.stderr}")
            return 1
        confs = [float(line.rsplit(" ", 1)[1].rstrip("%"))
                 for line in p.stdout.splitlines()
                 if line.startswith("frame ") and "mean confidence" in line]
        # the max of 21 probabilities is at least 1/21
        if len(confs) != FRAMES or not all(100 / 21 <= c <= 100 for c in confs):
            print(f"FAIL: mean confidences {confs}, expected {FRAMES} in (1/21, 100] %")
            return 1
        dumped = sorted(f for f in os.listdir(tmp) if f.endswith(".pgm"))
        if len(dumped) != FRAMES:
            print(f"FAIL: the example dumped {len(dumped)} maps, expected {FRAMES}")
            return 1
        masks = mask_frames(clip, FRAMES)
        failures = 0
        for i, name in enumerate(dumped):
            w, h, got = read_pgm(os.path.join(tmp, name))
            mw, mh, want = masks[i]
            fg = sum(1 for v in want if v)
            same = (w, h) == (mw, mh) and got == want
            diff = sum(a != b for a, b in zip(got, want)) if len(got) == len(want) else -1
            print(f"frame {i}: example {w}x{h} vs mask {mw}x{mh}: "
                  f"{diff} pixels differ, {fg} foreground")
            if not same or fg == 0:
                failures += 1
    if failures:
        print(f"FAIL: {failures} of {FRAMES} frames differ (or are all background)")
        return 1
    print(f"PASS: {FRAMES} frames, the example's maps equal mode=mask output")
    return 0


if __name__ == "__main__":
    sys.exit(main())

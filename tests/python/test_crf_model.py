#!/usr/bin/env python3
"""Dense CRF on model output: mIoU without and with the CRF.

Every image of $DLS_SHARED_DIR/data/voc-dev (*.png) and voc-val-dev (*.jpg)
goes through the element, `gst-launch-1.0 filesrc ! {png,jpeg}dec !
videoconvert ! deeplabseg mode=mask [crf=true ...] ! pngenc ! filesink`
(the map at the image's size), for: no CRF; the CRF with the element's
default parameters (cold, crf-iterations default); and the CRF with each
of the two parameter sets the issue names (pydensecrf demo / DeepLab VOC:
Gaussian sxy 3 w 3, bilateral sxy 80 srgb 13 w 10; DeepLab-v2: Gaussian 1
3, bilateral 67 3 4), these two at the element's default crf-scale (0.5);
and the default parameters on the full-size grid (crf-scale=1, reported
only). Per image, mIoU vs *_label.png (255 = void ignored;
mean over the classes present in the ground truth or the prediction).
Before that, tiny frames through the element with crf=true in every mode
(videotestsrc 1x1, 2x2 and 3x1, 3 frames so warm starts run): no error, and
in mask mode every map value is a class id (< 21).
Asserts: the mean over images of the per-image mIoU with the default CRF
is not lower than without. Prints every number (the gain in points).
Exit 0 pass, 1 fail, 77 skip (a failure under CI=true).
"""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crf_common as cc  # noqa: E402

cc.need_venv(["numpy", "PIL"])
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

CONFIGS = {
    "none": [],
    "default": ["crf=true"],
    "demo": ["crf=true", "crf-gaussian-sxy=3", "crf-gaussian-weight=3",
             "crf-bilateral-sxy=80", "crf-bilateral-srgb=13",
             "crf-bilateral-weight=10"],
    "deeplab-v2": ["crf=true", "crf-gaussian-sxy=1", "crf-gaussian-weight=3",
                   "crf-bilateral-sxy=67", "crf-bilateral-srgb=3",
                   "crf-bilateral-weight=4"],
    "default-scale-1": ["crf=true", "crf-scale=1"],
}


def segment(path, props, out):
    dec = "pngdec" if path.endswith(".png") else "jpegdec"
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", dec,
           "!", "videoconvert", "!", "deeplabseg", "mode=mask"] + props + [
           "!", "pngenc", "!", "filesink", f"location={out}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stdout}{r.stderr}")
    return np.array(Image.open(out))


def miou(gt, pred, n=21):
    v = gt != 255
    conf = np.bincount(gt[v].astype(int) * n + pred[v].astype(int),
                       minlength=n * n).reshape(n, n)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    present = union > 0
    return 100.0 * float((inter[present] / union[present]).mean())


def tiny_frames(tmp):
    """crf=true on 1x1, 2x2 and 3x1 frames in each mode; returns failures."""
    fails = []
    for w, h in ((1, 1), (2, 2), (3, 1)):
        for mode in ("mask", "overlay", "meta"):
            out = os.path.join(tmp, f"tiny_{w}x{h}_{mode}.raw")
            cmd = ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=3",
                   "pattern=ball", "!", f"video/x-raw,format=RGB,width={w},"
                   f"height={h}", "!", "deeplabseg", f"mode={mode}",
                   "crf=true", "!", "filesink", f"location={out}"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            ok = r.returncode == 0
            if ok and mode == "mask":
                # GRAY8 rows are padded to 4 bytes.
                stride = (w + 3) // 4 * 4
                m = np.fromfile(out, dtype=np.uint8)
                ok = m.size == 3 * stride * h and int(
                    m.reshape(3 * h, stride)[:, :w].max()) < 21
            print(f"tiny frame {w}x{h} {mode} crf=true: "
                  f"{'ok' if ok else 'FAIL ' + r.stderr}", flush=True)
            if not ok:
                fails.append(f"{w}x{h} {mode}")
    return fails


def main():
    if subprocess.run(["gst-inspect-1.0", "deeplabseg"],
                      capture_output=True).returncode != 0:
        cc.skip("gst-inspect-1.0 cannot find deeplabseg (GST_PLUGIN_PATH)")
    cc.need_file(os.path.join(cc.shared_dir(), "models",
                              "deeplabv3_257_mv_gpu.tflite"))
    with tempfile.TemporaryDirectory() as tmp:
        tiny_fails = tiny_frames(tmp)
    data = os.path.join(cc.shared_dir(), "data")
    images = sorted(glob.glob(os.path.join(data, "voc-dev", "*[0-9].png")))
    images += sorted(glob.glob(os.path.join(data, "voc-val-dev", "*.jpg")))
    if not images:
        cc.skip(f"no images in {data}/voc-dev, voc-val-dev")
    cc.need_file(os.path.join(cc.shared_dir(), "models",
                              "deeplabv3_257_mv_gpu.tflite"))
    scores = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for path in images:
            gt = np.array(Image.open(
                os.path.splitext(path)[0] + "_label.png"))
            row = []
            for c, props in CONFIGS.items():
                pred = segment(path, props, os.path.join(tmp, "map.png"))
                if pred.shape != gt.shape:
                    raise RuntimeError(f"{path}: map {pred.shape} vs label "
                                       f"{gt.shape}")
                scores[c].append(miou(gt, pred))
                row.append(f"{c} {scores[c][-1]:.2f}")
            print(f"{os.path.basename(path)} mIoU: {', '.join(row)}",
                  flush=True)
    mean = {c: float(np.mean(v)) for c, v in scores.items()}
    print("mean mIoU over images: " + ", ".join(
        f"{c} {m:.2f}" for c, m in mean.items()))
    for c in ("default", "demo", "deeplab-v2", "default-scale-1"):
        print(f"gain of CRF {c}: {mean[c] - mean['none']:+.2f} points")
    for f in tiny_fails:
        print(f"FAIL: tiny frame {f}")
    if mean["default"] < mean["none"]:
        print("FAIL: the default CRF lowers mean mIoU")
        return 1
    if tiny_fails:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

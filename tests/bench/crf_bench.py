#!/usr/bin/env python3
"""Dense CRF benchmark: ours (OpenCL, and the C reference for scale) vs
pydensecrf, same inputs and parameters, in one run.

Sizes 513x513 and 640x480 with 21 classes: the image is a real photo
(voc-dev voc_000.png; DAVIS blackswan frame 0 resized to 640x480), the
unary a smooth random one (21 classes); and what the element runs for a
640x480 frame by default (crf-scale 0.5: a 320x240 grid, position
deviations halved; the final bilinear upsampling of Q is not included),
that grid also with the real unary: U = -logits of the shared model
(LiteRT) on the frame, peaked as the element's are, so the class pruning
(crf-min-class-probability, default) leaves 4-9 of 21 classes active.
Parameter sets: the element's
default (DeepLab-v2: Gaussian 1/3, bilateral 67/3/4) and the pydensecrf
demo's (3/3, 80/13/10). 5 iterations.

Measured (medians of R runs, after a warm-up):
  pydensecrf: setup = DenseCRF2D + setUnaryEnergy + both addPairwise (the
    lattices); iteration = (inference(5) - inference(0)) / 5; frame =
    setup + inference(5) + argmax.
  ours: tests/tools/dls-crf --repeat R: setup (lattices built on the host
    and uploaded), iteration (one mean-field update on the device), frame
    (setup + 5 iterations + map read back), warm frame (setup + 1
    iteration from the previous Q + map read back).
Prints a table and the ratios pydensecrf / ours. Run with
`meson test -C build --benchmark crf` or directly (DLS_BENCH_REPEAT=R).
"""
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "python"))
import crf_common as cc  # noqa: E402

cc.need_venv(["numpy", "PIL", "pydensecrf.densecrf"])
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PARAMS = {
    "default (DeepLab-v2)": dict(gaussian_sxy=1, gaussian_weight=3,
                                 bilateral_sxy=67, bilateral_srgb=3,
                                 bilateral_weight=4),
    "pydensecrf demo": dict(gaussian_sxy=3, gaussian_weight=3,
                            bilateral_sxy=80, bilateral_srgb=13,
                            bilateral_weight=10),
}
ITER = 5


def images():
    d = os.path.join(cc.shared_dir(), "data")
    a = np.array(Image.open(cc.need_file(
        os.path.join(d, "voc-dev", "voc_000.png"))).convert("RGB"))
    b = np.array(Image.open(cc.need_file(os.path.join(
        d, "davis", "blackswan", "JPEGImages", "00000.jpg"))).convert(
            "RGB").resize((640, 480), Image.BILINEAR))
    c = np.array(Image.fromarray(b).resize((320, 240), Image.BILINEAR))
    return {"513x513x21": a[:513, :513], "640x480x21": b,
            "640x480 at crf-scale 0.5 (grid 320x240x21)": c,
            "grid 320x240x21, DeepLab's unary": c}


def smooth_unary(h, w, c, seed):
    rng = np.random.default_rng(seed)
    small = rng.normal(0, 2, (c, (h + 15) // 16, (w + 15) // 16))
    logits = np.kron(small, np.ones((1, 16, 16)))[:, :h, :w].reshape(c, -1)
    return (-logits).astype(np.float32)


def time_pydensecrf(img, U, p, reps):
    import pydensecrf.densecrf as dcrf
    h, w = img.shape[:2]
    setup, it, frame = [], [], []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        d = dcrf.DenseCRF2D(w, h, U.shape[0])
        d.setUnaryEnergy(U)
        d.addPairwiseGaussian(sxy=p["gaussian_sxy"],
                              compat=p["gaussian_weight"])
        d.addPairwiseBilateral(sxy=p["bilateral_sxy"],
                               srgb=p["bilateral_srgb"], rgbim=img,
                               compat=p["bilateral_weight"])
        t1 = time.perf_counter()
        d.inference(0)
        t2 = time.perf_counter()
        q = np.array(d.inference(ITER))
        q.argmax(0)
        t3 = time.perf_counter()
        setup.append((t1 - t0) * 1e3)
        it.append(((t3 - t2) - (t2 - t1)) / ITER * 1e3)
        frame.append((t1 - t0 + t3 - t2) * 1e3)
    return {"setup_ms": statistics.median(setup[1:]),
            "iteration_ms": statistics.median(it[1:]),
            "frame_ms": statistics.median(frame[1:])}


def main():
    reps = int(os.environ.get("DLS_BENCH_REPEAT", "3"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, img in images().items():
            img = np.ascontiguousarray(img)
            h, w = img.shape[:2]
            if "DeepLab" in size:
                U = cc.deeplab_unary(Image.fromarray(img), w, h)
            else:
                U = smooth_unary(h, w, 21, 1)
            for pname, pp in PARAMS.items():
                p = dict(cc.DEMO, **pp)
                if "crf-scale" in size or "DeepLab" in size:
                    if "default" not in pname:
                        continue
                    # The element scales the position deviations with the
                    # grid.
                    p["gaussian_sxy"] *= 0.5
                    p["bilateral_sxy"] *= 0.5
                py = time_pydensecrf(img, U, p, reps)
                res = {"pydensecrf": py}
                for be in ("opencl", "ref"):
                    _, out = cc.ours_q(img, U, 21, p, ITER, be, tmp,
                                       ["--repeat", str(reps)])
                    res[be] = json.loads(out.strip().splitlines()[-1])
                rows.append((size, pname, res))
                print(f"{size} {pname}: " + "; ".join(
                    f"{k} " + ", ".join(f"{m} {v[m]:.1f}" for m in
                                        ("setup_ms", "iteration_ms",
                                         "frame_ms", "warm_frame_ms")
                                        if m in v)
                    for k, v in res.items()), flush=True)
    print("\n| size | parameters | ms/iteration ours (OpenCL) | pydensecrf "
          "| ratio | frame ours | frame pydensecrf | ratio | warm 1-iteration"
          " frame ours |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, pname, r in rows:
        o, py = r["opencl"], r["pydensecrf"]
        print(f"| {size} | {pname} | {o['iteration_ms']:.1f} | "
              f"{py['iteration_ms']:.1f} | "
              f"{py['iteration_ms'] / o['iteration_ms']:.2f}x | "
              f"{o['frame_ms']:.1f} | {py['frame_ms']:.1f} | "
              f"{py['frame_ms'] / o['frame_ms']:.2f}x | "
              f"{o['warm_frame_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

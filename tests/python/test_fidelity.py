#!/usr/bin/env python3
"""Whole-model fidelity: deeplabseg's network (dls-infer) vs LiteRT.

For every image of $DLS_SHARED_DIR/data/voc-dev/*.png and voc-val-dev/*.jpg:
  - the input tensor: RGB, PIL bilinear resize to the model input (257x257),
    x / 127.5 - 1, float32 NHWC; the same tensor goes to every runtime;
  - LiteRT with its default kernels (XNNPACK) and with its reference kernels
    (OpResolverType.BUILTIN_REF), num_threads=2;
  - ours: dls-infer with backend opencl and ref;
  - per image: max |logit diff| and argmax agreement at the logit level;
  - mIoU vs the ground truth: logits upsampled to the label size (bilinear,
    half-pixel centres, as the element does), argmax, one confusion matrix
    over all images, mean IoU over the classes present (255 = void ignored).
Asserts, for each of our backends against each LiteRT variant:
  argmax agreement >= 99.9 % on every image, |mIoU diff| <= 0.5 points.

Run by meson (`meson test -C build fidelity-litert`), which sets
DLS_SHARED_DIR, DLS_BUILD_DIR and DLS_TEST_PYTHON (the venv of
scripts/setup.sh; this script re-executes itself with it). Exit 0 pass,
1 fail, 77 skip (missing data or modules; a failure under CI=true).
Environment for development: DLS_INFER (path of dls-infer),
DLS_FIDELITY_BACKENDS (default "opencl,ref").
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

SKIP = 77
MIN_AGREEMENT = 99.9        # % of logit pixels with the same argmax, per image
MAX_MIOU_DIFF = 0.5         # mIoU points
MODEL_REL = "models/deeplabv3_257_mv_gpu.tflite"


def in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1")


def skip(msg):
    print(f"SKIP: {msg}")
    if in_ci():
        print("CI=true: data and modules must be present, so this is a failure")
        sys.exit(1)
    sys.exit(SKIP)


def import_modules():
    """Imports numpy, PIL and LiteRT, re-executing with DLS_TEST_PYTHON when
    this interpreter lacks them."""
    try:
        import numpy  # noqa: F401
        from PIL import Image  # noqa: F401
        try:
            from ai_edge_litert import interpreter as litert
        except ImportError:
            from tflite_runtime import interpreter as litert
        return litert
    except ImportError as exc:
        py = os.environ.get("DLS_TEST_PYTHON", "")
        if py and os.path.exists(py) and not os.environ.get("_DLS_REEXEC"):
            os.environ["_DLS_REEXEC"] = "1"
            sys.stdout.flush()
            os.execv(py, [py] + sys.argv)
        skip(f"{exc} in {sys.executable} (DLS_TEST_PYTHON={py or 'unset'}): "
             "run scripts/setup.sh to create .venv")


litert = import_modules()
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def shared_dir():
    d = os.environ.get("DLS_SHARED_DIR")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "..", "shared")


def find_images(shared):
    pairs = []
    patterns = [("data/voc-dev", "*.png"), ("data/voc-val-dev", "*.jpg")]
    for folder, pat in patterns:
        for img in sorted(glob.glob(os.path.join(shared, folder, pat))):
            stem = os.path.splitext(img)[0]
            if stem.endswith("_label"):
                continue
            label = stem + "_label.png"
            if not os.path.exists(label):
                skip(f"missing ground truth {label}")
            pairs.append((img, label))
    return pairs


def input_tensor(path, w, h):
    img = Image.open(path).convert("RGB").resize((w, h), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(x[None])                   # 1 x H x W x 3


def upsample_bilinear(logits, out_h, out_w):
    """H x W x C -> out_h x out_w x C, half-pixel centres clamped to the
    input (s = (d + 0.5) * in / out - 0.5), as gst/engine/image.h."""
    def axis(n_in, n_out):
        s = (np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5
        s = np.clip(s, 0, n_in - 1)
        s0 = np.floor(s).astype(np.int64)
        s1 = np.minimum(s0 + 1, n_in - 1)
        return s0, s1, (s - s0).astype(np.float32)
    in_h, in_w, _ = logits.shape
    y0, y1, wy = axis(in_h, out_h)
    x0, x1, wx = axis(in_w, out_w)
    rows = logits[y0] * (1 - wy)[:, None, None] + logits[y1] * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def class_map(logits, out_h, out_w):
    return np.argmax(upsample_bilinear(logits, out_h, out_w), axis=-1)


def confusion(gt, pred, n):
    keep = gt != 255
    idx = gt[keep].astype(np.int64) * n + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=n * n).reshape(n, n)


def miou(conf):
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    present = union > 0
    return 100.0 * np.mean(tp[present] / union[present])


class LiteRT:
    def __init__(self, model, resolver):
        kw = {}
        if resolver is not None:
            kw["experimental_op_resolver_type"] = resolver
        self.it = litert.Interpreter(model_path=model, num_threads=2, **kw)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def run(self, x):
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        return self.it.get_tensor(self.out["index"])[0].copy()


def run_ours(dls_infer, model, backend, tensors, tmp):
    """Runs dls-infer once for every tensor; returns (info, [logits], s)."""
    args = [dls_infer, "--model", model, "--backend", backend, "--info"]
    outs = []
    for i, t in enumerate(tensors):
        fin = os.path.join(tmp, f"in{i}.f32")
        fout = os.path.join(tmp, f"{backend}-out{i}.f32")
        if not os.path.exists(fin):
            t.tofile(fin)
        args += ["--input", fin, "--logits", fout]
        outs.append(fout)
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=800)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"dls-infer --backend {backend} exited {p.returncode}:\n"
                           f"{p.stderr.strip()}\n(command: {' '.join(args[:7])} ...)")
    info = json.loads(p.stdout.strip().splitlines()[0])
    shape = (info["input_height"], info["input_width"], info["classes"])
    logits = []
    for f in outs:
        a = np.fromfile(f, dtype=np.float32)
        if a.size != np.prod(shape):
            raise RuntimeError(f"{f}: {a.size} floats, expected {shape}")
        logits.append(a.reshape(shape))
    return info, logits, secs


def main():
    shared = shared_dir()
    model = os.path.join(shared, MODEL_REL)
    if not os.path.exists(model):
        skip(f"missing model {model} (set DLS_SHARED_DIR)")
    pairs = find_images(shared)
    if not pairs:
        skip(f"no images in {shared}/data/voc-dev or voc-val-dev")

    dls_infer = os.environ.get("DLS_INFER") or os.path.join(
        os.environ.get("DLS_BUILD_DIR", "build"), "tests", "tools", "dls-infer")
    if not os.path.exists(dls_infer):
        print(f"FAIL: {dls_infer} not found: build first (ninja -C build)")
        return 1
    backends = [b for b in os.environ.get("DLS_FIDELITY_BACKENDS",
                                          "opencl,ref").split(",") if b]

    # LiteRT: default kernels (XNNPACK) and the reference kernels.
    resolvers = getattr(litert, "OpResolverType", None)
    refs = {"litert": LiteRT(model, None)}
    if resolvers is not None and hasattr(resolvers, "BUILTIN_REF"):
        refs["litert-ref"] = LiteRT(model, resolvers.BUILTIN_REF)
    else:
        print("note: this LiteRT has no OpResolverType.BUILTIN_REF: "
              "reference kernels not compared")
    _, in_h, in_w, in_c = refs["litert"].inp["shape"]
    n_classes = int(refs["litert"].out["shape"][-1])
    print(f"model {model}: input {in_w}x{in_h}x{in_c}, {n_classes} classes; "
          f"{len(pairs)} images; ours: {', '.join(backends)}")

    tensors = [input_tensor(img, in_w, in_h) for img, _ in pairs]
    results = {}                                # runtime -> [H x W x C logits]
    for name, rt in refs.items():
        t0 = time.monotonic()
        results[name] = [rt.run(t) for t in tensors]
        print(f"  {name:<12} {1000 * (time.monotonic() - t0) / len(tensors):8.1f} ms/image")

    failures = []
    with tempfile.TemporaryDirectory(prefix="dls-fidelity-") as tmp:
        for b in backends:
            try:
                info, logits, secs = run_ours(dls_infer, model, b,
                                              [t[0] for t in tensors], tmp)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                failures.append(f"ours-{b}: {exc}")
                print(f"  ours-{b}: FAILED: {exc}")
                continue
            if (info["input_height"], info["input_width"], info["classes"]) != \
                    (in_h, in_w, n_classes):
                failures.append(f"ours-{b}: shape {info} differs from LiteRT")
                continue
            results[f"ours-{b}"] = logits
            print(f"  {'ours-' + b:<12} {1000 * secs / len(tensors):8.1f} ms/image "
                  f"(whole process, model load and kernel build included; "
                  f"device: {info.get('device')})")

    ours = [k for k in results if k.startswith("ours-")]
    pairs_cmp = [(o, r) for o in ours for r in refs]
    if len(refs) == 2:
        pairs_cmp.append(("litert", "litert-ref"))

    # Logit level, per image.
    print(f"\nLogit level ({in_w}x{in_h}): max |diff| / argmax agreement %")
    names = [os.path.basename(img) for img, _ in pairs]
    w = max(len(n) for n in names) + 2
    head = "".join(f"{a + ' vs ' + b:>30}" for a, b in pairs_cmp)
    print(f"{'image':<{w}}{head}")
    for i, n in enumerate(names):
        row = ""
        for a, b in pairs_cmp:
            la, lb = results[a][i], results[b][i]
            diff = float(np.max(np.abs(la - lb)))
            agree = 100.0 * float(np.mean(np.argmax(la, -1) == np.argmax(lb, -1)))
            row += f"{diff:>18.2e} {agree:>10.3f}%"
            if a.startswith("ours-") and agree < MIN_AGREEMENT:
                failures.append(f"{n}: {a} vs {b}: argmax agreement "
                                f"{agree:.3f}% < {MIN_AGREEMENT}%")
        print(f"{n:<{w}}{row}")

    # mIoU vs ground truth, one confusion over all images.
    conf = {k: np.zeros((n_classes, n_classes), np.int64) for k in results}
    for i, (_, label) in enumerate(pairs):
        gt = np.asarray(Image.open(label))
        if gt.ndim != 2:
            failures.append(f"{label}: not a palette/grey label image")
            continue
        for k in results:
            conf[k] += confusion(gt, class_map(results[k][i], *gt.shape), n_classes)
    scores = {k: miou(c) for k, c in conf.items()}
    print(f"\nmIoU vs ground truth ({len(pairs)} images, label resolution)")
    for k, s in scores.items():
        print(f"  {k:<12} {s:7.3f}")
    for o in ours:
        for r in refs:
            d = abs(scores[o] - scores[r])
            print(f"  |{o} - {r}| = {d:.3f} points (limit {MAX_MIOU_DIFF})")
            if d > MAX_MIOU_DIFF:
                failures.append(f"mIoU {o} {scores[o]:.3f} vs {r} {scores[r]:.3f}: "
                                f"{d:.3f} > {MAX_MIOU_DIFF} points")

    if failures:
        print(f"\nFAIL ({len(failures)}):")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"\nPASS: argmax agreement >= {MIN_AGREEMENT}% on every image, "
          f"mIoU within {MAX_MIOU_DIFF} points, for {', '.join(ours)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

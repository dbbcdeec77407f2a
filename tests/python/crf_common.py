"""Helpers shared by the CRF tests and the CRF benchmark (tests/python/
test_crf_*.py, tests/bench/crf_bench.py): the venv re-exec, skip rules,
paths, the demo's unary built with pydensecrf's own utils, and runners for
pydensecrf and for our CRF (tests/tools/dls-crf)."""
import os
import subprocess
import sys

SKIP = 77


def in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1")


def skip(msg):
    """Exit 77 (meson's skip), or 1 under CI=true where nothing may be
    missing."""
    print(f"SKIP: {msg}", flush=True)
    sys.exit(1 if in_ci() else SKIP)


def need_venv(modules):
    """Imports @modules; re-executes the script with DLS_TEST_PYTHON (the
    .venv of scripts/setup.sh) when this interpreter lacks one."""
    try:
        for m in modules:
            __import__(m)
    except ImportError as exc:
        py = os.environ.get("DLS_TEST_PYTHON", "")
        if py and os.path.exists(py) and not os.environ.get("_DLS_CRF_REEXEC"):
            os.environ["_DLS_CRF_REEXEC"] = "1"
            sys.stdout.flush()
            os.execv(py, [py] + sys.argv)
        skip(f"{exc} in {sys.executable}: run scripts/setup.sh (.venv)")


def source_dir():
    return os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))


def shared_dir():
    return os.environ.get("DLS_SHARED_DIR") or os.path.join(
        source_dir(), "..", "shared")


def build_dir():
    return os.environ.get("DLS_BUILD_DIR") or os.path.join(source_dir(),
                                                           "build")


def need_file(path):
    if not os.path.exists(path):
        skip(f"missing {path}")
    return path


# The pydensecrf demo's parameters (examples/inference.py).
DEMO = dict(iterations=5, gt_prob=0.7, gaussian_sxy=3, gaussian_weight=3,
            bilateral_sxy=80, bilateral_srgb=13, bilateral_weight=10)


def demo_unary(anno_rgb):
    """The demo's unary from a colour annotation: colours -> labels with
    np.unique (black = unknown when present), then pydensecrf.utils.
    unary_from_labels (gt_prob 0.7, zero_unsure = black present).
    Returns (U as (n_labels, H*W) float32, n_labels, colours (n_labels, 3),
    label index of each colour)."""
    import numpy as np
    from pydensecrf.utils import unary_from_labels
    a = anno_rgb.astype(np.uint32)
    lbl = a[:, :, 0] + (a[:, :, 1] << 8) + (a[:, :, 2] << 16)
    colors, labels = np.unique(lbl, return_inverse=True)
    has_unk = 0 in colors
    if has_unk:
        colors = colors[1:]
    colorize = np.empty((len(colors), 3), np.uint8)
    colorize[:, 0] = colors & 0x0000FF
    colorize[:, 1] = (colors & 0x00FF00) >> 8
    colorize[:, 2] = (colors & 0xFF0000) >> 16
    n_labels = len(set(labels.flat)) - int(has_unk)
    U = unary_from_labels(labels, n_labels, gt_prob=DEMO["gt_prob"],
                          zero_unsure=has_unk)
    return U, n_labels, colorize


def pydensecrf_q(img, U, n_labels, p, iterations):
    """pydensecrf's DenseCRF2D as the demo sets it up; returns Q as
    (n_labels, H*W)."""
    import numpy as np
    import pydensecrf.densecrf as dcrf
    h, w = img.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n_labels)
    d.setUnaryEnergy(np.ascontiguousarray(U, dtype=np.float32))
    d.addPairwiseGaussian(sxy=(p["gaussian_sxy"], p["gaussian_sxy"]),
                          compat=p["gaussian_weight"],
                          kernel=dcrf.DIAG_KERNEL,
                          normalization=dcrf.NORMALIZE_SYMMETRIC)
    d.addPairwiseBilateral(sxy=(p["bilateral_sxy"], p["bilateral_sxy"]),
                           srgb=(p["bilateral_srgb"],) * 3,
                           rgbim=np.ascontiguousarray(img, dtype=np.uint8),
                           compat=p["bilateral_weight"],
                           kernel=dcrf.DIAG_KERNEL,
                           normalization=dcrf.NORMALIZE_SYMMETRIC)
    return np.array(d.inference(iterations))


def deeplab_unary(frame, w, h):
    """U = -logits of the shared DeepLab model (LiteRT) on the PIL image
    @frame (resized to the model's input, x / 127.5 - 1), the logits
    bilinear to w x h; (21, h * w) float32, as the engine's CRF unary."""
    import numpy as np
    from PIL import Image
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        try:
            from tflite_runtime import interpreter as litert
        except ImportError as exc:
            skip(f"{exc}: LiteRT missing, run scripts/setup.sh")
    model = need_file(os.path.join(shared_dir(), "models",
                                   "deeplabv3_257_mv_gpu.tflite"))
    it = litert.Interpreter(model_path=model, num_threads=2)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    _, ih, iw, _ = inp["shape"]
    x = np.asarray(frame.resize((iw, ih), Image.BILINEAR), np.float32)
    it.set_tensor(inp["index"], (x / 127.5 - 1.0)[None])
    it.invoke()
    lg = it.get_tensor(out["index"])[0]
    up = np.stack([np.asarray(Image.fromarray(lg[:, :, k]).resize(
        (w, h), Image.BILINEAR)) for k in range(lg.shape[2])])
    return -up.reshape(lg.shape[2], -1).astype(np.float32)


def dls_crf_tool():
    tool = os.environ.get("DLS_CRF") or os.path.join(build_dir(), "tests",
                                                      "tools", "dls-crf")
    return need_file(tool)


def ours_q(img, U, n_labels, p, iterations, backend, tmp, extra=()):
    """Our CRF through dls-crf; U as (n_labels, H*W); returns
    (Q as (n_labels, H*W), stdout)."""
    import numpy as np
    h, w = img.shape[:2]
    rgb = os.path.join(tmp, "rgb.u8")
    un = os.path.join(tmp, "unary.f32")
    qf = os.path.join(tmp, "q.f32")
    np.ascontiguousarray(img[:, :, :3], dtype=np.uint8).tofile(rgb)
    np.ascontiguousarray(U.T, dtype=np.float32).tofile(un)
    cmd = [dls_crf_tool(), "--width", str(w), "--height", str(h),
           "--classes", str(n_labels), "--rgb", rgb, "--unary", un,
           "--backend", backend, "--iterations", str(iterations),
           "--gaussian-sxy", str(p["gaussian_sxy"]),
           "--gaussian-weight", str(p["gaussian_weight"]),
           "--bilateral-sxy", str(p["bilateral_sxy"]),
           "--bilateral-srgb", str(p["bilateral_srgb"]),
           "--bilateral-weight", str(p["bilateral_weight"]),
           "--q", qf] + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr}")
    q = np.fromfile(qf, dtype=np.float32).reshape(h * w, n_labels).T
    return q, r.stdout


def finish(fails):
    """Prints the failures and PASS or their count; returns the exit code."""
    for f in fails:
        print(f"FAIL: {f}")
    print("PASS" if not fails else f"{len(fails)} failures")
    return 1 if fails else 0

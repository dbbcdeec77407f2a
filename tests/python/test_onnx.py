#!/usr/bin/env python3
"""ONNX models: deeplabseg's ONNX reader and engine vs onnxruntime.

  test_onnx.py shared     ../shared/models/deeplabv3_257_mv_gpu.onnx on the
                          VOC images (same input tensors as test_fidelity.py)
  test_onnx.py aspp       generated DeepLabV3 models (MobileNetV3-like
                          backbone, full ASPP head) at odd input sizes
  test_onnx.py bad-input  malformed .onnx files: clear errors, no crash
  test_onnx.py conformance  ONNX node tests of Debian's libonnx-testdata
  test_onnx.py ops        small generated models for what node tests lack

shared: ours (dls-infer, OpenCL and C reference backends) vs onnxruntime:
  max |logit diff| <= 1e-3 x the logit range and argmax agreement >= 99.9 %
  per image. Then the .onnx vs the .tflite (the same weights): class maps at
  label resolution (as test_fidelity.py makes them), ours-onnx vs ours-tflite
  and onnxruntime vs LiteRT. The converted file's Upsample ops (opset 9,
  asymmetric coordinates) do not compute what the .tflite's RESIZE_BILINEAR
  ops do, so the two files are not the same function (onnxruntime and
  LiteRT agree on about 97.5 % of pixels): the test asserts that our two
  readers agree with each other as well as the two reference runtimes do
  (within 0.1 points), and reports both numbers. Then the cause: the same
  .onnx with its two Upsample ops turned into Resize with
  coordinate_transformation_mode align_corners (TFLite's convention; opset
  11, so Clip takes its bounds as inputs) must give class maps agreeing
  >= 99.9 % with LiteRT on the .tflite.

aspp: models built here with the onnx package, random weights from a fixed
  seed, NCHW input like torchvision exports: a backbone of MobileNetV3
  blocks (Conv + BatchNormalization + HardSwish, depthwise, squeeze-
  excitation with GlobalAveragePool, HardSigmoid and a broadcasting Mul,
  residual Add, a dilated depthwise), then DeepLabV3's ASPP: 1x1, three 3x3
  atrous branches (rates 6/12/18 at output stride 16, 12/24/36 at 8),
  image pooling (GlobalAveragePool, 1x1, Resize back to the feature size
  through a Shape/Slice/Concat sub-graph), Concat, 1x1 projection, Dropout,
  3x3, classifier, Resize to the input size. Asserted: logits (dls-infer,
  OpenCL and reference backends) vs onnxruntime within 1e-3 of the logit
  range with argmax agreement >= 99.9 %; and the element in mode=mask
  (gst-launch-1.0, a VOC image at the net's size so no resize happens)
  agrees with onnxruntime's argmax on >= 99.9 % of pixels.

bad-input: truncated, random, empty files, a graph with a cycle, a tensor
  whose data does not match its shape, external data, an unsupported op,
  and hostile values in well-formed files (Transpose perms out of range,
  Reshape shapes whose element count wraps 2^64, a tensor header asking
  for 2 GiB with 8 bytes of data, int64 folding that overflows or traps,
  float -> int64 casts of NaN or 1e30): dls-infer --info must exit 1 (not
  crash: no signal, no exit code >= 2) with the expected words in its
  message; valid models with random bytes changed must load (exit 0) or
  fail cleanly (exit 1). Outside ASan builds each run has 1 GiB of
  address space, so an allocation sized from a header fails it. In a build
  configured with -Db_sanitize=address,undefined the sanitizers' reports
  exit 99/98 (ASAN_OPTIONS/UBSAN_OPTIONS exitcode, unless set), so a leak
  or a bad access fails this test.

conformance: every node test of /usr/share/libonnx-testdata/data/node (or
  $DLS_ONNX_TESTDATA) whose op is one the issue lists (test_conv*,
  test_averagepool*, test_maxpool*, test_clip*, test_resize*...): weights
  and other inputs after the first become initializers (as in an exported
  model); if the reader refuses that, every float input stays a graph input
  instead (tensors of rank 1..3 run as {1,..} NHWC). The model then runs through tests/tools/dls-graph-run
  on the C reference and on OpenCL, and each output is compared with the
  expected one at the tolerance of ONNX's own backend test runner
  (rtol 1e-3, atol 1e-7). One line per test: PASS, FAIL or UNSUPPORTED
  (refused by the reader with DLS_ERROR_UNSUPPORTED, with its message);
  the test fails on any FAIL.

ops: small models built here for the reader's features that no node test
  covers (grouped convolution, SAME_LOWER, Conv+BatchNormalization+Clip
  folding, a lone BatchNormalization, broadcasting Add/Mul, constant
  Sub/Div, an NHWC input behind a Transpose, Upsample-9, nearest Resize,
  Flatten after pooling, Softmax and ArgMax over the channels, shape
  sub-graphs with Gather and arithmetic), each run through dls-graph-run
  (reference and OpenCL) and compared with onnxruntime: max |diff| <=
  1e-4 x max (1, max |onnxruntime|), the per-op tolerance of
  tests/test_ops.c (whose header gives the reasoning).

Run by meson (suite onnx). Exit 0 pass, 1 fail, 77 skip (a failure under
CI=true).
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# test_fidelity re-executes this script under DLS_TEST_PYTHON when the
# modules are missing, and owns the helpers shared by both tests.
import test_fidelity as tf  # noqa: E402

try:
    import onnx  # noqa: E402
    from onnx import TensorProto, helper, numpy_helper  # noqa: E402
    import onnxruntime as ort  # noqa: E402
except ImportError as exc:
    tf.skip(f"{exc}: run scripts/setup.sh (onnx and onnxruntime in .venv)")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

MAX_REL_ERR = 1e-3          # max |diff| / (max - min) of the reference logits
MIN_AGREEMENT = 99.9        # % argmax agreement
MAX_PAIR_GAP = 0.1          # points: ours-onnx/tflite vs ort/litert agreement


def dls_infer():
    path = os.environ.get("DLS_INFER") or os.path.join(
        os.environ.get("DLS_BUILD_DIR", "build"), "tests", "tools", "dls-infer")
    if not os.path.exists(path):
        print(f"FAIL: {path} not found: build first (ninja -C build)")
        sys.exit(1)
    return path


def ort_session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def compare_logits(name, ours, ref, failures):
    """Per-image max error relative to the reference's range, and argmax
    agreement; appends to @failures. Returns (rel_err, agreement %)."""
    diff = float(np.max(np.abs(ours - ref)))
    rng = float(np.max(ref) - np.min(ref))
    rel = diff / rng if rng > 0 else diff
    agree = 100.0 * float(np.mean(np.argmax(ours, -1) == np.argmax(ref, -1)))
    if not rel <= MAX_REL_ERR:
        failures.append(f"{name}: max |diff| {diff:.3e} = {rel:.2e} of the "
                        f"logit range {rng:.3f} > {MAX_REL_ERR}")
    if agree < MIN_AGREEMENT:
        failures.append(f"{name}: argmax agreement {agree:.3f}% < {MIN_AGREEMENT}%")
    return diff, rel, agree


def test_shared():
    shared = tf.shared_dir()
    onnx_path = os.path.join(shared, "models", "deeplabv3_257_mv_gpu.onnx")
    tfl_path = os.path.join(shared, "models", "deeplabv3_257_mv_gpu.tflite")
    for p in (onnx_path, tfl_path):
        if not os.path.exists(p):
            tf.skip(f"missing model {p} (set DLS_SHARED_DIR)")
    pairs = tf.find_images(shared)
    if not pairs:
        tf.skip(f"no images in {shared}/data/voc-dev or voc-val-dev")
    infer = dls_infer()

    sess = ort_session(onnx_path)
    inp = sess.get_inputs()[0]
    _, in_h, in_w, _ = inp.shape                       # NHWC input sub_7
    litert = tf.LiteRT(tfl_path, None)
    tensors = [tf.input_tensor(img, in_w, in_h) for img, _ in pairs]
    ref = [sess.run(None, {inp.name: t})[0][0] for t in tensors]
    lite = [litert.run(t) for t in tensors]
    print(f"model {onnx_path}: input {inp.name} {inp.shape} (NHWC), "
          f"{len(pairs)} images")

    failures = []
    ours = {}
    with tempfile.TemporaryDirectory(prefix="dls-onnx-") as tmp:
        for model, backends in ((onnx_path, ("opencl", "ref")),
                                (tfl_path, ("opencl",))):
            kind = os.path.splitext(model)[1][1:]
            for b in backends:
                try:
                    _, logits, _ = tf.run_ours(infer, model, b,
                                               [t[0] for t in tensors], tmp)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    print(f"FAIL: ours-{kind}-{b}: {exc}")
                    return 1
                ours[f"{kind}-{b}"] = logits

    print("\nLogits, ours (.onnx) vs onnxruntime: max |diff|, relative to the "
          "logit range, argmax agreement")
    for b in ("opencl", "ref"):
        for i, (img, _) in enumerate(pairs):
            name = f"{os.path.basename(img)} {b}"
            diff, rel, agree = compare_logits(name, ours[f"onnx-{b}"][i],
                                              ref[i], failures)
            print(f"  {name:<28} {diff:10.2e} {rel:10.2e} {agree:9.3f}%")

    # Class maps at label resolution, as test_fidelity.py makes them.
    print("\nClass maps (label resolution), .onnx vs .tflite, % of pixels equal")
    tot = {"ours": [0, 0], "ref": [0, 0]}
    for i, (img, label) in enumerate(pairs):
        h, w = np.asarray(Image.open(label)).shape[:2]
        a = tf.class_map(ours["onnx-opencl"][i], h, w)
        b = tf.class_map(ours["tflite-opencl"][i], h, w)
        c = tf.class_map(ref[i], h, w)
        d = tf.class_map(lite[i], h, w)
        ab, cd = int(np.sum(a == b)), int(np.sum(c == d))
        tot["ours"][0] += ab
        tot["ref"][0] += cd
        tot["ours"][1] += a.size
        tot["ref"][1] += a.size
        print(f"  {os.path.basename(img):<16} ours-onnx vs ours-tflite "
              f"{100.0 * ab / a.size:7.3f}%   onnxruntime vs LiteRT "
              f"{100.0 * cd / a.size:7.3f}%")
    ours_pct = 100.0 * tot["ours"][0] / tot["ours"][1]
    ref_pct = 100.0 * tot["ref"][0] / tot["ref"][1]
    print(f"  all images: ours {ours_pct:.3f}%, reference runtimes "
          f"{ref_pct:.3f}% (the files differ in their resize ops)")
    if ours_pct < ref_pct - MAX_PAIR_GAP:
        failures.append(f".onnx vs .tflite class maps: ours {ours_pct:.3f}% is "
                        f"more than {MAX_PAIR_GAP} points below onnxruntime vs "
                        f"LiteRT {ref_pct:.3f}%")

    print("\nThe .onnx with align-corners Resize for its Upsample ops vs LiteRT "
          "(class maps, label resolution)")
    with tempfile.TemporaryDirectory(prefix="dls-onnx-ac-") as tmp:
        path = os.path.join(tmp, "align_corners.onnx")
        onnx.save(align_corners_variant(onnx.load(onnx_path)), path)
        try:
            _, ac, _ = tf.run_ours(infer, path, "opencl", [t[0] for t in tensors],
                                   tmp)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            failures.append(f"align-corners variant: {exc}")
            return report(failures)
    for i, (img, label) in enumerate(pairs):
        h, w = np.asarray(Image.open(label)).shape[:2]
        agree = 100.0 * float(np.mean(tf.class_map(ac[i], h, w)
                                      == tf.class_map(lite[i], h, w)))
        diff = float(np.max(np.abs(ac[i] - lite[i])))
        print(f"  {os.path.basename(img):<16} {agree:8.3f}%  max |logit diff| "
              f"{diff:.2e}")
        if agree < MIN_AGREEMENT:
            failures.append(f"{os.path.basename(img)}: align-corners .onnx vs "
                            f"LiteRT {agree:.3f}% < {MIN_AGREEMENT}%")
    return report(failures)


def align_corners_variant(m):
    """@m (opset 9) with each Upsample as an opset-11 Resize with
    align_corners coordinates and each Clip with its bounds as inputs."""
    g = m.graph
    nodes = []
    for n in g.node:
        if n.op_type == "Upsample":
            nodes.append(helper.make_node(
                "Resize", [n.input[0], "", n.input[1]], list(n.output),
                name=n.name, mode="linear",
                coordinate_transformation_mode="align_corners"))
        elif n.op_type == "Clip":
            bounds = []
            for k in ("min", "max"):
                a = [x for x in n.attribute if x.name == k]
                name = f"{n.name}/{k}"
                g.initializer.append(numpy_helper.from_array(
                    np.array(a[0].f if a else (-np.inf if k == "min" else np.inf),
                             np.float32), name))
                bounds.append(name)
            nodes.append(helper.make_node("Clip", [n.input[0]] + bounds,
                                          list(n.output), name=n.name))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 11
    return m


def report(failures):
    if failures:
        print(f"\nFAIL ({len(failures)}):")
        for f in failures:
            print(f"  {f}")
        return 1
    print("\nPASS")
    return 0


# --- generated ASPP models ----------------------------------------------

class Net:
    """Builds an ONNX graph with random weights (fixed seed)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, arr, base="c"):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k=1, stride=1, dil=1, group=1, bias=False):
        fan_in = cin // group * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        ins = [x, self.const(w.astype(np.float32), "w")]
        if bias:
            ins.append(self.const((0.1 * self.rng.standard_normal(cout)).astype(np.float32), "b"))
        pad = dil * (k // 2)
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride],
                         dilations=[dil, dil], pads=[pad] * 4, group=group)

    def bn(self, x, c):
        r = self.rng
        ps = [r.uniform(0.5, 1.5, c), 0.1 * r.standard_normal(c),
              0.1 * r.standard_normal(c), r.uniform(0.5, 1.5, c)]
        return self.node("BatchNormalization",
                         [x] + [self.const(p.astype(np.float32), "bn") for p in ps],
                         epsilon=1e-3)

    def cbr(self, x, cin, cout, act, **kw):
        y = self.bn(self.conv(x, cin, cout, **kw), cout)
        return self.node(act, [y]) if act else y

    def se(self, x, c, squeeze):
        s = self.node("GlobalAveragePool", [x])
        s = self.node("Relu", [self.conv(s, c, squeeze, bias=True)])
        s = self.node("HardSigmoid", [self.conv(s, squeeze, c, bias=True)],
                      alpha=1.0 / 6, beta=0.5)
        return self.node("Mul", [x, s])

    def bneck(self, x, cin, exp, cout, stride, dil, act, se):
        y = self.cbr(x, cin, exp, act)
        y = self.cbr(y, exp, exp, act, k=3, stride=stride, dil=dil, group=exp)
        if se:
            y = self.se(y, exp, max(exp // 4, 8))
        y = self.cbr(y, exp, cout, None)
        if stride == 1 and cin == cout:
            y = self.node("Add", [x, y])
        return y

    def resize_like(self, x, like, channels, mode):
        """Resize @x to @like's H x W with sizes from a shape sub-graph."""
        hw = self.node("Slice", [self.node("Shape", [like]),
                                 self.const(np.array([2], np.int64)),
                                 self.const(np.array([4], np.int64))])
        nc = self.const(np.array([1, channels], np.int64))
        sizes = self.node("Concat", [nc, self.node("Cast", [hw], to=TensorProto.INT64)], axis=0)
        return self.node("Resize", [x, "", "", sizes], mode="linear",
                         coordinate_transformation_mode=mode)


def aspp_model(h, w, os_, rates, n_classes=21, seed=0):
    net = Net(seed)
    x = "image"
    y = net.cbr(x, 3, 16, "HardSwish", k=3, stride=2)                  # /2
    y = net.bneck(y, 16, 16, 16, 1, 1, "Relu", False)
    y = net.bneck(y, 16, 48, 24, 2, 1, "Relu", False)                  # /4
    y = net.bneck(y, 24, 72, 24, 1, 1, "Relu", False)
    y = net.bneck(y, 24, 72, 40, 2, 1, "HardSwish", True)              # /8
    if os_ == 16:
        y = net.bneck(y, 40, 120, 40, 2, 1, "HardSwish", True)         # /16
    y = net.bneck(y, 40, 120, 40, 1, 2, "HardSwish", True)             # dilated
    feat, cf, ca = y, 40, 32
    branches = [net.cbr(feat, cf, ca, "Relu")]
    for r in rates:
        branches.append(net.cbr(feat, cf, ca, "Relu", k=3, dil=r))
    pool = net.node("GlobalAveragePool", [feat])
    pool = net.cbr(pool, cf, ca, "Relu")
    branches.append(net.resize_like(pool, feat, ca, "half_pixel"))
    y = net.node("Concat", branches, axis=1)
    y = net.cbr(y, ca * len(branches), ca, "Relu")
    y = net.node("Dropout", [y])
    y = net.cbr(y, ca, ca, "Relu", k=3)
    y = net.conv(y, ca, n_classes, bias=True)
    y = net.resize_like(y, x, n_classes, "pytorch_half_pixel")
    net.nodes.append(helper.make_node("Identity", [y], ["logits"]))
    g = helper.make_graph(
        net.nodes, f"deeplabv3_aspp_os{os_}",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       [1, n_classes, h, w])],
        net.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(m)
    return m


ASPP_CASES = [          # (height, width, output stride, atrous rates)
    (97, 113, 16, (6, 12, 18)),
    (75, 61, 8, (12, 24, 36)),
    (129, 101, 16, (6, 12, 18)),
]
MEAN, STD = 127.5, 127.5


def element_mask(png, model, w, h, tmp):
    """The class map the deeplabseg element writes in mode=mask."""
    out = os.path.join(tmp, "mask.gray")
    pipe = (f"filesrc location={png} ! pngdec ! videoconvert ! "
            f"video/x-raw,format=RGB ! deeplabseg model={model} mode=mask "
            f"input-mean={MEAN} input-std={STD} ! video/x-raw,format=GRAY8 ! "
            f"filesink location={out}")
    p = subprocess.run(["gst-launch-1.0", "-q"] + pipe.split(),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"gst-launch-1.0 exited {p.returncode}: {p.stderr.strip()}")
    raw = np.fromfile(out, np.uint8)
    stride = (w + 3) // 4 * 4                      # GStreamer's GRAY8 rows
    if raw.size != stride * h:
        raise RuntimeError(f"mask of {raw.size} bytes, expected {stride}x{h}")
    return raw.reshape(h, stride)[:, :w]


def test_aspp():
    shared = tf.shared_dir()
    pairs = tf.find_images(shared)
    if not pairs:
        tf.skip(f"no images in {shared}/data/voc-dev or voc-val-dev")
    infer = dls_infer()
    failures = []
    print("Generated DeepLabV3 (MobileNetV3-like backbone, ASPP) vs onnxruntime")
    print(f"  {'model':<34} {'backend':<8} {'max|diff|':>10} {'rel':>9} "
          f"{'argmax':>9}")
    with tempfile.TemporaryDirectory(prefix="dls-aspp-") as top:
        for k, (h, w, os_, rates) in enumerate(ASPP_CASES):
            m = aspp_model(h, w, os_, rates, seed=k)
            tmp = os.path.join(top, f"case{k}")    # run_ours reuses in0.f32
            os.mkdir(tmp)
            path = os.path.join(tmp, f"aspp{k}.onnx")
            onnx.save(m, path)
            tag = f"{w}x{h} os{os_} rates {'/'.join(map(str, rates))}"
            img, _ = pairs[k % len(pairs)]
            rgb = np.asarray(Image.open(img).convert("RGB").resize(
                (w, h), Image.BILINEAR))
            png = os.path.join(tmp, f"in{k}.png")
            Image.fromarray(rgb).save(png)
            x = ((rgb.astype(np.float32) - np.float32(MEAN)) / np.float32(STD))
            ref = ort_session(path).run(None, {"image": np.ascontiguousarray(
                x.transpose(2, 0, 1)[None])})[0][0].transpose(1, 2, 0)
            for b in ("opencl", "ref"):
                try:
                    _, logits, _ = tf.run_ours(infer, path, b, [x], tmp)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    failures.append(f"{tag} {b}: {exc}")
                    print(f"  {tag:<34} {b:<8} FAILED: {exc}")
                    continue
                diff, rel, agree = compare_logits(f"{tag} {b}", logits[0], ref,
                                                  failures)
                print(f"  {tag:<34} {b:<8} {diff:10.2e} {rel:9.2e} {agree:8.3f}%")
            try:
                mask = element_mask(png, path, w, h, tmp)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failures.append(f"{tag} element: {exc}")
                print(f"  {tag:<34} element  FAILED: {exc}")
                continue
            agree = 100.0 * float(np.mean(mask == np.argmax(ref, -1)))
            print(f"  {tag:<34} {'element':<8} {'':>10} {'':>9} {agree:8.3f}%"
                  f"  (mode=mask vs onnxruntime argmax)")
            if agree < MIN_AGREEMENT:
                failures.append(f"{tag} element mode=mask: {agree:.3f}% < "
                                f"{MIN_AGREEMENT}%")
    return report(failures)


# --- bad input -----------------------------------------------------------

def tiny_model(nodes=None, inits=None, in_shape=(1, 3, 5, 7)):
    """A valid Conv model (NCHW, 3 -> 4 channels), optionally altered."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    if nodes is None:
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    g = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w] + (inits or []))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def bad_models(tmp):
    """(name, bytes, expected words in the error message)."""
    good = tiny_model().SerializeToString()
    rng = np.random.default_rng(7)
    cases = [("empty", b"", "empty")]
    for cut in (1, 2, 5, len(good) // 3, len(good) // 2, len(good) - 1):
        cases.append((f"truncated-{cut}", good[:cut], "model"))
    for k in range(8):
        cases.append((f"random-{k}", rng.integers(0, 256, 64 + 97 * k,
                                                   dtype=np.uint8).tobytes(),
                      "model"))
    # random bytes after a valid ir_version tag: reaches the protobuf reader
    for k in range(8):
        cases.append((f"random-ir-{k}", b"\x08\x07" + rng.integers(
            0, 256, 50 + 131 * k, dtype=np.uint8).tobytes(), "onnx"))
    # bytes changed inside a valid model: exit 0 or a clean error
    for k in range(24):
        b = bytearray(good)
        for pos in rng.integers(0, len(b), 1 + k % 4):
            b[pos] = int(rng.integers(0, 256))
        b[0:2] = good[0:2]
        cases.append((f"mutated-{k}", bytes(b), None))
    cycle = tiny_model(nodes=[
        helper.make_node("Relu", ["b"], ["a"]),
        helper.make_node("Conv", ["a", "w"], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["b"], ["y"])])
    cases.append(("cycle", cycle.SerializeToString(), "cycle"))
    bad_len = tiny_model()
    t = bad_len.graph.initializer[0]
    t.raw_data = t.raw_data[:-4]
    cases.append(("data-length", bad_len.SerializeToString(), "needs"))
    ext = tiny_model()
    t = ext.graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    e = t.external_data.add()
    e.key, e.value = "location", "weights.bin"
    cases.append(("external-data", ext.SerializeToString(), "external"))
    unsup = tiny_model(nodes=[
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Erf", ["c"], ["y"], name="my_erf")])
    cases.append(("unsupported-op", unsup.SerializeToString(), "Erf"))
    sym = tiny_model(in_shape=(1, 3, "height", 7))
    cases.append(("symbolic-input", sym.SerializeToString(), "fixed input size"))
    cases += hostile_models()
    return cases


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def hostile_models():
    """Valid protobuf whose values would make a careless reader index out
    of bounds, wrap an element count, allocate from a header alone or trap
    in integer arithmetic: (name, bytes, expected words)."""
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    cases = []

    def case(name, nodes, inits, words, with_conv=True):
        m = tiny_model(nodes=([conv] if with_conv else []) + nodes, inits=inits)
        cases.append((name, m.SerializeToString(), words))

    # Transpose perm: perm[0] out of range on a rank-3 activation (writes
    # past the IR axis table), and on a constant.
    case("perm-act-rank3", [
        helper.make_node("Reshape", ["y", "s3"], ["r3"]),
        helper.make_node("Transpose", ["r3"], ["t"], perm=[9, 0, 1])],
        [ints("s3", [4, 5, 7])], "bad perm")
    case("perm-act-rank4", [
        helper.make_node("Transpose", ["y"], ["t"], perm=[-7, 1, 2, 3])],
        [], "bad perm")
    case("perm-const", [
        helper.make_node("Transpose", ["k"], ["t"], perm=[5, 0])],
        [numpy_helper.from_array(np.zeros((2, 3), np.float32), "k")],
        "bad perm")
    # Element counts that wrap: (2^32+1)(2^32-1) = 2^64-1, squared = 1 mod
    # 2^64, so a naive product accepts 6 -> [6, 2^32+1, 2^32-1, 2^32+1,
    # 2^32-1]; Gather then indexes with the huge dims.
    big = [2**32 + 1, 2**32 - 1, 2**32 + 1, 2**32 - 1]
    case("reshape-wrap-gather", [
        helper.make_node("Reshape", ["k6", "sw"], ["r"]),
        helper.make_node("Gather", ["r", "i"], ["g"], axis=1)],
        [ints("k6", range(6)), ints("sw", [6] + big), ints("i", [2**32])],
        "another count")
    case("reshape-wrap-act", [
        helper.make_node("Reshape", ["y", "sw"], ["r"])],
        [ints("sw", [1, 140] + big)], "another count")
    # The -1 of a Reshape inferred from a product that overflows int64.
    case("reshape-infer-overflow", [
        helper.make_node("Reshape", ["k6", "sw"], ["r"])],
        [ints("k6", range(6)), ints("sw", [-1, 2**62, 4])], "bad shape")
    # Conv weights whose dims wrap to the element count of the real
    # weights (4*(2^32+1) * 3*(2^32-1) * 3*(2^32+1) * 3*(2^32-1) = 108).
    wflat = numpy_helper.from_array(
        np.ones(108, np.float32), "wflat")
    case("conv-weights-wrap", [
        helper.make_node("Reshape", ["wflat", "sw"], ["w2"]),
        helper.make_node("Conv", ["x", "w2"], ["y"])],
        [wflat, ints("sw", [4 * (2**32 + 1), 3 * (2**32 - 1),
                            3 * (2**32 + 1), 3 * (2**32 - 1)])],
        "another count", with_conv=False)
    # A tensor header asking for 2^28 int64 (2 GiB) with 8 bytes of data:
    # refused before anything is allocated (the run has a memory limit).
    t = TensorProto(name="huge", data_type=TensorProto.INT64,
                    dims=[2**28], raw_data=b"\0" * 8)
    case("header-only-huge", [], [t], "needs")
    t = TensorProto(name="huge", data_type=TensorProto.FLOAT,
                    dims=[2**20, 2**20], raw_data=b"\0" * 4)
    case("header-too-large", [], [t], "too large")
    # Integer folding: INT64_MIN / -1 traps (SIGFPE) in C; other overflows
    # and float -> int64 casts of NaN or out-of-range values are undefined.
    i64min = ints("a", [-2**63])
    case("div-int64-min", [
        helper.make_node("Div", ["a", "m1"], ["q"])],
        [i64min, ints("m1", [-1])], "overflows")
    case("div-zero", [
        helper.make_node("Div", ["a", "z"], ["q"])],
        [ints("a", [5]), ints("z", [0])], "division by zero")
    case("mul-overflow", [
        helper.make_node("Mul", ["a", "b"], ["q"])],
        [ints("a", [2**62]), ints("b", [4])], "overflows")
    case("sub-overflow", [
        helper.make_node("Sub", ["a", "b"], ["q"])],
        [i64min, ints("b", [1])], "overflows")
    for name, v in (("cast-nan", np.nan), ("cast-huge", 1e30)):
        case(name, [
            helper.make_node("Cast", ["f"], ["c"], to=TensorProto.INT64)],
            [numpy_helper.from_array(np.array([v], np.float32), "f")],
            "int64 value")
    case("gather-float-index", [
        helper.make_node("Gather", ["k6", "fi"], ["g"])],
        [ints("k6", range(6)),
         numpy_helper.from_array(np.array([-1e30], np.float32), "fi")],
        "int64 value")
    return cases


def sanitizer_env():
    """The environment for dls-infer with sanitizer reports turned into exit
    codes other than 1 (ASan's default is 1, our clean error's code), so
    that in a -Db_sanitize build a leak or a bad access fails the test."""
    env = dict(os.environ)
    for var, code in (("ASAN_OPTIONS", 99), ("UBSAN_OPTIONS", 98)):
        opts = env.get(var, "")
        if "exitcode=" not in opts:
            env[var] = f"{opts}:exitcode={code}".lstrip(":")
    if "halt_on_error=" not in env["UBSAN_OPTIONS"]:
        env["UBSAN_OPTIONS"] += ":halt_on_error=1"
    return env


MEMORY_LIMIT = 1 << 30     # bytes of address space for a bad-input run


def memory_limit(tool):
    """A preexec_fn capping the address space of @tool's runs, so that an
    allocation sized from a file's header alone (2 GiB) fails the run
    instead of passing unseen; None for an ASan build, whose shadow memory
    needs terabytes of address space."""
    ldd = subprocess.run(["ldd", tool], capture_output=True, text=True)
    if "libasan" in ldd.stdout or ldd.returncode != 0:
        return None
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    return limit


def test_bad_input():
    infer = dls_infer()
    env = sanitizer_env()
    limit = memory_limit(infer)
    failures = []
    with tempfile.TemporaryDirectory(prefix="dls-onnx-bad-") as tmp:
        good = os.path.join(tmp, "good.onnx")
        with open(good, "wb") as f:
            f.write(tiny_model().SerializeToString())
        p = subprocess.run([infer, "--model", good, "--backend", "ref", "--info"],
                           capture_output=True, text=True, timeout=120, env=env,
                           preexec_fn=limit)
        if p.returncode != 0:
            failures.append(f"the valid tiny model fails: {p.stderr.strip()}")
        for name, data, words in bad_models(tmp):
            path = os.path.join(tmp, name + ".onnx")
            with open(path, "wb") as f:
                f.write(data)
            p = subprocess.run([infer, "--model", path, "--backend", "ref",
                                "--info"], capture_output=True, text=True,
                               timeout=120, env=env, preexec_fn=limit)
            msg = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
            if words is None:
                ok = p.returncode in (0, 1)
            else:
                ok = p.returncode == 1 and words.lower() in p.stderr.lower()
            print(f"  {'ok  ' if ok else 'FAIL'} {name:<16} exit {p.returncode}: {msg}")
            if not ok:
                failures.append(f"{name}: exit {p.returncode} (want 1) and "
                                f"'{words}' in: {p.stderr.strip()}")
    return report(failures)


# --- ONNX node conformance -------------------------------------------------

CONFORMANCE_OPS = [
    "conv", "batchnorm", "relu", "clip", "hardswish", "hardsigmoid", "sigmoid",
    "mul", "add", "sub", "div", "averagepool", "globalaveragepool", "maxpool",
    "globalmaxpool", "concat", "resize", "upsample", "transpose", "reshape",
    "flatten", "softmax", "argmax", "identity", "shape", "gather", "unsqueeze",
    "slice", "cast", "constant",
]
RTOL, ATOL = 1e-3, 1e-7            # onnx.backend.test's defaults


def graph_run():
    return os.path.join(os.path.dirname(dls_infer()), "dls-graph-run")


def node_tests(root):
    out = []
    for name in sorted(os.listdir(root)):
        rest = name[len("test_"):]
        for op in CONFORMANCE_OPS:
            if rest == op or rest.startswith(op + "_"):
                out.append(name)
                break
    return out


def load_case(d):
    m = onnx.load(os.path.join(d, "model.onnx"))
    ds = os.path.join(d, "test_data_set_0")
    ins, outs = [], []
    for kind, lst in (("input", ins), ("output", outs)):
        k = 0
        while os.path.exists(os.path.join(ds, f"{kind}_{k}.pb")):
            t = onnx.TensorProto()
            with open(os.path.join(ds, f"{kind}_{k}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            lst.append(numpy_helper.to_array(t))
            k += 1
    return m, ins, outs


def bind(model, arrays, keep):
    """A copy of @model whose graph inputs not in @keep become initializers
    holding @arrays (by position)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    real = [i for i in m.graph.input
            if i.name not in {t.name for t in m.graph.initializer}]
    for k, vi in enumerate(real):
        if k < len(arrays) and vi.name not in keep:
            m.graph.initializer.append(numpy_helper.from_array(arrays[k], vi.name))
            m.graph.input.remove(vi)
    return m


def to_ir(a, dims):
    """@a (ONNX layout) as the IR tensor of @dims (NHWC), or None."""
    if a.ndim == 4 and list(a.shape) == [dims[0], dims[3], dims[1], dims[2]]:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
    if a.ndim <= 4 and [1] * (4 - a.ndim) + list(a.shape) == list(dims):
        return np.ascontiguousarray(a).reshape(dims)
    return None


def graph_info(tool, path):
    """(exit status, message, {"inputs": [...], "outputs": [...]}) of
    dls-graph-run --info; status 3 = refused as unsupported."""
    p = subprocess.run([tool, "--model", path, "--info"],
                       capture_output=True, text=True, timeout=120)
    msg = p.stderr.strip().replace("dls-graph-run: ", "")
    msg = msg.replace(f"model '{path}': ", "")
    return p.returncode, msg, json.loads(p.stdout) if p.returncode == 0 else None


def run_backends(tool, path, info, arrays, tmp):
    """Runs the graph on the C reference and on OpenCL with @arrays (graph
    input name -> array in ONNX layout); returns {backend: [outputs in the
    IR layout]}. RuntimeError on any failure."""
    args = []
    for k, t in enumerate(info["inputs"]):
        a = arrays.get(t["name"])
        a = to_ir(a.astype(np.float32), t["dims"]) if a is not None else None
        if a is None:
            raise RuntimeError(f"input '{t['name']}' does not map to {t['dims']}")
        f = os.path.join(tmp, f"in{k}.f32")
        a.tofile(f)
        args += ["--input", f]
    res = {}
    for backend in ("ref", "opencl"):
        outs = [os.path.join(tmp, f"{backend}{k}.f32")
                for k in range(len(info["outputs"]))]
        p = subprocess.run([tool, "--model", path, "--backend", backend] + args
                           + [a for f in outs for a in ("--output", f)],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"{backend}: exit {p.returncode}: {p.stderr.strip()}")
        res[backend] = [np.fromfile(f, np.float32).reshape(t["dims"])
                        for f, t in zip(outs, info["outputs"])]
    return res


def run_node_test(tool, d, tmp):
    """Returns ("PASS"|"FAIL"|"UNSUPPORTED", detail)."""
    try:
        model, ins, outs = load_case(d)
    except Exception as exc:                       # noqa: BLE001
        # Sequence and optional test data: not tensors, which is all the
        # reader takes (it refuses such models before any data is read).
        return "UNSUPPORTED", f"test data is not a plain tensor ({exc})"
    names = [i.name for i in model.graph.input
             if i.name not in {t.name for t in model.graph.initializer}]
    variants = [set(names[:1])]
    floats = {n for n, a in zip(names, ins) if a.dtype == np.float32}
    if floats and floats != variants[0]:
        variants.append(floats)
    msg = ""
    for keep in variants:
        path = os.path.join(tmp, "m.onnx")
        onnx.save(bind(model, ins, keep), path)
        rc, msg, info = graph_info(tool, path)
        if rc == 3:
            continue
        if rc != 0:
            return "FAIL", f"load: exit {rc}: {msg}"
        if len(info["outputs"]) != len(outs):
            return "FAIL", f"{len(info['outputs'])} outputs, expected {len(outs)}"
        try:
            got = run_backends(tool, path, info, dict(zip(names, ins)), tmp)
        except RuntimeError as exc:
            return "FAIL", str(exc)
        worst = 0.0
        for backend, outputs in got.items():
            for k, (t, e, g) in enumerate(zip(info["outputs"], outs, outputs)):
                exp = to_ir(e.astype(np.float32), t["dims"])
                if exp is None:
                    return "FAIL", f"output {k} {t['dims']} vs expected {e.shape}"
                err = float(np.max(np.abs(g - exp))) if exp.size else 0.0
                if not np.allclose(g, exp, rtol=RTOL, atol=ATOL):
                    return "FAIL", (f"{backend} output {k}: max |diff| {err:.3e}"
                                    f" exceeds rtol {RTOL} atol {ATOL}")
                worst = max(worst, err)
        return "PASS", f"max |diff| {worst:.1e} (ref and opencl)"
    return "UNSUPPORTED", msg


def small_models():
    """(name, model, {input: array}) for test_ops_models()."""
    rng = np.random.default_rng(5)
    f32 = np.float32

    def rnd(*shape):
        return rng.standard_normal(shape).astype(f32)

    def model(name, nodes, inputs, inits, opset=13):
        g = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
             for n, a in inputs.items()],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        return name, m, inputs

    N = helper.make_node
    x = {"x": rnd(1, 6, 13, 11)}
    bn = {"s": rng.uniform(0.5, 1.5, 4).astype(f32), "b": rnd(4),
          "m": rnd(4), "v": rng.uniform(0.5, 1.5, 4).astype(f32)}
    out = [
        model("grouped conv, group 2, SAME_LOWER, stride 2",
              [N("Conv", ["x", "w", "c"], ["y"], group=2, strides=[2, 2],
                 auto_pad="SAME_LOWER")], x, {"w": rnd(4, 3, 3, 3), "c": rnd(4)}),
        model("conv stride 2 SAME_UPPER, BatchNormalization, Clip 0..6",
              [N("Conv", ["x", "w"], ["a"], strides=[2, 2], auto_pad="SAME_UPPER",
                 kernel_shape=[3, 3]),
               N("BatchNormalization", ["a", "s", "b", "m", "v"], ["n"]),
               N("Clip", ["n", "lo", "hi"], ["y"])], x,
              dict(bn, w=rnd(4, 6, 3, 3), lo=f32(0), hi=f32(6))),
        model("lone BatchNormalization, Relu, Add, dilated conv",
              [N("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
               N("Relu", ["n"], ["r"]), N("Add", ["r", "n"], ["a"]),
               N("Conv", ["a", "w"], ["y"], dilations=[3, 2], pads=[3, 2, 3, 2])],
              {"x": rnd(1, 4, 9, 7)}, dict(bn, w=rnd(5, 4, 3, 3))),
        model("Sub, Div, Mul by constants (scalar and per channel)",
              [N("Sub", ["k", "x"], ["a"]), N("Div", ["a", "d"], ["b"]),
               N("Mul", ["b", "c"], ["y"])], x,
              {"k": rnd(1, 6, 1, 1), "d": f32(3.0), "c": rnd(6, 1, 1)}),
        model("squeeze-excitation with broadcasting Add and Mul",
              [N("GlobalAveragePool", ["x"], ["p"]), N("Sigmoid", ["p"], ["s"]),
               N("Add", ["s", "x"], ["a"]), N("Mul", ["a", "s"], ["y"])], x, {}),
        model("NHWC input behind a Transpose, conv, Transpose back",
              [N("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
               N("Conv", ["t", "w"], ["c"], pads=[1, 0, 1, 0], kernel_shape=[3, 1]),
               N("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])],
              {"x": rnd(1, 11, 9, 3)}, {"w": rnd(5, 3, 3, 1)}),
        model("Upsample-9 linear x3, MaxPool 3x3 s2 pads 1",
              [N("Upsample", ["x", "sc"], ["u"], mode="linear"),
               N("MaxPool", ["u"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                 pads=[1, 1, 1, 1])], x,
              {"sc": np.array([1, 1, 3, 3], f32)}, opset=9),
        model("Resize nearest x2.5 half_pixel round_prefer_ceil",
              [N("Resize", ["x", "", "sc"], ["y"], mode="nearest",
                 nearest_mode="round_prefer_ceil")], x,
              {"sc": np.array([1, 1, 2.5, 2.5], f32)}),
        model("Resize linear sizes from Shape, Gather, Mul, Concat",
              [N("Shape", ["x"], ["sh"]), N("Gather", ["sh", "i"], ["hw"]),
               N("Mul", ["hw", "two"], ["hw2"]),
               N("Concat", ["nc", "hw2"], ["sz"], axis=0),
               N("Resize", ["x", "", "", "sz"], ["y"], mode="linear",
                 coordinate_transformation_mode="align_corners")], x,
              {"i": np.array([2, 3], np.int64), "two": np.array(2, np.int64),
               "nc": np.array([1, 6], np.int64)}),
        model("GlobalAveragePool, Flatten, Softmax",
              [N("GlobalAveragePool", ["x"], ["p"]), N("Flatten", ["p"], ["f"]),
               N("Softmax", ["f"], ["y"], axis=1)], x, {}),
        model("Softmax and ArgMax over the channels (NCHW)",
              [N("Softmax", ["x"], ["s"], axis=1),
               N("ArgMax", ["s"], ["am"], axis=1, keepdims=1),
               N("Cast", ["am"], ["y"], to=TensorProto.FLOAT)], x, {}),
    ]
    return out


def test_ops_models():
    tool = graph_run()
    failures = []
    print("Small generated models: ours (dls-graph-run) vs onnxruntime, "
          "max |diff| / max (1, max |onnxruntime|) <= 1e-4")
    with tempfile.TemporaryDirectory(prefix="dls-onnx-ops-") as tmp:
        for name, m, inputs in small_models():
            path = os.path.join(tmp, "m.onnx")
            onnx.save(m, path)
            try:
                ref = ort_session(path).run(None, inputs)[0].astype(np.float32)
            except Exception as exc:                   # noqa: BLE001
                failures.append(f"{name}: onnxruntime: {exc}")
                continue
            rc, msg, info = graph_info(tool, path)
            if rc != 0:
                failures.append(f"{name}: {msg}")
                print(f"  FAIL {name}: {msg}")
                continue
            try:
                got = run_backends(tool, path, info, inputs, tmp)
            except RuntimeError as exc:
                failures.append(f"{name}: {exc}")
                print(f"  FAIL {name}: {exc}")
                continue
            exp = to_ir(ref, info["outputs"][0]["dims"])
            if exp is None:
                failures.append(f"{name}: output {info['outputs'][0]['dims']} "
                                f"vs onnxruntime {ref.shape}")
                continue
            scale = max(1.0, float(np.max(np.abs(exp))))
            errs = {b: float(np.max(np.abs(o[0] - exp))) / scale
                    for b, o in got.items()}
            ok = all(e <= 1e-4 for e in errs.values())
            print(f"  {'ok  ' if ok else 'FAIL'} {name:<62} ref {errs['ref']:.1e}"
                  f"  opencl {errs['opencl']:.1e}")
            if not ok:
                failures.append(f"{name}: relative max |diff| {errs}")
    return report(failures)


def test_conformance():
    root = os.environ.get("DLS_ONNX_TESTDATA",
                          "/usr/share/libonnx-testdata/data/node")
    if not os.path.isdir(root):
        tf.skip(f"missing {root}: install Debian's libonnx-testdata "
                "(scripts/setup.sh)")
    tool = graph_run()
    if not os.path.exists(tool):
        print(f"FAIL: {tool} not found: build first (ninja -C build)")
        return 1
    tests = node_tests(root)
    counts = {"PASS": 0, "FAIL": 0, "UNSUPPORTED": 0}
    failures = []
    print(f"ONNX node tests in {root}: {len(tests)} for the ops "
          f"{', '.join(CONFORMANCE_OPS)}")
    with tempfile.TemporaryDirectory(prefix="dls-onnx-conf-") as tmp:
        for name in tests:
            try:
                res, detail = run_node_test(tool, os.path.join(root, name), tmp)
            except (subprocess.TimeoutExpired, ValueError, OSError) as exc:
                res, detail = "FAIL", f"{type(exc).__name__}: {exc}"
            counts[res] += 1
            print(f"  {res:<11} {name:<58} {detail}")
            if res == "FAIL":
                failures.append(f"{name}: {detail}")
    print(f"\n{counts['PASS']} pass, {counts['FAIL']} fail, "
          f"{counts['UNSUPPORTED']} unsupported (of {len(tests)} node tests)")
    return report(failures)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "shared"
    if what == "shared":
        return test_shared()
    if what == "ops":
        return test_ops_models()
    if what == "conformance":
        return test_conformance()
    if what == "aspp":
        return test_aspp()
    if what == "bad-input":
        return test_bad_input()
    print(f"unknown test {what}")
    return 1


if __name__ == "__main__":
    sys.exit(main())

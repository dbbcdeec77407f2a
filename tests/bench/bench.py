#!/usr/bin/env python3
"""deeplabseg benchmark: our network vs LiteRT and onnxruntime, end to end
frame rates, first-frame times and memory, in one run on one machine.

    .venv/bin/python3 tests/bench/bench.py [--runs 30] [--json [FILE]]
        [--graph-only | --e2e-only] [--e2e-rounds 2] [--clip-rounds 5]
        [--build DIR]
    meson test -C build --benchmark -v          (the same, as a meson benchmark)

Sections (each printed as a table; --json gives the same as one object):
  machine  CPU, OpenCL device, FMA peak (build/tests/bench/dls-fma-peak: vector
           FMA chains on every core) and numpy sgemm GFLOP/s (2 threads);
  graph    the same input tensor (a VOC image, PIL bilinear to 257x257,
           x/127.5 - 1) through: ours (dls-infer --no-readback --no-upload:
           the graph alone, its input already on the device as LiteRT's is
           in its tensor, and as in the element, whose preprocess kernel
           writes it there; the logits stay on the device, as in the
           element), LiteRT with XNNPACK (2 threads, invoke()) and
           onnxruntime (2 threads, the .onnx twin, run() with the input);
           also ours with the input uploaded every run (--no-upload off:
           dls_engine_run_tensor's host copy to the padded layout and a
           blocking write); each the median of --runs timed runs
           after three warm-up runs, best of --rounds rounds run in turn;
           ratios to ours;
           our achieved GFLOP/s (2 x dls_graph_macs / time) and its share of
           the FMA peak and of sgemm; also each runtime's fastest run (on a
           machine shared with other jobs, the nearest to an idle one);
  e2e      gst-launch-1.0 videotestsrc ! deeplabseg mode=M ! fakesink
           sync=false at 640x480 and 1280x720, modes overlay, meta, meta
           with confidence=true, mask, and overlay with the warm CRF of one
           iteration (crf=true crf-iterations=1 crf-warm-start=true
           crf-warm-iterations=1, default crf-scale): fps over the frames
           after the first (gst-launch's time in PLAYING; the first frame
           is processed during preroll); the best and the median of
           --e2e-rounds rounds, each round running every row once in turn;
           overlay with and without the warm CRF also on a real clip
           (DAVIS blackswan, 50 frames decoded once to raw 640x480 RGBx,
           filesrc ! rawvideoparse: the CRF's lattice grows with the
           picture's detail, and videotestsrc repeats one flat frame), in
           --clip-rounds rounds (short runs: more of them, as the row's
           frame rate moves by a quarter with the machine's state);
  first    dls-infer: engine creation (model load, kernel build, weights)
           plus the first run, with PoCL's kernel cache off
           (POCL_KERNEL_CACHE=0, cold) and warm;
  memory   peak RSS of gst-launch with one and with two deeplabseg
           instances in one pipeline (they share compiled programs), and
           the bytes of OpenCL device buffers alive in that process (the
           element's "device buffers" GST_INFO line: weights, activations,
           frame planes, the map shortcut's buffers).
Timings are noisy on a shared 2-core machine: compare within one run.
Paths: --build (default build/), --shared (default ../shared or
$DLS_SHARED_DIR). Exit 0, or 77 when data or modules are missing.
"""
import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

# numpy's BLAS and onnxruntime get 2 threads, like LiteRT and our device.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SKIP = 77
MODEL = "models/deeplabv3_257_mv_gpu.tflite"
ONNX = "models/deeplabv3_257_mv_gpu.onnx"


def reexec_with_venv():
    """Re-executes with DLS_TEST_PYTHON or .venv when modules are missing."""
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        from PIL import Image  # noqa: F401
        from ai_edge_litert import interpreter  # noqa: F401
        return
    except ImportError as exc:
        for py in (os.environ.get("DLS_TEST_PYTHON", ""),
                   os.path.join(SRC, ".venv", "bin", "python3")):
            if py and os.path.exists(py) and not os.environ.get("_DLS_REEXEC"):
                os.environ["_DLS_REEXEC"] = "1"
                sys.stdout.flush()
                os.execv(py, [py] + sys.argv)
        print(f"SKIP: {exc}: run scripts/setup.sh to create .venv")
        sys.exit(SKIP)


reexec_with_venv()
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from ai_edge_litert import interpreter as litert  # noqa: E402
from PIL import Image  # noqa: E402


def median(xs):
    return float(np.median(np.asarray(xs, dtype=np.float64)))


def timed_runs(fn, runs, warmup=3):
    """(median, min) ms of @runs calls after @warmup."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return median(ms), min(ms)


def timed(fn, runs, warmup=3):
    return timed_runs(fn, runs, warmup)[0]


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---- machine ----

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def sgemm_gflops(n=768, runs=40):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    best = min(timed(lambda: a @ b, 1, warmup=1) for _ in range(runs))
    return 2.0 * n ** 3 / (best * 1e-3) / 1e9


# ---- graph ----

def input_tensor(shared, h, w):
    imgs = sorted(os.listdir(os.path.join(shared, "data", "voc-dev")))
    img = next(i for i in imgs if not i.endswith("_label.png"))
    im = Image.open(os.path.join(shared, "data", "voc-dev", img))
    im = im.convert("RGB").resize((w, h), Image.BILINEAR)
    return (np.asarray(im, dtype=np.float32) / 127.5 - 1.0)[None]


def bench_graph(a, shared, infer, x):
    model = os.path.join(shared, MODEL)
    it = litert.Interpreter(model_path=model, num_threads=2)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(shared, ONNX), so,
                                providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        f.write(x.tobytes())
        f.flush()
        # three warm-up runs, as timed_runs() gives the other two
        upload_cmd = [infer, "--model", model, "--repeat", str(a.runs),
                      "--warmup", "3", "--input", f.name, "--no-readback"]
        ours_cmd = upload_cmd + ["--no-upload"]
        best = {"ours": [], "ours_upload": [], "litert": [], "onnxruntime": []}
        # A pause before each: onnxruntime's and XNNPACK's pools spin for
        # a while after a run and would take the cores from the next one.
        for _ in range(a.rounds):
            time.sleep(1.0)
            j = run_json(ours_cmd)
            best["ours"].append((j["median_ms"], j["min_ms"]))
            j = run_json(upload_cmd)
            best["ours_upload"].append((j["median_ms"], j["min_ms"]))
            time.sleep(1.0)
            best["litert"].append(timed_runs(it.invoke, a.runs))
            time.sleep(1.0)
            best["onnxruntime"].append(
                timed_runs(lambda: sess.run(None, feed), a.runs))
    res = {k: min(m for m, _ in v) for k, v in best.items()}
    res.update({k + "_min": min(m for _, m in v) for k, v in best.items()})
    return res


# ---- end to end, first frame, memory ----

def gst_env(a):
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = os.path.join(a.build, "gst")
    env.setdefault("GST_REGISTRY", os.path.join(a.build, "bench-registry.bin"))
    return env


def branch(a, w, h, mode, n):
    return (f"videotestsrc num-buffers={n} ! video/x-raw,format=RGBx,"
            f"width={w},height={h},framerate=30/1 ! deeplabseg model="
            f"{os.path.join(a.shared, MODEL)} mode={mode} ! fakesink sync=false")


def gst_launch(a, pipeline, env=None):
    """Runs gst-launch-1.0; returns (seconds in PLAYING, peak RSS in MiB,
    its output)."""
    cmd = ["gst-launch-1.0"] + pipeline.split()
    p = subprocess.Popen(cmd,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=dict(gst_env(a), **(env or {})), text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out}")
    m = re.search(r"Execution ended after (\d+):(\d+):([\d.]+)", out)
    secs = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return secs, ru.ru_maxrss / 1024.0, out


WARM_CRF = ("overlay crf=true crf-iterations=1 crf-warm-start=true "
            "crf-warm-iterations=1")
E2E_MODES = (("overlay", "overlay"), ("meta", "meta"),
             # beside "meta": the cost of the plane
             ("meta confidence=true", "meta confidence=true"),
             ("mask", "mask"),
             ("overlay warm CRF 1 it", WARM_CRF))


# A real clip for the rows whose cost depends on the picture (the CRF's
# lattice: videotestsrc repeats one frame of flat bars, 4,320 bilateral
# vertices on the 320x240 grid; DAVIS blackswan has ~137,000): its JPEGs
# decoded and scaled once into raw RGBx frames, so decoding is not timed.
CLIP = "data/davis/blackswan/JPEGImages"
CLIP_MODES = (("overlay", "overlay"), ("overlay warm CRF 1 it", WARM_CRF))


def clip_raw(a, w, h, path):
    """Decodes CLIP to @path as w x h RGBx frames; returns the count."""
    src = os.path.join(a.shared, CLIP)
    gst_launch(a, f"multifilesrc location={src}/%05d.jpg index=0 "
               f"caps=image/jpeg,framerate=30/1 ! jpegdec ! videoconvert ! "
               f"videoscale ! video/x-raw,format=RGBx,width={w},height={h} ! "
               f"filesink location={path}")
    return os.path.getsize(path) // (w * h * 4)


def clip_branch(a, w, h, mode, path):
    return (f"filesrc location={path} ! rawvideoparse format=rgbx "
            f"width={w} height={h} framerate=30/1 ! deeplabseg model="
            f"{os.path.join(a.shared, MODEL)} mode={mode} ! fakesink sync=false")


def bench_e2e(a):
    """({row: [fps of each round]}, frames of the clip)."""
    res = {}
    w, h = 640, 480
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "clip.rgbx")
        n_clip = clip_raw(a, w, h, raw)
        for r in range(max(a.e2e_rounds, a.clip_rounds)):
            for fw, fh in ((640, 480), (1280, 720)):
                for name, mode in E2E_MODES if r < a.e2e_rounds else ():
                    secs = gst_launch(a, branch(a, fw, fh, mode, a.frames))[0]
                    res.setdefault(f"{fw}x{fh} {name}", []).append(
                        (a.frames - 1) / secs)
            for name, mode in CLIP_MODES if r < a.clip_rounds else ():
                secs = gst_launch(a, clip_branch(a, w, h, mode, raw))[0]
                res.setdefault(f"{w}x{h} {name}, DAVIS clip", []).append(
                    (n_clip - 1) / secs)
    return res, n_clip


def bench_first(a, infer):
    cmd = [infer, "--model", os.path.join(a.shared, MODEL), "--repeat", "1"]
    cold_env = dict(os.environ, POCL_KERNEL_CACHE="0")
    cold = run_json(cmd, cold_env)
    run_json(cmd)                       # fills PoCL's cache
    warm = run_json(cmd)
    return {k: r["start_ms"] + r["first_ms"]
            for k, r in (("cold", cold), ("warm", warm))}


def bench_memory(a):
    """Peak RSS (MiB) and device buffer bytes with one and two instances."""
    one = branch(a, 640, 480, "overlay", 20)
    env = {"GST_DEBUG": "deeplabseg:4", "GST_DEBUG_NO_COLOR": "1"}
    rss, dev = {}, {}
    for name, pipeline in (("1 instance", one), ("2 instances", one + " " + one)):
        _, rss[name], out = gst_launch(a, pipeline, env)
        found = [int(b) for b in re.findall(
            r"device buffers: (\d+) bytes in the process", out)]
        dev[name] = max(found) if found else None
    return rss, dev


# ---- report ----

def table(title, rows):
    print(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get(
        "DLS_BUILD_DIR", os.path.join(SRC, "build")))
    ap.add_argument("--shared", default=os.environ.get(
        "DLS_SHARED_DIR", os.path.join(SRC, "..", "shared")))
    ap.add_argument("--runs", type=int, default=30,
                    help="timed runs per runtime and round (default 30)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the three runtimes, best median kept")
    ap.add_argument("--frames", type=int, default=60,
                    help="frames per end-to-end pipeline (default 60)")
    ap.add_argument("--e2e-rounds", type=int, default=2,
                    help="rounds of the end-to-end rows, best and median "
                    "kept (default 2)")
    ap.add_argument("--clip-rounds", type=int, default=5,
                    help="rounds of the DAVIS clip rows (default 5)")
    ap.add_argument("--graph-only", action="store_true",
                    help="machine and graph sections only")
    ap.add_argument("--e2e-only", action="store_true",
                    help="end to end, first frame and memory only (no "
                    "graph, no machine peak)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="also write the results as JSON to FILE; alone: "
                    "only JSON, on stdout")
    a = ap.parse_args()
    for f in (MODEL, ONNX, CLIP):
        if not os.path.exists(os.path.join(a.shared, f)):
            print(f"SKIP: {a.shared}/{f} is missing")
            sys.exit(SKIP)
    infer = os.path.join(a.build, "tests", "tools", "dls-infer")
    peak_exe = os.path.join(a.build, "tests", "bench", "dls-fma-peak")

    info = run_json([infer, "--model", os.path.join(a.shared, MODEL),
                     "--info"])
    x = input_tensor(a.shared, info["input_height"], info["input_width"])
    r = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                     "device": info["device"],
                     "load_average_start": os.getloadavg()[0]}}
    if not a.e2e_only:
        r["machine"]["fma_peak_gflops"] = run_json([peak_exe])["gflops"]
        r["machine"]["sgemm_gflops"] = sgemm_gflops()
        g = bench_graph(a, a.shared, infer, x)
        gflop = 2.0 * info["macs"] / 1e9
        g["gflop_per_frame"] = gflop
        g["ours_gflops"] = gflop / (g["ours"] * 1e-3)
        g["ours_vs_litert"] = g["ours"] / g["litert"]
        g["ours_vs_onnxruntime"] = g["ours"] / g["onnxruntime"]
        g["ours_min_gflops"] = gflop / (g["ours_min"] * 1e-3)
        g["ours_vs_litert_min"] = g["ours_min"] / g["litert_min"]
        g["runs"], g["rounds"] = a.runs, a.rounds
        r["graph"] = g
    if not a.graph_only:
        rounds, r["clip_frames"] = bench_e2e(a)
        r["e2e_fps"] = {k: max(v) for k, v in rounds.items()}
        r["e2e_fps_median"] = {k: statistics.median(v)
                               for k, v in rounds.items()}
        r["e2e_fps_rounds"] = rounds
        r["first_frame_ms"] = bench_first(a, infer)
        r["peak_rss_mib"], r["device_bytes"] = bench_memory(a)
    r["machine"]["load_average_end"] = os.getloadavg()[0]

    if a.json == "-":
        print(json.dumps(r, indent=1))
        return
    m = r["machine"]
    table("machine", [("cpu", f"{m['cpu']} ({m['cores']} cores)"),
                      ("OpenCL device", m["device"])]
          + ([] if a.e2e_only else [
              ("FMA peak", f"{m['fma_peak_gflops']:.1f} GFLOP/s"),
              ("numpy sgemm", f"{m['sgemm_gflops']:.1f} GFLOP/s")])
          + [("load average", f"{m['load_average_start']:.1f} at "
              f"start, {m['load_average_end']:.1f} at end (other "
              "jobs on the cores make every figure noisier)")])
    if not a.e2e_only:
        print_graph(a, r)
    if not a.graph_only:
        table(f"end to end: videotestsrc (or the DAVIS clip) ! deeplabseg ! "
              f"fakesink sync=false, {a.frames} frames (the clip "
              f"{r['clip_frames']}): best "
              f"(median) of {a.e2e_rounds} rounds, the clip's of "
              f"{a.clip_rounds}",
              [(k, f"{v:6.1f} fps ({r['e2e_fps_median'][k]:5.1f})")
               for k, v in r["e2e_fps"].items()])
        table("first frame (engine creation + first run)",
              [(k, f"{v:8.1f} ms") for k, v in r["first_frame_ms"].items()])
        table("memory (gst-launch, 640x480 overlay): peak RSS, device buffers",
              [(k, f"{v:8.1f} MiB, " + (
                  f"{r['device_bytes'][k] / 2**20:.1f} MiB"
                  if r["device_bytes"][k] is not None else "not reported"))
               for k, v in r["peak_rss_mib"].items()])
    if a.json:
        with open(a.json, "w") as f:
            f.write(json.dumps(r, indent=1) + "\n")


def print_graph(a, r):
    m, g = r["machine"], r["graph"]
    gflop = g["gflop_per_frame"]
    pct = 100.0 * g["ours_gflops"]
    table(f"graph: {gflop:.2f} GFLOP a frame, median of {a.runs} runs "
          f"(best of {a.rounds} rounds)", [
              ("ours (OpenCL)", f"{g['ours']:8.2f} ms  1.00x  "
               f"{g['ours_gflops']:.1f} GFLOP/s = "
               f"{pct / m['fma_peak_gflops']:.0f} % of FMA peak, "
               f"{pct / m['sgemm_gflops']:.0f} % of sgemm"),
              ("LiteRT XNNPACK 2 thr", f"{g['litert']:8.2f} ms  "
               f"ours/LiteRT = {g['ours_vs_litert']:.2f}x"),
              ("onnxruntime 2 thr", f"{g['onnxruntime']:8.2f} ms  "
               f"ours/onnxruntime = {g['ours_vs_onnxruntime']:.2f}x"),
              ("ours + input upload", f"{g['ours_upload']:8.2f} ms  "
               f"(ours + upload)/LiteRT = "
               f"{g['ours_upload'] / g['litert']:.2f}x, fastest "
               f"{g['ours_upload_min']:.2f} ms"),
              ("fastest run", f"ours {g['ours_min']:.2f} ms "
               f"({g['ours_min_gflops']:.1f} GFLOP/s = "
               f"{100 * g['ours_min_gflops'] / m['fma_peak_gflops']:.0f} % of "
               f"FMA peak), LiteRT {g['litert_min']:.2f} ms, onnxruntime "
               f"{g['onnxruntime_min']:.2f} ms: ours/LiteRT = "
               f"{g['ours_vs_litert_min']:.2f}x")])


if __name__ == "__main__":
    main()

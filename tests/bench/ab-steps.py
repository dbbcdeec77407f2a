#!/usr/bin/env python3
"""deeplabseg: the graph of two or more variants side by side.

Each variant is a dls-infer binary with optional environment settings
(DEEPLABSEG_KERNEL_DIR for kernels from a directory, DLS_TUNING for other
tile sizes); they run in turn, the order reversed every other round (A B,
B A, ...), each as `dls-infer --repeat R --no-readback` (the whole graph:
median and fastest run) and then with DLS_PROFILE=1 (a clFinish after
every step: per-step minima). Prints the whole graph's figures round by
round, per step the minimum and the median over rounds of its minimum,
then per kernel the sum over its steps, round by round (the machine is
shared: trust only differences that hold in most rounds).

  tests/bench/ab-steps.py [--rounds 6] [--repeat 40] [--filter REGEX]
      [--graph-only] NAME=DLS_INFER[:VAR=VALUE[:VAR=VALUE...]] ...

With --graph-only, only the whole graph, and how many rounds each variant
beat the first: `--graph-only --rounds 60 --repeat 20` (many short rounds
in turn) is how the seventh session told changes of a few percent apart
on a shared machine (docs/performance.md).
  e.g. tests/bench/ab-steps.py --filter depthwise \\
      old=/tmp/old/build/tests/tools/dls-infer \\
      new=build/tests/tools/dls-infer:DLS_TUNING=6,16,3,16,14,11,33,8

Model: $DLS_SHARED_DIR (default ../shared)/models/deeplabv3_257_mv_gpu.tflite.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STEP = re.compile(r"\s*[\d.]+ ms \(min\s+([\d.]+)\)\s+node\s+(\d+)\s+\S+\s+"
                  r"(\S+)\s+-> (\S+)")
TOTAL = re.compile(r"sum of step minima ([\d.]+)")


def parse_variant(arg):
    name, _, rest = arg.partition("=")
    binary, *settings = rest.split(":")
    env = dict(s.split("=", 1) for s in settings)
    return name, binary, env


def infer(binary, env, model, repeat, prof):
    extra = {"DLS_PROFILE": "1"} if prof else {}
    return subprocess.run([binary, "--model", model, "--repeat", str(repeat),
                           "--no-readback"], capture_output=True, text=True,
                          check=True, env=dict(os.environ, **env, **extra))


def whole(binary, env, model, repeat):
    """(median, min) ms of the unprofiled graph: dls-infer's JSON line."""
    out = infer(binary, env, model, repeat, False)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    j = json.loads(line)
    return j["median_ms"], j["min_ms"]


def profile(binary, env, model, repeat):
    out = infer(binary, env, model, repeat, True)
    steps = {}
    for line in (out.stdout + out.stderr).splitlines():
        m = STEP.match(line)
        if m:
            key = f"{int(m.group(2)):3d} {m.group(3)} {m.group(4)}"
            steps[key] = steps.get(key, 0.0) + float(m.group(1))
        m = TOTAL.search(line)
        if m:
            steps["sum of step minima"] = float(m.group(1))
    return steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--filter", default="", help="steps to print (regex)")
    ap.add_argument("--graph-only", action="store_true",
                    help="whole-graph batches only, no profiled runs (many "
                    "short rounds: on a shared machine the rounds in turn "
                    "and the count of rounds each variant won tell more "
                    "than one long median)")
    ap.add_argument("variants", nargs="+", help="NAME=DLS_INFER[:VAR=VALUE]")
    a = ap.parse_args()
    shared = os.environ.get("DLS_SHARED_DIR",
                            os.path.join(HERE, "..", "..", "..", "shared"))
    model = os.path.join(shared, "models", "deeplabv3_257_mv_gpu.tflite")
    if not os.path.exists(model):
        print(f"missing {model}", file=sys.stderr)
        return 77
    variants = [parse_variant(v) for v in a.variants]
    runs = {name: [] for name, _, _ in variants}
    graph = {name: [] for name, _, _ in variants}
    for r in range(a.rounds):
        for name, binary, env in variants[::1 if r % 2 == 0 else -1]:
            graph[name].append(whole(binary, env, model, a.repeat))
            if not a.graph_only:
                runs[name].append(profile(binary, env, model, a.repeat))
    names = [name for name, _, _ in variants]
    print("whole graph, unprofiled (ms): median of medians, fastest run  |  "
          "median by round")
    for n in names:
        med = [m for m, _ in graph[n]]
        print(f"  {n:10s} {statistics.median(med):8.3f} "
              f"{min(x for _, x in graph[n]):8.3f}  |  "
              + " ".join(f"{x:.3f}" for x in med))
    first = [m for m, _ in graph[names[0]]]
    for n in names[1:]:
        med = [m for m, _ in graph[n]]
        won = sum(1 for x, y in zip(med, first) if x < y)
        print(f"  {n} faster than {names[0]} in {won} of {a.rounds} rounds; "
              f"means {statistics.mean(med):.3f} vs "
              f"{statistics.mean(first):.3f}")
    if a.graph_only:
        return 0
    print(f"{'step':42s}" + "".join(f"{n + ' min':>12s}{n + ' med':>12s}"
                                    for n in names))
    # Steps of every variant (a fused step exists in one only).
    keys = sorted({k for n in names for k in runs[n][0]})
    for key in keys:
        if a.filter and not re.search(a.filter, key) and "sum" not in key:
            continue
        row = ""
        for n in names:
            v = [s.get(key, float("nan")) for s in runs[n]]
            row += f"{min(v):12.3f}{statistics.median(v):12.3f}"
        print(f"{key:42s}{row}")
    kernels = sorted({k.split()[1] for k in keys if "sum" not in k})
    for kernel in kernels:
        print(f"sum of {kernel} steps, by round:")
        for n in names:
            v = [sum(x for k, x in s.items() if k.split()[1:2] == [kernel])
                 for s in runs[n]]
            print(f"  {n:10s} min {min(v):.3f}  median "
                  f"{statistics.median(v):.3f}  |  "
                  + " ".join(f"{x:.3f}" for x in v))
    return 0


if __name__ == "__main__":
    sys.exit(main())

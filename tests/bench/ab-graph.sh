#!/bin/bash
# deeplabseg: the graph of two builds side by side, build A then build B in
# turn, ROUNDS times (the machine is shared: compare within a round and
# read minima as well as medians). Each round runs, per build:
#   dls-infer --repeat N --no-readback             (median and min ms)
#   DLS_PROFILE=1 dls-infer --repeat N --no-readback (per-step minima)
#
#   tests/bench/ab-graph.sh BUILD_A BUILD_B ROUNDS
#   e.g. tests/bench/ab-graph.sh /tmp/base build 4
#
# Prints per build the medians and minima of every round, the sum of step
# minima of every round, then the minimum over the rounds of each step
# (node, op, kernel; a node's steps in order) for both builds side by side.
# Runs: $REPEAT (default 40). Model: $DLS_SHARED_DIR (default
# ../shared)/models/deeplabv3_257_mv_gpu.tflite.
set -eu
[ $# -eq 3 ] || { sed -n 2,15p "$0"; exit 2; }
A=$1 B=$2 ROUNDS=$3
SHARED=${DLS_SHARED_DIR:-$(dirname "$0")/../../../shared}
MODEL=$SHARED/models/deeplabv3_257_mv_gpu.tflite
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
  for i in 0 1; do
    build=$([ $i = 0 ] && echo "$A" || echo "$B")
    infer=$build/tests/tools/dls-infer
    "$infer" -m "$MODEL" --repeat "${REPEAT:-40}" --no-readback \
      2>/dev/null > "$OUT/time.$i.$r"
    DLS_PROFILE=1 "$infer" -m "$MODEL" --repeat "${REPEAT:-40}" \
      --no-readback > "$OUT/prof.$i.$r" 2>&1
  done
done
python3 - "$OUT" "$ROUNDS" "$A" "$B" <<'EOF'
import collections, json, re, statistics, sys

out, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:5]
steps = [collections.defaultdict(list), collections.defaultdict(list)]
for i in (0, 1):
    med, mins, sums = [], [], []
    for r in range(1, rounds + 1):
        t = json.loads(open(f"{out}/time.{i}.{r}").read().strip().splitlines()[-1])
        med.append(t["median_ms"])
        mins.append(t["min_ms"])
        seen = collections.Counter()
        for line in open(f"{out}/prof.{i}.{r}"):
            m = re.search(r"sum of step minima ([\d.]+)", line)
            if m:
                sums.append(float(m.group(1)))
            m = re.match(r"\s*[\d.]+ ms \(min\s+([\d.]+)\)\s+node\s+(\d+) (\S+)\s+(\S+)", line)
            if m:
                key = (int(m.group(2)), m.group(3), m.group(4))
                seen[key] += 1
                steps[i][key + (seen[key],)].append(float(m.group(1)))
    print(f"{'AB'[i]} {names[i]}: medians {' '.join('%.2f' % x for x in med)} "
          f"(median {statistics.median(med):.2f}), minima "
          f"{' '.join('%.2f' % x for x in mins)} (min {min(mins):.2f}); "
          f"sum of step minima {' '.join('%.2f' % x for x in sums)}; "
          f"{len(steps[i])} steps")
print("# per step, min over the rounds (ms): A, B")
for key in sorted(set(steps[0]) | set(steps[1])):
    a = "%.3f" % min(steps[0][key]) if key in steps[0] else "-"
    b = "%.3f" % min(steps[1][key]) if key in steps[1] else "-"
    print("node %3d %-16s %-16s #%d  %7s %7s" % (key + (a, b)))
for i in (0, 1):
    print(f"# {'AB'[i]}: sum over steps of the min over rounds "
          f"{sum(min(v) for v in steps[i].values()):.3f} ms")
EOF

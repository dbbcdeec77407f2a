#!/usr/bin/env bash
# deeplabseg: peak RSS of 1 and of 4 `deeplabseg` instances in one process
# (issue 8, "many streams"). One gst-launch-1.0 per case: videotestsrc ->
# tee -> N x (queue ! deeplabseg mode=mask ! fakesink), FRAMES frames, the
# real model; peak RSS from /usr/bin/time (%M, KiB).
#
#   scripts/streams-rss.sh [FRAMES]       # default 20; BUILD_DIR, MODEL
#
# Prints one line per size: peak RSS of 1 and 4 instances and the cost of
# each extra instance. Not a test: a figure for docs and reports.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
FRAMES=${1:-20}
MODEL=${MODEL:-${DLS_SHARED_DIR:-$ROOT/../shared}/models/deeplabv3_257_mv_gpu.tflite}
[[ -f $MODEL ]] || { echo "no model: $MODEL" >&2; exit 1; }
export GST_PLUGIN_PATH=$BUILD/gst
export GST_REGISTRY=${GST_REGISTRY:-$BUILD/tests/registry-rss.bin}

# peak_kib N WIDTH HEIGHT
peak_kib() {
  local n=$1 w=$2 h=$3 desc k
  desc="videotestsrc num-buffers=$FRAMES pattern=ball ! video/x-raw,format=RGB,width=$w,height=$h ! tee name=t"
  for ((k = 0; k < n; k++)); do
    desc+=" t. ! queue ! deeplabseg model=$MODEL mode=mask ! fakesink"
  done
  # shellcheck disable=SC2086
  /usr/bin/time -f %M -o "$BUILD/rss.$$" gst-launch-1.0 -q $desc >/dev/null
  cat "$BUILD/rss.$$"
  rm -f "$BUILD/rss.$$"
}

for size in 320x240 640x480; do
  w=${size%x*} h=${size#*x}
  one=$(peak_kib 1 "$w" "$h")
  four=$(peak_kib 4 "$w" "$h")
  awk -v s="$size" -v a="$one" -v b="$four" 'BEGIN {
    printf "%s: peak RSS 1 instance %.1f MiB, 4 instances %.1f MiB, +%.1f MiB per extra instance\n",
      s, a / 1024, b / 1024, (b - a) / 3 / 1024 }'
done

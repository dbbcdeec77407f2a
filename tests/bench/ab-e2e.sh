#!/bin/bash
# deeplabseg: end-to-end fps of two builds side by side, each row run for
# build A then build B in turn, ROUNDS times (the machine is shared: read
# the ratio of each round, not the absolute fps). The pipeline is
# bench.py's e2e row: videotestsrc ! deeplabseg ! fakesink sync=false.
#
#   tests/bench/ab-e2e.sh BUILD_A BUILD_B ROUNDS "W H [PROPERTY=VALUE...]"...
#   e.g. tests/bench/ab-e2e.sh /tmp/old/build build 3 "640 480" \
#          "1280 720 mode=meta confidence=true"
#
# Prints "round build WxH properties fps" lines, then per row the ratios
# B / A. Frames: $FRAMES (default 60, after the first). Model:
# $DLS_SHARED_DIR (default ../shared)/models/deeplabv3_257_mv_gpu.tflite.
set -eu
[ $# -ge 4 ] || { sed -n 2,14p "$0"; exit 2; }
A=$1 B=$2 ROUNDS=$3
shift 3
N=$(( ${FRAMES:-60} + 1 ))
SHARED=${DLS_SHARED_DIR:-$(dirname "$0")/../../../shared}
MODEL=$SHARED/models/deeplabv3_257_mv_gpu.tflite
declare -A RATIOS
for r in $(seq "$ROUNDS"); do
  for row in "$@"; do
    read -r W H PROPS <<< "$row"
    fps=()
    for build in "$A" "$B"; do
      out=$(GST_PLUGIN_PATH=$build/gst GST_REGISTRY=$build/ab-registry.bin \
        gst-launch-1.0 videotestsrc num-buffers=$N ! \
        video/x-raw,format=RGBx,width="$W",height="$H",framerate=30/1 ! \
        deeplabseg model="$MODEL" $PROPS ! fakesink sync=false 2>&1)
      secs=$(sed -n 's/.*Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\).*/\1 \2 \3/p' <<< "$out" \
        | awk '{ print $1 * 3600 + $2 * 60 + $3 }')
      [ -n "$secs" ] || { echo "$out" >&2; exit 1; }
      f=$(awk -v n=$N -v s="$secs" 'BEGIN { printf "%.1f", (n - 1) / s }')
      fps+=("$f")
      echo "$r $build ${W}x$H ${PROPS:-overlay} $f"
    done
    key="${W}x$H ${PROPS:-overlay}"
    RATIOS[$key]="${RATIOS[$key]:-} $(awk -v a="${fps[0]}" -v b="${fps[1]}" 'BEGIN { printf "%.2f", b / a }')"
  done
done
echo "# B / A per round"
for key in "${!RATIOS[@]}"; do
  echo "$key:${RATIOS[$key]}"
done

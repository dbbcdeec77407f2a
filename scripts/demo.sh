#!/usr/bin/env bash
# deeplabseg demo: set up (scripts/setup.sh), then segment a real video.
#
#   scripts/demo.sh [VIDEO.mp4]      (default: ../shared/data/video/bedroom.mp4)
#
# Writes out/demo.mp4 (the video with the class palette blended in, H.264)
# and out/demo.png (one segmented frame from the middle of the clip; every
# snapshot, one a second, is kept as out/demo-NN.png), and prints the frame
# rate the whole pipeline reached (decode + segment + encode, timed from the
# first frame out of deeplabseg to the end, so model load and OpenCL kernel
# builds are not counted).
#
# Environment: DEEPLABSEG_MODEL (model file; default
# ../shared/models/deeplabv3_257_mv_gpu.tflite beside the checkout),
# DLS_SHARED_DIR (shared folder), DLS_DEMO_SKIP_SETUP=1 (do not run setup).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SHARED=${DLS_SHARED_DIR:-$ROOT/../shared}
VIDEO=${1:-$SHARED/data/video/bedroom.mp4}
MODEL=${DEEPLABSEG_MODEL:-$SHARED/models/deeplabv3_257_mv_gpu.tflite}
OUT=$ROOT/out

die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -f $VIDEO ]] || die "no video at $VIDEO (give a path: scripts/demo.sh VIDEO.mp4)"
[[ -f $MODEL ]] || die "no model at $MODEL: put ../shared beside the checkout, or set DEEPLABSEG_MODEL=path/to/deeplabv3_257_mv_gpu.tflite (or DLS_SHARED_DIR)"
VIDEO=$(cd "$(dirname "$VIDEO")" && pwd)/$(basename "$VIDEO")
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")

if [[ ${DLS_DEMO_SKIP_SETUP:-0} != 1 ]]; then
  bash "$ROOT/scripts/setup.sh"
fi

export GST_PLUGIN_PATH="$ROOT/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export GST_REGISTRY="$ROOT/build/demo-registry.bin"
gst-inspect-1.0 deeplabseg >/dev/null 2>&1 ||
  die "GStreamer cannot load the deeplabseg element from $ROOT/build/gst (did the build succeed? try: GST_DEBUG=2 gst-inspect-1.0 deeplabseg)"

mkdir -p "$OUT"
rm -f "$OUT"/demo.mp4 "$OUT"/demo.png "$OUT"/demo-[0-9]*.png "$OUT"/demo.log

printf '\n==> demo: %s\n    model %s\n' "$VIDEO" "$MODEL"
# identity (silent=false) after deeplabseg reports each frame on stdout (-v):
# the timestamps of those lines give the frame rate. The snapshot branch
# keeps one frame a second (videorate) as PNG. Sinks: sync=false (as fast as
# it goes) and async=false (no preroll: otherwise the PNG branch's queue fills
# while x264enc still waits for its look-ahead frames, and tee deadlocks).
start=$EPOCHREALTIME
set +e
gst-launch-1.0 -v -e \
  filesrc location="$VIDEO" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! \
  deeplabseg model="$MODEL" ! identity name=frames silent=false ! tee name=t \
  t. ! queue ! videoconvert ! x264enc speed-preset=veryfast ! mp4mux ! \
    filesink sync=false async=false location="$OUT/demo.mp4" \
  t. ! queue ! videorate ! video/x-raw,framerate=1/1 ! videoconvert ! pngenc ! \
    multifilesink sync=false async=false location="$OUT/demo-%02d.png" \
  2>"$OUT/demo.log" | {
    n=0 first='' last=''
    while IFS= read -r line; do
      case $line in
        *frames*last-message*chain*)
          n=$((n + 1)); last=$EPOCHREALTIME; [[ -n $first ]] || first=$last ;;
        *ERROR*|*WARNING*) printf '%s\n' "$line" ;;
      esac
    done
    printf '%s %s %s\n' "$n" "${first:-0}" "${last:-0}" >"$OUT/.demo-frames"
  }
rc=${PIPESTATUS[0]}
set -e
end=$EPOCHREALTIME
if ((rc != 0)); then
  tail -n 20 "$OUT/demo.log" >&2
  die "the pipeline failed (exit $rc); its log: $OUT/demo.log"
fi

read -r n first _ <"$OUT/.demo-frames"
rm -f "$OUT/.demo-frames"
snaps=("$OUT"/demo-[0-9]*.png)
if [[ -f ${snaps[0]} ]]; then
  cp "${snaps[$(( ${#snaps[@]} / 2 ))]}" "$OUT/demo.png"
fi

awk -v n="$n" -v f="$first" -v s="$start" -v e="$end" 'BEGIN {
  printf "\n==> done: %d frames in %.1f s wall (model load and kernel builds included)\n", n, e - s
  if (n > 1 && e > f)
    printf "    fps: %.1f (decode + deeplabseg + x264enc: frames 2..%d, from the first frame out of deeplabseg to the end)\n", (n - 1) / (e - f), n
}'
echo "    video:    $OUT/demo.mp4"
if [[ -f $OUT/demo.png ]]; then
  echo "    snapshot: $OUT/demo.png (and ${#snaps[@]} one a second: $OUT/demo-NN.png)"
fi
echo "    log:      $OUT/demo.log"

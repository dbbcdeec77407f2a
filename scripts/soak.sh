#!/usr/bin/env bash
# deeplabseg: the long soak (issue 8). Runs the soak case of
# tests/test_stress.c (build/tests/test-stress) for many frames on the real
# model: 320x240 frames with alpha set from a thread, mode, caps (size and
# format) changes, flush-seeks and EOS; fails if RSS grows by >= 1 MiB after
# the warm-up cycle, or on any GStreamer error or critical.
#
#   scripts/soak.sh [FRAMES] [MODEL]     # default 10000, the shared model
#
# At about 0.1-0.3 s a frame on 2 CPU cores, 10000 frames take 20-50 min.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
FRAMES=${1:-10000}
MODEL=${2:-${DLS_SHARED_DIR:-$ROOT/../shared}/models/deeplabv3_257_mv_gpu.tflite}
[[ -x $BUILD/tests/test-stress ]] || { echo "build first: bash scripts/setup.sh" >&2; exit 1; }
[[ -f $MODEL ]] || { echo "no model: $MODEL" >&2; exit 1; }

export CK_FORK=no GST_CHECKS=test_soak GST_TRACERS=leaks
export GST_PLUGIN_PATH=$BUILD/gst GST_REGISTRY=$BUILD/tests/registry.bin
export LD_LIBRARY_PATH=$BUILD/gst/meta${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export DLS_SOAK_FRAMES=$FRAMES DLS_SOAK_MODEL=$MODEL DLS_SOAK_TRACE=${DLS_SOAK_TRACE:-500}
exec nice -n 10 "$BUILD/tests/test-stress"

#!/usr/bin/env bash
# deeplabseg: valgrind memcheck on the element tests (issue 8).
#
#   scripts/valgrind.sh [quick|full]
#
# quick (meson test "valgrind", ~2 min): test-element's bad-model cases (every
# start-failure path) and a 10-step random state walk of test-stress that
# loads the small model, runs frames and fails to load a missing one.
# full (~30-60 min): adds test-element's 23 start/stop cycles with frames on
# the real model and the 200-step state walks.
# Fails on any invalid access or use of uninitialised memory, and on any
# definite leak. Suppressions: GLib's (libglib2.0-dev) and
# tests/sanitizers/valgrind.supp (Debian ships none for GStreamer).
# Needs a normal (not sanitized) build: BUILD_DIR or DLS_BUILD_DIR, default build/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-${DLS_BUILD_DIR:-$ROOT/build}}
MODE=${1:-quick}
GLIB_SUPP=/usr/share/glib-2.0/valgrind/glib.supp

command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 77; }
[[ -f $GLIB_SUPP ]] || { echo "missing $GLIB_SUPP (libglib2.0-dev)"; exit 77; }

export CK_FORK=no G_SLICE=always-malloc G_DEBUG=gc-friendly
export GST_PLUGIN_PATH=$BUILD/gst GST_REGISTRY=$BUILD/tests/registry.bin
export LD_LIBRARY_PATH=$BUILD/gst/meta${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset GST_TRACERS

fails=0
run() {
  local name=$1; shift
  local log=$BUILD/valgrind-$name.log
  echo "==> $name: $*"
  if nice -n 10 valgrind --tool=memcheck --leak-check=full \
      --show-leak-kinds=definite --errors-for-leak-kinds=definite \
      --track-origins=no --num-callers=40 --error-exitcode=3 \
      --suppressions="$GLIB_SUPP" \
      --suppressions="$ROOT/tests/sanitizers/valgrind.supp" \
      "$@" >"$log" 2>&1; then
    grep -E 'Checks:|definitely lost:|ERROR SUMMARY' "$log" | sed 's/^/    /'
  else
    echo "    FAIL (exit $?); the end of $log:"
    tail -60 "$log" | sed 's/^/    /'
    fails=$((fails + 1))
  fi
}

steps=10
element_cases=test_bad_models
if [[ $MODE == full ]]; then
  steps=200
  element_cases=test_bad_models,test_state_cycles_no_leak
fi
GST_CHECKS=test_states_random_mixed DLS_STRESS_STEPS=$steps \
  run stress-states "$BUILD/tests/test-stress"
if [[ $MODE == full ]]; then
  GST_CHECKS=test_states_random,test_states_random_load_failure \
    DLS_STRESS_STEPS=$steps run stress-states-2 "$BUILD/tests/test-stress"
fi
# Last: in full mode the longest (frames of the real model under memcheck).
GST_CHECKS=$element_cases run element "$BUILD/tests/test-element"
echo "valgrind ($MODE): $fails failing run(s)"
((fails == 0))

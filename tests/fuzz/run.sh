#!/usr/bin/env bash
# deeplabseg fuzzing: one bounded libFuzzer run of a model-reader target,
# or of the element target (--element).
#
#   tests/fuzz/run.sh FUZZER SEEDS_TOOL WORK_DIR SECONDS [SHARED_MODEL...]
#   tests/fuzz/run.sh FUZZER SEEDS_TOOL WORK_DIR SECONDS --element
#
# meson test runs it (suite "fuzz", SECONDS=60); for a long run, see
# README.md ("Fuzzing"). Steps:
#  1. WORK_DIR/seeds is made anew by SEEDS_TOOL (tests/fuzz/seeds.c) from the
#     small in-code model and from the SHARED_MODELs (paths relative to
#     $DLS_SHARED_DIR): truncated and mutated copies, never committed;
#  2. FUZZER runs at nice 10 for SECONDS on a fresh corpus (WORK_DIR/corpus,
#     or $DLS_FUZZ_CORPUS to keep one across runs), one process (the machine
#     has 2 cores): two thirds of the time on inputs up to 16 KiB seeded by
#     the small model, then with the shared model's copies added (the
#     element: one phase, its operation sequences of seeds.c --element,
#     inputs up to 4 KiB);
#  3. a crash, a leak, a sanitizer report or a timeout fails the test; the
#     input is kept as WORK_DIR/artifacts/crash-* (add it to
#     tests/test_model.c as a regression case).
# Prints libFuzzer's final statistics (executions, coverage in edges "cov"
# and features "ft"). Exit 0 pass, 1 finding, 77 shared model missing
# (1 under CI=true).
set -euo pipefail

[[ $# -ge 4 ]] || { echo "usage: $0 FUZZER SEEDS_TOOL WORK_DIR SECONDS [MODEL...]" >&2; exit 2; }
FUZZER=$1 SEEDS=$2 WORK=$3 SECONDS_=${DLS_FUZZ_SECONDS:-$4}
shift 4
SHARED=${DLS_SHARED_DIR:-$(dirname "$0")/../../../shared}

element=0
if [[ ${1:-} == --element ]]; then
  element=1
  shift
fi
models=()
for m in "$@"; do
  p=$SHARED/$m
  if [[ ! -f $p ]]; then
    echo "missing test data: $p (set DLS_SHARED_DIR)" >&2
    [[ ${CI:-} == true || ${CI:-} == 1 ]] && exit 1
    exit 77
  fi
  models+=("$p")
done

rm -rf "$WORK/seeds" "$WORK/seeds-small"
mkdir -p "$WORK/artifacts"
if ((element)); then
  "$SEEDS" --element "$WORK/seeds"
else
  "$SEEDS" "$WORK/seeds" "${models[@]}"
fi
corpus=${DLS_FUZZ_CORPUS:-$WORK/corpus}
if [[ -z ${DLS_FUZZ_CORPUS:-} ]]; then
  rm -rf "$corpus"
fi
mkdir -p "$corpus"

log=$WORK/fuzz.log
# glib's slice allocator would hide heap overflows from ASan.
export G_SLICE=always-malloc G_DEBUG=gc-friendly
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
: >"$log"

# fuzz PHASE SECONDS MAX_LEN SEED_DIR...: one libFuzzer run into $corpus.
fuzz() {
  local phase=$1 secs=$2 max_len=$3 rc
  shift 3
  echo "== phase $phase: ${secs} s, inputs up to $max_len bytes" >>"$log"
  set +e
  nice -n 10 "$FUZZER" -max_total_time="$secs" -print_final_stats=1 \
    -max_len="$max_len" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$WORK/artifacts/" "$corpus" "$@" >>"$log" 2>&1
  rc=$?
  set -e
  if ((rc != 0)); then
    echo "fuzz: FINDING in phase $phase (exit $rc); the end of $log:"
    tail -60 "$log"
    ls -l "$WORK/artifacts/" || true
    exit 1
  fi
}

if ((element)); then
  # LeakSanitizer's suppressions for the system libraries GStreamer loads.
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(dirname "$0")/../sanitizers/lsan.supp}
  fuzz element "$SECONDS_" 4096 "$WORK/seeds"
else
  # Two thirds of the time on small inputs (the in-code model's variants,
  # inputs up to 16 KiB: ~10x the executions), then the rest with the whole
  # shared model and its copies (inputs as long as the model) added.
  mkdir -p "$WORK/seeds-small"
  find "$WORK/seeds" -name 'tiny-*' -exec cp {} "$WORK/seeds-small/" \;
  small=$((SECONDS_ * 2 / 3))
  fuzz small "$small" 16384 "$WORK/seeds-small"
  max_len=$(find "$WORK/seeds" -type f -printf '%s\n' | sort -n | tail -1)
  fuzz models $((SECONDS_ - small)) "$max_len" "$WORK/seeds"
fi

# The progress lines are many: show the start, the end and the statistics.
grep -E '^== phase|^INFO: Loaded 1 modules|INITED|DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s}')
done_line=$(grep -E '#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
edges=$(grep -m1 -oE '\([0-9]+ inline' "$log" | grep -oE '[0-9]+' || true)
echo "fuzz: PASS in ${SECONDS_} s, $execs executions; instrumented edges $edges; last: $done_line"

#!/usr/bin/env bash
# deeplabseg: install everything needed to build and test, then build.
#
#   bash scripts/setup.sh
#
# Idempotent: packages already installed, a working .venv and a configured
# build/ are reused, so a second run only rebuilds what changed.
#  1. Debian packages (apt-get; sudo when not root), skipped when all present;
#  2. .venv/ in the checkout with numpy, Pillow, LiteRT, onnxruntime and onnx
#     (models built by the ONNX tests) for the tests in tests/python/, and
#     pydensecrf2 for the CRF tests;
#  3. meson setup build/ (or reuse it) and ninja.
#
# Environment:
#   BUILD_DIR       build folder (default: build)
#   MESON_ARGS      extra arguments for `meson setup` (first configure only)
#   DLS_SHARED_DIR  shared models and data (default: ../shared beside the
#                   checkout); passed to meson as -Dshared-dir
#   DLS_SETUP_SKIP  comma list of steps to skip: apt, venv, build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build}
SKIP=",${DLS_SETUP_SKIP:-},"

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  meson ninja-build pkg-config gcc
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
  liborc-0.4-dev liborc-0.4-dev-bin
  valgrind python3-venv
  gobject-introspection libgirepository1.0-dev python3-gi python3-gst-1.0
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  libonnx-testdata
  # Reliability (tests/fuzz, README "Fuzzing"): libFuzzer needs clang.
  clang libclang-rt-14-dev
)
PY_PACKAGES=(numpy pillow onnxruntime onnx)
# LiteRT: ai-edge-litert, else the older tflite-runtime (same Interpreter API).
PY_LITERT=(ai-edge-litert tflite-runtime)
# Dense CRF oracle (tests/python/test_crf.py): built from its sdist (Cython,
# g++), so the compiler comes from APT.
APT_PACKAGES+=(g++)
PY_PACKAGES+=(pydensecrf2)

# --- 1. Debian packages ------------------------------------------------------
if [[ $SKIP != *,apt,* ]]; then
  step "Debian packages"
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    info "all ${#APT_PACKAGES[@]} packages already installed"
  else
    info "to install: ${missing[*]}"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null || die "not root and no sudo: install as root: ${missing[*]}"
      SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}" </dev/null || die "apt-get install failed"
  fi
  for pc in gstreamer-1.0 gstreamer-video-1.0 gstreamer-app-1.0 gstreamer-check-1.0 OpenCL orc-0.4; do
    pkg-config --exists "$pc" || die "pkg-config cannot find $pc after installing packages"
  done
  info "pkg-config: gstreamer $(pkg-config --modversion gstreamer-1.0), gstreamer-check $(pkg-config --modversion gstreamer-check-1.0), orc $(pkg-config --modversion orc-0.4)"
  if command -v clinfo >/dev/null && clinfo -l 2>/dev/null | grep -q 'Device'; then
    clinfo -l 2>/dev/null | sed 's/^/    OpenCL: /'
  else
    info "warning: clinfo lists no OpenCL device: OpenCL tests will fail"
  fi
fi

# --- 2. Python venv for the fidelity tests -------------------------------------
VENV="$ROOT/.venv"
VPY="$VENV/bin/python3"
venv_ok() {
  "$VPY" - <<'EOF' >/dev/null 2>&1
import numpy, PIL, onnxruntime, onnx
import pydensecrf.densecrf
try:
    import ai_edge_litert.interpreter
except ImportError:
    import tflite_runtime.interpreter
EOF
}
if [[ $SKIP != *,venv,* ]]; then
  step "Python venv ($VENV)"
  if [[ -x $VPY ]] && venv_ok; then
    info "present, imports work"
  else
    # pyenv's python3 if on PATH, else Debian's.
    PY=$(command -v python3 || true)
    [[ -n $PY ]] || PY=/usr/bin/python3
    if [[ ! -x $VPY ]] || ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
      info "creating with $PY ($("$PY" --version 2>&1))"
      rm -rf "$VENV"
      "$PY" -m venv "$VENV" || die "python3 -m venv failed (install python3-venv?)"
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    info "pip install ${PY_PACKAGES[*]} ${PY_LITERT[0]}"
    if ! "$VPY" -m pip install -q "${PY_PACKAGES[@]}" "${PY_LITERT[0]}"; then
      info "retrying with ${PY_LITERT[1]} for LiteRT"
      "$VPY" -m pip install -q "${PY_PACKAGES[@]}" "${PY_LITERT[1]}" ||
        die "pip install ${PY_PACKAGES[*]} (${PY_LITERT[*]}) failed"
    fi
    venv_ok || die "the venv still cannot import numpy, PIL, onnxruntime, onnx and LiteRT"
  fi
  "$VPY" - <<'EOF' | sed 's/^/    /'
import sys, numpy, PIL, onnxruntime
try:
    import ai_edge_litert as lr; name = "ai-edge-litert"
except ImportError:
    import tflite_runtime as lr; name = "tflite-runtime"
print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, Pillow {PIL.__version__}, "
      f"{name} {getattr(lr, '__version__', '?')}, onnxruntime {onnxruntime.__version__}")
EOF
fi

# --- 3. Configure and build ----------------------------------------------------
if [[ $SKIP != *,build,* ]]; then
  step "Build ($BUILD_DIR)"
  shared_args=()
  [[ -n ${DLS_SHARED_DIR:-} ]] && shared_args=("-Dshared-dir=$(cd "$DLS_SHARED_DIR" && pwd)")
  if [[ -f $BUILD_DIR/build.ninja ]]; then
    info "already configured (ninja re-runs meson when a meson.build changed)"
    if ((${#shared_args[@]})); then
      meson configure "$BUILD_DIR" "${shared_args[@]}" || die "meson configure failed"
    fi
  else
    [[ -e $BUILD_DIR ]] && { info "removing unconfigured $BUILD_DIR"; rm -rf "$BUILD_DIR"; }
    # shellcheck disable=SC2086
    meson setup "$BUILD_DIR" "${shared_args[@]}" ${MESON_ARGS:-} || die "meson setup failed"
  fi
  ninja -C "$BUILD_DIR" || die "build failed"
  info "built: $BUILD_DIR/gst (GST_PLUGIN_PATH for the plugin)"
fi

step "setup done"

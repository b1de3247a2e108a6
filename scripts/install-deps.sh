#!/usr/bin/env bash
# Installs exactly the Debian packages serflow needs; does nothing when they are present.
# Usage: scripts/install-deps.sh [--print]   (--print lists the packages and exits)
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libjansson-dev      # JSON parsing with line/column errors (profiles, pricing)
  libcmocka-dev       # unit tests
  liblz4-dev          # hidden-state codec (LZ4 frame)
  gnuplot-nox         # --plot PNGs (pngcairo terminal)
  libdnnl-dev         # nn: oneDNN C API, the fast inference backend
  libprotobuf-c-dev   # nn: protobuf-c runtime for parsing ONNX stage files
  protobuf-c-compiler # nn: protoc-c generates the ONNX parser at build time
  zlib1g-dev          # nn: reads the gzip-compressed IDX test set when profiling
  libonnx-dev         # nn: ships onnx.proto (the input to protoc-c)
  python3-torch       # nn: tools/train_fmnist.py trains the bundled model (tool only)
  python3-onnx        # nn: ONNX export in tools/train_fmnist.py, tools/make_nn_testdata.py
  python3-numpy       # nn: training and test-data tools
  dataset-fashion-mnist # nn: training/test images for the bundled model and profiling
)
if [ "${1:-}" = "--print" ]; then printf '%s\n' "${pkgs[@]}"; exit 0; fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

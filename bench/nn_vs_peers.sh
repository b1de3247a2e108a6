#!/usr/bin/env bash
# nn_vs_peers.sh - serflow's oneDNN runtime against the fastest CPU runtimes on the bundled
# model, whole model (6 stages and their classifiers), no early exits, batch 1 and 100, 1 and 2
# threads, all on the same ONNX stage files: PyTorch eager, PyTorch frozen TorchScript
# (trace + freeze + optimize_for_inference), onnxruntime (npm onnxruntime-node, installed here
# into $build/nn-peers when node is present; allow_spinning 0) and OpenCV DNN (Debian
# python3-opencv). Every runtime is one long-lived worker; bench/nn_peers.py interleaves blocks
# of runs of all of them (order rotated each round), checks their logits against the golden
# file and serflow's, and prints median, p99, ratios and GFLOP/s against the host's FMA peak
# measured here by an FMA loop. Last line: "vs fastest peer: batch 1 X.XXx, batch 100 Y.YYx"
# (serflow's speed-up over the fastest peer, the lower of the 1- and 2-thread figures).
#
# Usage: bench/nn_vs_peers.sh [build-dir] [rounds]   (run `make build` first)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
rounds=${2:-6}
bench=$build/bench_nn
[ -x "$bench" ] || { echo "nn_vs_peers: $bench missing; run make build" >&2; exit 1; }
"$here/scripts/install-deps.sh" --tools   # PyTorch, OpenCV, numpy, onnx
py=/usr/bin/python3                       # Debian's python3-* packages load only here
ORT_VERSION=1.30.0
workers=("serflow=$bench --serve --model $here/models/fmnist-ee"
         "torch-eager=$py $here/bench/nn_peers.py --worker torch-eager"
         "torch-script=$py $here/bench/nn_peers.py --worker torch-script")
if command -v node >/dev/null && command -v npm >/dev/null; then
  ort=$build/nn-peers
  if [ ! -d "$ort/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ort"
    # --ignore-scripts: the package's postinstall would fetch GPU binaries; the CPU ones ship
    # inside the npm tarball.
    npm install --prefix "$ort" --ignore-scripts --no-audit --no-fund \
      "onnxruntime-node@$ORT_VERSION" >&2
  fi
  workers+=("onnxruntime=node $here/bench/nn_ort.js $ort/node_modules")
else
  echo "nn_vs_peers: node/npm not found: onnxruntime left out" >&2
fi
workers+=("opencv=$py $here/bench/nn_peers.py --worker opencv")
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r _ _ peak1 _ peak2 < <("$bench" --fma-peak | sed 's/threads=/ /g')
flops=$("$bench" --flops --model "$here/models/fmnist-ee" | sed 's/.*=//')
"$py" "$here/bench/nn_peers.py" --orchestrate --rounds "$rounds" --peak1 "$peak1" \
  --peak2 "$peak2" --flops "$flops" "${workers[@]}"

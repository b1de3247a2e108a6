#!/usr/bin/env bash
# nn_vs_peers.sh - serflow's oneDNN runtime against the fastest CPU runtimes on the bundled
# model, whole model (6 stages and their classifiers), no early exits, batch 1 and 100, 1 and 2
# threads, all on the same ONNX stage files: PyTorch eager, PyTorch frozen TorchScript
# (trace + freeze + optimize_for_inference), onnxruntime (npm onnxruntime-node, installed here
# into $build/nn-peers when node is present; allow_spinning 0) and OpenCV DNN (Debian
# python3-opencv). Every runtime is one long-lived worker; bench/nn_peers.py interleaves blocks
# of runs of all of them (order rotated each round), checks their logits against the golden
# file and serflow's, and prints median, p99, ratios, GFLOP/s at the direct-convolution count
# and "% peak": the FLOPs a runtime executes (serflow's own count from sf_nn_exec_flops of the
# implementations its runs chose, where Winograd does fewer; the peers' direct count) over the
# host's FMA peak measured here by an FMA loop (bench_nn --fma-peak), and the batch-1 bound
# (serflow's executed FLOPs at the peak).
# With runs > 1 the rounds are repeated and the ratios are the median of the runs. Last line:
# "vs fastest peer: batch 1 X.XXx, batch 100 Y.YYx (1 thread: ..., ...; 2 threads: ..., ...)"
# (serflow's speed-up over the fastest peer, the lower of the 1- and 2-thread figures, then
# each).
#
# Usage: bench/nn_vs_peers.sh [build-dir] [rounds] [runs]   (run `make build` first)
# The figures in docs/benchmarks.md: bench/nn_vs_peers.sh build 6 3
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
rounds=${2:-6}
runs=${3:-1}
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
# "flops_per_image=F ..." -> the direct count; what serflow executes, the serflow worker tells
# after its runs ("flops T B": the implementations they chose by timing).
flops=$("$bench" --flops --model "$here/models/fmnist-ee" | sed 's/^flops_per_image=\([0-9]*\).*/\1/')
"$py" "$here/bench/nn_peers.py" --orchestrate --rounds "$rounds" --runs "$runs" \
  --peak1 "$peak1" --peak2 "$peak2" --flops "$flops" "${workers[@]}"

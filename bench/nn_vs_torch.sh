#!/usr/bin/env bash
# nn_vs_torch.sh - serflow (oneDNN and reference backends) vs PyTorch eager on the bundled
# model, whole model without early exits: batch-1 latency and batch-100 throughput, with 1 and
# 2 threads. Usage: bench/nn_vs_torch.sh [build-dir]   (run `make build` first)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
bench=$build/bench_nn
[ -x "$bench" ] || { echo "nn_vs_torch: $bench missing; run make build" >&2; exit 1; }
for threads in 1 2; do
  for batch in 1 100; do
    reps=$([ "$batch" -eq 1 ] && echo 300 || echo 30)
    OMP_NUM_THREADS=$threads "$bench" --backend dnnl --e2e "$batch" --reps "$reps"
    /usr/bin/python3 "$here/bench/nn_torch.py" --threads "$threads" --batch "$batch" --reps "$reps"
  done
done
# The reference backend is single-threaded plain C: one line for scale.
"$bench" --backend ref --e2e 1 --reps 20

#!/usr/bin/env bash
# nn_vs_torch.sh - serflow (oneDNN and reference backends) vs PyTorch eager on the bundled
# model, whole model without early exits: batch-1 latency and batch-100 throughput, with 1 and
# 2 threads. Usage: bench/nn_vs_torch.sh [build-dir]   (run `make build` first)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
bench=$build/bench_nn
[ -x "$bench" ] || { echo "nn_vs_torch: $bench missing; run make build" >&2; exit 1; }
"$here/scripts/install-deps.sh" --tools   # PyTorch for the reference runs
out=$(mktemp); trap 'rm -f "$out"' EXIT
for threads in 1 2; do
  for batch in 1 100; do
    reps=$([ "$batch" -eq 1 ] && echo 300 || echo 30)
    OMP_NUM_THREADS=$threads "$bench" --backend dnnl --e2e "$batch" --reps "$reps"
    /usr/bin/python3 "$here/bench/nn_torch.py" --threads "$threads" --batch "$batch" --reps "$reps"
  done
done | tee "$out"
# The reference backend is single-threaded plain C: one line for scale.
"$bench" --backend ref --e2e 1 --reps 20
# Summary: ratios against PyTorch eager (the named reference, same weights, same threads), and
# achieved GFLOP/s against the CPU's peak (cores x clock x 32 FLOP/cycle: two 8-wide FMA units
# on an AVX2 core; the clock is /proc/cpuinfo's "cpu MHz").
flops=$(/usr/bin/python3 "$here/bench/nn_torch.py" --flops | sed 's/.*=//')
mhz=$(awk -F: '/cpu MHz/ {print $2; exit}' /proc/cpuinfo)
/usr/bin/python3 - "$out" "$flops" "$mhz" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = dict(kv.split("=") for kv in line.split()[1:])
    rows[(m["backend"], int(m["threads"]), int(m["batch"]))] = float(m["median_s"]), float(m["req_per_s"])
flops, ghz = float(sys.argv[2]), float(sys.argv[3]) / 1000
print(f"summary: model {flops / 1e6:.1f} MFLOP per image; peak {ghz:.2f} GHz x 32 FLOP/cycle per core")
for t in (1, 2):
    l_s, _ = rows[("dnnl", t, 1)]
    l_t, _ = rows[("torch-eager", t, 1)]
    _, r_s = rows[("dnnl", t, 100)]
    _, r_t = rows[("torch-eager", t, 100)]
    gf = r_s * flops / 1e9
    peak = t * ghz * 32
    print(f"summary: threads {t}: batch-1 latency {l_s * 1e3:.2f} ms vs torch {l_t * 1e3:.2f} ms "
          f"= {l_t / l_s:.1f}x; batch-100 {r_s:.0f} vs {r_t:.0f} img/s = {r_s / r_t:.2f}x; "
          f"{gf:.1f} GFLOP/s = {100 * gf / peak:.0f}% of {peak:.0f} GFLOP/s peak")
PY

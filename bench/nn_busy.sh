#!/usr/bin/env bash
# nn_busy.sh - p99 against the median of batch-100 latency (whole model, no exits, 2 threads)
# with and without a competing busy process (bench_nn --spin: one core-bound loop) on the host.
# The runtime's pool sleeps between jobs and hands out sub-batches one at a time, so a
# descheduled worker delays a batch by one sub-batch, not by its whole share.
# Usage: bench/nn_busy.sh [build-dir] [reps]   (run `make build` first)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
reps=${2:-400}
bench=$build/bench_nn
[ -x "$bench" ] || { echo "nn_busy: $bench missing; run make build" >&2; exit 1; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
quiet=$("$bench" --threads 2 --e2e 100 --reps "$reps")
echo "alone:      $quiet"
"$bench" --spin 3600 &
spin=$!
trap 'kill "$spin" 2>/dev/null || true' EXIT
sleep 1
busy=$("$bench" --threads 2 --e2e 100 --reps "$reps")
kill "$spin"
wait "$spin" 2>/dev/null || true
trap - EXIT
echo "competitor: $busy"
summary() { # label, e2e line
  awk -v l="$1" -v s="$2" 'BEGIN {
    match(s, /median_s=[0-9.]+/); m = substr(s, RSTART + 9, RLENGTH - 9)
    match(s, /p99_s=[0-9.]+/); p = substr(s, RSTART + 6, RLENGTH - 6)
    printf "%s median %.2f ms, p99 %.2f ms, p99/median %.2f\n", l, m * 1e3, p * 1e3, p / m }'
}
summary "alone:     " "$quiet"
summary "competitor:" "$busy"

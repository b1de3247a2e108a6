#!/usr/bin/env bash
# Plans against the traffic, then checks the choice by replay (issue 15, docs/benchmarks.md): for
# each batching, `serflow plan --traffic TRACE` picks a path; every feasible path it considered at
# that tau is replayed with serflow's rule on the same trace, and the chosen one's replay cost is
# compared with the cheapest replay. Long (every path replays the whole trace): run with nice.
# Usage: bench/plan_traffic.sh [BUILD] [TRACE] [TAU]
set -euo pipefail
build=${1:-build}
trace=${2:-data/traces/wits_libra_per_second.txt}
tau=${3:-0.7}
bin=$build/serflow
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for batching in deadline epoch; do
    "$bin" plan --tau "$tau" --batching $batching --traffic "$trace" --json >"$tmp/plan.json"
    /usr/bin/python3 - "$tmp/plan.json" >"$tmp/paths.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["pool"], d["vm_type"] or "-", d["cut"], "chosen", d["expected_usd_per_hour"])
seen = set()
for a in d["alternatives"]:
    if not a["feasible"] or abs(a["tau"] - d["tau"]) > 1e-9:
        continue
    key = (a["pool"], a["vm_type"] or "-", a["cut"])
    if key in seen:
        continue
    seen.add(key)
    print(*key, "alt", a["expected_usd_per_hour"])
PY
    echo "== $batching batching, tau $tau, $(wc -l <"$tmp/paths.txt") paths (plan --traffic $trace)"
    : >"$tmp/costs.txt"
    while read -r pool vm cut kind expected; do
        [ "$kind" = chosen ] && { chosen="$pool $vm $cut"; continue; }
        args=(--pool "$pool")
        [ "$pool" = faas ] || args+=(--vm "$vm")
        [ "$pool" = hybrid ] && args+=(--cut "$cut")
        cost=$("$bin" replay --trace "$trace" --epochs 0 --tau "$tau" --batching $batching \
            --policy serflow "${args[@]}" --json --quiet |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["policies"][0]["cost_usd"])')
        echo "$pool $vm $cut $expected $cost" >>"$tmp/costs.txt"
    done <"$tmp/paths.txt"
    /usr/bin/python3 - "$tmp/costs.txt" "$chosen" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
chosen = tuple(sys.argv[2].split())
rows.sort(key=lambda r: float(r[4]))
best = float(rows[0][4])
print("| path | expected $/h (plan) | replay cost USD | vs cheapest replay |")
print("|---|---|---|---|")
for r in rows:
    mark = " (chosen)" if tuple(r[:3]) == chosen else ""
    name = r[0] if r[0] == "faas" else f"{r[0]} {r[1]}" + (f" cut {r[2]}" if r[0] == "hybrid" else "")
    print(f"| {name}{mark} | {float(r[3]):.4f} | {float(r[4]):.4f} | {100 * (float(r[4]) / best - 1):+.2f} % |")
c = [r for r in rows if tuple(r[:3]) == chosen][0]
print(f"chosen: {c[0]} {c[1]} cut {c[2]}: replay {float(c[4]):.4f} against the cheapest {best:.4f}"
      f" ({100 * (float(c[4]) / best - 1):+.2f} %)")
PY
done

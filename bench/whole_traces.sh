#!/usr/bin/env bash
# The gate of issue 15 on the whole bundled traces (docs/benchmarks.md): serflow against FaaS-only,
# the best static fleet and LIBRA (and the clairvoyant schedule and the lower bound), WITS and
# Berkeley read per epoch (45,000 epochs) and per second (7,500), VM prices at 100, 60 and 30 %
# of the bundled AWS catalog, deadline batching, tau 0.7. Long: run with nice.
# Usage: bench/whole_traces.sh [BUILD]
set -euo pipefail
build=${1:-build}
bin=$build/serflow
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pct in 100 60 30; do
    /usr/bin/python3 - data/pricing/aws-us-east-1.json "$tmp/vm$pct.json" "$pct" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for v in d["vm"]["types"]:
    v["price"]["value"] *= int(sys.argv[3]) / 100
json.dump(d, open(sys.argv[2], "w"))
PY
done
echo "| trace | unit | VM price | serflow | FaaS | best static | LIBRA | clairvoyant | lower bound | serflow / min(FaaS, static, LIBRA) | vs bound | request SLO |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for trace in wits berkeley; do
    for unit in epoch second; do
        for pct in 100 60 30; do
            "$bin" replay --trace "data/traces/${trace}_libra_per_second.txt" --trace-unit $unit \
                --epochs 0 --tau 0.7 --pricing "$tmp/vm$pct.json" --quiet --json \
                --policy serflow,faas,libra,static,oracle >"$tmp/out.json"
            /usr/bin/python3 - "$tmp/out.json" "$trace" "$unit" "$pct" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = {p["name"]: p for p in d["policies"]}
s = c["serflow"]["cost_usd"]
ref = min(c["faas"]["cost_usd"], c["static"]["cost_usd"], c["libra"]["cost_usd"])
lb = d["lower_bound_usd"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} % | {s:.4f} | {c['faas']['cost_usd']:.4f} | "
      f"{c['static']['cost_usd']:.4f} | {c['libra']['cost_usd']:.4f} | {c['oracle']['cost_usd']:.4f} | "
      f"{lb:.4f} | {s / ref:.3f} | {100 * (s / lb - 1):+.1f} % | "
      f"{c['serflow']['slo_attainment_request']:.4f} |")
PY
        done
    done
done

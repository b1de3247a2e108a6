#!/usr/bin/env bash
# Regenerates the golden replays from a build (run from the source root): tests/data/sim/regen.sh
# build/serflow. Only for a change of simulator behaviour on purpose; say why in the commit.
set -euo pipefail
bin=${1:-build/serflow}
g=tests/data/sim
run() { # name, args...
    local name=$1; shift
    "$bin" replay --json --quiet "$@" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin); d["trace"] = "(bundled)"
json.dump(d, open(sys.argv[1], "w"), indent=1); open(sys.argv[1], "a").write("\n")' "$g/golden-$name.json"
}
run default --tau 0.7 --batching epoch
run vm30 --tau 0.7 --pricing "$g/aws-vm30.json" --batching epoch
run vm30-berkeley --tau 0.7 --pricing "$g/aws-vm30.json" \
    --trace data/traces/berkeley_libra_per_second.txt --epochs 2000 --batching epoch
run vm30-poisson-t5 --tau 0.5 --pricing "$g/aws-vm30.json" --arrivals poisson --epochs 3000 \
    --partial-batches function --batching epoch
run deadline --tau 0.7
run deadline-vm30 --tau 0.7 --pricing "$g/aws-vm30.json" --epochs 2000

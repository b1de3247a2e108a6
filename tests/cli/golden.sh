#!/usr/bin/env bash
# Golden replays: `serflow replay --json` on fixed settings must reproduce the JSON kept in
# tests/data/sim/ exactly (every figure, all policies), so that refactoring the simulator, the
# controller or the policies cannot change a result silently. A change of behaviour on purpose
# regenerates the file in the same commit (tests/data/sim/README.md says how).
# Usage: golden.sh BUILD/serflow SOURCE_DIR
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
g=$src/tests/data/sim

check() { # name, replay arguments...
    local name=$1; shift
    expect "golden $name" 0 "$bin" replay --json --quiet "$@"
    /usr/bin/python3 - "$tmp/out" "$g/golden-$name.json" <<'PY' && ok || bad "golden $name differs"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a["trace"] = b["trace"] = "(bundled)"
if a != b:
    for pa, pb in zip(a.get("policies", []), b.get("policies", [])):
        for k in sorted(set(pa) | set(pb)):
            if pa.get(k) != pb.get(k):
                print(f"{pa.get('name')}: {k}: got {pa.get(k)!r}, golden {pb.get(k)!r}")
    print({k: (a.get(k), b.get(k)) for k in a if k != "policies" and a.get(k) != b.get(k)})
    sys.exit(1)
PY
}

check default --tau 0.7 --batching epoch
check vm30 --tau 0.7 --pricing "$g/aws-vm30.json" --batching epoch
check vm30-berkeley --tau 0.7 --pricing "$g/aws-vm30.json" \
    --trace "$src/data/traces/berkeley_libra_per_second.txt" --epochs 2000 --batching epoch
check vm30-poisson-t5 --tau 0.5 --pricing "$g/aws-vm30.json" --arrivals poisson --epochs 3000 \
    --partial-batches function --batching epoch
# the default, deadline-aware batching (every request within its SLO)
check deadline --tau 0.7
check deadline-vm30 --tau 0.7 --pricing "$g/aws-vm30.json" --epochs 2000
finish golden

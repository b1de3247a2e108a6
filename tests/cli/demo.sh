#!/usr/bin/env bash
# CLI tests of `serflow demo` without its live part (--predict-only: the calibration call to a
# throwaway `serflow lambda`, the plan against the trace, the simulator on each policy's
# binding), and its refusals. The live demo is `make demo`. Usage: demo.sh BUILD/serflow SOURCE_DIR
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

expect "demo --predict-only --json" 0 "$bin" demo --predict-only --json --epochs 20 --calibrate-s 1
cp "$tmp/out" "$tmp/d.json"
/usr/bin/python3 - "$tmp/d.json" <<'PY' && ok || bad "demo json: keys, nulls without a server"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["live"] is False and abs(d["trace_s"] - 10.0) < 1e-9, d
assert 0.05 < d["host_speed_ratio"] < 20, d  # this machine's model time over the profile's
import os
r2 = d["host_speed_ratio_2t"]  # the same on two threads, where there are two cores
assert (r2 is None) if os.cpu_count() < 2 else (0.05 < r2 < 20), d
rf = d["function_speed_ratio"]  # a warm function's billed time over the calibrated model's
assert rf is None or 0.05 < rf < 20, d
names = [p["name"] for p in d["policies"]]
assert names == ["faas", "libra", "serflow"], names
for p in d["policies"]:
    assert p["ok"] is True
    assert p["sim_usd"] > 0 and p["sim_usd_per_hour"] > 0
    assert 0 <= p["sim_slo_request"] <= 1  # 20 epochs can all wait for a cold start
    for k in ["live_usd", "vm_answers", "function_answers", "slo_request"]:
        assert p[k] is None, k
    assert p["path"], p
assert d["policies"][0]["path"].startswith("functions only"), d["policies"][0]["path"]
# functions of at most cores / containers vCPUs (1,769 MB each): none bigger in any path
import re
for p in d["policies"]:
    for mb in re.findall(r"(\d+) MB", p["path"]):
        assert int(mb) <= 1769 * max(1, (os.cpu_count() or 1) // min(os.cpu_count() or 1, 8)), p
PY

expect "demo --predict-only table" 0 "$bin" demo --predict-only --epochs 20 --rate-scale 1.25 --calibrate-s 1
has out "^model     vgg16-sdn \(11 stages\)"
has out "^measured  the model takes [0-9.]*x the profile's times here"
has out "^measured  calls of [0-9]* test images at tau 0.95 billed [0-9.]*x the model's time"
has out "^trace     20 epochs of 0.5 s x 1.25:"
has out "^serflow  "
has out "predicted; --predict-only runs no server"

# a profile of another model is refused by name, before anything runs
expect "demo, a profile of another model" 2 "$bin" demo --predict-only \
    --profile "$src/data/profiles/fmnist-ee-local.json"
has err "a profile of 'fmnist-ee', but the model is 'vgg16-sdn'"
expect "demo --tau out of range" 2 "$bin" demo --tau 2
expect "demo --calibrate-s too short" 2 "$bin" demo --calibrate-s 0.1
finish demo.sh

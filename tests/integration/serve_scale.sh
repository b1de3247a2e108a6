#!/usr/bin/env bash
# Integration test of scaling on loopback: LIBRA's rule buys VM workers while a step of traffic
# lasts and sheds them after it (sf_fleet_pick_surplus, the simulator's rule, applied by the
# server), every request answered, no worker left running. The trace: 20 epochs of 150 requests
# (1,500 req/s at the local profile's 0.1 s epoch), then 30 empty ones. The planned IaaS path's
# capacity is far above 1,500 req/s, so --tcip 100 makes the step worth one instance (and the
# decayed mean after it worth none). Usage: serve_scale.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

for i in $(seq 1 20); do echo 150; done >"$tmp/steps.txt"
for i in $(seq 1 30); do echo 0; done >>"$tmp/steps.txt"
start_serve scale --policy libra --pool iaas --tau 0.5 --tcip 100 --cold-start 1:1 --scale-period 2 \
    --terminate-delay 1 || { finish serve_scale; exit 1; }
"$bin" load --url "$url" --trace "$tmp/steps.txt" --epochs 0 --quiet --json >"$tmp/load.json" \
    2>"$tmp/load.err" &
lp=$!
pids+=("$lp")
wait_metric serflow_instance_launches_total '' 1 && ok || bad "scale: no instance launched under load"
wait "$lp" && ok || bad "scale: load lost requests: $(tail -3 "$tmp/load.err")"
/usr/bin/python3 - "$tmp/load.json" 2>"$tmp/py.txt" <<'PY' && ok || bad "scale: load report: $(tail -1 "$tmp/py.txt")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] == d["requests"] == 3000, d
assert d["server_accepted"] == d["server_answered"] == d["requests"], d
PY
# after the step: the target falls to 0 and every instance goes (bounded: 30 s)
gone=0
for _ in $(seq 1 300); do
    t=$(metric serflow_instances_target)
    r=$(metric serflow_instances 'state="ready"')
    p=$(metric serflow_instances 'state="pending"')
    if [ "$t" = 0 ] && [ "$r" = 0 ] && [ "$p" = 0 ]; then gone=1; break; fi
    sleep 0.1
done
[ "$gone" = 1 ] && ok || bad "scale: instances not shed after the step (target $t, ready $r, pending $p)"
workers=$(for p in $(descendants "$spid"); do ps -o args= -p "$p"; done | grep -c ' worker ')
[ "$workers" = 0 ] && ok || bad "scale: $workers worker processes still running after shedding"
accepted_is_answered scale
stop_serve scale
finish serve_scale

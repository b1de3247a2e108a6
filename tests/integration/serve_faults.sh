#!/usr/bin/env bash
# Integration test of faults on loopback: kill -9 of a VM worker in the middle of the load (its
# requests go to functions, none lost), a function that crashes and one that hangs (one retry,
# then a 502 JSON error), each server drained by SIGTERM with accepted = answered and no child
# left. Usage: serve_faults.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests

# 1. a worker killed mid-load: it holds every batch 0.3 s longer, so the kill lands mid-batch
start_serve kill --pool iaas --instances 1 --cold-start 0:0 --tau 0.5 --worker-fault-delay-s 0.3 || { finish serve_faults; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "kill: no ready instance"
"$bin" load --url "$url" --epochs 100 --rate-scale 0.25 --quiet --json >"$tmp/load1.json" 2>"$tmp/load1.err" &
lp=$!
pids+=("$lp")
# kill the worker while it holds a batch (busy on /metrics); the fixed fleet relaunches it, so a
# miss (the batch ended between the poll and the kill) is tried again, six times at most
killed=0
last=""
for attempt in 1 2 3 4 5 6; do
    wait_metric serflow_instances 'state="busy"' 1 || break
    wpid=$(for p in $(descendants "$spid"); do ps -o pid=,args= -p "$p"; done | awk '/ worker /{print $1; exit}')
    if [ -n "$wpid" ] && [ "$wpid" != "$last" ]; then
        kill -KILL "$wpid" && killed=$((killed + 1))
        last=$wpid
    fi
    sleep 0.5
    [ "$(metric serflow_batches_redispatched_total)" -ge 1 ] 2>/dev/null && break
done
[ "$killed" -ge 1 ] && ok || bad "kill: no busy worker process to kill"
wait "$lp" && ok || bad "kill: load lost requests: $(tail -3 "$tmp/load1.err")"
/usr/bin/python3 - "$tmp/load1.json" 2>"$tmp/py1.txt" <<'PY' && ok || bad "kill: load report: $(tail -1 "$tmp/py1.txt")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] == d["requests"] > 0, d
assert d["conn_errors"] == 0 and d["status_5xx"] == 0, d
assert d["server_accepted"] == d["server_answered"] == d["requests"], d
PY
f=$(metric serflow_instance_failures_total)
[ "${f:-0}" -ge 1 ] && ok || bad "kill: instance failure not seen ($f)"
r=$(metric serflow_batches_redispatched_total)
[ "${r:-0}" -ge 1 ] && ok || bad "kill: no batch re-dispatched to functions ($r)"
wait_metric serflow_instance_launches_total '' 2 && ok || bad "kill: the fixed fleet was not refilled"
accepted_is_answered kill
stop_serve kill

# 2. a function that crashes on every event: one retry, then 502 with a JSON error
start_serve crash --policy faas --tau 0.5 --fn-fault crash || { finish serve_faults; exit 1; }
c=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer")
[ "$c" = 502 ] && ok || bad "crash: status $c"
has out '"error":"inference failed: the function path failed twice'
[ "$(metric serflow_function_retries_total)" = 1 ] && ok || bad "crash: retries $(metric serflow_function_retries_total)"
[ "$(metric serflow_requests_answered_total 'outcome="failed"')" = 1 ] && ok || bad "crash: failed count"
accepted_is_answered crash
stop_serve crash

# 3. a function that hangs: killed at the timeout, retried once, then 502
start_serve hang --policy faas --tau 0.5 --fn-fault hang --fn-timeout-s 0.5 || { finish serve_faults; exit 1; }
c=$(curl -s --max-time 20 -o "$tmp/out" -w '%{http_code}' -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer")
[ "$c" = 502 ] && ok || bad "hang: status $c"
has out '"error":"inference failed'
accepted_is_answered hang
stop_serve hang
finish serve_faults

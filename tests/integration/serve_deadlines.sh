#!/usr/bin/env bash
# Integration test of deadlines and drains (issue 16, class 3; defects 3, 5): a request whose
# answer never comes gets a 504 JSON answer at its deadline and frees its slot (the server then
# serves again, readiness and queue depth tell the truth); SIGTERM with requests hung in a
# function completes, each hung client answered 504; SIGTERM under load keeps serving during the
# grace period with readiness 503, then refuses new connections, and no connection is closed
# without an answer. Usage: serve_deadlines.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests

# 1. answers that never come: 504 at the deadline, every slot freed, SIGTERM completes
start_serve hang --policy faas --tau 0.5 --fn-fault hang --fn-timeout-s 60 --deadline-s 1 \
    --queue-cap 8 --max-images 4 || { finish serve_deadlines; exit 1; }
cp=()
for i in 1 2 3 4 5 6; do
    curl -s -o "$tmp/b$i" -w '%{http_code}\n' --max-time 20 -X POST --data-binary @"$tmp/one.json" \
        "$url/v2/models/fmnist-ee/infer" >"$tmp/c$i" &
    cp+=($!)
done
wait "${cp[@]}"
[ "$(cat "$tmp"/c? | grep -c '^504$')" = 6 ] && ok || bad "hung: $(cat "$tmp"/c? | tr '\n' ' ')"
grep -h '"error":"deadline: not answered within 1 s of admission"' "$tmp"/b? | wc -l | grep -q '^6$' && ok ||
    bad "504 body: $(head -c 200 "$tmp/b1")"
[ "$(metric serflow_requests_answered_total 'outcome="deadline"')" = 6 ] && ok || bad "deadline count"
[ "$(metric serflow_requests_unanswered)" = 0 ] && ok || bad "slots not freed: $(metric serflow_requests_unanswered)"
[ "$(metric serflow_queue_depth)" = 0 ] && ok || bad "queue depth $(metric serflow_queue_depth)"
# the table never wedges: as many again, each admitted and answered 504, none refused 503
cp=()
for i in 1 2 3 4 5 6; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 -X POST --data-binary @"$tmp/one.json" \
        "$url/v2/models/fmnist-ee/infer" >"$tmp/r2.$i" &
    cp+=($!)
done
wait "${cp[@]}"
[ "$(cat "$tmp"/r2.* | grep -c '^504$')" = 6 ] && ok || bad "second round: $(cat "$tmp"/r2.* | tr '\n' ' ')"
[ "$(metric serflow_requests_unanswered)" = 0 ] && ok || bad "slots not freed after the second round"
accepted_is_answered hang
# SIGTERM while requests hang: they get 504, serve exits 0 (stop_serve checks accepted = answered)
curl -s -o "$tmp/late" -w '%{http_code}' --max-time 20 -X POST --data-binary @"$tmp/one.json" \
    "$url/v2/models/fmnist-ee/infer" >"$tmp/late.code" &
lc=$!
wait_metric serflow_requests_unanswered '' 1 && ok || bad "no request in flight before SIGTERM"
stop_serve hang
wait "$lc"
[ "$(cat "$tmp/late.code")" = 504 ] && ok || bad "hung request at SIGTERM: $(cat "$tmp/late.code")"

# 2. the grace period: readiness 503 at once, requests still served
start_serve grace --policy faas --tau 0.5 --drain-grace-s 2 || { finish serve_deadlines; exit 1; }
expect "warm" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
remember_children "$spid"
kill -TERM "$spid"
for _ in $(seq 1 50); do
    c=$(curl -s -o "$tmp/ready" -w '%{http_code}' --max-time 5 "$url/v2/health/ready")
    [ "$c" = 503 ] && break
    sleep 0.05
done
[ "$c" = 503 ] && ok || bad "grace: readiness $c"
has ready '"reason":"draining'
expect "served during the grace period" 0 curl -sf --max-time 5 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
wait "$spid" && ok || bad "grace: serve exit status"
no_children grace

# 3. SIGTERM under load: nothing closed without an answer
start_serve drain --policy faas --tau 0.5 --drain-grace-s 0.5 || { finish serve_deadlines; exit 1; }
"$bin" load --url "$url" --epochs 30 --rate-scale 0.3 --quiet --json >"$tmp/load.json" 2>/dev/null &
lp=$!
pids+=("$lp")
wait_metric serflow_requests_accepted_total '' 50 && ok || bad "drain: load did not start"
stop_serve drain
wait "$lp"
/usr/bin/python3 - "$tmp/load.json" <<'PY' && ok || bad "drain: $(head -c 400 "$tmp/load.json")"
import json, sys
d = json.load(open(sys.argv[1]))
# answered 200, or refused (503 while draining, or no connection once stopped); never a
# connection closed or reset without an answer
assert d["ok"] > 0 and d["conn_errors"] == 0 and d["status_5xx"] == 0 and d["status_4xx"] == 0, d
assert d["ok"] + d["status_503"] + d["refused"] == d["requests"], d
PY
finish serve_deadlines

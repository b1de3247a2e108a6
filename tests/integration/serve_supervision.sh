#!/usr/bin/env bash
# Integration test of supervision (issue 16, class 5; defects 4, 10, 11, 12, 13): a killed
# function runtime is restarted (readiness 503 meanwhile, the bill never goes back, inference
# works after); workers that cannot start are relaunched with back-off, billed as EC2 bills a
# launch that ran, and readiness says why; function instances that cannot start fail invocations
# fast (Runtime.InitError) instead of queueing them; an invocation whose caller left is never run
# nor billed; an instance that polls again without answering ends that invocation; `kill -9` of
# the process that started `serve` leaves no process behind. Usage: serve_supervision.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
want=$(cut -d' ' -f1 "$tmp/labels.txt")

# 1. kill -9 of the function runtime: restarted, bill monotonic, readiness meanwhile
start_serve rt --policy faas --tau 0.5 || { finish serve_supervision; exit 1; }
for i in 1 2 3; do
    expect "before the kill $i" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
done
inv0=$(metric serflow_bill_function_invocations_total)
usd0=$(metric serflow_bill_usd_total)
lpid=$(child_of "$spid" lambda)
remember_children "$spid"
kill -KILL "$lpid"
down=0
for _ in $(seq 1 100); do
    c=$(curl -s -o "$tmp/ready" -w '%{http_code}' --max-time 5 "$url/v2/health/ready")
    [ "$c" = 503 ] && { down=1; break; }
    sleep 0.02
done
[ "$down" = 1 ] && ok || bad "readiness stayed $c with the runtime dead"
grep -q 'function runtime is down' "$tmp/ready" && ok || bad "readiness reason: $(cat "$tmp/ready")"
up=0
for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/v2/health/ready")" = 200 ] && { up=1; break; }
    sleep 0.1
done
[ "$up" = 1 ] && ok || bad "the function runtime was not restarted"
[ "$(metric serflow_function_runtime_restarts_total)" -ge 1 ] && ok || bad "restart not counted"
expect "after the restart" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
has out "\"label\",\"datatype\":\"INT64\",\"shape\":\[1\],\"data\":\[$want\]"
inv1=$(metric serflow_bill_function_invocations_total)
usd1=$(metric serflow_bill_usd_total)
awk -v a="$inv0" -v b="$inv1" -v c="$usd0" -v d="$usd1" 'BEGIN { exit !(b > a && d >= c) }' && ok ||
    bad "the bill went back: invocations $inv0 -> $inv1, usd $usd0 -> $usd1"
promtool check metrics < <(curl -s "$url/metrics") >"$tmp/pt.txt" 2>&1 && ok || bad "promtool: $(head -3 "$tmp/pt.txt")"
accepted_is_answered rt
stop_serve rt

# 2. workers that cannot start: launched with back-off, an error on readiness, not a storm
start_serve nostart --pool iaas --instances 1 --cold-start 0:0 --no-spill --tau 0.5 \
    --worker-fault-no-start --deadline-s 1 || { finish serve_supervision; exit 1; }
wait_metric serflow_instance_launches_failing '' 3 && ok || bad "nostart: failures not seen"
c=$(curl -s -o "$tmp/ready" -w '%{http_code}' "$url/v2/health/ready")
[ "$c" = 503 ] && grep -q 'VM workers fail to start' "$tmp/ready" && ok || bad "nostart readiness: $c $(cat "$tmp/ready")"
c=$(curl -s -o "$tmp/out" -w '%{http_code}' --max-time 10 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer")
[ "$c" = 504 ] && ok || bad "nostart: request got $c"
# launches at 0, 0.5, 1.5, 3.5 s (0.5 s doubling): a few, never one per 5 ms poll (750 in 60 s)
n=$(metric serflow_instance_launches_total)
[ "$n" -ge 3 ] && [ "$n" -le 5 ] && ok || bad "nostart: $n launches"
# each launch ran (a process started), so each pays EC2's 60 s minimum
vm_s=$(curl -s "$url/metrics" | awk '/^serflow_bill_vm_seconds_total\{/ { s += $2 } END { print s }')
awk -v v="$vm_s" -v n="$n" 'BEGIN { exit !(v >= 60 * (n - 1) && v <= 60 * n) }' && ok ||
    bad "nostart: $vm_s VM-s billed for $n launches"
accepted_is_answered nostart
stop_serve nostart

# 3. function instances that cannot start: invocations fail fast, readiness says why
start_serve fnstart --policy faas --tau 0.5 --fn-fault start || { finish serve_supervision; exit 1; }
for i in 1 2 3; do
    c=$(curl -s -o "$tmp/out" -w '%{http_code}' --max-time 20 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer")
    [ "$c" = 502 ] && ok || bad "fnstart request $i: $c $(head -c 200 "$tmp/out")"
done
notready=0
for _ in $(seq 1 100); do
    c=$(curl -s -o "$tmp/ready" -w '%{http_code}' "$url/v2/health/ready")
    [ "$c" = 503 ] && { notready=1; break; }
    sleep 0.1
done
[ "$notready" = 1 ] && grep -q 'function instances fail to start' "$tmp/ready" && ok ||
    bad "fnstart readiness: $c $(cat "$tmp/ready")"
accepted_is_answered fnstart
stop_serve fnstart

# 4. the runtime alone: a caller that leaves, an instance that polls again without answering
start_lambda slowcold --model "$model" --function fmnist-ee --cold-start-delay-s 1.5 || { finish serve_supervision; exit 1; }
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 -X POST --data-binary @"$tmp/one.json" \
    "$lurl/2015-03-31/functions/fmnist-ee/invocations")
[ "$c" = 000 ] && ok || bad "the caller did not give up: $c"
# in its 1.5 s init the instance counts as starting (a caller can wait for it before timing
# calls), and no longer once it polls
curl -s "$lurl/metrics" | grep -q '^serflow_function_instances_starting 1$' && ok ||
    bad "an instance in its init is not starting: $(curl -s "$lurl/metrics" | grep starting)"
# past the cold start (the instance polled: its init time is counted), the left invocation has
# not run
for _ in $(seq 1 100); do
    curl -s "$lurl/metrics" >"$tmp/lm"
    grep -q '^serflow_function_init_seconds_total [1-9]' "$tmp/lm" && break
    sleep 0.1
done
sleep 0.2
grep -q '^serflow_function_instances_starting 0$' "$tmp/lm" && ok || bad "still starting: $(grep starting "$tmp/lm")"
grep -q '^serflow_function_dropped_total 1$' "$tmp/lm" && ok || bad "left caller: $(grep dropped "$tmp/lm")"
grep -q '^serflow_function_billed_invocations_total 0$' "$tmp/lm" && ok || bad "left caller billed: $(grep billed_inv "$tmp/lm")"
stop_pid slowcold "$lpid"
start_lambda repoll --model "$model" --function fmnist-ee --fault repoll || { finish serve_supervision; exit 1; }
/usr/bin/python3 - "$lurl" "$tmp/one.json" >"$tmp/repoll.txt" 2>&1 <<'PY' && ok || bad "repoll: $(tail -3 "$tmp/repoll.txt")"
import json, sys, time
import sfwire
rt, req = sys.argv[1:]
body = open(req, "rb").read()
for _ in range(3):
    st, h, b = sfwire.request(rt + "/2015-03-31/functions/fmnist-ee/invocations", body=body, timeout=20)
    assert st == 200 and h.get("X-Amz-Function-Error") == "Unhandled", (st, b)
    assert json.loads(b)["errorType"] == "Runtime.NoResponse", b
def metric(name):
    m = sfwire.request(rt + "/metrics")[2].decode().splitlines()
    return float([l for l in m if l.startswith(name + " ")][0].split()[1])
t = metric("serflow_function_timeouts_total")
time.sleep(1)  # the overwritten invocation used to time out ~130 times a second forever
assert metric("serflow_function_timeouts_total") == t == 0, t
assert metric("serflow_function_no_response_total") == 3
print("repoll ok")
PY
stop_pid repoll "$lpid"

# 5. kill -9 of the process that started serve: serve drains and everything under it stops
bash -c '"$0" serve --port 0 --ready-fd 3 --policy faas --tau 0.5 --drain-grace-s 0 3>"$1" 2>"$2" & wait' \
    "$bin" "$tmp/orphan.ready" "$tmp/orphan.log" &
parent=$!
pids+=("$parent")
for _ in $(seq 1 300); do [ -s "$tmp/orphan.ready" ] && break; sleep 0.1; done
ep=$(sed -n 's/^ready //p' "$tmp/orphan.ready")
expect "orphan warm-up" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "http://$ep/v2/models/fmnist-ee/infer"
remember_children "$parent"
[ "${#children[@]}" -ge 3 ] && ok || bad "orphan: expected serve, lambda and a function under the parent"
kill -KILL "$parent"
no_children orphan
grep -q 'drained and stopped' "$tmp/orphan.log" && ok || bad "orphan: serve did not drain: $(tail -2 "$tmp/orphan.log")"
finish serve_supervision

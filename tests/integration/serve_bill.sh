#!/usr/bin/env bash
# Integration test of the bill as data (docs/serving.md "Billing"): the ingress meters functions
# from what the answers report (each invocation's billed duration from the function runtime, a
# VM worker's tail with its batch's answer), never by scraping a peer. With a runtime started
# apart (`serflow lambda`, its own meter on its /metrics), the ingress's function bill must equal
# the runtime's: the same invocations, the same GB-s, for the FaaS path and for a hybrid whose
# tail the worker invokes. Usage: serve_bill.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests

# compare NAME: the ingress's function bill against the runtime's own meter
compare() {
    local name=$1 li lg ii ig
    li=$(curl -s --max-time 5 "$lurl/metrics" | awk '$1 == "serflow_function_billed_invocations_total" { print $2 }')
    lg=$(curl -s --max-time 5 "$lurl/metrics" | awk '$1 == "serflow_function_gigabyte_seconds_total" { print $2 }')
    ii=$(metric serflow_bill_function_invocations_total)
    ig=$(metric serflow_bill_function_gigabyte_seconds_total)
    /usr/bin/python3 - "$li" "$lg" "$ii" "$ig" <<'PY' && ok || bad "$name: ingress bill $ii calls / $ig GB-s, runtime $li / $lg"
import sys
li, lg, ii, ig = (float(x) for x in sys.argv[1:])
assert li > 0 and ii == li, (ii, li)
assert abs(ig - lg) <= 1e-9 * max(1.0, lg), (ig, lg)
PY
}

# 1. FaaS: every batch one invocation, billed from the runtime's answer
start_lambda bill_fn --model "$src/models/fmnist-ee" --function fmnist-ee --memory-mb 1769 \
    --concurrency 2 || { finish serve_bill; exit 1; }
start_serve bill1 --policy faas --tau 0.5 --lambda-url "$lurl" || { finish serve_bill; exit 1; }
for i in 1 2 3 4 5 6; do
    curl -sf --max-time 10 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer" \
        >/dev/null || bad "faas: request $i failed"
done
compare faas
accepted_is_answered bill1
stop_serve bill1
stop_pid bill_fn "$lpid"

# 2. hybrid: one worker runs stages 1-2 and invokes the tail; its answer carries the tail's bill
start_lambda bill_hy --model "$src/models/fmnist-ee" --function fmnist-ee --memory-mb 1769 \
    --concurrency 2 || { finish serve_bill; exit 1; }
start_serve bill2 --pool hybrid --cut 2 --instances 1 --cold-start 0:0 --tau 0.95 \
    --lambda-url "$lurl" || { finish serve_bill; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "hybrid: no ready instance"
for i in 1 2 3 4 5 6; do
    curl -sf --max-time 10 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer" \
        >/dev/null || bad "hybrid: request $i failed"
done
[ "$(metric serflow_bill_function_invocations_total)" != 0 ] && ok || bad "hybrid: no tail billed"
compare hybrid
accepted_is_answered bill2
stop_serve bill2
stop_pid bill_hy "$lpid"
finish serve_bill

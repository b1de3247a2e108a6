#!/usr/bin/env bash
# Integration test of `serve --provider aws` on loopback (issue 18): the fake AWS
# (tests/aws_fake/fake_aws.py, every signature checked with botocore's signer and every request
# against botocore's models) keeps an Auto Scaling group whose instances are real `serflow
# worker` processes on their own loopback addresses (127.0.1.N, the port of the stack's
# WorkerPort), with identities derived from the deployment's root and instance-role credentials
# from the fake's IMDSv2; its Lambda Invoke runs the function for real in a `serflow lambda`.
# A step of traffic through the ingress (LIBRA's rule, the hybrid path: stages 1-2 on the
# workers, the tail on 2 parallel invocations) must scale the group up and down, invoke the
# function on the FaaS path and fan the tails out from the workers, and answer every request
# while the fake throttles, fails (5xx), holds (timeouts) and breaks the calls of every service
# (first the Auto Scaling and EC2 APIs, while /metrics and the log must say they fail and the
# functions serve; then Lambda, once a worker serves); LIBRA's rule makes the step worth one
# instance (the hybrid path's capacity is far above it; --tcip 150 buys one for the residual).
# The bill the ingress reports must match what the fake recorded: each VM the group ran (60 s
# minimum each) and each invocation it billed. Usage: serve_aws.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

# the deployment's root, and the workers' key derived from it (auth.h's scheme, written again)
root=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
wkey=$(/usr/bin/python3 -c 'import sfwire, sys; print(sfwire.derive(bytes.fromhex(sys.argv[1]), "worker:aws").hex())' "$root")
wport=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# 1. the function's runtime: what Lambda runs (the fake forwards each Invoke to it)
start_lambda aws_fn --model "$model" --function serflow-fn --memory-mb 1769 --concurrency 4 ||
    { finish serve_aws; exit 1; }

# 2. the fake AWS: its group's launch template is this command line and environment
wcmd=$(/usr/bin/python3 -c 'import json, sys; print(json.dumps([sys.argv[1], "worker", "--model", sys.argv[2],
  "--host", "{ip}", "--port", "{port}", "--cut", "2", "--fanout", "2", "--tau", "0.95",
  "--provider", "aws", "--function", "serflow-fn", "--function-url", "{endpoint}",
  "--function-timeout-s", "3", "--region", "us-east-1"]))' "$bin" "$model")
wenv=$(/usr/bin/python3 -c 'import json, sys; print(json.dumps({"SERFLOW_AUTH": "worker:aws " + sys.argv[1],
  "AWS_EC2_METADATA_SERVICE_ENDPOINT": "{endpoint}", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
  "AWS_CONFIG_FILE": "/nonexistent", "AWS_REGION": "us-east-1"}))' "$wkey")
/usr/bin/python3 -u "$src/tests/aws_fake/fake_aws.py" --port 0 --max 4 --memory-mb 1769 \
    --pending-s 0.3 --terminating-s 0.3 --lifetime-s 200 --lambda-url "$lurl" \
    --worker-port "$wport" --worker-cmd "$wcmd" --worker-env "$wenv" \
    --worker-log "$tmp/workers.log" >"$tmp/fake.out" 2>"$tmp/fake.log" &
fpid=$!
pids+=("$fpid")
fake=""
for _ in $(seq 1 300); do
    fake=$(sed -n 's/^ready /http:\/\/127.0.0.1:/p' "$tmp/fake.out")
    [ -n "$fake" ] && break
    kill -0 "$fpid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$fake" ] || { bad "fake AWS did not start: $(tail -3 "$tmp/fake.log")"; finish serve_aws; exit 1; }

# a worker without an identity is never open beyond loopback: it refuses all interfaces
timeout 20 env -u SERFLOW_AUTH "$bin" worker --model "$model" --host 0.0.0.0 --port 0 >"$tmp/open.out" 2>&1 &&
    bad "a worker without identity started on 0.0.0.0" || ok
grep -q "listens on loopback only" "$tmp/open.out" && ok || bad "open worker: $(head -2 "$tmp/open.out")"

# 3. the ingress: --provider aws, every endpoint at the fake, the static key of the fake
# the step: 14 s at 300 requests/s (140 epochs of the 0.1 s SLO), long enough for the group to
# boot workers through the faults (the first failed call's retries alone can take 6 s) and for
# their tails to fan out, then 3 s of silence
for i in $(seq 1 140); do echo 30; done >"$tmp/steps.txt"
for i in $(seq 1 30); do echo 0; done >>"$tmp/steps.txt"
nreq=$(awk '{ n += $1 } END { print n }' "$tmp/steps.txt")
AWS_ACCESS_KEY_ID=AKIDFAKESERFLOW AWS_SECRET_ACCESS_KEY=fake/secret+key \
    AWS_EC2_METADATA_DISABLED=true AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    AWS_CONFIG_FILE=/nonexistent SERFLOW_AUTH="root $root" \
    start_serve aws --provider aws --aws-region us-east-1 --aws-autoscaling-endpoint "$fake" \
    --aws-ec2-endpoint "$fake" --aws-lambda-endpoint "$fake" --aws-group serflow-workers \
    --aws-function serflow-fn --aws-worker-port "$wport" --aws-poll-s 0.1 --aws-timeout-s 1 \
    --policy libra --pool hybrid --cut 2 --tau 0.95 --tcip 150 --cold-start 1:1 \
    --scale-period 2 --terminate-delay 1 --deadline-s 30 || { finish serve_aws; exit 1; }

fake_post() { curl -sf --max-time 5 -X POST -d "$2" "$fake/_fake/$1" >/dev/null || bad "fake $1 $2"; }
fault() { fake_post fault "$1"; }
# phase 1, from the start of the traffic: the Auto Scaling and EC2 APIs fail (every call answered
# 500 until this script has seen what it must, throttling, a reset connection, a call that
# outlives its timeout). The 500s last until cleared, not for a number of answers: with a count
# (or a short window) the call's retries, up to 6 s of full-jitter backoff, could outlast the
# fault, or the ingress failed one call and answered the next 12 ms later on a slow machine: too
# short a failure to see on /metrics. 60 s bounds it if this script dies.
fault '{"service": "autoscaling", "operation": "DescribeAutoScalingGroups", "kind": "server_error", "for_s": 60}'
fault '{"service": "autoscaling", "operation": "SetDesiredCapacity", "kind": "throttle", "count": 2}'
fault '{"service": "ec2", "operation": "DescribeInstances", "kind": "timeout", "count": 1, "delay_s": 1.5}'
"$bin" load --url "$url" --trace "$tmp/steps.txt" --epochs 0 --quiet --json >"$tmp/load.json" \
    2>"$tmp/load.err" &
lp=$!
pids+=("$lp")
# while the API fails, /metrics says so and the functions take the load: function batches are
# dispatched while serflow_provider_api_failing is above 0 (bounded: 30 s of wall time, whatever
# each look costs, and no longer than the traffic lasts). The gauge counts failures in a row of
# any call, so it reads 0 between a throttled SetDesiredCapacity that worked on its retry and the
# next failed DescribeAutoScalingGroups (still failing until cleared below): looks at 0 are
# skipped, not taken as the end of the outage (under ASan one came between 12 and 17 batches)
b0=""
served=0
end_s=$((SECONDS + 30))
while [ "$SECONDS" -lt "$end_s" ] && kill -0 "$lp" 2>/dev/null; do
    f=$(metric serflow_provider_api_failing)
    b=$(metric serflow_batches_total 'path="function"')
    if [ "${f:-0}" -ge 1 ] 2>/dev/null; then
        if [ -z "$b0" ]; then b0=${b:-0}; elif [ "${b:-0}" -gt "$b0" ]; then served=1; break; fi
    fi
    sleep 0.02
done
fake_post clear_faults '{"service": "autoscaling", "operation": "DescribeAutoScalingGroups"}'
fault '{"service": "autoscaling", "operation": "DescribeAutoScalingGroups", "kind": "reset", "count": 1}'
[ -n "$b0" ] && ok || bad "aws: /metrics never said the API was failing; the ingress's log: \
$(grep -E 'scale|launch|provider|WARN|ERROR' "$tmp/aws.log" | head -8); the fake's log: $(tail -5 "$tmp/fake.log")"
[ "$served" = 1 ] && ok || bad "aws: no function batch while the API failed (from $b0 to $b)"
grep -E 'level=WARN .*msg="provider API failing" provider=aws op=DescribeAutoScalingGroups error=.*InternalFailure' "$tmp/aws.log" >/dev/null && ok ||
    bad "aws: the log does not say the API failed: $(grep 'provider' "$tmp/aws.log" | head -3)"
# the group grows through the faults and its worker becomes ready (its health endpoint)
wait_metric serflow_instance_launches_total '' 1 && ok || bad "aws: no instance launched under load"
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "aws: no instance ready under load"
# phase 2, with the workers serving: Lambda throttles, fails, holds and the function errs, for
# the ingress's invocations and the workers' tails alike
fault '{"service": "lambda", "operation": "Invoke", "kind": "throttle", "count": 4}'
fault '{"service": "lambda", "operation": "Invoke", "kind": "server_error", "count": 2}'
fault '{"service": "lambda", "operation": "Invoke", "kind": "timeout", "count": 1, "delay_s": 2.5}'
fault '{"service": "lambda", "operation": "Invoke", "kind": "function_error", "count": 1}'
wait "$lp" && ok || bad "aws: load lost requests: $(tail -3 "$tmp/load.err")"
/usr/bin/python3 - "$tmp/load.json" "$nreq" 2>"$tmp/py.txt" <<'PY' && ok || bad "aws: load report: $(tail -1 "$tmp/py.txt")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] == d["requests"] == int(sys.argv[2]), d
assert d["server_accepted"] == d["server_answered"] == d["requests"], d
PY

# after the step: the target falls to 0 and the group sheds every worker (bounded: 30 s)
gone=0
for _ in $(seq 1 300); do
    t=$(metric serflow_instances_target)
    r=$(metric serflow_instances 'state="ready"')
    p=$(metric serflow_instances 'state="pending"')
    if [ "$t" = 0 ] && [ "$r" = 0 ] && [ "$p" = 0 ]; then gone=1; break; fi
    sleep 0.1
done
[ "$gone" = 1 ] && ok || bad "aws: instances not shed after the step (target $t, ready $r, pending $p)"
accepted_is_answered aws
[ "$(metric serflow_requests_answered_total 'outcome="ok"')" = "$nreq" ] && ok ||
    bad "aws: not every request answered ok: $(curl -s "$url/metrics" | grep answered_total)"
# the API's failures are on /metrics and in the log
[ "$(metric serflow_provider_api_errors_total)" -ge 1 ] 2>/dev/null && ok ||
    bad "aws: no API error counted: $(metric serflow_provider_api_errors_total)"
again='msg="provider API answers again" provider=aws op=[A-Za-z]+ failed_calls=[1-9]'
for _ in $(seq 1 100); do grep -qE "$again" "$tmp/aws.log" && break; sleep 0.1; done
grep -qE "$again" "$tmp/aws.log" && ok ||
    bad "aws: the log does not say the API recovered"

# the bill against the fake's records (the fake records a billed invocation once its runtime
# answered: wait, bounded, until its count stops moving)
for _ in $(seq 1 50); do
    curl -s --max-time 5 "$url/metrics" >"$tmp/metrics.txt"
    curl -s --max-time 5 "$fake/_fake/state" >"$tmp/state.json"
    curl -s --max-time 5 "$fake/_fake/calls" >"$tmp/calls.json"
    /usr/bin/python3 - "$tmp/metrics.txt" "$tmp/state.json" 2>/dev/null <<'PY' && break
import json, sys
m = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l[0] != "#"}
st = json.load(open(sys.argv[2]))
seen = [i for i in st["invocations"] if not i["abandoned"]]
assert m["serflow_bill_function_invocations_total"] == len(seen)
PY
    sleep 0.2
done
/usr/bin/python3 - "$tmp/metrics.txt" "$tmp/state.json" "$tmp/calls.json" "$tmp/aws.log" \
    2>"$tmp/py.txt" <<'PY' && ok || bad "aws: $(tail -3 "$tmp/py.txt")"
import json, sys
m = {}
for l in open(sys.argv[1]):
    if l[0] != "#":
        k, v = l.rsplit(None, 1)
        m[k] = float(v)
st = json.load(open(sys.argv[2]))
calls = json.load(open(sys.argv[3]))
assert not calls["problems"], calls["problems"][:3]
ops = [c for c in calls["calls"]]
assert not [c for c in ops if c["status"] in (401, 403)], "a signature was refused"
def n(op, **kw):
    return len([c for c in ops if c["operation"] == op and c["status"] == 200 and
                all(c.get(k) == v for k, v in kw.items())])
# scaled up, then down: desired capacities set along the way; chosen workers shed with decrement
sets = [c["params"]["DesiredCapacity"] for c in ops
        if c["operation"] == "SetDesiredCapacity" and c["status"] == 200]
assert max(sets) >= 1, sets
assert st["group"]["desired"] == 0, st["group"]  # the terminations decremented it
terms = [c for c in ops if c["operation"] == "TerminateInstanceInAutoScalingGroup" and
         c["status"] == 200]
assert terms and all(c["params"]["ShouldDecrementDesiredCapacity"] for c in terms), terms
# the faults were met and retried past
notes = {(c["operation"], c["note"]) for c in ops}
for f in (("SetDesiredCapacity", "Throttling"), ("DescribeAutoScalingGroups", "InternalFailure"),
          ("DescribeInstances", "timeout"), ("DescribeAutoScalingGroups", "reset"),
          ("Invoke", "TooManyRequestsException"), ("Invoke", "ServiceException"),
          ("Invoke", "timeout"), ("Invoke", "function_error")):
    assert f in notes, ("fault not met", f, sorted(notes, key=str))
# the ingress invoked the function (FaaS path: the static key), the workers fanned tails out
# (their instance role's keys from IMDSv2)
inv = st["invocations"]
ingress = [i for i in inv if i["access_key"] == "AKIDFAKESERFLOW"]
workers = [i for i in inv if i["access_key"].startswith("ASIAFAKE")]
assert ingress and len(workers) >= 2, (len(ingress), len(workers))
assert m['serflow_batches_total{path="function"}'] >= 1, m
assert m['serflow_requests_where_total{where="vm+function"}'] >= 1, m
# the bill: every invocation the fake billed whose answer came back (an abandoned one, a call
# given up before its answer, Lambda bills and nobody is told), at the function's memory. The
# fake sees a caller gone only if it hung up before the answer was written: a call given up just
# after (then retried: serflow_function_retries_total) is billed by the fake and missing from
# serflow's meter, so up to that many of the fake's calls may be missing, the largest at most
ok_inv = [i for i in inv if not i["abandoned"]]
ms = sum(i["billed_ms"] for i in ok_inv)
want_gbs = ms / 1000.0 * 1769 / 1024.0
got_gbs = m["serflow_bill_function_gigabyte_seconds_total"]
racy = int(m["serflow_function_retries_total"])
racy_gbs = sum(sorted((i["billed_ms"] for i in ok_inv), reverse=True)[:racy]) / 1000.0 * 1769 / 1024.0
got_n = m["serflow_bill_function_invocations_total"]
assert len(ok_inv) - racy <= got_n <= len(ok_inv), (m, len(ok_inv), racy)
# /metrics prints 9 significant digits
tol = 1e-8 * max(1.0, want_gbs)
if got_n == len(ok_inv):
    assert abs(got_gbs - want_gbs) <= tol, (got_gbs, want_gbs)
else:
    assert want_gbs - racy_gbs - tol <= got_gbs <= want_gbs + tol, (got_gbs, want_gbs, racy_gbs)
# every VM the group ran, billed its 60 s minimum (none lived a minute)
vm_s = sum(v for k, v in m.items() if k.startswith("serflow_bill_vm_seconds_total"))
assert len(st["instances"]) >= 1 and vm_s == 60 * len(st["instances"]), (vm_s, st["instances"])
print("aws: %d instances, %d set-desired, %d terminations, %d invocations (%d ingress, %d workers,"
      " %d abandoned), %.1f ms billed" % (len(st["instances"]), len(sets), len(terms), len(inv),
                                          len(ingress), len(workers),
                                          len(inv) - len(ok_inv), ms))
PY
cat "$tmp/py.txt"
# the workers' Lambda calls are exactly what their role allows, the ingress's within its policy
/usr/bin/python3 - "$tmp/calls.json" >"$tmp/actions.txt" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["calls"]
ok = [x for x in c if x["status"] == 200]
print(",".join(sorted({x["iam_action"] for x in ok if x["access_key"] == "AKIDFAKESERFLOW"})))
print(",".join(sorted({x["iam_action"] for x in ok if (x["access_key"] or "").startswith("ASIA")})))
PY
/usr/bin/python3 "$src/tests/aws_fake/check_deploy.py" --iam-actions-within "$(sed -n 1p "$tmp/actions.txt")" \
    --worker-actions "$(sed -n 2p "$tmp/actions.txt")" >"$tmp/deploy.txt" 2>&1 && ok ||
    bad "aws: IAM: $(cat "$tmp/deploy.txt")"

stop_serve aws
# the ingress took the group to 0 at its stop; the fake's workers are gone
for _ in $(seq 1 100); do
    curl -s --max-time 5 "$fake/_fake/state" >"$tmp/state.json"
    /usr/bin/python3 - "$tmp/state.json" 2>/dev/null <<'PY' && break
import json, sys
st = json.load(open(sys.argv[1]))
assert st["group"]["desired"] == 0
assert all(i["state"] == "Terminated" for i in st["instances"].values())
PY
    sleep 0.1
done
/usr/bin/python3 - "$tmp/state.json" 2>"$tmp/py.txt" <<'PY' && ok || bad "aws: group not at 0 after stop: $(tail -1 "$tmp/py.txt")"
import json, os, sys
st = json.load(open(sys.argv[1]))
assert st["group"]["desired"] == 0, st["group"]
for iid, i in st["instances"].items():
    assert i["state"] == "Terminated", (iid, i)
    try:
        os.kill(i["pid"], 0)
        with open("/proc/%d/stat" % i["pid"]) as f:
            assert f.read().split()[2] == "Z", ("worker still running", iid)
    except ProcessLookupError:
        pass
PY
no_sanitizer_reports workers
remember_children "$fpid"
kill -TERM "$fpid"
for _ in $(seq 1 100); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
no_children fake
stop_pid aws_fn "$lpid"
finish serve_aws

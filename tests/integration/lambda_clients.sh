#!/usr/bin/env bash
# Integration test of the local function runtime (`serflow lambda`) with real AWS clients on
# loopback: `aws lambda invoke --endpoint-url` and boto3 (dummy credentials), the Lambda error
# contract (ResourceNotFoundException, X-Amz-Function-Error on a crash and on a timeout), billing
# on /metrics (promtool), and every function instance stopped. Usage: lambda_clients.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
export AWS_ACCESS_KEY_ID=serflowtest AWS_SECRET_ACCESS_KEY=serflowtest AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
want=$(cut -d' ' -f1 "$tmp/labels.txt")

start_lambda ok --model "$model" --function fmnist-ee --tau 0.5 --idle-timeout-s 30 || { finish lambda_clients; exit 1; }
okurl=$lurl; okpid=$lpid
if command -v aws >/dev/null; then
    expect "aws lambda invoke" 0 aws lambda invoke --endpoint-url "$okurl" --function-name fmnist-ee \
        --payload "fileb://$tmp/one.json" "$tmp/aws-out.json"
    has out '"StatusCode": 200'
    grep -q "\"label\",\"datatype\":\"INT64\",\"shape\":\[1\],\"data\":\[$want\]" "$tmp/aws-out.json" && ok ||
        bad "aws invoke answer: $(head -c 300 "$tmp/aws-out.json")"
    # the CLI exits 254 or 255 (by version) on a service error; what matters is which error
    aws lambda invoke --endpoint-url "$okurl" --function-name nope --payload "fileb://$tmp/one.json" \
        "$tmp/aws-out2.json" >"$tmp/out" 2>"$tmp/err" && bad "aws unknown function: exit 0" || ok
    has err 'ResourceNotFoundException.*Function not found: nope'
else
    bad "aws CLI not installed (scripts/install-deps.sh installs awscli)"
fi

start_lambda hang --model "$model" --function fmnist-ee --fault hang --timeout-s 0.5 || { finish lambda_clients; exit 1; }
hangurl=$lurl; hangpid=$lpid
start_lambda crash --model "$model" --function fmnist-ee --fault crash || { finish lambda_clients; exit 1; }
crashurl=$lurl; crashpid=$lpid

/usr/bin/python3 - "$okurl" "$hangurl" "$crashurl" "$tmp/one.json" "$want" >"$tmp/boto.txt" 2>&1 <<'PY' && ok || bad "boto3: $(tail -5 "$tmp/boto.txt")"
import json, sys
import boto3
ok, hang, crash, req, want = sys.argv[1:]
body = open(req, "rb").read()
def client(url):
    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="serflowtest", aws_secret_access_key="serflowtest")
r = client(ok).invoke(FunctionName="fmnist-ee", Payload=body)
assert r["StatusCode"] == 200 and "FunctionError" not in r, r
d = json.loads(r["Payload"].read())
out = {o["name"]: o for o in d["outputs"]}
assert out["label"]["data"] == [int(want)], out["label"]
try:
    client(ok).invoke(FunctionName="missing", Payload=body)
    raise AssertionError("unknown function accepted")
except client(ok).exceptions.ResourceNotFoundException:
    pass
r = client(hang).invoke(FunctionName="fmnist-ee", Payload=body)
assert r.get("FunctionError") == "Unhandled", r
assert json.loads(r["Payload"].read())["errorType"] == "Sandbox.Timedout"
r = client(crash).invoke(FunctionName="fmnist-ee", Payload=body)
assert r.get("FunctionError") == "Unhandled", r
assert json.loads(r["Payload"].read())["errorType"] == "Runtime.ExitError"
# invocation types and the names the Lambda API takes (issue 16, defect 19)
c = client(ok)
def billed():
    import urllib.request
    m = urllib.request.urlopen(ok + "/metrics").read().decode().splitlines()
    return int(float([l for l in m if l.startswith("serflow_function_billed_invocations_total ")][0].split()[1]))
b0 = billed()
r = c.invoke(FunctionName="fmnist-ee", Payload=body, InvocationType="DryRun")
assert r["StatusCode"] == 204 and billed() == b0, (r, billed(), b0)  # nothing runs or bills
for name, q in (("arn:aws:lambda:us-east-1:123456789012:function:fmnist-ee", None),
                ("arn:aws:lambda:us-east-1:123456789012:function:fmnist-ee:$LATEST", None),
                ("123456789012:function:fmnist-ee", None), ("fmnist-ee:$LATEST", None),
                ("fmnist-ee", "$LATEST")):
    kw = {"Qualifier": q} if q else {}
    r = c.invoke(FunctionName=name, Payload=body, **kw)
    assert r["StatusCode"] == 200 and "FunctionError" not in r, (name, r)
    out = {o["name"]: o for o in json.loads(r["Payload"].read())["outputs"]}
    assert out["label"]["data"] == [int(want)], (name, out["label"])
for name in ("fmnist-ee:7", "arn:aws:lambda:us-east-1:123456789012:function:other"):
    try:
        c.invoke(FunctionName=name, Payload=body)
        raise AssertionError("%s accepted" % name)
    except c.exceptions.ResourceNotFoundException:
        pass
b1 = billed()
r = c.invoke(FunctionName="fmnist-ee", Payload=body, InvocationType="Event")
assert r["StatusCode"] == 202 and r["Payload"].read() == b"", r
import time
for _ in range(100):  # it runs later, and is billed then
    if billed() == b1 + 1:
        break
    time.sleep(0.1)
assert billed() == b1 + 1, (billed(), b1)
print("boto3 ok")
PY
c=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H 'X-Amz-Invocation-Type: Sometimes' --data-binary @"$tmp/one.json" \
    "$okurl/2015-03-31/functions/fmnist-ee/invocations")
[ "$c" = 400 ] && ok || bad "unknown invocation type: $c"

# the bill of the healthy runtime: aws + boto3 invocations, 1 ms x GB, promtool-clean
curl -sf "$okurl/metrics" >"$tmp/lm.txt" && ok || bad "lambda metrics"
promtool check metrics <"$tmp/lm.txt" >"$tmp/pt.txt" 2>&1 && ok || bad "promtool: $(head -3 "$tmp/pt.txt")"
grep -qE '^serflow_function_billed_invocations_total [0-9]+' "$tmp/lm.txt" &&
    [ "$(awk '/^serflow_function_billed_invocations_total /{print $2}' "$tmp/lm.txt")" -ge 8 ] && ok ||
    bad "billed invocations: $(grep billed "$tmp/lm.txt")"
grep -qE '^serflow_function_gigabyte_seconds_total [0-9.]+(e-0[0-9])?$' "$tmp/lm.txt" && ok || bad "GB-s"
grep -qE '^serflow_function_timeouts_total 0$' "$tmp/lm.txt" && ok || bad "timeouts on the healthy runtime"
curl -sf "$hangurl/metrics" | grep -qE '^serflow_function_timeouts_total 1$' && ok || bad "hang: timeout not counted"
curl -sf "$crashurl/metrics" | grep -qE '^serflow_function_crashes_total 1$' && ok || bad "crash: not counted"

stop_pid ok "$okpid"
stop_pid hang "$hangpid"
stop_pid crash "$crashpid"
finish lambda_clients

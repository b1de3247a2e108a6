#!/usr/bin/env bash
# Integration test of identity between the serving processes (issue 16, class 1; defects 2, 4):
# no key in any child's argv, environment or /metrics; the function runtime's Runtime API refuses
# a poll, a response or an error without the instance's identity and its Invoke API a caller
# without one, while real clients keep getting the right labels; a worker refuses unsigned
# batches; and processes given a key by hand accept requests signed with the documented scheme
# (an independent implementation in sfwire.py) and sign their answers with it. Usage:
# serve_identity.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
want=$(cut -d' ' -f1 "$tmp/labels.txt")

# 1. the ingress and its function runtime: keys never shown, spoofed instances refused
start_serve id --policy faas --tau 0.5 || { finish serve_identity; exit 1; }
expect "warm-up inference" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
lpid=$(wait_child "$spid" lambda) && ok || bad "no function runtime under serve"
fpid=$(wait_child "$lpid" function) && ok || bad "no function instance under the runtime"
lport=$(listen_port "$lpid")
[ -n "$lport" ] && ok || bad "the function runtime's port not found"
# no 64-hex-digit key in any argv, environment or /metrics; no SERFLOW_AUTH= in environments
leak=""
for p in "$spid" $(descendants "$spid"); do
    tr '\0' '\n' <"/proc/$p/cmdline" | grep -qE '[0-9a-f]{64}' && leak="$leak argv:$p"
    tr '\0' '\n' <"/proc/$p/environ" | grep -qE '^SERFLOW_AUTH=|[0-9a-f]{64}' && leak="$leak env:$p"
done
curl -s "$url/metrics" | grep -qE '[0-9a-f]{64}' && leak="$leak metrics"
[ -z "$leak" ] && ok || bad "a key is visible:$leak"
/usr/bin/python3 - "http://127.0.0.1:$lport" "$url" "$tmp/one.json" "$want" >"$tmp/spoof.txt" 2>&1 <<'PY' && ok || bad "spoofed instances: $(tail -5 "$tmp/spoof.txt")"
import json, os, sys, threading, time
import sfwire
rt, ingress, req, want = sys.argv[1:]
body = open(req, "rb").read()
nxt = rt + "/2018-06-01/runtime/invocation/next"
fake = "instance:%016x" % int.from_bytes(os.urandom(8), "big")
hdr, _ = sfwire.sign(os.urandom(32), fake, "GET", "/2018-06-01/runtime/invocation/next")
stolen = []
def spoof():
    # as a local process would: poll for clients' images, post forged results
    for h in ({}, {"X-Serflow-Instance": "1"}, {"X-Serflow-Auth": hdr},
              {"X-Serflow-Auth": "instance:1 1 00 00"}):
        st, _, b = sfwire.request(nxt, headers=h, timeout=5)
        if st == 200:
            stolen.append(b)
        assert st == 401, (st, b)
    for path in ("/response", "/error"):
        st, _, b = sfwire.request(rt + "/2018-06-01/runtime/invocation/%s%s" % (os.urandom(16).hex(), path),
                                  body=b'{"forged":1}', headers={"X-Serflow-Instance": "1"})
        assert st == 401, (st, b)
threads = [threading.Thread(target=spoof) for _ in range(8)]
for t in threads:
    t.start()
# meanwhile the clients get their own, right answers
for _ in range(10):
    st, _, b = sfwire.request(ingress + "/v2/models/fmnist-ee/infer", body=body)
    assert st == 200, (st, b)
    out = {o["name"]: o for o in json.loads(b)["outputs"]}
    assert out["label"]["data"] == [int(want)], out["label"]
for t in threads:
    t.join()
assert not stolen, "an image reached a spoofed instance"
# the Invoke API of a runtime started by serve: only serve's processes may call it
st, h, b = sfwire.request(rt + "/2015-03-31/functions/fmnist-ee/invocations", body=body)
assert st == 403 and h["X-Amzn-ErrorType"] == "UnrecognizedClientException", (st, b)
# /metrics of the runtime counts the refusals
st, _, m = sfwire.request(rt + "/metrics")
n = [float(l.split()[1]) for l in m.decode().splitlines() if l.startswith("serflow_function_auth_failures_total ")]
assert n and n[0] >= 8 * 6 + 1, n
print("spoof ok")
PY
kill -0 "$fpid" 2>/dev/null && ok || bad "the real instance was knocked out"
accepted_is_answered id
stop_serve id

# 2. a worker started by serve refuses unsigned batches
start_serve wk --pool iaas --instances 1 --cold-start 0:0 --no-spill --tau 0.5 || { finish serve_identity; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "worker: none ready"
wpid=$(child_of "$spid" worker)
wport=$(listen_port "$wpid")
/usr/bin/python3 - "http://127.0.0.1:$wport" "$model" >"$tmp/wk.txt" 2>&1 <<'PY' && ok || bad "worker auth: $(tail -3 "$tmp/wk.txt")"
import os, struct, sys
import sfwire
w, model = sys.argv[1:]
x = struct.unpack("<784f", open(model + "/golden_input.f32", "rb").read()[:3136])
frame = sfwire.input_frame([42], x, [1, 28, 28])
for h in ({}, {"X-Serflow-Auth": sfwire.sign(os.urandom(32), "worker:1", "POST", "/v1/batch")[0]},
          {"X-Serflow-Auth": "ingress 1 " + "0" * 32 + " " + "0" * 64}):
    st, _, b = sfwire.request(w + "/v1/batch", body=frame, headers=h)
    assert st == 401 and b"unauthenticated" in b, (st, b)
st, _, b = sfwire.request(w + "/v1/health")
assert st == 200, st
print("worker ok")
PY
expect "inference through the worker" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
has out '"where".*"vm:1-'
accepted_is_answered wk
stop_serve wk

# 3. the documented scheme, from outside: a worker and a runtime given a key by hand
root=$(/usr/bin/python3 -c 'import os; print(os.urandom(32).hex())')
wkey=$(/usr/bin/python3 -c "import sfwire; print(sfwire.derive(bytes.fromhex('$root'), 'worker:7').hex())")
SERFLOW_AUTH="worker:7 $wkey" "$bin" worker --model "$model" --port 0 --ready-fd 3 --no-function-auth \
    3>"$tmp/w.ready" 2>"$tmp/w.log" &
hw=$!
pids+=("$hw")
SERFLOW_AUTH="root $root" "$bin" lambda --model "$model" --function fmnist-ee --port 0 --ready-fd 3 \
    --tau 0.5 3>"$tmp/l.ready" 2>"$tmp/l.log" &
hl=$!
pids+=("$hl")
for _ in $(seq 1 300); do [ -s "$tmp/w.ready" ] && [ -s "$tmp/l.ready" ] && break; sleep 0.1; done
wep=$(sed -n 's/^ready //p' "$tmp/w.ready"); lep=$(sed -n 's/^ready //p' "$tmp/l.ready")
[ -n "$wep" ] && [ -n "$lep" ] && ok || bad "hand-started worker or runtime did not start"
/usr/bin/python3 - "http://$wep" "http://$lep" "$root" "$model" "$want" >"$tmp/scheme.txt" 2>&1 <<'PY' && ok || bad "scheme: $(tail -3 "$tmp/scheme.txt")"
import json, os, struct, sys, time
import sfwire
w, rt, root, model, want = sys.argv[1:]
root = bytes.fromhex(root)
x = struct.unpack("<784f", open(model + "/golden_input.f32", "rb").read()[:3136])
frame = sfwire.input_frame([42], x, [1, 28, 28])
k7 = sfwire.derive(root, "worker:7")
hdr, nonce = sfwire.sign(k7, "worker:7", "POST", "/v1/batch")
st, h, b = sfwire.request(w + "/v1/batch", body=frame, headers={"X-Serflow-Auth": hdr})
assert st == 200 and b[:4] == b"SFRS", (st, b[:200])
assert sfwire.response_ok(k7, nonce, 200, h["X-Serflow-Auth-Response"]), "worker's response MAC"
# another worker's key, the right key under another principal, an old timestamp, another path
for key, p, ts, path in ((sfwire.derive(root, "worker:8"), "worker:8", None, "/v1/batch"),
                         (k7, "worker:8", None, "/v1/batch"),
                         (k7, "worker:7", int(time.time() * 1000) - 120000, "/v1/batch"),
                         (k7, "worker:7", None, "/v1/health")):
    hdr, _ = sfwire.sign(key, p, "POST", path, ts_ms=ts)
    st, _, b = sfwire.request(w + "/v1/batch", body=frame, headers={"X-Serflow-Auth": hdr})
    assert st == 401, (p, ts, path, st, b)
# the runtime: "ingress" and a "worker:N" may invoke, signed; nobody else
inv = "/2015-03-31/functions/fmnist-ee/invocations"
for p in ("ingress", "worker:3"):
    k = sfwire.derive(root, p)
    hdr, nonce = sfwire.sign(k, p, "POST", inv)
    st, h, b = sfwire.request(rt + inv, body=frame, headers={"X-Serflow-Auth": hdr})
    assert st == 200 and b[:4] == b"SFRS" and "X-Amz-Function-Error" not in h, (p, st, b[:200])
    assert sfwire.response_ok(k, nonce, 200, h["X-Serflow-Auth-Response"]), p
for p in ("instance:0123456789abcdef", "root"):
    hdr, _ = sfwire.sign(sfwire.derive(root, p), p, "POST", inv)
    st, h, b = sfwire.request(rt + inv, body=frame, headers={"X-Serflow-Auth": hdr})
    assert st == 403, (p, st, b)
st, h, b = sfwire.request(rt + inv, body=frame)
assert st == 403 and h["X-Amzn-ErrorType"] == "UnrecognizedClientException", (st, b)
print("scheme ok")
PY
stop_pid worker "$hw"
stop_pid lambda "$hl"
finish serve_identity

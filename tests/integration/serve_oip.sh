#!/usr/bin/env bash
# Integration test of OIP v2 as the KServe/Triton spec has it, and the operator's view, on the
# event-driven data plane (issues 17 and 20), both ways an answer is written: by the event loop
# that read the request (refusals, metadata) and by the thread that finished its batch (the
# worker's answer, or the in-process runner with --inproc). Checked with a Python client from the
# spec: /v2/models/NAME/versions/1/... paths (another version 404); the outputs filter in the
# request's order (an unknown or repeated name 400 naming it); binary outputs (binary_data,
# binary_data_output) with Inference-Header-Content-Length; the input name checked; gzip and
# deflate bodies inflated, another coding 415 with Accept-Encoding; 405 with Allow; X-Request-Id
# kept when valid and made when not, traceparent continued; one access log line per request with
# its id and status; serflow_http_requests_total{handler,code} counting every answer.
# Usage: serve_oip.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
want=$(cut -d' ' -f1 "$tmp/labels.txt")

check() { # check NAME: the spec client against $url
    /usr/bin/python3 - "$url" "$tmp/one.json" "$want" >"$tmp/$1.txt" 2>&1 <<'PY' && ok || bad "$1: $(tail -5 "$tmp/$1.txt")"
import gzip, json, re, struct, sys, urllib.request, urllib.error, zlib
url, one_path, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
one = json.load(open(one_path))

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

def infer(req, path="/v2/models/fmnist-ee/infer", headers=None, raw=None):
    return call("POST", path, raw if raw is not None else json.dumps(req).encode(), headers)

# the versions path: version 1 is the model's; another is 404
st, h, b = call("GET", "/v2/models/fmnist-ee/versions/1")
assert st == 200 and json.loads(b)["name"] == "fmnist-ee", (st, b)
st, h, b = call("GET", "/v2/models/fmnist-ee/versions/1/ready")
assert st == 200, st
st, h, b = infer(one, "/v2/models/fmnist-ee/versions/1/infer")
d = json.loads(b)
assert st == 200 and d["model_version"] == "1", (st, b)
assert {o["name"]: o for o in d["outputs"]}["label"]["data"] == [want], b
st, h, b = infer(one, "/v2/models/fmnist-ee/versions/2/infer")
assert st == 404 and b"no version '2'" in b, (st, b)

# the outputs filter: the ones asked for, in the request's order
r = dict(one, outputs=[{"name": "exit_stage"}, {"name": "label"}])
st, h, b = infer(r)
d = json.loads(b)
assert st == 200 and [o["name"] for o in d["outputs"]] == ["exit_stage", "label"], b
assert d["outputs"][1]["data"] == [want], b
for bad_outputs, msg in (([{"name": "logits"}], b"'logits' is not an output"),
                         ([{"name": "label"}, {"name": "label"}], b"asked for twice")):
    st, h, b = infer(dict(one, outputs=bad_outputs))
    assert st == 400 and msg in b, (st, b)

# binary outputs: per output, and for all with binary_data_output
r = dict(one, outputs=[{"name": "label", "parameters": {"binary_data": True}},
                       {"name": "probabilities"}])
st, h, b = infer(r)
hl = int(h["Inference-Header-Content-Length"])
head = json.loads(b[:hl])
assert st == 200 and head["outputs"][0]["parameters"]["binary_data_size"] == 8, head
assert "data" in head["outputs"][1] and len(b) == hl + 8, (head, len(b))
assert struct.unpack("<q", b[hl:])[0] == want
r = dict(one, parameters={"binary_data_output": True})
st, h, b = infer(r)
hl = int(h["Inference-Header-Content-Length"])
head = json.loads(b[:hl])
sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
assert sizes[:3] == [8, 40, 4] and len(b) == hl + sum(sizes), (sizes, len(b))
probs = struct.unpack("<10f", b[hl + 8:hl + 48])
assert abs(sum(probs) - 1) < 1e-3 and max(range(10), key=lambda c: probs[c]) == want

# the input's name is the model's
bad_in = json.loads(json.dumps(one))
bad_in["inputs"][0]["name"] = "image"
st, h, b = infer(bad_in)
assert st == 400 and b"'image' is not an input" in b, (st, b)

# compressed bodies: gzip and deflate inflated; another coding 415 naming what is accepted
body = json.dumps(one).encode()
for enc, z in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
    st, h, b = infer(None, headers={"Content-Encoding": enc}, raw=z)
    assert st == 200 and {o["name"]: o for o in json.loads(b)["outputs"]}["label"]["data"] == [want], (enc, st, b)
st, h, b = infer(None, headers={"Content-Encoding": "br"}, raw=body)
assert st == 415 and "gzip" in h.get("Accept-Encoding", ""), (st, h)
st, h, b = infer(None, headers={"Content-Encoding": "gzip"}, raw=b"not gzip at all")
assert st == 400, (st, b)

# a wrong method on a known path: 405 with Allow
st, h, b = call("GET", "/v2/models/fmnist-ee/infer")
assert st == 405 and h.get("Allow") == "POST", (st, h)
st, h, b = call("POST", "/v2/health/live", b"")
assert st == 405 and "GET" in h.get("Allow", ""), (st, h)

# request ids and trace context: kept when valid, made when not, on answers of every kind
tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
st, h, b = infer(one, headers={"X-Request-Id": "oip-trace-1", "traceparent": tp})
assert st == 200 and h["X-Request-Id"] == "oip-trace-1", h
assert re.fullmatch(r"00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01", h["traceparent"]), h
assert h["traceparent"].split("-")[2] != "00f067aa0ba902b7", h  # a span of its own
st, h, b = call("GET", "/v2/health/live", headers={"X-Request-Id": "bad id, with a comma"})
assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                    h["X-Request-Id"]), h
st, h, b = infer(bad_in, headers={"X-Request-Id": "oip-refused-1"})
assert st == 400 and h["X-Request-Id"] == "oip-refused-1", h
PY
}

# access_log NAME: the answered inference with its id and the refusal, each a line with status
access_log() {
    grep -E 'msg=access id=oip-trace-1 .*status=200 .*handler=infer images=1 route=vm' "$tmp/$1.log" >/dev/null &&
        ok || bad "$1: no access line for oip-trace-1: $(grep -m2 'msg=access' "$tmp/$1.log")"
    grep -E 'msg=access id=oip-refused-1 .*status=400 .*handler=infer' "$tmp/$1.log" >/dev/null &&
        ok || bad "$1: no access line for the refusal"
    # every answer counted by handler and status class, every series there from the start
    [ "$(metric serflow_http_requests_total 'handler="infer",code="4xx"')" -ge 7 ] && ok ||
        bad "$1: infer 4xx count $(metric serflow_http_requests_total 'handler="infer",code="4xx"')"
    [ "$(metric serflow_http_requests_total 'handler="infer",code="2xx"')" -ge 7 ] && ok ||
        bad "$1: infer 2xx count"
    [ "$(metric serflow_http_requests_total 'handler="metrics",code="5xx"')" = 0 ] && ok ||
        bad "$1: metrics 5xx series"
    accepted_is_answered "$1"
}

# the worker process path: answers written by the event loop that read the worker's answer
start_serve oip --pool iaas --instances 1 --no-spill --cold-start 0:0 --tau 0.5 --http-threads 2 ||
    { finish serve_oip; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "oip: the worker is not ready"
check oip
access_log oip
stop_serve oip

# the same-process fast path: answers written by the thread that ran the batch
start_serve oipin --pool iaas --instances 1 --no-spill --cold-start 0:0 --tau 0.5 --inproc ||
    { finish serve_oip; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "oipin: the instance is not ready"
check oipin
access_log oipin
stop_serve oipin

finish serve_oip

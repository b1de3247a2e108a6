#!/usr/bin/env bash
# Integration test of frames and results checked against the model at every hop (issue 16,
# class 2; defects 1, 9): a worker and a function refuse frames whose shape is not the model's
# (smaller ones used to be read past their end, larger ones crashed), repeated ids, truncation,
# and stay up; hidden-state frames for the wrong stage are refused; an image whose outputs are
# not finite is refused with 422 naming it, never answered with a shape its data does not fill;
# the ingress refuses a worker's answer with stray ids, a missing or extra record, or non-finite
# numbers, and answers from functions instead. Usage: serve_frames.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
want=$(cut -d' ' -f1 "$tmp/labels.txt")

# 1. a worker and a function runtime started by hand (no identity: the open local endpoints)
"$bin" worker --model "$model" --port 0 --ready-fd 3 3>"$tmp/w.ready" 2>"$tmp/w.log" &
hw=$!
pids+=("$hw")
start_lambda fr --model "$model" --function fmnist-ee --tau 0.5 || { finish serve_frames; exit 1; }
for _ in $(seq 1 300); do [ -s "$tmp/w.ready" ] && break; sleep 0.1; done
wep=$(sed -n 's/^ready //p' "$tmp/w.ready")
[ -n "$wep" ] && ok || bad "worker did not start"
/usr/bin/python3 - "http://$wep" "$lurl" "$model" >"$tmp/frames.txt" 2>&1 <<'PY' && ok || bad "frames: $(tail -3 "$tmp/frames.txt")"
import json, struct, sys
import sfwire
w, rt, model = sys.argv[1:]
x = list(struct.unpack("<784f", open(model + "/golden_input.f32", "rb").read()[:3136]))
inv = rt + "/2015-03-31/functions/fmnist-ee/invocations"
good = sfwire.input_frame([1, 2], x + x, [1, 28, 28])
bad = {
    "small shape": sfwire.input_frame([1], x[:16], [1, 4, 4]),
    "large shape": sfwire.input_frame([1], x + x, [2, 28, 28]),
    "flat shape": sfwire.input_frame([1], x, [784]),
    "repeated ids": sfwire.input_frame([5, 5], x + x, [1, 28, 28]),
    "id 0": sfwire.input_frame([0], x, [1, 28, 28]),
    "truncated": good[:-4],
    "trailing": good + b"\0\0\0\0",
}
for name, frame in bad.items():
    st, _, b = sfwire.request(w + "/v1/batch", body=frame)
    assert st == 400, (name, st, b)
    st, h, b = sfwire.request(inv, body=frame)
    assert st == 200 and h.get("X-Amz-Function-Error") == "Unhandled", (name, st, b)
    assert json.loads(b)["errorType"] == "Serflow.BadEvent", (name, b)
# hidden state claiming the wrong stage, the wrong classes, or a shape not the next stage's
import zlib
def hidden(stage, classes, dims):
    d = list(dims) + [0] * (3 - len(dims))
    head = b"SFHS" + struct.pack("<HHHHHHIf3III", 1, 1, stage, classes, len(dims), 0, 1, 0.5, *d, 0, 0)
    return head + b"\0" * 64
for stage, classes, dims in ((0, 10, [1, 28, 28]), (6, 10, [1, 28, 28]), (1, 9, [1, 28, 28]),
                             (1, 10, [3, 3, 3])):
    st, h, b = sfwire.request(inv, body=hidden(stage, classes, dims))
    assert st == 200 and json.loads(b)["errorType"] == "Serflow.BadEvent", (stage, classes, b)
# both still serve, from the same processes
st, _, b = sfwire.request(w + "/v1/batch", body=good)
assert st == 200 and b[:4] == b"SFRS", (st, b[:100])
st, h, b = sfwire.request(inv, body=good)
assert st == 200 and b[:4] == b"SFRS" and "X-Amz-Function-Error" not in h, (st, b[:100])
st, _, m = sfwire.request(rt + "/metrics")
cold = [l for l in m.decode().splitlines() if l.startswith("serflow_function_cold_starts_total ")]
crash = [l for l in m.decode().splitlines() if l.startswith("serflow_function_crashes_total ")]
assert cold == ["serflow_function_cold_starts_total 1"] and crash[0].endswith(" 0"), (cold, crash)
print("frames ok")
PY
kill -0 "$hw" && ok || bad "the worker died"
stop_pid worker "$hw"
stop_pid lambda "$lpid"

# 2. outputs finite or refused, per image: 3e38 everywhere overflows the network
start_serve nf --policy faas --tau 0.5 || { finish serve_frames; exit 1; }
/usr/bin/python3 - "$url" "$model" >"$tmp/nf.txt" 2>&1 <<'PY' && ok || bad "non-finite: $(tail -3 "$tmp/nf.txt")"
import json, struct, sys
import sfwire
url, model = sys.argv[1:]
x = list(struct.unpack("<784f", open(model + "/golden_input.f32", "rb").read()[:3136]))
def infer(data, n):
    body = json.dumps({"inputs": [{"name": "input", "shape": [n, 784], "datatype": "FP32",
                                   "data": data}]}).encode()
    return sfwire.request(url + "/v2/models/fmnist-ee/infer", body=body)
st, _, b = infer([3e38] * 784, 1)
assert st == 422 and b"image 0: the model's outputs are not finite" in b, (st, b)
st, _, b = infer(x + [-3e38] * 784, 2)
assert st == 422 and b"image 1:" in b, (st, b)
st, _, b = infer(x + x, 2)
d = json.loads(b)
out = {o["name"]: o for o in d["outputs"]}
assert st == 200 and out["probabilities"]["shape"] == [2, 10] and len(out["probabilities"]["data"]) == 20
print("finite ok")
PY
[ "$(metric serflow_requests_answered_total 'outcome="refused"')" = 2 ] && ok || bad "refused outcome not counted"
accepted_is_answered nf
stop_serve nf

# 3. a worker whose answers are not its batch's: the ingress refuses them, functions answer
/usr/bin/python3 - "$tmp/fake.port" >"$tmp/fake.log" 2>&1 <<'PY' &
import http.server, itertools, struct, sys
import sfwire
modes = itertools.cycle(["stray id", "extra record", "missing record", "nan", "label 99",
                         "garbage", "wrong classes"])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.reply(200, b'{"status":"ready"}')
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ids = sfwire.input_ids(body)
        p = [0.1] * 10
        rec = [(i, 3, 0, 1, p) for i in ids]
        m = next(modes)
        if m == "stray id":
            rec[0] = (rec[0][0] ^ 1, 3, 0, 1, p)
        elif m == "extra record":
            rec.append((12345, 3, 0, 1, p))
        elif m == "missing record":
            rec = rec[1:] if len(rec) > 1 else [(99, 3, 0, 1, p)]
        elif m == "nan":
            rec[0] = (rec[0][0], 3, 0, 1, [float("nan")] * 10)
        elif m == "label 99":
            rec[0] = (rec[0][0], 99, 0, 1, p)
        if m == "garbage":
            out = b"SFRS" + b"\xff" * 40
        elif m == "wrong classes":
            out = sfwire.result_frame([(r[0], 3, 0, 1, [0.1] * 11) for r in rec], 11)
        else:
            out = sfwire.result_frame(rec)
        self.reply(200, out)
    def reply(self, st, b):
        self.send_response(st)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
fk=$!
pids+=("$fk")
for _ in $(seq 1 100); do [ -s "$tmp/fake.port" ] && break; sleep 0.1; done
start_serve fake --pool iaas --instances 1 --no-spill --tau 0.5 --worker-url "127.0.0.1:$(cat "$tmp/fake.port")" || { finish serve_frames; exit 1; }
for i in 1 2 3 4 5 6 7; do
    c=$(curl -s -o "$tmp/o$i" -w '%{http_code}' --max-time 20 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer")
    [ "$c" = 200 ] && grep -q "\"label\",\"datatype\":\"INT64\",\"shape\":\[1\],\"data\":\[$want\]" "$tmp/o$i" &&
        grep -q '"where","datatype":"BYTES","shape":\[1\],"data":\["function:' "$tmp/o$i" && ok ||
        bad "fake worker round $i: $c $(head -c 300 "$tmp/o$i")"
done
[ "$(metric serflow_frames_rejected_total 'path="instance"')" = 7 ] && ok ||
    bad "frames rejected: $(metric serflow_frames_rejected_total 'path="instance"')"
[ "$(metric serflow_batches_redispatched_total)" = 7 ] && ok || bad "not redispatched"
accepted_is_answered fake
stop_serve fake
kill "$fk"
finish serve_frames

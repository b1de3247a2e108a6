#!/usr/bin/env bash
# Integration test of `serflow load` against a server that answers 200 with nonsense (issue 16,
# defect 20): a label outside the classes, probabilities that are not numbers or do not fill
# their shape, a body that is not JSON are counted invalid, never ok; a bill that is not a finite
# number is no bill; a run with nothing valid back exits 1. Usage: load_answers.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

/usr/bin/python3 - "$tmp/fake.port" "$tmp/mode" >"$tmp/fake.log" 2>&1 <<'PY' &
import http.server, json, sys
port_file, mode_file = sys.argv[1:]
def answer(label, probs, shape=None, stage=1):
    return json.dumps({"outputs": [
        {"name": "label", "datatype": "INT64", "shape": [1], "data": [label]},
        {"name": "probabilities", "datatype": "FP32", "shape": shape or [1, len(probs)], "data": probs},
        {"name": "exit_stage", "datatype": "INT32", "shape": [1], "data": [stage]},
        {"name": "where", "datatype": "BYTES", "shape": [1], "data": ["function:1-1"]}]})
bad = [answer(-5, [0.1] * 10), answer(10, [0.1] * 10), answer(3, [0.1] * 9, [1, 10]),
       answer(3, [0.1] * 10, stage=0), answer(3, [2.0] * 10), "not json",
       answer(3, [0.1] * 10).replace("0.1", "NaN", 1)]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):  # /metrics with a bill that is not a number
        self.reply("serflow_bill_usd_total NaN\nserflow_requests_accepted_total 5\n")
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        mode = open(mode_file).read().strip()
        if mode == "good":
            body = answer(3, [0.1] * 10)
        else:
            body = bad[n[0] % len(bad)]
            n[0] += 1
        self.reply(body)
    def reply(self, body):
        b = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file, "w").write(str(s.server_port))
s.serve_forever()
PY
fk=$!
pids+=("$fk")
echo bad >"$tmp/mode"
for _ in $(seq 1 100); do [ -s "$tmp/fake.port" ] && break; sleep 0.1; done
furl="http://127.0.0.1:$(cat "$tmp/fake.port")"

expect "nonsense answers" 1 "$bin" load --url "$furl" --epochs 1 --rate-scale 0.05 --quiet --json
/usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "nonsense report: $(head -c 300 "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["requests"] >= 7 and d["ok"] == 0 and d["invalid"] == d["requests"], d
assert d["billed"] is False and d["cost_usd"] == 0, d
PY
echo good >"$tmp/mode"
expect "valid answers" 0 "$bin" load --url "$furl" --epochs 1 --rate-scale 0.05 --quiet --json
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['ok']==d['requests']>0 and d['invalid']==0, d" "$tmp/out" &&
    ok || bad "valid report: $(head -c 300 "$tmp/out")"
kill "$fk"
finish load_answers

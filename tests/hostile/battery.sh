#!/usr/bin/env bash
# The hostile battery of issue 16: every attack of the hostile pass at once, at scale, against a
# running hybrid deployment (ingress, two VM workers, the function runtime and its instances)
# while a load generator replays WITS, then SIGTERM under load. Run it on an ASan+UBSan build:
#   make asan && tests/hostile/battery.sh build-asan/serflow . [SECONDS]
# It checks: no sanitizer report in any process, accepted = answered, no connection closed
# without an answer, every attack refused as it should be, no process left, and the ingress's
# peak RSS against the formula of docs/security.md "Serving plane". Not in ctest (a minute).
set -u
bin=$1; src=$2; dur=${3:-30}
. "$(dirname "$0")/../integration/lib.bash"
make_requests
want=$(cut -d' ' -f1 "$tmp/labels.txt")
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
log() { echo "battery: $*" >&2; }

# --- the deployment under attack, and one with a worker that forges ids
start_serve main --pool hybrid --cut 3 --instances 2 --cold-start 0:0 --tau 0.5 --drain-grace-s 1 \
    --request-timeout-s 5 --idle-timeout-s 10 || { finish battery; exit 1; }
main_url=$url; main_pid=$spid
wait_metric serflow_instances 'state="ready"' 2 && ok || bad "main: workers not ready"
for i in $(seq 1 10); do curl -sf -o /dev/null -X POST --data-binary @"$tmp/one.json" "$main_url/v2/models/fmnist-ee/infer"; done
r0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$main_pid/status")
( peak=0; while kill -0 "$main_pid" 2>/dev/null; do
      v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$main_pid/status" 2>/dev/null)
      [ -n "$v" ] && [ "$v" -gt "$peak" ] && { peak=$v; echo "$peak" >"$tmp/rss.peak"; }
      sleep 0.1
  done ) &
pids+=($!)
lpid=$(child_of "$main_pid" lambda); lport=$(listen_port "$lpid")
wpid=$(child_of "$main_pid" worker); wport=$(listen_port "$wpid")
log "ingress $main_url (pid $main_pid, RSS $r0 kB serving), runtime :$lport, a worker :$wport"

# a worker that answers each batch with the ids of the batch before it (cross-request forgery)
/usr/bin/python3 - "$tmp/forger.port" >"$tmp/forger.log" 2>&1 <<'PY' &
import http.server, sys, threading
import sfwire
last = [[]]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.reply(b'{"status":"ready"}')
    def do_POST(self):
        ids = sfwire.input_ids(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            prev, last[0] = last[0], ids
        forged = (prev + [i ^ 0x1000000 for i in ids])[:len(ids)]  # another request's, or a guess
        self.reply(sfwire.result_frame([(i, 0, 0, 1, [1.0] + [0.0] * 9) for i in forged]))
    def reply(self, b):
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
pids+=($!)
for _ in $(seq 1 100); do [ -s "$tmp/forger.port" ] && break; sleep 0.1; done
start_serve forged --pool iaas --instances 1 --no-spill --tau 0.5 --worker-url "127.0.0.1:$(cat "$tmp/forger.port")" ||
    { finish battery; exit 1; }
forged_url=$url; forged_pid=$spid

# hand-started worker and runtime without identities: their decoders meet every mutation
"$bin" worker --model "$model" --port 0 --ready-fd 3 3>"$tmp/hw.ready" 2>"$tmp/hw.log" &
hw=$!; pids+=("$hw")
start_lambda hl --model "$model" --function fmnist-ee --tau 0.5 || { finish battery; exit 1; }
hl=$lpid; hlurl=$lurl
for _ in $(seq 1 300); do [ -s "$tmp/hw.ready" ] && break; sleep 0.1; done
hwurl="http://$(sed -n 's/^ready //p' "$tmp/hw.ready")"

# --- the legitimate load, running past the attacks into the SIGTERM
epochs=$(( (dur + 15) * 10 ))
"$bin" load --url "$main_url" --epochs "$epochs" --rate-scale 0.1 --quiet --json --timeout-s 30 \
    >"$tmp/load.json" 2>"$tmp/load.err" &
load=$!; pids+=("$load")

# --- the attacks, in parallel, for dur seconds
/usr/bin/python3 - "$main_url" "$dur" >"$tmp/a_slow.txt" 2>&1 <<'PY' &
# 520 slow connections from 127.0.0.2, headers or bodies trickled, reconnecting when cut
import socket, sys, time
url, dur = sys.argv[1], float(sys.argv[2])
host, port = url[len("http://"):].split(":")
t0, socks, opened, held_max = time.time(), [], 0, 0
def alive(s):
    s.settimeout(0)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
while time.time() - t0 < dur:
    socks = [s for s in socks if alive(s) or s.close()]
    held_max = max(held_max, len(socks))
    while len(socks) < 520:
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            s.sendall(b"POST /v2/models/fmnist-ee/infer HTTP/1.1\r\nHost: x\r\n" +
                      (b"Content-Length: 9000\r\n\r\n{" if opened % 2 else b"X-Slow: "))
        except OSError:
            s.close()
            break
        opened += 1
        socks.append(s)
    for s in socks:
        try:
            s.send(b"0")
        except OSError:
            pass
    time.sleep(0.5)
print("slow: %d opened, at most %d held at once" % (opened, held_max))
PY
a1=$!
/usr/bin/python3 - "$main_url" "$dur" "$tmp/zeros.json" >"$tmp/a_amp.txt" 2>&1 <<'PY' &
# amplification: rounds of 8 parallel bodies of 4 million JSON zeros
import sys, threading, time
import sfwire
url, dur, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write('{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[' + "0," * 4189999 + "0]}]}")
body = open(path, "rb").read()
codes = {}
def one():
    st, _, _ = sfwire.request(url + "/v2/models/fmnist-ee/infer", body=body, timeout=60)
    codes[st] = codes.get(st, 0) + 1
t0 = time.time()
while time.time() - t0 < dur:
    th = [threading.Thread(target=one) for _ in range(8)]
    [t.start() for t in th]
    [t.join() for t in th]
print("amplification:", codes)
assert set(codes) <= {413, 503}, codes
PY
a2=$!
/usr/bin/python3 - "http://127.0.0.1:$lport" "http://127.0.0.1:$wport" "$dur" "$model" >"$tmp/a_spoof.txt" 2>&1 <<'PY' &
# spoofed instances, forged results, unsigned invocations and batches against the deployment
import os, struct, sys, time
import sfwire
rt, w, dur, model = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
x = list(struct.unpack("<784f", open(model + "/golden_input.f32", "rb").read()[:3136]))
frame = sfwire.input_frame([1], x, [1, 28, 28])
t0, n, codes = time.time(), 0, {}
while time.time() - t0 < dur:
    p = "instance:%016x" % int.from_bytes(os.urandom(8), "big")
    tries = [("GET", rt + "/2018-06-01/runtime/invocation/next", None,
              sfwire.sign(os.urandom(32), p, "GET", "/2018-06-01/runtime/invocation/next")[0]),
             ("POST", rt + "/2018-06-01/runtime/invocation/%s/response" % os.urandom(16).hex(),
              sfwire.result_frame([(1, 0, 0, 1, [1.0] + [0.0] * 9)]), "instance:1 1 x y"),
             ("POST", rt + "/2015-03-31/functions/fmnist-ee/invocations", frame, None),
             ("POST", w + "/v1/batch", frame,
              sfwire.sign(os.urandom(32), "worker:1", "POST", "/v1/batch")[0])]
    for m, u, b, h in tries:
        st, _, _ = sfwire.request(u, body=b, headers={"X-Serflow-Auth": h} if h else {}, method=m,
                                  timeout=5)
        codes[st] = codes.get(st, 0) + 1
        n += 1
print("spoof: %d attempts, answers %s (0: refused while a killed process restarts)" % (n, codes))
assert set(codes) <= {0, 401, 403}, codes
PY
a3=$!
/usr/bin/python3 - "$hwurl" "$hlurl" "$dur" "$model" >"$tmp/a_frames.txt" 2>&1 <<'PY' &
# malformed frames: mutations of valid input, hidden-state and result frames, at the decoders
import json, os, random, struct, sys, time
import sfwire
w, rt, dur, model = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
x = list(struct.unpack("<784f", open(model + "/golden_input.f32", "rb").read()[:3136]))
good = sfwire.input_frame([1, 2], x + x, [1, 28, 28])
rng = random.Random(16)
def mutate(b):
    b = bytearray(b)
    k = rng.randrange(6)
    if k == 0:
        return bytes(b[:rng.randrange(len(b))])
    if k == 1:
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(min(len(b), 64))] = rng.randrange(256)
        return bytes(b)
    if k == 2:
        return sfwire.input_frame([5, 5], x + x, [1, 28, 28])
    if k == 3:
        d = [rng.randrange(1, 40) for _ in range(3)]
        n = d[0] * d[1] * d[2]
        return sfwire.input_frame([1], [0.5] * n, d)
    if k == 4:
        return b"SFHS" + os.urandom(rng.randrange(40, 400))
    return struct.pack("<4sHHIf3II", b"SFIB", 1, 3, 0xFFFFFFFF, 0.5, 1, 28, 28, 0)
t0, codes = time.time(), {}
while time.time() - t0 < dur:
    f = mutate(good)
    st, _, _ = sfwire.request(w + "/v1/batch", body=f, timeout=10)
    codes["worker %d" % st] = codes.get("worker %d" % st, 0) + 1
    st, h, b = sfwire.request(rt + "/2015-03-31/functions/fmnist-ee/invocations", body=f, timeout=30)
    k = "function %d%s" % (st, " " + json.loads(b)["errorType"] if h.get("X-Amz-Function-Error") else "")
    codes[k] = codes.get(k, 0) + 1
print("frames:", codes)
assert not [k for k in codes if k.startswith("worker 5") or "ExitError" in k], codes
PY
a4=$!
/usr/bin/python3 - "$forged_url" "$tmp/one.json" "$want" "$dur" >"$tmp/a_forged.txt" 2>&1 <<'PY' &
# clients of the deployment whose worker forges ids: every answer still the right one
import json, sys, time
import sfwire
url, req, want, dur = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3]), float(sys.argv[4])
t0, n = time.time(), 0
while time.time() - t0 < dur:
    st, _, b = sfwire.request(url + "/v2/models/fmnist-ee/infer", body=req, timeout=30)
    assert st == 200, (st, b)
    out = {o["name"]: o for o in json.loads(b)["outputs"]}
    assert out["label"]["data"] == [want] and out["where"]["data"][0].startswith("function"), out
    n += 1
print("forged ids: %d requests, every label right" % n)
PY
a5=$!
# supervision under attack: the function runtime and a worker killed once each
sleep $((dur / 2))
kill -KILL "$(child_of "$main_pid" lambda)" 2>/dev/null && log "killed the function runtime"
sleep 2
kill -KILL "$(child_of "$main_pid" worker)" 2>/dev/null && log "killed a worker"
for a in $a1 $a2 $a3 $a4 $a5; do wait "$a" && ok || bad "attack $a failed"; done
for f in "$tmp"/a_*.txt; do log "$(tail -n 1 "$f")"; done
grep -qE "at most ([0-9]{1,2}|[1-4][0-9]{2}|50[0-9]|51[0-2]) held" "$tmp/a_slow.txt" && ok ||
    bad "slow clients held more than their share: $(cat "$tmp/a_slow.txt")"

# --- SIGTERM under load
url=$forged_url
fr=$(metric serflow_frames_rejected_total 'path="instance"')
[ "${fr:-0}" -ge 1 ] && ok || bad "forged ids were not refused ($fr)"
stop_serve forged
url=$main_url; spid=$main_pid
log "SIGTERM to the ingress under load"
stop_serve main
wait "$load"
/usr/bin/python3 - "$tmp/load.json" >"$tmp/load.check" 2>&1 <<'PY' && ok || bad "load: $(cat "$tmp/load.check")"
import json, sys
d = json.load(open(sys.argv[1]))
print("load: %d requests, %d ok, %d x 503, %d x 5xx, %d refused after the stop, %d closed without an answer, %d invalid" %
      (d["requests"], d["ok"], d["status_503"], d["status_5xx"], d["refused"], d["conn_errors"], d["invalid"]))
assert d["conn_errors"] == 0 and d["invalid"] == 0 and d["status_4xx"] == 0, d
assert d["ok"] + d["status_503"] + d["status_5xx"] + d["refused"] == d["requests"], d
PY
log "$(head -1 "$tmp/load.check")"
grep -h 'drained and stopped' "$tmp/main.log" | sed 's/^/battery: /' >&2
stop_pid worker "$hw"
stop_pid lambda "$hl"

# --- sanitizers, memory
reports=$(cat "$tmp"/*.log "$tmp"/*.err 2>/dev/null | grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:')
[ "$reports" = 0 ] && ok || bad "$reports sanitizer reports: $(grep -hE -A5 'Sanitizer|runtime error' "$tmp"/*.log | head -20)"
peak=$(cat "$tmp/rss.peak" 2>/dev/null || echo 0)
# RSS <= R0 + B + C x 64 KiB + T x (8 numel + 1 KiB) + A x 1 MiB: B 256 MiB, C 1024, T 2000 + 2 x
# 100 x (64 + 8) + 256 slots, numel 784, A glibc's most arenas (8 a core) (docs/security.md); under
# ASan every byte has its shadow (1/8) and freed memory waits in the quarantine (256 MiB by default)
T=$((2000 + 2 * 100 * (64 + 8) + 256))
A=$((8 * $(nproc)))
formula=$((r0 + 262144 + 1024 * 64 + T * (8 * 784 + 1024) / 1024 + A * 1024))
ldd "$bin" | grep -q libasan && formula=$((formula + (formula - r0) / 8 + 262144))
log "ingress RSS: $((r0 / 1024)) MiB serving, peak $((peak / 1024)) MiB, bound $((formula / 1024)) MiB"
[ "$peak" -gt 0 ] && [ "$peak" -le "$formula" ] && ok || bad "peak RSS $peak kB above the bound $formula kB"
log "$reports sanitizer reports"
finish battery

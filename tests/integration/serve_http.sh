#!/usr/bin/env bash
# Integration test of the ingress's event-driven HTTP/1.1 data plane (issue 17) on loopback, with
# raw sockets where curl would hide the behaviour: pipelined requests answered in order on one
# connection, keep-alive across answers and refusals, HTTP/1.0, Expect: 100-continue, a head and a
# body trickled byte by byte, chunked bodies, a head over its cap (431), a malformed one (400 and
# the connection closed after its answer), the slowest reader giving way to a new client at the
# connection cap; and the same-process fast path (--inproc): the same answers as the worker
# process path, billed as a VM. Usage: serve_http.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
want=$(cut -d' ' -f1 "$tmp/labels.txt")

# the loops poll before they sleep (--spin-us: a cap of 50 us, half the default): every behaviour
# below holds with them too; the same binary header three times over takes the loop's kept parse
start_serve http --pool iaas --instances 1 --no-spill --cold-start 0:0 --tau 0.5 \
    --http-threads 2 --spin-us 50 || { finish serve_http; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "http: the worker is not ready"
/usr/bin/python3 - "$url" "$tmp/bin.body" "$(cat "$tmp/bin.hlen")" "$want" >"$tmp/raw.txt" 2>&1 <<'PY' && ok || bad "raw http: $(tail -5 "$tmp/raw.txt")"
import json, socket, sys, time
url, body_path, hlen, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = url[len("http://"):].split(":")
port = int(port)
body = open(body_path, "rb").read()
infer = (b"POST /v2/models/fmnist-ee/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: "
         + hlen.encode() + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

def conn():
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(10)
    return s

def read_answer(s, buf):
    """one answer from s (buf: bytes already read); returns (status, headers, body, rest)"""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        assert b, "closed before an answer's head: %r" % buf[:200]
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdrs = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}
    n = int(hdrs[b"content-length"])
    while len(rest) < n:
        b = s.recv(65536)
        assert b, "closed inside an answer's body"
        rest += b
    return status, hdrs, rest[:n], rest[n:]

def label_of(b):
    out = {o["name"]: o for o in json.loads(b)["outputs"]}
    return out["label"]["data"][0]

def closed(s):
    s.settimeout(3)
    try:
        return s.recv(1) == b""
    except OSError:
        return True

# 1. pipelined: three requests in one write, three answers in order on the same connection
s = conn()
s.sendall(infer + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n" + infer)
st1, _, b1, rest = read_answer(s, b"")
st2, _, b2, rest = read_answer(s, rest)
st3, _, b3, rest = read_answer(s, rest)
assert (st1, st2, st3) == (200, 200, 200), (st1, st2, st3)
assert label_of(b1) == want and b'"live":true' in b2 and label_of(b3) == want
# 2. keep-alive across a refusal by the handler (404) and an answer
s.sendall(b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
st, _, b, rest = read_answer(s, rest)
assert st == 404 and b"no such endpoint" in b, (st, b)
s.sendall(infer)
st, _, b, rest = read_answer(s, rest)
assert st == 200 and label_of(b) == want
# 3. a head and a body trickled byte by byte (well within the request deadline)
for i in range(0, len(infer), 97):
    s.sendall(infer[i:i + 97])
    time.sleep(0.001)
st, _, b, rest = read_answer(s, rest)
assert st == 200 and label_of(b) == want
s.close()
# 4. HTTP/1.0: answered, then closed
s = conn()
s.sendall(b"GET /v2/health/live HTTP/1.0\r\n\r\n")
st, h, b, rest = read_answer(s, b"")
assert st == 200 and h.get(b"connection") == b"close" and closed(s), (st, h)
# 5. Expect: 100-continue: the 100 first, the body after it, then the answer
s = conn()
s.sendall(infer[:infer.index(b"\r\n\r\n")] + b"\r\nExpect: 100-continue\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
assert buf.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), buf
s.sendall(body)
st, _, b, rest = read_answer(s, buf[len(b"HTTP/1.1 100 Continue\r\n\r\n"):])
assert st == 200 and label_of(b) == want
# 6. a chunked body
pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
chunked = b"".join(b"%x;x=y\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\nT: v\r\n\r\n"
s.sendall(b"POST /v2/models/fmnist-ee/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
          b"Inference-Header-Content-Length: " + hlen.encode() + b"\r\n\r\n" + chunked)
st, _, b, rest = read_answer(s, rest)
assert st == 200 and label_of(b) == want, (st, b)
s.close()
# 7. a head over 16 KiB: 431, closed after the answer
s = conn()
s.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
st, h, b, rest = read_answer(s, b"")
assert st == 431 and h.get(b"connection") == b"close" and closed(s), (st, h)
# 8. a malformed head: 400 with its reason, closed after the answer
s = conn()
s.sendall(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
st, h, b, rest = read_answer(s, b"")
assert st == 400 and b"header" in b and closed(s), (st, b)
print("raw http ok")
PY
accepted_is_answered http
# what the polling cost is on /metrics: a number of CPU seconds, at most the loops' time so far
v=$(metric serflow_http_poll_seconds_total)
awk -v v="$v" 'BEGIN { exit !(v != "" && v >= 0 && v < 2 * 300) }' && ok ||
    bad "http: serflow_http_poll_seconds_total '$v'"
stop_serve http

# 9. at the connection cap, the slowest reader gives way to a new client (loops that never poll)
start_serve cap --policy faas --tau 0.5 --max-connections 8 --max-connections-per-client 8 \
    --request-timeout-s 30 --idle-timeout-s 30 --spin-us 0 || { finish serve_http; exit 1; }
/usr/bin/python3 - "$url" >"$tmp/cap.txt" 2>&1 <<'PY' && ok || bad "cap: $(tail -3 "$tmp/cap.txt")"
import socket, sys, time
host, port = sys.argv[1][len("http://"):].split(":")
slow = []
for i in range(8):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect((host, int(port)))
    s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    slow.append(s)
time.sleep(1.5)  # past the age at which a reader may be evicted
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
r = b""
while b"\r\n\r\n" not in r:
    b = s.recv(4096)
    assert b, "the new client was refused at the cap"
    r += b
assert r.startswith(b"HTTP/1.1 200"), r[:100]
gone = 0
for x in slow:
    x.settimeout(0.5)
    try:
        gone += x.recv(1) == b""
    except socket.timeout:
        pass
    except OSError:
        gone += 1
assert gone == 1, "%d slow connections closed, expected the slowest one" % gone
print("cap ok")
PY
[ "$(metric serflow_http_poll_seconds_total)" = 0 ] && ok ||
    bad "cap: --spin-us 0 polled $(metric serflow_http_poll_seconds_total) s"
stop_serve cap

# 10. the same-process fast path: the same answers, the where of a VM, billed as a VM
start_serve inproc --pool iaas --instances 1 --no-spill --cold-start 0:0 --tau 0.5 --inproc ||
    { finish serve_http; exit 1; }
wait_metric serflow_instances 'state="ready"' 1 && ok || bad "inproc: the instance is not ready"
expect "inproc json" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
/usr/bin/python3 - "$tmp/out" "$want" <<'PY' && ok || bad "inproc answer: $(head -c 300 "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
out = {o["name"]: o for o in d["outputs"]}
assert out["label"]["data"] == [int(sys.argv[2])], out["label"]
assert out["where"]["data"][0] == "vm:1-%d" % out["exit_stage"]["data"][0], out["where"]
PY
expect "inproc two" 0 curl -sf -X POST --data-binary @"$tmp/two.json" "$url/v2/models/fmnist-ee/infer"
has out '"shape":\[2,10\]'
expect "inproc binary" 0 curl -sf -X POST -H "Inference-Header-Content-Length: $(cat "$tmp/bin.hlen")" \
    --data-binary @"$tmp/bin.body" "$url/v2/models/fmnist-ee/infer"
has out "\"label\",\"datatype\":\"INT64\",\"shape\":\[1\],\"data\":\[$want\]"
[ -z "$(child_of "$spid" worker)" ] && ok || bad "inproc: a worker process was started"
v=$(curl -s "$url/metrics" | awk '/^serflow_bill_vm_seconds_total/ { s += $2 } END { print s + 0 }')
awk -v v="$v" 'BEGIN { exit !(v >= 60) }' && ok || bad "inproc: VM seconds billed $v (the 60 s minimum)"
[ "$(metric serflow_requests_where_total 'where="vm"')" = 4 ] && ok || bad "inproc: where vm"
accepted_is_answered inproc
stop_serve inproc
# a hybrid path cannot run in-process: refused with the reason
"$bin" serve --port 0 --pool hybrid --cut 2 --inproc >"$tmp/hy.out" 2>"$tmp/hy.err"
[ $? = 2 ] && ok || bad "inproc hybrid: exit status"
has hy.err 'only whole-model \(IaaS\) instances run in-process'
finish serve_http

#!/usr/bin/env bash
# Integration test of bounded connections and memory (issue 16, class 4; defects 6, 7, 8, 15,
# 22): slow clients (headers or bodies trickled) from one address hold at most its share of the
# connections and for at most the whole-request deadline, while others are served; a body of
# millions of JSON values is refused before any tree is built (peak memory bounded); the function
# runtime refuses a payload over Lambda's cap from its Content-Length; a chunked body over the cap
# is answered 413, not reset; ambiguous framing (two Content-Length headers, Content-Length with
# Transfer-Encoding) is a 400. Usage: serve_memory.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
# under AddressSanitizer freed memory waits in a quarantine: the peaks are larger there
rss_factor=1
[ -n "${ASAN_OPTIONS:-}" ] && rss_factor=3

# 1. slowloris from 127.0.0.2: its share of the connections, for its deadline at most
start_serve slow --policy faas --tau 0.5 --max-connections 64 --max-connections-per-client 16 \
    --request-timeout-s 2 --idle-timeout-s 30 || { finish serve_memory; exit 1; }
/usr/bin/python3 - "$url" "$tmp/one.json" >"$tmp/slow.txt" 2>&1 <<'PY' && ok || bad "slowloris: $(tail -3 "$tmp/slow.txt")"
import socket, subprocess, sys, time
url, body = sys.argv[1], sys.argv[2]
host, port = url[len("http://"):].split(":")
socks = []
for i in range(100):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(5)
    s.connect((host, int(port)))
    if i % 2:  # headers that never end
        s.sendall(b"POST /v2/models/fmnist-ee/infer HTTP/1.1\r\nHost: x\r\nContent-Len")
    else:      # a body that trickles: never silent long enough for the idle timeout
        s.sendall(b"POST /v2/models/fmnist-ee/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
    socks.append(s)
time.sleep(0.3)
def closed(s):
    s.settimeout(0.2)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True
held = [s for s in socks if not closed(s)]
assert len(held) <= 16, "%d connections from one address" % len(held)
# others are served meanwhile
r = subprocess.run(["curl", "-sf", "--max-time", "10", "-X", "POST", "--data-binary", "@" + body,
                    url + "/v2/models/fmnist-ee/infer"], capture_output=True)
assert r.returncode == 0 and b'"label"' in r.stdout, r
# keep trickling past the 2 s whole-request deadline: every slow connection is closed by then
t0 = time.time()
while time.time() - t0 < 3.5 and held:
    for s in list(held):
        try:
            s.send(b"0")
        except OSError:
            held.remove(s)
    time.sleep(0.25)
left = [s for s in held if not closed(s)]
assert not left, "%d slow connections outlived the request deadline" % len(left)
print("slow clients ok")
PY
accepted_is_answered slow
stop_serve slow

# 2. amplification: 8 bodies of ~4 million JSON zeros at once, and ambiguous framing
start_serve amp --policy faas --tau 0.5 --max-body-bytes 8388608 || { finish serve_memory; exit 1; }
expect "warm" 0 curl -sf -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
before=$(rss_peak_kb "$spid")
/usr/bin/python3 - "$tmp/zeros.json" <<'PY'
import sys
n = 4190000  # 2 bytes a value: just under the 8 MiB body cap
with open(sys.argv[1], "w") as f:
    f.write('{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[')
    f.write("0," * (n - 1) + "0]}]}")
PY
cp=()
for i in 1 2 3 4 5 6 7 8; do
    curl -s -o "$tmp/z$i" -w '%{http_code}\n' --max-time 30 -X POST --data-binary @"$tmp/zeros.json" \
        "$url/v2/models/fmnist-ee/infer" >"$tmp/zc$i" &
    cp+=($!)
done
wait "${cp[@]}"
[ "$(cat "$tmp"/zc* | grep -c '^413$')" = 8 ] && ok || bad "zeros: $(cat "$tmp"/zc* | tr '\n' ' ')"
grep -q 'more than 204800 JSON values' "$tmp/z1" && ok || bad "zeros body: $(head -c 200 "$tmp/z1")"
after=$(rss_peak_kb "$spid")
# 8 bodies of 8 MiB buffered at once, no tree: the peak grows by about 64 MiB (it took 1.4 GB)
limit_kb=$(( (8 * 8192 * 2 + 65536) * rss_factor ))
[ $((after - before)) -le "$limit_kb" ] && ok || bad "zeros: peak RSS grew by $((after - before)) kB (limit $limit_kb)"
# a chunked body over the cap: 413 with its reason, not a reset
head -c 9000000 /dev/zero | tr '\0' ' ' >"$tmp/spaces"
c=$(curl -s -o "$tmp/chunk" -w '%{http_code}' --max-time 30 -H 'Transfer-Encoding: chunked' -X POST \
    --data-binary @"$tmp/spaces" "$url/v2/models/fmnist-ee/infer")
[ "$c" = 413 ] && ok || bad "chunked over the cap: $c"
has chunk 'larger than the 8388608-byte limit'
/usr/bin/python3 - "$url" >"$tmp/framing.txt" 2>&1 <<'PY' && ok || bad "framing: $(tail -3 "$tmp/framing.txt")"
import socket, sys
host, port = sys.argv[1][len("http://"):].split(":")
def raw(req):
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(req)
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        out += b
        if b"\r\n\r\n" in out:
            break
    s.close()
    return out
body = b'{"inputs":[]}'
for hdrs in (b"Content-Length: 13\r\nContent-Length: 13\r\n",
             b"Content-Length: 13\r\nContent-Length: 5\r\n",
             b"Content-Length: 13\r\nTransfer-Encoding: chunked\r\n",
             b"Transfer-Encoding: gzip\r\n"):
    r = raw(b"POST /v2/models/fmnist-ee/infer HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n" + body)
    assert r.startswith(b"HTTP/1.1 400"), (hdrs, r[:200])
print("framing ok")
PY
accepted_is_answered amp
stop_serve amp

# 3. the function runtime: a payload over Lambda's 6 MB cap is refused from its Content-Length
start_lambda big --model "$model" --function fmnist-ee || { finish serve_memory; exit 1; }
head -c 7000000 /dev/zero >"$tmp/seven"
before=$(rss_peak_kb "$lpid")
cp=()
for i in $(seq 1 24); do
    curl -s -o "$tmp/l$i" -w '%{http_code}\n' --max-time 30 -X POST --data-binary @"$tmp/seven" \
        "$lurl/2015-03-31/functions/fmnist-ee/invocations" >"$tmp/lc$i" &
    cp+=($!)
done
wait "${cp[@]}"
[ "$(cat "$tmp"/lc* | grep -c '^413$')" = 24 ] && ok || bad "lambda 7 MB: $(cat "$tmp"/lc* | tr '\n' ' ')"
grep -q 'RequestEntityTooLargeException\|smaller than' "$tmp/l1" && ok || bad "lambda 413 body: $(head -c 200 "$tmp/l1")"
after=$(rss_peak_kb "$lpid")
[ $((after - before)) -le $((32768 * rss_factor)) ] && ok || bad "lambda: peak RSS grew by $((after - before)) kB"
stop_pid lambda "$lpid"

# 4. a worker: a 64 MB body is refused from its Content-Length (its cap is a full batch's frame)
"$bin" worker --model "$model" --port 0 --ready-fd 3 3>"$tmp/w.ready" 2>"$tmp/w.log" &
hw=$!
pids+=("$hw")
for _ in $(seq 1 300); do [ -s "$tmp/w.ready" ] && break; sleep 0.1; done
wurl="http://$(sed -n 's/^ready //p' "$tmp/w.ready")"
head -c 67108864 /dev/zero | tr '\0' '0' >"$tmp/big64"
before=$(rss_peak_kb "$hw")
for path in /v1/batch /v2/models/fmnist-ee/infer; do
    c=$(curl -s -o "$tmp/wb" -w '%{http_code}' --max-time 30 -X POST --data-binary @"$tmp/big64" "$wurl$path")
    [ "$c" = 413 ] && ok || bad "worker $path with 64 MB: $c"
done
after=$(rss_peak_kb "$hw")
[ $((after - before)) -le $((32768 * rss_factor)) ] && ok || bad "worker: peak RSS grew by $((after - before)) kB (1.36 GB before)"
stop_pid w "$hw"
finish serve_memory

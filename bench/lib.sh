# lib.sh - what bench_serve.sh and http_layers.sh share (sourced, not run): a free loopback port,
# the OIP v2 binary-extension request they time, and wrk's report read into figures.

# free_port -> a port nothing listens on now (for nginx, which cannot report an ephemeral one)
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# oip_request DIR: DIR/body.bin (a JSON header and one 28x28 FP32 image), DIR/hlen (the header's
# length) and DIR/post.lua (wrk posting it)
oip_request() {
    /usr/bin/python3 - "$1" <<'PY'
import json, random, struct, sys
d = sys.argv[1]
x = struct.pack("<784f", *[random.Random(i).uniform(-1, 1) for i in range(784)])
hdr = json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                  "parameters": {"binary_data_size": 3136}}]}).encode()
open(d + "/body.bin", "wb").write(hdr + x)
open(d + "/hlen", "w").write(str(len(hdr)))
PY
    cat >"$1/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$1/body.bin", "rb")
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "$(cat "$1/hlen")"
LUA
}

# wrk_figures REPORT WHO -> "rps mean_latency_ms p99_ms socket_errors" of a `wrk --latency` report
# (exits naming WHO when it cannot be read, or when an answer was not 2xx)
wrk_figures() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v):
    n, u = float(re.match(r"([\d.]+)", v).group(1)), re.search(r"(us|ms|s)$", v).group(1)
    return n / 1000 if u == "us" else n if u == "ms" else n * 1000
try:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    lat = ms(re.search(r"Latency\s+(\S+)", t).group(1))
    # the distribution's own line: "99%" also ends a "+/- Stdev" figure such as 86.99%
    p99 = ms(re.search(r"^\s*99%\s+(\S+)", t, re.M).group(1))
except (AttributeError, ValueError):
    sys.exit("%s: cannot read wrk's report:\n%s" % (sys.argv[2], t))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
assert not errs, "non-2xx answers: " + errs.group(1)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
print("%.1f %.3f %.3f %d" % (rps, lat, p99, sum(map(int, sock.groups())) if sock else 0))
PY
}

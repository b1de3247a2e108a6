# lib.bash - helpers shared by the integration tests (sourced, not run). They start real serflow
# processes on 127.0.0.1 (port 0: the kernel picks free ports), talk to them with real clients
# (curl, aws, boto3, promtool), and stop every process they started. Each script sets bin and
# src, sources this, and ends with `finish NAME`.
sf_integration_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$sf_integration_dir/../cli/lib.bash"
model="$src/models/fmnist-ee"
pids=()     # every process a test started, stopped on exit
children=() # their descendants seen while running, checked gone at the end
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${children[@]}"; do kill -KILL "$p" 2>/dev/null; done
    # SF_KEEP_TMP=DIR keeps a failed test's files (logs of every process) for a post-mortem
    if [ "${fail:-0}" -gt 0 ] && [ -n "${SF_KEEP_TMP:-}" ]; then
        mkdir -p "$SF_KEEP_TMP" && cp -r "$tmp" "$SF_KEEP_TMP/" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# start_serve NAME ARGS...: runs `serflow serve --port 0 ARGS` in the background (a short drain
# grace unless ARGS give one), waits (bounded) for its "listening on http://HOST:PORT" line;
# sets url and spid.
start_serve() {
    local name=$1
    shift
    "$bin" serve --port 0 --drain-grace-s 0.2 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" &
    spid=$!
    pids+=("$spid")
    url=""
    for _ in $(seq 1 300); do
        url=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$tmp/$name.log" | head -1 | sed 's/listening on //')
        [ -n "$url" ] && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || { bad "$name: serve did not start: $(tail -3 "$tmp/$name.log")"; return 1; }
}

# descendants PID: every process below PID (children, grandchildren)
descendants() {
    local p
    for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done
}
remember_children() { children+=($(descendants "$1")); }

# stop_serve NAME: SIGTERM, wait (bounded) for exit 0 and the drain line; every descendant gone.
stop_serve() {
    local name=$1 rc
    remember_children "$spid"
    kill -TERM "$spid"
    for _ in $(seq 1 200); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$spid" 2>/dev/null; then
        bad "$name: serve still running 20 s after SIGTERM"
        kill -KILL "$spid"
    fi
    wait "$spid"; rc=$?
    [ "$rc" -eq 0 ] && ok || bad "$name: serve exited $rc after SIGTERM: $(tail -3 "$tmp/$name.log")"
    grep -qE 'drained and stopped: ([0-9]+) requests accepted, \1 answered' "$tmp/$name.log" && ok ||
        bad "$name: accepted != answered at exit: $(tail -1 "$tmp/$name.log")"
    no_children "$name"
    no_sanitizer_reports "$name"
}

# no_sanitizer_reports NAME: the log of NAME (its children write there too) holds no report of
# AddressSanitizer, LeakSanitizer or UBSan (the ASan+UBSan build of make check)
no_sanitizer_reports() {
    ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/$1.log" 2>/dev/null && ok ||
        bad "$1: sanitizer report: $(grep -m1 -A4 -E 'Sanitizer|runtime error' "$tmp/$1.log")"
}

# no_children NAME: none of the descendants seen is still alive (bounded wait for reaping).
no_children() {
    local left p
    for _ in $(seq 1 50); do
        left=""
        for p in "${children[@]}"; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ] && ok || bad "$1: child processes left:$left ($(ps -o pid,args -p ${left// /,} | tail -n +2))"
}

# metric NAME [LABELS]: one sample of the ingress's /metrics (empty when absent)
metric() {
    curl -s --max-time 5 "$url/metrics" | awk -v n="$1" -v l="${2:-}" '
        $1 == (l == "" ? n : n "{" l "}") { print $2; exit }'
}

# answered: every answer of the ingress, whatever its outcome (ok, failed, refused, deadline)
answered() {
    local t=0 v o
    for o in ok failed refused deadline; do
        v=$(metric serflow_requests_answered_total "outcome=\"$o\"")
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# accepted_is_answered NAME: the ingress's invariant, from /metrics
accepted_is_answered() {
    local a n
    a=$(metric serflow_requests_accepted_total)
    n=$(answered)
    [ -n "$a" ] && [ "$a" = "$n" ] && ok || bad "$1: accepted $a != answered $n"
}

# wait_metric NAME LABELS MIN: waits (bounded, 30 s) until the sample is >= MIN
wait_metric() {
    local v
    for _ in $(seq 1 300); do
        v=$(metric "$1" "$2")
        [ -n "$v" ] && awk -v v="$v" -v m="$3" 'BEGIN { exit !(v >= m) }' && return 0
        sleep 0.1
    done
    return 1
}

# Requests built from the bundled golden input (16 images; labels from golden_logits).
make_requests() {
    /usr/bin/python3 - "$model" "$tmp" <<'PY'
import json, struct, sys
model, tmp = sys.argv[1], sys.argv[2]
raw = open(model + "/golden_input.f32", "rb").read()
x = struct.unpack("<%df" % (len(raw) // 4), raw)
lg = open(model + "/golden_logits.f32", "rb").read()
logits = struct.unpack("<%df" % (len(lg) // 4), lg)
import math
n = len(x) // 784
k = len(logits) // n  # stages x 10 classes per image
def exit_label(i, tau):
    """the early-exit rule: the first classifier whose softmax maximum reaches tau, else the most
    confident one"""
    best = (-1.0, -1, 0)
    for s in range(k // 10):
        z = logits[i * k + 10 * s:i * k + 10 * s + 10]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        p = [v / sum(e) for v in e]
        c = max(range(10), key=lambda j: p[j])
        if p[c] >= tau:
            return c, s + 1
        if p[c] > best[0]:
            best = (p[c], c, s + 1)
    return best[1], k // 10
labels = [exit_label(i, 0.5)[0] for i in range(n)]
def req(i, shape=None, dtype="FP32", data=None):
    return {"id": "r%d" % i, "inputs": [{"name": "input", "shape": shape or [1, 1, 28, 28],
            "datatype": dtype, "data": data if data is not None else list(x[i * 784:(i + 1) * 784])}]}
json.dump(req(0), open(tmp + "/one.json", "w"))
json.dump({"id": "two", "inputs": [{"name": "input", "shape": [2, 784], "datatype": "FP32",
           "data": list(x[:2 * 784])}]}, open(tmp + "/two.json", "w"))
json.dump(req(0, dtype="INT8"), open(tmp + "/dtype.json", "w"))
json.dump(req(0, shape=[1, 1, 27, 28]), open(tmp + "/shape.json", "w"))
open(tmp + "/labels.txt", "w").write(" ".join(map(str, labels)))
hdr = json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                  "parameters": {"binary_data_size": 3136}}]}).encode()
open(tmp + "/bin.body", "wb").write(hdr + raw[:3136])
open(tmp + "/bin.hlen", "w").write(str(len(hdr)))
PY
}

# start_lambda NAME ARGS...: `serflow lambda ARGS --port 0 --ready-fd 3`, waits for its readiness
# line; sets lurl and lpid.
start_lambda() {
    local name=$1 ep=""
    shift
    "$bin" lambda --port 0 --ready-fd 3 "$@" 3>"$tmp/$name.ready" 2>"$tmp/$name.log" &
    lpid=$!
    pids+=("$lpid")
    for _ in $(seq 1 300); do
        ep=$(sed -n 's/^ready //p' "$tmp/$name.ready")
        [ -n "$ep" ] && break
        kill -0 "$lpid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$ep" ] || { bad "$name: lambda did not start: $(tail -3 "$tmp/$name.log")"; return 1; }
    lurl="http://$ep"
}

# stop_pid NAME PID: SIGTERM, bounded wait, exit 0, descendants gone
stop_pid() {
    local name=$1 pid=$2 rc
    remember_children "$pid"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { bad "$name: still running 10 s after SIGTERM"; kill -KILL "$pid"; }
    wait "$pid"; rc=$?
    [ "$rc" -eq 0 ] && ok || bad "$name: exited $rc after SIGTERM"
    no_children "$name"
    no_sanitizer_reports "$name"
}

# listen_port PID: the TCP port PID listens on (read from /proc; empty when none)
listen_port() {
    /usr/bin/python3 - "$1" <<'PY'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        t = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    f = line.split()
    if f[3] == "0A" and f[9] in inodes:
        print(int(f[1].split(":")[1], 16))
        break
PY
}

# child_of PID WORD: the first descendant of PID running `serflow WORD` (empty when none)
child_of() {
    local p
    for p in $(descendants "$1"); do
        ps -o args= -p "$p" 2>/dev/null | grep -q " $2 " && { echo "$p"; return; }
    done
}

# wait_child PID WORD: waits (bounded, 30 s) for such a descendant and prints it
wait_child() {
    local c
    for _ in $(seq 1 300); do
        c=$(child_of "$1" "$2")
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.1
    done
    return 1
}

# rss_peak_kb PID: the process's peak resident set (VmHWM) in kB
rss_peak_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# the signing scheme of include/serflow/auth.h, written again in Python: the tests check the
# processes against an independent implementation of the documented scheme
export PYTHONPATH="$sf_integration_dir${PYTHONPATH:+:$PYTHONPATH}"

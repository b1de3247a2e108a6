#!/usr/bin/env bash
# http_layers.sh - issue 17: which HTTP layer should the ingress stand on? Measured, on loopback,
# with the request the ingress serves and the way it answers it.
#
# Four tiny servers (bench/http_layers/*.c, one per layer) answer POST /v2/models/m/infer, an OIP
# v2 binary-extension request of ~3.3 KB (a JSON header and one 28x28 FP32 image, as
# bench_serve.sh sends), with the same fixed 163-byte answer, on 2 event-loop threads, HTTP/1.1
# keep-alive:
#   ev      serflow's own event-driven layer (src/serve/wire/ev.c), the one `serflow serve` runs
#   mhd     libmicrohttpd, epoll, a thread pool (suspend/resume for the deferred answer)
#   h2o     libh2o-evloop, one evloop per thread (the context's zero_timeout for the deferred answer)
#   levent  libevent's evhttp, one event_base per thread (event_active for the deferred answer)
# and nginx answers the same bytes with `return 200` (2 worker processes, access_log off): the
# reference every figure is a ratio against, as in bench_serve.sh.
#
# Why both modes: the ingress never answers in its handler. It admits the request, and the answer
# is written later, by whoever finishes the request's batch (the loop's round hook, a dispatcher,
# a worker's answer). A layer is only as good as its deferred answer, so each server runs twice:
# async (the handler hands the request off and returns; the answer is sent after it, by the
# library's own mechanism for that) and sync (--sync: answered in the handler, each library's best
# case). Their ratio is what deferring costs on that layer.
#
# wrk (one thread) runs at 1 connection (latency) and 32 (throughput) for BENCH_SECONDS each; wrk
# shares the machine's cores with the server under test, alike for all. The runs are interleaved:
# BENCH_ROUNDS rounds over every server, the order reversed in every other round, so that drift on
# a shared machine hits all alike; the table has the means over the rounds and the rounds' spread
# of requests/s ((max - min) / mean).
#
# Usage: bench/http_layers.sh [BUILD_DIR]   (default build; the servers are built there first with
#   cmake --build BUILD_DIR --target http_layers
# which needs libh2o-evloop-dev and libevent-dev, and nginx-light, wrk and curl to run: all
# installed by scripts/install-deps.sh --tools)
# Environment: BENCH_SECONDS (10) per run, BENCH_ROUNDS (2), HTTP_THREADS (2) event loops per
# server and nginx workers, HTTP_LAYERS ("ev mhd h2o levent") the servers to time.
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
duration=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-2}
threads=${HTTP_THREADS:-2}
read -r -a layers <<<"${HTTP_LAYERS:-ev mhd h2o levent}"
for t in nginx wrk curl /usr/bin/python3; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] ||
        { echo "http_layers: $t missing (scripts/install-deps.sh --tools)" >&2; exit 1; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -d "$build" ] || { echo "http_layers: no build directory $build" >&2; exit 1; }
bdir=$(cd "$build" && pwd)/http_layers
for l in "${layers[@]}"; do
    if [ ! -x "$bdir/${l}_srv" ]; then
        echo "http_layers: $bdir/${l}_srv missing; build the servers first:" >&2
        echo "  scripts/install-deps.sh --tools   # libh2o-evloop-dev, libevent-dev, nginx, wrk" >&2
        echo "  cmake -S $src -B $build && cmake --build $build --target http_layers" >&2
        echo "(h2o_srv and levent_srv are configured only when pkg-config finds their library;" >&2
        echo " HTTP_LAYERS=\"ev mhd\" times the others)" >&2
        exit 1
    fi
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    # bounded: 3 s for everything to stop by itself, then killed
    for _ in $(seq 1 30); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# The answer every server gives (the bytes of bench/http_layers/*.c; the check below compares).
answer='{"model_name":"m","model_version":"1","id":"5f1c2a9e8b7d4c3a","outputs":[{"name":"class","shape":[1],"datatype":"INT64","data":[3]}],"parameters":{"exit_stage":2}}'
path=/v2/models/m/infer

# ---- the request: the OIP v2 binary extension, a JSON header and 3136 bytes of FP32 ----
oip_request "$tmp"
hlen=$(cat "$tmp/hlen")

# ---- the servers: every layer in both modes, and nginx ----
# readiness line on the child's stdout -> HOST:PORT (bounded; a child that died says why)
wait_ready() {
    for _ in $(seq 1 100); do
        ep=$(sed -n 's/^ready //p' "$1.out" 2>/dev/null)
        [ -n "$ep" ] && { echo "$ep"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "http_layers: $1: no readiness line" >&2
    cat "$1.err" >&2 || true
    return 1
}
targets=() # name mode endpoint
for l in "${layers[@]}"; do
    for mode in async sync; do
        flag=()
        [ "$mode" = sync ] && flag=(--sync)
        "$bdir/${l}_srv" --threads "$threads" "${flag[@]}" 0 >"$tmp/$l-$mode.out" 2>"$tmp/$l-$mode.err" &
        pids+=($!)
        ep=$(wait_ready "$tmp/$l-$mode" $!)
        targets+=("$l $mode $ep")
    done
done
mkdir -p "$tmp/nginx"
# nginx cannot report an ephemeral port: pick a free one first
nport=$(free_port)
cat >"$tmp/nginx.conf" <<EOF
worker_processes $threads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx;
    proxy_temp_path $tmp/nginx;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nport;
        default_type application/json;
        location = $path {
            if (\$request_method != POST) { return 404 '{"error":"no such endpoint"}'; }
            return 200 '$answer';
        }
        location / { return 404 '{"error":"no such endpoint"}'; }
    }
}
EOF
"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp/nginx" -g 'daemon off;' 2>"$tmp/nginx/stderr" &
pids+=($!)
targets=("nginx - 127.0.0.1:$nport" "${targets[@]}")

# ---- every answer checked once before timing: 200 and the body; 404 elsewhere ----
for t in "${targets[@]}"; do
    read -r name mode ep <<<"$t"
    got=""
    for _ in $(seq 1 50); do # nginx has no readiness line: a few tries
        got=$(curl -s -m 5 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
            -H "Inference-Header-Content-Length: $hlen" --data-binary @"$tmp/body.bin" \
            -w '\n%{http_code}' "http://$ep$path") && break
        sleep 0.1
    done
    miss=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$ep/v2/models/other/infer" || true)
    if [ "$got" != "$answer"$'\n200' ] || [ "$miss" != 404 ]; then
        echo "http_layers: $name $mode at $ep answers wrongly: '$got' (elsewhere: $miss)" >&2
        exit 1
    fi
done

# wrk_run URL CONNECTIONS -> "rps mean_latency_ms p99_ms socket_errors"
wrk_run() {
    wrk -t1 -c"$2" -d"${duration}s" --latency -s "$tmp/post.lua" "$1$path" >"$tmp/wrk.txt"
    wrk_figures "$tmp/wrk.txt" http_layers
}

echo "== HTTP layers on loopback: POST $path (~3.3 KB body, 163-byte answer), $threads event loops" \
    "each, wrk -t1, ${duration} s per run, $rounds rounds"
echo "   $(nproc) cores; libmicrohttpd $(pkg-config --modversion libmicrohttpd 2>/dev/null || echo ?)," \
    "h2o $(dpkg-query -W -f='${Version}' libh2o-evloop-dev 2>/dev/null || echo ?)," \
    "libevent $(pkg-config --modversion libevent 2>/dev/null || echo ?)," \
    "$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'); serflow $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo ?)"
n=${#targets[@]}
for r in $(seq 1 "$rounds"); do
    for c in 1 32; do
        for k in $(seq 0 $((n - 1))); do
            i=$k
            [ $((r % 2)) = 0 ] && i=$((n - 1 - k)) # every other round backwards
            read -r name mode ep <<<"${targets[$i]}"
            res=$(wrk_run "http://$ep" "$c")
            echo "$name $mode $c $r $res" >>"$tmp/results.txt"
            printf '   round %d c=%-2s %-6s %-5s %s\n' "$r" "$c" "$name" "$mode" "$res" >&2
        done
    done
done

/usr/bin/python3 - "$tmp/results.txt" "${layers[@]}" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
layers = sys.argv[2:]
def runs(name, mode, c):
    return [list(map(float, r[4:8])) for r in rows if r[0] == name and r[1] == mode and r[2] == c]
def mean(v, i):
    return sum(x[i] for x in v) / len(v)
print("%-7s %-5s %5s %12s %10s %10s %9s %8s" % ("layer", "mode", "conns", "requests/s", "mean ms",
                                               "p99 ms", "vs nginx", "spread"))
order = [("nginx", "-")] + [(l, m) for l in layers for m in ("async", "sync")]
rps = {}
for c in ("1", "32"):
    ref = mean(runs("nginx", "-", c), 0)
    for name, mode in order:
        v = runs(name, mode, c)
        r = mean(v, 0)
        rps[name, mode, c] = r
        spread = (max(x[0] for x in v) - min(x[0] for x in v)) / r if r else 0
        errs = sum(x[3] for x in v)
        print("%-7s %-5s %5s %12.0f %10.3f %10.3f %9.2f %7.1f%%%s"
              % (name, mode, c, r, mean(v, 1), mean(v, 2), r / ref, 100 * spread,
                 "  (%d socket errors)" % errs if errs else ""))
print("deferring's cost, async / sync requests/s: " + "; ".join(
    "%s c1 %.2f c32 %.2f" % (l, rps[l, "async", "1"] / rps[l, "sync", "1"],
                             rps[l, "async", "32"] / rps[l, "sync", "32"]) for l in layers))
PY

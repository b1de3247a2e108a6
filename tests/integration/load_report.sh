#!/usr/bin/env bash
# Integration test of what `serflow load` reports (issue 19): this run's figures, from the
# server's metrics read before and after it (a second run against the same server reports its own
# requests and bill, the server's totals apart), and a clear failure, exit 1, when it cannot reach
# the server at all. Usage: load_report.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

# a port nobody listens on: bind one, note it, close it
dead=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect "dead port" 1 "$bin" load --url "http://127.0.0.1:$dead" --epochs 5 --quiet
grep -q "cannot reach" "$tmp/err" && ok || bad "dead port: no clear error: $(cat "$tmp/err")"

start_serve report --policy faas --tau 0.5 || { finish load_report; exit 1; }
for run in 1 2; do
    "$bin" load --url "$url" --epochs 20 --rate-scale 0.05 --quiet --json >"$tmp/run$run.json" \
        2>"$tmp/run$run.err" && ok || bad "run $run: $(tail -2 "$tmp/run$run.err")"
done
/usr/bin/python3 - "$tmp/run1.json" "$tmp/run2.json" <<'PY' && ok || bad "per-run figures"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for r in (a, b):  # each run's own requests, answered and billed
    assert r["server_accepted"] == r["requests"] == r["ok"] > 0, r
    assert r["billed"] and r["cost_usd"] > 0 and r["invocations"] > 0, r
# the server's totals grow across the runs; the second run does not report the first one's
assert b["server_totals"]["accepted"] == a["requests"] + b["requests"], (a, b)
assert abs(b["server_totals"]["cost_usd"] - (a["cost_usd"] + b["cost_usd"])) <= 1e-9 * max(1, b["server_totals"]["cost_usd"]), (a, b)
PY
accepted_is_answered report
stop_serve report
finish load_report

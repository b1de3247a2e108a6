#!/usr/bin/env bash
# A real Prometheus (issue 20) on loopback scrapes serve and its function runtime every second
# with the rules of deploy/prometheus/serflow-alerts.yml: rate() of every counter of both is
# defined (0 for the request counters) from the first scrapes, before any request; after a few
# requests, Prometheus stored them, every rule evaluates without error and no alert fires, and
# every query of deploy/grafana/serflow-dashboard.json answers (prometheus_check.py). Everything
# started is stopped. Usage: prometheus_scrape.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
make_requests
start_lambda rt --model "$model" --function fmnist-ee || { finish prometheus_scrape; exit 1; }
start_serve ingress --lambda-url "$lurl" --policy faas --tau 0.5 || { finish prometheus_scrape; exit 1; }
curl -sf --max-time 5 "$url/metrics" >"$tmp/serve.txt" && ok || bad "serve /metrics"
curl -sf --max-time 5 "$lurl/metrics" >"$tmp/lambda.txt" && ok || bad "lambda /metrics"
# deploy/prometheus/prometheus.yml with this run's ports and a 1 s scrape and evaluation
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $src/deploy/prometheus/serflow-alerts.yml
scrape_configs:
  - job_name: serflow
    static_configs:
      - targets: ["${url#http://}"]
  - job_name: serflow-lambda
    static_configs:
      - targets: ["${lurl#http://}"]
YML
promtool check config "$tmp/prometheus.yml" >"$tmp/pc.txt" 2>&1 && ok || bad "promtool check config: $(cat "$tmp/pc.txt")"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address=127.0.0.1:0 --log.level=warn >"$tmp/prom.out" 2>"$tmp/prom.log" &
prom_pid=$!
pids+=("$prom_pid")
prom=""
for _ in $(seq 1 300); do
    port=$(listen_port "$prom_pid")
    [ -n "$port" ] && curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$port/-/ready" && { prom="http://127.0.0.1:$port"; break; }
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$prom" ] && ok || bad "prometheus did not start: $(tail -3 "$tmp/prom.log")"
check=$src/tests/integration/prometheus_check.py
if [ -n "$prom" ]; then
    /usr/bin/python3 "$check" idle "$prom" "$tmp/serve.txt" "$tmp/lambda.txt" >"$tmp/idle.txt" 2>&1 &&
        ok || bad "idle: $(cat "$tmp/idle.txt")"
    head -1 "$tmp/idle.txt"
    n=5
    for i in $(seq 1 $n); do
        expect "request $i" 0 curl -sf --max-time 20 -X POST --data-binary @"$tmp/one.json" "$url/v2/models/fmnist-ee/infer"
    done
    /usr/bin/python3 "$check" load "$prom" "$tmp/serve.txt" "$tmp/lambda.txt" "$n" \
        "$src/deploy/grafana/serflow-dashboard.json" "$src/deploy/prometheus/serflow-alerts.yml" \
        >"$tmp/load.txt" 2>&1 && ok || bad "load: $(cat "$tmp/load.txt")"
    head -1 "$tmp/load.txt"
fi
stop_pid prom "$prom_pid"
stop_serve ingress
stop_pid rt "$lpid"
finish prometheus_scrape

#!/usr/bin/env bash
# The deployment files of deploy/ against a running serve and its function runtime (issue 20):
# every metric and exact label value that an expression of deploy/prometheus/serflow-alerts.yml
# or of deploy/grafana/serflow-dashboard.json selects is on their /metrics from the start (before
# any request), every metric an alert's annotations or a panel's description names exists and
# the annotations name what the alert reads (deploy_names.py). Usage: deploy_names.sh BIN SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
# the deployment of deploy/prometheus/prometheus.yml: a runtime of its own, the ingress on it
start_lambda rt --model "$model" --function fmnist-ee || { finish deploy_names; exit 1; }
start_serve ingress --lambda-url "$lurl" --policy faas --tau 0.5 || { finish deploy_names; exit 1; }
curl -sf --max-time 5 "$url/metrics" >"$tmp/serve.txt" && ok || bad "serve /metrics"
curl -sf --max-time 5 "$lurl/metrics" >"$tmp/lambda.txt" && ok || bad "lambda /metrics"
/usr/bin/python3 "$src/tests/integration/deploy_names.py" "$src/deploy/prometheus/serflow-alerts.yml" \
    "$src/deploy/grafana/serflow-dashboard.json" "$tmp/serve.txt" "$tmp/lambda.txt" >"$tmp/names.txt" 2>&1 &&
    ok || bad "deploy_names.py: $(cat "$tmp/names.txt")"
tail -1 "$tmp/names.txt"
stop_serve ingress
stop_pid rt "$lpid"
finish deploy_names

#!/usr/bin/env bash
# aws-package.sh - what deploy/aws/serflow.yaml fetches from S3 (make aws-package):
#   OUT/serflow-function.zip    the Lambda function: bootstrap (custom runtime entry point),
#                               bin/serflow, lib/ (its shared libraries and the loader), model/
#   OUT/serflow-worker.tar.gz   the workers and the ingress host: the same bin/, lib/, model/,
#                               bin/serflow-run, systemd/ units, user-data.sh
# The binary is built on Debian and runs on Lambda's Amazon Linux and on any x86_64 AMI because
# it travels with its libraries and its own glibc loader (Amazon Linux 2023 has an older glibc).
# Usage: scripts/aws-package.sh [BUILD_DIR [OUT_DIR [MODEL_DIR]]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=${2:-$build/aws}
model=${3:-$root/models/fmnist-ee}
bin=$build/serflow
[ -x "$bin" ] || { echo "aws-package: $bin is not built (make build)" >&2; exit 2; }
[ -f "$model/model.json" ] || { echo "aws-package: no model.json in $model" >&2; exit 2; }
command -v zip >/dev/null || { echo "aws-package: zip is missing (scripts/install-deps.sh)" >&2; exit 2; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
mkdir -p "$pkg/bin" "$pkg/lib" "$pkg/model" "$out"
cp "$bin" "$pkg/bin/serflow"
# every library the binary loads, and the loader itself
ldd "$bin" | awk '/=> \// {print $3} /^[[:space:]]*\/.*ld-linux/ {print $1}' | sort -u |
  while read -r so; do cp -L "$so" "$pkg/lib/"; done
loader=$(cd "$pkg/lib" && ls ld-linux-*.so.* | head -1)
[ -n "$loader" ] || { echo "aws-package: no ld-linux loader found by ldd" >&2; exit 1; }
cp "$model"/model.json "$model"/*.onnx "$pkg/model/"

# Lambda: the bootstrap is a two-line exec wrapper (provided.al2023 has /bin/sh)
fn=$stage/fn
cp -r "$pkg" "$fn"
cat >"$fn/bootstrap" <<SH
#!/bin/sh
# Lambda custom runtime entry point: serflow function, with its own libraries and loader.
exec "\$LAMBDA_TASK_ROOT/lib/$loader" --library-path "\$LAMBDA_TASK_ROOT/lib" \\
  "\$LAMBDA_TASK_ROOT/bin/serflow" function --model "\${SERFLOW_MODEL_DIR:-\$LAMBDA_TASK_ROOT/model}" \\
  --tau "\${SERFLOW_TAU:-1}"
SH
chmod 0755 "$fn/bootstrap" "$fn/bin/serflow"
rm -f "$out/serflow-function.zip"
(cd "$fn" && zip -q -r -X "$out/serflow-function.zip" bootstrap bin lib model)

# workers and ingress: serflow-run is the same wrapper for systemd
wk=$stage/worker
cp -r "$pkg" "$wk"
cat >"$wk/bin/serflow-run" <<SH
#!/bin/sh
# serflow with its own libraries and loader (units in systemd/ run it).
exec /opt/serflow/lib/$loader --library-path /opt/serflow/lib /opt/serflow/bin/serflow "\$@"
SH
chmod 0755 "$wk/bin/serflow-run"
mkdir -p "$wk/systemd"
cp "$root/deploy/aws/serflow-worker.service" "$root/deploy/aws/serflow-ingress.service" "$wk/systemd/"
install -m 0755 "$root/deploy/aws/user-data.sh" "$wk/user-data.sh"
tar -czf "$out/serflow-worker.tar.gz" -C "$wk" .
echo "aws-package: $out/serflow-function.zip ($(du -k "$out/serflow-function.zip" | cut -f1) kB)," \
  "$out/serflow-worker.tar.gz ($(du -k "$out/serflow-worker.tar.gz" | cut -f1) kB)"

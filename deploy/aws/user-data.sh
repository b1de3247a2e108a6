#!/bin/bash
# user-data.sh - first boot of a serflow host on EC2 (a worker of the Auto Scaling group, or the
# ingress host). The stack's user data downloads the tarball into /opt/serflow and runs this with
# SERFLOW_ROLE (worker or ingress) and the stack's values in SERFLOW_* variables. It writes
# /etc/serflow/<role>.env, installs the systemd unit and starts it. No value is evaluated as
# code: each is checked against a plain pattern and written as KEY=VALUE.
set -euo pipefail
role=${SERFLOW_ROLE:?SERFLOW_ROLE must be worker or ingress}
case "$role" in worker | ingress) ;; *) echo "user-data: bad SERFLOW_ROLE $role" >&2; exit 2 ;; esac

# The instance's private address (IMDSv2): the worker listens there, never on 0.0.0.0.
tok=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
  http://169.254.169.254/latest/api/token)
host=$(curl -sf -H "X-aws-ec2-metadata-token: $tok" \
  http://169.254.169.254/latest/meta-data/local-ipv4)

id serflow >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin serflow
install -d -m 0755 /etc/serflow
env_file=/etc/serflow/$role.env
: >"$env_file"
put() { # KEY VALUE: refuses anything but a plain token
  [[ "$2" =~ ^[A-Za-z0-9._:/@+=,-]*$ ]] || { echo "user-data: $1: unexpected value" >&2; exit 2; }
  printf '%s=%s\n' "$1" "$2" >>"$env_file"
}
put SERFLOW_HOST "$host"
for v in SERFLOW_PORT SERFLOW_REGION SERFLOW_FUNCTION SERFLOW_TAU SERFLOW_CUT SERFLOW_FANOUT \
  SERFLOW_GROUP SERFLOW_POLICY SERFLOW_SLO_S SERFLOW_WORKER_PORT; do
  put "$v" "${!v:-}"
done
put AWS_REGION "${SERFLOW_REGION:-}"
# Amazon Linux keeps its CA bundle elsewhere than Debian's libcurl looks (AWS_CA_BUNDLE: the
# SDKs' variable, read by serflow's aws clients).
for ca in /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt; do
  if [ -r "$ca" ]; then put AWS_CA_BUNDLE "$ca"; break; fi
done
chmod 0644 "$env_file"

install -m 0644 "/opt/serflow/systemd/serflow-$role.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now "serflow-$role.service"

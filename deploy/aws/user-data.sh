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
  SERFLOW_GROUP SERFLOW_POLICY SERFLOW_WORKER_PORT; do
  put "$v" "${!v:-}"
done
put AWS_REGION "${SERFLOW_REGION:-}"
# Amazon Linux keeps its CA bundle elsewhere than Debian's libcurl looks (AWS_CA_BUNDLE: the
# SDKs' variable, read by serflow's aws clients).
for ca in /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt; do
  if [ -r "$ca" ]; then put AWS_CA_BUNDLE "$ca"; break; fi
done

# The identities (docs/serving.md "Identity between the processes"; docs/deploy-aws.md): the
# ingress reads the deployment's root from Secrets Manager and writes the workers' key derived
# from it, K(worker:aws) = HMAC-SHA256(root, "serflow principal worker:aws"), into the workers'
# secret; a worker reads only that. Secrets pass through files of mode 0600 and stdin, never
# argv; the env file is root's (systemd reads it before it drops to the serflow user, and the
# process wipes SERFLOW_AUTH from its environment once read).
chmod 0600 "$env_file"
export AWS_DEFAULT_REGION=${SERFLOW_REGION:?}
secret() { # ARN: the secret's value
  aws secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text
}
umask 077
if [ "$role" = ingress ]; then
  root=$(secret "${SERFLOW_ROOT_SECRET:?}")
  [[ "$root" =~ ^[0-9a-f]{64}$ ]] || { echo "user-data: the root secret is not 64 hex digits" >&2; exit 2; }
  wkey=$(printf '%s' "$root" | python3 -c 'import hashlib, hmac, sys
root = bytes.fromhex(sys.stdin.read().strip())
print(hmac.new(root, b"serflow principal worker:aws", hashlib.sha256).hexdigest())')
  tmpj=$(mktemp)
  printf '{"SecretId": "%s", "SecretString": "%s"}' "${SERFLOW_WORKER_SECRET:?}" "$wkey" >"$tmpj"
  aws secretsmanager put-secret-value --cli-input-json "file://$tmpj" >/dev/null
  rm -f "$tmpj"
  printf 'SERFLOW_AUTH=root %s\n' "$root" >>"$env_file"
else
  # the ingress writes the key at its first boot, before it asks for any worker: wait for it
  # (bounded: 10 minutes)
  wkey=unset
  for _ in $(seq 1 120); do
    wkey=$(secret "${SERFLOW_WORKER_SECRET:?}")
    [[ "$wkey" =~ ^[0-9a-f]{64}$ ]] && break
    sleep 5
  done
  [[ "$wkey" =~ ^[0-9a-f]{64}$ ]] || { echo "user-data: no workers' key in its secret" >&2; exit 2; }
  printf 'SERFLOW_AUTH=worker:aws %s\n' "$wkey" >>"$env_file"
fi
unset root wkey

install -m 0644 "/opt/serflow/systemd/serflow-$role.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now "serflow-$role.service"

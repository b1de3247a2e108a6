#!/usr/bin/env bash
# Installs exactly the Debian packages serflow needs; does nothing when they are present.
# Usage: scripts/install-deps.sh [--tools] [--print]
#   --tools  also the packages of the model-training tool and of the peer-runtime and HTTP-layer
#            benchmarks
#   --print  list the packages and exit
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  git                 # the build reads the commit it was configured from (serflow --version)
  libjansson-dev      # JSON parsing with line/column errors (profiles, pricing)
  libcmocka-dev       # unit tests
  valgrind            # make check runs the unit tests under memcheck
  liblz4-dev          # hidden-state codec (LZ4 frame)
  gnuplot-nox         # --plot PNGs (pngcairo terminal)
  python3             # CLI tests check JSON output with the standard library
  libdnnl-dev         # nn: oneDNN C API, the fast inference backend
  libprotobuf-c-dev   # nn: protobuf-c runtime for parsing ONNX stage files
  protobuf-c-compiler # nn: protoc-c generates the ONNX parser at build time
  zlib1g-dev          # nn: reads the gzip-compressed IDX test set when profiling
  libonnx-dev         # nn: ships onnx.proto (the input to protoc-c)
  dataset-fashion-mnist # nn: test images for `serflow profile` of the bundled model
  libmicrohttpd-dev   # serve: HTTP server of the ingress, workers and the function runtime
  libcurl4-openssl-dev # serve: HTTP client (keep-alive, timeouts, multi interface for fan-out)
  libssl-dev          # serve: HMAC-SHA256 (libcrypto) authenticating calls between the processes
  curl                # integration tests: a real HTTP client against the ingress
  awscli              # integration tests: `aws lambda invoke` against the local function runtime
  python3-boto3       # integration tests: boto3's Lambda client against the function runtime
  prometheus          # tests: `promtool check metrics` on /metrics, `promtool check/test rules` on
                      # deploy/prometheus/, a real Prometheus scraping serve (prometheus_scrape.sh)
  nginx-light         # bench/bench_serve.sh: nginx proxying to the same worker, the reference
  wrk                 # bench/bench_serve.sh: the HTTP load generator
  libssl-dev          # aws: SigV4 signing (HMAC-SHA256, SHA-256) with OpenSSL's libcrypto
  libxml2-dev         # aws: the Query API's XML responses (Auto Scaling, EC2, ELBv2)
  python3-botocore    # aws tests: the fake AWS server verifies signatures with botocore's signer
  python3-yaml        # aws tests: the CloudFormation template parses as YAML
  zip                 # make aws-package: the Lambda function's zip (bootstrap + model)
)
tools=(
  python3-torch       # tools/train_fmnist.py trains the bundled model; bench/nn_vs_peers.sh
  python3-onnx        # ONNX export in tools/train_fmnist.py, tools/make_nn_testdata.py
  python3-numpy       # training and test-data tools
  python3-opencv      # bench/nn_vs_peers.sh: OpenCV DNN, one of the peer runtimes
  libh2o-evloop-dev   # bench/http_layers.sh: h2o (evloop), a candidate HTTP layer (issue 17)
  libevent-dev        # bench/http_layers.sh: libevent's evhttp, a candidate HTTP layer (issue 17)
)
want=("${pkgs[@]}")
print=0
for arg in "$@"; do
  case "$arg" in
    --tools) want+=("${tools[@]}") ;;
    --print) print=1 ;;
    *) echo "install-deps: unknown option $arg (use --tools, --print)" >&2; exit 2 ;;
  esac
done
if [ "$print" = 1 ]; then printf '%s\n' "${want[@]}"; exit 0; fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

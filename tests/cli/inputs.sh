#!/usr/bin/env bash
# CLI tests of hostile inputs (issue 7, classes 5 and 7-8): caps from serflow/limits.h refuse
# inputs that would eat the machine, quickly and with a message naming the line; a UTF-8 byte
# order mark is skipped, never taken for data or a header. Usage: inputs.sh BUILD/serflow SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

# 6 lines of 100,000,000 per second: 6e8 requests in one epoch took 5.3 GB and 39 s
printf '100000000\n%.0s' 1 2 3 4 5 6 >"$tmp/huge.txt"
expect "per-line cap" 2 timeout 20 "$bin" replay --trace "$tmp/huge.txt" --trace-unit second --policy faas
has err "huge.txt:1: more than 10000000 requests on one line"
printf '2000000\n%.0s' 1 2 3 4 5 6 >"$tmp/epoch.txt"
expect "per-epoch cap" 2 timeout 20 "$bin" replay --trace "$tmp/epoch.txt" --trace-unit second --policy faas
has err "epoch.txt:6: more than 10000000 requests in epoch 1"

# a byte order mark is skipped (it used to swallow a CSV's first request as a "header")
printf '\xef\xbb\xbf0.5\n1.0\n7.0\n' >"$tmp/bom.csv"
expect "csv with BOM" 0 "$bin" replay --trace "$tmp/bom.csv" --policy faas --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['requests']==3, d['requests']" && ok || bad "BOM csv requests"
printf '\xef\xbb\xbf12\n7\n' >"$tmp/bom.txt"
expect "counts with BOM" 0 "$bin" replay --trace "$tmp/bom.txt" --policy faas --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['requests']==19" && ok || bad "BOM counts"
# a typo on the first line is an error, not a header
printf '0.5x\n1.0\n' >"$tmp/typo.csv"
expect "csv typo on line 1" 2 "$bin" replay --trace "$tmp/typo.csv" --policy faas
has err "typo.csv:1: timestamp: expected seconds, got '0.5x'"
# a BOM inside a line is named, not echoed invisibly
printf '12\n\xef\xbb\xbf7\n' >"$tmp/bom2.txt"
expect "BOM inside" 2 "$bin" replay --trace "$tmp/bom2.txt" --policy faas
has err "bom2.txt:2: .*\\\\uFEFF7.*byte order mark"
# an overlong timestamp is refused, not cut to 63 characters and read
printf '1%.0s' $(seq 80) >"$tmp/long.csv"; printf '\n' >>"$tmp/long.csv"
expect "long timestamp" 2 "$bin" replay --trace "$tmp/long.csv" --policy faas
has err "long.csv:1: timestamp: longer than 63 characters"
# JSON inputs with a BOM load
printf '\xef\xbb\xbf' | cat - "$src/data/profiles/vgg16-sdn-cifar10.json" >"$tmp/bom.json"
expect "profile with BOM" 0 "$bin" plan --profile "$tmp/bom.json" --json

# values out of range are refused where they are read (a NaN plan with exit 0 on main)
sed 's/"scaling_exponent": 1.0/"scaling_exponent": 500/' "$src/data/profiles/vgg16-sdn-cifar10.json" >"$tmp/se.json"
expect "scaling exponent 500" 2 "$bin" plan --profile "$tmp/se.json"
has err "se.json:[0-9]+: function.scaling_exponent: must be at most 4"
! grep -q nan "$tmp/out" && ok || bad "nan printed"
expect "replay scaling 500" 2 "$bin" replay --profile "$tmp/se.json" --json
[ ! -s "$tmp/out" ] && ok || bad "replay printed results"
# the issue's catalog (took 6 GB and hung the planner)
sed -e 's/"max": 10240, "step": 1}/"max": 4000000, "step": 1000}/' -e 's/"mb_per_vcpu": 1769/"mb_per_vcpu": 1/' \
    "$src/data/pricing/aws-us-east-1.json" >"$tmp/mem.json"
expect "memory enumeration cap" 2 timeout 20 "$bin" plan --pricing "$tmp/mem.json"
has err "mem.json:[0-9]+: function.mb_per_vcpu: .*more than 16384 memory sizes"
# a range without whole-vCPU multiples points at --any-memory; the header says what it priced
sed 's/"max": 10240/"max": 1024/' "$src/data/pricing/aws-us-east-1.json" >"$tmp/small.json"
expect "no vCPU multiple" 1 "$bin" plan --pricing "$tmp/small.json"
has err "no multiple of 1769 MB .*--any-memory"
expect "any memory header" 0 "$bin" plan --pricing "$tmp/small.json" --any-memory --slo-s 100
has out "memories every 1 MB step in \[128, 1024\] MB"

# inputs that are not plain files: refused at once or read with the cap, never forever
expect "trace /dev/zero" 2 timeout 20 "$bin" replay --trace /dev/zero --policy faas
has err "/dev/zero: not a regular file or a pipe"
mkfifo "$tmp/fifo"
expect "FIFO without writer" 2 timeout 20 "$bin" replay --trace "$tmp/fifo" --policy faas
has err "fifo: no request counts"
expect "directory as profile" 2 "$bin" plan --profile "$tmp"
has err "is a directory"
expect "trace from a pipe" 0 "$bin" replay --trace <(printf '12\n7\n') --policy faas --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['requests']==19" && ok || bad "pipe trace"

# IDX images smaller than the model input: refused before any image is used (an ASan
# heap over-read on main), as a usage error
printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x7f' >"$tmp/img.idx"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x03' >"$tmp/lbl.idx"
expect "tiny IDX images" 2 "$bin" profile --model "$src/models/fmnist-ee" --test-images "$tmp/img.idx" --test-labels "$tmp/lbl.idx" --threads 1 --reps 1
has err "img.idx: images are 1x1 \(1 values\) but the model takes 784 values per request"
expect "missing IDX" 2 "$bin" profile --model "$src/models/fmnist-ee" --test-images "$tmp/none.idx"
has err "none.idx: cannot open"

# the model manifest is read as strictly as profiles and catalogs (issue 7, class 9)
mkdir "$tmp/m" && cp "$src"/models/fmnist-ee/*.onnx "$tmp/m/"
sed 's/"normalization"/"x_normalization"/' "$src/models/fmnist-ee/model.json" >"$tmp/m/model.json"
expect "manifest without normalization" 2 "$bin" profile --model "$tmp/m"
has err "m/model.json:[0-9]+: normalization: missing required field"
sed 's/"serflow-ee-onnx\/1"/"serflow-ee-onnx\/7"/' "$src/models/fmnist-ee/model.json" >"$tmp/m/model.json"
expect "manifest format" 2 "$bin" profile --model "$tmp/m"
has err "model.json:3: format: unsupported format"
# a corrupt ONNX file's bytes are escaped, never sent raw to the terminal
cp "$src/models/fmnist-ee/model.json" "$tmp/m/model.json"
/usr/bin/python3 -c "import sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d.replace(b'Sigmoid', b'Sig\x1bmoi'))" \
    "$src/tests/data/nn/unsupported_op.onnx" "$tmp/m/stage1.onnx"
expect "escaped ONNX op" 2 "$bin" profile --model "$tmp/m"
grep -q $'\033' "$tmp/err" && bad "raw escape byte on stderr" || ok
has err 'Sig\\x1Bmoi'

finish inputs.sh

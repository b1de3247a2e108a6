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

finish inputs.sh

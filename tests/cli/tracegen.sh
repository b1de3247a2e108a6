#!/usr/bin/env bash
# CLI tests of `serflow tracegen`: every family writes a trace replay reads, the same seed gives
# the same bytes, bad arguments exit 2 with a message naming the problem.
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

for f in diurnal onoff flash ramp steps quiet sparse spiky; do
    expect "family $f" 0 "$bin" tracegen $f --seconds 1200 --mean-rps 20 --seed 3 --out "$tmp/$f.txt"
    [ "$(grep -vc '^#' "$tmp/$f.txt")" -eq 1200 ] && ok || bad "$f: 1200 lines"
done
expect "stdout" 0 "$bin" tracegen onoff --seconds 1200 --mean-rps 20 --seed 3
cmp -s "$tmp/out" "$tmp/onoff.txt" && ok || bad "same seed, same bytes (stdout and --out)"
expect "replay it" 0 "$bin" replay --trace "$tmp/steps.txt" --trace-unit second --epochs 0 \
    --policy serflow,faas --json --quiet
/usr/bin/python3 -c "import json,sys; d=json.load(open('$tmp/out')); assert d['epochs']==200 and all(p['slo_attainment_request']==1 for p in d['policies'])" && ok || bad "replayed within the SLO"
expect "unknown family" 2 "$bin" tracegen bogus
has err "unknown family 'bogus'"
expect "no family" 2 "$bin" tracegen
has err "which family"
expect "bad seconds" 2 "$bin" tracegen quiet --seconds 0
has err "seconds"
finish tracegen

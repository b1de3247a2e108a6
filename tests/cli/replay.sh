#!/usr/bin/env bash
# CLI tests of `serflow replay`: defaults, JSON keys, determinism (byte-identical output),
# CSV and plots, trace errors with file:line. Usage: replay.sh BUILD/serflow SOURCE_DIR
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

expect "default replay" 0 "$bin" replay --tau 0.7
has out "^serflow "
has out "^oracle "
has out "the cheapest replay of three clairvoyant schedules"
expect "default replay, epoch batching" 0 "$bin" replay --tau 0.7 --batching epoch
has out "lower bound"
has out "includes the wait for the epoch boundary"

expect "json" 0 "$bin" replay --tau 0.7 --json
cp "$tmp/out" "$tmp/a.json"
/usr/bin/python3 - "$tmp/a.json" <<'PY' && ok || bad "json keys and invariants"
import json, sys
d = json.load(open(sys.argv[1]))
names = [p["name"] for p in d["policies"]]
assert names == ["faas", "libra", "libra-orig", "spock", "mark", "serflow", "oracle", "static"], names
for p in d["policies"]:
    for k in ["name", "cost_usd", "vm_cost_usd", "function_cost_usd", "requests", "requests_served",
              "slo_attainment_batch", "slo_attainment_request", "accuracy", "vm_seconds",
              "vm_utilization", "function_gb_s", "invocations"]:
        assert k in p, k
    assert p["requests"] == p["requests_served"] == d["requests"]
    assert abs(p["cost_usd"] - p["vm_cost_usd"] - p["function_cost_usd"]) < 1e-9
    assert 0 < p["response_p50_s"] <= p["response_p99_s"] <= p["response_max_s"] + 1e-9
assert d["epochs"] == 400 and d["requests"] == 83697
PY
expect "json again" 0 "$bin" replay --tau 0.7 --json
cmp -s "$tmp/out" "$tmp/a.json" && ok || bad "same seed, different output"
expect "other seed" 0 "$bin" replay --tau 0.7 --json --seed 2
cmp -s "$tmp/out" "$tmp/a.json" && bad "seed has no effect" || ok

expect "policies and csv" 0 "$bin" replay --tau 0.85 --policy serflow,libra --epochs 100 --csv "$tmp/s.csv"
[ "$(wc -l <"$tmp/s.csv")" -eq 101 ] && ok || bad "csv rows"
head -1 "$tmp/s.csv" | grep -q "epoch,arrivals,serflow_ready" && ok || bad "csv header"
expect "plots" 0 "$bin" replay --tau 0.7 --epochs 60 --policy faas,libra,serflow --plot "$tmp/p" --quiet
[ -s "$tmp/p/cost.png" ] && [ -s "$tmp/p/epochs_serflow.png" ] && ok || bad "plot files"
# what the plots show (issue 20): a long trace in bins the width can show (said in the axis
# label), arrivals in req/s beside instances on a linked axis, batches on their own panel, and no
# series that is zero throughout (a note instead)
expect "plots, binned" 0 "$bin" replay --tau 0.7 --epochs 1200 --policy faas,serflow --plot "$tmp/pb" --quiet
/usr/bin/python3 - "$tmp/pb" <<'PY' && ok || bad "replay plots"
import csv, os, re, sys
d = sys.argv[1]
rows = list(csv.reader(open(os.path.join(d, "bins.csv"))))
head, rows = rows[0], rows[1:]
assert len(rows) == 240 and rows[0][:2] == ["1", "5"] and rows[-1][1] == "1200", (len(rows), rows[0])
series = list(csv.reader(open(os.path.join(d, "series.csv"))))[1:]
assert len(series) == 1200
# the bins hold the per-epoch series' means, arrivals in req/s (6 s epochs)
mean = sum(int(r[1]) for r in series[:5]) / 5 / 6
assert abs(float(rows[0][3]) - mean) < 1e-3 * mean, (rows[0][3], mean)
assert abs(float(rows[0][4]) - max(int(r[1]) for r in series[:5]) / 6) < 1e-3
gp = open(os.path.join(d, "replay.gp")).read()
faas = gp[gp.index("epochs_faas.png"):gp.index("epochs_serflow.png")]
sf = gp[gp.index("epochs_serflow.png"):gp.index("cost.png")]
for p in (faas, sf):
    assert "240 bins of 5 epochs = 30 s" in p and "requests per second" in p
    assert "batches per epoch" in p and "batches of" not in p
top = [re.findall(r"^plot .*$", p, re.M)[0] for p in (faas, sf)]
assert "ready instances" not in top[0] and "ready instances" in top[1], top  # 0 throughout: not drawn
assert "no instances on this path" in faas and "no batch ran on an instance" in faas
assert re.search(r"set link y2 via y/[0-9.]+ inverse", sf)
PY
expect "per-second unit" 0 "$bin" replay --trace "$src/data/traces/berkeley_libra_per_second.txt" --trace-unit second --epochs 50 --policy faas,serflow --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['epochs']==50" && ok || bad "per-second epochs"
printf 'ts\n0.5\n1.0\n7.2\n13.0\n' >"$tmp/t.csv"
expect "csv trace" 0 "$bin" replay --trace "$tmp/t.csv" --policy faas --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['requests']==4 and d['epochs']==3" && ok || bad "csv trace counts"
expect "partial to functions" 0 "$bin" replay --tau 0.7 --partial-batches function --policy libra --quiet

# a knob no replayed policy uses is refused for a sweep (every point would be the same), warned
# about when given; k weights sigma in the paper rule (serflow's paper and follow rules, LIBRA)
expect "sweep of an ignored knob" 2 "$bin" replay --epochs 100 --sweep k=0,1 --policy serflow,oracle --scaling breakeven
has err "no policy replayed here uses it .serflow's rule breakeven ignores it"
expect "ignored knob" 0 "$bin" replay --epochs 50 --k 2 --policy serflow,faas --scaling breakeven --quiet
has err "warning: --k: no policy replayed here uses it"
expect "knob another policy uses" 0 "$bin" replay --epochs 50 --sweep k=0,1 --policy serflow,libra --scaling breakeven --quiet
has err "serflow's rule breakeven ignores --k"
expect "sweep" 0 "$bin" replay --epochs 100 --sweep k=0,1,2 --policy serflow,oracle --scaling paper --json
/usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "sweep json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["sweep"] == "k" and [p["value"] for p in d["points"]] == [0, 1, 2]
for p in d["points"]:
    names = [x["name"] for x in p["policies"]]
    assert names == ["serflow", "oracle"], names
    s, o = p["policies"]
    assert 0 < p["lower_bound_usd"] <= min(s["cost_usd"], o["cost_usd"])
PY
# the lower bound and the clairvoyant schedule, in the JSON and the table, for both batchings
for b in deadline epoch; do
    expect "bound $b" 0 "$bin" replay --epochs 200 --batching $b --json --quiet
    /usr/bin/python3 - "$tmp/out" $b <<'PY' && ok || bad "bound $b json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["batching"] == sys.argv[2]
lb = d["lower_bound_usd"]
assert lb > 0 and all(lb <= p["cost_usd"] for p in d["policies"]), lb
o = [p for p in d["policies"] if p["name"] == "oracle"][0]
assert o["schedule"] in ("periodic", "static", "epochwise") and "estimate_usd" in o
PY
    expect "bound $b table" 0 "$bin" replay --epochs 200 --batching $b --quiet
    has out "vs_bound"
    has out "lower bound: [$]"
done
# the README's sweep example sweeps a parameter the default rule uses: the rows must differ
readme_sweep=$(sed -n 's|^build/serflow replay \([^#]*--sweep [^#]*\)#.*|\1|p' "$src/README.md")
[ -n "$readme_sweep" ] && ok || bad "no sweep example in README.md"
# shellcheck disable=SC2086
expect "README sweep" 0 "$bin" replay $readme_sweep --epochs 100 --json --quiet
/usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "README's sweep example changes nothing: $readme_sweep"
import json, sys
d = json.load(open(sys.argv[1]))
costs = {p["value"]: [x["cost_usd"] for x in p["policies"] if x["name"] == "serflow"][0]
         for p in d["points"]}
assert len(set(costs.values())) > 1, costs
PY
expect "sweep unknown" 2 "$bin" replay --sweep speed=1,2
has err "unknown parameter 'speed'"
expect "sweep bad value" 2 "$bin" replay --sweep k=1,x
has err "--sweep k: expected .*got 'x'"

# serflow forced onto a path, and planned against a traffic
expect "forced hybrid" 0 "$bin" replay --epochs 100 --tau 0.7 --policy serflow,libra --pool hybrid --vm c6i.large --cut 10 --json --quiet
/usr/bin/python3 -c "
import json; d=json.load(open('$tmp/out')); s, l = d['policies']
assert s['pool'] == 'hybrid' and s['cut'] == 10 and s['vm_type'] == 'c6i.large', s
assert l['pool'] == 'iaas'  # only serflow is forced" && ok || bad "forced path"
expect "forced faas" 0 "$bin" replay --epochs 50 --tau 0.7 --policy serflow --pool faas --json --quiet
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['policies'][0]['pool'] == 'faas'" && ok || bad "forced faas"
expect "hybrid needs a cut" 2 "$bin" replay --pool hybrid
has err "--pool hybrid needs --cut"
expect "cut needs a pool" 2 "$bin" replay --cut 3
has err "give --pool"
head -500 "$src/data/traces/wits_libra_per_second.txt" >"$tmp/traffic.txt"
expect "replay --traffic" 0 "$bin" replay --epochs 100 --tau 0.7 --policy serflow --traffic "$tmp/traffic.txt" --json --quiet

# errors
printf '10\n20\nxx\n' >"$tmp/bad.txt"
expect "bad trace" 2 "$bin" replay --trace "$tmp/bad.txt"
has err "bad.txt:3: expected a non-negative integer"
printf 'ts\n2.0\n1.0\n' >"$tmp/bad.csv"
expect "unsorted csv" 2 "$bin" replay --trace "$tmp/bad.csv"
has err "bad.csv:3: timestamp"
expect "unknown policy" 2 "$bin" replay --policy faas,nope
has err "unknown policy 'nope'"
expect "bad unit" 2 "$bin" replay --trace-unit minute
expect "bad cold start" 2 "$bin" replay --cold-start 5:3
# cold starts longer than the scaling period: the periodic program does not apply, the others do
expect "oracle, cold >= period" 0 "$bin" replay --scale-period 10 --policy oracle --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['policies'][0]['schedule'] != 'periodic'" && ok || bad "oracle schedule without the periodic program"
expect "help" 0 "$bin" replay --help
has out "usage: serflow replay"

# a small hostile trace (25,600 requests in 5 s, one more 69 days later) must not make the oracle
# tabulate a million epochs x 257 counts: refused at once, with what to change
/usr/bin/python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    f.writelines('%.6f\n' % (i * 5 / 25600) for i in range(25600))
    f.write('5999990\n')" "$tmp/hostile.csv"
expect "oracle caps" 2 timeout 60 "$bin" replay --trace "$tmp/hostile.csv" --epochs 0 --policy faas,oracle --quiet
has err "beyond its caps"
expect "hostile trace without the oracle" 0 timeout 60 "$bin" replay --trace "$tmp/hostile.csv" --epochs 0 --policy faas,serflow --quiet
# replay's serflow runs the path `serflow plan --tau` chose, ties included: on the Fashion-MNIST
# exits priced at the paper's batch times no instance pays at deadline batching, so FaaS and a
# hybrid that buys none cost the same to rounding, and the plan's tie-break (the simpler pool)
# must hold in the replay too (it once bound a hybrid c6i.2xlarge there)
fm=$src/data/profiles/vgg16-sdn-fmnist-paper-times.json
for batching in deadline epoch; do
    for tau in 0.5 0.7 0.85; do
        "$bin" plan --profile "$fm" --batching $batching --tau $tau --json >"$tmp/p.json" || bad "plan $batching $tau"
        "$bin" replay --profile "$fm" --batching $batching --tau $tau --epochs 50 --policy serflow \
            --json --quiet >"$tmp/r.json" || bad "replay $batching $tau"
        /usr/bin/python3 - "$tmp/p.json" "$tmp/r.json" <<'PY' && ok || bad "replay path differs from the plan's ($batching, tau $tau)"
import json, sys
p, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["policies"][0]
want = (p["pool"], p["vm_type"], p["cut"]) if p["pool"] != "faas" else ("faas",)
got = (r["pool"], r["vm_type"], r["cut"]) if r["pool"] != "faas" else ("faas",)
assert got == want, (got, want)
PY
    done
done
finish replay.sh

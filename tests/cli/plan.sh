#!/usr/bin/env bash
# CLI tests of `serflow plan`: defaults, JSON keys, options, plots, and bad input handling
# (file:line messages, non-zero exits). Usage: plan.sh BUILD/serflow SOURCE_DIR
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

expect "default plan" 0 "$bin" plan
has out "^Chosen: pool"
has out "S-CIP"
has out "deadline batching"
expect "epoch batching" 0 "$bin" plan --batching epoch
has out "rejected: SLO \(10.30 s > 6.00 s\)"
has out "epoch batching \(the paper's\)"

expect "json" 0 "$bin" plan --json
/usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "json keys"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ["pool", "tau", "cut", "vm_type", "function_mem_mb", "capacity_rps", "tcip_rps",
          "cost_usd_per_hour", "accuracy", "alternatives"]:
    assert k in d, k
assert d["pool"] in ("faas", "iaas", "hybrid")
assert isinstance(d["alternatives"], list) and len(d["alternatives"]) > 10
feas = [a["cost_usd_per_hour"] for a in d["alternatives"] if a["feasible"]]
assert abs(min(feas) - d["cost_usd_per_hour"]) < 1e-12, (min(feas), d["cost_usd_per_hour"])
assert all(a["rejected_by"] for a in d["alternatives"] if not a["feasible"])
PY

# the instance count beside each alternative: 0 where no instance pays (about FaaS-only's cost)
/usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "instances in json"
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["instances"], int) and d["instances"] >= 0
faas = [a for a in d["alternatives"] if a["pool"] == "faas"]
for a in d["alternatives"]:
    assert a["pool"] == "faas" or isinstance(a["instances"], int), a
    if a["pool"] != "faas" and a["instances"] == 0 and a["tau"] == d["tau"]:
        f = [x for x in faas if x["tau"] == a["tau"]][0]
        # all on functions: FaaS-only's cost up to the spill's batch sizes
        assert abs(a["cost_usd_per_hour"] / f["cost_usd_per_hour"] - 1) < 1e-3, (a, f)
PY
expect "instance column" 0 "$bin" plan
has out "pool +vm +cut +k +inst +mem_mb"
has out "^\* iaas +c6i.large +11 +1 +1 "
expect "fixed tau" 0 "$bin" plan --tau 0.85 --json
/usr/bin/python3 -c "import json,sys; d=json.load(open('$tmp/out')); assert d['tau']==0.85" && ok || bad "tau 0.85"
expect "rate override" 0 "$bin" plan --rate 50 --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['rate_rps']==50" && ok || bad "rate 50"
expect "slo override" 0 "$bin" plan --slo-s 8 --json --batching epoch
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['slo_s']==8 and abs(d['capacity_rps']-12.5)<1e-9 and d['batching']=='epoch'" && ok || bad "slo 8"
expect "infeasible accuracy" 1 "$bin" plan --min-accuracy 0.99
has err "accuracy"
expect "percent accuracy" 0 "$bin" plan --min-accuracy 85 --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['accuracy']>=0.85" && ok || bad "min acc 85"

expect "plots" 0 "$bin" plan --tau 0.7 --plot "$tmp/plots"
[ -s "$tmp/plots/cost_vs_cut_tau0.70.png" ] && [ -s "$tmp/plots/tcip_sweep.png" ] && ok || bad "plot files"
# what the plots show (issue 20), read from their script and data: every VM type's series has its
# own x positions (none drawn under another), cuts where no instance pays are their own series
# (not on the VM's line), every panel marks a configuration, the sweep marks each T-CIP crossing
expect "plots, every tau" 0 "$bin" plan --plot "$tmp/all" --batching epoch
expect "plots, default" 0 "$bin" plan --plot "$tmp/dl"
/usr/bin/python3 - "$tmp/all" "$tmp/dl" <<'PY' && ok || bad "plan plots"
import glob, math, os, re, sys
for d in sys.argv[1:]:
    gp = open(os.path.join(d, "plan.gp")).read()
    panels = gp.split("\nreset\n")[1:]
    cut_panels = [p for p in panels if "cost_vs_cut_tau" in p]
    assert len(cut_panels) == len(glob.glob(os.path.join(d, "cost_vs_cut_tau*.dat"))) >= 1
    chosen = 0
    for p in cut_panels:
        assert re.search(r"^set label 1 '(chosen|cheapest at this tau)' at ", p, re.M), p[:300]
        chosen += "'chosen'" in p
        assert "meets the SLO" in p and "misses the SLO" in p
    assert chosen == 1, chosen
    nopay_seen = False
    for f in glob.glob(os.path.join(d, "cost_vs_cut_tau*.dat")):
        rows = [l.split() for l in open(f) if not l.startswith("#")]
        n_vm = (len(rows[0]) - 2) // 5
        for r in rows[1:]:
            xs = [float(r[2 + 5 * v]) for v in range(n_vm) if r[2 + 5 * v].lower() != "nan"]
            assert len(set(xs)) == len(xs), r  # side by side, never drawn under another
            for v in range(n_vm):
                x, pays, nopay, ok, inst = r[2 + 5 * v: 7 + 5 * v]
                if x.lower() == "nan":
                    continue
                assert (pays.lower() == "nan") != (nopay.lower() == "nan"), r
                assert (int(inst) >= 1) == (pays.lower() != "nan"), r
                nopay_seen |= nopay.lower() != "nan"
    sweep = [p for p in panels if "tcip_sweep.png" in p][0]
    assert re.search(r"^set (arrow 1 from|label 1 'IaaS: T-CIP .* do not cross)", sweep, re.M), sweep[:400]
    if d.endswith("dl"):
        assert nopay_seen  # the default plan has cuts where no instance pays
        assert "no instance pays: all on functions" in gp
PY

# usage errors
expect "unknown option" 2 "$bin" plan --frobnicate
has err "unknown option '--frobnicate'"
expect "bad tau" 2 "$bin" plan --tau 1.5
has err "--tau"
expect "tau not in profile" 2 "$bin" plan --tau 0.42
has err "tau 0.42 is not in the profile"
expect "bad rate" 2 "$bin" plan --rate abc
expect "help" 0 "$bin" plan --help
has out "usage: serflow plan"

# bad input files: file:line: field: problem, exit 2
prof="$src/data/profiles/vgg16-sdn-cifar10.json"
sed 's/"slo_s": 6.0/"slo_s": -6.0/' "$prof" >"$tmp/neg.json"
expect "negative slo" 2 "$bin" plan --profile "$tmp/neg.json"
has err "neg.json:[0-9]+: slo_s: must be positive"
sed '0,/"exit_fraction": \[/s//"exit_fraction": [ 1.5,/' "$prof" >"$tmp/frac.json"
expect "fraction" 2 "$bin" plan --profile "$tmp/frac.json"
has err "frac.json:[0-9]+: exits\[0\]\.exit_fraction"
head -c 300 "$prof" >"$tmp/trunc.json"
expect "truncated" 2 "$bin" plan --profile "$tmp/trunc.json"
has err "trunc.json:[0-9]+: JSON syntax"
sed 's/"USD\/hour"/"USD\/fortnight"/' "$src/data/pricing/aws-us-east-1.json" >"$tmp/unit.json"
expect "unit" 2 "$bin" plan --pricing "$tmp/unit.json"
has err "unit.json:[0-9]+: vm.types\[0\].price.unit: unknown unit"
expect "missing file" 2 "$bin" plan --profile "$tmp/nope.json"
has err "nope.json: cannot open"

# planning against a traffic: every feasible path priced by its expected cost over it; the
# chosen one is the cheapest so (ties: fewer instances, then FaaS); without it, the single rate
head -2000 "$src/data/traces/wits_libra_per_second.txt" >"$tmp/traffic.txt"
for b in deadline epoch; do
    expect "traffic $b" 0 "$bin" plan --tau 0.7 --batching $b --traffic "$tmp/traffic.txt" --json
    /usr/bin/python3 - "$tmp/out" <<'PY' && ok || bad "traffic $b json"
import json, sys
d = json.load(open(sys.argv[1]))
t = d["traffic"]
assert t["epochs"] == 2000 and 0 < t["mean_rps"] <= t["peak_rps"], t
assert abs(d["rate_rps"] - t["mean_rps"]) < 1e-9  # the planning rate is the traffic's mean
feas = [a for a in d["alternatives"] if a["feasible"]]
assert all(a["expected_usd_per_hour"] > 0 for a in feas)
best = min(a["expected_usd_per_hour"] for a in feas)
assert d["expected_usd_per_hour"] <= best * (1 + 1e-6), (d["expected_usd_per_hour"], best)
PY
done
expect "traffic, table" 0 "$bin" plan --tau 0.7 --traffic "$tmp/traffic.txt"
has out "planned against the traffic: 2000 epochs"
has out "expected over the traffic"
expect "no traffic" 0 "$bin" plan --tau 0.7 --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert 'traffic' not in d and 'expected_usd_per_hour' not in d" && ok || bad "the single-rate plan is unchanged"
printf '10\n-3\n' >"$tmp/badtraffic.txt"
expect "bad traffic" 2 "$bin" plan --traffic "$tmp/badtraffic.txt"
has err "badtraffic.txt:2:"

finish plan.sh

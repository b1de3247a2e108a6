#!/usr/bin/env bash
# Regenerates every table of docs/paper.md: the SERFLOW paper's evaluation (VGG16-SDN on CIFAR-10)
# beside what serflow plans and replays with the three VGG16-SDN profiles it bundles:
#   recon   data/profiles/vgg16-sdn-cifar10.json            the paper, reconstructed (AWS prices)
#   fmnist  data/profiles/vgg16-sdn-fmnist-paper-times.json this repo's Fashion-MNIST model's
#           exits and stage shares on the paper's published batch times (AWS prices)
#   local   data/profiles/vgg16-sdn-local.json              that model measured on this machine
#           (data/pricing/local.json: this machine's threads priced like AWS)
# For tau 0.5 / 0.7 / 0.85 and both batchings (epoch: the paper's; deadline: serflow's default) it
# runs `serflow plan --json` and `serflow replay --json` on the WITS and Berkeley traces (first
# 400 lines as requests per 6 s epoch, the paper's reading). The paper's own figures come from
# bench/paper_published.json; every other figure is read from serflow's output here.
# Deterministic (seeded) and fast (about a second). Prints Markdown on stdout.
# Usage: bench/paper.sh [BUILD] [OUTDIR]   (OUTDIR keeps the JSON/CSV outputs; default: a temp dir)
set -euo pipefail
build=${1:-build}
bin=$build/serflow
[ -x "$bin" ] || { echo "paper.sh: $bin not found (build first)" >&2; exit 2; }
if [ $# -ge 2 ]; then
    out=$2
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

profiles=(
    "recon data/profiles/vgg16-sdn-cifar10.json data/pricing/aws-us-east-1.json"
    "fmnist data/profiles/vgg16-sdn-fmnist-paper-times.json data/pricing/aws-us-east-1.json"
    "local data/profiles/vgg16-sdn-local.json data/pricing/local.json"
)
traces=(
    "wits data/traces/wits_libra_per_second.txt"
    "berkeley data/traces/berkeley_libra_per_second.txt"
)
taus=(0.5 0.7 0.85)
policies=faas,libra,serflow,oracle,static

for p in "${profiles[@]}"; do
    read -r name profile pricing <<<"$p"
    for batching in epoch deadline; do
        "$bin" plan --profile "$profile" --pricing "$pricing" --batching $batching --all \
            --json >"$out/planall-$name-$batching.json"
        for tau in "${taus[@]}"; do
            tag=$name-$batching-$tau
            "$bin" plan --profile "$profile" --pricing "$pricing" --batching $batching \
                --tau "$tau" --json >"$out/plan-$tag.json"
            for t in "${traces[@]}"; do
                read -r tname trace <<<"$t"
                common=(--profile "$profile" --pricing "$pricing" --trace "$trace"
                    --trace-unit epoch --epochs 400 --batching $batching --tau "$tau" --quiet)
                "$bin" replay "${common[@]}" --policy $policies --json \
                    >"$out/replay-$tname-$tag.json"
                "$bin" replay "${common[@]}" --policy serflow --scaling paper --json \
                    --csv "$out/series-$tname-$tag.csv" >"$out/paperrule-$tname-$tag.json"
            done
        done
    done
done

/usr/bin/python3 - "$out" bench/paper_published.json <<'PY'
import csv
import json
import sys

out, published = sys.argv[1], json.load(open(sys.argv[2]))
PROFILES = [("recon", "data/profiles/vgg16-sdn-cifar10.json"),
            ("fmnist", "data/profiles/vgg16-sdn-fmnist-paper-times.json"),
            ("local", "data/profiles/vgg16-sdn-local.json")]
TAUS = ["0.5", "0.7", "0.85"]
BATCHINGS = ["epoch", "deadline"]
TRACES = ["wits", "berkeley"]


def load(kind, *parts):
    return json.load(open(f"{out}/{kind}-{'-'.join(parts)}.json"))


def usd(x, digits=4):
    return "-" if x is None else f"${x:.{digits}f}"


def pct(x):
    return "-" if x is None else f"{100 * x:.1f} %"


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


def survival(exit_fraction):
    s, alive = [], 1.0
    for e in exit_fraction:
        s.append(alive)
        alive *= 1.0 - e
    return s


def profile_tau(prof, tau):
    for e in prof["exits"]:
        if abs(e["tau"] - float(tau)) < 1e-9:
            return e
    raise SystemExit(f"paper.sh: no tau {tau} in profile {prof['model']}")


def cheapest_vm_runtime(prof):
    vms = [r for r in prof["runtimes"] if r["kind"] == "vm"]
    return vms[0]


def path(a):
    if a is None:
        return "-"
    if a["pool"] == "faas":
        return f"faas {a['function_mem_mb']} MB"
    if a["pool"] == "iaas":
        return f"iaas {a['vm_type']}"
    return f"hybrid {a['vm_type']} c={a['cut']} k={a['tail_fanout']}"


def best(plan, pool):
    alts = [a for a in plan["alternatives"] if a["pool"] == pool and a["feasible"]]
    return min(alts, key=lambda a: a["cost_usd_per_hour"]) if alts else None


def tcip(a):
    if a is None:
        return "-"
    if a["tcip_rps"] is None:
        return "never"
    if a["tcip_above_capacity"]:
        return f"none below r ({a['tcip_rps']:.2f})"
    return f"{a['tcip_rps']:.2f}"


profs = {n: json.load(open(f)) for n, f in PROFILES}

# Table 1: the models and their exits.
print("### Table 1: exits and accuracy per tau (profiles' `exits`)\n")
rows = []
for tau in TAUS:
    row = [tau, pct(published["accuracy"][tau]) + ", " + published["exits"][tau]]
    for n, _ in PROFILES:
        if n == "local":
            continue
        prof = profs[n]
        e = profile_tau(prof, tau)
        s = survival(e["exit_fraction"])
        t = cheapest_vm_runtime(prof)["per_request"]
        share = sum(si * ti for si, ti in zip(s, t)) / sum(t)
        row += [pct(e["accuracy"]), f"{e['exit_fraction'][0]:.3f}", f"{sum(s):.2f}",
                f"{s[6]:.3f}", pct(share)]
    rows.append(row)
table(["tau", "paper (CIFAR-10)",
       "recon acc", "recon exit@1", "recon mean stages", "recon s_7", "recon work share",
       "fmnist acc", "fmnist exit@1", "fmnist mean stages", "fmnist s_7", "fmnist work share"],
      rows)

# Table 2: Alg. 1's worst case, a full batch of 100 through every stage.
print("### Table 2: worst-case batch of 100 through all 11 stages (Alg. 1), seconds\n")
bt = published["batch_times_s"]
rows = []
for n, _ in PROFILES:
    plan = load("plan", n, "epoch", "0.7")
    iaas = [a for a in plan["alternatives"] if a["pool"] == "iaas"]
    fn = best(plan, "faas")
    hyb = plan if plan["pool"] == "hybrid" else best(plan, "hybrid")
    rows.append([n, ", ".join(f"{a['vm_type']} {a['latency_s']:.2f}" for a in iaas),
                 f"{fn['function_mem_mb']} MB {fn['latency_s']:.2f}",
                 f"{path(hyb)}: {hyb['latency_s']:.2f}" if hyb else "-"])
rows.insert(0, ["paper", f"c6i.large {bt['c6i.large']}, c6i.xlarge {bt['c6i.xlarge']}",
                f"8845 MB {bt['function_8845mb']}", f"c6i.large: {bt['hybrid_c6i.large']}"])
table(["profile", "IaaS, per VM type", "FaaS (cheapest memory)",
       "best hybrid (tau 0.7, epoch batching)"], rows)

# Table 3: Figs. 8-9, the cheapest configuration of each pool per tau at r = 16.67 req/s.
print("### Table 3: cheapest SLO-feasible configuration per pool, $/hour at the profile's "
      "rate (Figs. 8-9, Alg. 2)\n")
rows = []
for n, _ in PROFILES:
    for b in BATCHINGS:
        for tau in TAUS:
            plan = load("plan", n, b, tau)
            cells = []
            for pool in ("faas", "iaas", "hybrid"):
                a = best(plan, pool)
                cells.append("-" if a is None else
                             f"{usd(a['cost_usd_per_hour'])} {path(a).split(' ', 1)[1]}")
            chosen = f"**{plan['pool']}**"
            if plan["pool"] != "faas":
                chosen += f" r={plan['capacity_rps']:.1f}"
            rows.append([n, b, tau] + cells + [chosen, published["pool"][tau]])
table(["profile", "batching", "tau", "faas", "iaas", "hybrid", "serflow plans", "paper"], rows)
for n, _ in PROFILES:
    for b in BATCHINGS:
        plan = load("planall", n, b)
        sc = "; ".join(f"{x['from']} -> {x['to']} between tau {x['tau_lo']} and {x['tau_hi']}"
                       for x in plan["scip"]) or "none: the same pool at every profiled tau"
        print(f"- S-CIP, {n}, {b} batching (every tau of the profile): {sc}")
print()

# Table 4: Fig. 9, cost against the cut at tau 0.7 (c6i.large hybrid, epoch batching).
print("### Table 4: cost against the cut at tau 0.7, epoch batching, hybrid on the paper's "
      "hybrid VM (Fig. 9), $/hour\n")
vm = published["configs"]["hybrid_vm"]
rows = []
plans = {n: load("plan", n, "epoch", "0.7") for n in ("recon", "fmnist")}
faas = {n: best(plans[n], "faas") for n in plans}
rows.append(["0 (faas)"] + [usd(faas[n]["cost_usd_per_hour"]) for n in plans])
for cut in range(1, 12):
    row = [str(cut) + (" (iaas)" if cut == 11 else "")]
    for n in plans:
        a = next((a for a in plans[n]["alternatives"]
                  if a["vm_type"] == vm and a["cut"] == cut), None)
        if a is None:
            row.append("-")
            continue
        note = "" if a["feasible"] else f" ✗ {a['rejected_by']} {a['latency_s']:.2f} s"
        row.append(f"{usd(a['cost_usd_per_hour'])} k={a['tail_fanout']} "
                   f"T-CIP {tcip(a)}{note}")
    rows.append(row)
table(["cut", "recon", "fmnist"], rows)

# Table 5: Fig. 11, T-CIP of one more instance against FaaS at tau 0.7.
print("### Table 5: T-CIP at tau 0.7, req/s of residual load (Fig. 11)\n")
tc = published["tcip"]
rows = [["paper", "epoch",
         ("below r" if tc["hybrid_crosses_below_r"] else "none below r") + " (c6i.large, r = 16.67)",
         ("below r" if tc["iaas_crosses_below_r"] else "none below r") + " (c6i.xlarge, r = 16.67)"]]
for n, _ in PROFILES:
    for b in BATCHINGS:
        plan = load("plan", n, b, "0.7")
        h, i = best(plan, "hybrid"), best(plan, "iaas")
        rows.append([n, b] + [f"{tcip(a)} ({path(a)}, r = {a['capacity_rps']:.2f})" if a
                              else "-" for a in (h, i)])
table(["profile", "batching", "hybrid vs FaaS", "IaaS vs FaaS"], rows)

# Tables 6-7: Figs. 13-14, the replays.
on = published["online"]
for ti, trace in enumerate(TRACES):
    print(f"### Table {6 + ti}: replay of {trace.upper()} (first 400 lines as requests per 6 s "
          "epoch), total cost in USD (Fig. 14)\n")
    rows = []
    for n, _ in PROFILES:
        for b in BATCHINGS:
            for tau in TAUS:
                r = load("replay", trace, n, b, tau)
                pr = load("paperrule", trace, n, b, tau)["policies"][0]
                p = {x["name"]: x for x in r["policies"]}
                sf, lb = p["serflow"], p["libra"]
                save = 1 - sf["cost_usd"] / lb["cost_usd"]
                save_pr = 1 - pr["cost_usd"] / lb["cost_usd"]
                slo_b = min(x["slo_attainment_batch"] for x in list(p.values()) + [pr])
                rows.append([n, b, tau, usd(p["faas"]["cost_usd"]),
                             f"{usd(lb['cost_usd'])} {lb['vm_type'] or ''}".strip(),
                             f"{usd(sf['cost_usd'])} {sf['pool']}",
                             usd(pr["cost_usd"]), usd(p["oracle"]["cost_usd"]),
                             usd(r["lower_bound_usd"]), pct(save), pct(save_pr),
                             pct(slo_b), pct(sf["slo_attainment_request"])])
    table(["profile", "batching", "tau", "faas", "libra", "serflow", "serflow (paper rule)",
           "oracle", "lower bound", "serflow vs libra", "paper rule vs libra",
           "batch SLO (min)", "serflow request SLO"], rows)
print(f"Paper (WITS, tau {on['tau']}, epoch batching): costs not given in the text; "
      f"serflow saves over {pct(on['saving_vs_libra_abstract'])} against LIBRA (abstract; the "
      f"conclusion says over {pct(on['saving_vs_libra_conclusion'])}); {on['order']}.\n")

# Table 8: Fig. 13's scaling narrative, the paper rule on the reconstruction, WITS, tau 0.7.
print("### Table 8: instances ready over the WITS replay, serflow with the paper's rule, "
      "recon profile, tau 0.7, epoch batching (Fig. 13)\n")
series = list(csv.DictReader(open(f"{out}/series-wits-recon-epoch-0.7.csv")))
changes, prev = [], 0
for s in series:
    ready = int(s["serflow_ready"])
    if ready != prev:
        changes.append(f"{ready} from epoch {s['epoch']}")
        prev = ready
e50 = next(s for s in series if s["epoch"] == "50")
paper_sc = "; ".join(f"{x['instances']} decided at epoch {x['decided_epoch']}, ready by "
                     f"{x['ready_epoch']}" for x in on["scaling"])
table(["", "ready instances", "epoch 50"],
      [["paper", paper_sc, f"{on['epoch50_requests']} requests: 2 batches on instances, "
        "2 on functions"],
       ["serflow", "; ".join(changes),
        f"{e50['arrivals']} requests: {e50['serflow_batches_instances']} batches on "
        f"instances, {e50['serflow_batches_functions']} on functions"]])
PY

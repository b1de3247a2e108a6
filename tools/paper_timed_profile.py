#!/usr/bin/python3
"""paper_timed_profile.py - the SERFLOW paper's setting with the VGG16-SDN measured here.

Writes a serflow-profile/1 that keeps what the paper published about its hardware (batch times
of 100 requests on c6i.large 10.3 s, c6i.xlarge 5.5 s, 8,845 MB Lambda 4.3 s; the estimated
VM types of the reconstruction; SLO 6 s, batch 100, lambda-bar 16.67 req/s; EC2->Lambda
transfer) and takes everything about the model from a profile `serflow profile` measured on
models/vgg16-sdn: the exit fractions and accuracy per tau, the per-classifier accuracy, the
LZ4 hidden-state bytes, and how a batch's time splits over the 11 stages (each stage's share of
the measured one-thread time of a batch of 100, in place of the reconstruction's MAC split).

So the planner and the replay see the paper's prices and speeds with a real exit distribution
instead of the reconstruction's confidence model (docs/profiles.md, docs/paper.md).
Standard library only; deterministic.

Usage: /usr/bin/python3 tools/paper_timed_profile.py --measured data/profiles/vgg16-sdn-local.json
           [--paper data/profiles/vgg16-sdn-cifar10.json] [--runtime local-1t] --out FILE
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--measured", required=True, help="serflow profile of models/vgg16-sdn")
    ap.add_argument("--paper", default="data/profiles/vgg16-sdn-cifar10.json")
    ap.add_argument("--runtime", default="local-1t",
                    help="measured VM runtime whose per-stage split is used")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.measured) as f:
        meas = json.load(f)
    with open(a.paper) as f:
        paper = json.load(f)
    ns = len(paper["stages"])
    if len(meas["stages"]) != ns:
        sys.exit(f"paper_timed_profile: {a.measured} has {len(meas['stages'])} stages, the "
                 f"paper's model {ns}")
    rt = [r for r in meas["runtimes"] if r.get("name") == a.runtime]
    if not rt:
        sys.exit(f"paper_timed_profile: no runtime '{a.runtime}' in {a.measured}")
    rt = rt[0]
    b = paper["batch_size"]
    # Each stage's time for a batch of B on the measured runtime, and its share.
    t = [b * rt["per_request"][i] + rt.get("per_batch", [0] * ns)[i] for i in range(ns)]
    share = [x / sum(t) for x in t]
    out = dict(paper)
    out["model"] = "vgg16-sdn-fmnist-paper-times"
    out["description"] = ("VGG16-SDN trained on Fashion-MNIST here (models/vgg16-sdn): measured "
                          "exits, accuracy, LZ4 sizes and per-stage time split, on the SERFLOW "
                          "paper's published batch times, SLO and rate.")
    out["provenance"] = {
        "generator": f"tools/paper_timed_profile.py --measured {a.measured} --paper {a.paper} "
                     f"--runtime {a.runtime} --out {a.out}",
        "measured": f"{a.measured}: exits, accuracy per tau, classifier accuracy, LZ4 bytes, "
                    f"per-stage share of a batch of {b} on {a.runtime} "
                    f"({', '.join(f'{s:.3f}' for s in share)})",
        "published": paper["provenance"]["published"],
        "note": "each runtime of the paper profile keeps its total per batch of 100 and is "
                "split over the stages by the measured shares",
    }
    out["classifier_accuracy"] = meas["classifier_accuracy"]
    out["exits"] = meas["exits"]
    out["stages"] = []
    for i, st in enumerate(paper["stages"]):
        s = dict(st)
        s["hidden_bytes_raw"] = meas["stages"][i]["hidden_bytes_raw"]
        s["hidden_bytes_lz4"] = meas["stages"][i]["hidden_bytes_lz4"]
        out["stages"].append(s)
    out["input_bytes"] = meas["input_bytes"]
    out["runtimes"] = []
    for r in paper["runtimes"]:
        total = sum(b * x for x in r["per_request"]) + sum(r.get("per_batch", [0] * ns))
        r2 = {k: v for k, v in r.items() if k not in ("per_request", "per_batch")}
        r2["per_request"] = [round(total * s / b, 9) for s in share]
        r2["source"] = r["source"].replace("split by MACs", "split by the measured shares")
        out["runtimes"].append(r2)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""deploy_names.py RULES DASHBOARD METRICS_FILE... : the deployment files of deploy/ against the
/metrics of running serflow processes (tests/integration/deploy_names.sh scrapes them).

Checks that every metric a PromQL expression of the rules or of the dashboard selects is a sample
name of the given /metrics (or `up`, or a recording rule of RULES), that every label value an
expression matches exactly is one such a series has, that every metric name an annotation or a
panel description mentions exists, that every alert has `for`, a severity and a summary and a
description naming the metrics its expression reads, and the dashboard's shape (schemaVersion,
the ${DS_PROMETHEUS} datasource on every panel and query, unique ids). Prints each problem;
exits 1 if any."""
import json
import re
import sys

import yaml

problems = []


def bad(msg):
    problems.append(msg)


def read_metrics(paths):
    """sample name -> list of label dicts; the set of family names (# TYPE lines)"""
    samples, families = {}, set()
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+')
    lab_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for p in paths:
        for line in open(p):
            if line.startswith("# TYPE "):
                families.add(line.split()[2])
                continue
            if line.startswith("#") or not line.strip():
                continue
            m = line_re.match(line)
            if not m:
                bad("%s: unparsed sample line %r" % (p, line))
                continue
            samples.setdefault(m.group(1), []).append(dict(lab_re.findall(m.group(3) or "")))
    return samples, families


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}
IDENT = r'[a-zA-Z_:][a-zA-Z0-9_:]*'


def selectors(expr):
    """(metric, [(label, op, value)]) for every metric a PromQL expression selects"""
    e = expr
    # label_values(metric{...}, label) of a Grafana variable: its first argument
    m = re.match(r'\s*label_values\((.*),\s*' + IDENT + r'\s*\)\s*$', e, re.S)
    if m:
        e = m.group(1)
    e = re.sub(r'\[[^\]]*\]', ' ', e)  # ranges: [5m], [$__rate_interval]
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', r' ', e)
    out = []
    pos = 0
    tok = re.compile(r'(?<![\w$.:])(' + IDENT + r')\s*(\{[^}]*\})?\s*(\()?')
    while True:
        m = tok.search(e, pos)
        if not m:
            break
        pos = m.end() if not m.group(3) else m.end(1)
        name, matchers, call = m.group(1), m.group(2), m.group(3)
        if call and not matchers:
            continue  # a function or an aggregation
        if name in KEYWORDS:
            continue
        labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"',
                            matchers or "")
        out.append((name, labels))
    # a selector of labels only ({__name__=...}) would hide its metric from this check
    if re.search(r'(^|[^\w}])\{', e):
        bad("%r: a selector without a metric name" % expr)
    return out


def check_expr(where, expr, samples, recorded, used):
    names = selectors(expr)
    if not names:
        bad("%s: %r selects no metric" % (where, expr))
    for name, labels in names:
        used.add(name)
        if name == "up":
            continue
        if ":" in name:
            if name not in recorded:
                bad("%s: %s is no recording rule of the rules file" % (where, name))
            continue
        if name not in samples:
            bad("%s: %s is not on /metrics" % (where, name))
            continue
        for label, op, value in labels:
            if "$" in value or op in ("!=", "!~"):
                continue
            have = {s.get(label) for s in samples[name]}
            if op == "=":
                want = [value]
            elif re.fullmatch(r'[\w+.|-]+', value):
                want = value.split("|")  # a plain alternation: every branch
            else:
                continue
            for v in want:
                if v not in have:
                    bad("%s: no series %s{%s=%r} on /metrics (it has %s)" %
                        (where, name, label, v, sorted(x for x in have if x is not None)))


def base(name):
    return re.sub(r'_(bucket|sum|count)$', '', name)


def mentioned(text, samples, families):
    """every serflow_* name in a text must exist; returns those found"""
    names = set(re.findall(r'\b(serflow_[a-z0-9_]*[a-z0-9])', text))
    for n in names:
        if n not in samples and n not in families:
            bad("%r mentions %s, which is not on /metrics" % (text[:60], n))
    return names


def main():
    rules_path, dash_path = sys.argv[1], sys.argv[2]
    samples, families = read_metrics(sys.argv[3:])
    rules = yaml.safe_load(open(rules_path))
    recorded = {}
    for g in rules["groups"]:
        for r in g["rules"]:
            if "record" in r:
                recorded[r["record"]] = r["expr"]
    used = set()

    def raw(expr):
        """the metrics an expression reads, through the recording rules it uses"""
        out = set()
        for name, _ in selectors(expr):
            out |= raw(recorded[name]) if name in recorded else {name}
        return out

    n_alerts = 0
    for g in rules["groups"]:
        for r in g["rules"]:
            what = r.get("alert") or r.get("record")
            check_expr("rules " + what, r["expr"], samples, recorded, used)
            if "alert" not in r:
                continue
            n_alerts += 1
            if "for" not in r:
                bad("alert %s has no for:" % what)
            if r.get("labels", {}).get("severity") not in ("warning", "critical"):
                bad("alert %s: severity %r" % (what, r.get("labels", {}).get("severity")))
            ann = r.get("annotations", {})
            if not ann.get("summary") or not ann.get("description"):
                bad("alert %s lacks a summary or a description" % what)
                continue
            text = ann["summary"] + " " + ann["description"]
            mentioned(text, samples, families)
            for n in raw(r["expr"]):
                if n not in text and base(n) not in text:
                    bad("alert %s: its annotations do not name %s" % (what, n))
    if n_alerts < 10:
        bad("only %d alerts" % n_alerts)

    dash = json.load(open(dash_path))
    if dash.get("schemaVersion", 0) < 36:
        bad("dashboard schemaVersion %s < 36" % dash.get("schemaVersion"))
    tvars = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = tvars.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        bad("dashboard: no datasource variable DS_PROMETHEUS of type prometheus")
    want_ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for name, v in tvars.items():
        if v.get("type") == "query":
            if v.get("datasource") != want_ds:
                bad("dashboard variable %s: datasource %r" % (name, v.get("datasource")))
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            check_expr("dashboard variable " + name, q, samples, recorded, used)
    ids = set()
    n_panels = 0
    for p in dash["panels"]:
        if p["id"] in ids:
            bad("dashboard: panel id %s twice" % p["id"])
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            bad("dashboard panel %r: wider than the grid" % p["title"])
        if p["type"] == "row":
            continue
        n_panels += 1
        if p.get("datasource") != want_ds:
            bad("dashboard panel %r: datasource %r" % (p["title"], p.get("datasource")))
        mentioned(p.get("description", ""), samples, families)
        if not p.get("targets"):
            bad("dashboard panel %r has no query" % p["title"])
        for t in p.get("targets", []):
            if t.get("datasource") != want_ds:
                bad("dashboard panel %r %s: datasource %r" % (p["title"], t["refId"], t.get("datasource")))
            check_expr("dashboard panel %r %s" % (p["title"], t["refId"]), t["expr"], samples,
                       recorded, used)
    for p in problems:
        print("FAIL:", p)
    print("deploy_names: %d alerts, %d panels, %d metrics used, %d problems" %
          (n_alerts, n_panels, len(used), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

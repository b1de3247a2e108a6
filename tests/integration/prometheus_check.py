#!/usr/bin/python3
"""prometheus_check.py PHASE PROM_URL SERVE_METRICS LAMBDA_METRICS [ARGS]: what a real Prometheus
(tests/integration/prometheus_scrape.sh) stored from serve and its function runtime.

idle: both targets up; then, as soon as rate() of one request counter of each target has a
  sample, rate(C{job=J}[5s]) of every counter C of each target J has one sample per series its
  /metrics has (the same label sets), finite and >= 0, and 0 for every serflow_requests_*
  counter (nothing sent yet).
load N DASHBOARD RULES: after N requests: serflow_requests_accepted_total = N; rate(C[5s]) of
  every counter still one sample per series; every rule of RULES evaluated without error, no
  alert firing; every expression of DASHBOARD (its variables set) valid and not empty.
Prints each problem; exits 1 if any. Waits are bounded (30 s)."""
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request

problems = []


def bad(msg):
    problems.append(msg)


def api(prom, path, **params):
    url = prom + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.loads(r.read())
    if body.get("status") != "success":
        raise RuntimeError("%s: %s" % (path, body))
    return body["data"]


def query(prom, q):
    return api(prom, "/api/v1/query", query=q)["result"]


def wait(what, fn, limit_s=30):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.2)
    bad("%s: not within %d s" % (what, limit_s))
    return False


def counters(files):
    """(job, counter family) -> set of label sets (frozensets) on that job's /metrics"""
    fams = {}
    for job, p in files:
        text = open(p).read()
        for name in re.findall(r'^# TYPE (\S+) counter$', text, re.M):
            sets = set()
            for m in re.finditer(r'^' + re.escape(name) + r'(\{(.*)\})?\s', text, re.M):
                sets.add(frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"',
                                              m.group(2) or "")))
            fams[job, name] = sets
    return fams


def check_rates(prom, fams, idle):
    for (job, name), want in sorted(fams.items()):
        q = 'rate(%s{job="%s"}[5s])' % (name, job)
        res = query(prom, q)
        got = {frozenset((k, v) for k, v in s["metric"].items() if k not in ("job", "instance"))
               for s in res}
        if got != want or len(res) != len(want):
            bad("%s: series %s, /metrics has %s" %
                (q, sorted(map(sorted, got)), sorted(map(sorted, want))))
        for s in res:
            v = float(s["value"][1])
            if not math.isfinite(v) or v < 0:
                bad("%s %s = %s" % (q, s["metric"], v))
            if idle and name.startswith("serflow_requests_") and v != 0:
                bad("%s %s = %s with nothing sent" % (q, s["metric"], v))
    return len(fams)


def main():
    phase, prom, serve_m, lambda_m = sys.argv[1:5]
    fams = counters([("serflow", serve_m), ("serflow-lambda", lambda_m)])
    if phase == "idle":
        for job in ("serflow", "serflow-lambda"):
            wait("up{job=%r} == 1" % job,
                 lambda: [s for s in query(prom, 'up{job="%s"}' % job) if s["value"][1] == "1"])
        # the first moment a rate() is defined on each target (its first two scrapes; the
        # targets' scrapes are spread over the interval): every series has one already
        for c in ("serflow_requests_accepted_total", "serflow_function_invocations_total"):
            wait("rate(%s[5s]) defined" % c, lambda: query(prom, "rate(%s[5s])" % c))
        n = check_rates(prom, fams, True)
        print("idle: rate() of %d counters defined" % n)
    else:
        n_sent, dash_path, rules_path = int(sys.argv[5]), sys.argv[6], sys.argv[7]
        wait("serflow_requests_accepted_total = %d" % n_sent,
             lambda: [s for s in query(prom, "serflow_requests_accepted_total")
                      if float(s["value"][1]) == n_sent])
        check_rates(prom, fams, False)
        n_rules = sum(1 for line in open(rules_path) if re.match(r'\s+- (alert|record):', line))

        def evaluated():
            rules = [r for g in api(prom, "/api/v1/rules")["groups"] for r in g["rules"]]
            return len(rules) == n_rules and all(r["health"] != "unknown" for r in rules)
        wait("every rule of %s evaluated" % rules_path, evaluated)
        for g in api(prom, "/api/v1/rules")["groups"]:
            for r in g["rules"]:
                if r["health"] != "ok":
                    bad("rule %s: %s %s" % (r["name"], r["health"], r.get("lastError")))
                if r["type"] == "alerting" and r["state"] == "firing":
                    bad("alert %s fires on a healthy deployment: %s" % (r["name"], r["alerts"]))
        # the recording rule's first evaluation after the answers were scraped: a ratio
        wait("serflow:slo_attainment:ratio_rate5m a number",
             lambda: [s for s in query(prom, "serflow:slo_attainment:ratio_rate5m")
                      if not math.isnan(float(s["value"][1]))])
        att = query(prom, "serflow:slo_attainment:ratio_rate5m")
        if len(att) != 1 or not 0 <= float(att[0]["value"][1]) <= 1:
            bad("serflow:slo_attainment:ratio_rate5m = %s" % att)
        dash = json.load(open(dash_path))
        subst = {"$__rate_interval": "5s", "$lambda_job": "serflow-lambda", "$instance": ".*",
                 "$job": "serflow"}

        def fill(e):
            for k, v in subst.items():
                e = e.replace(k, v)
            return e
        n = 0
        for v in dash["templating"]["list"]:
            m = re.match(r'label_values\((.*),\s*(\w+)\)$', v.get("definition", ""))
            if m:
                res = query(prom, "count by (%s) (%s)" % (m.group(2), fill(m.group(1))))
                if not [s for s in res if m.group(2) in s["metric"]]:
                    bad("dashboard variable %s: no value" % v["name"])
                n += 1
        for p in dash["panels"]:
            for t in p.get("targets", []):
                try:
                    res = query(prom, fill(t["expr"]))
                except (OSError, RuntimeError) as e:
                    bad("panel %r %s: %s" % (p["title"], t["refId"], e))
                    continue
                if not res:
                    bad("panel %r %s: %s is empty" % (p["title"], t["refId"], fill(t["expr"])))
                n += 1
        print("load: %d rules evaluated, %d dashboard queries answered" % (n_rules, n))
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

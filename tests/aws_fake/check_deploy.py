#!/usr/bin/python3
"""check_deploy.py - deploy/aws against its docs and against the calls serflow makes (in ctest
as aws_deploy_check; test_aws_fake runs it again with --iam-actions).

- deploy/aws/serflow.yaml parses as YAML (CloudFormation's short tags: !Ref, !Sub, ...);
- every Parameter and Resource is named in docs/deploy-aws.md's tables, and every name those
  tables give is in the template;
- no scaling policy or scheduled action (the controller alone sizes the group), IMDSv2 required
  on every instance, the Lambda memory is the FunctionMemoryMb parameter;
- the controller's policy (IngressRole) grants exactly the API calls of serflow's aws clients:
  with --iam-actions A,B,... (the IAM actions of the calls the fake AWS recorded) the sets must
  be equal; without it, each action must be one the clients' table can make
  (src/aws/retry.c, read here only for its "service:Action" strings); with
  --iam-actions-within A,B,... (the calls of one run, which need not make every call) each must
  be granted;
- with --worker-actions A,B,... (the calls the workers made, signed with their instance role),
  the workers' serflow statement (WorkerRole's TailFanOut) grants exactly those.
Exit 0 when all hold; each failure is one line.
"""
import argparse
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAGS = ["Ref", "Sub", "GetAtt", "Base64", "Select", "Join", "Split", "If", "Equals", "Not",
        "And", "Or", "FindInMap", "ImportValue", "GetAZs", "Condition", "Cidr"]


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            v = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            v = loader.construct_sequence(node, deep=True)
        else:
            v = loader.construct_mapping(node, deep=True)
        key = "Ref" if name == "Ref" else "Fn::" + name
        return {key: v.split(".") if name == "GetAtt" and isinstance(v, str) else v}
    return construct


for t in TAGS:
    CfnLoader.add_constructor("!" + t, _tag(t))


def doc_names(doc, heading):
    """Backticked identifiers in the first column of the table under `## heading`."""
    m = re.search(r"^##+ %s\s*$(.*?)(?=^## |\Z)" % re.escape(heading), doc, re.M | re.S)
    if not m:
        return None
    names = set()
    for line in m.group(1).splitlines():
        cells = line.split("|")
        if len(cells) > 2:
            names.update(re.findall(r"`([A-Za-z][A-Za-z0-9]+)`", cells[1]))
    return names


def actions_of(statements):
    out = set()
    for s in statements:
        a = s.get("Action", [])
        out.update([a] if isinstance(a, str) else a)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iam-actions", help="comma-separated IAM actions of the calls made")
    ap.add_argument("--iam-actions-within", help="IAM actions of one run's controller calls")
    ap.add_argument("--worker-actions", help="IAM actions of the workers' calls")
    ap.add_argument("--template", default=os.path.join(ROOT, "deploy/aws/serflow.yaml"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs/deploy-aws.md"))
    args = ap.parse_args()
    bad = []
    with open(args.template, encoding="utf-8") as f:
        t = yaml.load(f, Loader=CfnLoader)
    params, res = t.get("Parameters", {}), t.get("Resources", {})
    if not params or not res:
        bad.append("template: no Parameters or Resources")
    with open(args.doc, encoding="utf-8") as f:
        doc = f.read()
    for heading, names, what in (("Parameters", set(params), "parameter"),
                                 ("Resources", set(res), "resource")):
        named = doc_names(doc, heading)
        if named is None:
            bad.append(f"docs: no '## {heading}' table")
            continue
        for n in sorted(names - named):
            bad.append(f"docs: {what} {n} of the template is not in the {heading} table")
        for n in sorted(named - names):
            bad.append(f"docs: {heading} table names {n}, which the template does not have")
    for name, r in res.items():
        typ = r.get("Type", "")
        if typ in ("AWS::AutoScaling::ScalingPolicy", "AWS::AutoScaling::ScheduledAction",
                   "AWS::ApplicationAutoScaling::ScalingPolicy"):
            bad.append(f"template: {name} ({typ}) scales the group behind the controller's back")
        if typ == "AWS::EC2::LaunchTemplate":
            mo = r["Properties"]["LaunchTemplateData"].get("MetadataOptions", {})
            if mo.get("HttpTokens") != "required":
                bad.append(f"template: {name} does not require IMDSv2")
        if typ == "AWS::EC2::Instance":
            if r["Properties"].get("MetadataOptions", {}).get("HttpTokens") != "required":
                bad.append(f"template: {name} does not require IMDSv2")
        if typ == "AWS::Lambda::Function":
            if r["Properties"].get("MemorySize") != {"Ref": "FunctionMemoryMb"}:
                bad.append(f"template: {name}: MemorySize is not the FunctionMemoryMb parameter")
    # the controller's permissions
    role = res.get("IngressRole", {}).get("Properties", {})
    pol = [p for p in role.get("Policies", []) if p.get("PolicyName") == "serflow-controller"]
    if len(pol) != 1:
        bad.append("template: IngressRole has no serflow-controller policy")
        granted = set()
    else:
        granted = actions_of(pol[0]["PolicyDocument"]["Statement"])
    if any("*" in a for a in granted):
        bad.append(f"template: a wildcard action in the controller's policy: {sorted(granted)}")
    if args.iam_actions is not None:
        made = {a for a in args.iam_actions.split(",") if a}
        if granted != made:
            bad.append(f"iam: the policy grants {sorted(granted)}; the clients made "
                       f"{sorted(made)} (missing {sorted(made - granted)}, extra "
                       f"{sorted(granted - made)})")
    else:
        with open(os.path.join(ROOT, "src/aws/retry.c"), encoding="utf-8") as f:
            table = set(re.findall(r'"([a-z0-9]+:[A-Za-z]+)"', f.read()))
        if granted != table:
            bad.append(f"iam: the policy grants {sorted(granted)}; the clients' table has "
                       f"{sorted(table)}")
    if args.iam_actions_within is not None:
        made = {a for a in args.iam_actions_within.split(",") if a}
        if not made or not made <= granted:
            bad.append(f"iam: the controller made {sorted(made)}; its policy does not grant "
                       f"{sorted(made - granted)}")
    if args.worker_actions is not None:
        wrole = res.get("WorkerRole", {}).get("Properties", {})
        wst = [st for p in wrole.get("Policies", []) for st in p["PolicyDocument"]["Statement"]
               if st.get("Sid") == "TailFanOut"]
        wgranted = actions_of(wst)
        made = {a for a in args.worker_actions.split(",") if a}
        if wgranted != made:
            bad.append(f"iam: the workers' TailFanOut grants {sorted(wgranted)}; the workers made "
                       f"{sorted(made)}")
    for b in bad:
        print(b)
    print("check_deploy: %d resources, %d parameters, %d controller actions: %s"
          % (len(res), len(params), len(granted), "ok" if not bad else "%d problems" % len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

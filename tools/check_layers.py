#!/usr/bin/python3
"""check_layers.py - serflow's layers, read from the code.

Every module (src/<module>/, with src/serve/wire/ as `wire` and the rest of src/serve/ as
`serve`) declares the modules it may use in CMakeLists.txt (sf_module(NAME ... DEPS ...)), and
the build links each module only against those (a back-edge fails to link). This script checks
the other half, the #include lines, and keeps docs/ARCHITECTURE.md's picture true:

  1. every public header (include/serflow/*.h) belongs to exactly one module (HEADERS below);
  2. every `#include "serflow/X.h"` in a module's sources, and in the headers it owns, names a
     header of the module itself or of a module it declares (directly or through them);
  3. the declared graph has no cycle;
  4. the block between the markers in docs/ARCHITECTURE.md equals the picture drawn from the
     real include graph (--write redraws it).

Usage: check_layers.py --check SOURCE_DIR    (a test: exit 1 with every problem listed)
       check_layers.py --write SOURCE_DIR    (redraw the picture in docs/ARCHITECTURE.md)
"""
import os
import re
import sys

# The module that owns each public header. A new header must be added here (the check says so).
HEADERS = {
    "core": ["core", "limits", "log"],
    "nn": ["nn", "nn_codec", "nn_profile"],
    "model": ["model", "billing", "trace"],
    "plan": ["plan"],
    "ctl": ["ctl", "policy", "batcher"],
    "bind": ["bind"],
    "sim": ["sim"],
    "cloud": ["cloud"],
    "aws": ["aws"],
    "auth": ["auth"],
    "wire": ["wire", "metrics", "http"],
    "serve": ["ingress", "worker", "lambda", "function", "load"],
    "cli": [],
}

# What each module is, for the picture.
ABOUT = {
    "cli": "the commands: the only code that prints for people or exits",
    "serve": "the serving programs: ingress, VM worker, function runtime, function, load",
    "wire": "frames, OIP v2, Prometheus metrics, HTTP server glue and client",
    "cloud": "providers of instances (local processes; AWS), child processes",
    "aws": "AWS clients: SigV4, credentials, retries, Query/REST APIs",
    "auth": "identities between the serving processes: keys, request tokens, response MACs",
    "sim": "trace replay of bound policies; the clairvoyant oracle and static fleet",
    "bind": "the one binding from a plan to a running policy",
    "ctl": "monitor, scaling rules, fleet, balancer, batcher and its loop, policy registry",
    "plan": "cost model (eq. 1-4), T-CIP, S-CIP, configurators (Alg. 1-2)",
    "model": "profiles, pricing catalog, billing rules, traces: types + checked loaders",
    "nn": "early-exit inference: ONNX stages, backends, exit rule, LZ4 codec, profiling",
    "core": "status codes, error lines, capped reads, output files, checked JSON, RNG, the log",
}

BEGIN = "<!-- layers: drawn by tools/check_layers.py from the #include graph; do not edit -->"
END = "<!-- end of layers -->"
INCLUDE = re.compile(r'^\s*#\s*include\s+"serflow/([A-Za-z0-9_]+)\.h"', re.M)


def module_of(rel):
    parts = rel.split("/")
    if parts[0] != "src" or len(parts) < 3:
        return None
    if parts[1] == "serve":
        return "wire" if parts[2] == "wire" else "serve"
    return parts[1]


def declared_deps(src):
    text = open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8").read()
    deps = {}
    for m in re.finditer(r"^sf_module\((\w+)(.*?)\)\s*$", text, re.M | re.S):
        name, args = m.group(1), m.group(2)
        words = args.split()
        got, on = [], False
        for w in words:
            if w in ("SOURCES", "LIBS", "PRIVATE_INCLUDES"):
                on = False
            elif w == "DEPS":
                on = True
            elif on:
                got.append(w)
        deps[name] = got
    return deps


def closure(deps, m, seen=None):
    seen = set() if seen is None else seen
    for d in deps.get(m, []):
        if d not in seen:
            seen.add(d)
            closure(deps, d, seen)
    return seen


def real_graph(src, owner, problems):
    graph = {m: set() for m in HEADERS}
    files = []
    for root, _, names in os.walk(os.path.join(src, "src")):
        for n in names:
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(root, n), src))
    for h in sorted(os.listdir(os.path.join(src, "include", "serflow"))):
        if h.endswith(".h"):
            files.append(os.path.join("include", "serflow", h))
    for rel in sorted(files):
        if rel.startswith("include/"):
            hname = os.path.basename(rel)[:-2]
            mod = owner.get(hname)
            if mod is None:
                problems.append("%s: no module owns this header (add it to HEADERS in %s)"
                                % (rel, os.path.basename(__file__)))
                continue
        else:
            mod = module_of(rel)
            if mod not in HEADERS:
                problems.append("%s: module '%s' is not known (add it to HEADERS)" % (rel, mod))
                continue
        text = open(os.path.join(src, rel), encoding="utf-8").read()
        for m in INCLUDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            h = m.group(1)
            to = owner.get(h)
            if to is None:
                problems.append("%s:%d: serflow/%s.h: no such public header" % (rel, line, h))
                continue
            if to != mod:
                graph[mod].add((to, rel, line))
    return graph


def order(deps):
    """Modules from the top (nothing uses them) down; None when the graph has a cycle."""
    done, out = set(), []
    remaining = set(deps)
    while remaining:
        ready = sorted(m for m in remaining if all(d in done for d in deps[m]))
        if not ready:
            return None
        for m in ready:
            done.add(m)
            out.append(m)
        remaining -= set(ready)
    return list(reversed(out))


def picture(graph, top_down):
    lines = ["```", "module  what it is", "        -> the modules its #include lines use (top to bottom)"]
    for m in top_down:
        uses = sorted({to for to, _, _ in graph.get(m, set())}, key=top_down.index)
        lines.append("%-7s %s" % (m, ABOUT.get(m, "")))
        lines.append("        -> %s" % (" ".join(uses) if uses else "(nothing)"))
    lines.append("```")
    return "\n".join(lines)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("--check", "--write"):
        sys.stderr.write(__doc__)
        return 2
    src = argv[2]
    problems = []
    owner = {}
    for mod, hs in HEADERS.items():
        for h in hs:
            owner[h] = mod
    deps = declared_deps(src)
    present = {m for m in HEADERS if m in deps}
    for m in sorted(deps):
        if m not in HEADERS:
            problems.append("CMakeLists.txt: module '%s' is not in HEADERS" % m)
        for d in deps[m]:
            if d not in deps:
                problems.append("CMakeLists.txt: module %s depends on unknown module %s" % (m, d))
    top_down = order({m: [d for d in deps[m] if d in deps] for m in deps})
    if top_down is None:
        problems.append("CMakeLists.txt: the declared module dependencies have a cycle")
        top_down = sorted(deps)
    graph = real_graph(src, owner, problems)
    for m in sorted(graph):
        if m not in present:
            continue
        allowed = closure(deps, m)
        for to, rel, line in sorted(graph[m], key=lambda e: (e[1], e[2])):
            if to not in allowed:
                problems.append("%s:%d: module %s includes serflow/ header of %s, which it does "
                                "not declare (a back-edge, or a DEPS missing in CMakeLists.txt)"
                                % (rel, line, m, to))
    doc_path = os.path.join(src, "docs", "ARCHITECTURE.md")
    doc = open(doc_path, encoding="utf-8").read()
    want = BEGIN + "\n" + picture(graph, top_down) + "\n" + END
    a, b = doc.find(BEGIN), doc.find(END)
    if argv[1] == "--write":
        if a < 0 or b < 0:
            problems.append("docs/ARCHITECTURE.md: the layer markers are missing")
        else:
            doc = doc[:a] + want + doc[b + len(END):]
            tmp = doc_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(doc)
            os.replace(tmp, doc_path)
    elif a < 0 or b < 0 or doc[a:b + len(END)] != want:
        problems.append("docs/ARCHITECTURE.md: the layer picture is not the real graph's "
                        "(run tools/check_layers.py --write .)")
    for p in problems:
        sys.stderr.write("check_layers: %s\n" % p)
    if not problems:
        sys.stdout.write("check_layers: %d modules, every include follows the declared layers\n"
                         % len(present))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

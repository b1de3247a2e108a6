#!/usr/bin/env bash
# CLI tests of what the option parser gives every command: --version (one version, with the git
# commit of a checkout) and --config FILE (a command's section of a serflow-config/1 JSON file,
# the command line overriding it, errors as file:line: field: problem).
# Usage: config.sh BUILD/serflow SOURCE_DIR
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

# --version: the same line from serflow and from every command, before anything else runs
expect "version" 0 "$bin" --version
has out "^serflow [0-9]+\.[0-9]+\.[0-9]+"
version=$(cat "$tmp/out")
want=$(sed -n 's/^project(serflow VERSION \([0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")
[ -n "$want" ] && grep -q "^serflow $want\b" "$tmp/out" && ok || bad "version is not CMake's $want: $version"
commit=$(sed -n 's/.*(git \([0-9a-f]*\))$/\1/p' "$tmp/out")
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    # built from a checkout: the commit is one of its objects
    [ -n "$commit" ] && git -C "$src" cat-file -e "$commit^{commit}" && ok || bad "commit '$commit' not in the checkout"
fi
expect "command list" 0 "$bin" --help
commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p' "$tmp/out")
[ "$(echo $commands | wc -w)" -ge 11 ] && ok || bad "command list: $commands"
for c in $commands; do
    expect "$c --version" 0 "$bin" "$c" --version
    [ "$(cat "$tmp/out")" = "$version" ] && ok || bad "$c --version: $(cat "$tmp/out")"
done
expect "version after a bad option" 2 "$bin" plan --tau 7 --version
has err "--tau"
expect "version takes no value" 2 "$bin" plan --version=2
has err "--version takes no value"

# --config: a file equals its command line, and the command line overrides the file
cat >"$tmp/c.json" <<'JSON'
{
  "format": "serflow-config/1",
  "notes": "one file for several commands",
  "plan": {
    "tau": 0.85,
    "batching": "epoch",
    "rate": 20,
    "json": true
  },
  "replay": {"epochs": 60, "policy": "serflow,oracle", "json": true, "quiet": true,
             "cold-start": "18:22", "seed": 3},
  "worker": {"port": 0}
}
JSON
expect "plan args" 0 "$bin" plan --tau 0.85 --batching epoch --rate 20 --json
cp "$tmp/out" "$tmp/args.json"
expect "plan config" 0 "$bin" plan --config "$tmp/c.json"
cmp -s "$tmp/out" "$tmp/args.json" && ok || bad "plan: the config file differs from its command line"
expect "plan override" 0 "$bin" plan --config="$tmp/c.json" --tau 0.5
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['tau']==0.5 and d['batching']=='epoch' and d['rate_rps']==20" && ok || bad "plan override"
expect "replay args" 0 "$bin" replay --epochs 60 --policy serflow,oracle --json --quiet --cold-start 18:22 --seed 3
cp "$tmp/out" "$tmp/args.json"
expect "replay config" 0 "$bin" replay --config "$tmp/c.json"
cmp -s "$tmp/out" "$tmp/args.json" && ok || bad "replay: the config file differs from its command line"
expect "replay override" 0 "$bin" replay --config "$tmp/c.json" --policy faas --epochs 30
/usr/bin/python3 -c "
import json; d=json.load(open('$tmp/out'))
assert d['epochs'] == 30 and [p['name'] for p in d['policies']] == ['faas'] and d['seed'] == 3" && ok || bad "replay override"

# errors: file:line: command.option: problem, exit 2, nothing run
cat >"$tmp/bad.json" <<'JSON'
{
  "format": "serflow-config/1",
  "plan": {
    "tau": 1.5
  }
}
JSON
expect "bad value" 2 "$bin" plan --config "$tmp/bad.json"
has err "^serflow plan: .*bad.json:4: plan.tau: expected a confidence threshold, a number in \(0, 1\], got '1.5'"
sed 's/"tau": 1.5/"tua": 0.7/' "$tmp/bad.json" >"$tmp/typo.json"
expect "unknown option" 2 "$bin" plan --config "$tmp/typo.json"
has err "typo.json:4: plan.tua: unknown option of serflow plan"
sed 's/"tau": 1.5/"json": "yes"/' "$tmp/bad.json" >"$tmp/flag.json"
expect "flag not boolean" 2 "$bin" plan --config "$tmp/flag.json"
has err "flag.json:4: plan.json: expected true or false"
expect "no section" 2 "$bin" tracegen onoff --config "$tmp/c.json"
has err "c.json:1: tracegen: no section for serflow tracegen \(the file has plan, replay, worker\)"
expect "serving command" 2 "$bin" worker --config "$tmp/bad.json"
has err "no section for serflow worker"
printf '{"format": "serflow-config/1",\n "worker": {"port": 70000}}\n' >"$tmp/port.json"
expect "serving command, bad port" 2 "$bin" worker --config "$tmp/port.json"
has err "port.json:2: worker.port: expected"
printf '{"plan": {}}\n' >"$tmp/nofmt.json"
expect "no format" 2 "$bin" plan --config "$tmp/nofmt.json"
has err "nofmt.json:1: format: missing required field"
printf '{"format": "serflow-config/1", "plan": {"json": true,}}\n' >"$tmp/syntax.json"
expect "syntax" 2 "$bin" plan --config "$tmp/syntax.json"
has err "syntax.json:1: JSON syntax"
expect "missing file" 2 "$bin" plan --config "$tmp/nope.json"
has err "--config: .*nope.json: cannot open"
expect "a directory" 2 "$bin" plan --config "$tmp"
has err "is a directory"
expect "twice" 2 "$bin" plan --config "$tmp/c.json" --config "$tmp/c.json"
has err "--config: given twice"
expect "help wins over a bad file" 0 "$bin" plan --help --config "$tmp/nope.json"
has out "--config FILE"
finish config.sh

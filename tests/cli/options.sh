#!/usr/bin/env bash
# CLI tests of option parsing and exit status (issue 7, classes 6-8): every command refuses what
# it does not understand with a message that names the option and exits 2; help works for every
# command; a failed write to standard output is a failure. Usage: options.sh BUILD/serflow SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"

# help for every command, from the same table the parser uses
for c in plan replay profile demo help; do
    expect "help $c" 0 "$bin" help "$c"
    has out "^usage: serflow $c"
    expect "$c --help" 0 "$bin" "$c" --help
    has out "^usage: serflow $c"
done
expect "help list" 0 "$bin" help
has out "^Commands:"
expect "help unknown" 2 "$bin" help nope
has err "unknown command 'nope'"
[ ! -s "$tmp/out" ] && ok || bad "help nope printed to stdout"

# demo takes no options or arguments (it used to ignore them and run)
expect "demo --bogus" 2 "$bin" demo --bogus
has err "serflow demo: unknown option '--bogus'"
expect "demo extra" 2 "$bin" demo extra
has err "serflow demo: unexpected argument 'extra'"

# messages name the option, not the command
expect "short cluster" 2 "$bin" plan -xy
has err "unknown option '-x' in '-xy'"
expect "did you mean" 2 "$bin" plan --pro x
has err "did you mean --profile"
expect "missing value" 2 "$bin" plan --tau
has err "--tau: missing value"
expect "forgotten value" 2 "$bin" plan --plot --json
has err "--plot: missing value"
expect "flag with value" 2 "$bin" plan --json=yes
has err "--json takes no value"
expect "= form" 0 "$bin" plan --tau=0.7 --json
/usr/bin/python3 -c "import json; d=json.load(open('$tmp/out')); assert d['tau']==0.7" && ok || bad "--tau=0.7"

# values: checked, never truncated, never converted out of range
expect "empty plot dir" 2 "$bin" plan --plot ""
has err "--plot: expected a non-empty value"
expect "empty sweep" 2 "$bin" replay --sweep k=
has err "--sweep k: an empty value"
expect "sweep overflow" 2 "$bin" replay --sweep scale-period=1e300
has err "--sweep scale-period: expected .*integer"
expect "sweep fraction" 2 "$bin" replay --sweep terminate-delay=1.5
has err "--sweep terminate-delay"
long=$(printf 'faas,%.0s' $(seq 60))nope
expect "long policy list" 2 "$bin" replay --policy "$long"
has err "unknown policy 'nope'"
expect "long cold start" 2 "$bin" replay --cold-start "3:$(printf '1%.0s' $(seq 70))"
has err "--cold-start: expected MIN:MAX"
expect "bad seed" 2 "$bin" replay --seed -1
has err "--seed"
expect "escaped value" 2 "$bin" plan --tau "$(printf '\033[31m')"
grep -q $'\033' "$tmp/err" && bad "escape byte echoed" || ok
has err '\\x1B\[31m'

# every policy asked for skipped: an error, not an empty table from uninitialised results
/usr/bin/python3 - "$src/data/profiles/vgg16-sdn-cifar10.json" "$tmp/novm.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["runtimes"] = [r for r in p["runtimes"] if r["kind"] != "vm"]
json.dump(p, open(sys.argv[2], "w"))
PY
expect "all policies skipped" 1 "$bin" replay --profile "$tmp/novm.json" --policy libra,spock
has err "no policy left to replay"
[ ! -s "$tmp/out" ] && ok || bad "printed a table with no policy"

# help says what the defaults are (it once called paper the default while expected was); the
# controller's default is follow (src/ctl/ctl.c)
expect "scaling default" 0 "$bin" help replay
has out "follow \(the default"
[ "$(grep -c '(the default' "$tmp/out")" -ge 1 ] && ! grep -q "paper (the default\|expected (the default" "$tmp/out" && ok || bad "help names another default"

# standard output that cannot be written is a failure (it used to exit 0)
if [ -w /dev/full ]; then
    "$bin" plan >/dev/full 2>"$tmp/err"; rc=$?
    [ "$rc" -eq 1 ] && ok || bad "plan >/dev/full: exit $rc, want 1"
    has err "write error on standard output"
    "$bin" plan --help >/dev/full 2>"$tmp/err"; rc=$?
    [ "$rc" -eq 1 ] && ok || bad "plan --help >/dev/full: exit $rc, want 1"
fi

finish options.sh

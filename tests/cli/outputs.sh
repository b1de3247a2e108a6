#!/usr/bin/env bash
# CLI tests of output files and plots (issue 7, classes 1, 3 and 6): nothing from data runs as
# code (gnuplot gets an argument vector and quoted strings), output files never follow a
# planted name and never replace a device, and a failed write is a failure. Usage:
# outputs.sh BUILD/serflow SRC
set -u
bin=$1; src=$2
. "$(dirname "$0")/lib.bash"
prof="$src/data/profiles/vgg16-sdn-cifar10.json"
price="$src/data/pricing/aws-us-east-1.json"

# --- class 1: a VM type named to break out of a gnuplot string, in both files
evil="a'.system('touch PWNED').'"
/usr/bin/python3 - "$prof" "$price" "$evil" "$tmp" <<'PY'
import json, sys
prof, price, evil, tmp = sys.argv[1:5]
p = json.load(open(prof)); c = json.load(open(price))
old = c["vm"]["types"][0]["name"]
c["vm"]["types"][0]["name"] = evil
for r in p["runtimes"]:
    if r.get("name") == old:
        r["name"] = evil
json.dump(p, open(tmp + "/evil-prof.json", "w")); json.dump(c, open(tmp + "/evil-price.json", "w"))
PY
expect "evil name plot" 0 "$bin" plan --tau 0.7 --profile "$tmp/evil-prof.json" --pricing "$tmp/evil-price.json" --plot "$tmp/p1"
[ ! -e "$tmp/PWNED" ] && [ ! -e "$tmp/p1/PWNED" ] && ok || bad "gnuplot ran a command from a VM name"
grep -qF "'a''.system(''touch PWNED'').'''" "$tmp/p1/plan.gp" && ok || bad "name not quoted as a gnuplot string"
[ -s "$tmp/p1/cost_vs_cut_tau0.70.png" ] && ok || bad "plot with a quoted name missing"
# the directory name reaches no shell and no script
pdir="$tmp/x'; touch PWNED2; echo '"
expect "evil plot dir" 0 "$bin" plan --tau 0.7 --plot "$pdir"
[ ! -e "$tmp/PWNED2" ] && [ -s "$pdir/tcip_sweep.png" ] && ok || bad "--plot DIR with quotes"
! grep -qF "PWNED2" "$pdir/plan.gp" && ok || bad "directory name inside the script"
# a name with a control character is refused where the file is read
sed 's/"name": "c6i.large"/"name": "c6i\\nlarge"/' "$price" >"$tmp/nl-price.json"
expect "control char in name" 2 "$bin" plan --pricing "$tmp/nl-price.json"
has err "nl-price.json:[0-9]+: vm.types\[0\].name: control character"
# nor one a terminal would reorder or hide (issue 16, defect 21): refused, and shown escaped
sed 's/"name": "c6i.large"/"name": "c6i.\\u202eegral"/' "$price" >"$tmp/bidi-price.json"
expect "bidi override in name" 2 "$bin" plan --pricing "$tmp/bidi-price.json"
has err 'bidi-price.json:[0-9]+: vm.types\[0\].name: invisible, reordering or C1 control character in "c6i.\\u202Eegral"'
grep -q $'\xe2\x80\xae' "$tmp/err" "$tmp/out" && bad "raw bidi override printed" || ok

# --- class 3: outputs never follow planted names, never replace devices
echo victim >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/s.csv.tmp"
ln -s "$tmp/victim" "$tmp/link.csv"
expect "csv with planted .tmp" 0 "$bin" replay --epochs 20 --policy faas --csv "$tmp/s.csv" --quiet
[ "$(cat "$tmp/victim")" = victim ] && [ -L "$tmp/s.csv.tmp" ] && ok || bad "planted .tmp symlink followed"
head -1 "$tmp/s.csv" | grep -q '^epoch,arrivals' && ok || bad "csv content"
expect "csv over a symlink" 0 "$bin" replay --epochs 20 --policy faas --csv "$tmp/link.csv" --quiet
[ "$(cat "$tmp/victim")" = victim ] && [ ! -L "$tmp/link.csv" ] && [ -f "$tmp/link.csv" ] && ok || bad "symlink target clobbered"
expect "csv to stdout" 0 "$bin" replay --epochs 20 --policy faas --csv - --json
grep -q '^epoch,arrivals' "$tmp/out" && ok || bad "--csv - not on stdout"
expect "csv to /dev/stdout" 0 "$bin" replay --epochs 20 --policy faas --csv /dev/stdout --json
grep -q '^epoch,arrivals' "$tmp/out" && [ -L /dev/stdout ] && ok || bad "/dev/stdout replaced or unused"
expect "csv to /dev/null" 0 "$bin" replay --epochs 20 --policy faas --csv /dev/null --quiet
[ -c /dev/null ] && ok || bad "/dev/null replaced"
mkfifo "$tmp/fifo"
expect "fifo without reader" 2 timeout 20 "$bin" replay --epochs 20 --policy faas --csv "$tmp/fifo"
has err "no reader"
expect "csv is a directory" 2 "$bin" replay --epochs 20 --policy faas --csv "$tmp"
has err "is a directory"
expect "csv in a missing directory" 2 "$bin" replay --epochs 20 --policy faas --csv "$tmp/none/x.csv"
has err "none/x.csv: cannot create a file"
(umask 077; "$bin" replay --epochs 20 --policy faas --csv "$tmp/private.csv" --quiet >/dev/null 2>&1)
[ "$(stat -c %a "$tmp/private.csv")" = 600 ] && ok || bad "new file ignores the umask"
[ -z "$(find "$tmp" -name '.serflow-*')" ] && ok || bad "temporary files left behind"
# plots: a planted symlink in the plot directory is replaced, not written through
mkdir -p "$tmp/p2" && ln -s "$tmp/victim" "$tmp/p2/cost.png"
expect "plot over a symlink" 0 "$bin" replay --epochs 20 --policy faas,serflow --plot "$tmp/p2" --quiet
[ "$(cat "$tmp/victim")" = victim ] && [ ! -L "$tmp/p2/cost.png" ] && ok || bad "plot followed a symlink"
expect "plot dir is a file" 2 "$bin" plan --plot "$tmp/victim"
has err "not a directory"
# every plot starts from a clean state (cost.png once inherited the epoch plots' x range)
awk '/^reset$/ { r = 1 } /^set output/ { if (!r) bad = 1; r = 0 } END { exit bad }' "$tmp/p2/replay.gp" && ok || bad "a plot without reset"

# --- class 6: a write that fails is a failure (a full disk: file size limit, SIGXFSZ ignored)
( trap '' XFSZ; ulimit -f 8; "$bin" plan --tau 0.7 --plot "$tmp/p3" >/dev/null 2>"$tmp/err" ); rc=$?
[ "$rc" -eq 1 ] && ok || bad "plots on a full disk: exit $rc, want 1"
has err "not written completely|write error|gnuplot failed"
! grep -q "plots written" "$tmp/err" && ok || bad "claimed plots written"
( trap '' XFSZ; ulimit -f 8; "$bin" replay --epochs 2000 --policy faas --csv "$tmp/big.csv" --quiet >/dev/null 2>"$tmp/err" ); rc=$?
[ "$rc" -eq 1 ] && ok || bad "csv on a full disk: exit $rc, want 1"
has err "big.csv: write error"
[ ! -e "$tmp/big.csv" ] && ok || bad "half-written csv left as the target"

finish outputs.sh

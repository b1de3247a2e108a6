# lib.bash - helpers shared by the CLI test scripts (sourced, not run; not a test itself).
# Each script sets bin and src, sources this, and ends with `finish NAME`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# run inside the scratch directory, so that a relative path a test gets wrong lands there
bin=$(realpath "$bin"); src=$(realpath "$src")
cd "$tmp" || exit 1
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect NAME EXPECTED_EXIT CMD...: stdout -> $tmp/out, stderr -> $tmp/err
expect() {
    local name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    [ "$got" -eq "$want" ] && ok || bad "$name: exit $got, want $want; stderr: $(head -3 "$tmp/err")"
}
# has out|err REGEX
has() { grep -qE -- "$2" "$tmp/$1" && ok || bad "$1 lacks /$2/: $(head -3 "$tmp/$1")"; }
finish() {
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

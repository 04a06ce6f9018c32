# checks.sh: what the cluster self-tests share (sourced, not run): the pass/fail counters and
# the check helpers. Each check prints one "ok   - ..." or "FAIL - ..." line; the caller ends
# with "# $PASS passed, $FAIL failed" and exits non-zero if FAIL > 0.
# shellcheck shell=bash

PASS=0
FAIL=0

ok() { echo "ok   - $*"; PASS=$((PASS + 1)); }
bad() { echo "FAIL - $*"; FAIL=$((FAIL + 1)); }
expect() { if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1: got [$2], want [$3]"; fi; }
expect_match() { if [[ $2 =~ $3 ]]; then ok "$1"; else bad "$1: [$2] does not match /$3/"; fi; }
wait_for() { # wait_for DESC TRIES(0.1 s) CMD...
    local desc=$1 n=$2 i
    shift 2
    for ((i = 0; i < n; i++)); do
        if "$@" >/dev/null 2>&1; then ok "$desc"; return 0; fi
        sleep 0.1
    done
    bad "$desc (timed out)"
    return 1
}

# scratch_dir PREFIX [DIR]: DIR (made, absolute), or a fresh mktemp dir /tmp/PREFIX.XXXXXX.
scratch_dir() {
    local d=${2:-$(mktemp -d "/tmp/$1.XXXXXX")}
    mkdir -p -- "$d" && (cd -- "$d" && pwd -P)
}

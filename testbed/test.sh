#!/usr/bin/env bash
# The full test run: installs what is missing, then formatting, lints and every
# test (unit, and integration tests against real OVN started by testbed/ovn.sh), then
# the testbed API server's own self-test with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
testbed/install.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked --lib --bins --tests
echo "== testbed API server self-test (kubectl and curl against testbed/kube/apiserver.py)"
out=$(mktemp)
if ! testbed/kube/selftest.sh >"$out" 2>&1; then
    cat "$out"
    rm -f "$out"
    exit 1
fi
tail -n 1 "$out"
rm -f "$out"

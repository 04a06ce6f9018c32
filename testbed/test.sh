#!/usr/bin/env bash
# The full test run: installs what is missing, then formatting, lints and every
# test (unit, and integration tests against real OVN started by testbed/ovn.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
testbed/install.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked --lib --bins --tests

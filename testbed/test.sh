#!/usr/bin/env bash
# The full test run: installs what is missing, then formatting, lints and every
# test (unit, and integration tests against real OVN started by testbed/ovn.sh), then
# the testbed API server's own self-test with kubectl, then the testbed cluster's
# (testbed/cluster/selftest.sh: real packets over geneve between chassis namespaces), then the
# node agents' (testbed/cluster/agent-selftest.sh: pods as namespaces on those chassis), then
# kubectl exec and logs through the API server to them (testbed/cluster/exec-selftest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
testbed/install.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked --lib --bins --tests
echo "== the daemon's Kubernetes tests again, on Kube-OVN 1.16's own CRDs (../shared/kube-ovn/)"
OVN_VPCD_TEST_CRDS=kube-ovn cargo test --locked --test kube_daemon --test kube_no_loss
# selftest SCRIPT [FIGURE-PATTERN]: runs a shell self-test quietly; on failure prints its whole
# output and stops the run; on success its figures (lines matching the pattern) and its summary.
selftest() {
    local out rc=0
    out=$(mktemp)
    "$1" >"$out" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$out"
        rm -f "$out"
        exit 1
    fi
    if [[ -n ${2:-} ]]; then grep -E "$2" "$out" || true; fi
    tail -n 1 "$out"
    rm -f "$out"
}
echo "== testbed API server self-test (kubectl and curl against testbed/kube/apiserver.py)"
selftest testbed/kube/selftest.sh
echo "== testbed cluster self-test (testbed/cluster.sh: chassis, geneve, external network; ~10 s)"
selftest testbed/cluster/selftest.sh '^READY_SECONDS='
echo "== node agent self-test (testbed/cluster/agent-selftest.sh: pods as namespaces, exec, logs, restart-node; ~40 s)"
selftest testbed/cluster/agent-selftest.sh '^POD_PING_P'
echo "== kubectl exec and logs through the API server (testbed/cluster/exec-selftest.sh; ~8 s)"
selftest testbed/cluster/exec-selftest.sh

#!/usr/bin/env bash
# The main job: a local real OVN from the testbed, then ovn-vpcd's view of its
# northbound database, next to ovn-nbctl's. The testbed keeps running; stop it
# with: testbed/ovn.sh stop /tmp/ovn-vpcd-demo
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${OVN_VPCD_DEMO_DIR:-/tmp/ovn-vpcd-demo}
testbed/install.sh
cargo build --release --locked
testbed/ovn.sh stop "$DIR" >/dev/null 2>&1 || true
testbed/ovn.sh start "$DIR"
# shellcheck disable=SC1091
source "$DIR/env"
nbctl() { ovn-nbctl --db="$NB_DB" "$@"; }
# Something to look at until the VPC core writes its own rows.
nbctl lr-add demo-vpc -- ls-add demo-subnet -- \
    lrp-add demo-vpc demo-vpc-demo-subnet 00:00:00:00:01:01 10.0.1.1/24 -- \
    lsp-add demo-subnet demo-subnet-demo-vpc -- lsp-set-type demo-subnet-demo-vpc router -- \
    lsp-set-addresses demo-subnet-demo-vpc router -- \
    lsp-set-options demo-subnet-demo-vpc router-port=demo-vpc-demo-subnet -- \
    lr-route-add demo-vpc 0.0.0.0/0 10.0.1.254
echo "== ovn-vpcd nb --db $NB_DB tables"
target/release/ovn-vpcd nb --db "$NB_DB" tables
echo "== ovn-vpcd nb dump Logical_Router"
target/release/ovn-vpcd nb --db "$NB_DB" dump Logical_Router
echo "== ovn-nbctl show"
nbctl show
echo "== ovn-nbctl lr-route-list demo-vpc"
nbctl lr-route-list demo-vpc
echo
echo "OVN keeps running in $DIR (NB at $NB_DB). Stop it with: testbed/ovn.sh stop $DIR"

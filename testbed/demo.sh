#!/usr/bin/env bash
# The main job: a local real OVN from the testbed, ovn-vpcd running as a daemon
# on config/ovn-vpcd.toml against it, and the result shown with ovn-nbctl.
# Both keep running; stop them with: testbed/demo.sh stop
#
# testbed/demo.sh --kube: the same with Kubernetes instead of TOML tenants: the
# testbed API server (testbed/kube) with the kubeovn.io CRDs, the daemon with a
# [kubernetes] section, seed 002's YAML and a pod applied with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${OVN_VPCD_DEMO_DIR:-/tmp/ovn-vpcd-demo}
CONFIG=${OVN_VPCD_DEMO_CONFIG:-config/ovn-vpcd.toml}

stop_daemon() {
    if [[ -f $DIR/ovn-vpcd.pid ]]; then
        local pid
        pid=$(cat "$DIR/ovn-vpcd.pid")
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ovn-vpcd ]]; then kill "$pid"; fi
        rm -f "$DIR/ovn-vpcd.pid"
    fi
}

if [[ ${1:-} == stop ]]; then
    stop_daemon
    testbed/ovn.sh stop "$DIR"
    if [[ -f $DIR/kube/env ]]; then testbed/kube/kube.sh stop "$DIR/kube"; fi
    exit 0
fi
KUBE=""
if [[ ${1:-} == --kube ]]; then KUBE=1; fi

testbed/install.sh
cargo build --release --locked
stop_daemon
testbed/ovn.sh stop "$DIR" >/dev/null 2>&1 || true
if [[ -f $DIR/kube/env ]]; then testbed/kube/kube.sh stop "$DIR/kube" >/dev/null 2>&1 || true; fi
testbed/ovn.sh start "$DIR"
# shellcheck disable=SC1091
source "$DIR/env"
if [[ -n $KUBE ]]; then
    rm -rf "$DIR/crds" "$DIR/kube"
    target/release/ovn-vpcd crds --json-dir "$DIR/crds" >/dev/null
    testbed/kube/kube.sh start "$DIR/kube" --crds "$DIR/crds" --quiet
    CONFIG=$DIR/ovn-vpcd-kube.toml
    printf '[kubernetes]\nkubeconfig = "%s"\nlease_namespace = "default"\n' "$DIR/kube/kubeconfig" >"$CONFIG"
fi
target/release/ovn-vpcd run --config "$CONFIG" --db "$NB_DB" --listen 127.0.0.1:9476 \
    >"$DIR/ovn-vpcd.log" 2>&1 &
echo $! >"$DIR/ovn-vpcd.pid"
for _ in $(seq 100); do
    curl -fs http://127.0.0.1:9476/readyz >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs http://127.0.0.1:9476/readyz || { cat "$DIR/ovn-vpcd.log"; exit 1; }

nbctl() { ovn-nbctl --db="$NB_DB" "$@"; }
kubectl() { command kubectl --kubeconfig "$DIR/kube/kubeconfig" --cache-dir "$DIR/kube/kubecache" "$@"; }
if [[ -n $KUBE ]]; then
    echo "== kubectl apply -f tests/fixtures/seed-002.yaml (seed 002's VPCs and subnets), and a pod in ns1"
    kubectl apply --validate=false -f tests/fixtures/seed-002.yaml
    kubectl create namespace ns1
    kubectl run web -n ns1 --image=busybox --restart=Never
    for _ in $(seq 100); do
        [[ -n $(nbctl --bare --columns=name find Logical_Switch_Port name=web.ns1) ]] && break
        sleep 0.1
    done
    echo "== kubectl get vpc,subnet"
    kubectl get vpc,subnet
    echo "== the pod's annotations (what Kube-OVN's CNI reads)"
    kubectl get pod web -n ns1 -o jsonpath='{.metadata.annotations}'
    echo
fi
echo "== ovn-nbctl show"
nbctl show
for r in $(nbctl --bare --columns=name find Logical_Router external_ids:vendor=ovn-vpcd | sort); do
    echo "== ovn-nbctl lr-route-list $r"
    nbctl lr-route-list "$r"
    echo "== ovn-nbctl lr-policy-list $r"
    nbctl lr-policy-list "$r"
done
echo "== ovn-vpcd plan (nothing left to change)"
target/release/ovn-vpcd plan --config "$CONFIG" --db "$NB_DB" || true
echo
echo "ovn-vpcd runs (pid $(cat "$DIR/ovn-vpcd.pid"), log $DIR/ovn-vpcd.log, metrics http://127.0.0.1:9476/metrics)"
if [[ -n $KUBE ]]; then
    echo "against OVN in $DIR (NB at $NB_DB) and the API server in $DIR/kube: try"
    echo "  kubectl --kubeconfig $DIR/kube/kubeconfig get subnets; stop with: testbed/demo.sh stop"
else
    echo "against OVN in $DIR (NB at $NB_DB). Edit $CONFIG and watch it converge; stop with: testbed/demo.sh stop"
fi

#!/usr/bin/env bash
# The main job: a local real OVN from the testbed, ovn-vpcd running as a daemon
# on config/ovn-vpcd.toml against it, and the result shown with ovn-nbctl.
# Both keep running; stop them with: testbed/demo.sh stop
#
# testbed/demo.sh --kube: the same with Kubernetes instead of TOML tenants: the
# testbed API server (testbed/kube) with the kubeovn.io CRDs, the daemon with a
# [kubernetes] section, seed 002's YAML and a pod applied with kubectl.
#
# testbed/demo.sh --cluster: a 2-node testbed cluster with a real dataplane
# (testbed/cluster.sh), the daemon against its NB and API server, seed 002's
# YAML, two pods in net1 (one per node) and a ping between them.
#
# testbed/demo.sh --nat: seed 003's walkthrough on the same cluster: VPC mail263, its
# subnet, the external network behind a macvlan NAD, the VPC NAT gateway natgw (its pod
# runs `ovn-vpcd gateway nat`), an SNAT EIP and a DNAT EIP :8888 to a web pod; it ends in
# a curl of eip:8888 from the internet host.
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
    if [[ -f $DIR/cluster/env ]]; then testbed/cluster.sh stop "$DIR/cluster"; fi
    exit 0
fi

# --cluster and --nat: everything in $DIR/cluster; the daemon's pid and log in $DIR as above.
# cluster_up: the 2-node cluster, the CRDs and the daemon (sets bin, c and kubectl()).
cluster_up() {
    bin=${OVN_VPCD_DEMO_BIN:-}
    c=$DIR/cluster
    testbed/install.sh
    if [[ -z $bin ]]; then
        cargo build --release --locked
        bin=target/release/ovn-vpcd
    fi
    # The node agents run this binary for a container whose command is `ovn-vpcd`.
    OVN_VPCD_BIN=$(realpath "$bin")
    export OVN_VPCD_BIN
    stop_daemon
    testbed/cluster.sh stop "$c" >/dev/null 2>&1 || true
    mkdir -p "$DIR"
    testbed/cluster.sh start "$c" --nodes 2 >/dev/null
    set -a
    # shellcheck disable=SC1091
    source "$c/env"
    set +a
    kubectl() { command kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$c/kubecache" "$@"; }
    "$bin" crds | kubectl apply -f - >/dev/null
    printf '[kubernetes]\nkubeconfig = "%s"\nlease_namespace = "default"\n' "$KUBECONFIG" >"$DIR/ovn-vpcd-cluster.toml"
    "$bin" run --config "$DIR/ovn-vpcd-cluster.toml" --db "$OVN_NB_DB" --listen 127.0.0.1:9476 \
        >"$DIR/ovn-vpcd.log" 2>&1 &
    echo $! >"$DIR/ovn-vpcd.pid"
    for _ in $(seq 100); do
        curl -fs http://127.0.0.1:9476/readyz >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fs http://127.0.0.1:9476/readyz >/dev/null || { cat "$DIR/ovn-vpcd.log"; exit 1; }
}

demo_cluster() {
    local bin c i ns
    cluster_up
    echo "== kubectl get nodes"
    kubectl get nodes
    echo "== kubectl apply -f tests/fixtures/seed-002.yaml, and a pod per node in net1 (test-vpc-1)"
    kubectl apply --validate=false -f tests/fixtures/seed-002.yaml
    kubectl create namespace ns1
    for i in 1 2; do
        kubectl apply -f - <<POD
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "web$i", "namespace": "ns1", "annotations": {
   "ovn.kubernetes.io/logical_switch": "net1", "ovn.kubernetes.io/ip_address": "10.0.1.1$i"}},
 "spec": {"nodeName": "node-$i", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "web", "image": "nginx"}]}}
POD
    done
    for i in 1 2; do kubectl wait -n ns1 --for=condition=Ready "pod/web$i" --timeout=30s >/dev/null; done
    echo "== kubectl get pod -n ns1 -o wide"
    kubectl get pod -n ns1 -o wide
    ns=$(kubectl get pod web1 -n ns1 -o jsonpath='{.metadata.annotations.testbed\.ovn-vpcd/netns}')
    echo "== web1 (node-1) pings web2 (node-2) across geneve: ip netns exec $ns ping -c3 10.0.1.12"
    ip netns exec "$ns" ping -c3 -i0.2 10.0.1.12
    echo "== and fetches its page: curl http://10.0.1.12/"
    ip netns exec "$ns" curl -sS --max-time 3 http://10.0.1.12/
    echo "== ovn-nbctl show"
    ovn-nbctl --db="$OVN_NB_DB" show
    echo
    echo "ovn-vpcd runs (pid $(cat "$DIR/ovn-vpcd.pid"), log $DIR/ovn-vpcd.log) against the cluster in $c: try"
    echo "  set -a; . $c/env; set +a; kubectl --kubeconfig \$KUBECONFIG get pod -A -o wide"
    echo "stop with: testbed/demo.sh stop"
}
# --nat: seed 003 (tests/fixtures/seed-003*.yaml; tests/nat_dataplane.rs proves the rest).
demo_nat() {
    local bin c ns gw=vpc-nat-gw-natgw-0 inet
    cluster_up
    echo "== seed 003: the NAD, the NAT gateway ConfigMaps and namespace sukai263 (tests/fixtures/seed-003-cluster.yaml)"
    kubectl apply -f tests/fixtures/seed-003-cluster.yaml
    echo "== kubectl apply -f tests/fixtures/seed-003.yaml (VPC mail263, subnet vmservers, the external network)"
    kubectl apply --validate=false -f tests/fixtures/seed-003.yaml
    echo "== kubectl apply -f tests/fixtures/seed-003-nat.yaml (gateway natgw on node-1, its EIPs, SNAT and DNAT)"
    sed 's/kubernetes.io\/hostname: ubuntuserver1/kubernetes.io\/hostname: node-1/' tests/fixtures/seed-003-nat.yaml |
        kubectl apply --validate=false -f -
    echo "== the DNAT's target: an nginx pod at 10.0.1.2 on node-2"
    kubectl apply -f - <<POD
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "web", "namespace": "sukai263", "annotations": {"ovn.kubernetes.io/ip_address": "10.0.1.2"}},
 "spec": {"nodeName": "node-2", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "web", "image": "nginx"}]}}
POD
    for _ in $(seq 300); do
        [[ $(kubectl get vpc-nat-gateway natgw -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] && break
        sleep 0.2
    done
    kubectl wait -n sukai263 --for=condition=Ready pod/web --timeout=30s >/dev/null
    echo "== kubectl get pod -A -o wide"
    kubectl get pod -A -o wide
    echo "== kubectl get vpc-nat-gateway,iptables-eip,iptables-snat-rule,iptables-dnat-rule"
    kubectl get vpc-nat-gateway,iptables-eip,iptables-snat-rule,iptables-dnat-rule
    echo "== kubectl exec -n kube-system $gw -- iptables -t nat -S (the agent's rules, Kube-OVN's chains)"
    kubectl exec -n kube-system "$gw" -- iptables -t nat -S
    echo "== kubectl exec -n kube-system $gw -- ip -4 addr show dev net1 (the EIPs)"
    kubectl exec -n kube-system "$gw" -- ip -4 addr show dev net1
    ns=$(kubectl get pod web -n sukai263 -o jsonpath='{.metadata.annotations.testbed\.ovn-vpcd/netns}')
    echo "== SNAT: the pod fetches the internet host's page, which names the source it saw: curl http://$INET_HOST/"
    ip netns exec "$ns" curl -sS --max-time 3 "http://$INET_HOST/"
    echo "== ovn-nbctl lr-route-list mail263"
    ovn-nbctl --db="$OVN_NB_DB" lr-route-list mail263
    inet=$INET_NETNS
    echo "== DNAT: the internet host ($INET_HOST) fetches eip:8888: ip netns exec $inet curl http://172.16.3.203:8888/"
    ip netns exec "$inet" curl -sS --max-time 3 http://172.16.3.203:8888/
    echo
    echo "ovn-vpcd runs (pid $(cat "$DIR/ovn-vpcd.pid"), log $DIR/ovn-vpcd.log) against the cluster in $c: try"
    echo "  set -a; . $c/env; set +a; kubectl --kubeconfig \$KUBECONFIG get iptables-eip"
    echo "stop with: testbed/demo.sh stop"
}
if [[ ${1:-} == --cluster ]]; then
    demo_cluster
    exit 0
fi
if [[ ${1:-} == --nat ]]; then
    demo_nat
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

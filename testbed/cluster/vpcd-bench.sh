#!/usr/bin/env bash
# vpcd-bench.sh: pod create -> first ping answered, WITH ovn-vpcd, on a 2-node testbed cluster.
# Figures, not asserts (BENCHMARKS.md, "testbed node agent ... with ovn-vpcd").
#
# A cluster (cluster.sh start --nodes 2), the kubeovn.io CRDs, `ovn-vpcd run` against its NB and
# API server, seed 002 (tests/fixtures/seed-002.yaml), a peer pod in net1 on node-1; then PODS
# pods (default 50), one after the other, alternating node-1 / node-2, each POSTed with curl with
# `ovn.kubernetes.io/logical_switch: net1` and a requested address (so the peer knows what to
# ping; the daemon still checks it in its IPAM, writes the switch port and the pod's annotations,
# and the node agent wires the pod only then). Per pod: from just before the POST until the
# first echo reply from the peer (`ping -c1 -w10 -i0.01`). Prints POD_PING_P50_MS,
# POD_PING_P99_MS. Usage: testbed/cluster/vpcd-bench.sh [DIR]   (OVN_VPCD_BIN: default
# target/debug/ovn-vpcd; PODS=N)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$HERE/../.." && pwd -P)
BIN=${OVN_VPCD_BIN:-$ROOT/target/debug/ovn-vpcd}
PODS=${PODS:-50}
[[ -x $BIN ]] || { echo "vpcd-bench.sh: no $BIN (cargo build first, or set OVN_VPCD_BIN)" >&2; exit 1; }
T=$(mktemp -d /tmp/vpcb.XXXXXX)
DAEMON_PID=""
cleanup() {
    if [[ -n $DAEMON_PID ]]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
    "$ROOT/testbed/cluster.sh" stop "$T/c" >/dev/null 2>&1 || true
    [[ -n ${KEEP:-} ]] || rm -rf -- "$T"
}
trap cleanup EXIT

"$ROOT/testbed/cluster.sh" start "$T/c" --nodes 2 >/dev/null
set -a
# shellcheck disable=SC1091
. "$T/c/env"
set +a
k() { kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$T/kubecache" --request-timeout=20s "$@"; }
"$BIN" crds | k apply -f - >/dev/null
printf '[kubernetes]\nkubeconfig = "%s"\nlease_namespace = "default"\n' "$KUBECONFIG" >"$T/ovn-vpcd.toml"
"$BIN" run --config "$T/ovn-vpcd.toml" --db "$OVN_NB_DB" --listen "" >"$T/ovn-vpcd.log" 2>&1 &
DAEMON_PID=$!
k apply --validate=false -f "$ROOT/tests/fixtures/seed-002.yaml" >/dev/null
k create namespace ns1 >/dev/null

pod_json() { # NAME NODE IP
    cat <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "namespace": "ns1", "annotations": {
   "ovn.kubernetes.io/logical_switch": "net1", "ovn.kubernetes.io/ip_address": "$3"}},
 "spec": {"nodeName": "$2", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "c", "image": "pause"}]}}
EOF
}
TOKEN=$(cat "$KUBE_TOKEN_FILE")
post_pod() { curl -fsS --max-time 10 --cacert "$KUBE_CA" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @- "$KUBE_URL/api/v1/namespaces/ns1/pods" >/dev/null; }

pod_json peer node-1 10.0.1.10 | post_pod
k wait -n ns1 --for=condition=Ready pod/peer --timeout=60s >/dev/null
PEER_NS=$(k get pod peer -n ns1 -o jsonpath='{.metadata.annotations.testbed\.ovn-vpcd/netns}')

: >"$T/lat.ms"
for ((i = 0; i < PODS; i++)); do
    node=node-$((i % 2 + 1))
    ip=10.0.1.$((100 + i))
    s=$(date +%s%N)
    pod_json "m$i" "$node" "$ip" | post_pod
    if ip netns exec "$PEER_NS" ping -c1 -w10 -i0.01 -q "$ip" >/dev/null 2>&1; then
        echo $((($(date +%s%N) - s) / 1000000)) >>"$T/lat.ms"
    else
        echo "vpcd-bench.sh: m$i ($node, $ip) never answered ping within 10 s" >&2
    fi
done
n=$(wc -l <"$T/lat.ms")
((n)) || { echo "vpcd-bench.sh: no pod answered" >&2; tail -20 "$T/ovn-vpcd.log" >&2; exit 1; }
sort -n "$T/lat.ms" >"$T/lat.sorted"
echo "POD_PING_P50_MS=$(sed -n "$(((n + 1) / 2))p" "$T/lat.sorted")"
echo "POD_PING_P99_MS=$(sed -n "$(((n * 99 + 99) / 100))p" "$T/lat.sorted")"
echo "# pod create -> first ping answered with ovn-vpcd over $n of $PODS pods (alternating node-1 / node-2, ping from peer on node-1)"

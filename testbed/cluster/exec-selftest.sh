#!/usr/bin/env bash
# exec-selftest.sh: proves `kubectl exec` and `kubectl logs` (Debian's kubectl 1.32) through the
# testbed API server (kube/kubeapi/exec.py) to the node agents of testbed/cluster.sh, without
# ovn-vpcd. Exits non-zero if any check fails.
# Usage: testbed/cluster/exec-selftest.sh [DIR]   (default: a fresh mktemp dir under /tmp,
#        removed on success; KEEP=1 keeps it)
#
# A 2-node cluster, a switch s1 written with ovn-nbctl, two pods (one per node, two containers in
# the first) annotated by hand as ovn-vpcd would. Checked: exec shows eth0 with the pod's IP (on
# each node), -c picks the container, a non-zero exit code is kubectl's, stdin reaches the
# command and its end ends it (-i), stderr is kept apart, logs (and -c, --tail) show the
# container's output, logs -f streams, exec and logs on a missing pod fail with NotFound, exec
# in an unknown container fails; the endpoints' own NotFound, token check and SPDY answer.
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
CLUSTER=$HERE/../cluster.sh
. "$HERE/checks.sh"
T=$(scratch_dir est "${1:-}")

cleanup() {
    "$CLUSTER" stop "$T/a" >/dev/null 2>&1
    if ((FAIL == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf -- "$T"; else echo "kept $T" >&2; fi
}
trap 'cleanup' EXIT

if out=$("$CLUSTER" start "$T/a" --nodes 2 2>&1); then ok "cluster.sh start --nodes 2"; else
    bad "cluster.sh start: $out"
    echo "# $PASS passed, $FAIL failed"
    exit 1
fi
set -a
. "$T/a/env"
set +a

k() { kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$T/kubecache" --request-timeout=20s "$@"; }
nb() { ovn-nbctl --db="$OVN_NB_DB" --timeout=5 "$@"; }
phase() { k get pod "$1" -o 'jsonpath={.status.phase}'; }
is_phase() { [[ $(phase "$1") == "$2" ]]; }
has_log() { [[ $(k logs "$1" "${@:3}") == *"$2"* ]]; }

nb ls-add s1 -- lsp-add s1 pa.default -- lsp-set-addresses pa.default "00:00:00:05:01:10 10.5.1.10" \
    -- lsp-add s1 pb.default -- lsp-set-addresses pb.default "00:00:00:05:01:11 10.5.1.11" &&
    ok "switch s1 with ports pa.default, pb.default" || bad "ovn-nbctl"
# pod NAME NODE IP MAC CONTAINERS_JSON
pod() {
    k create -f - >/dev/null <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "namespace": "default", "annotations": {
   "ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/ip_address": "$3",
   "ovn.kubernetes.io/mac_address": "$4", "ovn.kubernetes.io/cidr": "10.5.1.0/24",
   "ovn.kubernetes.io/gateway": "10.5.1.1", "ovn.kubernetes.io/logical_switch": "s1"}},
 "spec": {"nodeName": "$2", "terminationGracePeriodSeconds": 1, "containers": $5}}
EOF
}
pod pa node-1 10.5.1.10 00:00:00:05:01:10 \
    '[{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hello from main; echo line two; sleep infinity"]},
      {"name": "side", "image": "busybox", "command": ["sh", "-c", "echo side says hi; sleep infinity"]}]'
pod pb node-2 10.5.1.11 00:00:00:05:01:11 \
    '[{"name": "ticker", "image": "busybox", "command": ["sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done"]}]'
wait_for "pa Running on node-1" 100 is_phase pa Running
wait_for "pb Running on node-2" 100 is_phase pb Running

# ---- exec ------------------------------------------------------------------------------------
expect_match "kubectl exec pa -- ip address show: eth0 with the pod's IP" \
    "$(k exec pa -- ip address show 2>&1)" "eth0.*"$'\n'".*inet 10\.5\.1\.10/24"
expect_match "  and on node-2's agent: pb's eth0" "$(k exec pb -- ip -br -4 address show eth0 2>&1)" \
    "^eth0 +[A-Z]+ +10\.5\.1\.11/24"
out=$(k exec pa -c side -- sh -c 'exit 3' 2>&1)
expect "kubectl exec pa -c side -- sh -c 'exit 3' exits 3" "$?" "3"
expect_match "  and says so" "$out" "command terminated with exit code 3"
expect "echo hi | kubectl exec -i pa -- cat prints hi" "$(echo hi | timeout 20 kubectl --kubeconfig "$KUBECONFIG" \
    --cache-dir "$T/kubecache" exec -i pa -c main -- cat 2>&1)" "hi"
expect "kubectl exec -i: stdin's lines reach the command, its end ends it" \
    "$(printf 'a\nb\nc\n' | timeout 20 kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$T/kubecache" \
        exec -i pb -- wc -l 2>&1 | tr -d ' ')" "3"
expect "stdout and stderr apart" "$(k exec pa -c main -- sh -c 'echo out; echo err >&2' 2>/dev/null)" "out"
expect "  stderr" "$(k exec pa -c main -- sh -c 'echo out; echo err >&2' 2>&1 >/dev/null)" "err"
big=$(k exec pa -c main -- sh -c 'seq 1 20000' | wc -l)
expect "a large output (seq 1 20000) arrives whole" "$big" "20000"
expect_match "kubectl exec on a missing pod fails with NotFound" "$(k exec nope -- true 2>&1; echo " rc=$?")" \
    'NotFound.*pods "nope" not found.* rc=1$'
expect_match "kubectl exec in an unknown container fails" "$(k exec pa -c nope -- true 2>&1; echo " rc=$?")" \
    'container nope is not valid for pod pa.* rc=1$'

# ---- logs ------------------------------------------------------------------------------------
expect "kubectl logs pa: the first container's output" "$(k logs pa 2>/dev/null)" $'hello from main\nline two'
expect "kubectl logs pa -c side" "$(k logs pa -c side 2>&1)" "side says hi"
expect "kubectl logs pa --tail=1" "$(k logs pa -c main --tail=1 2>&1)" "line two"
wait_for "kubectl logs pb shows the ticker's lines" 50 has_log pb "tick 3"
follow=$(timeout 3 kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$T/kubecache" logs -f pb --tail=0 2>&1 | head -3)
expect_match "kubectl logs -f pb streams new lines as they come" "$(tr '\n' ';' <<<"$follow")" \
    '^tick [0-9]+;tick [0-9]+;tick [0-9]+;$'
expect_match "kubectl logs on a missing pod fails with NotFound" "$(k logs nope 2>&1; echo " rc=$?")" \
    'NotFound.*pods "nope" not found.* rc=1$'

# ---- the endpoints themselves (kubectl GETs the pod first, so its NotFound above is not theirs) ---
TOKEN=$(cat "$KUBE_TOKEN_FILE")
api() { curl -sS --max-time 5 --cacert "$KUBE_CA" "$@"; }
expect_match "exec on a missing pod: the exec endpoint's own 404 Status" \
    "$(api -H "Authorization: Bearer $TOKEN" -w ' %{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/nope/exec?command=true")" \
    'pods \\"nope\\" not found","reason":"NotFound".* 404$'
expect_match "log on a missing pod: the log endpoint's own 404 Status" \
    "$(api -H "Authorization: Bearer $TOKEN" -w ' %{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/nope/log")" \
    'pods \\"nope\\" not found","reason":"NotFound".* 404$'
expect "exec without a token: 401; with one but no WebSocket: 400" \
    "$(api -o /dev/null -w '%{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/pa/exec?command=true") $(api \
        -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/pa/exec?command=true")" \
    "401 400"
expect "logs without a token: 401; with one: 200" \
    "$(api -o /dev/null -w '%{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/pa/log") $(api \
        -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/pa/log")" \
    "401 200"
expect_match "kubectl's SPDY fallback (a POST) is answered with a Status saying why" \
    "$(api -X POST -H "Authorization: Bearer $TOKEN" -w ' %{http_code}' "$KUBE_URL/api/v1/namespaces/default/pods/pa/exec?command=true")" \
    'WebSocket.*only, not SPDY.* 400$'

echo
echo "# $PASS passed, $FAIL failed"
((FAIL == 0))

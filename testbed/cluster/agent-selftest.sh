#!/usr/bin/env bash
# agent-selftest.sh: proves the node agents (cluster/agent.py) of testbed/cluster.sh without
# the ovn-vpcd daemon (the binary runs once, in a pod, as a client). Exits non-zero if any check fails. Prints POD_PING_P50_MS / POD_PING_P99_MS (pod
# create -> first ping answered, over PODS pods, default 20).
# Usage: testbed/cluster/agent-selftest.sh [DIR]   (default: a fresh mktemp dir under /tmp,
#        removed on success; KEEP=1 keeps it)
#
# A 2-node cluster; a router r1 with switches s1 and s2 written with ovn-nbctl and a switch port
# per pod; pods created with kubectl, pinned by nodeName and annotated by hand as ovn-vpcd would
# (allocated, ip_address, mac_address, cidr, gateway, logical_switch). Checked: Running with the
# podIP and NODE in `kubectl get pod -o wide`, status fields, the netns annotation, a ping across
# chassis from inside the pod's namespace, an nginx pod answering HTTP, ovn.kubernetes.io/routes,
# in-cluster access as the NAT gateway's pod has it (its ServiceAccount, a Role limited by
# resourceNames, downward-API env, the token files, curl and kubectl in the pod: 200 for its
# ConfigMap, 403 for another; NET_ADMIN/NET_RAW only) and `ovn-vpcd plan` in a pod, in-cluster
# (refused by RBAC, then allowed by a ClusterRole), restarts by restartPolicy (Always,
# OnFailure, Never), a Multus macvlan leg waiting for its provider's annotations and then reaching the external network, exec and logs on the agent's
# socket with curl, a deleted pod's processes, namespace and OVS port gone, the same name again
# working, init containers (in order, before the containers, restarted by restartPolicy, their
# status and `Init:0/2`; agent-init-selftest.sh, sourced), an OOM kill (the agent's /kill) and
# `cluster.sh restart-node` without and with --reboot (agent-restart-selftest.sh, sourced: init
# containers not run again / run again), and after stop nothing of the cluster left.
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
CLUSTER=$HERE/../cluster.sh
. "$HERE/checks.sh"
T=$(scratch_dir ast "${1:-}")
PODS=${PODS:-20}

cleanup() {
    "$CLUSTER" stop "$T/a" >/dev/null 2>&1
    if ((FAIL == 0)) && [[ -z ${KEEP:-} && -z ${1:-} ]]; then rm -rf -- "$T"; else echo "kept $T" >&2; fi
}
trap 'cleanup' EXIT

t0=$(date +%s%N)
if out=$("$CLUSTER" start "$T/a" --nodes 2 2>&1); then ok "cluster.sh start --nodes 2 (with node agents)"; else
    bad "cluster.sh start: $out"
    echo "# $PASS passed, $FAIL failed"
    exit 1
fi
set -a
. "$T/a/env"
set +a
echo "# cluster started in $((($(date +%s%N) - t0) / 1000000)) ms"

k() { kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$T/kubecache" --request-timeout=10s "$@"; }
nb() { ovn-nbctl --db="$OVN_NB_DB" --timeout=5 "$@"; }
sock() { echo "$CLUSTER_DIR/n$1/agent.sock"; }
agent() { local i=$1; shift; curl -sS --max-time 10 --unix-socket "$(sock "$i")" "$@"; }
pod_ns() { echo "$NETNS_PREFIX-$1.default"; }
in_pod() { local p=$1; shift; ip netns exec "$(pod_ns "$p")" "$@"; }
ping_ok() { in_pod "$1" ping -c1 -W1 -q "$2"; }
phase() { k get pod "$1" -o 'jsonpath={.status.phase}'; }
is_phase() { [[ $(phase "$1") == "$2" ]]; }
restarts() { k get pod "$1" -o 'jsonpath={.status.containerStatuses[0].restartCount}'; }
restarts_at_least() { (($(restarts "$1") >= $2)); }
gone_ns() { [[ ! -e /run/netns/$1 ]]; }
no_port() { [[ -z $(ovs-vsctl --db="$2" --bare --columns=name find interface "external_ids:iface-id=$1") ]]; }

# LSP NAME SWITCH MAC IP: a switch port as ovn-vpcd writes it for pod NAME (port name <pod>.<ns>)
lsp() { nb -- --may-exist lsp-add "$2" "$1.default" -- lsp-set-addresses "$1.default" "$3 $4"; }
# pod_json NAME NODE IP MAC CIDR GW SWITCH IMAGE [COMMAND_JSON] [RESTART] [EXTRA_ANNOTATIONS_JSON]
pod_json() {
    local cmd=${9:-} rp=${10:-Always} extra=${11:-}
    cat <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "namespace": "default", "annotations": {
   "ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/ip_address": "$3",
   "ovn.kubernetes.io/mac_address": "$4", "ovn.kubernetes.io/cidr": "$5",
   "ovn.kubernetes.io/gateway": "$6", "ovn.kubernetes.io/logical_switch": "$7"${extra:+, $extra}}},
 "spec": {"nodeName": "$2", "restartPolicy": "$rp", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "main", "image": "$8"${cmd:+, \"command\": $cmd}}]}}
EOF
}
mk() { pod_json "$@" | k create -f - >/dev/null; }

nb lr-add r1 -- lrp-add r1 r1-s1 00:00:00:00:01:01 10.1.1.1/24 fd00:1::1/64 \
    -- lrp-add r1 r1-s2 00:00:00:00:01:02 10.1.2.1/24 fd00:2::1/64 \
    -- ls-add s1 -- lsp-add s1 s1-r1 -- lsp-set-type s1-r1 router -- lsp-set-addresses s1-r1 router \
    -- lsp-set-options s1-r1 router-port=r1-s1 \
    -- ls-add s2 -- lsp-add s2 s2-r1 -- lsp-set-type s2-r1 router -- lsp-set-addresses s2-r1 router \
    -- lsp-set-options s2-r1 router-port=r1-s2 && ok "router r1 with switches s1, s2 written" || bad "ovn-nbctl"
lsp pa s1 00:00:00:01:01:10 '10.1.1.10 fd00:1::10'
lsp pb s2 00:00:00:01:02:10 '10.1.2.10 fd00:2::10'
lsp web s2 00:00:00:01:02:11 10.1.2.11

# ---- two pods on two nodes, a ping across chassis ------------------------------------------
# dual stack: ip_address, cidr and gateway are comma lists, IPv4 first (as ovn-vpcd writes them)
mk pa node-1 10.1.1.10,fd00:1::10 00:00:00:01:01:10 10.1.1.0/24,fd00:1::/64 10.1.1.1,fd00:1::1 s1 busybox '["sleep", "infinity"]' Always \
    '"ovn.kubernetes.io/routes": "[{\"dst\": \"192.0.2.0/24\", \"gw\": \"10.1.1.254\"}]"'
mk pb node-2 10.1.2.10,fd00:2::10 00:00:00:01:02:10 10.1.2.0/24,fd00:2::/64 10.1.2.1,fd00:2::1 s2 busybox
wait_for "pa Running" 100 is_phase pa Running
wait_for "pb Running" 100 is_phase pb Running
expect "kubectl get pod -o wide: READY STATUS IP NODE" \
    "$(k get pod pa pb -o wide --no-headers | awk '{print $1, $2, $3, $6, $7}' | tr '\n' ';')" \
    "pa 1/1 Running 10.1.1.10 node-1;pb 1/1 Running 10.1.2.10 node-2;"
expect "status: podIPs, hostIP, Ready, containerStatuses running" \
    "$(k get pod pa -o jsonpath='{.status.podIPs[*].ip} {.status.hostIP} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="ContainersReady")].status} {.status.containerStatuses[0].name} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].state.running.startedAt}' | sed 's/[0-9-]*T[0-9:]*Z$/TS/')" \
    "10.1.1.10 fd00:1::10 $NODE_1_ENCAP_IP True True main true TS"
expect "the netns annotation names the pod's namespace" \
    "$(k get pod pa -o jsonpath='{.metadata.annotations.testbed\.ovn-vpcd/netns}')" "$(pod_ns pa)"
expect "eth0 has the MAC and addresses of the annotations" \
    "$(in_pod pa ip -br link show eth0 | awk '{print $3}') $(in_pod pa ip -br addr show scope global dev eth0 | awk '{print $3, $4}')" \
    "00:00:00:01:01:10 10.1.1.10/24 fd00:1::10/64"
expect "routes: default via the gateway, ovn.kubernetes.io/routes added" \
    "$(in_pod pa ip route show | grep -E '^(default|192)' | sed 's/ *$//' | tr '\n' ';')" \
    "default via 10.1.1.1 dev eth0;192.0.2.0/24 via 10.1.1.254 dev eth0;"
expect "IPv6 default route via the IPv6 gateway" "$(in_pod pa ip -6 route show default | awk '{print $1, $2, $3}')" \
    "default via fd00:1::1"
expect "eth0 is an OVS internal port of node-1's br-int with iface-id pa.default" \
    "$(ovs-vsctl --db="$NODE_1_OVS_DB" --bare --columns=type find interface external_ids:iface-id=pa.default)" "internal"
wait_for "pa (node-1) pings pb (node-2) across r1 and geneve" 100 ping_ok pa 10.1.2.10
wait_for "  and over IPv6" 100 ping_ok pa fd00:2::10

# ---- nginx ----------------------------------------------------------------------------------
mk web node-2 10.1.2.11 00:00:00:01:02:11 10.1.2.0/24 10.1.2.1 s2 nginx:1.25
wait_for "web (nginx:1.25) Running" 100 is_phase web Running
web_ok() { in_pod pa curl -fsS --max-time 2 http://10.1.2.11/; }
wait_for "the nginx pod answers HTTP" 50 web_ok
expect "its page" "$(web_ok)" "Welcome to nginx! pod web saw 10.1.1.10"

# ---- exec and logs on the agent's socket ------------------------------------------------------
expect "the Node names the agent's socket" \
    "$(k get node node-2 -o jsonpath='{.metadata.annotations.testbed\.ovn-vpcd/agent-socket}')" "$(sock 2)"
# frames: [stream u8][length u32 BE][payload]; print "stream:payload" per stream, joined
DECODE='import struct,sys
d=sys.stdin.buffer.read(); out={}
while d:
    s,n=struct.unpack(">BI",d[:5]); out.setdefault(s,b""); out[s]+=d[5:5+n]; d=d[5+n:]
print(";".join("%d:%s"%(s,v.decode().strip()) for s,v in sorted(out.items())))'
decode() { /usr/bin/python3 -c "$DECODE"; }
expect "exec: ip -br -4 addr show eth0 runs in the pod (stdout, then a Success status)" \
    "$(agent 2 -X POST 'http://agent/exec?namespace=default&pod=web&command=ip&command=-br&command=-4&command=addr&command=show&command=eth0' | decode | tr -s ' ')" \
    '1:eth0 UNKNOWN 10.1.2.11/24;3:{"metadata": {}, "status": "Success"}'
expect "exec: stderr and a non-zero exit code" \
    "$(agent 2 -X POST 'http://agent/exec?namespace=default&pod=web&container=main&command=sh&command=-c&command=echo%20oops%20%3E%262%3B%20exit%207' | decode)" \
    '2:oops;3:{"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code", "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}}'
expect "exec: the request body is stdin" \
    "$(printf 'hello stdin' | agent 2 -X POST --data-binary @- 'http://agent/exec?namespace=default&pod=web&command=cat&stdin=true' | decode)" \
    '1:hello stdin;3:{"metadata": {}, "status": "Success"}'
expect_match "exec: an unknown pod is a 404 Status" \
    "$(agent 2 -X POST -w ' %{http_code}' 'http://agent/exec?namespace=default&pod=nope&command=true')" \
    '"reason": "NotFound".* 404$'
UPGRADE='import socket,struct,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"POST /exec?namespace=default&pod=web&command=sh&command=-c&command=read%20x%3B%20echo%20got%20%24x&stdin=true HTTP/1.1\r\nHost: agent\r\nConnection: Upgrade\r\nUpgrade: testbed-exec\r\n\r\n")
f=s.makefile("rb"); line=f.readline()
while f.readline() not in (b"\r\n", b""): pass
s.sendall(struct.pack(">BI",0,6)+b"world\n"+struct.pack(">BI",0,0))
out=[]
while True:
    h=f.read(5)
    if len(h)<5: break
    st,n=struct.unpack(">BI",h); out.append("%d:%s"%(st,f.read(n).decode().strip()))
print(line.decode().strip()+";"+";".join(out))'
expect "exec with Upgrade: 101, stdin frames in, stdout and status frames out" \
    "$(timeout 10 /usr/bin/python3 -c "$UPGRADE" "$(sock 2)")" \
    'HTTP/1.1 101 Switching Protocols;1:got world;3:{"metadata": {}, "status": "Success"}'
expect_match "logs: the nginx container's output" "$(agent 2 'http://agent/logs?namespace=default&pod=web&container=main')" \
    "serving on :80"$'\n'"10\.1\.1\.10 GET /"

# ---- in-cluster: the API server from a pod, its ServiceAccount token, RBAC, downward API, caps ----
# As the NAT gateway's pod (contract13): its own ServiceAccount, a Role limited by resourceNames
# to its rules ConfigMap and its pod, POD_NAME/POD_NAMESPACE from the downward API, NET_ADMIN and
# NET_RAW only. Its processes reach the API server at KUBERNETES_SERVICE_HOST:PORT (the agent's
# relay on 127.0.0.1 inside the pod's namespace) with the token and CA at
# /var/run/secrets/kubernetes.io/serviceaccount.
SAD=/var/run/secrets/kubernetes.io/serviceaccount
k create serviceaccount gw >/dev/null && k create configmap gw-rules --from-literal=rules.json='{}' >/dev/null &&
    k create configmap gw-other --from-literal=x=1 >/dev/null && ok "ServiceAccount gw, ConfigMaps gw-rules and gw-other" ||
    bad "ServiceAccount and ConfigMaps"
k apply -f - >/dev/null <<'EOF' && ok "the gateway's Role and RoleBinding" || bad "Role and RoleBinding"
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "gw", "namespace": "default"},
  "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["gw-rules"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["gw-0"], "verbs": ["get", "patch"]}]},
 {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "gw", "namespace": "default"},
  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gw"},
  "subjects": [{"kind": "ServiceAccount", "name": "gw", "namespace": "default"}]}]}
EOF
lsp gw-0 s1 00:00:00:01:01:40 10.1.1.40
k create -f - >/dev/null <<'EOF'
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "gw-0", "namespace": "default", "annotations": {
   "ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/ip_address": "10.1.1.40",
   "ovn.kubernetes.io/mac_address": "00:00:00:01:01:40", "ovn.kubernetes.io/cidr": "10.1.1.0/24",
   "ovn.kubernetes.io/gateway": "10.1.1.1", "ovn.kubernetes.io/logical_switch": "s1"}},
 "spec": {"nodeName": "node-1", "serviceAccountName": "gw", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "gateway", "image": "ovn-vpcd", "command": ["sleep", "infinity"],
     "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
             {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
             {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
             {"name": "PLAIN", "value": "v"}],
     "securityContext": {"privileged": false, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}}}]}}
EOF
wait_for "gw-0 (ServiceAccount gw, capabilities, downward-API env) Running" 100 is_phase gw-0 Running
# gx CMD...: a command in gw-0 as kubectl exec runs it (the container's env, mounts and capabilities)
gx() {
    local q="namespace=default&pod=gw-0" a
    for a in "$@"; do q+="&command=$(/usr/bin/python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$a")"; done
    agent 1 -X POST "http://agent/exec?$q" | decode
}
expect "downward API: POD_NAME, POD_NAMESPACE, spec.nodeName, status.podIP, spec.serviceAccountName; value" \
    "$(gx sh -c 'echo $POD_NAME $POD_NAMESPACE $NODE $IP $SA $PLAIN')" '1:gw-0 default node-1 10.1.1.40 gw v;3:{"metadata": {}, "status": "Success"}'
expect "KUBERNETES_SERVICE_HOST/PORT: 127.0.0.1 and the API server's port" \
    "$(gx sh -c 'echo $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT')" "1:127.0.0.1 $KUBE_PORT;3:{\"metadata\": {}, \"status\": \"Success\"}"
expect "the pod sees token, ca.crt and namespace at $SAD, read-only" \
    "$(gx sh -c "ls $SAD | tr '\n' ' '; cat $SAD/namespace; echo; cmp $SAD/ca.crt $KUBE_CA && echo same-ca; touch $SAD/x 2>/dev/null || echo ro")" \
    '1:ca.crt namespace token default
same-ca
ro;3:{"metadata": {}, "status": "Success"}'
expect "the host's /var/run/secrets is untouched" "$([[ -e /run/secrets/kubernetes.io ]] && echo there || echo absent)" absent
IN_CURL='curl -sS --max-time 5 --cacert '$SAD'/ca.crt -H "Authorization: Bearer $(cat '$SAD'/token)" -o /dev/null -w %{http_code} https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT'
expect "in the pod, curl with the mounted token: its ConfigMap 200, another 403, its pod 200, another 403" \
    "$(gx sh -c "$IN_CURL/api/v1/namespaces/\$POD_NAMESPACE/configmaps/gw-rules; echo; $IN_CURL/api/v1/namespaces/\$POD_NAMESPACE/configmaps/gw-other; echo; $IN_CURL/api/v1/namespaces/\$POD_NAMESPACE/pods/\$POD_NAME; echo; $IN_CURL/api/v1/namespaces/\$POD_NAMESPACE/pods/pa")" \
    '1:200
403
200
403;3:{"metadata": {}, "status": "Success"}'
expect "in the pod, kubectl in-cluster (no kubeconfig): get its ConfigMap" \
    "$(gx kubectl --cache-dir /tmp/gw-kubecache-$$ get configmap gw-rules -o 'jsonpath={.metadata.name}')" \
    '1:gw-rules;3:{"metadata": {}, "status": "Success"}'
expect_match "in the pod, kubectl in-cluster: another ConfigMap is Forbidden, with the account's name" \
    "$(gx kubectl --cache-dir /tmp/gw-kubecache-$$ get configmap gw-other)" \
    'configmaps "gw-other" is forbidden: User "system:serviceaccount:default:gw" cannot get resource "configmaps" in API group "" in the namespace "default"'
expect "in the pod, kubectl in-cluster: a merge patch of its own pod's annotations" \
    "$(gx kubectl --cache-dir /tmp/gw-kubecache-$$ annotate pod gw-0 ovn-vpcd.io/applied-rules=none)" \
    '1:pod/gw-0 annotated;3:{"metadata": {}, "status": "Success"}'
rm -rf /tmp/gw-kubecache-$$
expect "capabilities: NET_ADMIN and NET_RAW only (bounding and effective sets)" \
    "$(gx sh -c 'grep -E "^Cap(Eff|Bnd)" /proc/self/status | tr -d "\t" | tr "\n" " "')" \
    '1:CapEff:0000000000003000 CapBnd:0000000000003000;3:{"metadata": {}, "status": "Success"}'
expect "with NET_ADMIN it may add an address; without SYS_ADMIN it may not mount" \
    "$(gx sh -c 'ip addr add 192.0.2.9/32 dev lo && echo added; mount -t tmpfs x /mnt 2>/dev/null || echo no-mount')" \
    '1:added
no-mount;3:{"metadata": {}, "status": "Success"}'
expect "a pod without capabilities in its spec keeps every one (root on the host)" \
    "$(agent 2 -X POST 'http://agent/exec?namespace=default&pod=web&command=grep&command=CapBnd&command=/proc/self/status' | decode | tr -s '\t' ' ')" \
    "1:CapBnd: $(grep CapBnd /proc/self/status | awk '{print $2}');3:{\"metadata\": {}, \"status\": \"Success\"}"

# ovn-vpcd itself in a pod (the image map runs this build's binary), in-cluster
# (`[kubernetes] in_cluster = true`: KubeClient::in_cluster reads KUBERNETES_SERVICE_HOST/PORT,
# the token and ca.crt): `ovn-vpcd plan` lists the kubeovn.io kinds and the pods. Without a
# binding its account may not list them (403 from RBAC, the pod fails); with a ClusterRole to
# read everything it succeeds.
VPCD=${OVN_VPCD_BIN:-$HERE/../../target/debug/ovn-vpcd}
[[ -x $VPCD ]] || bad "no ovn-vpcd binary at $VPCD (cargo build first)"
"$VPCD" crds | k apply -f - >/dev/null && ok "ovn-vpcd crds | kubectl apply" || bad "ovn-vpcd crds"
printf '[kubernetes]\nin_cluster = true\n' >"$T/vpcd-in-cluster.toml"
k create serviceaccount vpcd >/dev/null
# vpcd_pod NAME IP MAC: a pod whose container is `ovn-vpcd plan` in-cluster, run once
vpcd_pod() {
    lsp "$1" s1 "$3" "$2"
    k create -f - >/dev/null <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "namespace": "default", "annotations": {
   "ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/ip_address": "$2",
   "ovn.kubernetes.io/mac_address": "$3", "ovn.kubernetes.io/cidr": "10.1.1.0/24",
   "ovn.kubernetes.io/gateway": "10.1.1.1", "ovn.kubernetes.io/logical_switch": "s1"}},
 "spec": {"nodeName": "node-2", "serviceAccountName": "vpcd", "restartPolicy": "Never",
   "containers": [{"name": "vpcd", "image": "ovn-vpcd",
     "command": ["ovn-vpcd", "plan", "--config", "$T/vpcd-in-cluster.toml", "--db", "$OVN_NB_DB"]}]}}
EOF
}
vpcd_pod vpcd-a 10.1.1.41 00:00:00:01:01:41
wait_for "ovn-vpcd plan in a pod whose account may not list vpcs: Failed" 100 is_phase vpcd-a Failed
expect_match "  it reached the API server in-cluster and RBAC refused it" \
    "$(agent 2 'http://agent/logs?namespace=default&pod=vpcd-a')" \
    'GET https://127\.0\.0\.1:'"$KUBE_PORT"'/apis/kubeovn\.io/v1/vpcs\?limit=500: 403 Forbidden: vpcs\.kubeovn\.io is forbidden: User "system:serviceaccount:default:vpcd" cannot list resource "vpcs" in API group "kubeovn\.io" at the cluster scope'
k create clusterrole vpcd-reader --verb=get,list,watch --resource='*.*' >/dev/null &&
    k create clusterrolebinding vpcd-reader --clusterrole=vpcd-reader --serviceaccount=default:vpcd >/dev/null
vpcd_pod vpcd-b 10.1.1.42 00:00:00:01:01:42
wait_for "ovn-vpcd plan in a pod whose account may read everything: Succeeded (exit 0)" 100 is_phase vpcd-b Succeeded ||
    agent 2 'http://agent/logs?namespace=default&pod=vpcd-b'

# ---- restarts ----------------------------------------------------------------------------------
lsp crash s1 00:00:00:01:01:20 10.1.1.20
lsp once s1 00:00:00:01:01:21 10.1.1.21
lsp never s1 00:00:00:01:01:22 10.1.1.22
mk crash node-1 10.1.1.20 00:00:00:01:01:20 10.1.1.0/24 10.1.1.1 s1 busybox '["sh", "-c", "echo run; sleep 0.2; exit 3"]'
mk once node-1 10.1.1.21 00:00:00:01:01:21 10.1.1.0/24 10.1.1.1 s1 busybox '["sh", "-c", "sleep 0.2"]' OnFailure
mk never node-1 10.1.1.22 00:00:00:01:01:22 10.1.1.0/24 10.1.1.1 s1 busybox '["sh", "-c", "exit 4"]' Never
wait_for "a container that exits is restarted (Always: restartCount >= 2)" 100 restarts_at_least crash 2
expect_match "kubectl shows CrashLoopBackOff or Running with restarts" \
    "$(k get pod crash --no-headers | awk '{print $3, $4}')" "^(CrashLoopBackOff|Running) [2-9]"
expect "the last instance's exit is in lastState" \
    "$(k get pod crash -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode} {.status.containerStatuses[0].lastState.terminated.reason}')" "3 Error"
expect "logs --previous has the instance before" "$(agent 1 'http://agent/logs?namespace=default&pod=crash&previous=true')" "run"
wait_for "OnFailure, exit 0: Succeeded, not restarted" 50 is_phase once Succeeded
expect "  its restartCount and state" "$(restarts once) $(k get pod once -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}')" "0 Completed"
wait_for "Never, exit 4: Failed" 50 is_phase never Failed
expect "  its exit code" "$(k get pod never -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode} {.status.conditions[?(@.type=="Ready")].status}')" "4 False"

# ---- a Multus leg: waits for its provider's annotations, then net1 on the external network ------
k get crd network-attachment-definitions.k8s.cni.cncf.io >/dev/null 2>&1 || k apply -f - >/dev/null <<'EOF'
{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
 "metadata": {"name": "network-attachment-definitions.k8s.cni.cncf.io"},
 "spec": {"group": "k8s.cni.cncf.io", "scope": "Namespaced",
   "names": {"plural": "network-attachment-definitions", "singular": "network-attachment-definition",
             "kind": "NetworkAttachmentDefinition", "shortNames": ["net-attach-def"]},
   "versions": [{"name": "v1", "served": true, "storage": true,
     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}
EOF
k apply -f - >/dev/null <<'EOF' && ok "NAD ext (macvlan, master eth0 -> EXT_NIC) created" || bad "NAD"
{"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
 "metadata": {"name": "ext", "namespace": "default"},
 "spec": {"config": "{\"cniVersion\": \"0.3.0\", \"type\": \"macvlan\", \"master\": \"eth0\", \"mode\": \"bridge\", \"ipam\": {\"type\": \"kube-ovn\", \"provider\": \"ext.default\"}}"}}
EOF
lsp gw s1 00:00:00:01:01:30 10.1.1.30
mk gw node-1 10.1.1.30 00:00:00:01:01:30 10.1.1.0/24 10.1.1.1 s1 vpc-nat-gateway '' Always \
    '"k8s.v1.cni.cncf.io/networks": "default/ext"'
sleep 1
expect "without ext.default.kubernetes.io/* it stays Pending, saying why" \
    "$(phase gw) $(k get pod gw -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')" \
    "Pending waiting for ext.default.kubernetes.io/ip_address"
k annotate pod gw ext.default.kubernetes.io/ip_address=192.168.239.50 ext.default.kubernetes.io/cidr=192.168.239.0/24 \
    ext.default.kubernetes.io/mac_address=00:00:00:02:39:50 ext.default.kubernetes.io/gateway=192.168.239.1 >/dev/null
wait_for "annotated: Running" 100 is_phase gw Running
expect "net1 is a macvlan with the provider's MAC and address" \
    "$(in_pod gw ip -d -br link show net1 | awk '{print $3}') $(in_pod gw ip -d link show net1 | grep -o 'macvlan mode [a-z]*') $(in_pod gw ip -br -4 addr show net1 | awk '{print $3}')" \
    "00:00:00:02:39:50 macvlan mode bridge 192.168.239.50/24"
wait_for "net1 reaches the external gateway $EXT_GW" 50 ping_ok gw "$EXT_GW"
wait_for "and eth0 still reaches pb" 50 ping_ok gw 10.1.2.10

# ---- delete: processes, namespace, port gone; the same name works again --------------------------
web_pid=$(agent 2 http://agent/pods | /usr/bin/python3 -c 'import json,sys; print([c["pid"] for p in json.load(sys.stdin)["pods"] if p["name"]=="web" for c in p["containers"]][0])')
k delete pod web --wait=true >/dev/null
wait_for "deleted web: its namespace is gone" 50 gone_ns "$(pod_ns web)"
wait_for "  its OVS port is gone from node-2's br-int" 50 no_port web.default "$NODE_2_OVS_DB"
[[ -n $web_pid && ! -e /proc/$web_pid ]] && ok "  its container process ($web_pid) is gone" || bad "web's process $web_pid still runs"
# The agent forgets a pod as its deletion completes, like the namespace and port above.
unlisted() { [[ $(agent 2 http://agent/pods | grep -c "\"name\": \"$1\"") == 0 ]]; }
wait_for "  and the agent no longer lists it" 50 unlisted web
mk web node-1 10.1.2.11 00:00:00:01:02:11 10.1.2.0/24 10.1.2.1 s2 nginx
wait_for "web recreated under the same name on node-1: answers HTTP again" 100 web_ok
expect "  bound on chassis-1 now" "$(ovn-sbctl --db="$OVN_SB_DB" --bare --columns=name list chassis \
    "$(ovn-sbctl --db="$OVN_SB_DB" --bare --columns=chassis find port_binding logical_port=web.default)")" "chassis-1"

# ---- pod create -> first ping answered, PODS pods -------------------------------------------------
TOKEN=$(cat "$KUBE_TOKEN_FILE")
post_pod() { curl -fsS --max-time 10 --cacert "$KUBE_CA" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @- "$KUBE_URL/api/v1/namespaces/default/pods" >/dev/null; }
args=()
for ((i = 0; i < PODS; i++)); do
    args+=(-- lsp-add s2 "m$i.default" -- lsp-set-addresses "m$i.default" "$(printf '00:00:00:01:03:%02x' "$i") 10.1.2.$((100 + i))")
done
nb "${args[@]}" && ok "$PODS switch ports for the benchmark pods" || bad "benchmark switch ports"
: >"$T/lat.ms"
for ((i = 0; i < PODS; i++)); do
    node=node-$((i % 2 + 1))
    s=$(date +%s%N)
    pod_json "m$i" "$node" "10.1.2.$((100 + i))" "$(printf '00:00:00:01:03:%02x' "$i")" 10.1.2.0/24 10.1.2.1 s2 pause | post_pod ||
        bad "create m$i"
    if in_pod pa ping -c1 -w10 -i0.01 -q "10.1.2.$((100 + i))" >/dev/null 2>&1; then
        echo $((($(date +%s%N) - s) / 1000000)) >>"$T/lat.ms"
    else
        bad "m$i ($node) never answered ping within 10 s"
    fi
done
n=$(wc -l <"$T/lat.ms")
expect "every benchmark pod answered ping" "$n" "$PODS"
if ((n)); then
    sort -n "$T/lat.ms" >"$T/lat.sorted"
    p50=$(sed -n "$(((n + 1) / 2))p" "$T/lat.sorted")
    p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$T/lat.sorted")
    echo "POD_PING_P50_MS=$p50"
    echo "POD_PING_P99_MS=$p99"
    echo "# pod create -> first ping answered over $n pods (alternating node-1 / node-2, ping from pa on node-1)"
fi

# ---- init containers (agent-init-selftest.sh) ------------------------------------------------------
# shellcheck source=testbed/cluster/agent-init-selftest.sh
. "$HERE/agent-init-selftest.sh"

# ---- an OOM kill, restart-node without and with --reboot (agent-restart-selftest.sh) -------------
# shellcheck source=testbed/cluster/agent-restart-selftest.sh
. "$HERE/agent-restart-selftest.sh"

# ---- stop: nothing left -------------------------------------------------------------------------
pids_of_pods() { agent "$1" http://agent/pods | /usr/bin/python3 -c 'import json,sys; print(" ".join(str(c["pid"]) for p in json.load(sys.stdin)["pods"] for c in p["containers"] if c["pid"]))'; }
cpids="$(pids_of_pods 1) $(pids_of_pods 2)"
(($(wc -w <<<"$cpids") >= PODS)) && ok "the agents list their pods' container processes" || bad "container pids: [$cpids]"
"$CLUSTER" stop "$T/a" >/dev/null 2>&1 && ok "cluster.sh stop" || bad "cluster.sh stop"
expect "no namespace $NETNS_PREFIX-* left (pods' included)" \
    "$(ip netns list | awk '{print $1}' | grep -E "^$NETNS_PREFIX-" | tr '\n' ' ')" ""
left=""
for p in $(grep -laF -- "$T/a/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do [[ $p != "$$" && -e /proc/$p ]] && left+="$p "; done
expect "no process of the cluster left (agents' included)" "$left" ""
left=""
for p in $cpids; do [[ -e /proc/$p ]] && left+="$p "; done
expect "no container process left" "$left" ""

echo
echo "# $PASS passed, $FAIL failed"
((FAIL == 0))

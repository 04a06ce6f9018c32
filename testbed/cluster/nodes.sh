# shellcheck shell=bash
# cluster/nodes.sh: the testbed API server and one Node object per chassis (sourced by
# testbed/cluster.sh).
#
# The API server runs from testbed/kube/kube.sh in DIR/kube with `--nodes=` (no default Nodes:
# apiserver.py otherwise makes node-1 and node-2 of its own at boot) and `--no-kubelet` (the
# node agents, cluster/agent.py, run the pods and report their status). Each Node is then created
# with kubectl, named as its chassis' host (the chassis' Chassis.hostname in the SB), with the
# labels kubernetes.io/hostname and kubernetes.io/os=linux, the annotation
# ovn.kubernetes.io/chassis = the chassis' system-id, InternalIP = its encap IP, and status
# Ready (written through the status subresource, as a kubelet does).

KUBE_SH=$HERE/kube/kube.sh

kctl() { kubectl --kubeconfig "$D/kube/kubeconfig" --cache-dir "$D/kube/kubecache" --request-timeout=10s "$@"; }

kube_start() {
    "$KUBE_SH" start "$D/kube" --nodes= --no-kubelet --quiet >>"$D/kube.out" 2>&1 ||
        fail "kube.sh start $D/kube failed" "$D/kube.out" "$D/kube/apiserver.log"
}

node_json() { # node_json I
    local n c
    n=$(node_name "$1")
    c=$(chassis_name "$1")
    cat <<EOF
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$n",
   "labels": {"kubernetes.io/hostname": "$n", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
   "annotations": {"ovn.kubernetes.io/chassis": "$c"}},
 "spec": {}}
EOF
}

node_status_json() { # node_status_json I
    local n c ip now
    n=$(node_name "$1")
    c=$(chassis_name "$1")
    ip=$(encap_ip "$1")
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    cat <<EOF
{"status": {
  "addresses": [{"type": "InternalIP", "address": "$ip"}, {"type": "Hostname", "address": "$n"}],
  "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                  "message": "kubelet is posting ready status",
                  "lastHeartbeatTime": "$now", "lastTransitionTime": "$now"}],
  "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
  "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
  "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0", "operatingSystem": "linux",
               "architecture": "amd64", "osImage": "ovn-vpcd testbed chassis",
               "containerRuntimeVersion": "testbed://1.0", "kernelVersion": "$(uname -r)",
               "machineID": "$c", "systemUUID": "$c", "bootID": "$c"}}}
EOF
}

node_create() { # node_create I
    local n out
    n=$(node_name "$1")
    out=$(node_json "$1" | kctl create -f - 2>&1) || fail "kubectl create node $n: $out" "$D/kube/apiserver.log"
    out=$(kctl patch node "$n" --subresource=status --type=merge -p "$(node_status_json "$1")" 2>&1) ||
        fail "kubectl patch node $n --subresource=status: $out" "$D/kube/apiserver.log"
}

node_ready() { # node_ready I: the API server says Ready=True
    local out
    out=$(kctl get node "$(node_name "$1")" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) || return 1
    [[ $out == True ]]
}

kube_stop() {
    if [[ -d $D/kube ]]; then
        "$KUBE_SH" stop "$D/kube" >>"$D/kube.out" 2>&1 || log "kube.sh stop failed (see $D/kube.out)"
    fi
}

# shellcheck shell=bash
# agent-init-selftest.sh: sourced by agent-selftest.sh (its cluster, router, switches and helpers):
# `spec.initContainers` as kubelet runs them, on node-1 (agent-restart-selftest.sh then checks
# what restart-node does to them: init_after_restart, init_after_reboot below).
# - ini: two privileged init containers (i1 waits for a file the test makes, then records its capabilities; i2 switches on
#   net.ipv4.ip_forward, as the NAT gateway's init-forwarding does) and a container with NET_ADMIN
#   and NET_RAW only. While i1 runs: Pending with its podIP, `Init:0/2`, Initialized False
#   naming both, i1 running, i2 and the container waiting in PodInitializing; then i1, i2 and the
#   container ran in that order (a file each appends to), Running 1/1, both init containers
#   terminated Completed 0 and ready, Initialized True, ip_forward 1 in the pod, i1 with every
#   capability.
# - inf (restartPolicy Always): its init container exits 3 until a file exists: restarted with
#   back-off (restartCount >= 2, `Init:CrashLoopBackOff`, lastState Error 3), the container never
#   started; once the file exists it completes and the pod runs.
# - inn (restartPolicy Never): its init container exits 5: the pod Failed, `Init:Error`, not
#   restarted, the container never started.

# ipod NAME IP MAC RESTART_POLICY INIT_CONTAINERS_JSON CONTAINERS_JSON: a pod on node-1, switch s1
ipod() {
    lsp "$1" s1 "$3" "$2"
    k create -f - >/dev/null <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "namespace": "default", "annotations": {
   "ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/ip_address": "$2",
   "ovn.kubernetes.io/mac_address": "$3", "ovn.kubernetes.io/cidr": "10.1.1.0/24",
   "ovn.kubernetes.io/gateway": "10.1.1.1", "ovn.kubernetes.io/logical_switch": "s1"}},
 "spec": {"nodeName": "node-1", "restartPolicy": "$4", "terminationGracePeriodSeconds": 1,
   "initContainers": $5, "containers": $6}}
EOF
}
ics() { k get pod "$1" -o "jsonpath={.status.initContainerStatuses[$2].$3}"; } # ics POD I FIELD
kstatus() { k get pod "$1" --no-headers | awk '{print $2, $3, $4}'; }          # READY STATUS RESTARTS
init_running() { [[ -n $(ics "$1" "$2" state.running.startedAt) ]]; }
init_restarts_at_least() { (($(ics "$1" 0 restartCount) >= $2)); }
order() { [[ ! -e $T/$1.order ]] || tr '\n' ' ' <"$T/$1.order"; } # order POD: who appended to $T/POD.order

INI_I1='{"name": "i1", "image": "busybox", "securityContext": {"privileged": true},
  "command": ["sh", "-c", "while [ ! -e '$T'/ini.go ]; do sleep 0.05; done; grep CapBnd /proc/self/status | tr -d \"\\t\" > '$T'/ini.caps; echo i1 >> '$T'/ini.order"]}'
INI_I2='{"name": "i2", "image": "busybox", "securityContext": {"privileged": true},
  "command": ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && echo i2 >> '$T'/ini.order"]}'
INI_MAIN='{"name": "main", "image": "busybox",
  "securityContext": {"privileged": false, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}},
  "command": ["sh", "-c", "echo main >> '$T'/ini.order; exec sleep infinity"]}'
ipod ini 10.1.1.50 00:00:00:01:01:50 Always "[$INI_I1, $INI_I2]" "[$INI_MAIN]"
wait_for "ini: its first init container running" 100 init_running ini 0
expect "  Pending with its podIP, Initialized False naming both, i1 running, i2 and main PodInitializing" \
    "$(k get pod ini -o jsonpath='{.status.phase} {.status.podIP} {.status.conditions[?(@.type=="Initialized")].status} {.status.conditions[?(@.type=="Initialized")].reason} {.status.conditions[?(@.type=="Initialized")].message}|{.status.initContainerStatuses[*].name}|{.status.initContainerStatuses[1].state.waiting.reason} {.status.containerStatuses[0].state.waiting.reason} {.status.conditions[?(@.type=="Ready")].status}')" \
    "Pending 10.1.1.50 False ContainersNotInitialized containers with incomplete status: [i1 i2]|i1 i2|PodInitializing PodInitializing False"
expect "  kubectl get pod: 0/1 Init:0/2 0" "$(kstatus ini)" "0/1 Init:0/2 0"
expect "  the container has not started" "$(order ini)" ""
touch "$T/ini.go"
wait_for "ini Running" 100 is_phase ini Running
expect "  i1, i2, then the container, each after the other ended" "$(order ini)" "i1 i2 main "
expect "  kubectl get pod: 1/1 Running 0" "$(kstatus ini)" "1/1 Running 0"
expect "  both init containers terminated Completed 0, ready, not started; Initialized True" \
    "$(k get pod ini -o jsonpath='{range .status.initContainerStatuses[*]}{.name}:{.state.terminated.reason}:{.state.terminated.exitCode}:{.ready}:{.started}:{.restartCount} {end}{.status.conditions[?(@.type=="Initialized")].status}')" \
    "i1:Completed:0:true:false:0 i2:Completed:0:true:false:0 True"
expect "  i2 switched on ip_forward in the pod's namespace" "$(in_pod ini cat /proc/sys/net/ipv4/ip_forward)" "1"
expect "  privileged i1 kept every capability (root's)" "$(cat "$T/ini.caps" 2>/dev/null)" \
    "CapBnd:$(grep CapBnd /proc/self/status | awk '{print $2}')"
expect "  the container has NET_ADMIN and NET_RAW only" \
    "$(agent 1 -X POST 'http://agent/exec?namespace=default&pod=ini&command=grep&command=CapBnd&command=/proc/self/status' | decode | tr -d '\t')" \
    '1:CapBnd:0000000000003000;3:{"metadata": {}, "status": "Success"}'
expect "  logs of an init container (the agent's /logs, container=i2)" \
    "$(agent 1 -w '%{http_code}' -o /dev/null 'http://agent/logs?namespace=default&pod=ini&container=i2')" "200"

ipod inf 10.1.1.51 00:00:00:01:01:51 Always \
    '[{"name": "fails", "image": "busybox", "command": ["sh", "-c", "echo try; [ -e '$T'/inf.ok ] || exit 3"]}]' \
    '[{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo main >> '$T'/inf.order; exec sleep infinity"]}]'
wait_for "inf (Always): its failing init container restarted with back-off (restartCount >= 2)" 100 \
    init_restarts_at_least inf 2
expect_match "  kubectl get pod: 0/1 Init:CrashLoopBackOff (or Init:0/1 while it runs), its restarts" \
    "$(kstatus inf)" "^0/1 Init:(CrashLoopBackOff|0/1) [2-9]$"
expect "  lastState terminated Error 3; Pending; the container waits in PodInitializing, never started" \
    "$(k get pod inf -o jsonpath='{.status.initContainerStatuses[0].lastState.terminated.reason} {.status.initContainerStatuses[0].lastState.terminated.exitCode} {.status.phase} {.status.containerStatuses[0].state.waiting.reason}') $(order inf)" \
    "Error 3 Pending PodInitializing "
touch "$T/inf.ok"
wait_for "  once it can succeed: Running" 100 is_phase inf Running
expect "  its init container Completed, the container ran once" \
    "$(ics inf 0 state.terminated.reason) $(order inf)" "Completed main "

ipod inn 10.1.1.52 00:00:00:01:01:52 Never \
    '[{"name": "fails", "image": "busybox", "command": ["sh", "-c", "exit 5"]}]' \
    '[{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo main >> '$T'/inn.order; exec sleep infinity"]}]'
wait_for "inn (Never): its init container exits 5: Failed" 100 is_phase inn Failed
expect "  kubectl get pod: 0/1 Init:Error 0" "$(kstatus inn)" "0/1 Init:Error 0"
expect "  terminated Error 5, not restarted; Initialized and Ready False; the container never started" \
    "$(k get pod inn -o jsonpath='{.status.initContainerStatuses[0].state.terminated.reason} {.status.initContainerStatuses[0].state.terminated.exitCode} {.status.initContainerStatuses[0].restartCount} {.status.conditions[?(@.type=="Initialized")].status} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].state.waiting.reason}') $(order inn)" \
    "Error 5 0 False False PodInitializing "

# init_after NAME RESTARTED_INIT_COUNT WANT_ORDER: after restart-node 1 (agent-restart-selftest.sh)
init_after() {
    local what=$1 n=$2 want=$3
    wait_for "  ini Ready again" 100 is_ready ini
    expect "  ini ($what): i1, i2 restartCount $n, Completed 0; the order of runs" \
        "$(k get pod ini -o jsonpath='{range .status.initContainerStatuses[*]}{.name}:{.restartCount}:{.state.terminated.reason}:{.state.terminated.exitCode} {end}')$(order ini)" \
        "i1:$n:Completed:0 i2:$n:Completed:0 $want"
    expect "  ini: ip_forward 1, kubectl get pod 1/1 Running" "$(in_pod ini cat /proc/sys/net/ipv4/ip_forward) $(kstatus ini | cut -d' ' -f1,2)" \
        "1 1/1 Running"
    expect "  inn stays Failed (Init:Error), its init container not run again" "$(phase inn) $(kstatus inn | cut -d' ' -f2) $(ics inn 0 restartCount)" \
        "Failed Init:Error 0"
}
# the agent restarted, not the node: the sandbox stays and its init containers do not run again
init_after_restart() { init_after "agent restarted: not run again" 0 "i1 i2 main main "; }
# rebooted: a new sandbox, the init containers run again before the container
init_after_reboot() { init_after "rebooted: run again, first" 1 "i1 i2 main main i1 i2 main "; }

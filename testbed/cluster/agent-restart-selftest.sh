# shellcheck shell=bash
# agent-restart-selftest.sh: sourced by agent-selftest.sh (its cluster, pods and helpers) once its
# pods run: what an OOM kill does to a container and what `cluster.sh restart-node` does to a
# node, without and with --reboot, on node-1 (pa, gw with its Multus leg, the pods that ended:
# once, never), pb on node-2 its peer across geneve. Prints OOM_KILL_RUNNING_MS,
# NODE_RESTART_MS, NODE_RESTART_PING_MS, NODE_REBOOT_MS, NODE_REBOOT_PING_MS (the ping figures:
# from the start of restart-node until pa answers pb's ping again).

cpid() { # cpid NODE POD: the pid of the pod's first container (the agent's /pods), or empty
    agent "$1" http://agent/pods | /usr/bin/python3 -c 'import json, sys
print(next((str(p["containers"][0]["pid"] or "") for p in json.load(sys.stdin)["pods"] if p["name"] == sys.argv[1]), ""))' "$2"
}
node_pids() { # node_pids NODE: every container pid its agent lists
    agent "$1" http://agent/pods | /usr/bin/python3 -c 'import json, sys
print(" ".join(str(c["pid"]) for p in json.load(sys.stdin)["pods"] for c in p["containers"] if c["pid"]))'
}
last_term() { k get pod "$1" -o 'jsonpath={.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}'; }
is_ready() { [[ $(k get pod "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]; }
running_anew() { [[ $(restarts "$1") == "$2" ]] && is_ready "$1"; } # running_anew POD COUNT
pod_ip() { k get pod "$1" -o 'jsonpath={.status.podIP}'; }
# one OVS port per pod of the node, none twice: br-int's ports but its tunnels, and the agent's pods
ports_ok() { # ports_ok NODE OVS_DB
    local ports pods
    ports=$(ovs-vsctl --db="$2" list-ports br-int | grep -v '^ovn-' | sort)
    pods=$(agent "$1" http://agent/pods | /usr/bin/python3 -c 'import json, sys
print("\n".join(sorted(p["port"] for p in json.load(sys.stdin)["pods"])))')
    [[ -n $ports && $ports == "$pods" && -z $(uniq -d <<<"$ports") ]]
}
gone_pids() { local p; for p in "$@"; do [[ -e /proc/$p ]] && return 1; done; return 0; }
ping_back() { # ping_back T0_NS: waits for pa -> pb again, prints ms since T0_NS
    local t0=$1 i
    for ((i = 0; i < 200; i++)); do
        if ping_ok pa 10.1.2.10 >/dev/null 2>&1; then echo $((($(date +%s%N) - t0) / 1000000)); return 0; fi
        sleep 0.05
    done
    return 1
}

# ---- before: pa (node-1) pings pb (node-2) ---------------------------------------------------------
wait_for "before the restarts: pa (node-1) pings pb (node-2)" 50 ping_ok pa 10.1.2.10
wait_for "  and gw's leg reaches $EXT_GW" 50 ping_ok gw "$EXT_GW"

# ---- an OOM kill: SIGKILL to the container's process group, restarted by restartPolicy ------------
r0=$(restarts pb)
p0=$(cpid 2 pb)
t0=$(date +%s%N)
expect_match "POST /kill on node-2's agent kills pb's container" \
    "$(curl -sS --max-time 10 -X POST --unix-socket "$(sock 2)" 'http://agent/kill?namespace=default&pod=pb&container=main')" \
    "^\{\"pid\": $p0, \"container\": \"main\", \"reason\": \"OOMKilled\"\}$"
wait_for "  its process ($p0) is gone" 50 gone_pids "$p0"
wait_for "  restarted: restartCount $((r0 + 1)), Ready again" 100 running_anew pb $((r0 + 1)) &&
    echo "OOM_KILL_RUNNING_MS=$((($(date +%s%N) - t0) / 1000000))"
expect "  lastState terminated OOMKilled, exit code 137" "$(last_term pb)" "OOMKilled 137"
[[ $(cpid 2 pb) =~ ^[0-9]+$ && $(cpid 2 pb) != "$p0" ]] && ok "  a new process" || bad "pb's pid after the kill: [$(cpid 2 pb)]"
wait_for "  pa pings pb again" 50 ping_ok pa 10.1.2.10
expect_match "a kill of a pod the node does not run: 404 NotFound" \
    "$(curl -sS --max-time 10 -X POST --unix-socket "$(sock 1)" 'http://agent/kill?namespace=default&pod=pb')" '"reason": "NotFound"'

# ---- restart-node 1: agent, ovs-vswitchd, ovn-controller; the sandboxes stay -----------------------
in_pod pa iptables -t nat -A POSTROUTING -m comment --comment sandbox-marker -j ACCEPT
ra=$(restarts pa)
rg=$(restarts gw)
rb=$(restarts pb)
old1=$(node_pids 1)
pb_pid=$(cpid 2 pb)
agent2=$(cat "$CLUSTER_DIR/n2/agent.pid")
api=$(cat "$CLUSTER_DIR/kube/apiserver.pid")
t0=$(date +%s%N)
if out=$("$CLUSTER" restart-node "$CLUSTER_DIR" 1 2>&1); then ok "cluster.sh restart-node DIR 1"; else bad "restart-node 1: $out"; fi
echo "# $(grep -v '^RESTART_MS=' <<<"$out" | tail -n 1)"
echo "NODE_RESTART_MS=$(sed -n 's/^RESTART_MS=//p' <<<"$out")"
ms=$(ping_back "$t0") && { ok "after the restart pa pings pb again"; echo "NODE_RESTART_PING_MS=$ms"; } ||
    bad "after the restart pa does not ping pb"
expect "  pa Running, Ready, same IP, restartCount $((ra + 1))" "$(phase pa) $(is_ready pa && echo Ready) $(pod_ip pa) $(restarts pa)" \
    "Running Ready 10.1.1.10 $((ra + 1))"
expect "  lastState terminated Unknown 255 (the earlier agent's instance)" "$(last_term pa)" "Unknown 255"
expect "  its network namespace stayed (a rule added in it before is there)" \
    "$(in_pod pa iptables -t nat -S POSTROUTING | grep -c sandbox-marker)" "1"
expect "  eth0 (re-plugged: ovs-vswitchd's new tap) has its MAC and addresses" \
    "$(in_pod pa ip -br link show eth0 | awk '{print $3}') $(in_pod pa ip -br addr show scope global dev eth0 | awk '{print $3, $4}') $(in_pod pa ip route show default | awk '{print $3}')" \
    "00:00:00:01:01:10 10.1.1.10/24 fd00:1::10/64 10.1.1.1"
wait_for "  pb pings pa back (and over IPv6)" 50 in_pod pb ping -c1 -W1 -q fd00:1::10
wait_for "  gw running again (restartCount $((rg + 1))), its leg net1 kept, reaching $EXT_GW" 100 running_anew gw $((rg + 1)) &&
    wait_for "    ping" 50 ping_ok gw "$EXT_GW"
expect "  once stays Succeeded and never Failed, not restarted" "$(phase once) $(restarts once) $(phase never) $(restarts never)" \
    "Succeeded 0 Failed 0"
wait_for "  node-1's br-int: one port per pod, none twice" 50 ports_ok 1 "$NODE_1_OVS_DB"
wait_for "  the earlier containers of node-1 are gone" 50 gone_pids $old1
expect "  node-2 untouched: its agent, pb's process and restartCount; the API server" \
    "$(cat "$CLUSTER_DIR/n2/agent.pid") $(cpid 2 pb) $(restarts pb) $(cat "$CLUSTER_DIR/kube/apiserver.pid")" "$agent2 $pb_pid $rb $api"
init_after_restart

# ---- restart-node 1 --reboot: every process and pod namespace of node-1 gone, made anew ----------
ra=$(restarts pa)
rg=$(restarts gw)
old1=$(node_pids 1)
pa_ino=$(stat -Lc %i "/run/netns/$(pod_ns pa)")
t0=$(date +%s%N)
if out=$("$CLUSTER" restart-node "$CLUSTER_DIR" 1 --reboot 2>&1); then ok "cluster.sh restart-node DIR 1 --reboot"; else bad "reboot 1: $out"; fi
echo "# $(grep -v '^RESTART_MS=' <<<"$out" | tail -n 1)"
echo "NODE_REBOOT_MS=$(sed -n 's/^RESTART_MS=//p' <<<"$out")"
ms=$(ping_back "$t0") && { ok "after the reboot pa pings pb again"; echo "NODE_REBOOT_PING_MS=$ms"; } ||
    bad "after the reboot pa does not ping pb"
expect "  pa Running, Ready, same IP, restartCount $((ra + 1))" "$(phase pa) $(is_ready pa && echo Ready) $(pod_ip pa) $(restarts pa)" \
    "Running Ready 10.1.1.10 $((ra + 1))"
[[ $(stat -Lc %i "/run/netns/$(pod_ns pa)") != "$pa_ino" ]] && ok "  a new network namespace (another inode)" || bad "pa's netns is the old one"
expect "  the rule added in the old one is gone with it" "$(in_pod pa iptables -t nat -S POSTROUTING | grep -c sandbox-marker)" "0"
expect "  eth0 made anew with the annotated MAC and addresses, routes" \
    "$(in_pod pa ip -br link show eth0 | awk '{print $3}') $(in_pod pa ip -br addr show scope global dev eth0 | awk '{print $3, $4}') $(in_pod pa ip route show | grep -E '^(default|192)' | sed 's/ *$//' | tr '\n' ';')" \
    "00:00:00:01:01:10 10.1.1.10/24 fd00:1::10/64 default via 10.1.1.1 dev eth0;192.0.2.0/24 via 10.1.1.254 dev eth0;"
wait_for "  gw Running again (restartCount $((rg + 1))), its leg made anew, reaching $EXT_GW" 100 running_anew gw $((rg + 1)) &&
    wait_for "    ping" 50 ping_ok gw "$EXT_GW"
expect "  gw's net1: the provider's MAC and address" \
    "$(in_pod gw ip -br link show net1 | awk '{print $3}') $(in_pod gw ip -br -4 addr show net1 | awk '{print $3}')" \
    "00:00:00:02:39:50 192.168.239.50/24"
expect "  once stays Succeeded and never Failed, not restarted" "$(phase once) $(restarts once) $(phase never) $(restarts never)" \
    "Succeeded 0 Failed 0"
wait_for "  node-1's br-int: one port per pod, none twice" 50 ports_ok 1 "$NODE_1_OVS_DB"
wait_for "  the earlier containers of node-1 are gone" 50 gone_pids $old1
expect "  the chassis namespace keeps only its NICs and OVS' devices" \
    "$(ip -n "$NODE_1_NETNS" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | tr '\n' ' ')" \
    "br-int br-phy eth1 lo ovs-netdev ul0 "
expect "  encap IP back on br-phy" "$(ip -n "$NODE_1_NETNS" -br -4 addr show br-phy | awk '{print $3}')" "$NODE_1_ENCAP_IP/24"
expect "  node-2 untouched: its agent, pb's process and restartCount; the API server" \
    "$(cat "$CLUSTER_DIR/n2/agent.pid") $(cpid 2 pb) $(restarts pb) $(cat "$CLUSTER_DIR/kube/apiserver.pid")" "$agent2 $pb_pid $rb $api"
init_after_reboot
expect_match "restart-node refuses a node the cluster lacks" "$("$CLUSTER" restart-node "$CLUSTER_DIR" 3 2>&1)" \
    "node index must be 1\.\.2"

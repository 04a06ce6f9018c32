# shellcheck shell=bash
# cluster/restart.sh: `cluster.sh restart-node DIR I [--reboot]`, what a restart of a node's
# kubelet and Open vSwitch, or a reboot of the node, does to one chassis of a running cluster
# (sourced by testbed/cluster.sh). The API server, OVN central and the other nodes are not
# touched.
#
# Without --reboot (kubelet and OVS restarted, as `systemctl restart kubelet
# openvswitch-switch ovn-host` would): the node agent, ovn-controller and ovs-vswitchd stop
# (TERM; ovs-vswitchd without --cleanup, so its taps stay) and start again; the vswitch
# ovsdb-server keeps running. The pods' network namespaces stay, with their iptables, routes,
# conntrack and Multus legs. The containers do not survive the agent (the agent ties every
# container to itself with `--pdeathsig KILL`, so that no container outlives a dead agent): the
# new agent reuses each pod's sandbox (its eth0 tap re-plugged when ovs-vswitchd made a new one)
# and starts the containers again, restartCount + 1 (agent_pod.py).
#
# With --reboot: every process of the node stops (the agent with its containers,
# ovn-controller, ovs-vswitchd with `exit --cleanup`: its taps go, the vswitch ovsdb-server);
# every pod namespace of the node (found in the vswitch database's ports and in the agent's
# list) and every device of the chassis namespace but lo, ul0 (the underlay NIC) and EXT_NIC is
# deleted; what survives is what a disk and NICs keep: the chassis namespace, DIR/nI (conf.db
# with br-int, br-phy and the pods' ports, logs), the underlay and external veths. Then the
# node boots: ovsdb-server on the same conf.db, ovs-vswitchd, the encap IP on br-phy,
# ovn-controller, the agent, which makes each pod's sandbox anew from its Pod object (same
# IPs and MACs from the annotations) and starts its containers, restartCount + 1.
#
# Both wait until the chassis is back in the SB with its tunnels, the Node is Ready and every
# pod that ran before is running again (the agent's /pods), then print how long it took. A
# process cluster.sh did not start still running in a namespace that goes is named in a warning
# and left alone (as `stop` does).

KEEP_DEVICES=(lo ul0) # and EXT_NIC

agent_pods() { # agent_pods I: "<namespace>/<pod> <netns> <all containers running: 1|0>" lines
    curl -fsS --max-time 5 --unix-socket "$(node_dir "$1")/agent.sock" http://agent/pods 2>/dev/null |
        /usr/bin/python3 -c 'import json, sys
for p in json.load(sys.stdin)["pods"]:
    up = bool(p["containers"]) and all(c["pid"] for c in p["containers"])
    print("%s/%s %s %d" % (p["namespace"], p["name"], p["netns"], up))'
}

# The pods (namespace/name) that were running on node I: what the restart waits for.
running_pods() { agent_pods "$1" | awk '$3 == 1 {print $1}'; }

# pods_running I KEY...: the agent of node I lists every KEY with its containers running.
pods_running() {
    local i=$1 now
    shift
    now=$(agent_pods "$i" | awk '$3 == 1 {print $1}') || return 1
    local k
    for k in "$@"; do grep -qxF -- "$k" <<<"$now" || return 1; done
}

# The pod namespaces of node I: the testbed-netns of its ports in the vswitch database (the
# agent writes them there) and the agent's own list.
node_pod_netns() { # node_pod_netns I
    local i=$1
    {
        chassis_vsctl "$i" --no-wait --bare --columns=external_ids find interface \
            "external_ids:testbed-node=$(node_name "$i")" 2>/dev/null | tr ' ' '\n' |
            sed -n 's/^"\{0,1\}testbed-netns=\(.*\)/\1/p' | tr -d '"'
        agent_pods "$i" | awk '{print $2}'
    } | grep -E "^$PREFIX-" | awk 'NF && !seen[$0]++'
}

netns_del_warn() { # netns_del_warn NS
    local ns=$1 pids
    netns_exists "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    if [[ -n ${pids// /} ]]; then
        log "namespace $ns still has processes not started by cluster.sh: $pids(left running; the namespace lives until they end)"
    fi
    ip netns del "$ns" || log "ip netns del $ns failed"
}

# Everything in the chassis namespace but its NICs goes, as at power-off.
chassis_devices_clear() { # chassis_devices_clear I
    local ns dev keep
    ns=$(node_netns "$1")
    while read -r dev; do
        [[ -n $dev ]] || continue
        for keep in "${KEEP_DEVICES[@]}" "$EXT_NIC"; do [[ $dev == "$keep" ]] && continue 2; done
        ip -n "$ns" link del "$dev" 2>/dev/null || log "ip -n $ns link del $dev failed"
    done < <(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}')
}

cmd_restart_node() {
    local i="" reboot=0 t0 n nd ns ms what pids
    t0=$(date +%s%N)
    [[ $# -ge 2 ]] || usage
    set_dir "$1" 0
    shift
    while (($#)); do
        case $1 in
            --reboot) reboot=1; shift ;;
            -*) usage ;;
            *) [[ -z $i ]] || usage; i=$1; shift ;;
        esac
    done
    [[ -f $D/env ]] || die "no cluster in $D (no $D/env)"
    n=$(sed -n 's/^NODE_COUNT=//p' "$D/env")
    [[ $i =~ ^[1-9]$ ]] && ((i <= n)) || die "node index must be 1..$n (got $i)"
    ((EUID == 0)) || die "must run as root (network namespaces)"
    nd=$(node_dir "$i")
    ns=$(node_netns "$i")
    SB=unix:$D/ovn/sb.sock
    netns_exists "$ns" || die "chassis namespace $ns is missing"
    pidfile_pid "$nd/ovsdb-server.pid" >/dev/null || die "the vswitch ovsdb-server of $(node_name "$i") is not running"

    local -a before=() gone=()
    mapfile -t before < <(running_pods "$i")
    if ((reboot)); then mapfile -t gone < <(node_pod_netns "$i"); fi

    # -- down --
    stop_pidfiles "$nd/agent.pid"
    if ((reboot)); then
        chassis_stop "$i"
        local p
        for p in "${gone[@]}"; do netns_del_warn "$p"; done
        chassis_devices_clear "$i"
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        [[ -z ${pids// /} ]] || log "chassis namespace $ns still has processes not started by cluster.sh: $pids(left running)"
    else
        stop_pidfiles "$nd/ovn-controller.pid" "$nd/ovs-vswitchd.pid"
    fi

    # -- up --
    if ((reboot)); then chassis_ovsdb_start "$i"; fi
    chassis_vswitchd_start "$i"
    chassis_phy_up "$i"
    chassis_controller_start "$i"
    node_agent_spawn "$i"
    node_agent_wait "$i"
    chassis_wait "$i" "$n"
    wait_until "node $(node_name "$i") Ready" node_ready "$i" || fail "node $(node_name "$i") not Ready"
    if ((${#before[@]})); then
        wait_until "the ${#before[@]} pod(s) of $(node_name "$i") running again" pods_running "$i" "${before[@]}" ||
            fail "pods of $(node_name "$i") not running again after the restart" "$nd/agent.log"
    fi
    ms=$((($(date +%s%N) - t0) / 1000000))
    if ((reboot)); then what="rebooted"; else what="restarted (agent, ovs-vswitchd, ovn-controller)"; fi
    log "$(node_name "$i") $what in ${ms} ms"
    echo "$(node_name "$i") $what in ${ms} ms: ${#before[@]} pod(s) running again${gone[*]:+, ${#gone[@]} pod namespace(s) removed and made anew}"
    echo "RESTART_MS=$ms"
}

#!/usr/bin/env bash
# cluster.sh: a testbed cluster with a real dataplane: OVN central (testbed/ovn.sh), N chassis
# (each in its own network namespace: vswitch ovsdb-server, userspace ovs-vswitchd,
# ovn-controller) with geneve tunnels over an underlay of their own, the testbed API server
# (testbed/kube/kube.sh) with one Node per chassis, one node agent per node (cluster/agent.py:
# kubelet and CNI), and an external network with an "internet host". Everything lives in DIR
# and in network namespaces named after DIR; nothing touches the machine's own interfaces.
# The parts are in testbed/cluster/*.sh; see testbed/README.md.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
WAIT=${CLUSTER_SH_WAIT:-20}  # seconds, bound of every wait loop
STOP_WAIT=5                  # seconds between TERM and KILL
# Longest socket: DIR/ovn/ovs... is ovn.sh's (its DIR <= 75 bytes), DIR/nI/ovs-vswitchd.PID.ctl
MAX_DIR_LEN=70
PACKAGES=(ovn-central ovn-host openvswitch-switch iptables iproute2 conntrack tcpdump
    iputils-ping arping curl openssl busybox)

D=""
PREFIX=""
STARTING=0  # a start is under way: fail() tears down everything in DIR

usage() {
    cat >&2 <<'EOF'
usage: cluster.sh start DIR [--nodes N]    (N = 1..3, default 2)
       cluster.sh stop DIR
       cluster.sh restart-node DIR I [--reboot]
EOF
    exit 2
}

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }
# shellcheck source=testbed/lib.sh
source "$HERE/lib.sh"
# shellcheck source=testbed/cluster/common.sh
source "$HERE/cluster/common.sh"
# shellcheck source=testbed/cluster/underlay.sh
source "$HERE/cluster/underlay.sh"
# shellcheck source=testbed/cluster/chassis.sh
source "$HERE/cluster/chassis.sh"
# shellcheck source=testbed/cluster/external.sh
source "$HERE/cluster/external.sh"
# shellcheck source=testbed/cluster/nodes.sh
source "$HERE/cluster/nodes.sh"
# shellcheck source=testbed/cluster/restart.sh
source "$HERE/cluster/restart.sh"

# Print log tails; during start, stop everything in DIR (start refused to run over a live
# cluster, so that is exactly what this start made); exit 1.
fail() {
    local msg=$1 f
    shift
    log "FAILED: $msg"
    for f in "$@"; do
        [[ -f $f ]] || continue
        echo "---- tail $f" >&2
        tail -n 25 "$f" >&2 || true
    done
    if ((STARTING)); then
        STARTING=0
        teardown
    fi
    exit 1
}

on_exit() {
    local rc=$?
    if ((rc != 0 && STARTING)); then
        STARTING=0
        teardown
    fi
}
trap on_exit EXIT

set_dir() { # set_dir DIR CREATE(0|1)
    local dir=$1
    if [[ $2 == 1 ]]; then mkdir -p -- "$dir"; fi
    [[ -d $dir ]] || die "no such directory: $dir"
    D=$(cd -- "$dir" && pwd -P)
    [[ $D =~ ^[A-Za-z0-9._/+@-]+$ ]] ||
        die "directory path must match [A-Za-z0-9._/+@-]+ (used unquoted in env and remotes): $D"
    ((${#D} <= MAX_DIR_LEN)) ||
        die "directory path too long for unix sockets (${#D} > $MAX_DIR_LEN bytes): $D; use a short dir under /tmp"
    PREFIX=$(cluster_prefix)
}

install_missing() {
    local p st
    local -a missing=()
    for p in "${PACKAGES[@]}"; do
        st=$(dpkg -s "$p" 2>/dev/null) || st=""
        if [[ $st != *$'\nStatus: install ok installed'* ]]; then missing+=("$p"); fi
    done
    # kubectl: any package that provides it will do (Debian's is kubernetes-client)
    if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi
    ((${#missing[@]})) || return 0
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >>"$D/apt.log" 2>&1 ||
        { apt-get update -q >>"$D/apt.log" 2>&1 && apt-get install -y -q "${missing[@]}" >>"$D/apt.log" 2>&1; } ||
        fail "apt-get install ${missing[*]} failed" "$D/apt.log"
}

any_running() {
    local pf
    for pf in "$D"/*.pid "$D"/n*/*.pid "$D"/ovn/*.pid "$D"/kube/apiserver.pid; do
        [[ -e $pf ]] || continue
        pidfile_pid "$pf" >/dev/null && return 0
    done
    return 1
}

# --- node agents ------------------------------------------------------------------------------
# One agent per node (cluster/agent.py: kubelet and CNI; testbed/README.md "Node agent"), started
# once DIR/env exists (it reads NODE_<i>_* there), pidfile DIR/nI/agent.pid, output DIR/nI/agent.log.
# It makes pod namespaces named "$NETNS_PREFIX-<pod>.<namespace>" (stop removes every namespace
# with the prefix). The API server runs with --no-kubelet (nodes.sh): pods are Running only
# when an agent says so.
AGENT_PY=$HERE/cluster/agent.py

agent_ready() { # agent_ready I: the agent answers on its socket
    curl -fsS --max-time 1 --unix-socket "$(node_dir "$1")/agent.sock" http://agent/healthz
}

node_agent_spawn() { # node_agent_spawn I (detached; node_agent_wait I waits for it)
    local nd
    nd=$(node_dir "$1")
    setsid /usr/bin/python3 "$AGENT_PY" --env="$D/env" --node="$1" --pidfile="$nd/agent.pid" \
        </dev/null >>"$nd/agent.log" 2>&1 &
}

node_agent_wait() { # node_agent_wait I
    wait_until "node agent $1" agent_ready "$1" || fail "node agent of $(node_name "$1") did not start" "$(node_dir "$1")/agent.log"
}

node_agents_start() { # node_agents_start N
    local n=$1 i
    for ((i = 1; i <= n; i++)); do node_agent_spawn "$i"; done
    for ((i = 1; i <= n; i++)); do node_agent_wait "$i"; done
}

node_agents_stop() {
    local nd
    local -a pfs=()
    for nd in "$D"/n[0-9]; do
        [[ -d $nd ]] && pfs+=("$nd/agent.pid")
    done
    ((${#pfs[@]})) || return 0
    stop_pidfiles "${pfs[@]}"
}

# --- start / stop ---------------------------------------------------------------------------

write_env() { # write_env N
    local n=$1 i nodes=""
    for ((i = 1; i <= n; i++)); do nodes+="${nodes:+ }$(node_name "$i")"; done
    {
        cat -- "$D/ovn/env" "$D/kube/env"
        echo "CLUSTER_DIR=$D"
        echo "OVN_DIR=$D/ovn"
        echo "NETNS_PREFIX=$PREFIX"
        echo "NODE_COUNT=$n"
        echo "NODES=\"$nodes\""
        for ((i = 1; i <= n; i++)); do
            echo "NODE_${i}_NAME=$(node_name "$i")"
            echo "NODE_${i}_CHASSIS=$(chassis_name "$i")"
            echo "NODE_${i}_NETNS=$(node_netns "$i")"
            echo "NODE_${i}_OVS_DB=unix:$(node_dir "$i")/db.sock"
            echo "NODE_${i}_OVS_RUNDIR=$(node_dir "$i")"
            echo "NODE_${i}_ENCAP_IP=$(encap_ip "$i")"
        done
        echo "UL_NETNS=$PREFIX-$UL_NETNS_ROLE"
        echo "EXT_NETNS=$PREFIX-$EXT_NETNS_ROLE"
        echo "EXT_NIC=$EXT_NIC"
        echo "EXT_CIDR=$EXT_CIDR"
        echo "EXT_GW=$EXT_GW"
        echo "EXT2_GW=$EXT2_GW"
        echo "EXT3_GW=$EXT3_GW"
        echo "INET_NETNS=$PREFIX-$INET_NETNS_ROLE"
        echo "INET_HOST=$INET_HOST"
        echo "INET_SEEN=$D/inet-seen.log"
        echo "EXT_SEEN=$D/ext-seen.log"
    } >"$D/env.tmp"
    mv -f -- "$D/env.tmp" "$D/env"
}

cmd_start() {
    local n=2 t0 i sb
    t0=$(date +%s%N)
    [[ $# -ge 1 ]] || usage
    set_dir "$1" 1
    shift
    while (($#)); do
        case $1 in
            --nodes) (($# >= 2)) || usage; n=$2; shift 2 ;;
            --nodes=*) n=${1#--nodes=}; shift ;;
            *) usage ;;
        esac
    done
    [[ $n =~ ^[1-3]$ ]] || die "--nodes must be 1, 2 or 3 (got $n)"
    ((EUID == 0)) || die "must run as root (network namespaces)"
    if any_running; then die "something is already running in $D: run '$0 stop $D' first"; fi
    if [[ -n $(ip netns list | awk '{print $1}' | grep -E "^$PREFIX-" || true) ]]; then
        die "namespaces $PREFIX-* exist: run '$0 stop $D' first"
    fi
    install_missing

    STARTING=1
    rm -rf -- "$D"/n[0-9] "$D/env" "$D/env.tmp" "$D/netns" "$D"/*-seen.log "$D"/*-http.log "$D/kube.out"
    : >"$D/netns"

    "$HERE/ovn.sh" start "$D/ovn" >"$D/ovn.out" 2>&1 || fail "ovn.sh start $D/ovn failed" "$D/ovn.out"
    sb="unix:$D/ovn/sb.sock"
    SB=$sb
    underlay_start
    external_start
    for ((i = 1; i <= n; i++)); do
        chassis_start "$i" "$sb"
        external_attach "$i"
    done
    kube_start
    for ((i = 1; i <= n; i++)); do node_create "$i"; done
    write_env "$n"
    node_agents_start "$n"

    for ((i = 1; i <= n; i++)); do chassis_wait "$i" "$n"; done
    wait_until "external network and internet host" external_ready ||
        fail "the external network does not answer" "$D/ext-http.log" "$D/inet-http.log"
    for ((i = 1; i <= n; i++)); do
        wait_until "node $(node_name "$i") Ready" node_ready "$i" || fail "node $(node_name "$i") not Ready"
    done
    STARTING=0
    local ms=$((($(date +%s%N) - t0) / 1000000))
    log "cluster of $n node(s) started in $D (${ms} ms)"
    cat <<EOF
Cluster in $D: nodes $(for ((i = 1; i <= n; i++)); do printf '%s ' "$(node_name "$i")"; done)
  set -a; . $D/env; set +a
  kubectl --kubeconfig \$KUBECONFIG get nodes
  ovn-nbctl --db=\$OVN_NB_DB show;  ovn-sbctl --db=\$OVN_SB_DB show
  ip netns exec \$NODE_1_NETNS ...            # a chassis (ovs-vsctl --db=\$NODE_1_OVS_DB ...)
  ip netns exec \$EXT_NETNS ping \$INET_HOST   # the external network ($EXT_CIDR via $EXT_GW, NIC $EXT_NIC)
  cat \$INET_SEEN                              # source addresses that reached http://$INET_HOST/
  $0 stop $D
EOF
}

# Stop everything DIR names: agents, chassis, the HTTP servers, the API server, OVN central;
# then delete the namespaces (and with them every device made in them).
teardown() {
    local nd i ns pids
    node_agents_stop
    for nd in "$D"/n[0-9]; do
        [[ -d $nd ]] || continue
        i=${nd##*/n}
        chassis_stop "$i"
    done
    external_stop
    kube_stop
    if [[ -d $D/ovn ]]; then
        "$HERE/ovn.sh" stop "$D/ovn" >>"$D/ovn.out" 2>&1 || log "ovn.sh stop failed (see $D/ovn.out)"
    fi
    while read -r ns; do
        [[ -n $ns ]] || continue
        netns_exists "$ns" || continue
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        if [[ -n ${pids// /} ]]; then
            log "namespace $ns still has processes not started by cluster.sh: $pids(left running; the namespace lives until they end)"
        fi
        ip netns del "$ns" || log "ip netns del $ns failed"
    done < <(cluster_netns)
    rm -f -- "$D/netns" "$D/env"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    [[ -d $1 ]] || return 0
    set_dir "$1" 0
    teardown
    log "stopped $D"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart-node) cmd_restart_node "$@" ;;
        *) usage ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# ovn.sh: run a real OVN (NB/SB ovsdb-server, ovn-northd, optional 3-member RAFT NB and
# userspace dataplane) inside a scratch directory. Nothing global: no /var/run, no fixed ports.
# Usage: see usage() below or testbed/README.md.
set -euo pipefail

NB_SCHEMA=/usr/share/ovn/ovn-nb.ovsschema
SB_SCHEMA=/usr/share/ovn/ovn-sb.ovsschema
VS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
WAIT=${OVN_SH_WAIT:-10}   # seconds, bound of every wait loop
STOP_WAIT=5               # seconds between TERM and KILL
CHASSIS=chassis-1
# Longest socket we create is DIR/ovs/ovs-vswitchd.<pid>.ctl (DIR + ~32 bytes); sun_path is 108.
MAX_DIR_LEN=75

D=""            # absolute scratch dir
STARTED=()      # pidfiles started by this invocation (stopped again on failure)
OK=0
NETNS_CREATED=""  # netns created by this invocation (deleted again on failure)
NB_SSL_PORT=""    # standalone NB also listens with TLS here (--ssl)

usage() {
    cat >&2 <<'EOF'
usage: ovn.sh start DIR [--raft | --ssl] [--dataplane [--netns]] [--no-northd]
       ovn.sh stop DIR
       ovn.sh kill DIR MEMBER      (nb sb nb1 nb2 nb3 northd ovsdb vswitchd controller)
       ovn.sh restart DIR MEMBER
       ovn.sh leader DIR
EOF
    exit 2
}

die() { echo "ovn.sh: $*" >&2; exit 1; }
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
log() { echo "ovn.sh: $*" >&2; }

# --- directory and env file -------------------------------------------------------------

set_dir() { # set_dir DIR CREATE(0|1)
    local dir=$1
    if [[ $2 == 1 ]]; then mkdir -p -- "$dir"; fi
    [[ -d $dir ]] || die "no such directory: $dir"
    D=$(cd -- "$dir" && pwd -P)
    [[ $D =~ ^[A-Za-z0-9._/+@-]+$ ]] ||
        die "directory path must match [A-Za-z0-9._/+@-]+ (used unquoted in env and remotes): $D"
    if ((${#D} > MAX_DIR_LEN)); then
        die "directory path too long for unix sockets (${#D} > $MAX_DIR_LEN bytes): $D; use a short dir under /tmp"
    fi
    export OVS_RUNDIR=$D OVN_RUNDIR=$D OVS_DBDIR=$D OVN_DBDIR=$D OVS_LOGDIR=$D OVN_LOGDIR=$D
    export OVS_SYSCONFDIR=$D OVN_SYSCONFDIR=$D
}

env_get() { # env_get KEY -> value from DIR/env (empty if absent)
    [[ -f $D/env ]] || die "$D/env missing: was '$0 start $D' run?"
    sed -n "s/^$1=//p" "$D/env" | tail -n 1
}

env_require() {
    local v
    v=$(env_get "$1")
    [[ -n $v ]] || die "$D/env has no $1"
    printf '%s\n' "$v"
}

# --- process helpers ---------------------------------------------------------------------

# Network namespace of a --netns dataplane: unique per DIR
netns_name() { echo "ovntb-$(printf '%s' "$D" | cksum | cut -d' ' -f1)"; }

pidfile_of() { # member name -> pidfile path
    case $1 in
        nb | sb | nb1 | nb2 | nb3 | northd) echo "$D/$1.pid" ;;
        ovsdb) echo "$D/ovs/ovsdb-server.pid" ;;
        vswitchd) echo "$D/ovs/ovs-vswitchd.pid" ;;
        controller) echo "$D/ovn-controller.pid" ;;
        *) die "unknown member: $1 (nb sb nb1 nb2 nb3 northd ovsdb vswitchd controller)" ;;
    esac
}





# Print log tails, stop what this invocation started, exit 1.
fail() {
    local msg=$1 f
    shift
    log "FAILED: $msg"
    for f in "$@"; do
        [[ -f $f ]] || continue
        echo "---- tail $f" >&2
        tail -n 25 "$f" >&2 || true
    done
    cleanup_started
    exit 1
}

cleanup_started() {
    if ((${#STARTED[@]})); then
        local -a rev=()
        local i
        for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do rev+=("${STARTED[i]}"); done
        STARTED=()
        stop_pidfiles "${rev[@]}"
    fi
    if [[ -n $NETNS_CREATED ]]; then
        ip netns del "$NETNS_CREATED" 2>/dev/null || true
        NETNS_CREATED=""
    fi
}

on_exit() {
    local rc=$?
    if ((rc != 0 && OK == 0)); then cleanup_started; fi
}
trap on_exit EXIT

# --- ports --------------------------------------------------------------------------------

port_in_use() { # any TCP socket (listening or not) bound to local port $1
    local out
    out=$(ss -Htan "sport = :$1" 2>/dev/null) || return 0
    [[ -n $out ]]
}

# Listening TCP port of PID on 127.0.0.1 (first one).
listen_port_of_pid() {
    local out
    out=$(ss -Hltnp 2>/dev/null | awk -v p="pid=$1," 'index($0, p) && $4 ~ /^127\.0\.0\.1:/ && !done {
        n = split($4, a, ":"); print a[n]; done = 1 }')
    [[ -n $out ]] && echo "$out"
}

is_listening() { # is_listening PID PORT
    local out
    out=$(ss -Hltnp "sport = :$2" 2>/dev/null) || return 1
    [[ $out == *"pid=$1,"* ]]
}

# pick_ports N: N distinct free ports in 20000-60000, outside the kernel's ephemeral range
# when possible (ephemeral ports may be handed to ptcp:0 or to outgoing connections).
pick_ports() {
    local n=$1 lo=20000 hi=60000 elo ehi port tries=0
    local -a got=()
    read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range || { elo=0; ehi=0; }
    while ((${#got[@]} < n)); do
        ((++tries < 10000)) || die "could not find $n free ports"
        port=$((lo + ((RANDOM << 15) | RANDOM) % (hi - lo + 1)))
        if ((port >= elo && port <= ehi && elo - lo >= 1000)); then continue; fi
        [[ " ${got[*]} " == *" $port "* ]] && continue
        port_in_use "$port" && continue
        got+=("$port")
    done
    echo "${got[@]}"
}

# ovsdb-tool quietly (its schema warnings are noise); output shown only on failure
tool() {
    local out
    out=$(ovsdb-tool "$@" 2>&1) || fail "ovsdb-tool $*: $out"
}

# make_pki: a throwaway CA plus server and client certificates in DIR/pki (for --ssl)
make_pki() {
    local p=$D/pki who out
    rm -rf -- "$p"
    mkdir -p -- "$p"
    out=$(openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ovn-vpcd testbed CA" \
        -keyout "$p/ca-key.pem" -out "$p/cacert.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>&1) ||
        fail "openssl CA: $out"
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$p/ext.cnf"
    for who in server client; do
        out=$(openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$p/$who-key.pem" -out "$p/$who.csr" 2>&1 &&
            openssl x509 -req -in "$p/$who.csr" -CA "$p/cacert.pem" -CAkey "$p/ca-key.pem" -CAcreateserial \
                -days 2 -extfile "$p/ext.cnf" -out "$p/$who-cert.pem" 2>&1) || fail "openssl $who cert: $out"
    done
}

# --- daemons ------------------------------------------------------------------------------

# start_db NAME PORT: ovsdb-server on DIR/NAME.db with punix:DIR/NAME.sock + ptcp:PORT:127.0.0.1
start_db() {
    local name=$1 port=$2
    local -a extra=()
    if [[ $name == nb && -n $NB_SSL_PORT ]]; then
        extra=(--private-key="$D/pki/server-key.pem" --certificate="$D/pki/server-cert.pem"
            --ca-cert="$D/pki/cacert.pem" --remote="pssl:$NB_SSL_PORT:127.0.0.1")
    fi
    STARTED+=("$D/$name.pid")
    ovsdb-server "$D/$name.db" \
        --remote="punix:$D/$name.sock" --remote="ptcp:$port:127.0.0.1" "${extra[@]}" \
        --pidfile="$D/$name.pid" --log-file="$D/$name.log" --unixctl="$D/$name.ctl" \
        --detach --no-chdir 2>>"$D/$name.stderr" ||
        fail "ovsdb-server $name did not start" "$D/$name.log" "$D/$name.stderr"
}

# wait_db NAME PORT: pidfile alive, ctl answers, listening on PORT (0: any) -> prints port
wait_db() {
    local name=$1 port=$2 pid
    wait_until "$name pidfile" pidfile_pid "$D/$name.pid" ||
        fail "$name not running" "$D/$name.log" "$D/$name.stderr"
    pid=$(pidfile_pid "$D/$name.pid")
    wait_until "$name unixctl" ovs-appctl --timeout=2 -t "$D/$name.ctl" version ||
        fail "$name unixctl not answering" "$D/$name.log"
    wait_until "$name unix socket" test -S "$D/$name.sock" ||
        fail "$name unix socket missing" "$D/$name.log"
    if [[ $port == 0 ]]; then
        wait_until "$name tcp listener" listen_port_of_pid "$pid" ||
            fail "$name has no TCP listener" "$D/$name.log"
        listen_port_of_pid "$pid"
    else
        wait_until "$name listening on $port" is_listening "$pid" "$port" ||
            fail "$name not listening on 127.0.0.1:$port (port taken?)" "$D/$name.log"
        echo "$port"
    fi
}

start_northd() { # start_northd NB_REMOTE SB_REMOTE
    STARTED+=("$D/northd.pid")
    ovn-northd --ovnnb-db="$1" --ovnsb-db="$2" \
        --pidfile="$D/northd.pid" --log-file="$D/northd.log" --unixctl="$D/northd.ctl" \
        --detach --no-chdir 2>>"$D/northd.stderr" ||
        fail "ovn-northd did not start" "$D/northd.log" "$D/northd.stderr"
    wait_until "northd active" northd_active ||
        fail "ovn-northd not active" "$D/northd.log" "$D/northd.stderr"
}

northd_active() {
    local out
    out=$(ovs-appctl --timeout=2 -t "$D/northd.ctl" status 2>/dev/null) || return 1
    [[ $out == *"Status: active"* ]]
}

# cluster/status of member nbN
cluster_status() {
    ovs-appctl --timeout=2 -t "$D/$1.ctl" cluster/status OVN_Northbound
}

member_ready() { # in the cluster and knows a leader
    local s
    s=$(cluster_status "$1") || return 1
    grep -q '^Status: cluster member' <<<"$s" || return 1
    grep -q '^Leader: ' <<<"$s" || return 1
    ! grep -q '^Leader: unknown' <<<"$s"
}

current_leader() { # prints nbN whose Role is leader
    local m
    for m in nb1 nb2 nb3; do
        pidfile_pid "$D/$m.pid" >/dev/null || continue
        if [[ $(cluster_status "$m" 2>/dev/null) == *$'\nRole: leader'* ]]; then
            echo "$m"
            return 0
        fi
    done
    return 1
}

cluster_ready() {
    local m
    for m in nb1 nb2 nb3; do member_ready "$m" || return 1; done
    current_leader
}

ovs_db_sock() { echo "$D/ovs/db.sock"; }

vsctl() { ovs-vsctl --db="unix:$(ovs_db_sock)" --timeout="$WAIT" "$@"; }

start_ovsdb_vswitch() {
    STARTED+=("$D/ovs/ovsdb-server.pid")
    ovsdb-server "$D/ovs/conf.db" --remote="punix:$(ovs_db_sock)" \
        --pidfile="$D/ovs/ovsdb-server.pid" --log-file="$D/ovs/ovsdb-server.log" \
        --unixctl="$D/ovs/ovsdb-server.ctl" --detach --no-chdir 2>>"$D/ovs/ovsdb-server.stderr" ||
        fail "vswitch ovsdb-server did not start" "$D/ovs/ovsdb-server.log" "$D/ovs/ovsdb-server.stderr"
    wait_until "vswitch db socket" vsctl --no-wait show ||
        fail "vswitch ovsdb-server not answering" "$D/ovs/ovsdb-server.log"
}

# ovs-vswitchd, inside network namespace $1 when given (taps br-int/ovs-netdev live there)
start_vswitchd() {
    local -a nsexec=()
    if [[ -n ${1:-} ]]; then nsexec=(ip netns exec "$1"); fi
    STARTED+=("$D/ovs/ovs-vswitchd.pid")
    OVS_RUNDIR=$D/ovs "${nsexec[@]}" ovs-vswitchd "unix:$(ovs_db_sock)" \
        --pidfile="$D/ovs/ovs-vswitchd.pid" --log-file="$D/ovs/ovs-vswitchd.log" \
        --detach --no-chdir 2>>"$D/ovs/ovs-vswitchd.stderr" ||
        fail "ovs-vswitchd did not start" "$D/ovs/ovs-vswitchd.log" "$D/ovs/ovs-vswitchd.stderr"
    wait_until "ovs-vswitchd pidfile" pidfile_pid "$D/ovs/ovs-vswitchd.pid" ||
        fail "ovs-vswitchd not running" "$D/ovs/ovs-vswitchd.log"
}

# br-int really exists in the datapath (fails when another userspace dataplane already owns
# the tap names br-int/ovs-netdev in this network namespace)
br_int_ok() {
    [[ $(vsctl get interface br-int ofport 2>/dev/null) == 65534 ]]
}

start_controller() {
    STARTED+=("$D/ovn-controller.pid")
    OVS_RUNDIR=$D/ovs OVN_RUNDIR=$D ovn-controller "unix:$(ovs_db_sock)" \
        --pidfile="$D/ovn-controller.pid" --log-file="$D/ovn-controller.log" \
        --detach --no-chdir 2>>"$D/ovn-controller.stderr" ||
        fail "ovn-controller did not start" "$D/ovn-controller.log" "$D/ovn-controller.stderr"
}

chassis_registered() {
    local out
    out=$(ovn-sbctl --db="$(env_get SB_UNIX)" --timeout=2 show 2>/dev/null) || return 1
    [[ $out == *"Chassis $CHASSIS"* || $out == *"Chassis \"$CHASSIS\""* ]]
}

wait_chassis() {
    wait_until "chassis $CHASSIS in SB" chassis_registered ||
        fail "ovn-controller did not register $CHASSIS" "$D/ovn-controller.log" "$D/ovn-controller.stderr" "$D/ovs/ovs-vswitchd.log"
}

# --- subcommands --------------------------------------------------------------------------

any_running() {
    local pf
    for pf in "$D"/*.pid "$D"/ovs/*.pid; do
        [[ -e $pf ]] || continue
        pidfile_pid "$pf" >/dev/null && return 0
    done
    return 1
}

cmd_start() {
    local raft=0 dataplane=0 northd=1 netns=0 ssl=0 a t0 dp_netns=""
    t0=$(date +%s%N)
    [[ $# -ge 1 ]] || usage
    set_dir "$1" 1
    shift
    for a in "$@"; do
        case $a in
            --raft) raft=1 ;;
            --dataplane) dataplane=1 ;;
            --netns) netns=1 ;;
            --no-northd) northd=0 ;;
            --ssl) ssl=1 ;;
            *) usage ;;
        esac
    done
    if ((netns && !dataplane)); then die "--netns needs --dataplane"; fi
    if ((ssl && raft)); then die "--ssl is for the standalone NB only"; fi
    if any_running; then die "something is already running in $D: run '$0 stop $D' first"; fi
    if ((netns)); then dp_netns=$(netns_name); fi

    # fresh state: only our own files
    rm -f -- "$D"/{nb,sb,nb1,nb2,nb3}.{db,sock,ctl,log,pid,stderr} "$D"/.{nb,sb,nb1,nb2,nb3}.db.~lock~ \
        "$D"/northd.{pid,log,ctl,stderr} "$D"/ovn-controller.{pid,log,stderr} "$D"/ovn-controller.*.ctl \
        "$D/env" "$D/env.tmp"
    rm -rf -- "$D/ovs"

    local -a envl=("TB_MODE=$([[ $raft == 1 ]] && echo raft || echo standalone)" "TB_DIR=$D")
    local nb_db nb_db_unix sb_port nb_port

    # SB: always standalone
    tool create "$D/sb.db" "$SB_SCHEMA"
    start_db sb 0

    if ((raft)); then
        local -a ports
        read -r -a ports <<<"$(pick_ports 6)"
        local r1=${ports[0]} r2=${ports[1]} r3=${ports[2]}
        local c1=${ports[3]} c2=${ports[4]} c3=${ports[5]}
        tool create-cluster "$D/nb1.db" "$NB_SCHEMA" "tcp:127.0.0.1:$r1"
        start_db nb1 "$c1"
        tool join-cluster "$D/nb2.db" OVN_Northbound "tcp:127.0.0.1:$r2" "tcp:127.0.0.1:$r1"
        tool join-cluster "$D/nb3.db" OVN_Northbound "tcp:127.0.0.1:$r3" "tcp:127.0.0.1:$r1" "tcp:127.0.0.1:$r2"
        start_db nb2 "$c2"
        start_db nb3 "$c3"
        wait_db nb1 "$c1" >/dev/null
        wait_db nb2 "$c2" >/dev/null
        wait_db nb3 "$c3" >/dev/null
        wait_until "RAFT cluster with a leader" cluster_ready ||
            fail "RAFT cluster did not form" "$D/nb1.log" "$D/nb2.log" "$D/nb3.log"
        nb_db="tcp:127.0.0.1:$c1,tcp:127.0.0.1:$c2,tcp:127.0.0.1:$c3"
        nb_db_unix="unix:$D/nb1.sock,unix:$D/nb2.sock,unix:$D/nb3.sock"
        envl+=("NB_UNIX=unix:$D/nb1.sock" "NB_TCP=tcp:127.0.0.1:$c1" "NB_TCP_PORT=$c1")
        local i c r
        for i in 1 2 3; do
            c=${ports[i + 2]}
            r=${ports[i - 1]}
            envl+=("NB${i}_UNIX=unix:$D/nb$i.sock" "NB${i}_TCP=tcp:127.0.0.1:$c"
                "NB${i}_TCP_PORT=$c" "NB${i}_RAFT=tcp:127.0.0.1:$r")
        done
    else
        tool create "$D/nb.db" "$NB_SCHEMA"
        if ((ssl)); then
            make_pki
            read -r nb_port NB_SSL_PORT <<<"$(pick_ports 2)"
            start_db nb "$nb_port"
            wait_db nb "$nb_port" >/dev/null
            envl+=("NB_SSL=ssl:127.0.0.1:$NB_SSL_PORT" "NB_SSL_PORT=$NB_SSL_PORT"
                "SSL_PRIVATE_KEY=$D/pki/client-key.pem" "SSL_CERTIFICATE=$D/pki/client-cert.pem"
                "SSL_CA_CERT=$D/pki/cacert.pem")
        else
            start_db nb 0
            nb_port=$(wait_db nb 0)
        fi
        nb_db="unix:$D/nb.sock"
        nb_db_unix=$nb_db
        envl+=("NB_UNIX=unix:$D/nb.sock" "NB_TCP=tcp:127.0.0.1:$nb_port" "NB_TCP_PORT=$nb_port")
    fi
    sb_port=$(wait_db sb 0)
    envl+=("NB_DB=$nb_db" "NB_DB_UNIX=$nb_db_unix"
        "SB_UNIX=unix:$D/sb.sock" "SB_TCP=tcp:127.0.0.1:$sb_port" "SB_TCP_PORT=$sb_port"
        "SB_DB=unix:$D/sb.sock" "OVN_NB_DB=$nb_db" "OVN_SB_DB=unix:$D/sb.sock"
        "TB_NORTHD=$northd" "TB_DATAPLANE=$dataplane")
    if ((dataplane)); then
        envl+=("OVS_DB=unix:$D/ovs/db.sock" "OVS_RUNDIR=$D/ovs" "OVN_RUNDIR=$D" "CHASSIS=$CHASSIS"
            "DP_NETNS=$dp_netns")
    fi
    printf '%s\n' "${envl[@]}" >"$D/env.tmp"
    mv -f -- "$D/env.tmp" "$D/env"

    if ((northd)); then start_northd "$nb_db_unix" "unix:$D/sb.sock"; fi

    if ((dataplane)); then
        mkdir -p -- "$D/ovs"
        tool create "$D/ovs/conf.db" "$VS_SCHEMA"
        start_ovsdb_vswitch
        vsctl --no-wait init
        if [[ -n $dp_netns ]]; then
            if ip netns pids "$dp_netns" >/dev/null 2>&1; then ip netns del "$dp_netns"; fi
            ip netns add "$dp_netns" || fail "ip netns add $dp_netns failed"
            NETNS_CREATED=$dp_netns
            ip -n "$dp_netns" link set lo up
        fi
        start_vswitchd "$dp_netns"
        vsctl set open_vswitch . external_ids:system-id="$CHASSIS" \
            external_ids:ovn-remote="unix:$D/sb.sock" external_ids:ovn-encap-type=geneve \
            external_ids:ovn-encap-ip=127.0.0.1 external_ids:ovn-bridge-datapath-type=netdev ||
            fail "ovs-vsctl set open_vswitch failed" "$D/ovs/ovs-vswitchd.log"
        vsctl add-br br-int -- set bridge br-int datapath_type=netdev fail-mode=secure \
            other-config:disable-in-band=true ||
            fail "ovs-vsctl add-br br-int failed" "$D/ovs/ovs-vswitchd.log"
        wait_until "br-int in the datapath" br_int_ok ||
            fail "br-int not created in the userspace datapath (another --dataplane testbed in this network namespace? use --netns)" "$D/ovs/ovs-vswitchd.log"
        start_controller
        wait_chassis
    fi

    OK=1
    local ms=$((($(date +%s%N) - t0) / 1000000))
    log "started $(env_get TB_MODE)$( ((dataplane)) && echo ' +dataplane') in $D (${ms} ms); source $D/env"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    if [[ ! -d $1 ]]; then return 0; fi
    set_dir "$1" 0
    local -a pfs=()
    local pf pid i
    # vswitchd's userspace taps (br-int, ovs-netdev) are persistent: a plain TERM leaves them
    # behind in the network namespace, "exit --cleanup" removes them. ovn-controller goes first.
    if [[ -e $D/ovn-controller.pid ]]; then stop_pidfiles "$D/ovn-controller.pid"; fi
    if pid=$(pidfile_pid "$D/ovs/ovs-vswitchd.pid"); then
        OVS_RUNDIR=$D/ovs ovs-appctl --timeout="$STOP_WAIT" -t ovs-vswitchd exit --cleanup \
            >/dev/null 2>&1 || true
        for ((i = 0; i < STOP_WAIT * 20; i++)); do
            pid_alive "$pid" || break
            sleep 0.05
        done
    fi
    # dataplane first, then northd, then the databases, then anything else left
    for pf in "$D/ovn-controller.pid" "$D/ovs/ovs-vswitchd.pid" "$D/ovs/ovsdb-server.pid" \
        "$D/northd.pid" "$D"/nb1.pid "$D"/nb2.pid "$D"/nb3.pid "$D/nb.pid" "$D/sb.pid" \
        "$D"/*.pid "$D"/ovs/*.pid; do
        [[ -e $pf ]] || continue
        [[ " ${pfs[*]} " == *" $pf "* ]] && continue
        pfs+=("$pf")
    done
    if ((${#pfs[@]})); then stop_pidfiles "${pfs[@]}"; fi
    local ns=""
    if [[ -f $D/env ]]; then ns=$(env_get DP_NETNS); fi
    if [[ -n $ns ]] && ip netns pids "$ns" >/dev/null 2>&1; then ip netns del "$ns" || true; fi
    OK=1
}

cmd_kill() {
    [[ $# -eq 2 ]] || usage
    set_dir "$1" 0
    local pf pid i
    pf=$(pidfile_of "$2")
    pid=$(pidfile_pid "$pf") || die "$2 is not running in $D"
    kill -KILL "$pid"
    for ((i = 0; i < 100; i++)); do
        pid_alive "$pid" || break
        sleep 0.05
    done
    pid_alive "$pid" && die "pid $pid ($2) still alive after SIGKILL"
    rm -f -- "$pf"
    OK=1
}

cmd_restart() {
    [[ $# -eq 2 ]] || usage
    set_dir "$1" 0
    local m=$2 pf port mode
    pf=$(pidfile_of "$m")
    if pidfile_pid "$pf" >/dev/null; then die "$m is already running in $D"; fi
    mode=$(env_require TB_MODE)
    case $m in
        nb | sb)
            [[ $m == sb || $mode == standalone ]] || die "no standalone nb in a raft testbed: use nb1/nb2/nb3"
            port=$(env_require "${m^^}_TCP_PORT")
            NB_SSL_PORT=$(env_get NB_SSL_PORT)
            start_db "$m" "$port"
            wait_db "$m" "$port" >/dev/null
            ;;
        nb1 | nb2 | nb3)
            [[ $mode == raft ]] || die "$m exists only with --raft"
            port=$(env_require "${m^^}_TCP_PORT")
            start_db "$m" "$port"
            wait_db "$m" "$port" >/dev/null
            wait_until "$m rejoined with a known leader" member_ready "$m" ||
                fail "$m did not rejoin the cluster" "$D/$m.log"
            ;;
        northd)
            start_northd "$(env_require NB_DB_UNIX)" "$(env_require SB_UNIX)"
            ;;
        ovsdb)
            start_ovsdb_vswitch
            ;;
        vswitchd)
            start_vswitchd "$(env_get DP_NETNS)"
            ;;
        controller)
            start_controller
            wait_chassis
            ;;
    esac
    OK=1
}

cmd_leader() {
    [[ $# -eq 1 ]] || usage
    set_dir "$1" 0
    [[ $(env_require TB_MODE) == raft ]] || die "$D is not a raft testbed"
    wait_until "a RAFT leader" current_leader || die "no RAFT leader in $D"
    current_leader
    OK=1
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        kill) cmd_kill "$@" ;;
        restart) cmd_restart "$@" ;;
        leader) cmd_leader "$@" ;;
        *) usage ;;
    esac
}

main "$@"

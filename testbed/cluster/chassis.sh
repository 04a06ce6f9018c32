# shellcheck shell=bash
# cluster/chassis.sh: one chassis = one network namespace with its own vswitch ovsdb-server,
# userspace ovs-vswitchd and ovn-controller (sourced by testbed/cluster.sh).
#
# Files of chassis I in DIR/nI/ (= OVS_RUNDIR and OVN_RUNDIR, so `ovs-appctl -t ovs-vswitchd`
# and `ovn-appctl -t ovn-controller` find them with those two exported): conf.db, db.sock,
# {ovsdb-server,ovs-vswitchd,ovn-controller}.{pid,log,stderr}.
# Bridges (netdev): br-int (OVN's, fail-mode secure) and br-phy (ul0 + the encap IP).
# ovn-controller reaches the SB over its unix socket: a filesystem object, so it works from
# every namespace.

VS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema

chassis_vsctl() { # chassis_vsctl I ARGS...
    local i=$1
    shift
    ovs-vsctl --db="unix:$(node_dir "$i")/db.sock" --timeout="$WAIT" "$@"
}

# chassis_start I SB_REMOTE: namespace, OVS, br-phy with the encap IP, br-int, ovn-controller
chassis_start() {
    local i=$1 sb=$2 nd ns ip out
    nd=$(node_dir "$i")
    ns=$(node_netns "$i")
    ip=$(encap_ip "$i")
    rm -rf -- "$nd"
    mkdir -p -- "$nd"
    netns_add "$ns"
    underlay_attach "$i"

    out=$(ovsdb-tool create "$nd/conf.db" "$VS_SCHEMA" 2>&1) || fail "ovsdb-tool create (chassis $i): $out"
    chassis_ovsdb_start "$i"
    chassis_vsctl "$i" --no-wait init
    chassis_vsctl "$i" --no-wait set open_vswitch . \
        external_ids:system-id="$(chassis_name "$i")" external_ids:hostname="$(node_name "$i")" \
        external_ids:ovn-remote="$sb" external_ids:ovn-encap-type=geneve \
        external_ids:ovn-encap-ip="$ip" external_ids:ovn-bridge-datapath-type=netdev ||
        fail "ovs-vsctl set open_vswitch (chassis $i)"

    chassis_vswitchd_start "$i"

    chassis_vsctl "$i" add-br br-phy -- set bridge br-phy datapath_type=netdev \
        other-config:disable-in-band=true -- add-port br-phy ul0 ||
        fail "br-phy of chassis $i" "$nd/ovs-vswitchd.log"
    chassis_vsctl "$i" add-br br-int -- set bridge br-int datapath_type=netdev fail-mode=secure \
        other-config:disable-in-band=true ||
        fail "br-int of chassis $i" "$nd/ovs-vswitchd.log"
    chassis_phy_up "$i"
    chassis_controller_start "$i"
}

# The vswitch ovsdb-server of chassis I on DIR/nI/conf.db (made by chassis_start; a reboot
# starts it again on the same file).
chassis_ovsdb_start() { # chassis_ovsdb_start I
    local i=$1 nd
    nd=$(node_dir "$i")
    ovsdb-server "$nd/conf.db" --remote="punix:$nd/db.sock" \
        --pidfile="$nd/ovsdb-server.pid" --log-file="$nd/ovsdb-server.log" \
        --unixctl="$nd/ovsdb-server.ctl" --detach --no-chdir 2>>"$nd/ovsdb-server.stderr" ||
        fail "vswitch ovsdb-server of chassis $i did not start" "$nd/ovsdb-server.log" "$nd/ovsdb-server.stderr"
    wait_until "chassis $i vswitch db" chassis_vsctl "$i" --no-wait show ||
        fail "vswitch ovsdb-server of chassis $i not answering" "$nd/ovsdb-server.log"
}

chassis_vswitchd_start() { # chassis_vswitchd_start I
    local i=$1 nd ns
    nd=$(node_dir "$i")
    ns=$(node_netns "$i")
    OVS_RUNDIR=$nd ip netns exec "$ns" ovs-vswitchd "unix:$nd/db.sock" \
        --pidfile="$nd/ovs-vswitchd.pid" --log-file="$nd/ovs-vswitchd.log" \
        --detach --no-chdir 2>>"$nd/ovs-vswitchd.stderr" ||
        fail "ovs-vswitchd of chassis $i did not start" "$nd/ovs-vswitchd.log" "$nd/ovs-vswitchd.stderr"
    wait_until "chassis $i ovs-vswitchd pidfile" pidfile_pid "$nd/ovs-vswitchd.pid" ||
        fail "ovs-vswitchd of chassis $i not running" "$nd/ovs-vswitchd.log"
}

# br-phy's device (ovs-vswitchd's tap, made once br-phy is in the db) carries the encap IP:
# the node's network configuration, applied at every boot (`replace`: kept over a restart of
# ovs-vswitchd alone, whose taps are persistent).
chassis_phy_up() { # chassis_phy_up I
    local i=$1 nd ns
    nd=$(node_dir "$i")
    ns=$(node_netns "$i")
    wait_until "chassis $i br-phy device" ip -n "$ns" link show br-phy ||
        fail "br-phy device missing in $ns" "$nd/ovs-vswitchd.log"
    ip -n "$ns" addr replace "$(encap_ip "$i")/24" dev br-phy || fail "encap IP on br-phy (chassis $i)"
    ip -n "$ns" link set br-phy mtu "$UL_MTU" up
}

chassis_controller_start() { # chassis_controller_start I
    local i=$1 nd ns
    nd=$(node_dir "$i")
    ns=$(node_netns "$i")
    OVS_RUNDIR=$nd OVN_RUNDIR=$nd ip netns exec "$ns" ovn-controller "unix:$nd/db.sock" \
        --pidfile="$nd/ovn-controller.pid" --log-file="$nd/ovn-controller.log" \
        --detach --no-chdir 2>>"$nd/ovn-controller.stderr" ||
        fail "ovn-controller of chassis $i did not start" "$nd/ovn-controller.log" "$nd/ovn-controller.stderr"
}

# The chassis is in the SB with a geneve encap on its encap IP.
chassis_registered() { # chassis_registered I
    local out
    out=$(ovn-sbctl --db="$SB" --timeout=2 --bare --columns=type,ip find encap \
        chassis_name="$(chassis_name "$1")" 2>/dev/null) || return 1
    [[ $out == *geneve*"$(encap_ip "$1")"* ]]
}

# br-int of chassis I has a geneve tunnel port to every other chassis.
chassis_tunnels() { # chassis_tunnels I N
    local out
    out=$(chassis_vsctl "$1" --bare --columns=name find interface type=geneve 2>/dev/null) || return 1
    (($(wc -w <<<"$out") == $2 - 1))
}

# Underlay reachability through OVS: chassis I pings every other chassis' encap IP on br-phy.
chassis_underlay_ok() { # chassis_underlay_ok I N
    local j
    for ((j = 1; j <= $2; j++)); do
        ((j == $1)) && continue
        ip netns exec "$(node_netns "$1")" ping -c1 -W1 -q "$(encap_ip "$j")" >/dev/null 2>&1 || return 1
    done
}

chassis_wait() { # chassis_wait I N
    local i=$1 n=$2 nd
    nd=$(node_dir "$i")
    wait_until "chassis $i in the SB with geneve $(encap_ip "$i")" chassis_registered "$i" ||
        fail "chassis $i not registered in the SB" "$nd/ovn-controller.log" "$nd/ovs-vswitchd.log"
    wait_until "chassis $i: geneve ports to $((n - 1)) other chassis" chassis_tunnels "$i" "$n" ||
        fail "chassis $i has no tunnels to the others" "$nd/ovn-controller.log" "$nd/ovs-vswitchd.log"
    wait_until "chassis $i reaches the other encap IPs over br-phy" chassis_underlay_ok "$i" "$n" ||
        fail "chassis $i cannot reach the others over the underlay" "$nd/ovs-vswitchd.log"
}

# chassis_stop I: ovn-controller, then ovs-vswitchd with `exit --cleanup` (removes its
# userspace taps), then the vswitch ovsdb-server.
chassis_stop() {
    local i=$1 nd pid k
    nd=$(node_dir "$i")
    [[ -d $nd ]] || return 0
    stop_pidfiles "$nd/ovn-controller.pid"
    if pid=$(pidfile_pid "$nd/ovs-vswitchd.pid"); then
        OVS_RUNDIR=$nd ovs-appctl --timeout="$STOP_WAIT" -t ovs-vswitchd exit --cleanup >/dev/null 2>&1 || true
        for ((k = 0; k < STOP_WAIT * 20; k++)); do
            pid_alive "$pid" || break
            sleep 0.05
        done
    fi
    stop_pidfiles "$nd/ovs-vswitchd.pid" "$nd/ovsdb-server.pid"
}

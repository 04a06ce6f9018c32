# shellcheck shell=bash
# cluster/common.sh: names, the DIR layout, namespaces and pidfiles of testbed/cluster.sh
# (sourced; needs D, log, fail, WAIT, STOP_WAIT, and lib.sh).
#
# Invariants:
# - Every network namespace the cluster makes is named "$PREFIX-<role>", PREFIX derived from
#   DIR alone, and is written to DIR/netns BEFORE it is created: stop finds all of them, even
#   after a start that failed half-way.
# - No device is ever created in the caller's namespace: veth pairs are made inside one of our
#   namespaces with the peer placed directly into another (`ip -n A link add X ... peer name Y
#   netns B`), so nothing can reach the machine's real interfaces.
# - Every process runs detached with --pidfile=<file under DIR>; stop ends only those pids
#   (lib.sh's pidfile_pid checks the command line names that pidfile).

# Addresses (inside our namespaces only)
UL_NET=100.64.0          # underlay /24: chassis i has encap IP $UL_NET.$((10 + i)) on its br-phy
UL_MTU=9000              # room for geneve around a 1500-byte pod packet
EXT_NIC=eth1             # the "physical" NIC of every chassis (seed 004's NAD master)
EXT_CIDR=192.168.239.0/24
EXT_GW=192.168.239.1     # seed 000/003's external gateway, on br-ext in EXT_NETNS
EXT_GW_PREFIX=24
EXT2_GW=172.17.0.1/16    # seed 004's macvlan1 subnet gateway, on the same bridge
EXT3_GW=172.16.3.2/24    # seed 003's ovn-vpc-external-network gateway (its NAT gateway's EIPs), same bridge
INET_HOST=203.0.113.10   # the "internet host", in its own namespace beyond EXT_GW
INET_LINK_GW=203.0.113.1 # EXT_NETNS's address toward the internet host
HTTP_PORT=80

# Cluster prefix of namespace names: unique per DIR (two clusters can coexist).
cluster_prefix() { echo "vc$(printf '%s' "$D" | cksum | cut -d' ' -f1)"; }

node_name() { echo "node-$1"; }
chassis_name() { echo "chassis-$1"; }
node_dir() { echo "$D/n$1"; }
node_netns() { echo "$PREFIX-n$1"; }
encap_ip() { echo "$UL_NET.$((10 + $1))"; }
UL_NETNS_ROLE=ul
EXT_NETNS_ROLE=ext
INET_NETNS_ROLE=inet

netns_exists() { [[ -e /run/netns/$1 ]]; }

# netns_add NAME: record, then create (lo up)
netns_add() {
    local ns=$1
    grep -qxF -- "$ns" "$D/netns" 2>/dev/null || echo "$ns" >>"$D/netns"
    if netns_exists "$ns"; then fail "network namespace $ns already exists (a cluster in $D not stopped?)"; fi
    ip netns add "$ns" || fail "ip netns add $ns failed"
    ip -n "$ns" link set lo up
}

# Every namespace of this cluster: those recorded, plus any other "$PREFIX-*" (pods a node
# agent or a test made with the prefix from DIR/env).
cluster_netns() {
    {
        if [[ -f $D/netns ]]; then cat -- "$D/netns"; fi
        ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-" || true
    } | awk 'NF && !seen[$0]++'
}


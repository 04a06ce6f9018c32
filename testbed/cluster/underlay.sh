# shellcheck shell=bash
# cluster/underlay.sh: the underlay the chassis tunnel over (sourced by testbed/cluster.sh).
#
# $PREFIX-ul holds a Linux bridge br-ul; chassis i gets a veth pair: "n<i>" on br-ul, "ul0" in
# the chassis namespace. ul0 carries no address: it is a port of the chassis' OVS bridge br-phy
# (userspace datapath), and the encap IP sits on br-phy itself, as Open vSwitch's
# userspace-tunneling how-to prescribes (the userspace datapath routes and ARPs for its tunnels
# from its own tables, which it fills from the routes and neighbours of its bridges' devices).

underlay_start() {
    local ul=$PREFIX-$UL_NETNS_ROLE
    netns_add "$ul"
    ip -n "$ul" link add br-ul type bridge || fail "underlay bridge"
    ip -n "$ul" link set br-ul mtu "$UL_MTU" up
}

# underlay_attach I: veth n<I> (br-ul) <-> ul0 (chassis I); the chassis namespace exists
underlay_attach() {
    local i=$1 ul=$PREFIX-$UL_NETNS_ROLE ns
    ns=$(node_netns "$i")
    ip -n "$ul" link add "n$i" mtu "$UL_MTU" type veth peer name ul0 netns "$ns" mtu "$UL_MTU" ||
        fail "underlay veth for chassis $i"
    ip -n "$ul" link set "n$i" master br-ul up
    ip -n "$ns" link set ul0 up
}

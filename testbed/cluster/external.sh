# shellcheck shell=bash
# cluster/external.sh: the "physical" external network behind the NADs' master device
# (sourced by testbed/cluster.sh).
#
# $PREFIX-ext (EXT_NETNS) holds a Linux bridge br-ext with the external gateways
# (192.168.239.1/24 for seed 000, 172.16.3.2/24 for seed 003's
# NAT gateway, 172.17.0.1/16 for seed 004), one veth "n<i>" per chassis
# whose peer is EXT_NIC (eth1) in the chassis namespace (the macvlan master of Multus legs: a
# macvlan made on eth1 in the chassis namespace and moved into a pod lands on br-ext), and a
# veth toward $PREFIX-inet, the "internet host" INET_HOST (203.0.113.10/24, default route via
# EXT_NETNS, which forwards). Both EXT_NETNS and the internet host answer ping and serve HTTP
# on :80 (cluster/seen.py: the reply and DIR/{ext,inet}-seen.log name the client's source
# address); `ip netns exec $EXT_NETNS tcpdump -ni br-ext` shows the wire.

SEEN_PY=$HERE/cluster/seen.py
PY=/usr/bin/python3

external_start() {
    local ext=$PREFIX-$EXT_NETNS_ROLE inet=$PREFIX-$INET_NETNS_ROLE
    netns_add "$ext"
    ip -n "$ext" link add br-ext type bridge || fail "external bridge"
    ip -n "$ext" addr add "$EXT_GW/$EXT_GW_PREFIX" dev br-ext
    ip -n "$ext" addr add "$EXT2_GW" dev br-ext
    ip -n "$ext" addr add "$EXT3_GW" dev br-ext
    ip -n "$ext" link set br-ext up
    ip netns exec "$ext" sysctl -qw net.ipv4.ip_forward=1

    netns_add "$inet"
    ip -n "$ext" link add inet0 type veth peer name eth0 netns "$inet" || fail "internet host veth"
    ip -n "$ext" addr add "$INET_LINK_GW/24" dev inet0
    ip -n "$ext" link set inet0 up
    ip -n "$inet" addr add "$INET_HOST/24" dev eth0
    ip -n "$inet" link set eth0 up
    ip -n "$inet" route add default via "$INET_LINK_GW"

    http_start "$ext" ext
    http_start "$inet" inet
}

# external_attach I: veth n<I> (br-ext) <-> EXT_NIC in chassis I
external_attach() {
    local i=$1 ext=$PREFIX-$EXT_NETNS_ROLE ns
    ns=$(node_netns "$i")
    ip -n "$ext" link add "n$i" type veth peer name "$EXT_NIC" netns "$ns" || fail "external veth for chassis $i"
    ip -n "$ext" link set "n$i" master br-ext up
    ip -n "$ns" link set "$EXT_NIC" up
}

http_start() { # http_start NETNS NAME: cluster/seen.py on :80, log DIR/NAME-seen.log
    local ns=$1 name=$2
    : >"$D/$name-seen.log"
    setsid ip netns exec "$ns" "$PY" "$SEEN_PY" --port="$HTTP_PORT" --name="$name" \
        --log="$D/$name-seen.log" --pidfile="$D/$name-http.pid" </dev/null >>"$D/$name-http.log" 2>&1 &
    wait_until "$name HTTP server" pidfile_pid "$D/$name-http.pid" ||
        fail "HTTP server in $ns did not start" "$D/$name-http.log"
}

external_ready() {
    ip netns exec "$PREFIX-$INET_NETNS_ROLE" ping -c1 -W1 -q "$EXT_GW" >/dev/null 2>&1 &&
        ip netns exec "$PREFIX-$EXT_NETNS_ROLE" curl -fsS --max-time 2 "http://$INET_HOST/" >/dev/null &&
        ip netns exec "$PREFIX-$INET_NETNS_ROLE" curl -fsS --max-time 2 "http://$EXT_GW/" >/dev/null
}

external_stop() {
    stop_pidfiles "$D/ext-http.pid" "$D/inet-http.pid"
}

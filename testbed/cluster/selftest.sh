#!/usr/bin/env bash
# selftest.sh: proves testbed/cluster.sh's dataplane without ovn-vpcd. Exits non-zero if any
# check fails. Prints READY_SECONDS (start until a cross-chassis ping is answered).
# Usage: testbed/cluster/selftest.sh [DIR]   (default: a fresh mktemp dir under /tmp, removed
#        on success; KEEP=1 keeps it)
#
# A 2-node cluster (a): a router with two switches written with ovn-nbctl, one "pod" per
# chassis (a netns holding an OVS internal port of that chassis' br-int, iface-id = the LSP),
# a ping across the router seen as geneve on the underlay, both chassis in `ovn-sbctl show`
# with geneve encaps, the Nodes in the API server, a macvlan leg (bridge mode, master EXT_NIC)
# reaching the external gateway and the internet host (which records the source address).
# A second 1-node cluster (b) runs beside it and is stopped while (a) keeps working; a third
# (c) is killed half-way through its start and stopped. After each stop: no namespace, process
# or device of that cluster is left, and the caller's namespace has no new device.
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
CLUSTER=$HERE/../cluster.sh
. "$HERE/checks.sh"
T=$(scratch_dir cst "${1:-}")

cleanup() {
    local c
    for c in a b c; do "$CLUSTER" stop "$T/$c" >/dev/null 2>&1; done
    if ((FAIL == 0)) && [[ -z ${KEEP:-} && -z ${1:-} ]]; then rm -rf -- "$T"; else echo "kept $T" >&2; fi
}
trap 'cleanup' EXIT

root_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
# Processes whose command line names DIR (every daemon of a cluster does)
procs_of() { local p; for p in $(grep -laF -- "$1/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do [[ $p != "$$" && -e /proc/$p ]] && printf "%s " "$p"; done; }
netns_of() { ip netns list | awk '{print $1}' | grep -E "^$1-" | tr '\n' ' '; }

# after_stop NAME DIR PREFIX: nothing of that cluster is left
after_stop() {
    local name=$1 dir=$2 prefix=$3 left
    expect "$name: no namespace $prefix-* left" "$(netns_of "$prefix")" ""
    left=$(procs_of "$dir")
    expect "$name: no process of $dir left" "$left" ""
    left=""
    for pf in $(find "$dir" -name '*.pid' 2>/dev/null); do left+="$pf "; done
    expect "$name: no pidfile left" "$left" ""
    expect "$name: the caller's namespace has the same devices as before" "$(root_links)" "$ROOT_LINKS"
}

# pod_add I LSP MAC IP/PLEN GW: netns "$NETNS_PREFIX-<LSP>" with an internal port of chassis I
pod_add() {
    local i=$1 lsp=$2 mac=$3 cidr=$4 gw=$5 ns chns db k
    ns=$NETNS_PREFIX-$lsp
    chns=NODE_${i}_NETNS
    chns=${!chns}
    db=NODE_${i}_OVS_DB
    db=${!db}
    ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
    ovs-vsctl --db="$db" add-port br-int "$lsp" -- set interface "$lsp" type=internal \
        external_ids:iface-id="$lsp" || return 1
    for ((k = 0; k < 100; k++)); do
        ip -n "$chns" link show "$lsp" >/dev/null 2>&1 && break
        sleep 0.05
    done
    ip -n "$chns" link set "$lsp" netns "$ns" &&
        ip -n "$ns" link set "$lsp" address "$mac" &&
        ip -n "$ns" addr add "$cidr" dev "$lsp" &&
        ip -n "$ns" link set "$lsp" up &&
        ip -n "$ns" route add default via "$gw"
}
in_pod() { local p=$1; shift; ip netns exec "$NETNS_PREFIX-$p" "$@"; }
ping_ok() { in_pod "$1" ping -c1 -W1 -q "$2"; }
sb() { ovn-sbctl --db="$OVN_SB_DB" --timeout=5 "$@"; }
load_env() { set -a; . "$1/env"; set +a; }

ROOT_LINKS=$(root_links)

# ---- cluster a: 2 nodes ------------------------------------------------------------------
t0=$(date +%s%N)
if out=$("$CLUSTER" start "$T/a" --nodes 2 2>&1); then ok "cluster.sh start a --nodes 2"; else
    bad "cluster.sh start a: $out"
    echo "# $PASS passed, $FAIL failed"
    exit 1
fi
expect_match "start prints how to use the env" "$out" "\. $T/a/env"
load_env "$T/a"
for key in KUBECONFIG OVN_NB_DB OVN_SB_DB NODES NODE_1_NETNS NODE_1_OVS_DB NODE_2_NETNS NODE_2_OVS_DB \
    EXT_NETNS EXT_NIC EXT_CIDR EXT_GW INET_HOST NETNS_PREFIX; do
    [[ -n ${!key:-} ]] || bad "env has no $key"
done
ok "env has every documented key"
expect "NODES" "$NODES" "node-1 node-2"
expect "external network values" "$EXT_NIC $EXT_CIDR $EXT_GW $INET_HOST" "eth1 192.168.239.0/24 192.168.239.1 203.0.113.10"
expect "the caller's namespace got no device" "$(root_links)" "$ROOT_LINKS"

nb() { ovn-nbctl --db="$OVN_NB_DB" --timeout=5 "$@"; }
nb lr-add r1 -- lrp-add r1 r1-s1 00:00:00:00:01:01 10.1.1.1/24 -- lrp-add r1 r1-s2 00:00:00:00:01:02 10.1.2.1/24 \
    -- ls-add s1 -- lsp-add s1 s1-r1 -- lsp-set-type s1-r1 router -- lsp-set-addresses s1-r1 router \
    -- lsp-set-options s1-r1 router-port=r1-s1 \
    -- ls-add s2 -- lsp-add s2 s2-r1 -- lsp-set-type s2-r1 router -- lsp-set-addresses s2-r1 router \
    -- lsp-set-options s2-r1 router-port=r1-s2 \
    -- lsp-add s1 pa -- lsp-set-addresses pa "00:00:00:01:01:10 10.1.1.10" \
    -- lsp-add s2 pb -- lsp-set-addresses pb "00:00:00:01:02:10 10.1.2.10" &&
    ok "router r1 with switches s1, s2 written" || bad "ovn-nbctl router and switches"
pod_add 1 pa 00:00:00:01:01:10 10.1.1.10/24 10.1.1.1 && ok "pod pa on node-1" || bad "pod pa on node-1"
pod_add 2 pb 00:00:00:01:02:10 10.1.2.10/24 10.1.2.1 && ok "pod pb on node-2" || bad "pod pb on node-2"
fast_ping() { in_pod "$1" ping -c1 -W0.2 -q "$2"; }
wait_for "pa (node-1) pings pb (node-2) across r1" 300 fast_ping pa 10.1.2.10
READY=$((($(date +%s%N) - t0) / 1000000))
start_ms=$(sed -n 's/.*started in .* (\([0-9]*\) ms)$/\1/p' <<<"$out")
# figures, not asserts: cluster.sh start's own time (it returns once every chassis is in the SB
# with its tunnels and the Nodes are Ready), and start until the first cross-chassis ping answer
printf 'START_SECONDS=%d.%03d\n' $((start_ms / 1000)) $((start_ms % 1000))
printf 'READY_SECONDS=%d.%03d\n' $((READY / 1000)) $((READY % 1000))

# the binding and the wire: pa is bound on chassis-1, pb on chassis-2, the ping is geneve
bound_on() { sb --bare --columns=name list chassis "$(sb --bare --columns=chassis find port_binding logical_port="$1")"; }
expect "pa bound on chassis-1, pb on chassis-2" "$(bound_on pa) $(bound_on pb)" "chassis-1 chassis-2"
timeout 10 ip netns exec "$UL_NETNS" tcpdump -lni br-ul -c 2 'udp port 6081' >"$T/geneve.txt" 2>/dev/null &
tcpd=$!
sleep 0.5
in_pod pa ping -c3 -i0.2 -W1 -q 10.1.2.10 >/dev/null
wait "$tcpd"
expect_match "the ping crosses the underlay as geneve between the encap IPs" "$(head -1 "$T/geneve.txt")" \
    "$NODE_1_ENCAP_IP\.[0-9]+ > $NODE_2_ENCAP_IP\.6081: Geneve.*10\.1\.1\.10 > 10\.1\.2\.10: ICMP echo request"
in_pod pb /usr/bin/python3 "$HERE/seen.py" --port=8080 --name=pb --log="$T/pb-seen.log" \
    --pidfile="$T/pb-web.pid" >"$T/pb-web.log" 2>&1 &
web=$!
wait_for "TCP across geneve (pa fetches pb's web page)" 50 in_pod pa curl -fsS --max-time 2 -o /dev/null http://10.1.2.10:8080/
expect "pb saw pa's own address (no NAT on the way)" "$(cut -d' ' -f2 "$T/pb-seen.log" | sort -u)" "10.1.1.10"
kill "$(cat "$T/pb-web.pid" 2>/dev/null)" 2>/dev/null || kill "$web" 2>/dev/null
wait "$web" 2>/dev/null

show=$(sb show)
for i in 1 2; do
    ip=NODE_${i}_ENCAP_IP
    expect_match "ovn-sbctl show: chassis-$i with a geneve encap on ${!ip}" "$show" \
        "Chassis \"?chassis-$i\"?"$'\n'"[^C]*hostname: \"?node-$i\"?"$'\n'"[^C]*Encap geneve"$'\n'" *ip: \"${!ip}\""
done

k() { kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$T/a/kube/kubecache" "$@"; }
expect "Nodes: names, Ready, hostname label, os label, chassis annotation" \
    "$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.metadata.labels.kubernetes\.io/hostname} {.metadata.labels.kubernetes\.io/os} {.metadata.annotations.ovn\.kubernetes\.io/chassis};{end}')" \
    "node-1 True node-1 linux chassis-1;node-2 True node-2 linux chassis-2;"

# a Multus-style leg: macvlan (bridge) on EXT_NIC of node-1, moved into pod pa
ip -n "$NODE_1_NETNS" link add link "$EXT_NIC" name mv-pa type macvlan mode bridge &&
    ip -n "$NODE_1_NETNS" link set mv-pa netns "$NETNS_PREFIX-pa" &&
    in_pod pa ip link set mv-pa name net1 &&
    in_pod pa ip addr add 192.168.239.101/24 dev net1 &&
    in_pod pa ip link set net1 up &&
    in_pod pa ip route add "$INET_HOST/32" via "$EXT_GW" && ok "macvlan leg net1 192.168.239.101 in pa" ||
    bad "macvlan leg in pa"
wait_for "net1 reaches the external gateway $EXT_GW" 50 ping_ok pa "$EXT_GW"
wait_for "net1 reaches the internet host $INET_HOST" 50 ping_ok pa "$INET_HOST"
expect "the internet host's HTTP answer names the source address" \
    "$(in_pod pa curl -fsS --max-time 3 "http://$INET_HOST/")" "inet saw 192.168.239.101"
expect "INET_SEEN records it" "$(tail -n 1 "$INET_SEEN" | cut -d' ' -f2-)" "192.168.239.101 GET /"
expect "the external gateway serves HTTP too" "$(in_pod pa curl -fsS --max-time 3 "http://$EXT_GW/")" \
    "ext saw 192.168.239.101"

# ---- cluster b beside a: 1 node, its own namespaces and OVN ----------------------------------
A_PREFIX=$NETNS_PREFIX
if out=$("$CLUSTER" start "$T/b" --nodes 1 2>&1); then ok "cluster.sh start b --nodes 1 beside a"; else bad "start b: $out"; fi
B_PREFIX=$(sed -n 's/^NETNS_PREFIX=//p' "$T/b/env")
[[ -n $B_PREFIX && $B_PREFIX != "$A_PREFIX" ]] && ok "b's namespaces have their own prefix" || bad "b's prefix [$B_PREFIX]"
expect "b's SB has only its own chassis" \
    "$(ovn-sbctl --db="$(sed -n 's/^OVN_SB_DB=//p' "$T/b/env")" --bare --columns=name list chassis)" "chassis-1"
"$CLUSTER" stop "$T/b" >/dev/null 2>&1 && ok "cluster.sh stop b" || bad "cluster.sh stop b"
after_stop b "$T/b" "$B_PREFIX"
wait_for "a still works after b stopped" 30 ping_ok pa 10.1.2.10

# ---- cluster a stops -----------------------------------------------------------------------
"$CLUSTER" stop "$T/a" >/dev/null 2>&1 && ok "cluster.sh stop a (pods' namespaces included)" || bad "cluster.sh stop a"
after_stop a "$T/a" "$A_PREFIX"
"$CLUSTER" stop "$T/a" >/dev/null 2>&1 && ok "stop again is harmless" || bad "second stop failed"

# ---- cluster c: killed half-way through start ----------------------------------------------
setsid "$CLUSTER" start "$T/c" --nodes 2 >"$T/c.out" 2>&1 &
cpid=$!
sleep "${HALF_START_DELAY:-1.2}"
kill -KILL -- "-$cpid" 2>/dev/null
{ wait "$cpid"; } 2>/dev/null
C_PREFIX=vc$(printf '%s' "$T/c" | cksum | cut -d' ' -f1)
echo "# c was killed with $(netns_of "$C_PREFIX" | wc -w) namespace(s) and $(procs_of "$T/c" | wc -w) process(es) up"
"$CLUSTER" stop "$T/c" >/dev/null 2>&1 && ok "cluster.sh stop of a half-started c" || bad "stop c"
after_stop c "$T/c" "$C_PREFIX"

echo
echo "# $PASS passed, $FAIL failed"
((FAIL == 0))

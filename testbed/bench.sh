#!/usr/bin/env bash
# bench.sh: ovn-vpcd's benchmarks against their peers (ovn-nbctl, ovsdbapp), each
# measurement on its own fresh standalone OVN testbed, over the NB unix socket.
#   nb:  the OVSDB client (benches/nb.rs): insert_10k_routes, small_txn_1k, monitor_100k.
#   vpc: the VPC core, through the release binary (benches/vpc.rs): converge_100vpc,
#        one_route_change, daemon_rss, plus timing breakdowns (diag).
#   kube: the Kubernetes side (benches/kube.rs): kube_1000_subnets, and kube_10k_pods (10,000 pods
#        until all are routed; benches/kube/pods.rs), through the testbed API server.
#   reload: the daemon's RSS across 1,000 config reloads of ~14,600 NB rows, and across 300
#        rapid in-place edits (benches/vpc.rs reload_rss [in-place]), through the release binary.
#   nat: the VPC NAT gateway on a 2-node testbed cluster (benches/nat.rs): nat_1000_dnat (1,000
#        IptablesDnatRule objects in one kubectl apply, until all are in the gateway pod's kernel
#        and ready), its peer nat_kube_ovn_way (one kubectl exec of iptables per rule, as Kube-OVN's
#        controller runs nat-gateway.sh; BENCH_NAT_PEER_RULES of them, default 200), and
#        nat_recovery_1000 (container killed, pod deleted); run BENCH_SLOW_REPS times.
#
#   testbed/bench.sh
#
# Env: BENCH_REPS (default 3): runs of each fast measurement, the median is reported;
#      BENCH_SLOW_REPS (default 1): runs of the slow ones (1,000 ovn-nbctl processes,
#      monitor_100k, the daemon figures);
#      BENCH_FIGURES (default "nb vpc kube reload nat"): which groups to run;
#      BENCH_PODS (default 10000): the pods of kube_10k_pods (run BENCH_SLOW_REPS times).
# Prints samples as '# ...' lines, then one 'name key: value unit' line per figure and ratio.
# Everything it starts (testbeds, bench processes, daemons) is stopped on exit, by pid / pidfile
# / process group.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
OVN_SH=$ROOT/testbed/ovn.sh
PEERS=$ROOT/testbed/bench/peers.py
PY=/usr/bin/python3 # Debian's interpreter: it sees python3-ovsdbapp
REPS=${BENCH_REPS:-3}
SLOW_REPS=${BENCH_SLOW_REPS:-1}
FIGURES=${BENCH_FIGURES:-nb vpc kube reload nat}
ROUTES=10000
SMALL=1000
NEXTHOP=192.168.255.1

log() { echo "bench.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=""   # scratch dir: every testbed (ours and the Rust bench's, via TMPDIR) lives here
CHILD=""  # pid (= process group id, started with setsid) of the running bench process
SAMPLER="" # pid of the busy sampler (see start_sampler)

cleanup() {
    local rc=$? d
    trap - EXIT INT TERM
    if [[ -n $SAMPLER ]]; then kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; fi
    if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
        log "stopping bench process group $CHILD"
        kill -TERM -- "-$CHILD" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$CHILD" 2>/dev/null || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        # Testbed clusters a killed nat bench left (it writes each one's directory here).
        if [[ -f $WORK/clusters ]]; then
            while read -r d; do
                [[ -n $d && -d $d ]] || continue
                "$ROOT/testbed/cluster.sh" stop "$d" >/dev/null 2>&1 || log "could not stop cluster $d"
                rm -rf -- "$d"
            done <"$WORK/clusters"
        fi
        # Testbeds left behind (ours, or the Rust bench's if it was killed): stop by pidfile.
        for d in "$WORK"/*/; do
            [[ -d $d ]] || continue
            if [[ -f $d/env ]] && grep -q '^KUBE_PID=' "$d/env"; then
                "$ROOT/testbed/kube/kube.sh" stop "$d" >/dev/null 2>&1 || log "could not stop API server $d"
            elif compgen -G "$d*.pid" >/dev/null || [[ -f $d/env ]]; then
                "$OVN_SH" stop "$d" >/dev/null 2>&1 || log "could not stop testbed $d"
            fi
        done
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_child OUT CMD...: runs CMD in its own process group (so cleanup can stop it and its
# children), stdout to OUT, stderr passed through; returns CMD's status.
run_child() {
    local out=$1 rc=0
    shift
    setsid "$@" >"$out" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

now_ns() { date +%s%N; }

# The machine is shared: once the builds are done, note every second in which any cargo or
# rustc process (another session's build or test run) is alive. Reported at the end.
start_sampler() {
    (
        while :; do
            if pgrep -f '(^|/)(cargo|rustc)( |$)' >/dev/null; then date +%s >>"$WORK/busy"; fi
            sleep 1
        done
    ) &
    SAMPLER=$!
}
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# Fresh standalone testbed (NB + SB + northd, as the Rust figures use) in a new dir: sets TB.
TB_N=0
TB=""
tb_start() {
    TB_N=$((TB_N + 1))
    TB="$WORK/tb$TB_N"
    "$OVN_SH" start "$TB" >"$WORK/ovn-start.log" 2>&1 || { cat "$WORK/ovn-start.log" >&2; die "testbed start failed"; }
}
tb_stop() { "$OVN_SH" stop "$1" >/dev/null 2>&1; rm -rf -- "$1"; }

nb_count() { # nb_count DIR TABLE
    ovn-nbctl --db="unix:$1/nb.sock" --timeout=60 --bare --columns=_uuid list "$2" | grep -c . || true
}
expect_count() { # expect_count DIR TABLE N WHAT
    local n
    n=$(nb_count "$1" "$2")
    [[ $n == "$3" ]] || die "$4: ovn-nbctl sees $n rows in $2, expected $3"
}

RESULTS="" # file of 'name key: value unit' sample lines
record() { # record LINE...
    local l
    for l in "$@"; do
        [[ -n $l ]] || continue
        echo "$l" >>"$RESULTS"
        log "sample: $l"
    done
}

# median NAME KEY -> value (empty if no sample)
median() {
    { grep -F "$1 $2: " "$RESULTS" || true; } | awk '{ print $(NF-1) }' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
samples() { { grep -F "$1 $2: " "$RESULTS" || true; } | awk '{ print $(NF-1) }' | paste -sd' ' -; }

# --- measurements ---------------------------------------------------------------------------

rust_figure() { # rust_figure FIGURE
    local out="$WORK/rust.out"
    run_child "$out" env TMPDIR="$WORK" "$EXE" "$1" || die "Rust bench '$1' failed"
    mapfile -t lines <"$out"
    record "${lines[@]}"
}

# vpc_figure FIGURE [ARG]: benches/vpc.rs, which runs the release ovn-vpcd binary, the
# ovn-nbctl peers and its own testbeds, and verifies the NB contents itself.
vpc_figure() {
    local out="$WORK/vpc.out"
    run_child "$out" env TMPDIR="$WORK" OVN_VPCD_BIN="$BIN" "$VPC_EXE" "$@" || die "VPC bench '$*' failed"
    mapfile -t lines <"$out"
    record "${lines[@]}"
}

nbctl_insert_10k_routes() {
    local d i t0 s
    tb_start
    d=$TB
    local -a args=(lr-add r0)
    for ((i = 0; i < ROUTES; i++)); do
        args+=(-- lr-route-add r0 "10.$((i / 256)).$((i % 256)).0/24" "$NEXTHOP")
    done
    t0=$(now_ns)
    ovn-nbctl --db="unix:$d/nb.sock" --timeout=120 "${args[@]}" >/dev/null
    s=$(secs_since "$t0")
    expect_count "$d" Logical_Router_Static_Route "$ROUTES" "ovn-nbctl insert_10k_routes"
    tb_stop "$d"
    record "insert_10k_routes ovn-nbctl_seconds: $s s"
}

nbctl_small_txn_1k() {
    local d i t0 s
    tb_start
    d=$TB
    t0=$(now_ns)
    for ((i = 0; i < SMALL; i++)); do
        ovn-nbctl --db="unix:$d/nb.sock" --timeout=30 ls-add "ls$i" >/dev/null
    done
    s=$(secs_since "$t0")
    expect_count "$d" Logical_Switch "$SMALL" "ovn-nbctl small_txn_1k"
    tb_stop "$d"
    record "small_txn_1k ovn-nbctl_seconds: $s s"
}

ovsdbapp_figure() { # ovsdbapp_figure FIGURE TABLE N
    local d out="$WORK/py.out"
    tb_start
    d=$TB
    run_child "$out" "$PY" "$PEERS" "$1" "unix:$d/nb.sock" || die "ovsdbapp peer '$1' failed"
    expect_count "$d" "$2" "$3" "ovsdbapp $1"
    tb_stop "$d"
    mapfile -t lines <"$out"
    record "${lines[@]}"
}

# artifact NAME KIND CARGO-ARGS...: builds, prints the path of target NAME (KIND bin or bench).
artifact() {
    local name=$1 kind=$2
    shift 2
    (cd "$ROOT" && cargo "$@" --message-format=json) | "$PY" -c 'import sys, json
name, kind = sys.argv[1], sys.argv[2]
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    t = m.get("target", {})
    if m.get("reason") == "compiler-message" and m["message"].get("level") == "error":
        sys.stderr.write(m["message"].get("rendered") or m["message"].get("message", "") + "\n")
    if m.get("reason") == "compiler-artifact" and t.get("name") == name and kind in t.get("kind", []) and m.get("executable"):
        print(m["executable"])' "$name" "$kind" | tail -n 1
}

# --- report ---------------------------------------------------------------------------------

# verdict VALUE OP TARGET -> "met" / "MISSED" (OP is <=, >= or <)
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        ok = (op == "<=") ? v <= t : (op == ">=") ? v >= t : v < t
        print ok ? "met" : "MISSED" }'
}
mul() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a * b }'; }
ratio() { awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN { if (b > 0) printf "%.*f", p, a / b; else print "nan" }'; }

line() { # line NAME KEY UNIT [TARGET_OP TARGET]
    local v
    v=$(median "$1" "$2")
    [[ -n $v ]] || { echo "$1 $2: (no result)"; return; }
    if [[ $# -ge 5 ]]; then
        echo "$1 $2: $v $3 (target $4 $5: $(verdict "$v" "$4" "$5"))"
    else
        echo "$1 $2: $v $3"
    fi
}

ratio_line() { # ratio_line NAME KEY NUM DEN OP TARGET
    local r
    r=$(ratio "$3" "$4")
    if [[ $# -ge 6 ]]; then
        echo "$1 $2: $r (target $5 $6: $(verdict "$r" "$5" "$6"))"
    else
        echo "$1 $2: $r (no target)"
    fi
}

# --- main -----------------------------------------------------------------------------------

main() {
    local t_all r
    t_all=$(now_ns)
    "$ROOT/testbed/install.sh"
    command -v ovn-nbctl >/dev/null || die "ovn-nbctl missing after install.sh"
    "$PY" -c 'import ovsdbapp' 2>/dev/null || die "$PY cannot import ovsdbapp (python3-ovsdbapp)"

    log "building: cargo build --release --locked; cargo bench --bench nb/vpc --no-run (release profile)"
    BIN=$(artifact ovn-vpcd bin build --release --locked)
    [[ -x $BIN ]] || die "could not find the release ovn-vpcd binary"
    EXE=$(artifact nb bench bench --bench nb --no-run)
    [[ -x $EXE ]] || die "could not find the nb bench executable"
    VPC_EXE=$(artifact vpc bench bench --bench vpc --no-run)
    [[ -x $VPC_EXE ]] || die "could not find the vpc bench executable"
    KUBE_EXE=$(artifact kube bench bench --bench kube --no-run)
    [[ -x $KUBE_EXE ]] || die "could not find the kube bench executable"
    NAT_EXE=""
    if [[ " $FIGURES " == *" nat "* ]]; then
        NAT_EXE=$(artifact nat bench bench --bench nat --no-run)
        [[ -x $NAT_EXE ]] || die "could not find the nat bench executable"
    fi

    WORK=$(mktemp -d /tmp/nbb.XXXXXX)
    RESULTS=$WORK/results
    : >"$RESULTS"
    : >"$WORK/busy"
    local t_meas
    t_meas=$(now_ns)
    start_sampler

    if [[ " $FIGURES " == *" nb "* ]]; then
        for ((r = 1; r <= REPS; r++)); do
            log "round $r/$REPS"
            rust_figure insert_10k_routes
            nbctl_insert_10k_routes
            ovsdbapp_figure insert_10k_routes Logical_Router_Static_Route "$ROUTES"
            rust_figure small_txn_1k
            ovsdbapp_figure small_txn_1k Logical_Switch "$SMALL"
        done
        for ((r = 1; r <= SLOW_REPS; r++)); do
            log "slow round $r/$SLOW_REPS: 1,000 ovn-nbctl ls-add processes, monitor_100k"
            nbctl_small_txn_1k
            rust_figure monitor_100k
        done
    fi
    if [[ " $FIGURES " == *" vpc "* ]]; then
        for ((r = 1; r <= REPS; r++)); do
            # The per-VPC ovn-nbctl peer (100 processes, ~10 s) only in the first round.
            log "VPC round $r/$REPS: converge_100vpc"
            if ((r == 1)); then vpc_figure converge_100vpc with-per-vpc; else vpc_figure converge_100vpc; fi
        done
        for ((r = 1; r <= SLOW_REPS; r++)); do
            log "VPC slow round $r/$SLOW_REPS: daemon_rss, one_route_change"
            vpc_figure daemon
        done
        log "VPC diagnosis: timing breakdowns"
        vpc_figure diagnose
    fi
    if [[ " $FIGURES " == *" reload "* ]]; then
        for ((r = 1; r <= SLOW_REPS; r++)); do
            log "reload slow round $r/$SLOW_REPS: reload_rss (1,000 reloads)"
            vpc_figure reload_rss
            vpc_figure reload_rss in-place
        done
    fi
    if [[ " $FIGURES " == *" kube "* ]]; then
        for ((r = 1; r <= REPS; r++)); do
            log "Kubernetes round $r/$REPS: kube_1000_subnets"
            run_child "$WORK/kube.out" env TMPDIR="$WORK" OVN_VPCD_BIN="$BIN" "$KUBE_EXE" \
                || die "Kubernetes bench failed"
            mapfile -t lines <"$WORK/kube.out"
            record "${lines[@]}"
        done
        for ((r = 1; r <= SLOW_REPS; r++)); do
            log "Kubernetes slow round $r/$SLOW_REPS: kube_10k_pods (${BENCH_PODS:-10000} pods)"
            run_child "$WORK/kube.out" env TMPDIR="$WORK" OVN_VPCD_BIN="$BIN" KUBE_BENCH_PODS="${BENCH_PODS:-10000}" \
                "$KUBE_EXE" kube_10k_pods || die "Kubernetes pods bench failed"
            mapfile -t lines <"$WORK/kube.out"
            record "${lines[@]}"
        done
    fi

    if [[ " $FIGURES " == *" nat "* ]]; then
        for ((r = 1; r <= SLOW_REPS; r++)); do
            log "NAT slow round $r/$SLOW_REPS: nat_1000_dnat, nat_kube_ovn_way, nat_recovery_1000 (testbed cluster)"
            run_child "$WORK/nat.out" env TMPDIR="$WORK" OVN_VPCD_BIN="$BIN" NAT_BENCH_CLUSTER_FILE="$WORK/clusters" \
                NAT_BENCH_PEER_RULES="${BENCH_NAT_PEER_RULES:-200}" "$NAT_EXE" || die "NAT bench failed"
            mapfile -t lines <"$WORK/nat.out"
            record "${lines[@]}"
        done
    fi

    local ins_rs ins_nbctl ins_py sm_rs sm_nbctl sm_py cv_rs cv_nbctl cv_vpc
    ins_rs=$(median insert_10k_routes ovn-vpcd_seconds)
    ins_nbctl=$(median insert_10k_routes ovn-nbctl_seconds)
    ins_py=$(median insert_10k_routes ovsdbapp_seconds)
    sm_rs=$(median small_txn_1k ovn-vpcd_seconds)
    sm_nbctl=$(median small_txn_1k ovn-nbctl_seconds)
    sm_py=$(median small_txn_1k ovsdbapp_seconds)
    cv_rs=$(median converge_100vpc ovn-vpcd_seconds)
    cv_nbctl=$(median converge_100vpc ovn-nbctl_seconds)
    cv_vpc=$(median converge_100vpc ovn-nbctl_per_vpc_seconds)

    echo "# ovn-vpcd benchmarks ($FIGURES), $(date -u +%Y-%m-%dT%H:%M:%SZ), nproc $(nproc)," \
        "$(ovn-nbctl --version | head -n 1), $(ovsdb-server --version | head -n 1)"
    echo "# medians of $REPS runs ($SLOW_REPS for ovn-nbctl small_txn_1k, monitor_100k, the daemon" \
        "figures; 1 for ovn-nbctl_per_vpc and diag); samples:"
    local k
    while read -r k; do
        echo "#   $k: $(samples "${k% *}" "${k#* }")"
    done < <(awk -F': ' '{ print $1 }' "$RESULTS" | awk '!seen[$0]++')
    if [[ " $FIGURES " == *" nb "* ]]; then
        line insert_10k_routes ovn-vpcd_seconds s
        line insert_10k_routes ovn-vpcd_cached_seconds s
        line insert_10k_routes ovn-nbctl_seconds s
        line insert_10k_routes ovsdbapp_seconds s
        ratio_line insert_10k_routes ratio_vs_nbctl "$ins_rs" "$ins_nbctl" "<=" 1.2
        ratio_line insert_10k_routes ratio_vs_ovsdbapp "$ins_rs" "$ins_py"
        line small_txn_1k ovn-vpcd_seconds s
        line small_txn_1k ovn-nbctl_seconds s
        line small_txn_1k ovsdbapp_seconds s
        ratio_line small_txn_1k speedup_vs_nbctl "$sm_nbctl" "$sm_rs" ">=" 20
        ratio_line small_txn_1k speedup_vs_ovsdbapp "$sm_py" "$sm_rs" ">=" 5
        line monitor_100k seconds s
        line monitor_100k peak_rss MB "<" 200
        line monitor_100k rss_after_sync MB
    fi
    if [[ " $FIGURES " == *" vpc "* ]]; then
        echo "# VPC figures: 100 VPCs x 10 subnets x 20 static routes x 5 policies (6,600 NB rows);" \
            "testbeds WITHOUT ovn-northd${VPC_BENCH_NORTHD:+ (VPC_BENCH_NORTHD=$VPC_BENCH_NORTHD)}"
        line converge_100vpc ovn-vpcd_seconds s "<" 2
        line converge_100vpc ovn-nbctl_seconds s
        line converge_100vpc ovn-nbctl_per_vpc_seconds s
        ratio_line converge_100vpc ratio_vs_nbctl "$cv_rs" "$cv_nbctl" "<" 1
        ratio_line converge_100vpc ratio_vs_nbctl_per_vpc "$cv_rs" "$cv_vpc"
        line converge_100vpc ovn-vpcd_nb-ovsdb-server_cpu_seconds s
        line converge_100vpc ovn-nbctl_nb-ovsdb-server_cpu_seconds s
        line converge_100vpc in_process_connect_seconds s
        line converge_100vpc in_process_apply_seconds s
        line one_route_change p50_ms ms
        line one_route_change p99_ms ms "<" 50
        line one_route_change daemon_cpu_ms_per_change ms
        line one_route_change poll_reloads count
        line daemon_rss rss MB "<" 60
        line daemon_rss peak_rss MB
        line daemon_rss rss_after_changes MB
        echo "# diagnosis (1 run; converged_pass: medians of $REPS):"
        while read -r k; do
            line "${k% *}" "${k#* }" "$(grep -F "$k: " "$RESULTS" | head -n 1 | awk '{ print $NF }')"
        done < <(awk -F': ' '$1 ~ /^(diag|converged_pass) / { print $1 }' "$RESULTS" | awk '!seen[$0]++')
    fi
    if [[ " $FIGURES " == *" kube "* ]]; then
        echo "# Kubernetes figures: 1,000 Subnet resources (10 in each of 100 Vpc resources) created by" \
            "8 concurrent clients through the testbed API server; testbed WITHOUT ovn-northd"
        line kube_1000_subnets create_seconds s
        line kube_1000_subnets converged_seconds s
        line kube_1000_subnets ratio_vs_create x
        line kube_1000_subnets event_to_commit_p50_ms ms
        line kube_1000_subnets event_to_commit_p99_ms ms
        line kube_1000_subnets ready_seconds s
        line kube_1000_subnets daemon_cpu_seconds s
        line kube_1000_subnets daemon_rss MB
        line kube_1000_subnets daemon_warnings count
        echo "# ${BENCH_PODS:-10000} pods in one namespace (one Subnet) created by 8 concurrent clients through the" \
            "testbed API server, until every pod is annotated routed; the API server's own CPU beside the daemon's"
        line kube_10k_pods pods count
        line kube_10k_pods create_seconds s
        line kube_10k_pods routed_seconds s
        line kube_10k_pods routed_after_last_create_seconds s "<=" 2
        line kube_10k_pods daemon_cpu_seconds s
        line kube_10k_pods daemon_cpu_ms_per_pod ms "<=" 0.5
        line kube_10k_pods daemon_rss MB "<=" 200
        line kube_10k_pods apiserver_cpu_seconds s
        line kube_10k_pods apiserver_cpu_ms_per_pod ms
        line kube_10k_pods daemon_warnings count
    fi
    if [[ " $FIGURES " == *" reload "* ]]; then
        echo "# reload figures: 221 VPCs of the VPC workload (14,586 NB rows), 1,000 reloads (rewrite + SIGHUP)"
        line reload_rss rss_after_start MB
        line reload_rss rss_after_reloads MB
        line reload_rss peak_rss MB
        line reload_rss ratio x "<=" 1.10
        line reload_rss ms_per_edit ms
        line reload_rss daemon_warnings count
        echo "# the same config, 300 rapid in-place edits (truncate, half, 10 ms, rest; 100 ms apart), no SIGHUP"
        line reload_rss_in_place rss_after_start MB
        line reload_rss_in_place rss_after_reloads MB
        line reload_rss_in_place ratio x "<=" 1.10
        line reload_rss_in_place replaced_routers count "<=" 0
        line reload_rss_in_place loads count
    fi
    if [[ " $FIGURES " == *" nat "* ]]; then
        local nat_rs nat_peer nat_n nat_pn
        nat_rs=$(median nat_1000_dnat seconds_to_kernel)
        nat_n=$(median nat_1000_dnat rules)
        nat_peer=$(median nat_kube_ovn_way seconds)
        nat_pn=$(median nat_kube_ovn_way rules)
        echo "# NAT figures: seed 003's gateway on a 2-node testbed cluster, release daemon and agent;" \
            "${nat_n%.*} IptablesDnatRule objects on one EIP in one kubectl apply; the peer: ${nat_pn%.*}" \
            "kubectl exec of iptables -A SHARED_DNAT, one per rule (Kube-OVN's way), in a second pod"
        line nat_1000_dnat apply_seconds s
        line nat_1000_dnat seconds_to_kernel s
        line nat_1000_dnat seconds_to_ready s
        line nat_1000_dnat ms_per_rule_to_kernel ms
        line nat_1000_dnat daemon_cpu_seconds_to_kernel s
        line nat_1000_dnat agent_cpu_seconds_to_kernel s
        line nat_1000_dnat daemon_cpu_seconds_to_ready s
        line nat_1000_dnat agent_cpu_seconds_to_ready s
        line nat_1000_dnat agent_own_cpu_seconds_to_ready s
        line nat_1000_dnat apiserver_cpu_seconds_to_kernel s
        line nat_1000_dnat apiserver_cpu_seconds_to_ready s
        line nat_1000_dnat agent_rss MB
        line nat_1000_dnat daemon_rss MB
        line nat_1000_dnat daemon_warnings count
        line nat_kube_ovn_way seconds s
        line nat_kube_ovn_way seconds_per_rule s
        line nat_kube_ovn_way extrapolated_seconds_for_1000 s
        line nat_kube_ovn_way kubectl_exec_true_seconds_per_call s
        line nat_kube_ovn_way kubectl_start_seconds_per_call s
        line nat_kube_ovn_way seconds_per_rule_less_kubectl_start s
        # per rule: (ours / our rules) / (peer's / peer's rules)
        ratio_line nat_1000_dnat ratio_vs_kube_ovn_per_rule "$(mul "$nat_rs" "$nat_pn")" "$(mul "$nat_peer" "$nat_n")"
        ratio_line nat_1000_dnat speedup_vs_kube_ovn_per_rule "$(mul "$nat_peer" "$nat_n")" "$(mul "$nat_rs" "$nat_pn")"
        # the same against the peer without kubectl's own start (Kube-OVN execs in-process)
        ratio_line nat_1000_dnat ratio_vs_kube_ovn_per_rule_less_kubectl_start "$(ratio "$nat_rs" "$nat_n" 6)" \
            "$(median nat_kube_ovn_way seconds_per_rule_less_kubectl_start)"
        line nat_recovery_1000 container_killed_seconds s "<" 1
        line nat_recovery_1000 container_killed_agent_started_seconds s
        line nat_recovery_1000 container_killed_after_agent_start_seconds s
        line nat_recovery_1000 container_killed_eip_seconds s
        line nat_recovery_1000 pod_deleted_seconds s "<" 1
        line nat_recovery_1000 pod_deleted_old_pod_gone_seconds s
        line nat_recovery_1000 pod_deleted_new_pod_seconds s
        line nat_recovery_1000 pod_deleted_annotated_seconds s
        line nat_recovery_1000 pod_deleted_pod_running_seconds s
        line nat_recovery_1000 pod_deleted_agent_started_seconds s
        line nat_recovery_1000 pod_deleted_after_agent_start_seconds s
        line nat_recovery_1000 settle_seconds s
    fi
    local busy
    busy=$(sort -u "$WORK/busy" | grep -c . || true)
    if ((busy == 0)); then
        echo "# quiet: no other cargo/rustc process seen during the measurements ($(secs_since "$t_meas") s, 1 s sampler)"
    else
        echo "# NOT quiet: other cargo/rustc processes alive in $busy of $(secs_since "$t_meas") s of measurements"
    fi
    echo "# total wall time $(secs_since "$t_all") s"
}

main "$@"

# shellcheck shell=bash
# lib.sh: helpers shared by the testbed scripts (sourced; the caller defines log, WAIT and,
# for stop_pidfiles, STOP_WAIT).

# Running and not a zombie.
pid_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# Prints the pid recorded in PIDFILE if that process is alive and was started with
# --pidfile=PIDFILE (guards against pid reuse).
pidfile_pid() {
    local pf=$1 pid
    [[ -s $pf ]] || return 1
    pid=$(tr -dc '0-9' <"$pf")
    [[ -n $pid ]] || return 1
    pid_alive "$pid" || return 1
    local args
    args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    grep -qxF -- "--pidfile=$pf" <<<"$args" || return 1
    echo "$pid"
}

# Bounded wait: wait_until DESC CMD... (polls every 50 ms for WAIT s)
wait_until() {
    local desc=$1 i
    shift
    for ((i = 0; i < WAIT * 20; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    log "timed out after ${WAIT}s waiting for: $desc"
    return 1
}

# TERM every live process of the given pidfiles, wait up to STOP_WAIT s, then KILL.
stop_pidfiles() {
    local pf pid i left
    local -a pids=()
    for pf in "$@"; do
        if pid=$(pidfile_pid "$pf"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for ((i = 0; i < STOP_WAIT * 20; i++)); do
        left=0
        for pid in "${pids[@]}"; do pid_alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.05
    done
    for pid in "${pids[@]}"; do
        if pid_alive "$pid"; then
            log "pid $pid ignored TERM for ${STOP_WAIT}s: KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for ((i = 0; i < 40; i++)); do
        left=0
        for pid in "${pids[@]}"; do pid_alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.05
    done
    rm -f -- "$@"
}

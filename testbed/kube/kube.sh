#!/usr/bin/env bash
# kube.sh: run the testbed Kubernetes API server (apiserver.py, the entry point of kubeapi/) in a
# scratch directory, with a throwaway CA, a server certificate for 127.0.0.1, a random bearer
# token and a kubeconfig.
# Nothing global: no fixed ports, everything in DIR. Usage: see usage() or testbed/README.md.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
PY=/usr/bin/python3       # Debian's interpreter (the python3 first on PATH may be another one)
WAIT=${KUBE_SH_WAIT:-10}  # seconds, bound of every wait loop
STOP_WAIT=5               # seconds between TERM and KILL
MAX_DIR_LEN=200

D=""
OK=0
STARTED=""  # pidfile of a server started by this invocation (stopped again on failure)
PID=""

usage() {
    cat >&2 <<'EOF'
usage: kube.sh start DIR [--crds CRD_DIR]... [--http] [apiserver.py flags...]
       kube.sh stop DIR
       kube.sh restart DIR   (same port, certificates, token and flags; the state is lost)
apiserver.py flags: --nodes node-1,node-2  --pod-cidr 10.16.0.0/16  --history N
  --bookmark-interval S  --watch-timeout S  --expired-mode status|event  --no-kubelet  --quiet
EOF
    exit 2
}

die() { echo "kube.sh: $*" >&2; exit 1; }
# shellcheck source=testbed/lib.sh
source "$HERE/../lib.sh"
log() { echo "kube.sh: $*" >&2; }

set_dir() { # set_dir DIR CREATE(0|1)
    local dir=$1
    if [[ $2 == 1 ]]; then mkdir -p -- "$dir"; fi
    [[ -d $dir ]] || die "no such directory: $dir"
    D=$(cd -- "$dir" && pwd -P)
    [[ $D =~ ^[A-Za-z0-9._/+@-]+$ ]] ||
        die "directory path must match [A-Za-z0-9._/+@-]+ (used unquoted in DIR/env): $D"
    ((${#D} <= MAX_DIR_LEN)) || die "directory path too long (${#D} > $MAX_DIR_LEN bytes): $D"
}



stop_pid() { # TERM, wait up to STOP_WAIT s, KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_WAIT * 20; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.05
    done
    log "pid $pid ignored TERM for ${STOP_WAIT}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.05
    done
    log "pid $pid still alive after KILL"
    return 1
}


fail() {
    log "FAILED: $1"
    if [[ -f $D/apiserver.log ]]; then
        echo "---- tail $D/apiserver.log" >&2
        tail -n 30 "$D/apiserver.log" >&2 || true
    fi
    cleanup_started
    exit 1
}

cleanup_started() {
    local pid
    if [[ -n $STARTED ]] && pid=$(pidfile_pid "$STARTED"); then stop_pid "$pid" || true; fi
    if [[ -n $STARTED ]]; then rm -f -- "$STARTED"; fi
    STARTED=""
}

on_exit() {
    local rc=$?
    if ((rc != 0 && OK == 0)); then cleanup_started; fi
}
trap on_exit EXIT

make_pki() { # CA + server certificate (EC P-256) with subjectAltName IP:127.0.0.1
    local p=$D/pki out
    rm -rf -- "$p"
    mkdir -p -- "$p"
    out=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
        -subj "/CN=ovn-vpcd testbed kube CA" -keyout "$p/ca-key.pem" -out "$p/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>&1) ||
        fail "openssl CA: $out"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$p/server-ext.cnf"
    out=$(openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=kube-apiserver" \
        -keyout "$p/server-key.pem" -out "$p/server.csr" 2>&1 &&
        openssl x509 -req -in "$p/server.csr" -CA "$p/ca.pem" -CAkey "$p/ca-key.pem" -CAcreateserial \
            -days 7 -extfile "$p/server-ext.cnf" -out "$p/server.pem" 2>&1) || fail "openssl server cert: $out"
    chmod 600 "$p"/*-key.pem
}

ready() { # /readyz answers over TLS with our CA
    local port
    port=$(tr -dc '0-9' <"$D/apiserver.port" 2>/dev/null) || return 1
    [[ -n $port ]] || return 1
    curl -fsS --max-time 2 --cacert "$D/pki/ca.pem" "https://127.0.0.1:$port/readyz" >/dev/null
}

# launch PORT HTTP_PORT(-: none) ARGS...: start apiserver.py detached, wait for /readyz; sets PID
launch() {
    local port=$1 http_port=$2 i child
    shift 2
    local -a args=("--port=$port" "--cert=$D/pki/server.pem" "--key=$D/pki/server-key.pem"
        "--token-file=$D/token" "--port-file=$D/apiserver.port" "--pidfile=$D/apiserver.pid")
    if [[ $http_port != - ]]; then args+=("--http-port=$http_port" "--http-port-file=$D/apiserver.http-port"); fi
    rm -f -- "$D"/apiserver.{pid,port,http-port}
    STARTED=$D/apiserver.pid
    # detached: own session, no terminal, output appended to the log
    setsid "$PY" "$HERE/apiserver.py" "${args[@]}" "$@" </dev/null >>"$D/apiserver.log" 2>&1 &
    child=$!
    for ((i = 0; i < WAIT * 20; i++)); do
        if pidfile_pid "$D/apiserver.pid" >/dev/null; then break; fi
        pid_alive "$child" || fail "apiserver.py exited during start"
        sleep 0.05
    done
    PID=$(pidfile_pid "$D/apiserver.pid") || fail "apiserver.py wrote no pidfile within ${WAIT}s"
    wait_until "/readyz on https" ready || fail "apiserver.py not answering on https"
}

write_env() { # write_env PORT HTTP_PORT(-: none)
    {
        echo "KUBE_DIR=$D"
        echo "KUBE_URL=https://127.0.0.1:$1"
        echo "KUBE_PORT=$1"
        echo "KUBECONFIG=$D/kubeconfig"
        echo "KUBE_TOKEN_FILE=$D/token"
        echo "KUBE_CA=$D/pki/ca.pem"
        echo "KUBE_PID=$PID"
        if [[ $2 != - ]]; then echo "KUBE_HTTP_URL=http://127.0.0.1:$2"; fi
    } >"$D/env.tmp"
    mv -f -- "$D/env.tmp" "$D/env"
}

cmd_start() {
    local t0 a port http=0 token ca_b64 http_port=-
    t0=$(date +%s%N)
    [[ $# -ge 1 ]] || usage
    set_dir "$1" 1
    shift
    local -a extra=()
    while (($#)); do
        a=$1
        shift
        case $a in
            --crds)
                (($#)) || usage
                [[ -d $1 ]] || die "--crds $1: not a directory"
                extra+=("--crds=$(cd -- "$1" && pwd -P)")
                shift
                ;;
            --crds=*)
                [[ -d ${a#--crds=} ]] || die "$a: not a directory"
                extra+=("--crds=$(cd -- "${a#--crds=}" && pwd -P)")
                ;;
            --http) http=1 ;;
            --port | --port=* | --http-port | --http-port=* | --cert* | --key* | --token-file* | --pidfile* | --port-file* | --http-port-file*)
                die "$a is set by kube.sh itself"
                ;;
            *) extra+=("$a") ;;
        esac
    done
    if pidfile_pid "$D/apiserver.pid" >/dev/null; then
        die "an apiserver is already running in $D: run '$0 stop $D' first"
    fi
    command -v openssl >/dev/null || die "openssl not found"
    command -v curl >/dev/null || die "curl not found"
    [[ -x $PY ]] || die "$PY not found"

    rm -f -- "$D"/apiserver.{pid,port,http-port,log,args} "$D"/{kubeconfig,env,env.tmp,token}
    make_pki
    token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (umask 077 && printf '%s\n' "$token" >"$D/token")
    if ((${#extra[@]})); then printf '%s\n' "${extra[@]}" >"$D/apiserver.args"; else : >"$D/apiserver.args"; fi

    if ((http)); then http_port=0; fi
    launch 0 "$http_port" "${extra[@]}"
    port=$(tr -dc '0-9' <"$D/apiserver.port")
    if ((http)); then http_port=$(tr -dc '0-9' <"$D/apiserver.http-port"); fi

    ca_b64=$(base64 -w0 <"$D/pki/ca.pem")
    (
        umask 077
        cat >"$D/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $ca_b64
users:
- name: testbed
  user:
    token: $token
contexts:
- name: testbed
  context:
    cluster: testbed
    user: testbed
    namespace: default
current-context: testbed
EOF
    )
    write_env "$port" "$http_port"
    OK=1
    log "apiserver pid $PID on https://127.0.0.1:$port in $D ($((($(date +%s%N) - t0) / 1000000)) ms); source $D/env"
}

cmd_restart() {
    [[ $# -eq 1 ]] || usage
    set_dir "$1" 0
    local pid port http_port t0
    t0=$(date +%s%N)
    [[ -f $D/env && -f $D/apiserver.args && -f $D/token && -f $D/pki/server.pem ]] ||
        die "$D was not set up by '$0 start'"
    port=$(sed -n 's/^KUBE_PORT=//p' "$D/env")
    [[ -n $port ]] || die "$D/env has no KUBE_PORT"
    http_port=$(sed -n 's|^KUBE_HTTP_URL=http://127.0.0.1:||p' "$D/env")
    [[ -n $http_port ]] || http_port=-
    if pid=$(pidfile_pid "$D/apiserver.pid"); then stop_pid "$pid" || die "could not stop pid $pid"; fi
    local -a extra=()
    mapfile -t extra <"$D/apiserver.args"
    launch "$port" "$http_port" "${extra[@]}"
    write_env "$port" "$http_port"
    OK=1
    log "apiserver restarted: pid $PID on https://127.0.0.1:$port ($((($(date +%s%N) - t0) / 1000000)) ms); its state is fresh"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    if [[ ! -d $1 ]]; then OK=1; return 0; fi
    set_dir "$1" 0
    local pid
    if pid=$(pidfile_pid "$D/apiserver.pid"); then stop_pid "$pid" || die "could not stop pid $pid"; fi
    rm -f -- "$D/apiserver.pid"
    OK=1
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart) cmd_restart "$@" ;;
        *) usage ;;
    esac
}

main "$@"

#!/bin/sh
# container.sh SA_DIR CAPS ARGV...: the last step of starting a container (or an exec into one),
# run by the node agent as `setpriv --pdeathsig KILL -- ip netns exec NS sh container.sh ...`.
# `ip netns exec` has already given this process a mount namespace of its own (mounts below are
# seen by it and its children only, never by the host or another container).
# - SA_DIR (empty: none): the pod's token directory. A tmpfs goes over /run (/var/run is a link
#   to it) in this mount namespace, so the host's /run is neither written nor seen, and SA_DIR is
#   bind-mounted read-only at /run/secrets/kubernetes.io/serviceaccount.
# - CAPS: `all` (the process keeps every capability of root), `only:` followed by a comma list
#   (possibly empty) of capability names: the bounding and inheritable sets are cut to it
#   before ARGV runs, so ARGV (as root) has exactly those capabilities; or `all-but:` a list:
#   every capability but those.
set -e
sa=$1
caps=$2
shift 2
if [ -n "$sa" ]; then
    mount -t tmpfs -o mode=0755,size=4m container-run /run
    mkdir -p /run/secrets/kubernetes.io/serviceaccount
    mount --bind "$sa" /run/secrets/kubernetes.io/serviceaccount
    mount -o remount,bind,ro /run/secrets/kubernetes.io/serviceaccount
fi
case $caps in
all) exec "$@" ;;
all-but:*) exec setpriv --pdeathsig KILL --inh-caps=-all --bounding-set="-$(echo "${caps#all-but:}" | sed 's/,/,-/g')" -- "$@" ;;
only:) exec setpriv --pdeathsig KILL --inh-caps=-all --bounding-set=-all -- "$@" ;;
only:*) exec setpriv --pdeathsig KILL --inh-caps=-all --bounding-set="-all,+$(echo "${caps#only:}" | sed 's/,/,+/g')" -- "$@" ;;
*) echo "container.sh: bad CAPS $caps" >&2; exit 126 ;;
esac

#!/usr/bin/env bash
# install.sh: install the testbed's Debian packages if missing (idempotent, fast when done).
set -euo pipefail

PACKAGES=(ovn-central ovn-host openvswitch-switch iptables iproute2 tcpdump iputils-ping conntrack arping busybox
    python3-ovsdbapp openssl curl systemd)

missing=()
for p in "${PACKAGES[@]}"; do
    st=$(dpkg -s "$p" 2>/dev/null) || st=""
    if [[ $st != *$'\nStatus: install ok installed'* ]]; then missing+=("$p"); fi
done

# kubectl: any package that provides it will do (Debian's is kubernetes-client).
if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi

if ((${#missing[@]})); then
    echo "install.sh: installing: ${missing[*]}" >&2
    sudo=()
    if ((EUID != 0)); then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q "${missing[@]}"
else
    echo "install.sh: all packages present" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: ERROR: cargo not found on PATH (install Rust via rustup, or add ~/.cargo/bin to PATH)" >&2
    exit 1
fi

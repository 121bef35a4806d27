#!/usr/bin/env bash
# Installs the Debian packages vpcctl, its demo and its tests need, if missing.
set -euo pipefail
pkgs=(openvswitch-switch iproute2 iptables iputils-ping iperf3 ethtool curl python3 procps tcpdump util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "go is required (https://go.dev/dl)"; exit 1; }

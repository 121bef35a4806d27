#!/usr/bin/env bash
# TCP throughput between two namespaces: through vpcctl's bridge, next to a
# direct veth pair and a Linux bridge measured in the same run, as ratios.
# Every namespace and link it makes has a unique prefix and is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/vpcctl}
SECS=${SECS:-5}
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
p="vb$id"                   # prefix of everything this run makes
br="bb$id"                  # vpcctl bridge
tmp=$(mktemp -d)
cleanup() {
  "$BIN" destroy -f "$tmp/topo.yaml" >/dev/null 2>&1 || true
  [ -f "$tmp/inet.yaml" ] && "$BIN" destroy -f "$tmp/inet.yaml" >/dev/null 2>&1 || true
  for ns in "${p}a" "${p}b" "${p}c" "${p}d" "${p}e" "${p}f"; do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "${p}br" 2>/dev/null || true
  ovs-vsctl --if-exists del-br "${p}ob" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# iperf3 server in ns $1 on address $2, client in ns $3; prints Gbit/s.
measure() {
  ip netns exec "$1" timeout $((SECS + 15)) iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  local out
  out=$(ip netns exec "$3" timeout $((SECS + 10)) iperf3 -c "$2" -t "$SECS" -J)
  wait $spid || true
  python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' <<<"$out"
}

"$BIN" ovs up >/dev/null

# 1. Direct veth pair: the limit.
ip netns add "${p}a"; ip netns add "${p}b"
ip link add "${p}x" netns "${p}a" type veth peer name "${p}y" netns "${p}b"
ip -n "${p}a" addr add 10.78.0.1/24 dev "${p}x"; ip -n "${p}a" link set "${p}x" up
ip -n "${p}b" addr add 10.78.0.2/24 dev "${p}y"; ip -n "${p}b" link set "${p}y" up
veth=$(measure "${p}a" 10.78.0.1 "${p}b")

# 2. Linux bridge (no address on the host side, no forwarding).
ip netns add "${p}c"; ip netns add "${p}d"
ip link add "${p}br" type bridge; ip link set "${p}br" up
for n in c d; do
  ip link add "${p}${n}h" type veth peer name eth0 netns "${p}${n}"
  ip link set "${p}${n}h" master "${p}br" up
done
ip -n "${p}c" addr add 10.79.0.1/24 dev eth0; ip -n "${p}c" link set eth0 up
ip -n "${p}d" addr add 10.79.0.2/24 dev eth0; ip -n "${p}d" link set eth0 up
lbr=$(measure "${p}c" 10.79.0.1 "${p}d")

# 3. A plain OVS bridge on the same OVS (NORMAL action: no pipeline, no conntrack).
ovs-vsctl add-br "${p}ob" -- set bridge "${p}ob" datapath_type=netdev
for n in e f; do
  ip netns add "${p}${n}"
  ip link add "${p}${n}h" type veth peer name eth0 netns "${p}${n}"
  ip link set "${p}${n}h" up
  ovs-vsctl add-port "${p}ob" "${p}${n}h"
done
ip -n "${p}e" addr add 10.80.0.1/24 dev eth0; ip -n "${p}e" link set eth0 up
ip -n "${p}f" addr add 10.80.0.2/24 dev eth0; ip -n "${p}f" link set eth0 up
normal=$(measure "${p}e" 10.80.0.1 "${p}f")

# 4. vpcctl: same subnet and routed, through the whole pipeline with security
# groups (conntrack) and, across subnets, a network ACL.
sed "s/BRIDGE/$br/" bench/two-instances.yaml > "$tmp/topo.yaml"
"$BIN" apply -f "$tmp/topo.yaml" >/dev/null
vpc=$(measure "vpcctl.$br.srv" 10.77.1.10 "vpcctl.$br.cli")
# 5. The same routed path with security off: one extra flow sends IP packets
# from ConntrackLookup straight to Output, skipping the conntrack, NACL and SG
# stages (Classifier, PortSecurity, L3Forwarding and L2Lookup unchanged).
# On and off alternate three times each; the medians are compared, since one
# 5 s run on a small machine varies by +-15%.
bypass="table=ConntrackLookup,priority=65000,ip"
on=(); off=()
for _ in 1 2 3; do
  on+=("$(measure "vpcctl.$br.srv" 10.77.1.10 "vpcctl.$br.far")")
  ovs-ofctl -O OpenFlow13 add-flow "$br" "$bypass,actions=goto_table:Output"
  off+=("$(measure "vpcctl.$br.srv" 10.77.1.10 "vpcctl.$br.far")")
  hits=$(ovs-ofctl -O OpenFlow13 dump-flows "$br" "table=ConntrackLookup" | grep priority=65000 | grep -o 'n_packets=[0-9]*' | cut -d= -f2)
  [ "${hits:-0}" -gt 1000 ] || { echo "bypass flow not used ($hits packets)" >&2; exit 1; }
  ovs-ofctl -O OpenFlow13 del-flows --strict "$br" "$bypass"
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
routed=$(median "${on[@]}"); nosec=$(median "${off[@]}")

# 6. Out to the simulated internet: through the NAT gateway and from an
# elastic IP (source NAT in conntrack's NAT zone, on top of the SG zone).
sed "s/BRIDGE/${br}n/" bench/internet.yaml > "$tmp/inet.yaml"
"$BIN" apply -f "$tmp/inet.yaml" >/dev/null
natgw=$(measure "vpcctl.${br}n.inet" 203.0.113.100 "vpcctl.${br}n.priv")
eip=$(measure "vpcctl.${br}n.inet" 203.0.113.100 "vpcctl.${br}n.pub")
"$BIN" destroy -f "$tmp/inet.yaml" >/dev/null

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "TCP throughput, iperf3 ${SECS}s, $(date -u +%F), $(nproc) cores, kernel $(uname -r)"
printf '%-40s %8s Gbit/s\n' "direct veth pair" "$veth" "Linux bridge" "$lbr" \
  "OVS bridge, NORMAL action" "$normal" \
  "vpcctl, same subnet, SGs" "$vpc" "vpcctl, routed, SGs + NACL (median)" "$routed" \
  "vpcctl, routed, security off (median)" "$nosec" \
  "vpcctl, private -> NAT gateway -> host" "$natgw" "vpcctl, elastic IP -> host" "$eip"
echo "ratio vpcctl same subnet / veth pair:    $(ratio "$vpc" "$veth")"
echo "ratio vpcctl same subnet / Linux bridge: $(ratio "$vpc" "$lbr")"
echo "ratio vpcctl routed / Linux bridge:      $(ratio "$routed" "$lbr")   (target >= 0.5)"
echo "ratio vpcctl routed+SGs / OVS NORMAL:    $(ratio "$routed" "$normal")"
echo "ratio vpcctl routed, SGs on / off:       $(ratio "$routed" "$nosec")   (target >= 0.8)"
echo "ratio NAT gateway / routed inside VPC:   $(ratio "$natgw" "$routed")"
echo
# Flow logs (accept+reject) on vs off, routed, same run.
./scripts/bench-flowlogs.sh
echo
# Control plane: 100 VPCs x 10 subnets x 10 instances' flows, next to ovs-ofctl.
go run ./bench/flowscale
echo
# Control plane at scale: 1,000 instances from nothing to reachable, next to
# a shell loop of ip + ovs-vsctl; one instance added; destroy.
./scripts/bench-instances.sh
echo; ATTACH=trunk ./scripts/bench-instances.sh
echo; ./scripts/bench-ports.sh   # per-port cost: throughput vs idle instances/ports on the switch (2..1,000), vpcctl, NORMAL, Linux bridge
echo; ./scripts/bench-ovn.sh     # vpcctl vs OVN 23.03 (own OVS each, runs interleaved, pairs of port kinds): same subnet, routed, NAT; Linux reference; skipped with a reason if OVN cannot be installed
echo; ./scripts/bench-multihost.sh # several hosts (3 simulated): cross-host TCP next to the underlay veth and one host; 30 instances from publish (agents) and from per-host apply to reachable

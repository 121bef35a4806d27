#!/usr/bin/env bash
# Per-port cost of the userspace datapath: TCP throughput (iperf3) and ping
# RTT between two namespaces while the switch holds N idle ports, for
# (a) vpcctl, routed between two subnets of one VPC through security groups
#     (N instances, the two measured ones included), each instance its own
#     OVS port (attach: veth),
# (t) the same with attach: trunk (one OVS port for all the instances),
# (b) a plain OVS bridge (datapath_type=netdev, NORMAL action) with N-2 idle
#     veth ports plus the two namespaces, same subnet,
# (c) a Linux bridge with N-2 idle veths plus the two namespaces,
# built one after the other (never at once: every port of one ovs-vswitchd
# slows all its bridges), each removed before the next.
#
# OVS=private (default): an ovsdb-server + ovs-vswitchd of this run (userspace
# TSO on) in a network namespace of its own, so that other bridges of the
# machine's OVS do not count; (a), (b) and (c) all live in it. OVS=shared: the
# machine's OVS and the host namespace (its other ports are then counted too:
# the output says how many).
# Env: NS (the N values, default "2 50 200 1000"), SECS (iperf3 seconds, 5),
# RUNS (iperf3 runs per cell, median; 3), PINGS (pings per cell, 20).
# Everything it makes has a unique prefix and is removed on exit (failure too).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin/vpcctl}
NS=${NS:-"2 50 200 1000"}
SECS=${SECS:-5}
RUNS=${RUNS:-3}
PINGS=${PINGS:-20}
OVS=${OVS:-private}
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
p="bp$id"          # prefix of every namespace, link and bridge of this run
hns="${p}h"        # private mode: the namespace holding the OVS and the host ends
br="${p}v"         # vpcctl bridge
ob="${p}o"         # plain OVS bridge
lb="${p}l"         # Linux bridge
tmp=$(mktemp -d)
seen=" "
for n in $NS; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ "$n" -le 4000 ] || { echo "NS: each N must be 2..4000 (got $n)" >&2; exit 2; }
  [[ "$seen" != *" $n "* ]] || { echo "NS: $n twice" >&2; exit 2; }
  seen="$seen$n "
done

H=()               # prefix of commands that must run in the "host" namespace
case "$OVS" in
  private)
    rundir="$tmp/ovs"
    H=(nsenter "--net=/var/run/netns/$hns")  # net only: namespaces vpcctl mounts must stay visible
    export OVS_RUNDIR="$rundir" OVS_LOGDIR="$rundir" OVS_DBDIR="$rundir"
    export VPCCTL_OVSDB="unix:$rundir/db.sock" VPCCTL_OVS_RUNDIR="$rundir"
    db="--db=unix:$rundir/db.sock" ;;
  shared) db="--db=unix:/var/run/openvswitch/db.sock" ;;
  *) echo "OVS must be private or shared" >&2; exit 2 ;;
esac
vsctl() { "${H[@]}" ovs-vsctl "$db" --timeout=120 "$@"; }

# Removes what one stage made (idle links, its two namespaces, bridges).
teardown() {
  if [ -f "$tmp/topo.yaml" ]; then "${H[@]}" "$BIN" destroy -f "$tmp/topo.yaml" >/dev/null 2>&1 || true; rm -f "$tmp/topo.yaml"; fi
  for ns in $(ip netns list | awk -v p="vpcctl.$br." 'index($1, p) == 1 {print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  vsctl --if-exists del-br "$ob" >/dev/null 2>&1 || true
  for ns in "${p}a" "${p}b"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -s "$tmp/links" ]; then
    sed 's/^/link del /' "$tmp/links" > "$tmp/del.batch"
    "${H[@]}" ip -force -batch "$tmp/del.batch" >/dev/null 2>&1 || true
  fi
  : > "$tmp/links"
  "${H[@]}" ip link del "$lb" 2>/dev/null || true
  "${H[@]}" ip link del "${p}ax" 2>/dev/null || true
  "${H[@]}" ip link del "${p}bx" 2>/dev/null || true
}
stopovs() {
  local d pid
  for d in ovs-vswitchd ovsdb-server; do
    pid=$(cat "$rundir/$d.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
cleanup() {
  set +e
  teardown
  if [ "$OVS" = private ]; then
    stopovs
    ip netns del "$hns" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
: > "$tmp/links"

startovs() {
  mkdir -p "$rundir"
  ip netns add "$hns"
  ip -n "$hns" link set lo up
  ovsdb-tool create "$rundir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ip netns exec "$hns" ovsdb-server "$rundir/conf.db" --remote="punix:$rundir/db.sock" \
    --pidfile="$rundir/ovsdb-server.pid" --unixctl="$rundir/ovsdb-server.ctl" \
    --log-file="$rundir/ovsdb-server.log" --detach --no-chdir -vconsole:off
  vsctl --no-wait init
  vsctl --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
  ip netns exec "$hns" ovs-vswitchd "unix:$rundir/db.sock" --pidfile="$rundir/ovs-vswitchd.pid" \
    --log-file="$rundir/ovs-vswitchd.log" --detach --no-chdir -vconsole:off
}

# Idle veths: K pairs ${p}iK / ${p}jK, both ends in the host namespace, up,
# IPv6 off (no DAD, MLD or RS: idle means no packet at all). Prints the
# ${p}i names (the ends a bridge gets), one per line.
idle() { # idle COUNT
  local k
  : > "$tmp/add.batch"; : > "$tmp/up.batch"
  for ((k = 0; k < $1; k++)); do
    echo "link add ${p}i$k type veth peer name ${p}j$k" >> "$tmp/add.batch"
    echo "link set ${p}i$k up" >> "$tmp/up.batch"; echo "link set ${p}j$k up" >> "$tmp/up.batch"
    echo "${p}i$k" >> "$tmp/links"
  done
  [ "$1" -gt 0 ] || return 0
  "${H[@]}" ip -batch "$tmp/add.batch"
  "${H[@]}" sh -c 'for l in $(seq 0 $(($2 - 1))); do
      echo 1 > /proc/sys/net/ipv6/conf/$1i$l/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/$1j$l/disable_ipv6
    done' sh "$p" "$1"
  "${H[@]}" ip -batch "$tmp/up.batch"
}

# Two namespaces ${p}a (10.81.0.1) and ${p}b (10.81.0.2), eth0 each; host
# ends ${p}ax / ${p}bx.
pair() {
  local n a=1
  for n in a b; do
    ip netns add "${p}$n"
    "${H[@]}" ip link add "${p}${n}x" type veth peer name eth0 netns "${p}$n"
    "${H[@]}" sh -c "echo 1 > /proc/sys/net/ipv6/conf/${p}${n}x/disable_ipv6"
    ip -n "${p}$n" addr add "10.81.0.$a/24" dev eth0
    ip -n "${p}$n" link set eth0 up; ip -n "${p}$n" link set lo up
    "${H[@]}" ip link set "${p}${n}x" up
    a=$((a + 1))
  done
}

# iperf3: server in ns $1 on $2, client in ns $3; RUNS runs, prints the
# median Gbit/s. A run that fails counts as 0.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
iperf() {
  local r out spid vals=()
  for ((r = 0; r < RUNS; r++)); do
    ip netns exec "$1" timeout $((SECS + 20)) iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
    spid=$!
    sleep 0.5
    out=$(ip netns exec "$3" timeout $((SECS + 15)) iperf3 -c "$2" -t "$SECS" -J 2>/dev/null) || true
    wait "$spid" 2>/dev/null || true
    vals+=("$(python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    print("%.2f" % (0 if d.get("error") else d["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("0")' <<<"$out")")
  done
  echo "per-run Gbit/s: ${vals[*]}" >&2
  median "${vals[@]}"
}
# ping from ns $1 to $2: PINGS pings 50 ms apart (first ones answered or not),
# prints the average RTT in ms ("-" if none answered).
rtt() {
  ip netns exec "$1" ping -c 3 -W 2 -q "$2" >/dev/null 2>&1 || true   # ARP, first upcalls
  ip netns exec "$1" timeout $((PINGS / 10 + 15)) ping -c "$PINGS" -i 0.05 -W 2 -q "$2" 2>/dev/null |
    awk -F/ '/^rtt|^round-trip/ {printf "%.2f\n", $5; f=1} END {if (!f) print "-"}'
}
# Time of one `ovs-vsctl add-port` (it waits for ovs-vswitchd) of a fresh
# veth to bridge $1, then removed again.
addport() {
  local t0 t
  "${H[@]}" ip link add "${p}zx" type veth peer name "${p}zy"
  "${H[@]}" ip link set "${p}zx" up
  t0=$(date +%s.%N)
  vsctl add-port "$1" "${p}zx"
  t=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))")
  vsctl del-port "$1" "${p}zx"
  "${H[@]}" ip link del "${p}zx"
  echo "$t"
}
# Ports of every bridge on this ovs-vswitchd (shared mode: others' too).
allports() { vsctl list-br | while read -r b; do vsctl list-ports "$b"; done | wc -l; }

# vpcctl topology: VPC 10.82.0.0/16, subnets a (10.82.0.0/20, the server) and
# b (10.82.16.0/20, the client), both in group "bench" (tcp 5201 and icmp from
# the group); N-2 idle instances alternate between the subnets, no group.
topo() { # topo N FILE [ATTACH]
  local i h a=${3:-veth}
  { echo "version: 1"; echo "bridge: $br"; echo "vpcs:"
    echo "  - name: ports"; echo "    cidr: 10.82.0.0/16"; echo "    subnets:"
    echo "      - {name: a, cidr: 10.82.0.0/20}"; echo "      - {name: b, cidr: 10.82.16.0/20}"
    echo "    security_groups:"; echo "      - name: bench"; echo "        ingress:"
    echo "          - {protocol: tcp, ports: \"5201\", source_group: bench}"
    echo "          - {protocol: icmp, source_group: bench}"
    echo "    instances:"
    echo "      - {name: srv, subnet: a, ip: 10.82.0.10, security_groups: [bench], attach: $a}"
    echo "      - {name: cli, subnet: b, ip: 10.82.16.10, security_groups: [bench], attach: $a}"
    for ((i = 0; i < $1 - 2; i++)); do
      h=$((20 + i / 2))
      echo "      - {name: i$i, subnet: $([ $((i % 2)) -eq 0 ] && echo a || echo b), ip: 10.82.$(( (i % 2) * 16 + h / 256 )).$(( h % 256 )), attach: $a}"
    done
  } > "$2"
}

now() { date +%s.%N; }
ratio() { python3 -c "import sys
a, b = sys.argv[1], sys.argv[2]
try: print('%.2f' % (float(a) / float(b)))
except Exception: print('-')" "$1" "$2"; }

if [ "$OVS" = private ]; then startovs; else "$BIN" ovs up >/dev/null; fi
load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A V VR NO NR LX LR VA NA BUILD T TR TBUILD
for n in $NS; do
  # (a) vpcctl
  topo "$n" "$tmp/topo.yaml"
  t0=$(now)
  "${H[@]}" "$BIN" apply -f "$tmp/topo.yaml" >/dev/null
  BUILD[$n]=$(python3 -c "print('%.1f' % ($(now) - $t0))")
  others=$(( $(allports) - n ))
  echo "N=$n vpcctl: applied in ${BUILD[$n]} s (ports on this ovs-vswitchd besides: $others)" >&2
  VR[$n]=$(rtt "vpcctl.$br.cli" 10.82.0.10)
  V[$n]=$(iperf "vpcctl.$br.srv" 10.82.0.10 "vpcctl.$br.cli")
  VA[$n]=$(addport "$br")
  echo "N=$n vpcctl: ${V[$n]} Gbit/s, rtt ${VR[$n]} ms, add-port ${VA[$n]} s" >&2
  teardown
  # (t) vpcctl, attach: trunk
  topo "$n" "$tmp/topo.yaml" trunk
  t0=$(now)
  "${H[@]}" "$BIN" apply -f "$tmp/topo.yaml" >/dev/null
  TBUILD[$n]=$(python3 -c "print('%.1f' % ($(now) - $t0))")
  echo "N=$n vpcctl trunk: applied in ${TBUILD[$n]} s (OVS ports: $(allports))" >&2
  TR[$n]=$(rtt "vpcctl.$br.cli" 10.82.0.10)
  T[$n]=$(iperf "vpcctl.$br.srv" 10.82.0.10 "vpcctl.$br.cli")
  echo "N=$n vpcctl trunk: ${T[$n]} Gbit/s, rtt ${TR[$n]} ms" >&2
  teardown
  # (b) plain OVS bridge, NORMAL action
  vsctl add-br "$ob" -- set bridge "$ob" datapath_type=netdev
  idle $((n - 2))
  pair
  args=()
  while read -r l; do args+=(-- add-port "$ob" "$l"); done < "$tmp/links"
  args+=(-- add-port "$ob" "${p}ax" -- add-port "$ob" "${p}bx")
  vsctl "${args[@]}"
  NR[$n]=$(rtt "${p}b" 10.81.0.1)
  NO[$n]=$(iperf "${p}a" 10.81.0.1 "${p}b")
  NA[$n]=$(addport "$ob")
  echo "N=$n NORMAL: ${NO[$n]} Gbit/s, rtt ${NR[$n]} ms, add-port ${NA[$n]} s" >&2
  teardown
  # (c) Linux bridge
  "${H[@]}" ip link add "$lb" type bridge
  "${H[@]}" ip link set "$lb" up
  idle $((n - 2))
  pair
  sed "s/^/link set /; s/\$/ master $lb/" "$tmp/links" > "$tmp/master.batch"
  echo "link set ${p}ax master $lb" >> "$tmp/master.batch"; echo "link set ${p}bx master $lb" >> "$tmp/master.batch"
  "${H[@]}" ip -batch "$tmp/master.batch"
  LR[$n]=$(rtt "${p}b" 10.81.0.1)
  LX[$n]=$(iperf "${p}a" 10.81.0.1 "${p}b")
  echo "N=$n Linux bridge: ${LX[$n]} Gbit/s, rtt ${LR[$n]} ms" >&2
  teardown
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

first=${NS%% *}
echo "Throughput vs idle ports on the switch: iperf3 TCP ${SECS}s (median of $RUNS), ping avg of $PINGS, $(date -u '+%F %H:%M') UTC,"
echo "$(nproc) cores, kernel $(uname -r), $(ovs-vswitchd --version | head -1), OVS=$OVS, load average before/after: $load0 / $load1"
echo "vpcctl: routed between two subnets, security groups (conntrack), a port per instance (veth) or one trunk for all;"
echo "NORMAL, Linux bridge: same subnet; ratios xN2 = to its own N=$first value"
printf '%5s | %7s %6s %7s %5s | %7s %6s %7s %5s | %7s %6s %7s | %7s %6s %7s | %8s %8s %8s | %6s %6s\n' \
  N vpcctl xN2 "rtt ms" "apply" trunk xN2 "rtt ms" "apply" NORMAL xN2 "rtt ms" Linux xN2 "rtt ms" vpc/Lin trunk/Lin NORM/Lin "add-p" "add-p"
printf '%5s | %7s %6s %7s %5s | %7s %6s %7s %5s | %7s %6s %7s | %7s %6s %7s | %8s %8s %8s | %6s %6s\n' \
  "" Gbit/s "" "" s Gbit/s "" "" s Gbit/s "" "" Gbit/s "" "" "" "" "" "vpc s" "NORM s"
for n in $NS; do
  printf '%5s | %7s %6s %7s %5s | %7s %6s %7s %5s | %7s %6s %7s | %7s %6s %7s | %8s %8s %8s | %6s %6s\n' "$n" \
    "${V[$n]}" "$(ratio "${V[$n]}" "${V[$first]}")" "${VR[$n]}" "${BUILD[$n]}" \
    "${T[$n]}" "$(ratio "${T[$n]}" "${T[$first]}")" "${TR[$n]}" "${TBUILD[$n]}" \
    "${NO[$n]}" "$(ratio "${NO[$n]}" "${NO[$first]}")" "${NR[$n]}" \
    "${LX[$n]}" "$(ratio "${LX[$n]}" "${LX[$first]}")" "${LR[$n]}" \
    "$(ratio "${V[$n]}" "${LX[$n]}")" "$(ratio "${T[$n]}" "${LX[$n]}")" "$(ratio "${NO[$n]}" "${LX[$n]}")" "${VA[$n]}" "${NA[$n]}"
done
last=${NS##* }
echo "vpcctl (veth)  at N=$last / N=$first: $(ratio "${V[$last]}" "${V[$first]}")"
echo "vpcctl (trunk) at N=$last / N=$first: $(ratio "${T[$last]}" "${T[$first]}")   (issue 14 target >= 0.8)"

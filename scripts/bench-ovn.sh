#!/usr/bin/env bash
# vpcctl next to OVN (23.03, Debian's ovn-central + ovn-host) on the same
# three paths, in one run, with a Linux reference measured in the same run:
#   same    two instances in one subnet, a stateful security group allowing
#           tcp 5201 and icmp from its members (OVN: port group with
#           allow-related ACLs, ingress from the group, all egress);
#   routed  two subnets of one VPC, same groups (OVN: two logical switches on
#           a logical router, same ACLs);
#   nat     an instance of a private subnet to a host on the simulated
#           internet (203.0.113.0/24) through a NAT gateway (OVN: SNAT on a
#           distributed gateway port of the same router, bound to this
#           chassis, towards an "external" logical switch without localnet
#           holding the internet host as a logical port).
# Linux reference: a Linux bridge between two namespaces (same); a router
# namespace (ip_forward=1 inside it only, iptables conntrack standing in for
# the groups) between two bridges (routed); the same router doing SNAT (nat).
#
# vpcctl and OVN each get an ovsdb-server + ovs-vswitchd of their own
# (userspace, TSO on, datapath_type=netdev) in a private network namespace of
# their own with its own run directory; OVN's NB and SB ovsdb-servers,
# ovn-northd and ovn-controller run in OVN's, with their run directory,
# pidfiles and logs in this run's temp dir. All three (vpcctl, OVN, Linux)
# are up at once and their iperf3 runs alternate (round r runs the three in
# a rotated order), so a change of load on the machine during the run hits
# them alike (an idle ovs-vswitchd costs the others nothing measurable); the
# ratios are of medians of the interleaved runs. OVN is
# installed with apt-get when missing; if that is impossible the comparison is
# skipped with a printed reason (exit 0). The Debian OVN services are never
# run: processes the install starts are stopped.
# Port kinds: PAIRS lists vpcctl attach kind : OVN port kind pairs, each
# measured as above (default "veth:veth internal:internal trunk:veth
# trunk:internal"; veth: as ovn-kubernetes binds pods; internal: an OVS internal port moved into the
# namespace, as OVN's tutorials bind namespaces; trunk: vpcctl's attachment
# for many instances), so the table separates what the pipeline does from
# what the port kind does.
# Congestion control: every pair is measured with each algorithm of CCS
# (default "cubic bbr", set on the iperf3 client's socket with -C, the same for
# vpcctl, OVN and Linux): a paced sender (bbr) hands ovs-vswitchd about one
# packet per main-loop iteration, an unpaced one (cubic, Debian's default)
# bursts of up to 32, and on a userspace datapath whose every iteration costs
# a fixed ~17 system calls that difference is larger than any of the
# pipeline's (README, Against OVN).
# Env: SECS (iperf3 seconds, 5), RUNS (runs per cell, median; 3), BIN, PAIRS, CCS.
# Every path is checked (ping) before it is timed; a path that does not work
# is FAILED in the table and the script exits 1 at the end.
# Everything it makes has a unique prefix and is removed on exit (failure too).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin/vpcctl}
SECS=${SECS:-5}
RUNS=${RUNS:-3}
PAIRS=${PAIRS:-veth:veth internal:internal trunk:veth trunk:internal}
CCS=${CCS:-cubic bbr}
for c in $CCS; do grep -qw -- "$c" /proc/sys/net/ipv4/tcp_available_congestion_control || { echo "CCS: $c is not in net.ipv4.tcp_available_congestion_control ($(cat /proc/sys/net/ipv4/tcp_available_congestion_control))" >&2; exit 2; }; done
for a in $PAIRS; do [[ "$a" =~ ^(veth|trunk|internal):(veth|internal)$ ]] || { echo "PAIRS: $a is not (veth|trunk|internal):(veth|internal)" >&2; exit 2; }; done
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 && "$SECS" -le 600 ]] || { echo "SECS must be 1..600" >&2; exit 2; }
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 && "$RUNS" -le 50 ]] || { echo "RUNS must be 1..50" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no $BIN: run make build first" >&2; exit 1; }
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
p="bo$id"          # prefix of every namespace, link and bridge of this run
hns="${p}h"        # the private namespace of vpcctl's OVS, its host ends and the Linux reference
gns="${p}g"        # the private namespace of OVN's OVS and daemons and its host ends
br="${p}v"         # vpcctl bridge
tmp=$(mktemp -d)
vdir="$tmp/ovs-vpcctl"   # run directory of vpcctl's OVS
odir="$tmp/ovs-ovn"      # run directory of OVN's OVS
ovn="$tmp/ovn"           # NB, SB, northd, controller: databases, sockets, pidfiles, logs
H=(nsenter "--net=/var/run/netns/$hns")   # net only: namespaces made in it stay visible
G=(nsenter "--net=/var/run/netns/$gns")
skip() { echo "OVN comparison skipped: $*"; exit 0; }

stopd() { # stopd PIDFILE...: SIGTERM, then SIGKILL after 5 s
  local f pid
  for f in "$@"; do
    pid=$(cat "$f" 2>/dev/null) || continue
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    kill "$pid" 2>/dev/null || { rm -f "$f"; continue; }
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}
delns() { # removes every namespace whose name starts with one of the arguments
  local ns pre
  for ns in $(ip netns list | awk '{print $1}'); do
    for pre in "$@"; do
      if [[ "$ns" == "$pre"* ]]; then timeout 30 ip netns del "$ns" 2>/dev/null || true; fi
    done
  done
}
stopovn() { stopd "$ovn/controller.pid" "$ovn/northd.pid" "$ovn/sb.pid" "$ovn/nb.pid"; }
stopovs() { stopd "$1/ovs-vswitchd.pid" "$1/ovsdb-server.pid"; }
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && [ -s "$tmp/daemons.err" ]; then grep -v 'opened log file' "$tmp/daemons.err" >&2; fi
  if [ -f "$tmp/topo.yaml" ] && [ -f "$vdir/ovs-vswitchd.pid" ]; then
    VPCCTL_OVSDB="unix:$vdir/db.sock" VPCCTL_OVS_RUNDIR="$vdir" timeout 120 "${H[@]}" "$BIN" destroy -f "$tmp/topo.yaml" >/dev/null 2>&1
  fi
  stopovn
  stopovs "$vdir"; stopovs "$odir"
  delns "vpcctl.$br." "${p}"          # instances (both), Linux reference, $hns and $gns
  timeout 30 ip netns del "$hns" 2>/dev/null   # its links and bridges go with it
  timeout 30 ip netns del "$gns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- OVN present? (install it if not) --------------------------------------
ovnprocs() { pgrep -f '(^|/)(ovn-northd|ovn-controller|ovn-ic)( |$)|ovsdb-server.*ovn(nb|sb|_ic)' 2>/dev/null | sort || true; }
have_ovn() { command -v ovn-northd && command -v ovn-controller && command -v ovn-nbctl && command -v ovn-sbctl &&
  [ -f /usr/share/ovn/ovn-nb.ovsschema ] && [ -f /usr/share/ovn/ovn-sb.ovsschema ]; } >/dev/null 2>&1
if ! have_ovn; then
  command -v apt-get >/dev/null || skip "OVN is not installed and there is no apt-get"
  echo "installing ovn-central ovn-host (apt-get) ..." >&2
  ovnprocs > "$tmp/procs.before"
  brint0=$(timeout 30 ovs-vsctl --timeout=20 br-exists br-int 2>/dev/null && echo yes || echo no)
  units="ovn-central ovn-host ovn-northd ovn-controller ovn-ovsdb-server-nb ovn-ovsdb-server-sb"
  sysd=""; if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then sysd=1; fi
  # With systemd running, apt would start the units at once (ovn-controller on
  # this machine's own OVS): masked until the next boot while installing.
  # shellcheck disable=SC2086  # $units: a list
  if [ -n "$sysd" ]; then timeout 60 systemctl mask --runtime $units >/dev/null 2>&1 || true; fi
  rc=0
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q ovn-central ovn-host > "$tmp/apt.log" 2>&1 || rc=$?
  # shellcheck disable=SC2086
  if [ -n "$sysd" ]; then timeout 60 systemctl unmask --runtime $units >/dev/null 2>&1 || true; fi
  # ... and not started at boot either (systemctl disable works offline too).
  # shellcheck disable=SC2086
  if command -v systemctl >/dev/null; then timeout 60 systemctl disable $units >/dev/null 2>&1 || true; fi
  # The Debian services must not run (this machine's own OVS would get a
  # br-int and an ovn-controller): stop whatever the install just started.
  ovnprocs > "$tmp/procs.after"
  for pid in $(comm -13 "$tmp/procs.before" "$tmp/procs.after"); do
    if ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q '/tmp/'; then   # others' private runs keep theirs
      echo "stopping $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) (started by the OVN install)" >&2
      kill "$pid" 2>/dev/null || true
    fi
  done
  brint1=$(timeout 30 ovs-vsctl --timeout=20 br-exists br-int 2>/dev/null && echo yes || echo no)
  [ "$brint0" = "$brint1" ] || echo "WARNING: the machine's own OVS got a br-int during the OVN install" >&2
  [ "$rc" -eq 0 ] || skip "apt-get install ovn-central ovn-host failed (exit $rc): $(grep -E '^(E|W):' "$tmp/apt.log" | head -2 | tr '\n' ' ')"
  have_ovn || skip "ovn-central/ovn-host installed but ovn-northd, ovn-controller or the OVN schemas are missing"
fi
ovnver=$(ovn-northd --version 2>/dev/null | head -1 | awk '{print $NF}')

# vsctl_at DIR NS ARGS: ovs-vsctl on the OVS of run directory DIR in NS.
vsctl_at() { local d=$1 n=$2; shift 2; nsenter "--net=/var/run/netns/$n" ovs-vsctl "--db=unix:$d/db.sock" --timeout=60 "$@"; }
vsctl() { vsctl_at "$odir" "$gns" "$@"; }   # OVN's
# startovs DIR NS: ovsdb-server + ovs-vswitchd (userspace TSO on) in NS, run
# directory DIR (its BRIDGE.mgmt sockets too).
startovs() {
  local d=$1 n=$2
  mkdir -p "$d"
  ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  timeout 30 ip netns exec "$n" env OVS_RUNDIR="$d" OVS_LOGDIR="$d" OVS_DBDIR="$d" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
    --pidfile="$d/ovsdb-server.pid" --unixctl="$d/ovsdb-server.ctl" \
    --log-file="$d/ovsdb-server.log" --detach --no-chdir -vconsole:off 2>>"$tmp/daemons.err"
  vsctl_at "$d" "$n" --no-wait init
  vsctl_at "$d" "$n" --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
  timeout 60 ip netns exec "$n" env OVS_RUNDIR="$d" OVS_LOGDIR="$d" OVS_DBDIR="$d" ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
    --log-file="$d/ovs-vswitchd.log" --detach --no-chdir -vconsole:off 2>>"$tmp/daemons.err"
}

# --- measuring --------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
# reach NS DST: one answered ping out of up to 5 (the first may go to ARP or
# to an upcall).
reach() {
  local k
  for k in 1 2 3 4 5; do
    ip netns exec "$1" timeout 5 ping -c 1 -W 2 -q "$2" >/dev/null 2>&1 && return 0
    [ "$k" -lt 5 ] && sleep 0.5
  done
  return 1
}
# iperf1 SRVNS ADDR CLINS [SRC]: one iperf3 run (the client's congestion
# control $tcpcc), prints Gbit/s; a run that fails, or (SRC given) whose
# server saw a client address other than SRC, prints 0.
iperf1() {
  local out spid src
  ip netns exec "$1" timeout $((SECS + 25)) iperf3 -s -1 -B "$2" -J > "$tmp/srv.json" 2>/dev/null &
  spid=$!
  sleep 0.5
  out=$(ip netns exec "$3" timeout $((SECS + 15)) iperf3 -c "$2" -t "$SECS" -C "$tcpcc" -J 2>/dev/null) || true
  wait "$spid" 2>/dev/null || true
  src=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["start"]["connected"][0]["remote_host"])
except Exception: print("-")' "$tmp/srv.json")
  if [ -n "${4:-}" ] && [ "$src" != "$4" ]; then
    echo "  the server saw the client as $src, not $4: run counted as 0" >&2
    echo 0; return 0
  fi
  python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    print("%.2f" % (0 if d.get("error") else d["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("0")' <<<"$out"
}
declare -A R
failed=0
# blocked KEY NS ADDR: a TCP connect from NS to ADDR port 5202 (not allowed
# by the group) must time out (dropped), not be refused (no group on the
# way); otherwise the cell is marked "SG-OPEN" and the run fails.
blocked() {
  local rc=0
  ip netns exec "$2" timeout 2 bash -c ": <>/dev/tcp/$3/5202" 2>/dev/null || rc=$?
  if [ "$rc" -ne 124 ]; then
    echo "$1: FAILED: tcp $3:5202 is not dropped by the security group (connect exit $rc)" >&2
    R[$1]=SG-OPEN; failed=1
  fi
}
# check KEY SRVNS ADDR CLINS: the path answers a ping, or KEY is FAILED.
check() {
  if reach "$4" "$3"; then return 0; fi
  echo "$1: FAILED: no ping from $4 to $3" >&2
  R[$1]=FAILED; failed=1
}
# run KEY SRVNS ADDR CLINS [SRC]: one timed run appended to V[KEY] (skipped
# once KEY has FAILED).
declare -A V
run() {
  [ "${R[$1]:-}" = FAILED ] && return 0
  local v
  v=$(iperf1 "$2" "$3" "$4" "${5:-}")
  V[$1]="${V[$1]:-} $v"
}
# settle KEY: R[KEY] = the median of V[KEY], or FAILED when it is 0.
settle() {
  [ "${R[$1]:-}" = FAILED ] && return 0
  local m
  # shellcheck disable=SC2086  # V holds a list
  m=$(median ${V[$1]})
  echo "  $1 per-run Gbit/s:${V[$1]}" >&2
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$m"; then R[$1]=$m
  else echo "$1: FAILED: iperf3 got nothing through" >&2; R[$1]=FAILED; failed=1; fi
}

timeout 10 ip netns add "$hns"
timeout 10 ip netns add "$gns"
ip -n "$hns" link set lo up
ip -n "$gns" link set lo up
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. vpcctl (in $hns) --------------------------------------------------------------
# VPC 10.83.0.0/16: srv and cli in subnet a, far in b, priv in private (0/0
# via the NAT gateway nat1 of subnet public, 203.0.113.10); all four in group
# bench (tcp 5201 and icmp from its members; egress all). inet: an external
# host, 203.0.113.100.
cat > "$tmp/topo.yaml" <<EOF
version: 1
bridge: $br
external:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  hosts:
    - {name: inet, ip: 203.0.113.100}
vpcs:
  - name: bench
    cidr: 10.83.0.0/16
    internet_gateway: true
    subnets:
      - {name: a, cidr: 10.83.1.0/24}
      - {name: b, cidr: 10.83.2.0/24}
      - {name: private, cidr: 10.83.3.0/24, route_table: private-rt}
      - {name: public, cidr: 10.83.4.0/24, route_table: public-rt}
    route_tables:
      - name: public-rt
        routes: [{destination: 0.0.0.0/0, via: internet-gateway}]
      - name: private-rt
        routes: [{destination: 0.0.0.0/0, via: nat-gateway/nat1}]
    nat_gateways:
      - {name: nat1, subnet: public, public_ip: 203.0.113.10}
    security_groups:
      - name: bench
        ingress:
          - {protocol: tcp, ports: "5201", source_group: bench}
          - {protocol: icmp, source_group: bench}
    instances:
      - {name: srv, subnet: a, ip: 10.83.1.10, security_groups: [bench], attach: ATTACH}
      - {name: cli, subnet: a, ip: 10.83.1.11, security_groups: [bench], attach: ATTACH}
      - {name: far, subnet: b, ip: 10.83.2.11, security_groups: [bench], attach: ATTACH}
      - {name: priv, subnet: private, ip: 10.83.3.10, security_groups: [bench], attach: ATTACH}
EOF
cp "$tmp/topo.yaml" "$tmp/topo.in"
echo "vpcctl: own OVS in $hns ..." >&2
startovs "$vdir" "$hns"
export VPCCTL_OVSDB="unix:$vdir/db.sock" VPCCTL_OVS_RUNDIR="$vdir"
v="vpcctl.$br"
vapply() { # vapply KIND: the topology with every instance attached so
  sed "s/ATTACH/$1/" "$tmp/topo.in" > "$tmp/topo.yaml"
  timeout 300 "${H[@]}" "$BIN" apply -f "$tmp/topo.yaml" >/dev/null
}
vdestroy() {
  timeout 120 "${H[@]}" "$BIN" destroy -f "$tmp/topo.yaml" >/dev/null 2>"$tmp/destroy.err" ||
    { echo "vpcctl destroy failed:" >&2; cat "$tmp/destroy.err" >&2; exit 1; }
  if [ -s "$tmp/destroy.err" ]; then sed 's/^/vpcctl destroy (stderr): /' "$tmp/destroy.err" >&2; fi
}

# --- 2. OVN -----------------------------------------------------------------
echo "OVN $ovnver: own OVS, NB, SB, northd, controller in $gns ..." >&2
startovs "$odir" "$gns"
mkdir -p "$ovn"
export OVN_RUNDIR="$ovn" OVN_LOGDIR="$ovn" OVN_DBDIR="$ovn"
unset OVN_NB_DAEMON OVN_NB_DB OVN_SB_DB
for d in nb sb; do
  ovsdb-tool create "$ovn/$d.db" "/usr/share/ovn/ovn-$d.ovsschema"
  timeout 30 ip netns exec "$gns" ovsdb-server "$ovn/$d.db" --remote="punix:$ovn/$d.sock" \
    --pidfile="$ovn/$d.pid" --unixctl="$ovn/$d.ctl" --log-file="$ovn/$d.log" --detach --no-chdir -vconsole:off 2>>"$tmp/daemons.err"
done
nbctl() { timeout 90 ovn-nbctl "--db=unix:$ovn/nb.sock" --timeout=60 "$@"; }
timeout 30 ip netns exec "$gns" ovn-northd --ovnnb-db="unix:$ovn/nb.sock" --ovnsb-db="unix:$ovn/sb.sock" \
  --pidfile="$ovn/northd.pid" --unixctl="$ovn/northd.ctl" --log-file="$ovn/northd.log" --detach --no-chdir -vconsole:off 2>>"$tmp/daemons.err"
vsctl set Open_vSwitch . external_ids:ovn-remote="unix:$ovn/sb.sock" external_ids:ovn-encap-type=geneve \
  external_ids:ovn-encap-ip=127.0.0.1 external_ids:system-id=bench external_ids:ovn-bridge-datapath-type=netdev
timeout 30 ip netns exec "$gns" env OVS_RUNDIR="$odir" OVN_RUNDIR="$ovn" ovn-controller "unix:$odir/db.sock" \
  --pidfile="$ovn/controller.pid" --log-file="$ovn/controller.log" --detach --no-chdir -vconsole:off 2>>"$tmp/daemons.err"
# Logical topology: router lr with sw-a (10.83.1.0/24), sw-b (10.83.2.0/24),
# sw-p (10.83.3.0/24) and, on a gateway port bound to chassis "bench", sw-ext
# (203.0.113.0/24) with SNAT of 10.83.3.0/24 to 203.0.113.10. Ports: name
# switch mac ip gateway.
ports=(
  "srv sw-a 0a:83:00:00:00:01 10.83.1.10 10.83.1.1"
  "cli sw-a 0a:83:00:00:00:02 10.83.1.11 10.83.1.1"
  "far sw-b 0a:83:00:00:00:03 10.83.2.11 10.83.2.1"
  "priv sw-p 0a:83:00:00:00:04 10.83.3.10 10.83.3.1"
  "inet sw-ext 0a:83:00:00:00:05 203.0.113.100 203.0.113.1"
)
a=(lr-add lr)
for s in "a 0a:83:00:01:00:01 10.83.1.1/24" "b 0a:83:00:01:00:02 10.83.2.1/24" \
         "p 0a:83:00:01:00:03 10.83.3.1/24" "ext 0a:83:00:01:00:fe 203.0.113.1/24"; do
  read -r n mac cidr <<<"$s"
  a+=(-- ls-add "sw-$n" -- lrp-add lr "lr-$n" "$mac" "$cidr"
      -- lsp-add "sw-$n" "sw-$n-lr" -- lsp-set-type "sw-$n-lr" router
      -- lsp-set-addresses "sw-$n-lr" router -- lsp-set-options "sw-$n-lr" "router-port=lr-$n")
done
a+=(-- lrp-set-gateway-chassis lr-ext bench 10 -- lr-nat-add lr snat 203.0.113.10 10.83.3.0/24)
for l in "${ports[@]}"; do
  read -r n sw mac ip _ <<<"$l"
  a+=(-- lsp-add "$sw" "$n" -- lsp-set-addresses "$n" "$mac $ip" -- lsp-set-port-security "$n" "$mac $ip")
done
# Group bench (srv, cli, far, priv) as vpcctl's: all egress, ingress tcp 5201
# and icmp from members, the rest of IP dropped; stateful (allow-related).
# shellcheck disable=SC2016  # $bench_ip4 is OVN's address set of the group, not a shell variable
a+=(-- pg-add bench srv cli far priv
    -- --type=port-group acl-add bench from-lport 1002 'inport == @bench && ip4' allow-related
    -- --type=port-group acl-add bench to-lport 1002 'outport == @bench && ip4 && ip4.src == $bench_ip4 && tcp.dst == 5201' allow-related
    -- --type=port-group acl-add bench to-lport 1002 'outport == @bench && ip4 && ip4.src == $bench_ip4 && icmp4' allow-related
    -- --type=port-group acl-add bench to-lport 1001 'outport == @bench && ip' drop
    -- --type=port-group acl-add bench from-lport 1001 'inport == @bench && ip' drop)
nbctl "${a[@]}"
for _ in $(seq 300); do vsctl br-exists br-int 2>/dev/null && break; sleep 0.1; done
vsctl br-exists br-int || { echo "ovn-controller made no br-int (see its log below)" >&2; tail -20 "$ovn/controller.log" >&2; exit 1; }
echo "br-int: datapath_type=$(vsctl get bridge br-int datapath_type)" >&2
# Bind each logical port (bind KIND): a namespace ${p}oK, eth0 in it with
# the port's MAC and IP, and on br-int with iface-id = the port either the
# host end ${p}xK of a veth (veth) or an internal port ${p}xK moved into the
# namespace and renamed eth0 (internal).
declare -A O
bind() {
  local k=0 n sw mac ip gw ns hx
  for l in "${ports[@]}"; do
    read -r n sw mac ip gw <<<"$l"
    k=$((k + 1))
    ns="${p}o$k"; hx="${p}x$k"
    timeout 10 ip netns add "$ns"
    if [ "$1" = veth ]; then
      "${G[@]}" ip link add "$hx" type veth peer name eth0 netns "$ns"
      "${G[@]}" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$hx/disable_ipv6"
      "${G[@]}" ip link set "$hx" up
      vsctl add-port br-int "$hx" -- set Interface "$hx" external_ids:iface-id="$n"
    else
      vsctl add-port br-int "$hx" -- set Interface "$hx" type=internal external_ids:iface-id="$n"
      for _ in $(seq 50); do "${G[@]}" ip link show "$hx" >/dev/null 2>&1 && break; sleep 0.1; done
      "${G[@]}" ip link set "$hx" netns "$ns"
      ip -n "$ns" link set "$hx" name eth0
    fi
    ip -n "$ns" link set eth0 address "$mac"
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$gw"
    O[$n]=$ns
  done
  nbctl --wait=hv sync
  for n in srv cli far priv inet; do
    up=$(nbctl get Logical_Switch_Port "$n" up 2>/dev/null || echo "?")
    [ "$up" = true ] || echo "WARNING: OVN port $n is not up ($up)" >&2
  done
}
unbind() { # the ports off br-int, the namespaces gone (veth pairs and moved internal ports with them)
  local k
  for k in $(seq ${#ports[@]}); do vsctl --if-exists del-port br-int "${p}x$k"; done
  delns "${p}o"
}
# --- 3. Linux reference (in $hns) -----------------------------------------------------
# Bridges ${p}l1 (10.83.1.0/24: la .10, lb .11, router .1), ${p}l2
# (10.83.2.0/24: lc .11, router .1), ${p}l3 (10.83.3.0/24: ld .10, router .1),
# ${p}l4 (203.0.113.0/24: le .100, router .1 and .10) in $hns; router
# namespace ${p}lr forwards (ip_forward=1 in it only), with iptables
# conntrack as the groups: established/related, tcp 5201, icmp accepted,
# the rest of the forwarded traffic dropped; SNAT 10.83.3.0/24 -> 203.0.113.10.
echo "Linux reference in $hns ..." >&2
lref="bridge + router namespace, iptables conntrack"
for b in 1 2 3 4; do
  "${H[@]}" ip link add "${p}l$b" type bridge
  "${H[@]}" ip link set "${p}l$b" up
done
lns() { # lns NS BRIDGE IP/LEN [GATEWAY]
  timeout 10 ip netns add "$1" 2>/dev/null || true
  local hx="${1}${2: -1}"
  "${H[@]}" ip link add "$hx" type veth peer name "eth${2: -1}" netns "$1"
  "${H[@]}" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$hx/disable_ipv6"
  "${H[@]}" ip link set "$hx" master "$2" up
  ip -n "$1" addr add "$3" dev "eth${2: -1}"
  ip -n "$1" link set "eth${2: -1}" up; ip -n "$1" link set lo up
  if [ -n "${4:-}" ]; then ip -n "$1" route add default via "$4"; fi
}
lns "${p}la" "${p}l1" 10.83.1.10/24 10.83.1.1
lns "${p}lb" "${p}l1" 10.83.1.11/24 10.83.1.1
lns "${p}lc" "${p}l2" 10.83.2.11/24 10.83.2.1
lns "${p}ld" "${p}l3" 10.83.3.10/24 10.83.3.1
lns "${p}le" "${p}l4" 203.0.113.100/24 203.0.113.1
lns "${p}lr" "${p}l1" 10.83.1.1/24
lns "${p}lr" "${p}l2" 10.83.2.1/24
lns "${p}lr" "${p}l3" 10.83.3.1/24
lns "${p}lr" "${p}l4" 203.0.113.1/24
ip -n "${p}lr" addr add 203.0.113.10/32 dev eth4
ip netns exec "${p}lr" sysctl -qw net.ipv4.ip_forward=1
if ! { command -v iptables >/dev/null &&
       ip netns exec "${p}lr" iptables -w 10 -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
       ip netns exec "${p}lr" iptables -w 10 -A FORWARD -p tcp --dport 5201 -j ACCEPT &&
       ip netns exec "${p}lr" iptables -w 10 -A FORWARD -p icmp -j ACCEPT &&
       ip netns exec "${p}lr" iptables -w 10 -P FORWARD DROP &&
       ip netns exec "${p}lr" iptables -w 10 -t nat -A POSTROUTING -s 10.83.3.0/24 -o eth4 -j SNAT --to-source 203.0.113.10; }; then
  echo "WARNING: iptables failed in ${p}lr: the Linux routed reference has no conntrack and NAT will fail" >&2
  lref="bridge + router namespace, no conntrack (iptables failed)"
fi

# --- 4. the pairs, interleaved ----------------------------------------------
# For each pair vpcctl-kind:OVN-kind, RUNS rounds; each round times the three
# paths on vpcctl, OVN and Linux in an order rotated by the round.
echo "Linux reference, checks" >&2
check l:same "${p}la" 10.83.1.10 "${p}lb"; check l:routed "${p}la" 10.83.1.10 "${p}lc"; check l:nat "${p}le" 203.0.113.100 "${p}ld"
[[ "$lref" == *"no conntrack"* ]] || blocked l:routed "${p}lc" 10.83.1.10   # the bridge (same) has no filter
cur_v=""; cur_o=""
for pair in $PAIRS; do
  vk=${pair%%:*}; ok=${pair#*:}
  if [ "$vk" != "$cur_v" ]; then
    if [ -n "$cur_v" ]; then vdestroy; fi
    echo "vpcctl, attach: $vk" >&2; vapply "$vk"; cur_v=$vk
  fi
  if [ "$ok" != "$cur_o" ]; then
    if [ -n "$cur_o" ]; then unbind; fi
    echo "OVN, $ok ports" >&2; bind "$ok"; cur_o=$ok
  fi
  kv="$pair:v"; ko="$pair:o"
  check "$kv:same" "$v.srv" 10.83.1.10 "$v.cli"; check "$kv:routed" "$v.srv" 10.83.1.10 "$v.far"; check "$kv:nat" "$v.inet" 203.0.113.100 "$v.priv"
  check "$ko:same" "${O[srv]}" 10.83.1.10 "${O[cli]}"; check "$ko:routed" "${O[srv]}" 10.83.1.10 "${O[far]}"; check "$ko:nat" "${O[inet]}" 203.0.113.100 "${O[priv]}"
  blocked "$kv:same" "$v.cli" 10.83.1.10; blocked "$kv:routed" "$v.far" 10.83.1.10
  blocked "$ko:same" "${O[cli]}" 10.83.1.10; blocked "$ko:routed" "${O[far]}" 10.83.1.10
  for tcpcc in $CCS; do
    kv="$tcpcc:$pair:v"; ko="$tcpcc:$pair:o"; kl="$tcpcc:$pair:l"
    for path in same routed nat; do R[$kv:$path]=${R[$pair:v:$path]:-}; R[$ko:$path]=${R[$pair:o:$path]:-}; done
    for ((r = 0; r < RUNS; r++)); do
      order=(v o l); order=("${order[@]:$((r % 3))}" "${order[@]:0:$((r % 3))}")
      for who in "${order[@]}"; do
        case $who in
          v) run "$kv:same" "$v.srv" 10.83.1.10 "$v.cli"; run "$kv:routed" "$v.srv" 10.83.1.10 "$v.far"
             run "$kv:nat" "$v.inet" 203.0.113.100 "$v.priv" 203.0.113.10 ;;
          o) run "$ko:same" "${O[srv]}" 10.83.1.10 "${O[cli]}"; run "$ko:routed" "${O[srv]}" 10.83.1.10 "${O[far]}"
             run "$ko:nat" "${O[inet]}" 203.0.113.100 "${O[priv]}" 203.0.113.10 ;;
          l) for path in same routed nat; do [ "${R[l:$path]:-}" = FAILED ] && R[$kl:$path]=FAILED; done
             run "$kl:same" "${p}la" 10.83.1.10 "${p}lb"; run "$kl:routed" "${p}la" 10.83.1.10 "${p}lc"
             run "$kl:nat" "${p}le" 203.0.113.100 "${p}ld" 203.0.113.10 ;;
        esac
      done
    done
    for path in same routed nat; do settle "$kv:$path"; settle "$ko:$path"; settle "$kl:$path"; done
    echo "$pair $tcpcc routed: vpcctl ${R[$kv:routed]} OVN ${R[$ko:routed]} Linux ${R[$kl:routed]}" >&2
  done
done
vdestroy; rm -f "$tmp/topo.yaml"
unbind
unset VPCCTL_OVSDB VPCCTL_OVS_RUNDIR
stopovn; stopovs "$odir"; stopovs "$vdir"
delns "${p}l"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || echo "NOTE: net.ipv4.ip_forward is 1 in the host namespace (not set by this script)" >&2

# --- table ------------------------------------------------------------------
ratio() { python3 -c "import sys
try: print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print('-')" "$1" "$2"; }
echo "vpcctl vs OVN, iperf3 TCP ${SECS}s, median of $RUNS interleaved runs, $(date -u '+%F %H:%M') UTC, $(nproc) cores, kernel $(uname -r),"
echo "$(ovs-vswitchd --version | head -1) (userspace, TSO on, own ovsdb-server + ovs-vswitchd each), OVN $ovnver,"
echo "load average before/after: $load0 / $load1; Linux ref: $lref; this machine's default congestion control: $(cat /proc/sys/net/ipv4/tcp_congestion_control)"
fmt='%-17s | %-5s | %-30s | %13s | %10s | %10s | %9s | %12s | %9s\n'
# shellcheck disable=SC2059
printf "$fmt" "vpcctl:OVN port" cc path "vpcctl Gbit/s" "OVN Gbit/s" vpcctl/OVN "Linux ref" vpcctl/Linux OVN/Linux
for pair in $PAIRS; do
  for cc in $CCS; do
    for k in "same:same subnet, SG" "routed:routed, 2 subnets, SGs" "nat:NAT gateway -> internet host"; do
      pv=${R[$cc:$pair:v:${k%%:*}]:--}; po=${R[$cc:$pair:o:${k%%:*}]:--}; pl=${R[$cc:$pair:l:${k%%:*}]:--}
      # shellcheck disable=SC2059
      printf "$fmt" "$pair" "$cc" "${k#*:}" "$pv" "$po" "$(ratio "$pv" "$po")" "$pl" "$(ratio "$pv" "$pl")" "$(ratio "$po" "$pl")"
    done
  done
done
for pair in $PAIRS; do
  for cc in $CCS; do
    echo "ratio vpcctl routed+SGs / OVN, ports $pair, $cc: $(ratio "${R[$cc:$pair:v:routed]:-}" "${R[$cc:$pair:o:routed]:-}") (issue 14 target >= 1.2)"
  done
done
if [ "$failed" -ne 0 ]; then echo "FAILED: a path did not work (see FAILED above)" >&2; exit 1; fi

#!/usr/bin/env bash
# Simulated hypervisors on one machine, for multi-host tests, labs and benchmarks.
#
#   sim-hosts.sh up PREFIX N     make hosts PREFIX-h1..PREFIX-hN (N <= 200) joined by an underlay
#   sim-hosts.sh down PREFIX     remove everything `up` made (idempotent, fine after a partial up)
#   sim-hosts.sh list PREFIX     print the hosts as `up` does
#   sim-hosts.sh repair PREFIX   start each host's OVS if it is down, restore its underlay
#
# `up`, `list` and `repair` print one line per host:  NAME TUNNEL_IP OVSDB_ENDPOINT RUNDIR
#   e.g.  sim-h1 100.64.0.1 unix:/run/vpcctl-sim/sim-h1/db.sock /run/vpcctl-sim/sim-h1
# (NAME is the host's network namespace; `list` shows the namespaces there are,
# whether their OVS runs or not.)
#
# A host is a network namespace PREFIX-hK running its own ovsdb-server and
# ovs-vswitchd (userspace datapath, TSO on; started by `vpcctl ovs up` inside
# the namespace) with run directory /run/vpcctl-sim/PREFIX-hK (database in
# db/, logs in log/ under it). The underlay is the Linux bridge `ul` in the
# namespace PREFIX-u; host K is joined to it by a veth, `ul0-phy` in the host
# and `hK` in PREFIX-u, all mtu $UNDERLAY_MTU (default 9000: room for Geneve
# around a 1500-byte frame, and for a topology with underlay_mtu: 9000). Nothing is routed to the machine's uplink and nothing
# changes in the root namespace (no ip_forward, no links, no routes): every
# link is created directly inside the namespaces.
#
# The tunnel address 100.64.0.K/24 is on `ul0`, the local interface of an OVS
# bridge `ul0` (external_ids:vpcctl-sim=underlay, NORMAL switching) whose
# only other port is the veth ul0-phy. That is how the userspace datapath
# tunnels: ovs-vswitchd routes a Geneve packet by its copy of the namespace's
# routes and can send it only if the route's device is an OVS bridge's local
# interface; with the address on a plain veth it drops the packet
# ("native tunnel routing failed" in ofproto/trace). So a Geneve port with
# options:remote_ip=flow options:key=flow on any bridge of the host, and flows
# setting tun_dst/tun_id, work (tests/simhosts_test.go). Leave bridge ul0
# alone: it is the host's NIC. (With the kernel datapath the address could
# sit on a plain interface; this machine has none.)
#
# The OVSDB socket is a filesystem path: tools may use it from any namespace,
# but a bridge's ports and tunnels live in the host's namespace, so run
# ovs-vsctl, ip, ping there:  ip netns exec PREFIX-h1 ovs-vsctl --db=unix:... show
# ovs-ofctl: unix:RUNDIR/BRIDGE.mgmt; ovs-appctl: -t RUNDIR/ovs-vswitchd.PID.ctl.
#
# Instance namespaces: a vpcctl agent running in a host names the namespaces
# it makes `vpcctl.<bridge>.<name>` (controller/host/names.go), in the
# machine-wide /run/netns. `down` removes those it can tie to these hosts:
#   - any vpcctl.* namespace holding a veth whose peer is in a PREFIX-h*
#     namespace (checked before the hosts are deleted), and
#   - every name listed in /run/vpcctl-sim/PREFIX-hK/netns (one per line; the
#     hook for an agent or test to record what it made, e.g. namespaces
#     attached by an OVS internal port, which have no veth peer to follow).
#     Only names starting with `vpcctl.` are honoured.
#
# Environment: BIN (default bin/vpcctl, relative to the repository root).
set -euo pipefail
MTU=${UNDERLAY_MTU:-9000}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-bin/vpcctl}
case "$BIN" in /*) ;; *) BIN="$root/$BIN" ;; esac
SIMROOT=/run/vpcctl-sim
export PATH="$PATH:/usr/sbin:/sbin"

usage() {
  sed -n '4,7s/^# *//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

die() { echo "sim-hosts: $*" >&2; exit 1; }

check_prefix() {
  # Namespace and directory names; "-" separates PREFIX from the host part.
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_]{0,30}$ ]] ||
    die "PREFIX must be 1-31 letters, digits or _ (got '$1')"
  [[ "$1" != vpcctl ]] || die "PREFIX vpcctl is reserved (vpcctl's own namespaces)"
}

# Every namespace name in /run/netns (ip netns list adds "(id: N)").
all_netns() { ip netns list 2>/dev/null | awk '{print $1}'; }

# Host namespaces PREFIX-hK, sorted by K.
host_names() {
  local p=$1 ns
  for ns in $(all_netns | grep -E "^${p}-h[0-9]+$" || true); do
    echo "${ns##*-h} $ns"
  done | sort -n | awk '{print $2}'
}

host_line() {
  local p=$1 name=$2 k=${2##*-h}
  local rd="$SIMROOT/$name"
  echo "$name 100.64.0.$k unix:$rd/db.sock $rd"
}

cmd_list() {
  local p=$1 name
  for name in $(host_names "$p"); do host_line "$p" "$name"; done
}

# Pids of the ovsdb-server and ovs-vswitchd that run from run directory $1.
ovs_pids_for() {
  local pat pid comm
  pat=$(printf '%s/' "$1" | sed 's/[.]/[.]/g')
  for pid in $(pgrep -f -- "$pat" || true); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    case "$comm" in ovsdb-server | ovs-vswitchd) echo "$pid" ;; esac
  done
}

# vpcctl.* namespaces holding the peer of a veth of host namespace $1
# (ip names the peer's namespace: "... link-netns vpcctl.br.web ...").
agent_netns() {
  ip -n "$1" -o link show 2>/dev/null |
    grep -oE 'link-netns vpcctl\.[^[:space:]]+' | awk '{print $2}' || true
}

cmd_down() {
  local p=$1 rc=0 ns rd pid hosts
  hosts=$(all_netns | grep -E "^${p}-h[0-9]+$" || true)
  # 1. Instance namespaces an agent made for these hosts (before the hosts go:
  #    deleting a host deletes the veth peers that tie them to it).
  local agent=""
  for ns in $hosts; do agent+=$'\n'$(agent_netns "$ns"); done
  for rd in "$SIMROOT/$p"-h*; do
    [ -f "$rd/netns" ] || continue
    agent+=$'\n'$(grep -E '^vpcctl\.[^/[:space:]]+$' "$rd/netns" || true)
  done
  for ns in $(printf '%s\n' "$agent" | sort -u); do
    ip netns del "$ns" 2>/dev/null || true
  done
  # 2. Each host's OVS: `vpcctl ovs down`, then anything left that runs from its
  #    run directory (a daemon whose pidfile vanished, a half-done up).
  for rd in "$SIMROOT/$p"-h*; do
    [ -d "$rd" ] || continue
    ns=${rd##*/}
    if ip netns pids "$ns" >/dev/null 2>&1; then
      timeout 30 ip netns exec "$ns" "$BIN" ovs down --rundir "$rd" --dbdir "$rd/db" --logdir "$rd/log" >/dev/null 2>&1 || true
    else
      timeout 30 "$BIN" ovs down --rundir "$rd" --dbdir "$rd/db" --logdir "$rd/log" >/dev/null 2>&1 || true
    fi
    for pid in $(ovs_pids_for "$rd"); do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
      [ -z "$(ovs_pids_for "$rd")" ] && break
      sleep 0.1
    done
    for pid in $(ovs_pids_for "$rd"); do kill -KILL "$pid" 2>/dev/null || true; done
    sleep 0.1
    if [ -n "$(ovs_pids_for "$rd")" ]; then
      echo "sim-hosts: OVS of $ns still running" >&2
      rc=1
    fi
  done
  # 3. The namespaces, then the run directories.
  for ns in $(all_netns | grep -F -- "${p}-" | grep -E "^${p}-" || true); do
    ip netns del "$ns" 2>/dev/null || { echo "sim-hosts: cannot delete namespace $ns" >&2; rc=1; }
  done
  for rd in "$SIMROOT/$p"-*; do
    [ -e "$rd" ] || continue
    rm -rf -- "$rd"
  done
  rmdir "$SIMROOT" 2>/dev/null || true
  return $rc
}

# The underlay of host $1 (number $2): OVS bridge ul0 (userspace datapath)
# holding the veth ul0-phy, and the tunnel address on the bridge's own
# interface ul0 (a tap; measured: it keeps its address across an
# ovs-vswitchd restart, but `repair` re-applies it anyway). Idempotent.
underlay() {
  local ns=$1 k=$2 db="unix:$SIMROOT/$1/db.sock"
  ip netns exec "$ns" ovs-vsctl --db="$db" --timeout=20 \
    -- --may-exist add-br ul0 \
    -- set bridge ul0 datapath_type=netdev external_ids:vpcctl-sim=underlay \
    -- set interface ul0 mtu_request=$MTU \
    -- --may-exist add-port ul0 ul0-phy \
    -- set interface ul0-phy mtu_request=$MTU
  # ovs-vsctl returns once ovs-vswitchd has applied the change: ul0 exists.
  ip -n "$ns" link set ul0 mtu "$MTU"
  ip -n "$ns" addr replace "100.64.0.$k/24" dev ul0
  ip -n "$ns" link set ul0 up
}

# After restarting a host's ovs-vswitchd: start what is down, restore ul0.
cmd_repair() {
  local p=$1 ns k rd
  for ns in $(host_names "$p"); do
    k=${ns##*-h}
    rd="$SIMROOT/$ns"
    timeout 60 ip netns exec "$ns" "$BIN" ovs up --rundir "$rd" --dbdir "$rd/db" --logdir "$rd/log" >/dev/null
    underlay "$ns" "$k"
  done
  cmd_list "$p"
}

up_failed() {
  local rc=$?
  echo "sim-hosts: up failed, removing what it made" >&2
  cmd_down "$up_prefix" || true
  exit "$rc"
}

cmd_up() {
  local p=$1 n=$2 k ns rd u="$1-u"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "N must be 1..200 (got '$n')"
  [ -x "$BIN" ] || die "$BIN: not found or not executable (run make build, or set BIN)"
  if [ -n "$(all_netns | grep -E "^${p}-" || true)" ] || compgen -G "$SIMROOT/$p-*" >/dev/null; then
    die "hosts with prefix $p exist already: sim-hosts.sh down $p first"
  fi
  # A failed or interrupted up leaves nothing behind.
  up_prefix=$p
  trap 'exit 130' INT TERM HUP
  trap up_failed EXIT
  mkdir -p "$SIMROOT"
  ip netns add "$u"
  ip -n "$u" link set lo up
  ip -n "$u" link add ul type bridge
  ip -n "$u" link set ul mtu "$MTU"
  ip -n "$u" link set ul up
  for k in $(seq "$n"); do
    ns="$p-h$k"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add ul0-phy netns "$ns" mtu "$MTU" type veth peer name "h$k" netns "$u" mtu "$MTU"
    ip -n "$u" link set "h$k" master ul
    ip -n "$u" link set "h$k" up
    ip -n "$ns" link set ul0-phy up
  done
  for k in $(seq "$n"); do
    ns="$p-h$k"
    rd="$SIMROOT/$ns"
    mkdir -p "$rd/db" "$rd/log"
    if ! out=$(timeout 60 ip netns exec "$ns" "$BIN" ovs up --rundir "$rd" --dbdir "$rd/db" --logdir "$rd/log" 2>&1); then
      echo "sim-hosts: cannot start OVS in $ns: $out" >&2
      false
    fi
    underlay "$ns" "$k"
  done
  trap - EXIT INT TERM HUP
  cmd_list "$p"
}

[ $# -ge 2 ] || usage
[ "$(id -u)" = 0 ] || die "needs root (namespaces, OVS)"
check_prefix "$2"
case "$1" in
up) [ $# = 3 ] || usage; cmd_up "$2" "$3" ;;
down) [ $# = 2 ] || usage; cmd_down "$2" ;;
list) [ $# = 2 ] || usage; cmd_list "$2" ;;
repair) [ $# = 2 ] || usage; cmd_repair "$2" ;;
*) usage ;;
esac

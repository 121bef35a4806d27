#!/usr/bin/env bash
# Several hosts (issue 13), on three simulated hosts (scripts/sim-hosts.sh):
# 1. TCP throughput (iperf3, SECS=5 s, median of 3, the three paths taking
#    turns) between two instances of one VPC, routed between two subnets and
#    through a security group: on h1 and h2 (over the Geneve tunnel), next to
#    the same pair on one host (h1) and to the direct veth between the host
#    namespaces h1 and h2 (the logic of scripts/bench-underlay.sh, on these
#    hosts), measured in the same run.
# 2. N=30 instances spread over the 3 hosts, from nothing until PROBES=20
#    pings between random pairs on different hosts all answer (all at once,
#    each `ping -c1 -i0.05 -w30`, as scripts/bench-instances.sh does; started
#    again while the source is not plumbed yet): from
#    `vpcctl apply --cluster` (publish; an agent runs on every host), and from
#    the per-host `vpcctl --host hK apply` run on the three hosts in parallel.
# Everything it makes has a unique prefix and goes on exit, on failure too:
# agents, the Raft cluster, the bridges (destroy on every host), the hosts.
# Environment: BIN (default bin/vpcctl), SECS.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
BIN=${BIN:-bin/vpcctl}
case "$BIN" in /*) ;; *) BIN="$root/$BIN" ;; esac
export BIN
SECS=${SECS:-5}
N=30
PROBES=20
sim="$root/scripts/sim-hosts.sh"
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
p="bm$id"  # sim hosts p-h1..p-h3
br="bm$id" # vpcctl bridge (one at a time: a host's OVS takes one Geneve port with remote_ip=flow,key=flow)
tmp=$(mktemp -d)
agents=() bgpids=() hosts_up=

now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
ns() { echo "$p-h$1"; }
# vpcctl as host hK, in its namespace (nsenter --net: the instance namespaces
# it bind-mounts must be visible outside), bounded.
on() {
  local k=$1
  shift
  timeout 120 nsenter --net="/run/netns/$p-h$k" "$BIN" --ovsdb "unix:/run/vpcctl-sim/$p-h$k/db.sock" --host "h$k" "$@"
}

stop_agents() {
  local pid
  for pid in "${agents[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${agents[@]}"; do wait "$pid" 2>/dev/null || true; done
  agents=()
}
destroy_all() { # destroy FILE on every host
  local k
  for k in 1 2 3; do on "$k" destroy -f "$1" >/dev/null 2>&1 || echo "bench-multihost: destroy on h$k failed" >&2; done
}
cleanup() {
  local rc=$? pid f
  for pid in "${bgpids[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_agents
  if [ -n "$hosts_up" ]; then
    for f in "$tmp"/*.yaml; do [ -e "$f" ] && destroy_all "$f"; done
  fi
  [ ! -d "$tmp/cluster" ] || timeout 60 "$BIN" cluster down --dir "$tmp/cluster" >/dev/null 2>&1 ||
    echo "bench-multihost: cluster down failed" >&2
  [ -z "$hosts_up" ] || "$sim" down "$p" >/dev/null || echo "bench-multihost: sim-hosts.sh down $p failed" >&2
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# iperf3 server in namespace $1 on address $2, client in namespace $3; prints Gbit/s.
measure() {
  ip netns exec "$1" timeout $((SECS + 25)) iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
  local spid=$! out=
  bgpids+=("$spid")
  for _ in $(seq 20); do # until the server listens: at most 20 tries
    sleep 0.2
    out=$(ip netns exec "$3" timeout $((SECS + 10)) iperf3 -c "$2" -t "$SECS" -J 2>/dev/null) || true
    grep -q '"sum_received"' <<<"$out" && break
  done
  wait "$spid" 2>/dev/null || true
  python3 -c '
import json, sys
r = json.load(sys.stdin)
if "error" in r:
    sys.exit("bench-multihost: iperf3: " + r["error"])
print("%.2f" % (r["end"]["sum_received"]["bits_per_second"] / 1e9))
' <<<"$out"
}

hosts_up=1
"$sim" up "$p" 3 >/dev/null
hostsyaml='hosts:
  - {name: h1, tunnel_ip: 100.64.0.1}
  - {name: h2, tunnel_ip: 100.64.0.2}
  - {name: h3, tunnel_ip: 100.64.0.3}'

# 1. Throughput. cli (h1, subnet a) -> srv (h2, subnet b) crosses hosts;
# cli -> loc (h1, subnet b) stays on h1; both routed, both into group srv.
cat >"$tmp/tput.yaml" <<EOF
version: 1
bridge: $br
$hostsyaml
vpcs:
  - name: tput
    cidr: 10.71.0.0/16
    subnets:
      - {name: a, cidr: 10.71.1.0/24}
      - {name: b, cidr: 10.71.2.0/24}
    security_groups:
      - name: srv
        ingress:
          - {protocol: tcp, ports: "5201", source: 10.71.1.0/24}
          - {protocol: icmp, source: 10.71.0.0/16}
    instances:
      - {name: cli, subnet: a, host: h1, ip: 10.71.1.10}
      - {name: srv, subnet: b, host: h2, ip: 10.71.2.10, security_groups: [srv]}
      - {name: loc, subnet: b, host: h1, ip: 10.71.2.11, security_groups: [srv]}
EOF
for k in 1 2 3; do on "$k" apply -f "$tmp/tput.yaml" >/dev/null; done
# The direct veth between the host namespaces h1 and h2 (as bench-underlay.sh).
ip link add bu0 netns "$(ns 1)" type veth peer name bu0 netns "$(ns 2)"
ip -n "$(ns 1)" addr add 100.64.0.251 peer 100.64.0.252 dev bu0
ip -n "$(ns 2)" addr add 100.64.0.252 peer 100.64.0.251 dev bu0
ip -n "$(ns 1)" link set bu0 up
ip -n "$(ns 2)" link set bu0 up
# Every path answers before it is measured (the first packet to another host
# may go while its underlay address is being resolved).
ip netns exec "vpcctl.$br.cli" ping -q -c1 -i0.05 -w30 10.71.2.10 >/dev/null ||
  { echo "bench-multihost: cli cannot reach srv on h2" >&2; exit 1; }
ip netns exec "vpcctl.$br.cli" ping -q -c1 -i0.05 -w30 10.71.2.11 >/dev/null ||
  { echo "bench-multihost: cli cannot reach loc on h1" >&2; exit 1; }
ip netns exec "$(ns 1)" ping -q -c1 -i0.05 -w10 100.64.0.252 >/dev/null ||
  { echo "bench-multihost: the direct veth does not answer" >&2; exit 1; }
ul=() cross=() same=()
for _ in 1 2 3; do
  ul+=("$(measure "$(ns 2)" 100.64.0.252 "$(ns 1)")")
  cross+=("$(measure "vpcctl.$br.srv" 10.71.2.10 "vpcctl.$br.cli")")
  same+=("$(measure "vpcctl.$br.loc" 10.71.2.11 "vpcctl.$br.cli")")
done
ip -n "$(ns 1)" link del bu0
underlay=$(median "${ul[@]}") tunnel=$(median "${cross[@]}") onehost=$(median "${same[@]}")
mtu=$(ip netns exec "vpcctl.$br.cli" cat /sys/class/net/eth0/mtu)
# The same on a jumbo underlay (the simulated one has MTU 9000): the topology
# says underlay_mtu: 9000, the instances get 8950 and every packet through
# the userspace datapath carries six times as much.
sed -i "s/^vpcs:/underlay_mtu: 9000\nvpcs:/" "$tmp/tput.yaml"
for k in 1 2 3; do on "$k" apply -f "$tmp/tput.yaml" >/dev/null; done
ip netns exec "vpcctl.$br.cli" ping -q -c1 -i0.05 -w30 -M do -s 8922 10.71.2.10 >/dev/null ||
  { echo "bench-multihost: no 8950-byte packet from cli to srv on h2" >&2; exit 1; }
jcross=() jsame=()
for _ in 1 2 3; do
  jcross+=("$(measure "vpcctl.$br.srv" 10.71.2.10 "vpcctl.$br.cli")")
  jsame+=("$(measure "vpcctl.$br.loc" 10.71.2.11 "vpcctl.$br.cli")")
done
jtunnel=$(median "${jcross[@]}") jonehost=$(median "${jsame[@]}")
jmtu=$(ip netns exec "vpcctl.$br.cli" cat /sys/class/net/eth0/mtu)
destroy_all "$tmp/tput.yaml"
rm "$tmp/tput.yaml"

# 2. N instances: i<k> on host h<k%3+1>, subnet s<(k/3)%3> (10.72.<s>.0/24,
# address 10 + k), all in the default group (ingress from its members).
hostof() { echo $(($1 % 3 + 1)); }
ipof() { echo "10.72.$((($1 / 3) % 3)).$((10 + $1))"; }
{
  echo "version: 1"
  echo "bridge: $br"
  echo "$hostsyaml"
  echo "vpcs:"
  echo "  - name: scale"
  echo "    cidr: 10.72.0.0/16"
  echo "    subnets:"
  for s in 0 1 2; do echo "      - {name: s$s, cidr: 10.72.$s.0/24}"; done
  echo "    instances:"
  for ((k = 0; k < N; k++)); do
    echo "      - {name: i$k, subnet: s$(((k / 3) % 3)), host: h$(hostof $k), ip: $(ipof $k)}"
  done
} >"$tmp/scale.yaml"
pairs=()
for ((j = 0; j < PROBES; j++)); do
  a=$((RANDOM % N))
  b=$((RANDOM % N))
  while [ "$(hostof $b)" = "$(hostof $a)" ]; do b=$((RANDOM % N)); done
  pairs+=("$a:$b")
done
# probe A B: until iA reaches iB, at most 30 s of pinging. After a publish the
# agents are still plumbing: ping fails at once while iA's namespace, address
# or route is missing ("Network is unreachable"), so it is started again
# (0.1 s apart, for at most 30 s more) until it runs its 30 s.
probe() {
  local ns="vpcctl.$br.i$1" dst t0=$SECONDS
  dst=$(ipof "$2")
  while [ $((SECONDS - t0)) -lt 30 ]; do
    if [ -e "/run/netns/$ns" ]; then
      ip netns exec "$ns" ping -q -c1 -i0.05 -w30 "$dst" >/dev/null 2>&1 && return 0
      [ $((SECONDS - t0)) -lt 29 ] || break # it ran its 30 s
    fi
    sleep 0.1
  done
  echo "bench-multihost: i$1 (h$(hostof "$1")) cannot reach i$2 (h$(hostof "$2")) after 30 s" >&2
  return 1
}
probe_all() {
  local pr pids=() rc=0
  for pr in "${pairs[@]}"; do
    probe "${pr%:*}" "${pr#*:}" &
    pids+=($!)
  done
  for pr in "${pids[@]}"; do wait "$pr" || rc=1; done
  return $rc
}
# the namespaces of a destroyed topology are gone (at most 30 s)
gone() {
  for _ in $(seq 300); do
    ip netns list | grep -q "^vpcctl\.$br\." || return 0
    sleep 0.1
  done
  echo "bench-multihost: namespaces of $br left after destroy" >&2
  return 1
}

# 2a. The cluster: three agents watching, then one publish.
eps=
for _ in 1 2 3; do # a free base port: at most 3 tries
  port=$((20000 + RANDOM % 20000))
  eps=$(timeout 60 "$BIN" cluster up --dir "$tmp/cluster" --base-port "$port" 2>"$tmp/cluster.err") && break
  timeout 60 "$BIN" cluster down --dir "$tmp/cluster" >/dev/null 2>&1 || true
  eps=
done
[ -n "$eps" ] || { echo "bench-multihost: cluster up failed: $(cat "$tmp/cluster.err")" >&2; exit 1; }
for k in 1 2 3; do
  nsenter --net="/run/netns/$p-h$k" "$BIN" --ovsdb "unix:/run/vpcctl-sim/$p-h$k/db.sock" --host "h$k" \
    --cluster "$eps" agent --topology "$br" 2>"$tmp/agent$k.log" &
  agents+=($!)
done
for k in 1 2 3; do
  for _ in $(seq 300); do grep -q 'event=start' "$tmp/agent$k.log" && break; sleep 0.1; done
  grep -q 'event=start' "$tmp/agent$k.log" || { echo "bench-multihost: agent h$k did not start" >&2; cat "$tmp/agent$k.log" >&2; exit 1; }
done
t0=$(now)
timeout 60 "$BIN" --cluster "$eps" apply -f "$tmp/scale.yaml" >/dev/null
t1=$(now)
probe_all || { tail -n 5 "$tmp"/agent*.log >&2; exit 1; }
t2=$(now)
cpub=$(secs "$t0" "$t1") creach=$(secs "$t0" "$t2")
# when each agent logged its apply of generation 1 (its own clock: same machine)
capplied=$(python3 - "$t0" "$tmp"/agent{1,2,3}.log <<'PY'
import datetime, re, sys
t0, last = float(sys.argv[1]), 0.0
for f in sys.argv[2:]:
    for line in open(f):
        if "event=applied" in line and "generation=1 " in line:
            ts = re.search(r"time=(\S+)", line).group(1).replace("Z", "+00:00")
            last = max(last, datetime.datetime.fromisoformat(ts).timestamp())
            break
    else:
        sys.exit(0)
print("%.2f" % (last - t0))
PY
)
stop_agents
destroy_all "$tmp/scale.yaml"
timeout 60 "$BIN" cluster down --dir "$tmp/cluster" >/dev/null
rm -rf "$tmp/cluster"
gone
sleep 2 # let the kernel finish tearing the namespaces down

# 2b. The same from the per-host apply, on the three hosts in parallel.
t0=$(now)
hp=()
for k in 1 2 3; do
  on "$k" apply -f "$tmp/scale.yaml" >/dev/null &
  hp+=($!)
done
for pid in "${hp[@]}"; do wait "$pid"; done
t1=$(now)
probe_all
t2=$(now)
happly=$(secs "$t0" "$t1") hreach=$(secs "$t0" "$t2")
destroy_all "$tmp/scale.yaml"
gone

echo "Several hosts (3 simulated: netns + own OVS each, Geneve over an OVS-bridge underlay), $(date -u '+%F %H:%M'), $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "TCP throughput, iperf3 ${SECS}s, median of 3 (runs: underlay ${ul[*]}; across hosts ${cross[*]}; one host ${same[*]})"
printf '%-62s %8s Gbit/s\n' \
  "direct veth between host namespaces h1 and h2 (underlay)" "$underlay" \
  "vpcctl, h1 -> h2, routed + SG, Geneve (instance MTU $mtu)" "$tunnel" \
  "vpcctl, h1 -> h1, routed + SG (same instances' settings)" "$onehost"
echo "ratio across hosts / underlay veth:  $(ratio "$tunnel" "$underlay")"
echo "ratio across hosts / one host:       $(ratio "$tunnel" "$onehost")"
echo "ratio one host / underlay veth:      $(ratio "$onehost" "$underlay")"
echo "underlay_mtu: 9000 (runs: across hosts ${jcross[*]}; one host ${jsame[*]})"
printf '%-62s %8s Gbit/s\n' \
  "vpcctl, h1 -> h2, routed + SG, Geneve (instance MTU $jmtu)" "$jtunnel" \
  "vpcctl, h1 -> h1, routed + SG (instance MTU $jmtu)" "$jonehost"
echo "ratio across hosts, MTU $jmtu / MTU $mtu:   $(ratio "$jtunnel" "$tunnel")"
echo "$N instances over 3 hosts, from nothing until $PROBES probes between hosts answer"
printf '%-62s %8s s\n' \
  "apply --cluster (publish) itself" "$cpub" \
  "publish -> last agent logged its apply" "${capplied:--}" \
  "publish -> $PROBES probes answer (agents running)" "$creach" \
  "per-host apply, 3 hosts in parallel, until all exit" "$happly" \
  "per-host apply -> $PROBES probes answer" "$hreach"
echo "ratio cluster / per-host apply, to reachable: $(ratio "$creach" "$hreach")"

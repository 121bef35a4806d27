#!/usr/bin/env bash
# Control plane at scale: N instances (default 1,000: one VPC, four /20
# subnets, veths, no `run:`) from nothing to reachable with `vpcctl apply`,
# next to a shell loop of `ip netns add` / `ip link add veth` / `ovs-vsctl
# add-port` for the same instances measured in the same run; then adding one
# instance, an unchanged re-apply and destroy. Everything it makes has a
# unique prefix and is removed on exit (on failure too).
# Env: N (instances), SAMPLE (instances the shell loop really plumbs; its time
# is scaled to N and the output says so; SAMPLE=N times the whole loop),
# ATTACH (the instances' attach mode: veth, the default, or trunk: one OVS
# port for them all).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/vpcctl}
N=${N:-1000}
SAMPLE=${SAMPLE:-100}
ATTACH=${ATTACH:-veth}
case "$ATTACH" in veth|trunk) ;; *) echo "ATTACH must be veth or trunk" >&2; exit 2 ;; esac
PROBES=20
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
br="bi$id"        # vpcctl bridge
sb="bs$id"        # the shell loop's plain OVS bridge
sp="bs${id}n"     # prefix of the shell loop's namespaces and veths
tmp=$(mktemp -d)
cleanup() {
  [ -z "${dpid:-}" ] || { kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; } || true
  ip link del "${sp}x" 2>/dev/null || true
  "$BIN" destroy -f "$tmp/topo.yaml" >/dev/null 2>&1 || true
  ovs-vsctl --if-exists del-br "$sb" 2>/dev/null || true
  for ns in $(ip netns list | awk -v p="$sp" 'index($1, p) == 1 {print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  for l in $(ip -o link show | awk -F': ' -v p="${sp}h" 'index($2, p) == 1 {split($2, a, "@"); print a[1]}'); do ip link del "$l" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

# ip of instance i: subnet i%4 (10.62.<16*(i%4)>.0/20), host 10 + i/4
ipof() { local h=$((10 + $1 / 4)); echo "10.62.$(( ($1 % 4) * 16 + h / 256 )).$(( h % 256 ))"; }
topo() { # topo N FILE
  { echo "version: 1"; echo "bridge: $br"; echo "vpcs:"
    echo "  - name: scale"; echo "    cidr: 10.62.0.0/16"; echo "    subnets:"
    for s in 0 1 2 3; do echo "      - {name: s$s, cidr: 10.62.$((s * 16)).0/20}"; done
    echo "    instances:"
    for ((i = 0; i < $1; i++)); do echo "      - {name: i$i, subnet: s$((i % 4)), ip: $(ipof $i), attach: $ATTACH}"; done
  } > "$2"
}

# probes: PROBES pings between random instances (the first pair routed
# across subnets), all at once; each pair is pinged every 50 ms for at most
# 30 s. (One ping through a userspace OVS polling 1,000 ports takes 0.1-0.5 s:
# sequential probes would measure that, not reachability.)
pairs=()
for ((k = 0; k < PROBES; k++)); do
  a=$((RANDOM % N)); b=$(((a + 1 + RANDOM % (N - 1)) % N))
  [ "$k" -gt 0 ] || b=$(((a + 1) % N))
  pairs+=("$a:$b")
done
probe() { # probe A B: until i$A reaches i$B, at most 30 s: one ping process
  # sending every 50 ms until the first reply (20 loops spawning a process
  # per try would take the CPU from ovs-vswitchd they are measuring)
  ip netns exec "vpcctl.$br.i$1" ping -q -c1 -i0.05 -w30 "$(ipof "$2")" >/dev/null 2>&1 ||
    { echo "i$1 cannot reach i$2 after 30 s" >&2; return 1; }
}
probe_all() {
  local p pids=() rc=0
  for p in "${pairs[@]}"; do probe "${p%:*}" "${p#*:}" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

"$BIN" ovs up >/dev/null
topo "$N" "$tmp/topo.yaml"
topo $((N + 1)) "$tmp/topo1.yaml"

# 1. vpcctl: from nothing to all probes answered.
t0=$(now)
"$BIN" apply -f "$tmp/topo.yaml" >/dev/null
t1=$(now)
probe_all
t2=$(now)
apply=$(secs "$t0" "$t1"); reach=$(secs "$t0" "$t2")
# 2. Unchanged, then one instance more (the file with N+1), then back.
t0=$(now); "$BIN" apply -f "$tmp/topo.yaml" >/dev/null; same=$(secs "$t0" "$(now)")
t0=$(now); "$BIN" apply -f "$tmp/topo1.yaml" >/dev/null; addone=$(secs "$t0" "$(now)")
ip netns exec "vpcctl.$br.i$N" ping -c1 -W2 -q "$(ipof 0)" >/dev/null || { echo "the added instance cannot reach i0" >&2; exit 1; }
# The same through the daemon (it keeps its OVSDB cache, its OpenFlow
# connection and the flows it installed): the N+1 file renamed over the N
# one, until the new instance answers a ping.
"$BIN" apply -f "$tmp/topo.yaml" >/dev/null
cp "$tmp/topo.yaml" "$tmp/live.yaml"
"$BIN" daemon -f "$tmp/live.yaml" 2> "$tmp/daemon.log" &
dpid=$!
for ((k = 0; k < 600; k++)); do grep -q 'event=applied' "$tmp/daemon.log" && break; sleep 0.1; done
grep -q 'event=applied' "$tmp/daemon.log" || { echo "the daemon did not apply" >&2; cat "$tmp/daemon.log" >&2; exit 1; }
sleep 2 # ovs-vswitchd connects to the daemon
cp "$tmp/topo1.yaml" "$tmp/live.new"
t0=$(now); mv "$tmp/live.new" "$tmp/live.yaml"
# (Probed from i0: a probe from inside the new namespace, sent before its
# port is attached, leaves an unanswered ARP that the kernel retries only
# after 1 s; the instance's own workload starts after the apply.)
ip netns exec "vpcctl.$br.i0" ping -q -c1 -i0.02 -w30 "$(ipof "$N")" >/dev/null 2>&1 ||
  { echo "daemon: i0 cannot reach the added instance after 30 s" >&2; exit 1; }
daemonadd=$(secs "$t0" "$(now)")
sleep 0.5
daemonapply=$(grep 'event=applied' "$tmp/daemon.log" | tail -1 | sed -n 's/.*duration=\([0-9.]*\)\(m\?s\).*/\1 \2/p' | awk '{ printf "%.2f", ($2 == "ms") ? $1 / 1000 : $1 }')
kill -TERM "$dpid"; wait "$dpid" 2>/dev/null || true
# ovs-vswitchd's own part: one veth added to the same bridge by ovs-vsctl
# (which waits for ovs-vswitchd, as apply does), at N+1 ports.
nports=$(($(ovs-vsctl list-ports "$br" | wc -l) + 1))
ip link add "${sp}x" type veth peer name "${sp}y"
t0=$(now); ovs-vsctl add-port "$br" "${sp}x"; vsadd=$(secs "$t0" "$(now)")
ovs-vsctl del-port "$br" "${sp}x"; ip link del "${sp}x"
# Trace at this scale: vpcctl trace (load and compile the file, the model,
# two ofproto/trace calls: request and reply) next to the two bare
# `ovs-appctl ofproto/trace` calls of the same packets.
t0=$(now); "$BIN" trace --bridge "$br" -o json i0 i1 --tcp 80 > "$tmp/trace.json"; trace=$(secs "$t0" "$(now)")
t0=$(now)
python3 -c 'import json,sys; [print(h["dataplane_packet"], h["ct_state"]) for h in json.load(open(sys.argv[1]))["hops"]]' "$tmp/trace.json" |
  while read -r flow ct; do ovs-appctl ofproto/trace "$br" "$flow" --ct-next "$ct" >/dev/null; done
appctl=$(secs "$t0" "$(now)")
# 3. destroy.
t0=$(now); "$BIN" destroy -f "$tmp/topo1.yaml" >/dev/null; destroy=$(secs "$t0" "$(now)")
sleep 10 # let the kernel finish tearing the namespaces down before the baseline

# 4. Baseline: the same plumbing as a shell loop (ip + ovs-vsctl per
# instance, each ovs-vsctl waiting for ovs-vswitchd as it does by default),
# on a plain OVS bridge of the same datapath type, SAMPLE instances.
ovs-vsctl add-br "$sb" -- set bridge "$sb" datapath_type=netdev fail_mode=secure
t0=$(now)
for ((i = 0; i < SAMPLE; i++)); do
  ns="$sp$i"; h="${sp}h$i"
  ip netns add "$ns"
  ip link add "$h" type veth peer name eth0 netns "$ns"
  ip -n "$ns" addr add "$(ipof "$i")/20" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "10.62.$(( (i % 4) * 16 )).1"
  ip link set "$h" up
  ovs-vsctl add-port "$sb" "$h"
done
t1=$(now)
shell=$(python3 -c "print('%.2f' % (($t1 - $t0) * $N / $SAMPLE))")
shellnote="measured"
[ "$SAMPLE" -eq "$N" ] || shellnote="$SAMPLE of $N timed, x$(python3 -c "print('%g' % ($N / $SAMPLE))")"

echo "Instances from nothing (attach: $ATTACH), $(date -u +%F), $(nproc) cores, kernel $(uname -r), $(ovs-vswitchd --version | head -1)"
printf '%-58s %8s s\n' \
  "vpcctl apply, $N instances (attach: $ATTACH)" "$apply" \
  "vpcctl apply, $N instances, until $PROBES probes answer" "$reach" \
  "shell loop ip + ovs-vsctl, $N instances ($shellnote)" "$shell" \
  "vpcctl apply, unchanged" "$same" \
  "vpcctl apply, one instance added to $N" "$addone" \
  "vpcctl daemon, one added to $N: file replaced -> answers i0" "$daemonadd" \
  "vpcctl daemon, one added to $N: its apply" "$daemonapply" \
  "ovs-vsctl add-port of one veth at $nports ports" "$vsadd" \
  "vpcctl destroy, $((N + 1)) instances" "$destroy" \
  "vpcctl trace i0 i1 --tcp 80 (model + dataplane, both ways)" "$trace" \
  "ovs-appctl ofproto/trace of the same two packets" "$appctl"
echo "ratio vpcctl to reachable / shell loop: $(ratio "$reach" "$shell")   (target: under 5 s)"
echo "ratio add one / full apply:             $(ratio "$addone" "$apply")   (target: add one under 0.2 s)"
echo "ratio daemon add one / ovs-vsctl add-port: $(ratio "$daemonadd" "$vsadd")   (ovs-vswitchd alone takes the latter)"
echo "ratio trace / bare ofproto/trace:       $(ratio "$trace" "$appctl")   (target: trace under 1 s)"

#!/usr/bin/env bash
# The throughput cost of flow logs: iperf3 (SECS s) on the routed path of
# bench/two-instances.yaml (security groups + NACL), run by `vpcctl daemon`,
# with the VPC's flow logs off and on (traffic: all, i.e. accept+reject),
# alternating ROUNDS (3) times each; medians and their ratio are printed.
# Everything it makes has a unique bridge name and is removed on exit.
# OVS_RUNDIR, VPCCTL_OVSDB and VPCCTL_OVS_RUNDIR point it (ovs-vsctl, ovs-ofctl
# and vpcctl alike) at another Open vSwitch, e.g. a private one in a namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/vpcctl}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3} # off/on alternations (odd: the median is a run)
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
br="bf$id"
tmp=$(mktemp -d)
dpid=""
cleanup() {
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
  "$BIN" destroy -f "$tmp/topo.yaml" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

measure() { # server ns, address, client ns -> Gbit/s
  ip netns exec "$1" timeout $((SECS + 15)) iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  local out
  out=$(ip netns exec "$3" timeout $((SECS + 10)) iperf3 -c "$2" -t "$SECS" -J)
  wait $spid || true
  python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum_received"]; print("%.2f" % (e["bits_per_second"]/1e9)); open(sys.argv[1], "w").write("%d" % e["bytes"])' "$tmp/bytes" <<<"$out"
}

off=$(sed "s/BRIDGE/$br/" bench/two-instances.yaml)
on=$(sed "s|    cidr: 10.77.0.0/16|    cidr: 10.77.0.0/16\n    flow_logs: [{traffic: all, destination: $tmp/flows.log, aggregation_interval: 60}]|" <<<"$off")
printf '%s\n' "$off" > "$tmp/topo.yaml"
"$BIN" ovs up >/dev/null
"$BIN" daemon -f "$tmp/topo.yaml" 2>"$tmp/daemon.log" &
dpid=$!

# use FILE-CONTENT WANT: make the file say FILE-CONTENT and wait until the
# daemon applied it, with WANT flows in the flow-log tables (0 off, > 0 on).
applied() { grep -c 'event=applied' "$tmp/daemon.log" || true; }
use() {
  local before; before=$(applied)
  if [ "$(cat "$tmp/topo.yaml")" != "$1" ]; then
    printf '%s\n' "$1" > "$tmp/topo.new" && mv "$tmp/topo.new" "$tmp/topo.yaml"
    before=$((before + 1))
  fi
  before=$((before > 0 ? before : 1))
  local n=x
  for _ in $(seq 300); do
    if [ "$(applied)" -ge "$before" ]; then
      n=$(ovs-ofctl -O OpenFlow13 --names dump-flows "$br" | grep -c 'table=FlowLog' || true)
      if { [ "$2" = 0 ] && [ "$n" = 0 ]; } || { [ "$2" != 0 ] && [ "$n" -gt 0 ]; }; then return 0; fi
    fi
    sleep 0.2
  done
  echo "the daemon did not apply the file (flow-log flows: $n)" >&2; cat "$tmp/daemon.log" >&2; exit 1
}

ons=(); offs=()
for _ in $(seq "$ROUNDS"); do
  use "$off" 0
  offs+=("$(measure "vpcctl.$br.srv" 10.77.1.10 "vpcctl.$br.far")")
  use "$on" 1
  ons+=("$(measure "vpcctl.$br.srv" 10.77.1.10 "vpcctl.$br.far")")
  # The traffic went through the learned counting flows (the largest one
  # counted at least the bytes iperf3 received; counts lag by < 1 s).
  sleep 1
  counted=$(ovs-ofctl -O OpenFlow13 dump-flows "$br" cookie=0xa6f1000000000000/0xffff000000000000 | grep -o 'n_bytes=[0-9]*' | cut -d= -f2 | sort -n | tail -1)
  [ "${counted:-0}" -ge "$(cat "$tmp/bytes")" ] || { echo "no counting flow carried the traffic (${counted:-0} bytes, iperf3: $(cat "$tmp/bytes"); runs ${ons[*]})" >&2; exit 1; }
done
# A rejected connection (ssh is not allowed), so that REJECT records exist too.
ip netns exec "vpcctl.$br.far" timeout 3 bash -c 'exec 3<>/dev/tcp/10.77.1.10/22' 2>/dev/null || true
kill "$dpid"; wait "$dpid" 2>/dev/null || true; dpid=""   # writes the last records
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
m_off=$(median "${offs[@]}"); m_on=$(median "${ons[@]}")
echo "Flow logs, iperf3 ${SECS}s routed (SGs + NACL), $(date -u +%F), $(nproc) cores"
printf '%-44s %s Gbit/s (runs: %s)\n' "flow logs off (median of $ROUNDS)" "$m_off" "${offs[*]}" \
  "flow logs on, accept+reject (median of $ROUNDS)" "$m_on" "${ons[*]}"
echo "ratio flow logs on / off: $(python3 -c "print('%.2f' % ($m_on / $m_off))")"
echo "records written: $(grep -c ACCEPT "$tmp/flows.log" || true) ACCEPT, $(grep -c REJECT "$tmp/flows.log" || true) REJECT"

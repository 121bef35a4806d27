#!/usr/bin/env bash
# The baseline for cross-host throughput: TCP (iperf3, SECS=5 s) over a
# direct veth between two host namespaces of a fresh `sim-hosts.sh up`.
# Prints:  underlay veth: X Gbit/s
# The veth (bu0 in each host, 100.64.0.251 <-> 100.64.0.252, point to point,
# inside the hosts' namespaces only) and the hosts go on exit, whatever happens.
# Environment: BIN (default bin/vpcctl), SECS.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BIN=${BIN:-bin/vpcctl}
SECS=${SECS:-5}
sim="$root/scripts/sim-hosts.sh"
p="bu$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
spid=
cleanup() {
  [ -z "$spid" ] || kill "$spid" 2>/dev/null || true
  "$sim" down "$p" >/dev/null || echo "bench-underlay: sim-hosts.sh down $p failed" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$sim" up "$p" 2 >/dev/null
a="$p-h1" b="$p-h2"
ip link add bu0 netns "$a" type veth peer name bu0 netns "$b"
ip -n "$a" addr add 100.64.0.251 peer 100.64.0.252 dev bu0
ip -n "$b" addr add 100.64.0.252 peer 100.64.0.251 dev bu0
ip -n "$a" link set bu0 up
ip -n "$b" link set bu0 up

ip netns exec "$b" timeout $((SECS + 20)) iperf3 -s -1 -B 100.64.0.252 >/dev/null 2>&1 &
spid=$!
out=
for _ in $(seq 20); do # until the server listens: at most 20 tries
  sleep 0.2
  out=$(ip netns exec "$a" timeout $((SECS + 10)) iperf3 -c 100.64.0.252 -B 100.64.0.251 -t "$SECS" -J 2>/dev/null) || true
  grep -q '"sum_received"' <<<"$out" && break
done
wait "$spid" 2>/dev/null || true
spid=
python3 -c '
import json, sys
r = json.load(sys.stdin)
if "error" in r:
    sys.exit("bench-underlay: iperf3: " + r["error"])
print("underlay veth: %.1f Gbit/s" % (r["end"]["sum_received"]["bits_per_second"] / 1e9))
' <<<"$out"

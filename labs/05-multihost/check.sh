#!/usr/bin/env bash
# Lab 05's self-check: the Tasks of README.md on the live simulated hosts.
#   labs/05-multihost/check.sh [-f FILE] [--answers FILE]
# FILE (default /tmp/lab05.yaml) is your copy of the topology, applied on the
# hosts; answers (default /tmp/lab05-answers.yaml) are `key: value` lines.
# Prints PASS or FAIL per task with what to look at; exit 0 only when all
# pass, 1 when one fails, 2 when it cannot check (no hosts, no file).
# (`vpcctl lab check` reads one host's OVS; this lab spans three, so it
# checks itself with this script.)
# Environment: PREFIX (default lab05: the sim hosts PREFIX-h1..h3).
set -euo pipefail
PREFIX=${PREFIX:-lab05}
file=/tmp/lab05.yaml answers=/tmp/lab05-answers.yaml
while [ $# -gt 0 ]; do
  case "$1" in
  -f) file=$2; shift 2 ;;
  --answers) answers=$2; shift 2 ;;
  *) echo "usage: $0 [-f FILE] [--answers FILE]" >&2; exit 2 ;;
  esac
done
S=/run/vpcctl-sim/$PREFIX
[ -f "$file" ] || { echo "$file: no such file: cp labs/05-multihost/topology.yaml $file and apply it on every host" >&2; exit 2; }
for k in 1 2 3; do
  [ -e "/run/netns/$PREFIX-h$k" ] && [ -S "$S-h$k/db.sock" ] ||
    { echo "no simulated host $PREFIX-h$k: scripts/sim-hosts.sh up $PREFIX 3 (README section 1)" >&2; exit 2; }
done
br=$(sed -n 's/^bridge: *\([^ #]*\).*/\1/p' "$file")
br=${br:-br-vpc}
nsof() { echo "vpcctl.$br.$1"; }
flows() { local k=$1; shift; timeout 10 ovs-ofctl -O OpenFlow13 --names dump-flows "unix:$S-h$k/$br.mgmt" "$@"; }
answer() { # the value of key $1 in the answers file ("" when none)
  [ -f "$answers" ] || return 0
  sed -n "s/^$1:[[:space:]]*\([^[:space:]#]*\).*/\1/p" "$answers" | tail -1
}
# can FROM reach ADDR on tcp PORT (3 s, with 2 tries)?
tcp() {
  local i
  for i in 1 2; do
    [ -e "/run/netns/$(nsof "$1")" ] || return 1
    timeout 5 ip netns exec "$(nsof "$1")" python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)' "$2" "$3" 2>/dev/null && return 0
  done
  return 1
}
# the host whose namespace holds the host end of INSTANCE's veth ("" when none)
hostof() {
  local k
  for k in 1 2 3; do
    ip -n "$PREFIX-h$k" -o link 2>/dev/null | grep -q "link-netns $(nsof "$1")\$\|link-netns $(nsof "$1") " && { echo "h$k"; return; }
  done
}
hex() { python3 -c 'import sys; v=sys.argv[1]; print(hex(int(v, 16 if v.lower().startswith("0x") else 10)))' "$1" 2>/dev/null || echo "?$1"; }

pass=0 failed=() n=0
result() { # result NAME GOAL HINT DETAIL...
  local name=$1 goal=$2 hint=$3
  shift 3
  n=$((n + 1))
  if [ $# -eq 0 ]; then
    printf 'PASS  %d %-13s %s\n' "$n" "$name" "$goal"
    pass=$((pass + 1))
  else
    printf 'FAIL  %d %-13s %s\n' "$n" "$name" "$goal"
    printf '        %s\n' "$@"
    printf '        hint: %s\n' "$hint"
    failed+=("$name")
  fi
}
echo "lab 05-multihost: $file on bridge $br over $PREFIX-h1..h3, answers $answers"
echo

# 1. move-db: red-db runs on h2; web reaches it on 5432 from both hosts; blue does not.
d=()
grep -Eq 'name: red-db,.*host: h2[,}]' "$file" || d+=("$file does not put red-db on host h2")
h=$(hostof red-db)
[ "$h" = h2 ] || d+=("red-db's port is on ${h:-no host}, not on h2: apply $file on every host")
tcp red-web1 10.50.2.10 5432 || d+=("red-web1 (h1) -> red-db 10.50.2.10 tcp/5432 should get through: it does not")
tcp red-web2 10.50.2.10 5432 || d+=("red-web2 (h2) -> red-db 10.50.2.10 tcp/5432 should get through: it does not")
! tcp blue-web1 10.50.2.10 5432 || d+=("blue-web1 -> 10.50.2.10 tcp/5432 should be stopped (another VPC): it gets through")
result move-db "move red-db to h2: red-web1 and red-web2 reach it on tcp 5432, blue does not" \
  "set red-db's \`host: h2\` in $file, then apply it on h1, h2 and h3 (section 1's \`on K apply -f $file\`); \`on 2 status\` shows where each instance runs" ${d[@]+"${d[@]}"}

# 2. blue-vni: the tun_id blue's packets carry = the id the Classifier loads into reg0.
d=()
mac=$(timeout 5 ip netns exec "$(nsof blue-web1)" cat /sys/class/net/eth0/address 2>/dev/null || true)
truth=$(flows 2 table=L2Lookup 2>/dev/null | grep "dl_dst=$mac " | grep -o 'reg0=0x[0-9a-f]*' | head -1 | cut -d= -f2 || true)
got=$(answer blue_vni)
if [ -z "$mac" ] || [ -z "$truth" ]; then
  d+=("cannot read blue-web1's L2Lookup flow on h2 (is $file applied on every host?)")
elif [ -z "$got" ]; then
  d+=("no blue_vni in $answers")
elif [ "$(hex "$got")" != "$(hex "$truth")" ]; then
  d+=("blue_vni: $got is not what the bridge shows")
fi
result blue-vni "write the Geneve VNI (tun_id) of blue's packets as blue_vni" \
  "section 3: in \`flows K table=Output\` the tunnel flows to blue's instances set tun_id (\`set_field:0x...->tun_id\`); the Classifier's \`tun_id=...\` flow loads the same value into reg0 (the VPC id); write \`blue_vni: 0x...\` in $answers" ${d[@]+"${d[@]}"}

# 3. max-payload: the largest `ping -M do -s N` red-web1 -> red-web2 gets through.
d=()
mtu=$(timeout 5 ip netns exec "$(nsof red-web1)" cat /sys/class/net/eth0/mtu 2>/dev/null || true)
got=$(answer max_payload)
if [ -z "$mtu" ]; then
  d+=("no red-web1 (is $file applied?)")
elif [ -z "$got" ]; then
  d+=("no max_payload in $answers")
elif [ "$got" != "$((mtu - 28))" ]; then
  d+=("max_payload: $got is not what red-web1's interface allows")
elif ! timeout 10 ip netns exec "$(nsof red-web1)" ping -q -c1 -W2 -M do -s "$got" 10.50.1.11 >/dev/null 2>&1; then
  d+=("red-web1 cannot ping red-web2 with -M do -s $got")
fi
result max-payload "write the largest ping payload red-web1 sends red-web2 unfragmented as max_payload" \
  "section 2: \`inst red-web1 ip link show eth0\` (mtu), then \`inst red-web1 ping -c1 -M do -s N 10.50.1.11\` around it; a payload is the MTU minus the IP and ICMP headers; write \`max_payload: N\` in $answers" ${d[@]+"${d[@]}"}

echo
printf '%d of %d tasks pass' "$pass" "$n"
[ ${#failed[@]} -eq 0 ] || printf '; to do: %s' "${failed[*]}"
echo
[ ${#failed[@]} -eq 0 ]

#!/usr/bin/env bash
# The demo: start OVS if none runs, apply labs/00-hello, show the two
# instances talking through the bridge vpcctl programmed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/vpcctl
TOPO=labs/00-hello/topology.yaml
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "vpcctl ovs up"
$BIN ovs up
step "vpcctl validate -f $TOPO"
$BIN validate -f $TOPO
step "vpcctl apply -f $TOPO"
$BIN apply -f $TOPO
step "vpcctl status"
$BIN status
step "alice (veth) pings bob (internal port)"
$BIN exec alice -- ping -c 3 -i 0.2 10.0.1.20
step "bob fetches a page from alice's web server"
for i in $(seq 1 20); do
  $BIN exec bob -- curl -s -m 2 -o /dev/null -w 'HTTP %{http_code} from 10.0.1.4:8080\n' http://10.0.1.4:8080/ && break
  sleep 0.25
done
step "the flows vpcctl installed (ovs-ofctl -O OpenFlow13 --names dump-flows br-hello)"
ovs-ofctl -O OpenFlow13 --names dump-flows br-hello | sed -e 's/ duration=[^,]*,//' -e 's/ idle_age=[^,]*,//'
step "done"
echo "Explore with labs/00-hello/README.md; remove it all with:"
echo "  $BIN destroy -f $TOPO"

package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mhTraceTopology spans three hosts: the external network (and the gateways)
// on h1, a private instance on h2 behind the NAT gateway, a public one with
// an elastic IP and a peered VPC's service on h3.
const mhTraceTopology = `version: 1
bridge: BRIDGE
hosts:
  - {name: h1, tunnel_ip: 100.64.0.1}
  - {name: h2, tunnel_ip: 100.64.0.2}
  - {name: h3, tunnel_ip: 100.64.0.3}
external:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  host: h1
  hosts:
    - {name: inet, ip: 203.0.113.100, run: "python3 -m http.server 8080"}
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    internet_gateway: true
    subnets:
      - {name: public, cidr: 10.1.1.0/24, route_table: public-rt}
      - {name: private, cidr: 10.1.2.0/24, route_table: private-rt}
    route_tables:
      - name: public-rt
        routes:
          - {destination: 0.0.0.0/0, via: internet-gateway}
      - name: private-rt
        routes:
          - {destination: 0.0.0.0/0, via: nat-gateway/nat1}
          - {destination: 10.2.0.0/16, via: peering/pp}
    nat_gateways:
      - {name: nat1, subnet: public, public_ip: 203.0.113.10}
    security_groups:
      - name: web
        ingress:
          - {protocol: tcp, ports: "8080", source: 0.0.0.0/0}
          - {protocol: icmp, source: 0.0.0.0/0}
    instances:
      - {name: priv, subnet: private, host: h2, ip: 10.1.2.10, run: "python3 -m http.server 8080"}
      - {name: priv2, subnet: private, host: h3, ip: 10.1.2.11}
      - {name: pub, subnet: public, host: h3, ip: 10.1.1.10, public_ip: 203.0.113.20, security_groups: [web], run: "python3 -m http.server 8080"}
  - name: shared
    cidr: 10.2.0.0/16
    subnets:
      - {name: s, cidr: 10.2.1.0/24, route_table: back}
    route_tables:
      - name: back
        routes:
          - {destination: 10.1.0.0/16, via: peering/pp}
    security_groups:
      - name: open
        ingress:
          - {protocol: tcp, ports: "8080", source: 10.0.0.0/8}
    instances:
      - {name: svc, subnet: s, host: h3, ip: 10.2.1.10, security_groups: [open], run: "python3 -m http.server 8080"}
peerings:
  - {name: pp, vpcs: [prod, shared]}
`

// Across hosts, what vpcctl trace says on the host where a packet enters (a
// destination on another host: into the tunnel, towards that host; a
// request sent on another host: as it arrives through the tunnel) equals
// what a real packet does, through the peering, the NAT gateway and an
// elastic IP on the gateways' host, and security groups decided on either
// side; and its two halves agree.
func TestMultiHostTrace(t *testing.T) {
	hosts := startSimHosts(t, 3)
	br := uniqueBridge("mt")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(mhTraceTopology, "BRIDGE", br)), 0o644); err != nil {
		t.Fatal(err)
	}
	on := func(h simHost) []string {
		return []string{"nsenter", "--net=/run/netns/" + h.NS, vpcctlBin, "--ovsdb", h.OVSDB, "--host", h.Name}
	}
	t.Cleanup(func() {
		for _, h := range hosts {
			cmd := on(h)
			if r := run(t, 2*time.Minute, cmd[0], append(cmd[1:], "destroy", "-f", file)...); r.Code != 0 {
				t.Errorf("destroy on %s: %s", h.Name, r.Stderr)
			}
		}
		if r := sh(t, "ip netns list | grep -c 'vpcctl\\."+br+"\\.' || true"); strings.TrimSpace(r.Stdout) != "0" {
			t.Errorf("namespaces of %s left: %s", br, r.Stdout)
		}
	})
	for _, h := range hosts {
		cmd := on(h)
		if r := run(t, 2*time.Minute, cmd[0], append(cmd[1:], "apply", "-f", file)...); r.Code != 0 {
			t.Fatalf("apply on %s: exit %d: %s", h.Name, r.Code, r.Stderr)
		}
	}
	waitTCP(t, br, "priv", "10.2.1.10", 8080)
	waitTCP(t, br, "priv", "203.0.113.100", 8080)

	// Each tuple is traced on the host of its sender.
	hostOf := map[string]simHost{"inet": hosts[0], "priv": hosts[1], "pub": hosts[2], "svc": hosts[2], "priv2": hosts[2]}
	tuples := []tuple{
		{"priv", "svc", "10.2.1.10", "tcp", 8080},             // peering, h2 -> h3
		{"priv", "priv2", "10.1.2.11", "icmp", 0},             // the same subnet, h2 -> h3
		{"priv2", "priv", "10.1.2.10", "tcp", 8080},           // and back: the default group admits its members
		{"priv", "svc", "10.2.1.10", "tcp", 22},               // svc's group: 8080 only
		{"priv", "inet", "203.0.113.100", "tcp", 8080},        // NAT gateway on h1
		{"priv", "pub", "10.1.1.10", "tcp", 8080},             // routed, h2 -> h3
		{"priv", "pub", "10.1.1.10", "tcp", 22},               // pub's group: 8080 and icmp
		{"svc", "priv", "10.1.2.10", "tcp", 8080},             // priv's default group: its own members only
		{"pub", "priv", "10.1.2.10", "icmp", 0},               // the same, the other subnet
		{"pub", "inet", "203.0.113.100", "tcp", 8080},         // elastic IP out, through h1
		{"inet", "pub", "203.0.113.20", "tcp", 8080},          // elastic IP in, to h3
		{"inet", "203.0.113.10", "203.0.113.10", "tcp", 8080}, // a NAT gateway takes no new connection
	}
	got := checkTracesWith(t, br, tuples, func(tp tuple) traceOut {
		return traceJSONWith(t, on(hostOf[tp.from]), br, tp.from, tp.to, tp.proto, tp.port)
	})
	// The dataplane half really followed the tunnel: to another host's
	// instance the request leaves into it.
	tr := got[tuples[0]]
	if len(tr.Hops) == 0 || !strings.Contains(tr.Hops[0].DPVerdict, "output to the tunnel") || !strings.Contains(tr.Hops[0].DPVerdict, "tun_dst=100.64.0.3") {
		t.Errorf("priv -> svc: request's dataplane verdict %+v, want into the tunnel to h3", tr.Hops)
	}
	if len(tr.Hops) < 2 || tr.Hops[1].DPVerdict == "" || strings.Contains(tr.Hops[1].DPVerdict, "tunnel") {
		t.Errorf("priv -> svc: the reply, arriving through the tunnel, must be delivered to priv's port: %+v", tr.Hops)
	}
	if d := got[tuples[7]].Decider; d.Stage != "ingress-sg" {
		t.Errorf("svc -> priv decided by %s %s, want ingress-sg", d.Stage, d.Object)
	}
}

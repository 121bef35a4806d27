package config

import (
	"net/netip"
	"strings"
	"testing"
)

// hostsBase spans two hosts; cases append instances or hosts.
const hostsBase = `version: 1
hosts:
  - {name: h1, tunnel_ip: 100.64.0.1}
  - {name: h2, tunnel_ip: 100.64.0.2}
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    subnets:
      - {name: a, cidr: 10.1.1.0/24}
    instances:
`

func TestHostsValid(t *testing.T) {
	top, _, err := parse(t, hostsBase+"      - {name: web, subnet: a, host: h1}\n      - {name: db, subnet: a, host: h2}\n")
	if err != nil {
		t.Fatal(err)
	}
	if h := top.Hypervisor("h2"); h == nil || h.TunnelAddr != netip.MustParseAddr("100.64.0.2") {
		t.Fatalf("h2: %+v", h)
	}
	if top.Hypervisor("h3") != nil {
		t.Error("found a host that is not there")
	}
	if in := top.VPCs[0].Instances[1]; in.Host != "h2" || !in.Addr.IsValid() {
		t.Errorf("db: %+v", in)
	}
	if m := top.InstanceMTU(); m != 1450 {
		t.Errorf("instance MTU %d, want 1450", m)
	}
	jumbo, _, err := parse(t, strings.Replace(hostsBase, "vpcs:", "underlay_mtu: 9000\nvpcs:", 1))
	if err != nil {
		t.Fatal(err)
	}
	if m := jumbo.InstanceMTU(); m != 8950 {
		t.Errorf("instance MTU %d on a 9000 underlay, want 8950", m)
	}
}

func TestHostsErrors(t *testing.T) {
	for _, c := range []errorCase{
		{"host without hosts", base + "    instances:\n      - {name: web, subnet: a, host: h1}\n",
			[]string{`t.yaml:8: vpcs[prod].instances[web].host: host "h1": the topology lists no hosts`}},
		{"host missing", hostsBase + "      - {name: web, subnet: a}\n",
			[]string{"t.yaml:11: vpcs[prod].instances[web].host: missing: the topology lists hosts"}},
		{"unknown host", hostsBase + "      - {name: web, subnet: a, host: h9}\n",
			[]string{`t.yaml:11: vpcs[prod].instances[web].host: host "h9" is not in hosts:`}},
		{"duplicate host", strings.Replace(hostsBase, "name: h2", "name: h1", 1),
			[]string{`t.yaml:4: hosts[h1].name: duplicate host name "h1"`}},
		{"duplicate tunnel ip", strings.Replace(hostsBase, "100.64.0.2", "100.64.0.1", 1),
			[]string{"t.yaml:4: hosts[h2].tunnel_ip: 100.64.0.1 is already the tunnel address of host h1"}},
		{"bad tunnel ip", strings.Replace(hostsBase, "100.64.0.2", "100.64.0", 1),
			[]string{"t.yaml:4: hosts[h2].tunnel_ip:"}},
		{"loopback tunnel ip", strings.Replace(hostsBase, "100.64.0.2", "127.0.0.2", 1),
			[]string{"hosts[h2].tunnel_ip: 127.0.0.2 is not a usable unicast IPv4 address"}},
		{"tunnel ip missing", strings.Replace(hostsBase, ", tunnel_ip: 100.64.0.2", "", 1),
			[]string{"hosts[h2].tunnel_ip: missing required field"}},
		{"underlay mtu too small", strings.Replace(hostsBase, "vpcs:", "underlay_mtu: 1300\nvpcs:", 1),
			[]string{"t.yaml:5: underlay_mtu: 1300 is outside 1330-9216"}},
		{"underlay mtu without hosts", strings.Replace(base, "vpcs:", "underlay_mtu: 9000\nvpcs:", 1),
			[]string{"underlay_mtu: the topology lists no hosts"}},
		{"external without host", strings.Replace(hostsBase, "vpcs:", "external: {cidr: 203.0.113.0/24, gateway: 203.0.113.1}\nvpcs:", 1),
			[]string{"t.yaml:5: external.host: missing: the topology lists hosts"}},
		{"external on unknown host", strings.Replace(hostsBase, "vpcs:", "external: {cidr: 203.0.113.0/24, gateway: 203.0.113.1, host: h7}\nvpcs:", 1),
			[]string{`external.host: host "h7" is not in hosts:`}},
		{"external host without hosts", strings.Replace(base, "vpcs:", "external: {cidr: 203.0.113.0/24, gateway: 203.0.113.1, host: h1}\nvpcs:", 1),
			[]string{`external.host: host "h1": the topology lists no hosts`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			top, _, err := parse(t, c.src)
			if err == nil || top != nil {
				t.Fatalf("no error (topology %v)", top != nil)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

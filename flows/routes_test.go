package flows

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// internetTopology is handTopology with an external network, a NAT gateway,
// an elastic IP, and a route table exercising every kind of route.
func internetTopology() *Topology {
	t := handTopology()
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	t.External = &External{ID: 900, CIDR: netip.MustParsePrefix("203.0.113.0/24"), Gateway: netip.MustParseAddr("203.0.113.1"),
		MAC: mac("0a:00:00:00:00:ee"), Hosts: []Host{{Name: "inet", Port: 9, MAC: mac("02:00:00:00:00:99"), IP: netip.MustParseAddr("203.0.113.100")}}}
	v := &t.VPCs[0]
	v.NATZone = 901
	v.NATGateways = []NATGateway{{Name: "nat1", Owner: "vpcs[lab].nat_gateways[nat1]", ID: GatewayNATBase, PublicIP: netip.MustParseAddr("203.0.113.10")}}
	s := &v.Subnets[0]
	s.Instances[0].PublicIP = netip.MustParseAddr("203.0.113.20")
	s.Instances[1].Forward = true
	s.Routes = []Route{
		{Owner: "r0", Dest: netip.MustParsePrefix("0.0.0.0/0"), Kind: RouteInternetGateway},
		{Owner: "r1", Dest: netip.MustParsePrefix("198.51.100.0/24"), Kind: RouteNATGateway, NATGateway: GatewayNATBase},
		{Owner: "r2", Dest: netip.MustParsePrefix("198.51.100.128/25"), Kind: RouteInstance, InstanceMAC: s.Instances[1].MAC, InstanceForward: true},
		{Owner: "r3", Dest: netip.MustParsePrefix("192.0.2.0/24"), Kind: RouteInstance, InstanceMAC: s.Instances[0].MAC},
		{Owner: "r4", Dest: netip.MustParsePrefix("10.9.0.0/16"), Kind: RoutePeering},
	}
	return t
}

func byOwner(set *Set, owner string) []*Flow {
	var out []*Flow
	for _, f := range set.Flows {
		if f.Owner == owner {
			out = append(out, f)
		}
	}
	return out
}

func TestRoutesLongestPrefixAndLocal(t *testing.T) {
	set, err := Compile(internetTopology())
	if err != nil {
		t.Fatal(err)
	}
	prio := map[string]uint16{}
	for _, o := range []string{"r0", "r1", "r2", "r3", "r4", "vpcs[lab].local-route"} {
		fs := byOwner(set, o)
		if len(fs) != 1 || fs[0].Table != TL3Forwarding {
			t.Fatalf("%s: want one L3Forwarding flow, got %v", o, fs)
		}
		prio[o] = fs[0].Priority
	}
	// Longer prefixes win; the local route beats every route; instances beat the local route.
	if !(prio["r0"] < prio["r1"] && prio["r1"] < prio["r2"] && prio["vpcs[lab].local-route"] > prio["r2"] && PrioNormal > prio["vpcs[lab].local-route"]) {
		t.Errorf("priorities out of order: %v", prio)
	}
	// A route to an instance that checks source/destination drops, as does a peering route (not forwarded yet).
	for _, o := range []string{"r3", "r4", "vpcs[lab].local-route"} {
		if f := byOwner(set, o)[0]; len(f.Actions) != 0 || f.Goto != nil {
			t.Errorf("%s should drop: %s", o, f)
		}
	}
	if f := byOwner(set, "r2")[0]; f.Goto != TL2Lookup || !strings.Contains(f.String(), "02:00:00:00:00:0b") {
		t.Errorf("appliance route should hand the packet to b: %s", f)
	}
	if f := byOwner(set, "r0")[0]; !strings.Contains(f.String(), "load:0x1->NXM_NX_REG5") || f.Goto != TCtLookup {
		t.Errorf("internet route should set the gateway register and go to conntrack: %s", f)
	}
}

func TestGatewayTranslation(t *testing.T) {
	set, err := Compile(internetTopology())
	if err != nil {
		t.Fatal(err)
	}
	text := set.Text()
	for _, want := range []string{
		// Elastic IP: DNAT in, SNAT out only for the instance's own port.
		"ct(commit,table=GatewayInState,zone=901,nat(dst=10.0.1.4))",
		"reg1=0x1/0xffff,reg5=0x1/0xffff actions=ct(commit,table=ExternalForwarding,zone=901,nat(src=203.0.113.20))",
		// NAT gateway: replies un-NATed only, untranslated packets drop.
		"ct(table=GatewayInState,zone=901,nat)",
		"table=GatewayInState, priority=300,ip,nw_dst=203.0.113.10,reg0=0x7/0xffff actions=drop",
		"reg5=0x2/0xffff actions=ct(commit,table=ExternalForwarding,zone=901,nat(src=203.0.113.10))",
		// Public IPs answer ARP on the external network only.
		"arp_tpa=203.0.113.20,reg0=0x384/0xffff",
		// Appliance b may send from any address; a may not.
		"in_port=2,dl_src=02:00:00:00:00:0b,ip actions=goto_table:ARPResponder",
		"in_port=1,dl_src=02:00:00:00:00:0a,ip,nw_src=10.0.1.4 actions=goto_table:ARPResponder",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	// No GatewayOut flow for the internet gateway without an elastic IP: b's
	// packets routed there hit the table-miss.
	for _, f := range set.Flows {
		if f.Table == TGatewayOut && strings.Contains(f.String(), "reg1=0x2/") {
			t.Errorf("b has no public IP but has %s", f)
		}
	}
	for _, f := range set.Flows {
		if _, err := f.FlowMod(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

package flows

import (
	"net/netip"
	"strings"
	"testing"
)

// tunnelTopology is handTopology with b on another host (tunnel address
// 100.64.0.2) and the tunnel on port 9.
func tunnelTopology() *Topology {
	t := handTopology()
	t.Tunnel = 9
	b := &t.VPCs[0].Subnets[0].Instances[1]
	b.Port, b.Remote = RemotePort(3), netip.MustParseAddr("100.64.0.2")
	return t
}

func TestTunnelGolden(t *testing.T) {
	set, err := Compile(tunnelTopology())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "tunnel.flows", set.Text())
	checkEncodes(t, set)
}

// A remote instance has no port here: nothing classifies it, its address is
// answered and routed to, and Output sends to it through the tunnel with
// its VPC id as the key. What the tunnel brings in goes to the lookup with
// the key's VPC and on through conntrack to the commit; it is never sent
// back out. The local instance's flows are the same as on one host.
func TestTunnelFlows(t *testing.T) {
	set, err := Compile(tunnelTopology())
	if err != nil {
		t.Fatal(err)
	}
	text := set.Text()
	for _, want := range []string{
		"table=Classifier, priority=200,tun_id=0x7,in_port=9,ip actions=load:0x7->NXM_NX_REG0[0..15],load:0x7->NXM_NX_REG7[0..15],load:0x7fff->NXM_NX_REG1[0..15],load:0xffff->NXM_NX_REG3[0..15],goto_table:L2Lookup",
		"table=ConntrackState, priority=200,ip,reg1=0x7fff/0xffff actions=goto_table:ConntrackCommit",
		"table=L2Lookup, priority=200,dl_dst=02:00:00:00:00:0b,reg0=0x7/0xffff actions=load:0x4003->NXM_NX_REG2[0..15]",
		"table=Output, priority=200,reg2=0x4003/0xffff actions=set_field:0x7->tun_id,set_field:100.64.0.2->tun_dst,output:9",
		"table=Output, priority=400,in_port=9,reg2=0x4000/0xc000 actions=drop",
		"arp_tpa=10.0.1.5",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no flow with %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "dl_src=02:00:00:00:00:0b") {
		t.Errorf("the remote instance has port-security flows here:\n%s", text)
	}
	checkUnchanged(t, set, "vpcs[lab].instances[a]", "local instance flow changed by a remote one beside it")
}

// Across a peering, what the tunnel brings from the peer's addresses is
// committed in the peering's zone, where the reply will look it up.
func TestTunnelPeeringZone(t *testing.T) {
	top := tunnelTopology()
	top.VPCs[0].Subnets[0].Routes = []Route{{Owner: "r", Dest: netip.MustParsePrefix("10.9.0.0/16"), Kind: RoutePeering, Peer: "other", PeeringZone: 0x99}}
	top.VPCs = append(top.VPCs, VPC{Name: "other", ID: 8, CIDR: netip.MustParsePrefix("10.9.0.0/16"), RouterMAC: top.VPCs[0].RouterMAC})
	set, err := Compile(top)
	if err != nil {
		t.Fatal(err)
	}
	want := "priority=316,tun_id=0x7,in_port=9,ip,nw_src=10.9.0.0/16 actions=load:0x7->NXM_NX_REG0[0..15],load:0x99->NXM_NX_REG7[0..15]"
	if !strings.Contains(set.Text(), want) {
		t.Errorf("no flow with %q in:\n%s", want, set.Text())
	}
}

// The gateways on another host: what leaves the VPC (reg5 != 0, below the
// reg5=0 flow) goes through the tunnel to that host, key = VPC id with
// TunToGateway. On the gateway host, that key with a remote instance's
// address is routed again with the instance's own registers.
func TestTunnelGatewayHost(t *testing.T) {
	away := tunnelTopology()
	away.GatewayHost = netip.MustParseAddr("100.64.0.1")
	set, err := Compile(away)
	if err != nil {
		t.Fatal(err)
	}
	want := "table=GatewayOut, priority=50,ip,reg0=0x7/0xffff actions=set_field:0x800007->tun_id,set_field:100.64.0.1->tun_dst,output:9"
	if !strings.Contains(set.Text(), want) {
		t.Errorf("no flow with %q in:\n%s", want, set.Text())
	}
	checkEncodes(t, set)

	here := tunnelTopology()
	here.External = &External{ID: 99, CIDR: netip.MustParsePrefix("203.0.113.0/24"), Gateway: netip.MustParseAddr("203.0.113.1"), MAC: here.VPCs[0].RouterMAC}
	set, err = Compile(here)
	if err != nil {
		t.Fatal(err)
	}
	want = "table=Classifier, priority=200,tun_id=0x800007,in_port=9,ip,nw_src=10.0.1.5 actions=load:0x7->NXM_NX_REG0[0..15],load:0x7->NXM_NX_REG7[0..15],load:0x4003->NXM_NX_REG1[0..15],load:0x1->NXM_NX_REG3[0..15],goto_table:L3Forwarding"
	if !strings.Contains(set.Text(), want) {
		t.Errorf("no flow with %q in:\n%s", want, set.Text())
	}
	if strings.Contains(set.Text(), "0x800007->tun_id") {
		t.Error("the gateway host sends to the gateways through the tunnel")
	}
	checkEncodes(t, set)
}

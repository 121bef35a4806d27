package flows

import "net/netip"

// The external network is one flat segment of the bridge, keyed by its own
// RegVPC value: its hosts reach each other and the public IPs, which answer
// ARP with the gateway's MAC. It has no security stages (it is the internet).
const externalOwner = "external"

func hostOwner(h *Host) string { return "external.hosts[" + h.Name + "]" }

func host32(ip netip.Addr) netip.Prefix { return netip.PrefixFrom(ip, 32) }

// externalFlows attach the external network's hosts and its gateway.
func externalFlows(e *External) []*Flow {
	seg := uint32(e.ID)
	onSeg := Match{}.Reg(RegVPC, seg)
	fs := []*Flow{
		// Packets from the external network may be for a public IP: GatewayIn.
		{Table: TARPResponder, Priority: PrioNormal, Match: onSeg.EthType(EthIPv4), Goto: TGatewayIn},
		// No security groups or conntrack between internet hosts.
		{Table: TCtLookup, Priority: PrioNormal, Match: onSeg.EthType(EthIPv4), Goto: TOutput},
	}
	gwMAC := e.MAC
	if e.HostPort != nil {
		gwMAC = e.HostPort.MAC // the host's own stack holds the gateway address
	} else {
		fs = append(fs, icmpEchoReply(e.ID, e.Gateway, e.MAC, CatExternal, externalOwner))
	}
	fs = append(fs, arpReply(e.ID, e.Gateway, gwMAC, CatExternal, externalOwner))
	for i := range e.Hosts {
		fs = append(fs, externalPortFlows(e, &e.Hosts[i], host32(e.Hosts[i].IP), hostOwner(&e.Hosts[i]))...)
	}
	if h := e.HostPort; h != nil {
		// The host may route others' traffic onward: any source address.
		fs = append(fs, externalPortFlows(e, h, netip.Prefix{}, "external.attach")...)
		// Leaving the VPCs for an address that is no internet host: to the host.
		fs = append(fs, &Flow{Table: TExternalFwd, Priority: PrioLow, Match: Match{}.EthType(EthIPv4),
			Actions: []Action{SetEthSrc(e.MAC), SetEthDst(h.MAC), LoadReg(RegDstPort, h.Port)}, Goto: TOutput,
			Category: CatExternal, Owner: "external.attach"})
	}
	return own(CatExternal, externalOwner, fs)
}

// externalPortFlows are one external port's flows: classified onto the
// segment, anti-spoofing, its ARP answered, delivery to it on the segment and
// from the VPCs (after source NAT).
func externalPortFlows(e *External, h *Host, src netip.Prefix, owner string) []*Flow {
	seg := uint32(e.ID)
	from := Match{}.InPort(h.Port).EthSrc(h.MAC)
	fs := []*Flow{
		{Table: TClassifier, Priority: PrioNormal, Match: Match{}.InPort(h.Port),
			Actions: []Action{LoadReg(RegVPC, seg), LoadReg(RegSrcPort, h.Port), LoadReg(RegSrcSubnet, SubnetOutside)}, Goto: TPortSecurity},
		{Table: TPortSecurity, Priority: PrioNormal, Match: from.EthType(EthIPv4).IPSrc(src), Goto: TARPResponder},
		{Table: TL2Lookup, Priority: PrioNormal, Match: Match{}.Reg(RegVPC, seg).EthDst(h.MAC),
			Actions: []Action{LoadReg(RegDstPort, h.Port)}, Goto: TCtLookup},
	}
	if h.IP.IsValid() {
		fs = append(fs,
			&Flow{Table: TPortSecurity, Priority: PrioNormal, Match: from.EthType(EthARP).ARPSpa(h.IP).ARPSha(h.MAC), Goto: TARPResponder},
			&Flow{Table: TExternalFwd, Priority: PrioNormal, Match: Match{}.EthType(EthIPv4).IPDst(host32(h.IP)),
				Actions: []Action{SetEthSrc(e.MAC), SetEthDst(h.MAC), LoadReg(RegDstPort, h.Port)}, Goto: TOutput})
		if h.IP != e.Gateway {
			fs = append(fs, arpReply(e.ID, h.IP, h.MAC, CatExternal, owner))
		}
	}
	return own(CatExternal, owner, fs)
}

// gatewayFlows are a VPC's NAT gateways and elastic IPs: their public IPs
// answer ARP on the external network; inbound packets are translated in the
// VPC's NAT zone and enter the VPC; outbound packets routed to a gateway are
// source-NATed there and forwarded on the external network.
func gatewayFlows(v *VPC, e *External) []*Flow {
	if e == nil {
		return nil
	}
	vpc := uint32(v.ID)
	toPublic := func(ip netip.Addr) Match {
		return Match{}.Reg(RegVPC, uint32(e.ID)).EthDst(e.MAC).EthType(EthIPv4).IPDst(host32(ip))
	}
	var fs []*Flow
	for _, n := range v.NATGateways {
		fs = append(fs, own(CatGateway, n.Owner, []*Flow{
			arpReply(e.ID, n.PublicIP, e.MAC, CatGateway, n.Owner),
			// Replies are un-NATed; a new connection from outside is not, and drops.
			{Table: TGatewayIn, Priority: PrioNormal, Match: toPublic(n.PublicIP),
				Actions: []Action{LoadReg(RegVPC, vpc), LoadReg(RegZone, vpc), CTNAT(false, v.NATZone, TGatewayInSt, NATReverse, netip.Addr{})}},
			{Table: TGatewayInSt, Priority: PrioHigh, Match: Match{}.Reg(RegVPC, vpc).EthType(EthIPv4).IPDst(host32(n.PublicIP))},
			{Table: TGatewayOut, Priority: PrioNormal, Match: Match{}.Reg(RegVPC, vpc).Reg(RegGateway, uint32(n.ID)).EthType(EthIPv4),
				Actions: []Action{CTNAT(true, v.NATZone, TExternalFwd, NATSrc, n.PublicIP)}},
			hairpin(e, n.PublicIP),
		})...)
	}
	public := false
	for si := range v.Subnets {
		for ii := range v.Subnets[si].Instances {
			i := &v.Subnets[si].Instances[ii]
			if !i.PublicIP.IsValid() {
				continue
			}
			public = true
			owner := instanceOwner(v, i) + ".public_ip"
			fs = append(fs, own(CatGateway, owner, []*Flow{
				arpReply(e.ID, i.PublicIP, e.MAC, CatGateway, owner),
				// 1:1 NAT: new inbound connections are translated to the
				// instance, replies of its outbound ones are un-NATed.
				{Table: TGatewayIn, Priority: PrioNormal, Match: toPublic(i.PublicIP),
					Actions: []Action{LoadReg(RegVPC, vpc), LoadReg(RegZone, vpc), CTNAT(true, v.NATZone, TGatewayInSt, NATDst, i.IP)}},
				{Table: TGatewayOut, Priority: PrioNormal,
					Match:   Match{}.Reg(RegVPC, vpc).Reg(RegGateway, uint32(GatewayInternet)).Reg(RegSrcPort, i.Port).EthType(EthIPv4),
					Actions: []Action{CTNAT(true, v.NATZone, TExternalFwd, NATSrc, i.PublicIP)}},
				hairpin(e, i.PublicIP),
			})...)
		}
	}
	if public || len(v.NATGateways) > 0 {
		// Translated: into the VPC, addressed to its router, which delivers
		// it by the local route (RegSrcSubnet says: from outside).
		fs = append(fs, &Flow{Table: TGatewayInSt, Priority: PrioNormal,
			Match:   Match{}.Reg(RegVPC, vpc).EthType(EthIPv4).CtState(CtTrk, CtInv),
			Actions: []Action{SetEthDst(v.RouterMAC)}, Goto: TL3Forwarding, Category: CatVPC, Owner: vpcOwner(v)})
	}
	return fs
}

// hairpin sends a packet that left a VPC for a public IP of this bridge back
// in, as the internet would: it arrives on the external network from the
// gateway, with the registers of a packet from outside, and meets the public
// IP's NAT in GatewayIn. ct_clear first: the packet was just translated in
// a NAT zone, maybe the same one, and must be looked up again as a new
// packet there (userspace OVS would otherwise reuse the connection it met:
// without ct_clear, a hairpin inside one VPC gets no reply). in_port is
// cleared so that an instance may reach its own public IP.
func hairpin(e *External, public netip.Addr) *Flow {
	return &Flow{Table: TExternalFwd, Priority: PrioNormal, Match: Match{}.EthType(EthIPv4).IPDst(host32(public)),
		Actions: []Action{
			CtClear(), ClearInPort(), SetEthSrc(e.MAC), SetEthDst(e.MAC),
			LoadReg(RegVPC, uint32(e.ID)), LoadReg(RegSrcPort, 0), LoadReg(RegDstPort, 0),
			LoadReg(RegSrcSubnet, SubnetOutside), LoadReg(RegDstSubnet, 0), LoadReg(RegGateway, 0),
			LoadReg(RegDstVPC, 0), LoadReg(RegZone, 0), Resubmit(TGatewayIn),
		}}
}

package flows

import "net/netip"

// instanceFlows attach one instance: its port is classified into its VPC, may
// send only from its own MAC and IP, has its address answered by ARP flows,
// and receives what is addressed to its MAC within its VPC.
//
// A trunk instance (i.VLAN) is the trunk port with its tag; it receives
// through trunkOutput.
func instanceFlows(v *VPC, s *Subnet, i *Instance, trunk uint32) []*Flow {
	owner := instanceOwner(v, i)
	vpc := uint32(v.ID)
	port, prio := Match{}.InPort(i.Port), PrioNormal
	if i.VLAN != 0 {
		port, prio = Match{}.InPort(trunk).VLANID(i.VLAN), PrioTagged
	}
	fromPort := port.EthSrc(i.MAC)
	fs := []*Flow{
		{Table: TClassifier, Priority: prio, Match: port,
			Actions: []Action{LoadReg(RegVPC, vpc), LoadReg(RegZone, vpc), LoadReg(RegSrcPort, i.Port), LoadReg(RegSrcSubnet, uint32(s.ID))}, Goto: TPortSecurity},
		{Table: TPortSecurity, Priority: PrioNormal, Match: fromPort.EthType(EthIPv4).IPSrc(srcCheck(i)),
			Goto: TARPResponder},
		{Table: TPortSecurity, Priority: PrioNormal, Match: fromPort.EthType(EthARP).ARPSpa(i.IP).ARPSha(i.MAC),
			Goto: TARPResponder},
		arpReply(v.ID, i.IP, i.MAC, CatInstance, owner),
	}
	fs = append(fs, deliveryFlows(v, s, i)...)
	if i.VLAN != 0 {
		fs = append(fs, trunkOutput(trunk, i)...)
	}
	return own(CatInstance, owner, fs)
}

// deliveryFlows find an instance (of this host or another): the VPC
// router delivers to it from the other subnets, and its MAC in its VPC is
// its port (a remote id for another host's) and subnet.
func deliveryFlows(v *VPC, s *Subnet, i *Instance) []*Flow {
	vpc := uint32(v.ID)
	return []*Flow{
		{Table: TL3Forwarding, Priority: PrioNormal,
			Match:   Match{}.Reg(RegVPC, vpc).EthDst(v.RouterMAC).EthType(EthIPv4).IPDst(netip.PrefixFrom(i.IP, 32)),
			Actions: []Action{SetEthSrc(v.RouterMAC), SetEthDst(i.MAC), DecTTL()}, Goto: TL2Lookup},
		{Table: TL2Lookup, Priority: PrioNormal, Match: Match{}.Reg(RegVPC, vpc).EthDst(i.MAC),
			Actions: []Action{LoadReg(RegDstPort, i.Port), LoadReg(RegDstSubnet, uint32(s.ID)), LoadReg(RegDstVPC, vpc)}, Goto: TCtLookup},
	}
}

// srcCheck is the source prefix an instance may send from: its own address,
// or any with source_dest_check: false (an appliance forwarding others'
// packets; its MAC is still checked, as AWS does).
func srcCheck(i *Instance) netip.Prefix {
	if i.Forward {
		return netip.Prefix{} // IPSrc adds nothing for it: any source
	}
	return netip.PrefixFrom(i.IP, 32)
}

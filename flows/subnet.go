package flows

import (
	"net"
	"net/netip"
)

// subnetFlows make the VPC router's address (.1) of a subnet answer ARP.
func subnetFlows(v *VPC, s *Subnet) []*Flow {
	owner := subnetOwner(v, s)
	return []*Flow{
		arpReply(v, s.Router, v.RouterMAC, CatSubnet, owner),
		icmpEchoReply(v, s.Router, v.RouterMAC, owner),
	}
}

// icmpEchoReply makes the router address answer ping: the request is turned
// into the reply in place (addresses swapped, a fresh TTL, type 8 -> 0; OVS
// fixes the checksums) and sent back out its port.
func icmpEchoReply(v *VPC, ip netip.Addr, mac net.HardwareAddr, owner string) *Flow {
	return &Flow{
		Table:    TL3Forwarding,
		Priority: PrioHigh,
		Match: Match{}.Reg(RegVPC, uint32(v.ID)).EthDst(mac).EthType(EthIPv4).
			IPDst(netip.PrefixFrom(ip, 32)).IPProto(ProtoICMP).ICMPType(ICMPEchoRequest),
		Actions: []Action{
			MoveEthSrcToDst(),
			SetEthSrc(mac),
			MoveIPSrcToDst(),
			SetIPSrc(ip),
			SetIPTTL(64),
			SetICMPType(ICMPEchoReply),
			OutputInPort(),
		},
		Category: CatSubnet,
		Owner:    owner,
	}
}

// arpReply answers an ARP request for ip in VPC v with mac, turning the
// request into the reply in place and sending it back out its port.
func arpReply(v *VPC, ip netip.Addr, mac net.HardwareAddr, cat Category, owner string) *Flow {
	return &Flow{
		Table:    TARPResponder,
		Priority: PrioNormal,
		Match:    Match{}.Reg(RegVPC, uint32(v.ID)).EthType(EthARP).ARPOp(ARPRequest).ARPTpa(ip),
		Actions: []Action{
			MoveEthSrcToDst(),
			SetEthSrc(mac),
			SetARPOp(ARPReply),
			MoveARPShaToTha(),
			SetARPSha(mac),
			MoveARPSpaToTpa(),
			SetARPSpa(ip),
			OutputInPort(),
		},
		Category: cat,
		Owner:    owner,
	}
}

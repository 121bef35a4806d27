package flows

import (
	"net"
	"net/netip"
)

// subnetFlows make the VPC router's address (.1) of a subnet answer ARP.
func subnetFlows(v *VPC, s *Subnet) []*Flow {
	owner := subnetOwner(v, s)
	return []*Flow{
		arpReply(v.ID, s.Router, v.RouterMAC, CatSubnet, owner),
		icmpEchoReply(v.ID, s.Router, v.RouterMAC, CatSubnet, owner),
	}
}

// icmpEchoReply makes the router address answer ping: the request is turned
// into the reply in place (addresses swapped, a fresh TTL, type 8 -> 0; OVS
// fixes the checksums) and sent back out its port.
func icmpEchoReply(segment uint16, ip netip.Addr, mac net.HardwareAddr, cat Category, owner string) *Flow {
	return &Flow{
		Table:    TL3Forwarding,
		Priority: PrioHigh,
		Match: Match{}.Reg(RegVPC, uint32(segment)).EthDst(mac).EthType(EthIPv4).
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
		Category: cat,
		Owner:    owner,
	}
}

// arpReply answers an ARP request for ip on a segment (a VPC or the external network) with mac, turning the
// request into the reply in place and sending it back out its port.
func arpReply(segment uint16, ip netip.Addr, mac net.HardwareAddr, cat Category, owner string) *Flow {
	return &Flow{
		Table:    TARPResponder,
		Priority: PrioNormal,
		Match:    Match{}.Reg(RegVPC, uint32(segment)).EthType(EthARP).ARPOp(ARPRequest).ARPTpa(ip),
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

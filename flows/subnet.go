package flows

import (
	"net"
	"net/netip"
)

// subnetFlows make the VPC router's address (.1) of a subnet answer ARP.
func subnetFlows(v *VPC, s *Subnet) []*Flow {
	owner := subnetOwner(v, s)
	return []*Flow{arpReply(v, s.Router, v.RouterMAC, CatSubnet, owner)}
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

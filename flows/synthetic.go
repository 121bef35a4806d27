package flows

import (
	"fmt"
	"net"
	"net/netip"
)

// Synthetic builds a topology of n VPCs x s subnets x i instances, every VPC
// with the same 10.0.0.0/16 (the multi-tenant case), for benchmarks and
// scale tests.
func Synthetic(n, s, i int) *Topology {
	t := &Topology{}
	port := uint32(1)
	for v := 0; v < n; v++ {
		vpc := VPC{Name: fmt.Sprintf("vpc%d", v), ID: uint16(v + 1), CIDR: netip.MustParsePrefix("10.0.0.0/16"),
			RouterMAC: net.HardwareAddr{0x0a, 0, 0, byte(v >> 8), byte(v), 1}}
		for sn := 0; sn < s; sn++ {
			sub := Subnet{Name: fmt.Sprintf("s%d", sn), ID: uint16(sn + 1),
				CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(sn), 0}), 24), Router: netip.AddrFrom4([4]byte{10, 0, byte(sn), 1})}
			for in := 0; in < i; in++ {
				sub.Instances = append(sub.Instances, Instance{Name: fmt.Sprintf("i%d", port), Port: port,
					MAC: net.HardwareAddr{0x02, byte(port >> 16), byte(port >> 8), byte(port), 0, 1},
					IP:  netip.AddrFrom4([4]byte{10, 0, byte(sn), byte(10 + in)})})
				port++
			}
			vpc.Subnets = append(vpc.Subnets, sub)
		}
		t.VPCs = append(t.VPCs, vpc)
	}
	return t
}

// SyntheticSG builds one VPC of n instances over /24 subnets of 100, spread
// over g security groups, with r rules in all (r/g per group, ingress): a
// third from CIDRs with port ranges, a third from other groups, a third
// udp/icmp from groups; every instance is also in the first group.
func SyntheticSG(n, g, r int) *Topology {
	t := Synthetic(1, (n+99)/100, 100)
	v := &t.VPCs[0]
	k := 0
	for si := range v.Subnets {
		for ii := range v.Subnets[si].Instances {
			in := &v.Subnets[si].Instances[ii]
			in.Groups = []string{"g0", fmt.Sprintf("g%d", k%g)}
			k++
		}
	}
	for gi := 0; gi < g; gi++ {
		sg := SecurityGroup{Name: fmt.Sprintf("g%d", gi)}
		for ri := 0; ri < r/g; ri++ {
			rule := SGRule{Owner: fmt.Sprintf("vpcs[vpc0].security_groups[g%d].ingress[%d]", gi, ri)}
			switch ri % 3 {
			case 0:
				rule.Proto, rule.PortLo, rule.PortHi = "tcp", uint16(1000+ri*10), uint16(1000+ri*10+99)
				rule.Peer = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(ri), 0, 0}), 16)
			case 1:
				rule.Proto, rule.PortLo, rule.PortHi = "tcp", uint16(2000+ri), uint16(2000+ri)
				rule.PeerGroup = fmt.Sprintf("g%d", (gi+ri)%g)
			default:
				rule.Proto, rule.PeerGroup = []string{"udp", "icmp"}[ri%2], fmt.Sprintf("g%d", (gi+1)%g)
			}
			sg.Ingress = append(sg.Ingress, rule)
		}
		v.SecurityGroups = append(v.SecurityGroups, sg)
	}
	return t
}

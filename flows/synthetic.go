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

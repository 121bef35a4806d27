package flows

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// bigTopology has n VPCs x s subnets x i instances, all VPCs with the same CIDR.
func bigTopology(n, s, i int) *Topology {
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

func BenchmarkCompile10k(b *testing.B) {
	t := bigTopology(100, 10, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(t); err != nil {
			b.Fatal(err)
		}
	}
}

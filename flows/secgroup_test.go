package flows

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// A rule naming a peered VPC's group matches that VPC's members, never the
// local group of the same name.
func TestPeerVPCGroupUsesPeerMembers(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	topo := &Topology{VPCs: []VPC{
		{Name: "prod", ID: 1, CIDR: netip.MustParsePrefix("10.1.0.0/16"), RouterMAC: mac,
			SecurityGroups: []SecurityGroup{{Name: "db", Ingress: []SGRule{{Owner: "db-rule", Proto: "tcp", PortLo: 5432, PortHi: 5432, PeerGroup: "default", PeerVPC: "shared"}}}},
			Subnets: []Subnet{{Name: "s", ID: 1, CIDR: netip.MustParsePrefix("10.1.1.0/24"), Router: netip.MustParseAddr("10.1.1.1"),
				Instances: []Instance{
					{Name: "db1", Port: 1, MAC: net.HardwareAddr{2, 0, 0, 0, 1, 1}, IP: netip.MustParseAddr("10.1.1.10"), Groups: []string{"db"}},
					{Name: "local", Port: 2, MAC: net.HardwareAddr{2, 0, 0, 0, 1, 2}, IP: netip.MustParseAddr("10.1.1.20"), Groups: []string{"default"}},
				}}}},
		{Name: "shared", ID: 2, CIDR: netip.MustParsePrefix("10.2.0.0/16"), RouterMAC: mac,
			Subnets: []Subnet{{Name: "t", ID: 1, CIDR: netip.MustParsePrefix("10.2.1.0/24"), Router: netip.MustParseAddr("10.2.1.1"),
				Instances: []Instance{{Name: "ci1", Port: 3, MAC: net.HardwareAddr{2, 0, 0, 0, 2, 1}, IP: netip.MustParseAddr("10.2.1.4"), Groups: []string{"default"}}}}}},
	}}
	set, err := Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	var peer, local bool
	for _, f := range set.Flows {
		if !strings.Contains(f.Owner, "db-rule") {
			continue
		}
		s := f.String()
		peer = peer || strings.Contains(s, "nw_src=10.2.1.4")
		local = local || strings.Contains(s, "nw_src=10.1.1.20")
	}
	if !peer || local {
		t.Fatalf("peer member matched: %v, local namesake matched: %v\n%s", peer, local, set.Text())
	}
}

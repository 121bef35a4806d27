package controller

import (
	"testing"

	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/ovsdb"
)

func trunkAtts(names ...string) []*attachment {
	var out []*attachment
	for _, n := range names {
		out = append(out, &attachment{VPC: "v", Name: n, Port: "h-" + n, Attach: attachTrunk})
	}
	return out
}

// VLAN ids come from names, not file order, and once recorded never move.
func TestAssignVLANsStable(t *testing.T) {
	a := trunkAtts("web", "db", "cache")
	assignVLANs(a, nil)
	got := map[string]uint16{}
	for _, x := range a {
		if x.VLAN == 0 || x.VLAN > 4094 {
			t.Fatalf("%s: VLAN %d", x.Name, x.VLAN)
		}
		got[x.Name] = x.VLAN
	}
	// Another order, one more instance: the same ids.
	b := trunkAtts("new", "cache", "web", "db")
	assignVLANs(b, nil)
	for _, x := range b {
		if v, ok := got[x.Name]; ok && v != x.VLAN {
			t.Errorf("%s moved from VLAN %d to %d when the file was reordered", x.Name, v, x.VLAN)
		}
	}
	// Recorded ids win over derived ones, also a clash with a new name.
	tp := trunkPortAttachment("br", b)
	existing := withTrunkRecords([]ovsdb.PortInfo{{Name: tp.Port, ExternalIDs: tp.externalIDs()}})
	if len(existing) != 1+len(b) {
		t.Fatalf("records read back: %d, want %d", len(existing)-1, len(b))
	}
	c := trunkAtts("db", "web", "cache", "new")
	assignVLANs(c, existing)
	for i, x := range c {
		for _, y := range b {
			if y.Name == x.Name && y.VLAN != x.VLAN {
				t.Errorf("%s: recorded VLAN %d, got %d", x.Name, y.VLAN, x.VLAN)
			}
		}
		for _, y := range c[:i] {
			if y.VLAN == x.VLAN {
				t.Errorf("%s and %s share VLAN %d", x.Name, y.Name, x.VLAN)
			}
		}
	}
	for _, p := range existing[1:] {
		if p.Type != attachTrunk || p.Ofport != int(flows.TrunkPort(uint16(p.Ofport&0xfff))) || p.ExternalIDs[keyInstance] == "" {
			t.Errorf("record read back wrong: %+v", p)
		}
	}
}

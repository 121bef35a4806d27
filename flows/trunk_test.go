package flows

import (
	"strings"
	"testing"
)

// trunkTopology is handTopology with b a trunk instance (VLAN 42) and the
// trunk on port 9.
func trunkTopology() *Topology {
	t := handTopology()
	t.Trunk = 9
	b := &t.VPCs[0].Subnets[0].Instances[1]
	b.VLAN, b.Port = 42, TrunkPort(42)
	return t
}

func TestTrunkGolden(t *testing.T) {
	set, err := Compile(trunkTopology())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "trunk.flows", set.Text())
	checkEncodes(t, set)
}

// A trunk instance is classified by the trunk port and its tag, above the
// drop of tagged frames; it receives with its tag out the trunk; a tagged
// packet leaving through a port of its own loses the tag. The veth
// instance's flows are the same as without a trunk.
func TestTrunkFlows(t *testing.T) {
	set, err := Compile(trunkTopology())
	if err != nil {
		t.Fatal(err)
	}
	text := set.Text()
	for _, want := range []string{
		"table=Classifier, priority=500,in_port=9,dl_vlan=42 ",
		"priority=200,in_port=9,dl_src=02:00:00:00:00:0b,ip,dl_vlan=42,nw_src=10.0.1.5 ",
		"set_field:4138->vlan_vid,load:0->NXM_OF_IN_PORT[],output:9",
		"push_vlan:0x8100,set_field:4138->vlan_vid,load:0->NXM_OF_IN_PORT[],output:9",
		"pop_vlan,output:NXM_NX_REG2[0..15]",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no flow with %q in:\n%s", want, text)
		}
	}
	checkUnchanged(t, set, "vpcs[lab].instances[a]", "veth instance flow changed by a trunk beside it")
}

// checkUnchanged: every flow owner had in handTopology's set is in set too
// (same cookie: same table, match and actions).
func checkUnchanged(t *testing.T, set *Set, owner, why string) {
	t.Helper()
	plain, err := Compile(handTopology())
	if err != nil {
		t.Fatal(err)
	}
	cookies := map[uint64]bool{}
	for _, f := range set.Flows {
		cookies[f.Cookie] = true
	}
	for _, f := range plain.Flows {
		if f.Owner == owner && !cookies[f.Cookie] {
			t.Errorf("%s: %s", why, f)
		}
	}
}

package flows

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

// richTopology has a flow of every kind: groups with conjunctions, a network
// ACL, routes to the internet and a NAT gateway, an elastic IP, the external
// network (resubmit and ct(table=) actions).
func richTopology() *Topology {
	t := SyntheticSG(30, 3, 12)
	t.External = &External{ID: 900, CIDR: netip.MustParsePrefix("203.0.113.0/24"), Gateway: netip.MustParseAddr("203.0.113.1"),
		MAC:   net.HardwareAddr{0x0a, 0, 0, 0, 0, 0xfe},
		Hosts: []Host{{Name: "inet", Port: 500, MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0xfe}, IP: netip.MustParseAddr("203.0.113.100")}}}
	v := &t.VPCs[0]
	v.NATZone = 901
	v.NATGateways = []NATGateway{{Name: "nat1", Owner: "nat1", ID: 7, PublicIP: netip.MustParseAddr("203.0.113.10")}}
	v.Subnets[0].Instances[0].PublicIP = netip.MustParseAddr("203.0.113.20")
	v.Subnets[0].Routes = []Route{{Owner: "igw", Dest: netip.MustParsePrefix("0.0.0.0/0"), Kind: RouteInternetGateway}}
	v.Subnets[0].ACL = &ACL{Name: "acl",
		Ingress: []ACLRule{{Owner: "in100", Number: 100, Proto: "tcp", PortLo: 22, PortHi: 22, Peer: netip.MustParsePrefix("10.0.0.0/8"), Allow: true}},
		Egress:  []ACLRule{{Owner: "out100", Number: 100, Proto: "all", Allow: true}}}
	return t
}

// tablesOf are the tables a flow names: its own, its goto and its actions'.
func tablesOf(f *Flow) []*Table {
	ts := []*Table{f.Table}
	if f.Goto != nil {
		ts = append(ts, f.Goto)
	}
	for _, a := range f.Actions {
		if a.table != nil {
			ts = append(ts, a.table)
		}
	}
	return ts
}

// A release that inserts a table into the pipeline renumbers the tables after
// it: every flow of those tables, and every flow that jumps to one of them
// (goto_table, resubmit, ct(table=)), must get a new cookie, so that
// reconcile replaces it; every other flow keeps its cookie (0 flow-mods).
// Tried at every insertion point, without touching the shared tables.
func TestInsertedTableChangesCookiesOfMovedFlows(t *testing.T) {
	topo := richTopology()
	base, err := Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	cookies := make([]uint64, len(base.Flows))
	for i, f := range base.Flows {
		cookies[i] = f.Cookie
	}
	for pos := 0; pos <= len(Pipeline); pos++ {
		order := slices.Insert(slices.Clone(Pipeline), pos, &Table{Name: "NewStage"})
		ids := numberTables(order)
		set, err := compile(topo, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Flows) != len(base.Flows) {
			t.Fatalf("insert at %d: %d flows, want %d", pos, len(set.Flows), len(base.Flows))
		}
		kept, moved, jumps := 0, 0, 0
		for i, f := range set.Flows {
			if f.String() != base.Flows[i].String() {
				t.Fatalf("insert at %d: flow %d is %s, want %s", pos, i, f, base.Flows[i])
			}
			renumbered := false
			for _, tb := range tablesOf(f) {
				renumbered = renumbered || ids.of(tb) != tb.ID
			}
			changed := f.Cookie != cookies[i]
			switch {
			case renumbered != changed:
				t.Errorf("insert at %d: %s: renumbered %v, cookie changed %v", pos, f, renumbered, changed)
			case int(f.Table.ID) >= pos && !changed:
				t.Errorf("insert at %d: %s: its table moved, its cookie did not", pos, f)
			case !changed:
				kept++
			case int(f.Table.ID) >= pos:
				moved++
			default:
				jumps++ // an earlier table's flow that jumps to a moved one
			}
		}
		if pos > 0 && pos < len(Pipeline) && (kept == 0 || moved == 0) {
			t.Errorf("insert at %d: kept %d, moved %d: the topology should have both", pos, kept, moved)
		}
		if pos == len(Pipeline) && kept != len(base.Flows) {
			t.Errorf("a table appended at the end changed %d cookies", len(base.Flows)-kept)
		}
		t.Logf("insert at %2d: %3d cookies kept, %3d moved with their table, %3d jump to a moved table", pos, kept, moved, jumps)
	}
}

// The same compile twice, with Pipeline's own numbers, gives the same cookies
// (numberTables of Pipeline is the identity).
func TestPipelineNumbersAreIdentity(t *testing.T) {
	a, _ := Compile(richTopology())
	b, _ := compile(richTopology(), numberTables(Pipeline))
	for i := range a.Flows {
		if a.Flows[i].Cookie != b.Flows[i].Cookie {
			t.Fatalf("%s: cookie %x vs %x", a.Flows[i], a.Flows[i].Cookie, b.Flows[i].Cookie)
		}
	}
}

// Every flow of every kind encodes, conjunctions (whose text and wire form
// are made on demand) included.
func TestRichTopologyEncodes(t *testing.T) {
	set, err := Compile(richTopology())
	if err != nil {
		t.Fatal(err)
	}
	conj := 0
	for _, f := range set.Flows {
		fm, err := f.FlowMod()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fm.MarshalBinary(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, a := range f.Actions {
			if a.conj.n != 0 {
				conj++
				if want := "conjunction(" + itoa(uint64(a.conj.id)) + "," + itoa(uint64(a.conj.k)) + "/" + itoa(uint64(a.conj.n)) + ")"; a.String() != want {
					t.Errorf("%s: want %s", a, want)
				}
			}
		}
	}
	if conj == 0 {
		t.Fatal("no conjunction action")
	}
}

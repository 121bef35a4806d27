package flows

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// flowLogTopology is handTopology with a NACL on the subnet (a deny rule)
// and flow logs on instance a.
func flowLogTopology(traffic FlowLogTraffic) *Topology {
	t := handTopology()
	s := &t.VPCs[0].Subnets[0]
	s.ACL = &ACL{Name: "acl", Ingress: []ACLRule{
		{Owner: "vpcs[lab].network_acls[acl].ingress[100]", Number: 100, Proto: "tcp", PortLo: 22, PortHi: 22},
		{Owner: "vpcs[lab].network_acls[acl].ingress[200]", Number: 200, Proto: "all", Peer: netip.MustParsePrefix("0.0.0.0/0"), Allow: true},
	}}
	s.Instances[0].FlowLog = traffic
	return t
}

func TestFlowLogGolden(t *testing.T) {
	set, err := Compile(flowLogTopology(FlowLogTraffic{Accept: true, Reject: true}))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "flowlog.flows", set.Text())
	for _, f := range set.Flows {
		fm, err := f.FlowMod()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fm.MarshalBinary(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// Flow logs add flows and change only the NACL's drops (to the controller
// when rejects are logged); without them the flows are what they were.
func TestFlowLogsAddOnly(t *testing.T) {
	off, err := Compile(flowLogTopology(FlowLogTraffic{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []FlowLogTraffic{{Accept: true}, {Reject: true}, {Accept: true, Reject: true}} {
		on, err := Compile(flowLogTopology(tr))
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for _, f := range off.Flows {
			if on.Lookup(f.Cookie) == nil {
				changed++
				if f.Category != CatNACL || f.ActionsString() != "drop" || !tr.Reject {
					t.Errorf("%+v: flow %s (%s) is gone", tr, f, f.Owner)
				}
			}
		}
		if tr.Reject && changed != 3 { // rule 100 and the implicit denies of both directions
			t.Errorf("%+v: %d NACL drops changed, want 3", tr, changed)
		}
		added := map[Category]int{}
		for _, f := range on.Flows {
			if off.Lookup(f.Cookie) == nil {
				added[f.Category]++
				for _, tb := range FlowLogTables {
					if f.Table == tb && f.Priority != PrioMiss && !strings.Contains(f.Match.String(), "reg") {
						t.Errorf("%s matches no port register", f)
					}
				}
			}
		}
		// Accept: 4 in ConntrackCommit, 3 learning flows in each counting
		// table, the two tables' misses. Reject: one flow per group table,
		// three NACL drops with the controller action.
		want := map[Category]int{}
		if tr.Accept {
			want[CatFlowLog] = 4 + 6
		}
		if tr.Reject {
			want[CatSecurityGroup] = 2
			want[CatNACL] = 3
		}
		if want[CatFlowLog] > 0 || want[CatSecurityGroup] > 0 {
			want[CatFlowLog] += 2
		}
		for c, n := range want {
			if added[c] != n {
				t.Errorf("%+v: %d flows of %s added, want %d (all: %v)", tr, added[c], c, n, added)
			}
		}
	}
}

// The learn action's encoding, byte for byte as OVS 3.1 accepted it: its
// dump-flows printed it back as learn(table=17,idle_timeout=10,priority=200,
// send_flow_rem,delete_learned,cookie=0xa6f1000000000000,eth_type=0x800,
// nw_proto=6,NXM_NX_REG1[0..15],NXM_OF_IP_SRC[],NXM_OF_IP_DST[],
// NXM_OF_TCP_SRC[],NXM_OF_TCP_DST[]).
func TestLearnWire(t *testing.T) {
	a, err := learnCount(TFlowLogEgress, RegSrcPort, ProtoTCP).build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "ffff0080000023200010" + // experimenter, length, Nicira, NXAST_LEARN
		"000a" + "0000" + "00c8" + "a6f1000000000000" + "0003" + "1100" + "0000" + "0000" + // idle 10, hard 0, priority 200, cookie, flags, table 17, fin timeouts
		"2010" + "0800" + "00000602" + "0000" + // eth_type=0x800: immediate 16 bits into NXM_OF_ETH_TYPE
		"2008" + "0006" + "00000c01" + "0000" + // nw_proto=6: immediate 8 bits
		"0010" + "00010204" + "0000" + "00010204" + "0000" + // NXM_NX_REG1[0..15] from the packet
		"0020" + "00000e04" + "0000" + "00000e04" + "0000" + // NXM_OF_IP_SRC[]
		"0020" + "00001004" + "0000" + "00001004" + "0000" + // NXM_OF_IP_DST[]
		"0010" + "00001202" + "0000" + "00001202" + "0000" + // NXM_OF_TCP_SRC[]
		"0010" + "00001402" + "0000" + "00001402" + "0000" // NXM_OF_TCP_DST[]
	got := hex.EncodeToString(b)
	for len(want) < len(got) {
		want += "00" // padding to 8 bytes
	}
	if got != want || int(a.Len()) != len(b) || len(b)%8 != 0 {
		t.Errorf("learn encodes as\n%s (len %d), want\n%s", got, a.Len(), want)
	}
}

// The flow-log tables are numbered after the pipeline and named like it.
func TestFlowLogTableNames(t *testing.T) {
	names := TableNames()
	for i, tb := range FlowLogTables {
		id := uint8(len(Pipeline) + i)
		if tb.ID != id || names[id] != tb.Name || TableByID(id) != tb || TableByName(tb.Name) != tb {
			t.Errorf("table %s: id %d, names[%d] = %q", tb.Name, tb.ID, id, names[id])
		}
	}
	if TableByID(TOutput.ID) != TOutput || TableByID(uint8(len(Pipeline)+len(FlowLogTables))) != nil {
		t.Error("TableByID of the pipeline's last table, or past the flow-log tables")
	}
}

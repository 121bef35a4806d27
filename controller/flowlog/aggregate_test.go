package flowlog

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
)

const shop = `version: 1
bridge: br-t
vpcs:
  - name: shop
    cidr: 10.0.0.0/16
    subnets:
      - {name: public, cidr: 10.0.1.0/24}
      - {name: private, cidr: 10.0.2.0/24}
    security_groups:
      - name: web
        ingress: [{protocol: tcp, ports: "80", source: 0.0.0.0/0}]
      - name: db
        ingress: [{protocol: tcp, ports: "5432", source_group: web}]
    network_acls:
      - name: private-acl
        subnets: [private]
        ingress:
          - {rule: 100, protocol: tcp, ports: "22", source: 0.0.0.0/0, action: deny}
          - {rule: 200, protocol: all, source: 0.0.0.0/0, action: allow}
        egress:
          - {rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}
    instances:
      - {name: web1, subnet: public, ip: 10.0.1.10, security_groups: [web]}
      - name: db1
        subnet: private
        ip: 10.0.2.10
        security_groups: [db]
        flow_logs:
          - {destination: db1.json, format: json, aggregation_interval: 5}
          - {destination: db1-rejects.log, traffic: reject, aggregation_interval: 5}
`

// testRun is a collector's run state on the shop topology: db1 (port 3)
// has flow logs; the set holds the NACL rule that denies ssh, and the
// subnet's implicit deny.
func testRun(t *testing.T) (*run, *flows.Set) {
	t.Helper()
	topo, _, err := config.Parse([]byte(shop), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dst := flows.Match{}.Reg(flows.RegDstVPC, 9).Reg(flows.RegDstSubnet, 2).EthType(flows.EthIPv4)
	set, err := flows.NewSet([]*flows.Flow{
		{Table: flows.TIngressNACL, Priority: 100, Match: dst.IPProto(flows.ProtoTCP), Actions: []flows.Action{flows.ToController()},
			Category: flows.CatNACL, Owner: "vpcs[shop].network_acls[private-acl].ingress[100]"},
		{Table: flows.TIngressNACL, Priority: 10, Match: dst, Actions: []flows.Action{flows.ToController()},
			Category: flows.CatNACL, Owner: "vpcs[shop].subnets[private]"},
	})
	if err != nil {
		t.Fatal(err)
	}
	set.FlowLogPorts = map[uint32]flows.PortOwner{3: {VPC: "shop", Subnet: "private", Instance: "db1", Traffic: flows.FlowLogTraffic{Accept: true, Reject: true}}}
	c := New(Options{Bridge: "br-t", Dir: t.TempDir()})
	r := &run{c: c, topo: topo, set: set, windows: map[string]*window{}, last: map[flowKey]counts{}}
	r.rebuild()
	if len(r.ifaces) != 1 || len(r.ifaces[3].logs) != 2 {
		t.Fatalf("interfaces %+v", r.ifaces)
	}
	return r, set
}

// Counters read at two polls and a flow-removed make one record per
// interval; a rejected packet goes to both files, an accepted flow only to
// the one that logs accepts; each names its deciding rule.
func TestAggregation(t *testing.T) {
	r, set := testRun(t)
	t0 := time.Unix(1_700_000_000, 0)
	for _, w := range r.windows {
		w.start = t0
	}
	web1, db1 := netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.10")
	in := flowKey{dir: Ingress, port: 3, t: tuple{proto: 6, src: web1, dst: db1, sport: 40000, dport: 5432}}
	out := flowKey{dir: Egress, port: 3, t: tuple{proto: 6, src: db1, dst: web1, sport: 5432, dport: 40000}}
	r.counted(in, 10, 1000, t0.Add(1*time.Second), t0.Add(2*time.Second), false)
	r.counted(out, 8, 800, t0.Add(1*time.Second), t0.Add(2*time.Second), false)
	r.counted(in, 25, 2500, t0.Add(2*time.Second), t0.Add(4*time.Second), false)
	r.counted(in, 30, 3000, t0.Add(1*time.Second), t0.Add(4500*time.Millisecond), true) // removed: final counts
	if _, ok := r.last[in]; ok {
		t.Error("a removed flow is still tracked")
	}
	// Two rejected ssh SYNs from web1, by NACL rule 100; one udp packet by the implicit deny.
	ssh := synFrame()
	copy(ssh[14+12:], []byte{10, 0, 1, 10})
	ssh[14+20+2], ssh[14+20+3] = 0, 22
	var rule100, implicit uint64
	for _, f := range set.Flows {
		if f.Priority == 100 {
			rule100 = f.Cookie
		} else {
			implicit = f.Cookie
		}
	}
	pin := func(cookie uint64, data []byte) *ofconn.PacketIn {
		return &ofconn.PacketIn{TotalLen: 74, TableID: flows.TIngressNACL.ID, Cookie: cookie, Match: ofconn.Fields{Regs: [16]uint32{2: 3}}, Data: data}
	}
	r.rejected(pin(rule100, ssh), t0.Add(3*time.Second))
	r.rejected(pin(rule100, ssh), t0.Add(4*time.Second))
	udp := synFrame()
	udp[14+9] = 17
	r.rejected(pin(implicit, udp), t0.Add(4*time.Second))
	// Another port (an instance without flow logs in the same subnet): ignored.
	other := pin(rule100, ssh)
	other.Match.Regs[2] = 4
	r.rejected(other, t0.Add(4*time.Second))

	r.flush(t0.Add(4*time.Second), false) // not due yet
	for _, w := range r.windows {
		if len(w.recs) == 0 {
			t.Fatalf("%s: records flushed before the interval ended", w.path)
		}
	}
	r.flush(t0.Add(5*time.Second), false)
	for _, w := range r.windows {
		w.w.Close()
	}
	js := readLines(t, filepath.Join(r.c.o.Dir, "db1.json"))
	if len(js) != 4 {
		t.Fatalf("db1.json: %d records, want 4:\n%s", len(js), strings.Join(js, "\n"))
	}
	type rec struct {
		Src     string `json:"srcaddr"`
		Dst     string `json:"dstaddr"`
		SrcPort int    `json:"srcport"`
		DstPort int    `json:"dstport"`
		Proto   int    `json:"protocol"`
		Packets int    `json:"packets"`
		Bytes   int    `json:"bytes"`
		Start   int64  `json:"start"`
		End     int64  `json:"end"`
		Action  string `json:"action"`
		Dir     string `json:"flow-direction"`
		Rule    string `json:"rule"`
		Iface   string `json:"interface-id"`
		Flags   int    `json:"tcp-flags"`
	}
	got := map[string]rec{}
	for _, l := range js {
		var x rec
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatal(err)
		}
		got[x.Dir+" "+x.Action+" "+x.Src+":"+itoa(x.SrcPort)+">"+itoa(x.DstPort)+"/"+itoa(x.Proto)] = x
	}
	s := t0.Unix()
	want := map[string]rec{
		"ingress ACCEPT 10.0.1.10:40000>5432/6":  {Packets: 30, Bytes: 3000, Start: s + 1, End: s + 4, Rule: "vpcs[shop].security_groups[db].ingress[0]"},
		"egress ACCEPT 10.0.2.10:5432>40000/6":   {Packets: 8, Bytes: 800, Start: s + 1, End: s + 2, Rule: "vpcs[shop].security_groups[db].ingress[0]"},
		"ingress REJECT 10.0.1.10:40000>22/6":    {Packets: 2, Bytes: 148, Start: s + 3, End: s + 4, Rule: "vpcs[shop].network_acls[private-acl].ingress[100]", Flags: 2},
		"ingress REJECT 10.0.1.20:40000>5432/17": {Packets: 1, Bytes: 74, Start: s + 4, End: s + 4, Rule: "vpcs[shop].network_acls[private-acl].ingress[*]"},
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no record %s in:\n%s", k, strings.Join(js, "\n"))
			continue
		}
		if g.Packets != w.Packets || g.Bytes != w.Bytes || g.Start != w.Start || g.End != w.End || g.Rule != w.Rule || g.Flags != w.Flags || g.Iface != r.ifaces[3].name {
			t.Errorf("%s: got %+v, want %+v", k, g, w)
		}
	}
	txt := readLines(t, filepath.Join(r.c.o.Dir, "db1-rejects.log"))
	if len(txt) != 2 || !strings.HasSuffix(txt[0], " REJECT OK") || !strings.HasPrefix(txt[0], "2 br-t "+r.ifaces[3].name+" 10.0.1.") {
		t.Errorf("db1-rejects.log:\n%s", strings.Join(txt, "\n"))
	}
}

// A daemon that restarts finds counting flows learned before it: it
// reports only what they count from then on, never what its predecessor did.
func TestRestartCountsFromWhereItFound(t *testing.T) {
	r, _ := testRun(t)
	t0 := time.Unix(1_700_000_000, 0)
	r.started = t0
	for _, w := range r.windows {
		w.start = t0
	}
	old := flowKey{dir: Ingress, port: 3, t: tuple{proto: 6, src: netip.MustParseAddr("10.0.1.10"), dst: netip.MustParseAddr("10.0.2.10"), sport: 40001, dport: 5432}}
	fresh := old
	fresh.t.sport = 40002
	r.read(old, 1000, 100000, t0.Add(-time.Minute), t0, t0.Add(2*time.Second)) // learned a minute before the start
	r.read(fresh, 10, 1000, t0.Add(time.Second), t0, t0.Add(2*time.Second))    // learned after it
	r.read(old, 1004, 100400, t0.Add(-time.Minute), t0.Add(2*time.Second), t0.Add(4*time.Second))
	var got []*Record
	for _, w := range r.windows {
		if w.log.Accepts() {
			got = w.take(t0.Add(5 * time.Second))
		}
	}
	if len(got) != 2 {
		t.Fatalf("records %+v", got)
	}
	for _, rec := range got {
		want := map[uint16][2]uint64{40001: {4, 400}, 40002: {10, 1000}}[rec.SrcPort]
		if rec.Packets != want[0] || rec.Bytes != want[1] {
			t.Errorf("%d: %d packets %d bytes, want %v", rec.SrcPort, rec.Packets, rec.Bytes, want)
		}
	}
}

func TestDelta(t *testing.T) {
	if p, b := delta(counts{packets: 10, bytes: 100}, 15, 160); p != 5 || b != 60 {
		t.Errorf("delta %d %d", p, b)
	}
	// Counters went back: the flow was learned again.
	if p, b := delta(counts{packets: 10, bytes: 100}, 3, 30); p != 3 || b != 30 {
		t.Errorf("delta after relearn %d %d", p, b)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func itoa(i int) string { return strconv.Itoa(i) }

// The first packet of a flow is counted by the learning flow (the learned
// one counts from the second): a poll gives it to the flows that appeared,
// shared within their port, direction and protocol.
func TestFirstPackets(t *testing.T) {
	r, _ := testRun(t)
	t0 := time.Unix(1_700_000_000, 0)
	for _, w := range r.windows {
		w.start = t0
	}
	k := flowKey{dir: Ingress, port: 3, t: tuple{proto: 6, src: netip.MustParseAddr("10.0.1.10"), dst: netip.MustParseAddr("10.0.2.10"), sport: 40003, dport: 5432}}
	k2 := k
	k2.t.sport = 40004
	udp := k
	udp.t.proto = 17
	if !r.read(k, 9, 900, t0.Add(time.Second), t0, t0.Add(2*time.Second)) || !r.read(k2, 4, 400, t0.Add(time.Second), t0, t0.Add(2*time.Second)) {
		t.Fatal("new flows not reported as new")
	}
	if r.read(k, 10, 1000, t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)) {
		t.Error("a known flow reported as new")
	}
	// Two SYNs (74 bytes each) on the tcp learning flow; a udp one, with no new udp flow to take it.
	firsts := map[learnGroup]counts{groupOf(k): {packets: 2, bytes: 148}, groupOf(udp): {packets: 1, bytes: 60}}
	fresh := map[learnGroup][]newFlow{groupOf(k): {{k, t0.Add(time.Second)}, {k2, t0.Add(time.Second)}}}
	r.firstPackets(firsts, fresh, t0.Add(2*time.Second))
	var recs []*Record
	for _, w := range r.windows {
		if w.log.Accepts() {
			recs = w.take(t0.Add(5 * time.Second))
		}
	}
	got := map[uint16][2]uint64{}
	for _, rec := range recs {
		got[rec.SrcPort] = [2]uint64{rec.Packets, rec.Bytes}
	}
	if want := map[uint16][2]uint64{40003: {11, 1074}, 40004: {5, 474}}; len(got) != 2 || got[40003] != want[40003] || got[40004] != want[40004] {
		t.Errorf("records %v, want %v", got, want)
	}
	// OVS credits the learning flow a poll late: the new flow waits for it.
	k5 := k
	k5.t.sport = 40005
	r.read(k5, 3, 300, t0.Add(6*time.Second), t0.Add(5*time.Second), t0.Add(7*time.Second))
	r.firstPackets(map[learnGroup]counts{}, map[learnGroup][]newFlow{groupOf(k5): {{k5, t0.Add(6 * time.Second)}}}, t0.Add(7*time.Second))
	r.firstPackets(map[learnGroup]counts{groupOf(k5): {packets: 1, bytes: 74}}, nil, t0.Add(9*time.Second))
	r.firstPackets(map[learnGroup]counts{groupOf(k5): {packets: 1, bytes: 74}}, nil, t0.Add(11*time.Second)) // nobody waits any more
	for _, w := range r.windows {
		if w.log.Accepts() {
			recs = w.take(t0.Add(12 * time.Second))
		}
	}
	if len(recs) != 1 || recs[0].SrcPort != 40005 || recs[0].Packets != 4 || recs[0].Bytes != 374 {
		t.Errorf("records after a late first packet: %+v", recs)
	}
}

package ofconn

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

func cookieSet(msgs []util.Message) map[uint64]bool {
	m := make(map[uint64]bool, len(msgs))
	for _, msg := range msgs {
		m[msg.(*openflow13.FlowMod).Cookie] = true
	}
	return m
}

func sameCookies(t *testing.T, got map[uint64]string, want map[uint64]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d flows installed, want %d", len(got), len(want))
	}
	for c := range want {
		if _, ok := got[c]; !ok {
			t.Errorf("cookie %#x not installed", c)
		}
	}
	for c, line := range got {
		if !want[c] {
			t.Errorf("unexpected flow %s", line)
		}
	}
}

func TestBundleInstallsExactly(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	msgs := append(testFlows(300, testMarker), conjunctionFlows(testMarker|0x10000)...)
	start := time.Now()
	if err := c.Bundle(testCtx(t), msgs); err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	t.Logf("bundle of %d flow-mods: %v", len(msgs), time.Since(start))
	got := o.installedCookies()
	sameCookies(t, got, cookieSet(msgs))

	// The flows are the ones we built, not just their cookies.
	for cookie, want := range map[uint64][]string{
		testMarker | 0:       {"table=0", "priority=100", "ip", "nw_src=10.0.0.0", "load:0->NXM_NX_REG1[]", "dec_ttl", "ct(table=2,zone=1)", "goto_table:10"},
		testMarker | 4:       {"table=1", "nw_src=10.0.0.4", "load:0x4->NXM_NX_REG1[]", "ct(table=3,zone=5)", "goto_table:11"},
		testMarker | 5:       {"table=2", "nw_src=10.0.0.5", "load:0x5->NXM_NX_REG1[]", "dec_ttl", "goto_table:12"},
		testMarker | 0x10001: {"priority=200", "nw_dst=192.168.0.1", "conjunction(7,1/2)"},
		testMarker | 0x10002: {"nw_dst=192.168.0.2", "conjunction(7,2/2)"},
		testMarker | 0x10003: {"conj_id=7", "goto_table:10"},
	} {
		for _, w := range want {
			if !strings.Contains(got[cookie], w) {
				t.Errorf("flow %#x = %q, lacks %q", cookie, got[cookie], w)
			}
		}
	}
	if strings.Contains(got[testMarker|5], "ct(") {
		t.Errorf("flow 5 has a ct action: %s", got[testMarker|5])
	}

	st := c.Stats()
	if st.FlowModsSent != uint64(len(msgs)) || st.BundlesCommitted != 1 || st.BundlesFailed != 0 {
		t.Errorf("stats %+v", st)
	}
	// An empty bundle sends nothing at all.
	if err := c.Bundle(testCtx(t), nil); err != nil {
		t.Fatal(err)
	}
	if st2 := c.Stats(); st2 != st {
		t.Errorf("empty Bundle changed stats: %+v -> %+v", st, st2)
	}
}

// TestBundleAtomicAddError: a flow-mod that OVS rejects when it is added
// (goto_table to a lower table) leaves the bridge untouched.
func TestBundleAtomicAddError(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	msgs := testFlows(100, testMarker)
	bad := testFlow(1000, 5, testMarker|1000)
	bad.Instructions[1] = openflow13.NewInstrGotoTable(2)
	msgs[57] = bad

	err := c.Bundle(testCtx(t), msgs)
	var be *BundleError
	if !errors.As(err, &be) {
		t.Fatalf("Bundle = %v, want *BundleError", err)
	}
	t.Logf("error: %v", err)
	if be.Phase != "add" || len(be.Failed) != 1 || be.Failed[0].Index != 57 ||
		be.Failed[0].Err.Name() != "OFPET_BAD_INSTRUCTION/OFPBIC_BAD_TABLE_ID" {
		t.Errorf("BundleError = %+v", be)
	}
	var ofe *OFError
	if !errors.As(err, &ofe) || ofe.Code != openflow13.BIC_BAD_TABLE_ID {
		t.Errorf("errors.As(*OFError) = %v", ofe)
	}
	if got := o.dumpFlows(); len(got) != 0 {
		t.Errorf("failed bundle installed %d flows: %v", len(got), got[:min(3, len(got))])
	}
	if st := c.Stats(); st.BundlesFailed != 1 || st.BundlesCommitted != 0 {
		t.Errorf("stats %+v", st)
	}
	// The bundle was discarded, the connection is fine: the good ones go in.
	msgs[57] = testFlow(57, 0, testMarker|57)
	if err := c.Bundle(testCtx(t), msgs); err != nil {
		t.Fatalf("second Bundle: %v", err)
	}
	sameCookies(t, o.installedCookies(), cookieSet(msgs))
}

// TestBundleAtomicCommitError: a flow-mod that only fails when the bundle
// is committed (CHECK_OVERLAP against an installed flow) rolls back the
// others. OVS checks overlap only against a non-identical flow
// (add_flow_start), hence the broader pre-installed match.
func TestBundleAtomicCommitError(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	o.ofctl("add-flow", o.mgmt(), "table=0,priority=100,cookie=0x1,ip,actions=drop")
	msgs := testFlows(100, testMarker)
	overlap := testFlow(1000, 0, testMarker|1000)
	overlap.Flags = openflow13.FF_CHECK_OVERLAP
	msgs = append(msgs[:30], append([]util.Message{overlap}, msgs[30:]...)...)

	err := c.Bundle(testCtx(t), msgs)
	var be *BundleError
	if !errors.As(err, &be) {
		t.Fatalf("Bundle = %v, want *BundleError", err)
	}
	t.Logf("error: %v", err)
	if be.Phase != "commit" || len(be.Failed) != 1 || be.Failed[0].Index != 30 ||
		be.Failed[0].Err.Name() != "OFPET_FLOW_MOD_FAILED/OFPFMFC_OVERLAP" {
		t.Errorf("BundleError = %+v", be)
	}
	if !errors.Is(err, &OFError{Type: 0xffff, Code: 2313, Experimenter: ExperimenterONF}) {
		t.Errorf("bundle-level error is not OFPBFC_MSG_FAILED: %v", be.Err)
	}
	sameCookies(t, o.installedCookies(), map[uint64]bool{1: true})
	// OVS removed the bundle itself; the connection still works.
	if err := c.Bundle(testCtx(t), msgs[:30]); err != nil {
		t.Fatalf("Bundle after failed commit: %v", err)
	}
}

func TestDeleteByCookie(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	const catA, catB = testMarker | 1<<48, testMarker | 2<<48
	var groupA, groupB []util.Message
	for i := 0; i < 30; i++ {
		// Tables 0..2 and 100..102: deletes must reach all tables.
		table := uint8(i%3) + uint8(i%2)*100
		groupA = append(groupA, testFlow(i, table, catA|uint64(i)))
		groupB = append(groupB, testFlow(i+100, table, catB|uint64(i)))
	}
	if err := c.Bundle(testCtx(t), append(append([]util.Message{}, groupA...), groupB...)); err != nil {
		t.Fatal(err)
	}
	o.ofctl("add-flow", o.mgmt(), "table=101,priority=5,cookie=0x1234,actions=drop")

	if err := c.Bundle(testCtx(t), []util.Message{DeleteByCookie(catA, 0xffff<<48)}); err != nil {
		t.Fatalf("delete in a bundle: %v", err)
	}
	want := cookieSet(groupB)
	want[0x1234] = true
	sameCookies(t, o.installedCookies(), want)

	// Everything with the marker byte, unbundled this time.
	if err := c.Exec(testCtx(t), DeleteByCookie(testMarker, 0xff<<56)); err != nil {
		t.Fatalf("delete by Exec: %v", err)
	}
	sameCookies(t, o.installedCookies(), map[uint64]bool{0x1234: true})
}

// BenchmarkBundle100k installs 100,000 flows in one bundle, and for
// comparison the same flows with ovs-ofctl --bundle add-flows.
func BenchmarkBundle100k(b *testing.B) {
	const n = 100_000
	o := startOVS(b)
	c := dialTest(b, o)
	msgs := testFlows(n, testMarker)
	clear := func() {
		if err := c.Exec(testCtx(b), DeleteByCookie(0, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ofconn", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			clear()
			b.StartTimer()
			if err := c.Bundle(testCtx(b), msgs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/bundle")
		if got, err := c.DumpFlows(testCtx(b), FlowFilter{TableID: TableAll}); err != nil || len(got) != n {
			b.Fatalf("%d flows installed (%v)", len(got), err)
		}
	})
	file := o.path("flows.txt")
	if err := os.WriteFile(file, []byte(testFlowsText(n, testMarker)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("ovs-ofctl", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			clear()
			b.StartTimer()
			o.ofctl("--bundle", "add-flows", o.mgmt(), file)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/bundle")
	})
	b.Run("dump", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			got, err := c.DumpFlows(testCtx(b), FlowFilter{TableID: TableAll, Cookie: testMarker, CookieMask: 0xff << 56})
			if err != nil || len(got) != n {
				b.Fatalf("%d flows (%v)", len(got), err)
			}
		}
	})
	fmt.Fprintf(os.Stderr, "stats: %+v\n", c.Stats())
}

// BenchmarkEncodeAdds is the client-side share of a 100k bundle: libOpenflow
// marshalling plus our BUNDLE_ADD framing.
func BenchmarkEncodeAdds(b *testing.B) {
	msgs := testFlows(100_000, testMarker)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := encodeAdds(1, 1, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

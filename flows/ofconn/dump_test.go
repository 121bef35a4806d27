package ofconn

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestDumpFlows20k(t *testing.T) {
	const n = 20_000
	o := startOVS(t)
	c := dialTest(t, o)
	msgs := testFlows(n, testMarker)
	if err := c.Bundle(testCtx(t), msgs); err != nil {
		t.Fatal(err)
	}
	// Flows that are not ours, one with an action libOpenflow cannot decode.
	o.ofctl("add-flow", o.mgmt(), "table=7,priority=1,cookie=0x1234,actions=drop")
	o.ofctl("add-flow", o.mgmt(), "table=3,priority=9,cookie=0xa5000000000fffff,actions=ct_clear,exit")

	start := time.Now()
	all, err := c.DumpFlows(testCtx(t), FlowFilter{TableID: TableAll})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dumped %d flows in %v", len(all), time.Since(start))
	if len(all) != n+2 {
		t.Fatalf("dumped %d flows, want %d", len(all), n+2)
	}

	marked, err := c.DumpFlows(testCtx(t), FlowFilter{TableID: TableAll, Cookie: testMarker, CookieMask: 0xff << 56})
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != n+1 {
		t.Errorf("marker filter returned %d flows, want %d", len(marked), n+1)
	}
	// Bits 16..19 zero: all of testFlows, not 0xa5...fffff.
	ours, err := c.DumpFlows(testCtx(t), FlowFilter{TableID: TableAll, Cookie: testMarker, CookieMask: 0xff<<56 | 0xf0000})
	if err != nil {
		t.Fatal(err)
	}
	want := cookieSet(msgs)
	seen := make(map[uint64]bool, n)
	for _, f := range ours {
		if !want[f.Cookie] || seen[f.Cookie] {
			t.Fatalf("unexpected or duplicate cookie %#x", f.Cookie)
		}
		seen[f.Cookie] = true
		i := int(f.Cookie &^ testMarker)
		if f.TableID != uint8(i%3) || f.Priority != 100 || f.Packets != 0 || f.Bytes != 0 {
			t.Fatalf("flow %d: %+v", i, f)
		}
	}
	if len(seen) != n {
		t.Fatalf("cookie filter returned %d flows, want %d", len(seen), n)
	}

	one, err := c.DumpFlows(testCtx(t), FlowFilter{TableID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (n + 1) / 3; len(one) != want { // i%3 == 1 for i < n
		t.Errorf("table 1 has %d flows, want %d", len(one), want)
	}
	for _, f := range one {
		if f.TableID != 1 {
			t.Fatalf("table filter leaked %+v", f)
		}
	}

	// Decode is opt-in and never panics.
	fs, err := ours[0].Decode()
	if err != nil || fs.Cookie != ours[0].Cookie || len(fs.Instructions) != 2 {
		t.Errorf("Decode = %+v, %v", fs, err)
	}
	i := slices.IndexFunc(all, func(f FlowStat) bool { return f.Cookie == 0xa5000000000fffff })
	if _, err := all[i].Decode(); err == nil {
		t.Errorf("Decode of ct_clear,exit succeeded; libOpenflow was expected to fail on it")
	} else {
		t.Logf("Decode of ct_clear,exit: %v", err)
	}
}

var statsRE = regexp.MustCompile(` duration=[^,]*,| n_packets=\d+,| n_bytes=\d+,|idle_age=\d+,`)

// TestFlowTextMatches proves the benchmark compares like with like: the
// ovs-ofctl text flows are the same flows as the libOpenflow ones.
func TestFlowTextMatches(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	const n = 24
	if err := c.Bundle(testCtx(t), testFlows(n, testMarker)); err != nil {
		t.Fatal(err)
	}
	norm := func() []string {
		var out []string
		for _, l := range o.dumpFlows() {
			out = append(out, statsRE.ReplaceAllString(l, ""))
		}
		slices.Sort(out)
		return out
	}
	ours := norm()
	if err := c.Exec(testCtx(t), DeleteByCookie(0, 0)); err != nil {
		t.Fatal(err)
	}
	file := o.path("flows.txt")
	if err := os.WriteFile(file, []byte(testFlowsText(n, testMarker)), 0o644); err != nil {
		t.Fatal(err)
	}
	o.ofctl("--bundle", "add-flows", o.mgmt(), file)
	theirs := norm()
	if !slices.Equal(ours, theirs) || len(ours) != n {
		t.Errorf("flows differ:\nofconn:\n%v\novs-ofctl:\n%v", ours, theirs)
	}
}

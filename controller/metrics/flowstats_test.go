package metrics

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	ruleA = Rule{VPC: "v", Kind: KindSecurityGroup, Path: "vpcs[v].security_groups[g].ingress[0]"}
	ruleB = Rule{VPC: "v", Kind: KindNetworkACL, Path: "vpcs[v].network_acls[n].ingress[100]"}
)

// flow is a sample of a flow installed at installed, seen at now.
func flow(cookie, packets uint64, installed, now time.Time, rules ...Rule) FlowSample {
	return FlowSample{Table: "T", Cookie: cookie, Packets: packets, Bytes: 100 * packets,
		Age: now.Sub(installed).Truncate(time.Second), Rules: rules}
}

func TestRuleCounters(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	rc := ruleCounters{rules: map[Rule]*ruleState{}}
	want := func(step string, r Rule, packets uint64) {
		t.Helper()
		st := rc.rules[r]
		switch {
		case st == nil && packets != 0:
			t.Fatalf("%s: %s has no counter, want %d", step, r.Path, packets)
		case st != nil && (st.packets != packets || st.bytes != 100*packets):
			t.Fatalf("%s: %s = %d packets %d bytes, want %d", step, r.Path, st.packets, st.bytes, packets)
		}
	}
	both := []Rule{ruleA, ruleB}

	// Flows counted before the first scrape count (the daemon restarted).
	rc.observe(at(10), FlowDump{Rules: both, Flows: []FlowSample{
		flow(1, 5, at(0), at(10), ruleA),
		flow(2, 2, at(0), at(10), ruleB), flow(3, 1, at(0), at(10), ruleB), // two port blocks
		flow(9, 50, at(0), at(10)), // no rule's
	}})
	want("first", ruleA, 5)
	want("first", ruleB, 3)
	if c := rc.rules[ruleA].created; !c.Equal(at(0)) {
		t.Errorf("created = %v, want the flow's install time %v", c, at(0))
	}

	// Counting on.
	rc.observe(at(20), FlowDump{Rules: both, Flows: []FlowSample{
		flow(1, 8, at(0), at(20), ruleA), flow(2, 2, at(0), at(20), ruleB), flow(3, 4, at(0), at(20), ruleB),
	}})
	want("on", ruleA, 8)
	want("on", ruleB, 6)

	// Flow 1 deleted: the rule keeps its counter while the apply has it.
	rc.observe(at(25), FlowDump{Rules: both, Flows: []FlowSample{flow(2, 2, at(0), at(25), ruleB), flow(3, 4, at(0), at(25), ruleB)}})
	want("missing", ruleA, 8)

	// Flow 1 reinstalled (same cookie) and already past its old count: its
	// install time says it is another flow, all its packets are new.
	rc.observe(at(60), FlowDump{Rules: both, Flows: []FlowSample{
		flow(1, 20, at(30), at(60), ruleA), flow(2, 2, at(0), at(60), ruleB), flow(3, 4, at(0), at(60), ruleB),
	}})
	want("reinstalled", ruleA, 28)
	// Reinstalled again, with fewer packets than before.
	rc.observe(at(70), FlowDump{Rules: both, Flows: []FlowSample{
		flow(1, 1, at(65), at(70), ruleA), flow(2, 2, at(0), at(70), ruleB), flow(3, 4, at(0), at(70), ruleB),
	}})
	want("reinstalled again", ruleA, 29)

	// Rule B gains a flow (a subnet more under the ACL) and loses one.
	rc.observe(at(80), FlowDump{Rules: both, Flows: []FlowSample{
		flow(1, 1, at(65), at(80), ruleA), flow(2, 3, at(0), at(80), ruleB), flow(4, 7, at(75), at(80), ruleB),
	}})
	want("gained", ruleB, 6+1+7)
	createdB := rc.rules[ruleB].created

	// Rule A edited: none of its flows is one it had. A new counter.
	rc.observe(at(90), FlowDump{Rules: both, Flows: []FlowSample{
		flow(5, 2, at(85), at(90), ruleA), flow(2, 3, at(0), at(90), ruleB), flow(4, 7, at(75), at(90), ruleB),
	}})
	want("edited", ruleA, 2)
	if c := rc.rules[ruleA].created; !c.Equal(at(85)) {
		t.Errorf("edited rule: created = %v, want %v", c, at(85))
	}
	if c := rc.rules[ruleB].created; !c.Equal(createdB) {
		t.Errorf("untouched rule: created moved from %v to %v", createdB, c)
	}

	// Rule A removed from the file: its series goes.
	rc.observe(at(100), FlowDump{Rules: []Rule{ruleB}, Flows: []FlowSample{flow(2, 3, at(0), at(100), ruleB), flow(4, 7, at(75), at(100), ruleB)}})
	if _, ok := rc.rules[ruleA]; ok {
		t.Errorf("removed rule still has a counter")
	}
	want("removed", ruleB, 14)
}

// TestFlowStatsCollector scrapes through a source that answers, then fails,
// then hangs (bounded by the timeout).
func TestFlowStatsCollector(t *testing.T) {
	m := New()
	var fail, hang bool
	m.SetFlowSource(func(ctx context.Context) (FlowDump, error) {
		switch {
		case hang:
			<-ctx.Done()
			return FlowDump{}, ctx.Err()
		case fail:
			return FlowDump{}, errors.New("ovs-vswitchd away")
		}
		return FlowDump{Rules: []Rule{ruleA}, Flows: []FlowSample{
			{Table: "IngressSecurityGroup", Cookie: 1, Packets: 4, Bytes: 392, Age: time.Second, Rules: []Rule{ruleA}},
			{Table: "Classifier", Cookie: 2, Packets: 9, Bytes: 900},
		}}, nil
	}, []string{"Classifier", "IngressSecurityGroup", "Output"})

	a := map[string]string{"vpc": "v", "kind": KindSecurityGroup, "rule": ruleA.Path}
	check := func(step string, wantOK float64, tables bool) {
		t.Helper()
		got := gather(t, m)
		if v := got.value("vpcctl_rule_packets_total", a); v != 4 {
			t.Errorf("%s: rule packets = %v, want 4", step, v)
		}
		if v := got.value("vpcctl_rule_bytes_total", a); v != 392 {
			t.Errorf("%s: rule bytes = %v, want 392", step, v)
		}
		if v := got.value("vpcctl_flow_dump_success", nil); v != wantOK {
			t.Errorf("%s: dump success = %v, want %v", step, v, wantOK)
		}
		n := got.count("vpcctl_flows_installed")
		switch {
		case !tables && n != 0:
			t.Errorf("%s: %d flows_installed series from a failed dump", step, n)
		case tables && (n != 3 || got.value("vpcctl_flows_installed", map[string]string{"table": "Classifier"}) != 1 ||
			got.value("vpcctl_flows_installed", map[string]string{"table": "Output"}) != 0):
			t.Errorf("%s: flows per table: %v", step, got["vpcctl_flows_installed"])
		}
	}
	check("answering", 1, true)
	// The dump fails: counters keep their values, flows per table are unknown.
	fail = true
	check("failing", 0, false)
	// The dump hangs: the scrape ends after the timeout.
	hang = true
	m.flowStats.timeout = 100 * time.Millisecond
	start := time.Now()
	check("hanging", 0, false)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a hanging dump held the scrape %v", d)
	}
}

// TestNilMetrics: a nil *Metrics records nothing and does not panic.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.FlowLogRecords("written", 3)
	m.ObserveApply("start", time.Second, nil)
	m.ObserveCheck(time.Millisecond, CheckOK)
	m.TopologyInvalid()
	m.OpenFlowConnected(true)
	m.OVSDBConnected(true, true)
	m.SetInstances(map[string]int{"v": 1})
	m.SetFlowSource(nil, nil)
	if h := m.WatchOVSDB(nil); h != nil {
		t.Fatalf("WatchOVSDB on nil Metrics wrapped the handler")
	}
}

func TestApplyAndConnections(t *testing.T) {
	m := New()
	m.ObserveApply("start", 2*time.Second, nil)
	m.ObserveApply("retry", time.Second, errors.New("x"))
	m.ObserveApply("retry", time.Second, errors.New("x"))
	m.FlowLogRecords("dropped", 7)
	got := gather(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vpcctl_apply_errors_total", map[string]string{"reason": "retry"}, 2},
		{"vpcctl_apply_errors_total", map[string]string{"reason": "start"}, 0},
		{"vpcctl_apply_errors_total", map[string]string{"reason": "drift"}, 0},
		{"vpcctl_apply_duration_seconds", map[string]string{"reason": "retry"}, 2}, // the count
		{"vpcctl_flow_log_records_total", map[string]string{"result": "dropped"}, 7},
		{"vpcctl_flow_log_records_total", map[string]string{"result": "written"}, 0},
	} {
		if v := got.value(c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if n := got.count("vpcctl_apply_duration_seconds"); n != 2 {
		t.Errorf("apply duration has %d series, want 2 (start, retry)", n)
	}
	if v := got.value("vpcctl_last_apply_success_timestamp_seconds", nil); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last apply timestamp = %v", v)
	}
	// The first connection is no reconnect; the next ones are.
	m.OpenFlowConnected(true)
	m.OpenFlowConnected(false)
	if v := gather(t, m).value("vpcctl_openflow_connected", nil); v != 0 {
		t.Errorf("openflow connected = %v after a disconnect", v)
	}
	m.OpenFlowConnected(true)
	got = gather(t, m)
	if v, re := got.value("vpcctl_openflow_connected", nil), got.value("vpcctl_openflow_reconnects_total", nil); v != 1 || re != 1 {
		t.Errorf("openflow connected = %v, reconnects = %v, want 1, 1", v, re)
	}
	m.SetInstances(map[string]int{"a": 2, "b": 0})
	m.SetInstances(map[string]int{"a": 3})
	got = gather(t, m)
	if n, a := got.count("vpcctl_instances"), got.value("vpcctl_instances", map[string]string{"vpc": "a"}); n != 1 || a != 3 {
		t.Errorf("instances: %d series, a = %v; want only a = 3", n, a)
	}
}

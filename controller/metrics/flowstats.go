package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FlowSource reads the bridge's vpcctl flows with their statistics, each
// with the rules it counts for. Scrapes call it (one at a time) with a
// deadline, from the HTTP server's goroutine: it must be safe to call
// concurrently with the daemon's own work.
type FlowSource func(ctx context.Context) (FlowDump, error)

// FlowDump is what a FlowSource read.
type FlowDump struct {
	Flows []FlowSample
	// Rules are every rule of the flows the daemon installed last: a rule
	// whose flows are missing from the bridge for a while (deleted by
	// someone, until the drift repair) keeps its counter.
	Rules []Rule
}

// FlowSample is one installed flow's statistics.
type FlowSample struct {
	Table          string // pipeline table name
	Cookie         uint64
	Packets, Bytes uint64
	Age            time.Duration // since OVS installed the flow (its duration)
	// Rules are the security-group or network-ACL rules whose counters the
	// flow's packets count for; empty for other flows.
	Rules []Rule
}

// Rule names a rule of the topology, the labels of its counters.
type Rule struct {
	VPC  string
	Kind string // KindSecurityGroup or KindNetworkACL
	Path string // e.g. vpcs[prod].security_groups[db].ingress[0]
}

// Rule kinds.
const (
	KindSecurityGroup = "security_group"
	KindNetworkACL    = "network_acl"
)

// dumpTimeout bounds the flow dump of one scrape; Prometheus's default
// scrape timeout is 10 s.
const dumpTimeout = 5 * time.Second

// flowStatsCollector exports what a scrape reads from the bridge: flows per
// table and the rule counters. It reads at scrape time rather than on a
// timer of its own: the numbers are as fresh as the scrape, nothing runs
// when nobody scrapes, and the daemon's main loop never waits for it.
type flowStatsCollector struct {
	// mu makes scrapes take turns: one dump at a time, and the rule
	// counters see the dumps in the order they were taken.
	mu      sync.Mutex
	src     FlowSource
	tables  []string
	timeout time.Duration
	rules   ruleCounters

	flowsDesc, packetsDesc, bytesDesc, okDesc, durDesc *prometheus.Desc
}

func newFlowStatsCollector() *flowStatsCollector {
	desc := func(name string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help(name), labels, nil)
	}
	return &flowStatsCollector{
		timeout:     dumpTimeout,
		rules:       ruleCounters{rules: map[Rule]*ruleState{}},
		flowsDesc:   desc("vpcctl_flows_installed", "table"),
		packetsDesc: desc("vpcctl_rule_packets_total", "vpc", "kind", "rule"),
		bytesDesc:   desc("vpcctl_rule_bytes_total", "vpc", "kind", "rule"),
		okDesc:      desc("vpcctl_flow_dump_success"),
		durDesc:     desc("vpcctl_flow_dump_duration_seconds"),
	}
}

func (c *flowStatsCollector) setSource(src FlowSource, tables []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.src, c.tables = src, tables
}

func (c *flowStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.flowsDesc, c.packetsDesc, c.bytesDesc, c.okDesc, c.durDesc} {
		ch <- d
	}
}

func (c *flowStatsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	start := time.Now()
	dump, err := c.src(ctx)
	cancel()
	now := time.Now()
	ch <- prometheus.MustNewConstMetric(c.durDesc, prometheus.GaugeValue, now.Sub(start).Seconds())
	if err != nil {
		// Counters keep their last values; flows per table are unknown.
		ch <- prometheus.MustNewConstMetric(c.okDesc, prometheus.GaugeValue, 0)
	} else {
		ch <- prometheus.MustNewConstMetric(c.okDesc, prometheus.GaugeValue, 1)
		perTable := make(map[string]int, len(c.tables))
		for _, t := range c.tables {
			perTable[t] = 0
		}
		for _, s := range dump.Flows {
			perTable[s.Table]++
		}
		for t, n := range perTable {
			ch <- prometheus.MustNewConstMetric(c.flowsDesc, prometheus.GaugeValue, float64(n), t)
		}
		c.rules.observe(now, dump)
	}
	for r, st := range c.rules.rules {
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(c.packetsDesc, prometheus.CounterValue,
			float64(st.packets), st.created, r.VPC, r.Kind, r.Path)
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(c.bytesDesc, prometheus.CounterValue,
			float64(st.bytes), st.created, r.VPC, r.Kind, r.Path)
	}
}

// ruleCounters turn the packet and byte counts of flows, which start again
// at 0 whenever a flow is installed anew, into counters per rule:
//
//   - A rule's counter is the sum of what its flows counted, kept across
//     the flows' replacement: a flow reinstalled with the same cookie (after
//     an ovs-vswitchd restart, a drift repair) or a flow added to or removed
//     from the rule (a subnet more under a network ACL) changes nothing that
//     was counted before.
//   - When none of the rule's flows is one it had at the previous scrape,
//     the path names another rule now (the rule was edited: cookies follow
//     content; or a rule inserted before it renumbered it): the counter
//     starts again from what the new flows counted, with a new created
//     timestamp. Prometheus sees a counter reset, which rate() and
//     increase() handle.
//   - A rule whose flows are all missing from the bridge keeps its counter
//     while the daemon's last apply has it (a drift repair puts the flows
//     back); a rule the daemon no longer installs loses its series.
//
// What a flow counted between the last scrape and its removal is not seen.
type ruleCounters struct {
	rules map[Rule]*ruleState
}

type ruleState struct {
	packets, bytes uint64
	created        time.Time
	flows          map[uint64]flowSeen // by cookie, at the last scrape
}

// flowSeen is a flow's counts at a scrape, and when OVS installed it.
type flowSeen struct {
	packets, bytes uint64
	installed      time.Time
}

// reinstallSlack is how far two estimates of one flow's install time may
// differ (OVS reports whole seconds, and the dump takes time); a flow
// installed again later than that is a new flow.
const reinstallSlack = 2 * time.Second

// observe takes one dump, made at now.
func (rc *ruleCounters) observe(now time.Time, dump FlowDump) {
	cur := map[Rule]map[uint64]flowSeen{}
	for _, s := range dump.Flows {
		for _, r := range s.Rules {
			fs := cur[r]
			if fs == nil {
				fs = map[uint64]flowSeen{}
				cur[r] = fs
			}
			f := flowSeen{packets: s.Packets, bytes: s.Bytes, installed: now.Add(-s.Age)}
			if p, ok := fs[s.Cookie]; ok { // installed twice (drift): both count
				f.packets += p.packets
				f.bytes += p.bytes
			}
			fs[s.Cookie] = f
		}
	}
	for r, fs := range cur {
		st := rc.rules[r]
		if st == nil || !st.shares(fs) {
			st = &ruleState{created: now}
			for _, f := range fs {
				st.packets += f.packets
				st.bytes += f.bytes
				if f.installed.Before(st.created) {
					st.created = f.installed
				}
			}
			rc.rules[r] = st
		} else {
			for c, f := range fs {
				if p, ok := st.flows[c]; ok && sameFlow(p, f) {
					st.packets += f.packets - p.packets
					st.bytes += f.bytes - p.bytes
				} else {
					st.packets += f.packets
					st.bytes += f.bytes
				}
			}
		}
		st.flows = fs
	}
	desired := make(map[Rule]bool, len(dump.Rules))
	for _, r := range dump.Rules {
		desired[r] = true
	}
	for r := range rc.rules {
		if cur[r] == nil && !desired[r] {
			delete(rc.rules, r)
		}
	}
}

// shares says whether any of flows was the rule's at the last scrape.
func (st *ruleState) shares(flows map[uint64]flowSeen) bool {
	for c := range flows {
		if _, ok := st.flows[c]; ok {
			return true
		}
	}
	return false
}

// sameFlow says whether cur is the flow that was seen as prev, still
// counting, rather than one installed again since.
func sameFlow(prev, cur flowSeen) bool {
	d := cur.installed.Sub(prev.installed)
	return cur.packets >= prev.packets && cur.bytes >= prev.bytes &&
		d <= reinstallSlack && d >= -reinstallSlack
}

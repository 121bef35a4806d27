package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/metrics"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
)

// daemonFlows is what a metrics scrape reads the bridge's flows through.
// The main loop publishes its OpenFlow connection and the flow set of its
// last apply here; a scrape, on the HTTP server's goroutine, reads them
// without waiting for the loop (ofconn.Conn's methods are safe for
// concurrent use: the dump's messages interleave with an apply's bundle at
// message boundaries, and its reply is matched by xid).
type daemonFlows struct {
	mgmt string // the bridge's management socket, while OVS is not connected
	conn atomic.Pointer[ofconn.Conn]
	set  atomic.Pointer[flows.Set]

	// rules caches which rules each cookie of set counts for, and all of
	// set's rules, made at the first scrape after an apply.
	mu       sync.Mutex
	rulesOf  *flows.Set
	rules    map[uint64][]metrics.Rule
	allRules []metrics.Rule
}

// startMetrics connects the daemon to m (nil: no metrics).
func (d *daemon) startMetrics(m *metrics.Metrics) {
	d.metrics = m
	if m == nil {
		return
	}
	d.mflows = &daemonFlows{mgmt: d.o.mgmtTarget(d.bridge)}
	var tables []string
	for _, t := range flows.Pipeline {
		tables = append(tables, t.Name)
	}
	m.SetFlowSource(d.mflows.dump, tables)
}

// metricsConn publishes the controller connection (nil when it dropped).
func (d *daemon) metricsConn(c *ofconn.Conn) {
	d.metrics.OpenFlowConnected(c != nil)
	if d.mflows != nil {
		d.mflows.conn.Store(c)
	}
}

// metricsApplied records an apply: its time, and after a success the
// instances and the flows it installed.
func (d *daemon) metricsApplied(why string, start time.Time, err error) {
	d.metrics.ObserveApply(why, time.Since(start), err)
	if err != nil || d.metrics == nil {
		return
	}
	d.metrics.SetInstances(instancesPerVPC(d.topo))
	d.mflows.set.Store(d.flows)
}

// ovsdbLogger is the logger of the daemon's OVSDB client: libovsdb's
// connection messages drive the OVSDB metrics.
func (d *daemon) ovsdbLogger() *slog.Logger {
	if d.metrics == nil {
		return d.log
	}
	return slog.New(d.metrics.WatchOVSDB(d.log.Handler()))
}

// timedCheck is check, recorded in the metrics.
func (d *daemon) timedCheck(ctx context.Context) drift {
	start := time.Now()
	dr := d.check(ctx)
	result := metrics.CheckOK
	switch {
	case dr.unread || !d.applied:
		result = metrics.CheckError
	case dr.reason != "":
		result = metrics.CheckDrift
	}
	d.metrics.ObserveCheck(time.Since(start), result)
	return dr
}

func instancesPerVPC(t *config.Topology) map[string]int {
	out := map[string]int{}
	for _, v := range t.VPCs {
		out[v.Name] = len(v.Instances)
	}
	return out
}

// dump reads the installed vpcctl flows over the daemon's controller
// connection, or the management socket while OVS is not connected.
func (f *daemonFlows) dump(ctx context.Context) (metrics.FlowDump, error) {
	filter := ofconn.FlowFilter{TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask}
	var stats []ofconn.FlowStat
	var err error
	if c := f.conn.Load(); c != nil && c.Err() == nil {
		stats, err = c.DumpFlows(ctx, filter)
	} else {
		var c *ofconn.Conn
		c, err = ofconn.Dial(ctx, f.mgmt)
		if err != nil {
			return metrics.FlowDump{}, fmt.Errorf("no OpenFlow connection: %w", err)
		}
		stats, err = c.DumpFlows(ctx, filter)
		c.Close()
	}
	if err != nil {
		return metrics.FlowDump{}, err
	}
	rules, all := f.rulesFor(f.set.Load())
	return metrics.FlowDump{Flows: flowSamples(rules, stats), Rules: all}, nil
}

// rulesFor is the cookie -> rules map of set, and all its rules, made
// once per set.
func (f *daemonFlows) rulesFor(set *flows.Set) (map[uint64][]metrics.Rule, []metrics.Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if set != f.rulesOf || f.rules == nil {
		f.rulesOf, f.rules, f.allRules = set, ruleCookies(set), nil
		seen := map[metrics.Rule]bool{}
		for _, rs := range f.rules {
			for _, r := range rs {
				if !seen[r] {
					seen[r] = true
					f.allRules = append(f.allRules, r)
				}
			}
		}
	}
	return f.rules, f.allRules
}

// flowSamples annotates a flow dump with table names and rules.
func flowSamples(rules map[uint64][]metrics.Rule, stats []ofconn.FlowStat) []metrics.FlowSample {
	out := make([]metrics.FlowSample, len(stats))
	for i, st := range stats {
		out[i] = metrics.FlowSample{
			Table: tableName(st.TableID), Cookie: st.Cookie,
			Packets: st.Packets, Bytes: st.Bytes,
			Age:   time.Duration(st.DurationSec) * time.Second,
			Rules: rules[st.Cookie],
		}
	}
	return out
}

// ruleCookies maps the cookie of every flow that decides for a security
// group or network ACL rule to the rule(s). A security group rule of one
// field is one flow; a rule of several is a conjunctive match, whose
// packets OVS counts on its conj_id flow only: the clause flows (shared by
// many rules, only conjunction actions) are left out. A flow shared by
// identical rules counts for each of them. A network ACL rule's flows (one
// per port block) add up; the subnet-wide skip and implicit-deny flows are
// no rule's.
func ruleCookies(set *flows.Set) map[uint64][]metrics.Rule {
	out := map[uint64][]metrics.Rule{}
	if set == nil {
		return out
	}
	for _, f := range set.Flows {
		if rs := flowRules(f); len(rs) > 0 {
			out[f.Cookie] = rs
		}
	}
	return out
}

// flowRules are the rules a flow's packets count for.
func flowRules(f *flows.Flow) []metrics.Rule {
	var kind, marker string
	switch f.Category {
	case flows.CatSecurityGroup:
		kind, marker = metrics.KindSecurityGroup, ".security_groups["
	case flows.CatNACL:
		kind, marker = metrics.KindNetworkACL, ".network_acls["
	default:
		return nil
	}
	if isClause(f) {
		return nil
	}
	var out []metrics.Rule
	for _, owner := range strings.Split(f.Owner, ", ") {
		if !strings.Contains(owner, marker) {
			continue
		}
		r := metrics.Rule{VPC: vpcOfPath(owner), Kind: kind, Path: owner}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// isClause says whether a flow is one clause of conjunctive matches: it
// only marks the packet with conjunction actions and decides nothing (the
// compiler never mixes them with other actions or a goto_table, so the
// first action tells; a large group's clause flows have thousands).
func isClause(f *flows.Flow) bool {
	return f.Goto == nil && len(f.Actions) > 0 && strings.HasPrefix(f.Actions[0].String(), "conjunction(")
}

// vpcOfPath is NAME of a path "vpcs[NAME]...".
func vpcOfPath(path string) string {
	rest, ok := strings.CutPrefix(path, "vpcs[")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "]")
	return name
}

package controller

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// Plan is what `apply` of a topology would change, by object; computing it
// changes nothing (OVSDB and the flow table are only read).
type Plan struct {
	Bridge    string `json:"bridge"`
	NewBridge bool   `json:"new_bridge,omitempty"`
	// RemoveBridges are the file's previous bridges (its bridge: changed).
	RemoveBridges []string `json:"remove_bridges,omitempty"`
	// Instances (and external hosts) whose namespace and port apply adds,
	// and the ports (with their namespaces) it removes.
	AddInstances    []string `json:"add_instances"`
	RemoveInstances []string `json:"remove_instances"`
	// Flows apply's bundle adds and deletes, grouped by config object.
	AddFlows    []PlanFlows `json:"add_flows"`
	DeleteFlows []PlanFlows `json:"delete_flows"`
	Added       int         `json:"flows_added"`
	Deleted     int         `json:"flows_deleted"`
}

// PlanFlows are the flows of one config object that change.
type PlanFlows struct {
	Owner string     `json:"owner"`
	Flows []PlanFlow `json:"flows"`
}

// PlanFlow is one flow of a plan.
type PlanFlow struct {
	Cookie uint64 `json:"cookie"`
	Flow   string `json:"flow"`
}

// Empty says whether apply would change nothing.
func (p *Plan) Empty() bool {
	return !p.NewBridge && len(p.RemoveBridges) == 0 && len(p.AddInstances) == 0 && len(p.RemoveInstances) == 0 && p.Added == 0 && p.Deleted == 0
}

// MakePlan computes what Apply(t) would do to the host, without doing it.
// Flows are diffed exactly as apply diffs them (same compile, same diff).
func MakePlan(ctx context.Context, o Options, t *config.Topology) (*Plan, error) {
	o = o.withDefaults()
	if err := setLocalHost(t, o.Host); err != nil {
		return nil, err
	}
	db, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	p := &Plan{Bridge: t.Bridge, AddInstances: []string{}, RemoveInstances: []string{}, AddFlows: []PlanFlows{}, DeleteFlows: []PlanFlows{}}
	existing, err := listPorts(ctx, db, t.Bridge)
	switch {
	case errors.Is(err, ovsdb.ErrNotFound):
		p.NewBridge = true
		existing = nil
	case err != nil:
		return nil, err
	}
	brs, err := db.ListBridges(ctx)
	if err != nil {
		return nil, err
	}
	abs := ""
	if o.File != "" {
		abs, _ = filepath.Abs(o.File)
	}
	var recorded *ovsdb.BridgeInfo // this bridge, as it is now
	for i, b := range brs {
		switch {
		case b.Name == t.Bridge:
			recorded = &brs[i]
		case abs != "" && b.ExternalIDs[keyFile] == abs:
			p.RemoveBridges = append(p.RemoveBridges, b.Name)
		}
	}
	keepAddresses(t, existing)
	atts := attachments(t, existing)
	// The port numbers apply installs the flows for (plannedOfports).
	ofports := plannedOfports(atts, existing)
	have := map[string]bool{}
	for _, e := range existing {
		have[e.Name] = e.Ofport > 0
	}
	want := map[string]bool{}
	for _, a := range atts {
		want[a.Port] = true
		if !have[a.Port] && a.Attach != attachTrunkPort {
			p.AddInstances = append(p.AddInstances, a.Name)
		}
	}
	for _, e := range existing {
		if !want[e.Name] && e.ExternalIDs[keyInstance] != "" {
			p.RemoveInstances = append(p.RemoveInstances, e.ExternalIDs[keyInstance])
		}
	}
	set, err := flows.Compile(flowTopology(t, atts, ofports))
	if err != nil {
		return nil, fmt.Errorf("compiling flows: %w", err)
	}
	var installed []ofconn.FlowStat
	var old *flows.Set
	if !p.NewBridge {
		conn, err := dialBridge(ctx, o, t.Bridge)
		if err != nil {
			return nil, fmt.Errorf("OpenFlow connection to %s: %w", t.Bridge, err)
		}
		defer conn.Close()
		installed, err = conn.DumpFlows(ctx, ofconn.FlowFilter{TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask})
		if err != nil {
			return nil, fmt.Errorf("reading installed flows: %w", err)
		}
		// The installed flows' objects: from the file the bridge records.
		if recorded != nil {
			_, old, _ = compiledFromFile(ctx, db, *recorded)
		}
	}
	d := diffFlows(set, installed)
	p.Added, p.Deleted = len(d.Add), len(d.Delete)
	add := map[string][]PlanFlow{}
	for _, f := range d.Add {
		add[f.Owner] = append(add[f.Owner], PlanFlow{Cookie: f.Cookie, Flow: f.String()})
	}
	del := map[string][]PlanFlow{}
	for _, c := range d.Delete {
		owner, text := "", fmt.Sprintf("cookie=%#x (%s)", c, flows.CookieCategory(c))
		if old != nil {
			if f := old.Lookup(c); f != nil {
				owner, text = f.Owner, f.String()
			}
		}
		del[owner] = append(del[owner], PlanFlow{Cookie: c, Flow: text})
	}
	p.AddFlows, p.DeleteFlows = groupPlan(add), groupPlan(del)
	sort.Strings(p.AddInstances)
	sort.Strings(p.RemoveInstances)
	return p, nil
}

func groupPlan(m map[string][]PlanFlow) []PlanFlows {
	out := make([]PlanFlows, 0, len(m))
	for owner, fs := range m {
		out = append(out, PlanFlows{Owner: owner, Flows: fs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Owner < out[j].Owner })
	return out
}

// logFlowDiff logs, at debug level (apply -v), which config objects an
// apply's bundle changed and by how many flows.
func logFlowDiff(o Options, bridge string, d flowDiff) {
	add := map[string]int{}
	for _, f := range d.Add {
		add[f.Owner]++
	}
	for owner, n := range add {
		o.Log.Debug("flows added", "bridge", bridge, "object", orText(owner, "(pipeline)"), "flows", n)
	}
	del := map[string]int{}
	for _, c := range d.Delete {
		del[flows.CookieCategory(c).String()]++
	}
	for cat, n := range del {
		o.Log.Debug("flows deleted", "bridge", bridge, "category", cat, "flows", n)
	}
}

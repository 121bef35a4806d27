package controller

import (
	"context"
	"fmt"

	"github.com/contiv/libOpenflow/util"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
)

// flowDiff is what a reconcile must change: installed cookies no longer
// desired, and desired flows not installed.
type flowDiff struct {
	Delete []uint64
	Add    []*flows.Flow
}

// diffFlows compares the desired set with the flows installed on the bridge.
// A cookie names a flow's whole content, table number included; as a cheap
// defence, an installed flow whose cookie is desired but that sits in another
// table or at another priority than the desired flow is deleted and added again.
func diffFlows(set *flows.Set, installed []ofconn.FlowStat) flowDiff {
	var d flowDiff
	// have: installed as desired; gone: to delete (each cookie once).
	have := make(map[uint64]bool, len(installed))
	gone := map[uint64]bool{}
	for _, st := range installed {
		f := set.Lookup(st.Cookie)
		if f != nil && f.Table.ID == st.TableID && f.Priority == st.Priority {
			have[st.Cookie] = true
			continue
		}
		if !gone[st.Cookie] {
			gone[st.Cookie] = true
			d.Delete = append(d.Delete, st.Cookie)
		}
	}
	for _, f := range set.Flows {
		if !have[f.Cookie] || gone[f.Cookie] {
			d.Add = append(d.Add, f)
		}
	}
	return d
}

// SyncFlows makes the bridge's vpcctl flows equal to set (see syncFlows) and
// says how many flows it added and deleted.
func SyncFlows(ctx context.Context, conn *ofconn.Conn, set *flows.Set) (added, deleted int, err error) {
	d, err := syncFlows(ctx, conn, nil, set)
	return len(d.Add), len(d.Delete), err
}

// syncFlows makes the bridge's vpcctl flows equal to set in one atomic bundle:
// the dataplane never sees a half-updated pipeline, and an unchanged set sends
// no flow-mod at all. Deletes go first so a flow replaced in the same slot is
// not removed after its replacement is added (they have different cookies anyway).
// prev, when not nil, is the set the caller knows the bridge holds (see
// SyncFlowsFrom): the bridge is then not read.
func syncFlows(ctx context.Context, conn *ofconn.Conn, prev, set *flows.Set) (flowDiff, error) {
	var installed []ofconn.FlowStat
	if prev != nil {
		installed = statsOf(prev)
	} else {
		var err error
		installed, err = conn.DumpFlows(ctx, ofconn.FlowFilter{TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask})
		if err != nil {
			return flowDiff{}, fmt.Errorf("reading installed flows: %w", err)
		}
	}
	d := diffFlows(set, installed)
	return d, sendDiff(ctx, conn, d)
}

// SyncFlowsFrom makes the bridge's vpcctl flows go from prev, a set the
// caller knows is installed (the last one it synced on this connection, as a
// controller that alone writes the bridge's flows does), to set, without
// reading the bridge: an edit costs its diff, not a dump of every flow. It
// says how many flows it added and deleted.
func SyncFlowsFrom(ctx context.Context, conn *ofconn.Conn, prev, set *flows.Set) (added, deleted int, err error) {
	d, err := syncFlows(ctx, conn, prev, set)
	return len(d.Add), len(d.Delete), err
}

// statsOf is a set as a flow dump of a bridge holding exactly it would be.
func statsOf(set *flows.Set) []ofconn.FlowStat {
	out := make([]ofconn.FlowStat, len(set.Flows))
	for i, f := range set.Flows {
		out[i] = ofconn.FlowStat{TableID: f.Table.ID, Priority: f.Priority, Cookie: f.Cookie}
	}
	return out
}

// sendDiff sends a diff in one bundle (nothing when it is empty).
func sendDiff(ctx context.Context, conn *ofconn.Conn, d flowDiff) error {
	msgs := make([]util.Message, 0, len(d.Delete)+len(d.Add))
	for _, c := range d.Delete {
		msgs = append(msgs, ofconn.DeleteByCookie(c, ^uint64(0)))
	}
	for _, f := range d.Add {
		fm, err := f.FlowMod()
		if err != nil {
			return err
		}
		msgs = append(msgs, fm)
	}
	if err := conn.Bundle(ctx, msgs); err != nil {
		return fmt.Errorf("installing flows: %w", err)
	}
	return nil
}

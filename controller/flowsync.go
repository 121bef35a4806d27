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

// diffFlows compares the desired set with the cookies installed on the bridge.
func diffFlows(set *flows.Set, installed []ofconn.FlowStat) flowDiff {
	var d flowDiff
	have := make(map[uint64]bool, len(installed))
	for _, st := range installed {
		if have[st.Cookie] {
			continue
		}
		have[st.Cookie] = true
		if set.Lookup(st.Cookie) == nil {
			d.Delete = append(d.Delete, st.Cookie)
		}
	}
	for _, f := range set.Flows {
		if !have[f.Cookie] {
			d.Add = append(d.Add, f)
		}
	}
	return d
}

// SyncFlows makes the bridge's vpcctl flows equal to set (see syncFlows) and
// says how many flows it added and deleted.
func SyncFlows(ctx context.Context, conn *ofconn.Conn, set *flows.Set) (added, deleted int, err error) {
	d, err := syncFlows(ctx, conn, set)
	return len(d.Add), len(d.Delete), err
}

// syncFlows makes the bridge's vpcctl flows equal to set in one atomic bundle:
// the dataplane never sees a half-updated pipeline, and an unchanged set sends
// no flow-mod at all. Deletes go first so a flow replaced in the same slot is
// not removed after its replacement is added (they have different cookies anyway).
func syncFlows(ctx context.Context, conn *ofconn.Conn, set *flows.Set) (flowDiff, error) {
	installed, err := conn.DumpFlows(ctx, ofconn.FlowFilter{TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask})
	if err != nil {
		return flowDiff{}, fmt.Errorf("reading installed flows: %w", err)
	}
	d := diffFlows(set, installed)
	msgs := make([]util.Message, 0, len(d.Delete)+len(d.Add))
	for _, c := range d.Delete {
		msgs = append(msgs, ofconn.DeleteByCookie(c, ^uint64(0)))
	}
	for _, f := range d.Add {
		fm, err := f.FlowMod()
		if err != nil {
			return d, err
		}
		msgs = append(msgs, fm)
	}
	if err := conn.Bundle(ctx, msgs); err != nil {
		return d, fmt.Errorf("installing flows: %w", err)
	}
	return d, nil
}

package controller

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/contiv/libOpenflow/util"
	"github.com/vishvananda/netlink"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// controllerTarget is the Bridge.controller apply asks for. The daemon sets
// its own socket. A plain apply keeps a daemon's target that is there (so
// `vpcctl apply` next to a running daemon does not cut it off) and
// otherwise wants none, as before.
func controllerTarget(ctx context.Context, db *ovsdb.Client, o Options, bridge string, daemon bool) (string, error) {
	target := DaemonTarget(o, bridge)
	if daemon {
		return target, nil
	}
	brs, err := db.ListBridges(ctx)
	if err != nil {
		return "", err
	}
	for _, b := range brs {
		if b.Name == bridge && slices.Contains(b.Controllers, target) {
			return target, nil
		}
	}
	return "", nil
}

// drift is how the dataplane differs from what the last apply made; the
// zero value means it does not.
type drift struct {
	reason string
	// unread is set when the flows could not be read at all (reason says
	// why): OVS is away or the connection just died.
	unread bool
	// misplaced are installed flows a cookie diff (apply) cannot see: a
	// desired cookie in another table than its flow's, or installed twice.
	misplaced []flowKey
	// trunk: a trunk instance lost its tag; the repair reads every trunk
	// instance's tc filter (Options.verifyTrunk).
	trunk bool
}

// flowKey names an installed flow the way the reconcile does: by cookie,
// and the table it is in.
type flowKey struct {
	Table  uint8
	Cookie uint64
}

// check looks, cheaply, whether the dataplane still is what the last apply
// made: no internal port back in the host namespace, and the installed
// vpcctl flows exactly the desired set, compared by (table, cookie):
// ovs-vswitchd keeps no flows across a restart; someone may have deleted a
// flow, added one with vpcctl's cookie marker, or put one in another table.
// A cookie names a flow's whole content, so this is the same comparison
// apply makes, without sending anything. It reads the flows over
// ovs-vswitchd's connection to the daemon, or the management socket while
// OVS is not connected.
func (d *daemon) check(ctx context.Context) drift {
	if !d.applied || d.flows == nil {
		return drift{reason: "not applied yet"}
	}
	if p := d.internalPortsInHost(); len(p) > 0 {
		return drift{reason: fmt.Sprintf("internal ports %v are in the host namespace", p)}
	}
	if reason := d.portsDrift(ctx); reason != "" {
		return drift{reason: reason}
	}
	if reason := trunkDrift(ctx, d.db, d.topo); reason != "" {
		return drift{reason: reason, trunk: true}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var dr drift
	err := d.withConn(ctx, func(conn *ofconn.Conn) error {
		installed, err := conn.DumpFlows(ctx, ofconn.FlowFilter{
			TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask})
		if err != nil {
			return fmt.Errorf("reading flows: %w", err)
		}
		dr = compareFlows(d.flows, installed)
		return nil
	})
	if err != nil {
		return drift{reason: err.Error(), unread: true}
	}
	return dr
}

// repair brings the dataplane back to the desired state: the misplaced
// flows go first (in one bundle that also puts a duplicated flow back, so
// that one never goes missing), then apply adds what is missing and deletes
// the flows it does not want.
func (d *daemon) repair(ctx context.Context, dr drift) {
	d.flowsOn = nil // the bridge does not hold what the daemon installed
	d.verifyTrunk = d.verifyTrunk || dr.trunk
	if len(dr.misplaced) > 0 && d.flows != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.withConn(rctx, func(conn *ofconn.Conn) error {
			return removeMisplaced(rctx, conn, d.flows, dr.misplaced)
		})
		cancel()
		if err != nil {
			d.log.Warn("removing misplaced flows", "event", "drift", "err", err)
		}
	}
	d.apply(ctx, "drift")
}

// withConn runs fn with ovs-vswitchd's connection to the daemon, or, when
// OVS is not connected, a connection to the bridge's management socket.
func (d *daemon) withConn(ctx context.Context, fn func(*ofconn.Conn) error) error {
	if conn := d.liveConn(); conn != nil {
		return fn(conn)
	}
	conn, err := ofconn.Dial(ctx, d.o.mgmtTarget(d.bridge))
	if err != nil {
		return fmt.Errorf("no OpenFlow connection: %w", err)
	}
	defer conn.Close()
	return fn(conn)
}

// compareFlows compares the installed vpcctl flows with the desired set by
// (table, cookie). Every desired flow must be there exactly once, in its
// table, and nothing else may carry vpcctl's marker.
func compareFlows(want *flows.Set, installed []ofconn.FlowStat) drift {
	wanted := make(map[flowKey]bool, len(want.Flows))
	for _, f := range want.Flows {
		wanted[flowKey{f.Table.ID, f.Cookie}] = true
	}
	have := make(map[flowKey]int, len(installed))
	for _, st := range installed {
		have[flowKey{st.TableID, st.Cookie}]++
	}
	var missing, extra, misplaced []flowKey
	for k, n := range have {
		switch {
		case wanted[k] && n > 1, !wanted[k] && want.Lookup(k.Cookie) != nil:
			misplaced = append(misplaced, k)
		case !wanted[k]:
			extra = append(extra, k)
		}
	}
	for k := range wanted {
		if have[k] == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing)+len(extra)+len(misplaced) == 0 {
		return drift{}
	}
	for _, l := range [][]flowKey{missing, extra, misplaced} {
		slices.SortFunc(l, func(a, b flowKey) int {
			return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Cookie, b.Cookie))
		})
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []flowKey
	}{{"missing", missing}, {"not desired", extra}, {"in the wrong table or duplicated", misplaced}} {
		if len(p.keys) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (first: table=%d,cookie=%#x)", len(p.keys), p.what, p.keys[0].Table, p.keys[0].Cookie))
		}
	}
	return drift{
		reason:    fmt.Sprintf("vpcctl flows installed: %d, desired: %d; %s", len(installed), len(want.Flows), strings.Join(parts, ", ")),
		misplaced: misplaced,
	}
}

// removeMisplaced deletes, in one bundle, the installed flows at keys (by
// exact cookie, in that table only). A key that is the desired flow's own
// (the flow was there twice) gets the desired flow back in the same bundle.
func removeMisplaced(ctx context.Context, conn *ofconn.Conn, want *flows.Set, keys []flowKey) error {
	msgs := make([]util.Message, 0, 2*len(keys))
	for _, k := range keys {
		del := ofconn.DeleteByCookie(k.Cookie, ^uint64(0))
		del.TableId = k.Table
		msgs = append(msgs, del)
		if f := want.Lookup(k.Cookie); f != nil && f.Table.ID == k.Table {
			fm, err := f.FlowMod()
			if err != nil {
				return err
			}
			msgs = append(msgs, fm)
		}
	}
	return conn.Bundle(ctx, msgs)
}

// portsDrift looks in the OVSDB cache (no round trip) whether every port
// of the topology is on the bridge and attached (an OpenFlow port number):
// someone may have deleted a port or the bridge. It returns why not, or "".
func (d *daemon) portsDrift(ctx context.Context) string {
	if d.db == nil {
		return ""
	}
	ports, err := d.db.ListPorts(ctx, d.bridge)
	if err != nil {
		return "OVSDB: " + err.Error()
	}
	ofport := make(map[string]int, len(ports))
	for _, p := range ports {
		ofport[p.Name] = p.Ofport
	}
	var missing, detached []string
	for _, p := range d.ports {
		switch n, ok := ofport[p]; {
		case !ok:
			missing = append(missing, p)
		case n < 0:
			detached = append(detached, p)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Sprintf("ports %v are not on bridge %s", missing, d.bridge)
	case len(detached) > 0:
		return fmt.Sprintf("ports %v failed to attach (ofport -1)", detached)
	}
	return ""
}

// setTopology makes topo (read from raw) the desired state.
func (d *daemon) setTopology(topo *config.Topology, raw []byte) {
	d.topo, d.raw, d.internal, d.ports, d.trunkLinks = topo, raw, nil, nil, nil
	for _, a := range attachments(topo, nil) {
		if !a.isPort() {
			d.trunkLinks = append(d.trunkLinks, a.Port)
			continue // trunk instances come through the trunk port
		}
		d.ports = append(d.ports, a.Port)
		if a.Attach == "internal" {
			d.internal = append(d.internal, a.Port)
		}
	}
}

// isTrunkLink: name is a trunk instance's host end or an end of the trunk.
func (d *daemon) isTrunkLink(name string) bool {
	if len(d.trunkLinks) == 0 {
		return false
	}
	o, k := host.TrunkNames(d.bridge)
	return name == o || name == k || slices.Contains(d.trunkLinks, name)
}

func (d *daemon) isInternalPort(name string) bool {
	return slices.Contains(d.internal, name)
}

// internalPortsInHost lists the internal ports that are in the host
// namespace (the daemon's) instead of their instance's.
func (d *daemon) internalPortsInHost() []string {
	var out []string
	for _, p := range d.internal {
		if _, err := netlink.LinkByName(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// dropMessage is a slog handler that leaves out records with one message.
type dropMessage struct {
	slog.Handler
	msg string
}

func (h dropMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h dropMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return dropMessage{h.Handler.WithAttrs(as), h.msg}
}

func (h dropMessage) WithGroup(name string) slog.Handler {
	return dropMessage{h.Handler.WithGroup(name), h.msg}
}

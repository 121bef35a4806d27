package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vpcctl/vpcctl/config"
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

// check looks, cheaply, whether the dataplane still is what the last apply
// made: all of vpcctl's flows installed (ovs-vswitchd keeps none across a
// restart; someone may have deleted some) and no internal port back in the
// host namespace. It returns why not, or "" when all is well.
func (d *daemon) check(ctx context.Context) string {
	if !d.applied {
		return "not applied yet"
	}
	if p := d.internalPortsInHost(); len(p) > 0 {
		return fmt.Sprintf("internal ports %v are in the host namespace", p)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn := d.conn
	if conn == nil {
		c, err := ofconn.Dial(ctx, d.o.mgmtTarget(d.bridge))
		if err != nil {
			return "no OpenFlow connection: " + err.Error()
		}
		defer c.Close()
		conn = c
	}
	installed, err := conn.DumpFlows(ctx, ofconn.FlowFilter{
		TableID: ofconn.TableAll, Cookie: flows.CookieMarker, CookieMask: flows.CookieMarkerMask})
	if err != nil {
		return "reading flows: " + err.Error()
	}
	cookies := make(map[uint64]bool, len(installed))
	for _, f := range installed {
		cookies[f.Cookie] = true
	}
	if len(cookies) != d.flows {
		return fmt.Sprintf("%d of vpcctl's flows installed, %d expected", len(cookies), d.flows)
	}
	return ""
}

// setTopology makes topo (read from raw) the desired state.
func (d *daemon) setTopology(topo *config.Topology, raw []byte) {
	d.topo, d.raw, d.internal = topo, raw, nil
	for _, a := range attachments(topo, nil) {
		if a.Attach == "internal" {
			d.internal = append(d.internal, a.Port)
		}
	}
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

package ovsdb

import (
	"context"
	"fmt"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

func newController(target string) *vswitchd.Controller {
	return &vswitchd.Controller{
		UUID:        "vpccontroller",
		Target:      target,
		ExternalIDs: withOwner(nil),
	}
}

// controllerDiff says how to give a bridge exactly one controller, target
// ("" = none): the new Bridge.controller value and the insert it needs.
type controllerDiff struct {
	change  bool
	refs    []string
	inserts []ovsdb.Operation
}

func (c *Client) controllerChange(ctx context.Context, br *vswitchd.Bridge, target string) (controllerDiff, error) {
	if target == "" {
		return controllerDiff{change: len(br.Controller) > 0, refs: []string{}}, nil
	}
	if len(br.Controller) == 1 {
		cur := &vswitchd.Controller{UUID: br.Controller[0]}
		if c.cli.Get(ctx, cur) == nil && cur.Target == target {
			return controllerDiff{}, nil
		}
	}
	ctl := newController(target)
	ops, err := c.cli.Create(ctl)
	if err != nil {
		return controllerDiff{}, fmt.Errorf("build controller insert: %w", err)
	}
	// The old Controller rows, no longer referenced, are garbage collected.
	return controllerDiff{change: true, refs: []string{ctl.UUID}, inserts: ops}, nil
}

// HasController says whether target is already the only controller of the
// bridge (a bridge that does not exist has none).
func (c *Client) HasController(ctx context.Context, bridge, target string) bool {
	br, err := c.bridge(ctx, bridge)
	if err != nil {
		return false
	}
	d, err := c.controllerChange(ctx, br, target)
	return err == nil && !d.change
}

// SetController makes target the only controller of the vpcctl bridge
// ("" removes any), with no write when it already is.
func (c *Client) SetController(ctx context.Context, bridge, target string) error {
	br, err := c.ownedBridge(ctx, bridge)
	if err != nil {
		return err
	}
	d, err := c.controllerChange(ctx, br, target)
	if err != nil {
		return err
	}
	if !d.change {
		return nil
	}
	m := &vswitchd.Bridge{UUID: br.UUID, Controller: d.refs}
	upd, err := c.cli.Where(m).Update(m, &m.Controller)
	if err != nil {
		return fmt.Errorf("build controller update: %w", err)
	}
	if err := c.transact(ctx, append(d.inserts, upd...)...); err != nil {
		return fmt.Errorf("set controller of %q: %w", bridge, err)
	}
	return nil
}

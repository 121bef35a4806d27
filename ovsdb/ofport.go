package ovsdb

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// WaitOfport waits until ovs-vswitchd has applied the database as it is
// (Open_vSwitch.cur_cfg has reached next_cfg, which every write increments,
// as `ovs-vsctl` waits) and has given the interface an OpenFlow port number,
// and returns it. The bridge's own port is LOCAL (65534). An interface
// ovs-vswitchd could not attach (ofport -1) returns ErrPortFailed with the
// Interface.error text. It waits on cache updates, until ctx ends or, if
// ctx has no deadline, 10 s.
func (c *Client) WaitOfport(ctx context.Context, name string) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := c.WaitApplied(ctx); err != nil {
		return 0, fmt.Errorf("wait for ofport of %q: %w", name, err)
	}
	var ofport int
	err := c.waitUntil(ctx, func() (bool, error) {
		iface := &vswitchd.Interface{Name: name}
		if err := c.get(ctx, iface, fmt.Sprintf("interface %q", name)); err != nil {
			return false, err
		}
		switch p := deref(iface.Ofport); {
		case p == -1:
			return false, fmt.Errorf("interface %q: %s: %w", name, deref(iface.Error), ErrPortFailed)
		case p > 0:
			ofport = p
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("wait for ofport of %q: %w", name, err)
	}
	return ofport, nil
}

// WaitApplied waits until ovs-vswitchd has applied every write made so far
// (cur_cfg has reached next_cfg), as `ovs-vsctl` does before it returns: after
// it, a deleted port's device is really gone. Bounded by ctx, or 10 s.
func (c *Client) WaitApplied(ctx context.Context) error {
	target := c.lastCfg.Load()
	if r, err := c.rootRow(ctx); err == nil {
		target = max(target, int64(r.NextCfg))
	}
	var last string
	err := c.waitUntil(ctx, func() (bool, error) {
		r, err := c.rootRow(ctx)
		if err != nil {
			return false, err
		}
		if int64(r.CurCfg) < target {
			last = fmt.Sprintf("ovs-vswitchd has not applied the change yet (cur_cfg %d < %d): is it running?", r.CurCfg, target)
			return false, nil
		}
		return true, nil
	})
	if err != nil && last != "" {
		return fmt.Errorf("waiting for ovs-vswitchd: %s: %w", last, err)
	}
	return err
}

package ovsdb

import (
	"context"
	"fmt"
	"slices"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// rootRow returns the single Open_vSwitch row from the cache.
func (c *Client) rootRow(ctx context.Context) (*vswitchd.OpenvSwitch, error) {
	var rows []vswitchd.OpenvSwitch
	if err := c.cli.List(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list Open_vSwitch: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("Open_vSwitch row: %w", ErrNotFound)
	}
	return &rows[0], nil
}

// root returns the UUID of the Open_vSwitch row, creating the row first if
// the database has none yet (a database fresh from ovsdb-tool create).
func (c *Client) root(ctx context.Context) (string, error) {
	if r, err := c.rootRow(ctx); err == nil {
		return r.UUID, nil
	}
	c.rootMu.Lock()
	defer c.rootMu.Unlock()
	if r, err := c.rootRow(ctx); err == nil {
		return r.UUID, nil
	}
	ops, err := c.cli.Create(&vswitchd.OpenvSwitch{UUID: "vpcroot"})
	if err != nil {
		return "", fmt.Errorf("build Open_vSwitch insert: %w", err)
	}
	// The table has maxRows 1: if another client created the row meanwhile,
	// this insert fails and the row shows up in the cache all the same.
	_, sendErr := c.send(ctx, ops)
	var uuid string
	err = c.waitUntil(ctx, func() (bool, error) {
		r, err := c.rootRow(ctx)
		if err != nil {
			return sendErr != nil, sendErr
		}
		uuid = r.UUID
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("create Open_vSwitch row: %w", err)
	}
	return uuid, nil
}

// Init creates the Open_vSwitch row if the database has none, as
// `ovs-vsctl init` does. The Ensure* functions do it by themselves.
func (c *Client) Init(ctx context.Context) error {
	_, err := c.root(ctx)
	return err
}

// SetOpenvSwitchOtherConfig sets other_config:key=value on the Open_vSwitch
// row (for example userspace-tso-enable=true), with no write when it
// already has that value.
func (c *Client) SetOpenvSwitchOtherConfig(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("other_config key: %w", ErrInvalid)
	}
	uuid, err := c.root(ctx)
	if err != nil {
		return err
	}
	r, err := c.rootRow(ctx)
	if err != nil {
		return err
	}
	m := &vswitchd.OpenvSwitch{UUID: uuid}
	muts := mapSetMutations(&m.OtherConfig, r.OtherConfig, map[string]string{key: value})
	if muts == nil {
		return nil
	}
	ops, err := c.cli.Where(m).Mutate(m, muts...)
	if err != nil {
		return fmt.Errorf("build other_config mutation: %w", err)
	}
	if err := c.transact(ctx, ops...); err != nil {
		return fmt.Errorf("set Open_vSwitch other_config:%s: %w", key, err)
	}
	return nil
}

// DatapathTypes returns Open_vSwitch.datapath_types, sorted: the datapath
// types ovs-vswitchd was built with (for example netdev and system). It is
// empty until ovs-vswitchd has started once, and it lists "system" even
// where the kernel has no openvswitch module.
func (c *Client) DatapathTypes(ctx context.Context) ([]string, error) {
	r, err := c.rootRow(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(r.DatapathTypes)
	slices.Sort(out)
	return out, nil
}

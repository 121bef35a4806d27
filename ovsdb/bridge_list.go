package ovsdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// BridgeInfo describes a vpcctl bridge as OVSDB has it.
type BridgeInfo struct {
	Name         string
	DatapathType string
	FailMode     string
	Protocols    []string
	Controllers  []string // targets
	TableNames   map[uint8]string
	ExternalIDs  map[string]string
}

// ListBridges returns the bridges vpcctl created, sorted by name.
func (c *Client) ListBridges(ctx context.Context) ([]BridgeInfo, error) {
	var brs []vswitchd.Bridge
	if err := c.cli.List(ctx, &brs); err != nil {
		return nil, fmt.Errorf("list bridges: %w", err)
	}
	var out []BridgeInfo
	for _, br := range brs {
		if !owned(br.ExternalIDs) {
			continue
		}
		info := BridgeInfo{
			Name:         br.Name,
			DatapathType: br.DatapathType,
			FailMode:     deref(br.FailMode),
			Protocols:    br.Protocols,
			TableNames:   c.tableNames(ctx, &br),
			ExternalIDs:  br.ExternalIDs,
		}
		for _, uuid := range br.Controller {
			ctl := &vswitchd.Controller{UUID: uuid}
			if c.cli.Get(ctx, ctl) == nil {
				info.Controllers = append(info.Controllers, ctl.Target)
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b BridgeInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteBridge removes the vpcctl bridge, like `ovs-vsctl --if-exists
// del-br`: removing it from Open_vSwitch.bridges lets OVSDB's garbage
// collection delete the Bridge and every row only it referenced (its ports,
// interfaces, flow tables, controllers). A missing bridge is not an error
// (and no write); a bridge vpcctl did not create: ErrNotOwned.
func (c *Client) DeleteBridge(ctx context.Context, name string) error {
	br, err := c.ownedBridge(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	root, err := c.root(ctx)
	if err != nil {
		return err
	}
	ovs := &vswitchd.OpenvSwitch{UUID: root}
	ops, err := c.cli.Where(ovs).Mutate(ovs, model.Mutation{
		Field: &ovs.Bridges, Mutator: ovsdb.MutateOperationDelete, Value: []string{br.UUID}})
	if err != nil {
		return fmt.Errorf("build Open_vSwitch mutation: %w", err)
	}
	if err := c.transact(ctx, ops...); err != nil {
		return fmt.Errorf("delete bridge %q: %w", name, err)
	}
	return nil
}

package ovsdb

import (
	"context"
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// newFlowTable returns an owned Flow_Table row for table id, with a named UUID.
func newFlowTable(id uint8, name string) *vswitchd.FlowTable {
	return &vswitchd.FlowTable{
		UUID:        fmt.Sprintf("vpcft%d", id),
		Name:        &name,
		ExternalIDs: withOwner(nil),
	}
}

// newFlowTables returns the rows to insert for names and the matching
// Bridge.flow_tables map (named UUIDs).
func newFlowTables(names map[uint8]string) ([]*vswitchd.FlowTable, map[int]string) {
	var rows []*vswitchd.FlowTable
	refs := map[int]string{}
	for _, id := range sortedKeys(names) {
		t := newFlowTable(id, names[id])
		rows = append(rows, t)
		refs[int(id)] = t.UUID
	}
	return rows, refs
}

// flowTableChange brings the bridge's table names to want: a vpcctl row
// with the wrong name is renamed, a missing or foreign one replaced, a
// vpcctl row for a table not in want is unreferenced (and so deleted by
// OVSDB's garbage collection). Table entries vpcctl did not make, and that
// want does not mention, are left alone.
func (c *Client) flowTableChange(ctx context.Context, br *vswitchd.Bridge, m *vswitchd.Bridge, want map[uint8]string) (change, error) {
	var ch change
	var drop []int
	add := map[int]string{}
	var inserts []model.Model
	for _, id := range sortedKeys(want) {
		name := want[id]
		uuid, ok := br.FlowTables[int(id)]
		if ok {
			ft := &vswitchd.FlowTable{UUID: uuid}
			err := c.get(ctx, ft, "flow table "+uuid)
			switch {
			case err == nil && ft.Name != nil && *ft.Name == name:
				continue
			case err == nil && owned(ft.ExternalIDs):
				upd := &vswitchd.FlowTable{UUID: uuid, Name: &name}
				ops, err := c.cli.Where(upd).Update(upd, &upd.Name)
				if err != nil {
					return change{}, fmt.Errorf("build flow table update: %w", err)
				}
				ch.ops = append(ch.ops, ops...)
				continue
			}
			drop = append(drop, int(id))
		}
		t := newFlowTable(id, name)
		inserts = append(inserts, t)
		add[int(id)] = t.UUID
	}
	for id, uuid := range br.FlowTables {
		if id >= 0 && id <= 254 {
			if _, ok := want[uint8(id)]; ok {
				continue
			}
		}
		ft := &vswitchd.FlowTable{UUID: uuid}
		if c.get(ctx, ft, "flow table "+uuid) == nil && owned(ft.ExternalIDs) {
			drop = append(drop, id)
		}
	}
	if len(inserts) > 0 {
		ops, err := c.cli.Create(inserts...)
		if err != nil {
			return change{}, fmt.Errorf("build flow table insert: %w", err)
		}
		ch.ops = append(ch.ops, ops...)
	}
	if len(drop) > 0 {
		slices.Sort(drop)
		ch.muts = append(ch.muts, model.Mutation{Field: &m.FlowTables, Mutator: ovsdb.MutateOperationDelete, Value: drop})
	}
	if len(add) > 0 {
		ch.muts = append(ch.muts, model.Mutation{Field: &m.FlowTables, Mutator: ovsdb.MutateOperationInsert, Value: add})
	}
	return ch, nil
}

// tableNames returns the names of the bridge's flow tables, from the cache.
func (c *Client) tableNames(ctx context.Context, br *vswitchd.Bridge) map[uint8]string {
	out := map[uint8]string{}
	for id, uuid := range br.FlowTables {
		ft := &vswitchd.FlowTable{UUID: uuid}
		if c.get(ctx, ft, "flow table") == nil && ft.Name != nil && id >= 0 && id <= 254 {
			out[uint8(id)] = *ft.Name
		}
	}
	return out
}

func sortedKeys[K int | uint8, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

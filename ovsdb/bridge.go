package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// DefaultProtocols are the OpenFlow versions a bridge accepts when
// BridgeSpec.Protocols is empty: 1.3 for the session, 1.4+ for bundles.
var DefaultProtocols = []string{"OpenFlow13", "OpenFlow14", "OpenFlow15"}

// bridgeOtherConfig is set on every bridge vpcctl creates: vpcctl's
// controller never talks through the bridge itself.
var bridgeOtherConfig = map[string]string{"disable-in-band": "true"}

// BridgeSpec is the desired state of a vpcctl bridge.
type BridgeSpec struct {
	Name string
	// DatapathType is "netdev" (userspace) or "system" (kernel); "" is
	// OVS's default, system.
	DatapathType string
	// ExternalIDs are set on the bridge beside the ownership marker; keys
	// not named here are left as they are.
	ExternalIDs map[string]string
	// TableNames names OpenFlow tables (0-254) through Flow_Table rows, so
	// `ovs-ofctl --names` shows and accepts them. Tables vpcctl named
	// earlier and not listed here lose their name.
	TableNames map[uint8]string
	// Protocols are the OpenFlow versions allowed; empty = DefaultProtocols.
	Protocols []string
	// Controller is the bridge's only controller target, for example
	// "punix:/run/vpcctl/br0.sock" or "tcp:127.0.0.1:6653"; "" = none
	// (a controller set earlier is removed).
	Controller string
}

func (s BridgeSpec) validate() error {
	if err := validIfName("bridge", s.Name); err != nil {
		return err
	}
	switch s.DatapathType {
	case "", "system", "netdev":
	default:
		return fmt.Errorf("bridge %q datapath type %q (want netdev or system): %w", s.Name, s.DatapathType, ErrInvalid)
	}
	for id, name := range s.TableNames {
		if id > 254 {
			return fmt.Errorf("bridge %q table %d: OVS tables are 0-254: %w", s.Name, id, ErrInvalid)
		}
		if err := validTableName(id, name); err != nil {
			return fmt.Errorf("bridge %q: %w", s.Name, err)
		}
	}
	for _, p := range s.Protocols {
		if !slices.Contains([]string{"OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15"}, p) {
			return fmt.Errorf("bridge %q protocol %q: %w", s.Name, p, ErrInvalid)
		}
	}
	return nil
}

func (s BridgeSpec) protocols() []string {
	if len(s.Protocols) == 0 {
		return DefaultProtocols
	}
	return s.Protocols
}

// EnsureBridge makes the bridge match spec. A missing bridge is created in
// one transaction, as `ovs-vsctl add-br` does (Bridge, its internal Port and
// Interface of the same name, the reference from Open_vSwitch), with
// fail_mode=secure from the start so it never acts as a learning switch. An
// existing vpcctl bridge gets only the changes it needs, and no write at all
// when it already matches. A bridge vpcctl did not create: ErrNotOwned.
func (c *Client) EnsureBridge(ctx context.Context, spec BridgeSpec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	root, err := c.root(ctx)
	if err != nil {
		return err
	}
	var ops []ovsdb.Operation
	br, err := c.bridge(ctx, spec.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		ops, err = c.createBridgeOps(root, spec)
	case err != nil:
		return err
	case !owned(br.ExternalIDs):
		return fmt.Errorf("bridge %q: %w", spec.Name, ErrNotOwned)
	default:
		ops, err = c.updateBridgeOps(ctx, br, spec)
	}
	if err != nil {
		return fmt.Errorf("bridge %q: %w", spec.Name, err)
	}
	if err := c.transact(ctx, ops...); err != nil {
		return fmt.Errorf("ensure bridge %q: %w", spec.Name, err)
	}
	return nil
}

func (c *Client) createBridgeOps(root string, spec BridgeSpec) ([]ovsdb.Operation, error) {
	secure := vswitchd.BridgeFailModeSecure
	port, iface := newPort("vpclocal", PortSpec{Name: spec.Name, Type: "internal"})
	tables, refs := newFlowTables(spec.TableNames)
	br := &vswitchd.Bridge{
		UUID:         "vpcbridge",
		Name:         spec.Name,
		DatapathType: spec.DatapathType,
		FailMode:     &secure,
		Protocols:    spec.protocols(),
		ExternalIDs:  withOwner(spec.ExternalIDs),
		OtherConfig:  bridgeOtherConfig,
		Ports:        []string{port.UUID},
		FlowTables:   refs,
	}
	rows := []model.Model{iface, port}
	for _, t := range tables {
		rows = append(rows, t)
	}
	if spec.Controller != "" {
		ctl := newController(spec.Controller)
		br.Controller = []string{ctl.UUID}
		rows = append(rows, ctl)
	}
	ops, err := c.cli.Create(append(rows, br)...)
	if err != nil {
		return nil, fmt.Errorf("build inserts: %w", err)
	}
	ovs := &vswitchd.OpenvSwitch{UUID: root}
	add, err := c.cli.Where(ovs).Mutate(ovs, model.Mutation{
		Field: &ovs.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{br.UUID}})
	if err != nil {
		return nil, fmt.Errorf("build Open_vSwitch mutation: %w", err)
	}
	return append(ops, add...), nil
}

// updateBridgeOps returns what brings the existing bridge br to spec; nil
// when nothing differs.
func (c *Client) updateBridgeOps(ctx context.Context, br *vswitchd.Bridge, spec BridgeSpec) ([]ovsdb.Operation, error) {
	m := &vswitchd.Bridge{UUID: br.UUID}
	var fields []any
	if br.FailMode == nil || *br.FailMode != vswitchd.BridgeFailModeSecure {
		secure := vswitchd.BridgeFailModeSecure
		m.FailMode = &secure
		fields = append(fields, &m.FailMode)
	}
	if br.DatapathType != spec.DatapathType {
		m.DatapathType = spec.DatapathType
		fields = append(fields, &m.DatapathType)
	}
	if !sameSet(br.Protocols, spec.protocols()) {
		m.Protocols = spec.protocols()
		fields = append(fields, &m.Protocols)
	}
	var ops []ovsdb.Operation
	ctl, err := c.controllerChange(ctx, br, spec.Controller)
	if err != nil {
		return nil, err
	}
	if ctl.change {
		m.Controller = ctl.refs
		fields = append(fields, &m.Controller)
		ops = append(ops, ctl.inserts...)
	}
	if len(fields) > 0 {
		upd, err := c.cli.Where(m).Update(m, fields...)
		if err != nil {
			return nil, fmt.Errorf("build update: %w", err)
		}
		ops = append(ops, upd...)
	}

	muts := mapSetMutations(&m.ExternalIDs, br.ExternalIDs, withOwner(spec.ExternalIDs))
	muts = append(muts, mapSetMutations(&m.OtherConfig, br.OtherConfig, bridgeOtherConfig)...)
	ft, err := c.flowTableChange(ctx, br, m, spec.TableNames)
	if err != nil {
		return nil, err
	}
	ops = append(ops, ft.ops...)
	muts = append(muts, ft.muts...)
	local, err := c.localPortChange(ctx, br, m)
	if err != nil {
		return nil, err
	}
	ops = append(ops, local.ops...)
	muts = append(muts, local.muts...)
	if len(muts) > 0 {
		mut, err := c.cli.Where(m).Mutate(m, muts...)
		if err != nil {
			return nil, fmt.Errorf("build mutation: %w", err)
		}
		ops = append(ops, mut...)
	}
	return ops, nil
}

// change is what a part of the reconcile adds to a transaction: operations
// of their own, and mutations of the bridge row.
type change struct {
	ops  []ovsdb.Operation
	muts []model.Mutation
}

// localPortChange re-creates the bridge's own internal port if it is gone.
func (c *Client) localPortChange(ctx context.Context, br *vswitchd.Bridge, m *vswitchd.Bridge) (change, error) {
	for _, uuid := range br.Ports {
		if p, err := c.portByUUID(ctx, uuid); err == nil && p.Name == br.Name {
			return change{}, nil
		}
	}
	port, iface := newPort("vpclocal", PortSpec{Name: br.Name, Type: "internal"})
	ops, err := c.cli.Create(iface, port)
	if err != nil {
		return change{}, fmt.Errorf("build local port insert: %w", err)
	}
	return change{ops: ops, muts: []model.Mutation{{
		Field: &m.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{port.UUID}}}}, nil
}

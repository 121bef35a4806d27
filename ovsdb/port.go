package ovsdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// PortSpec is the desired state of a port and of its single interface,
// which has the same name.
type PortSpec struct {
	Name string
	// Type is the Interface type: "" for an existing network device such
	// as a veth end, "internal" for a port OVS creates.
	Type string
	// ExternalIDs are set on both the Port and the Interface beside the
	// ownership marker; keys not named here are left as they are.
	ExternalIDs map[string]string
	// OfportRequest asks ovs-vswitchd for this OpenFlow port number
	// (1-65279) so it stays the same across restarts; 0 = no preference
	// (a number asked for earlier is kept).
	OfportRequest int
	// SyncPrefix: external ids starting with it live on the Port row only
	// (ListPorts reads them there), and those ExternalIDs lacks are deleted
	// ("" deletes none). The trunk port keeps one record per trunk instance
	// this way: 1,000 of them written to both rows doubled the transaction.
	SyncPrefix string
	// Options is the Interface's options column, whole (a tunnel's
	// remote_ip and key); nil leaves it empty.
	Options map[string]string
}

func (s PortSpec) validate() error {
	if err := validIfName("port", s.Name); err != nil {
		return err
	}
	if s.OfportRequest < 0 || s.OfportRequest > 65279 {
		return fmt.Errorf("port %q ofport_request %d (want 1-65279, 0 = any): %w", s.Name, s.OfportRequest, ErrInvalid)
	}
	return nil
}

// PortInfo describes a vpcctl port as OVSDB has it.
type PortInfo struct {
	Name          string
	Type          string
	Ofport        int // 0: not assigned yet; -1: failed, see Error
	OfportRequest int // 0: none
	ExternalIDs   map[string]string
	Error         string // Interface.error
}

// ifaceExternalIDs are the external ids the Interface row gets: all but
// the SyncPrefix ones.
func (s PortSpec) ifaceExternalIDs() map[string]string {
	if s.SyncPrefix == "" {
		return s.ExternalIDs
	}
	out := make(map[string]string, len(s.ExternalIDs))
	for k, v := range s.ExternalIDs {
		if !strings.HasPrefix(k, s.SyncPrefix) {
			out[k] = v
		}
	}
	return out
}

// newPort returns an owned Port and its Interface with named UUIDs built
// from prefix.
func newPort(prefix string, spec PortSpec) (*vswitchd.Port, *vswitchd.Interface) {
	iface := &vswitchd.Interface{
		UUID:        prefix + "_iface",
		Name:        spec.Name,
		Type:        spec.Type,
		ExternalIDs: withOwner(spec.ifaceExternalIDs()),
		Options:     spec.Options,
	}
	if spec.OfportRequest != 0 {
		req := spec.OfportRequest
		iface.OfportRequest = &req
	}
	port := &vswitchd.Port{
		UUID:        prefix + "_port",
		Name:        spec.Name,
		Interfaces:  []string{iface.UUID},
		ExternalIDs: withOwner(spec.ExternalIDs),
	}
	return port, iface
}

// EnsurePort makes the port exist on the vpcctl bridge as spec says, like
// `ovs-vsctl add-port` (Port, Interface and the Bridge.ports reference in
// one transaction), or changes only what differs; no write when nothing
// does. A port of that name vpcctl did not create: ErrNotOwned; on another
// bridge: ErrConflict.
func (c *Client) EnsurePort(ctx context.Context, bridge string, spec PortSpec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	if spec.Name == bridge {
		return fmt.Errorf("port %q is the bridge's own port, managed by EnsureBridge: %w", spec.Name, ErrInvalid)
	}
	br, err := c.ownedBridge(ctx, bridge)
	if err != nil {
		return err
	}
	var ops []ovsdb.Operation
	p, err := c.port(ctx, spec.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		ops, err = c.createPortOps(br, spec)
	case err != nil:
		return err
	case !owned(p.ExternalIDs):
		return fmt.Errorf("port %q: %w", spec.Name, ErrNotOwned)
	case !slices.Contains(br.Ports, p.UUID):
		return fmt.Errorf("port %q is on bridge %q, not %q: %w", spec.Name, c.bridgeOfPort(ctx, p.UUID), bridge, ErrConflict)
	default:
		ops, err = c.updatePortOps(ctx, p, spec)
	}
	if err != nil {
		return fmt.Errorf("port %q: %w", spec.Name, err)
	}
	if err := c.transact(ctx, ops...); err != nil {
		return fmt.Errorf("ensure port %q on %q: %w", spec.Name, bridge, err)
	}
	return nil
}

func (c *Client) createPortOps(br *vswitchd.Bridge, spec PortSpec) ([]ovsdb.Operation, error) {
	port, iface := newPort("vpcnew", spec)
	ops, err := c.cli.Create(iface, port)
	if err != nil {
		return nil, fmt.Errorf("build inserts: %w", err)
	}
	m := &vswitchd.Bridge{UUID: br.UUID}
	add, err := c.cli.Where(m).Mutate(m, model.Mutation{
		Field: &m.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{port.UUID}})
	if err != nil {
		return nil, fmt.Errorf("build bridge mutation: %w", err)
	}
	return append(ops, add...), nil
}

func (c *Client) updatePortOps(ctx context.Context, p *vswitchd.Port, spec PortSpec) ([]ovsdb.Operation, error) {
	if len(p.Interfaces) != 1 {
		return nil, fmt.Errorf("has %d interfaces, want 1: %w", len(p.Interfaces), ErrConflict)
	}
	iface, err := c.ifaceByUUID(ctx, p.Interfaces[0])
	if err != nil {
		return nil, err
	}
	return c.updatePortIfaceOps(p, iface, spec)
}

// updatePortIfaceOps is updatePortOps with the port's interface looked up.
func (c *Client) updatePortIfaceOps(p *vswitchd.Port, iface *vswitchd.Interface, spec PortSpec) ([]ovsdb.Operation, error) {
	if iface.Name != spec.Name {
		return nil, fmt.Errorf("its interface is %q: %w", iface.Name, ErrConflict)
	}
	var ops []ovsdb.Operation
	im := &vswitchd.Interface{UUID: iface.UUID, Type: spec.Type}
	var fields []any
	if iface.Type != spec.Type {
		fields = append(fields, &im.Type)
	}
	if !maps.Equal(iface.Options, spec.Options) {
		im.Options = spec.Options
		if im.Options == nil {
			im.Options = map[string]string{}
		}
		fields = append(fields, &im.Options)
	}
	if spec.OfportRequest != 0 && (iface.OfportRequest == nil || *iface.OfportRequest != spec.OfportRequest) {
		req := spec.OfportRequest
		im.OfportRequest = &req
		fields = append(fields, &im.OfportRequest)
	}
	if len(fields) > 0 {
		upd, err := c.cli.Where(im).Update(im, fields...)
		if err != nil {
			return nil, fmt.Errorf("build interface update: %w", err)
		}
		ops = append(ops, upd...)
	}
	want := withOwner(spec.ExternalIDs)
	if muts := mapSyncMutations(&im.ExternalIDs, iface.ExternalIDs, withOwner(spec.ifaceExternalIDs()), spec.SyncPrefix); muts != nil {
		mut, err := c.cli.Where(im).Mutate(im, muts...)
		if err != nil {
			return nil, fmt.Errorf("build interface mutation: %w", err)
		}
		ops = append(ops, mut...)
	}
	pm := &vswitchd.Port{UUID: p.UUID}
	if muts := mapSyncMutations(&pm.ExternalIDs, p.ExternalIDs, want, spec.SyncPrefix); muts != nil {
		mut, err := c.cli.Where(pm).Mutate(pm, muts...)
		if err != nil {
			return nil, fmt.Errorf("build port mutation: %w", err)
		}
		ops = append(ops, mut...)
	}
	return ops, nil
}

// DeletePort removes the vpcctl port from the vpcctl bridge, like
// `ovs-vsctl --if-exists del-port`: the Port and Interface rows go with the
// reference. A port or bridge that does not exist is not an error (and no
// write). A port vpcctl did not create: ErrNotOwned.
func (c *Client) DeletePort(ctx context.Context, bridge, name string) error {
	if name == bridge {
		return fmt.Errorf("port %q is the bridge's own port, removed with it by DeleteBridge: %w", name, ErrInvalid)
	}
	br, err := c.ownedBridge(ctx, bridge)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p, err := c.port(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case !owned(p.ExternalIDs):
		return fmt.Errorf("port %q: %w", name, ErrNotOwned)
	case !slices.Contains(br.Ports, p.UUID):
		return fmt.Errorf("port %q is on bridge %q, not %q: %w", name, c.bridgeOfPort(ctx, p.UUID), bridge, ErrConflict)
	}
	m := &vswitchd.Bridge{UUID: br.UUID}
	ops, err := c.cli.Where(m).Mutate(m, model.Mutation{
		Field: &m.Ports, Mutator: ovsdb.MutateOperationDelete, Value: []string{p.UUID}})
	if err != nil {
		return fmt.Errorf("build bridge mutation: %w", err)
	}
	if err := c.transact(ctx, ops...); err != nil {
		return fmt.Errorf("delete port %q from %q: %w", name, bridge, err)
	}
	return nil
}

// ListPorts returns the vpcctl ports of the vpcctl bridge, sorted by name,
// without the bridge's own internal port.
func (c *Client) ListPorts(ctx context.Context, bridge string) ([]PortInfo, error) {
	br, err := c.ownedBridge(ctx, bridge)
	if err != nil {
		return nil, err
	}
	idx, err := c.portIndex(ctx)
	if err != nil {
		return nil, err
	}
	var out []PortInfo
	for _, uuid := range br.Ports {
		p := idx.portByUUID[uuid]
		if p == nil || !owned(p.ExternalIDs) || p.Name == bridge || len(p.Interfaces) == 0 {
			continue
		}
		info := PortInfo{Name: p.Name, ExternalIDs: maps.Clone(p.ExternalIDs)}
		if iface := idx.ifaceByUUID[p.Interfaces[0]]; iface != nil {
			info.Type = iface.Type
			info.Ofport = deref(iface.Ofport)
			info.OfportRequest = deref(iface.OfportRequest)
			info.Error = deref(iface.Error)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PortInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

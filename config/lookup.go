package config

import (
	"net/netip"
	"slices"
)

// named finds the element called name.
func named[T any](list []*T, name string, nameOf func(*T) string) *T {
	for _, x := range list {
		if nameOf(x) == name {
			return x
		}
	}
	return nil
}

// VPC returns the VPC called name, or nil.
func (t *Topology) VPC(name string) *VPC {
	return named(t.VPCs, name, func(v *VPC) string { return v.Name })
}

// Peering returns the peering called name, or nil.
func (t *Topology) Peering(name string) *Peering {
	return named(t.Peerings, name, func(p *Peering) string { return p.Name })
}

// PeeringBetween returns the peering of VPCs a and b, or nil.
func (t *Topology) PeeringBetween(a, b string) *Peering {
	for _, p := range t.Peerings {
		if len(p.VPCs) == 2 && (p.VPCs[0] == a && p.VPCs[1] == b || p.VPCs[0] == b && p.VPCs[1] == a) {
			return p
		}
	}
	return nil
}

// Host returns the external host called name, or nil.
func (t *Topology) Host(name string) *Host {
	if t.External == nil {
		return nil
	}
	return named(t.External.Hosts, name, func(h *Host) string { return h.Name })
}

// InstanceRef is an instance with the VPC and subnet it lives in.
type InstanceRef struct {
	VPC      *VPC
	Subnet   *Subnet // nil only in an invalid topology
	Instance *Instance
}

// Instances lists every instance of every VPC, in file order.
func (t *Topology) Instances() []InstanceRef {
	var refs []InstanceRef
	for _, v := range t.VPCs {
		for _, i := range v.Instances {
			refs = append(refs, InstanceRef{VPC: v, Subnet: v.Subnet(i.Subnet), Instance: i})
		}
	}
	return refs
}

// Instance finds an instance by name (names are unique in a file).
func (t *Topology) Instance(name string) (InstanceRef, bool) {
	for _, v := range t.VPCs {
		if i := v.Instance(name); i != nil {
			return InstanceRef{VPC: v, Subnet: v.Subnet(i.Subnet), Instance: i}, true
		}
	}
	return InstanceRef{}, false
}

// Subnet returns the VPC's subnet called name, or nil.
func (v *VPC) Subnet(name string) *Subnet {
	return named(v.Subnets, name, func(s *Subnet) string { return s.Name })
}

// SubnetOf returns the VPC's subnet holding addr, or nil.
func (v *VPC) SubnetOf(addr netip.Addr) *Subnet {
	for _, s := range v.Subnets {
		if s.Prefix.IsValid() && s.Prefix.Contains(addr) {
			return s
		}
	}
	return nil
}

// RouteTable returns the VPC's route table called name, or nil.
func (v *VPC) RouteTable(name string) *RouteTable {
	return named(v.RouteTables, name, func(r *RouteTable) string { return r.Name })
}

// NATGateway returns the VPC's NAT gateway called name, or nil.
func (v *VPC) NATGateway(name string) *NATGateway {
	return named(v.NATGateways, name, func(n *NATGateway) string { return n.Name })
}

// SecurityGroup returns the VPC's security group called name, or nil.
func (v *VPC) SecurityGroup(name string) *SecurityGroup {
	return named(v.SecurityGroups, name, func(g *SecurityGroup) string { return g.Name })
}

// NetworkACL returns the VPC's network ACL called name, or nil.
func (v *VPC) NetworkACL(name string) *NetworkACL {
	return named(v.NetworkACLs, name, func(a *NetworkACL) string { return a.Name })
}

// Instance returns the VPC's instance called name, or nil.
func (v *VPC) Instance(name string) *Instance {
	return named(v.Instances, name, func(i *Instance) string { return i.Name })
}

// Members lists the VPC's instances in security group name, in file order.
func (v *VPC) Members(group string) []*Instance {
	var out []*Instance
	for _, i := range v.Instances {
		if slices.Contains(i.SecurityGroups, group) {
			out = append(out, i)
		}
	}
	return out
}

// DefaultRoute returns the table's route for 0.0.0.0/0, or nil.
func (r *RouteTable) DefaultRoute() *Route {
	for _, rt := range r.Routes {
		if rt.Dest.IsValid() && rt.Dest.Bits() == 0 {
			return rt
		}
	}
	return nil
}

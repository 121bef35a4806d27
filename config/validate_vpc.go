package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// vpc checks what one VPC can check on its own: its CIDR, subnets, names,
// NAT gateways, network ACLs and instances.
func (c *checker) vpc(v *VPC) {
	v.Prefix = c.cidr(v.Pos, "cidr", v.CIDR)
	if v.Prefix.IsValid() {
		if msg := specialOverlap(v.Prefix); msg != "" {
			c.errAt(v.Pos, "cidr", "%s", msg)
		}
		if v.Prefix.Bits() > 29 {
			c.errAt(v.Pos, "cidr", "%s is too small: a VPC needs room for a /29 subnet at least", v.Prefix)
		}
		// Its default route leads to `external`; an overlap would shadow it.
		if e := c.t.External; v.InternetGateway && e != nil && e.Prefix.IsValid() && e.Prefix.Overlaps(v.Prefix) {
			c.errAt(v.Pos, "cidr", "%s overlaps external.cidr %s, which a VPC with an internet gateway must reach", v.Prefix, e.Prefix)
		}
	}
	c.subnets(v)

	names := map[string]Pos{}
	for _, rt := range v.RouteTables {
		c.name(rt.Pos, rt.Name)
		c.unique(names, rt.Pos, rt.Name, "route table")
	}
	for _, s := range v.Subnets {
		if s.Table = v.RouteTable(s.RouteTable); s.Table == nil {
			c.errAt(s.Pos, "route_table", "route table %q does not exist in vpc %s", s.RouteTable, v.Name)
		}
	}

	names = map[string]Pos{}
	for _, n := range v.NATGateways {
		c.name(n.Pos, n.Name)
		c.unique(names, n.Pos, n.Name, "NAT gateway")
		if n.Subnet != "" && v.Subnet(n.Subnet) == nil {
			c.errAt(n.Pos, "subnet", "subnet %q does not exist in vpc %s", n.Subnet, v.Name)
		}
		n.PublicAddr = c.addr(n.Pos, "public_ip", n.PublicIP)
	}

	names = map[string]Pos{}
	for _, g := range v.SecurityGroups {
		c.name(g.Pos, g.Name)
		c.unique(names, g.Pos, g.Name, "security group")
	}
	c.networkACLs(v)
	c.instances(v)
}

// subnets checks names and CIDRs: inside the VPC, not overlapping.
func (c *checker) subnets(v *VPC) {
	names := map[string]Pos{}
	var ok []*Subnet
	order := map[*Subnet]int{}
	for i, s := range v.Subnets {
		order[s] = i
		c.name(s.Pos, s.Name)
		c.unique(names, s.Pos, s.Name, "subnet")
		s.Prefix = c.cidr(s.Pos, "cidr", s.CIDR)
		if !s.Prefix.IsValid() {
			continue
		}
		switch {
		case v.Prefix.IsValid() && !contains(v.Prefix, s.Prefix):
			c.errAt(s.Pos, "cidr", "%s is outside the VPC's cidr %s", s.Prefix, v.Prefix)
		case s.Prefix.Bits() > 29:
			c.errAt(s.Pos, "cidr", "%s leaves no address for instances: .0-.3 and the broadcast address are reserved; use /29 or larger", s.Prefix)
		default:
			ok = append(ok, s)
		}
	}
	// Prefixes nest or are disjoint, so after sorting by start address each
	// overlap shows against the widest-reaching subnet seen so far: O(n log n).
	slices.SortFunc(ok, func(a, b *Subnet) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	var cover *Subnet
	for _, s := range ok {
		if cover != nil && u32(s.Prefix.Addr()) <= u32(Broadcast(cover.Prefix)) {
			later, other := s, cover
			if order[later] < order[other] {
				later, other = other, later
			}
			c.errAt(later.Pos, "cidr", "%s overlaps subnet %s (%s)", later.Prefix, other.Name, other.Prefix)
		}
		if cover == nil || u32(Broadcast(s.Prefix)) > u32(Broadcast(cover.Prefix)) {
			cover = s
		}
	}
}

// networkACLs checks ACL names, their subnets (each in one ACL at most) and rules.
func (c *checker) networkACLs(v *VPC) {
	names := map[string]Pos{}
	for _, a := range v.NetworkACLs {
		c.name(a.Pos, a.Name)
		c.unique(names, a.Pos, a.Name, "network ACL")
		for k, name := range a.Subnets {
			key := fmt.Sprintf("subnets[%d]", k)
			s := v.Subnet(name)
			switch {
			case s == nil:
				c.errAt(a.Pos, key, "subnet %q does not exist in vpc %s", name, v.Name)
			case s.ACL == a:
				c.errAt(a.Pos, key, "subnet %s is listed twice", name)
			case s.ACL != nil:
				c.errAt(a.Pos, key, "subnet %s is already in network ACL %s (%s); a subnet is in one ACL at most", name, s.ACL.Name, where(s.ACL.Pos))
			default:
				s.ACL = a
			}
		}
		c.aclRules("ingress", a.Ingress)
		c.aclRules("egress", a.Egress)
	}
}

// instances checks instance subnets, explicit and public addresses, groups
// and attach modes. Allocation comes later.
func (c *checker) instances(v *VPC) {
	taken := map[netip.Addr]*Instance{} // explicit addresses in this VPC
	for _, i := range v.Instances {
		c.name(i.Pos, i.Name)
		s := v.Subnet(i.Subnet)
		if s == nil && i.Subnet != "" {
			c.errAt(i.Pos, "subnet", "subnet %q does not exist in vpc %s", i.Subnet, v.Name)
		}
		if a := c.addr(i.Pos, "ip", i.IP); a.IsValid() && s != nil && s.Prefix.IsValid() {
			switch other, dup := taken[a]; {
			case !s.Prefix.Contains(a):
				c.errAt(i.Pos, "ip", "%s is outside subnet %s (%s)", a, s.Name, s.Prefix)
			case reserved(s.Prefix, a) != "":
				c.errAt(i.Pos, "ip", "%s is reserved in subnet %s (%s); instance addresses start at .4", a, s.Name, reserved(s.Prefix, a))
			case dup:
				c.errAt(i.Pos, "ip", "%s is already the address of instance %s (%s)", a, other.Name, where(other.Pos))
			default:
				taken[a] = i
				i.Addr = a
			}
		}
		i.PublicAddr = c.addr(i.Pos, "public_ip", i.PublicIP)
		seen := map[string]bool{}
		for k, g := range i.SecurityGroups {
			key := fmt.Sprintf("security_groups[%d]", k)
			switch {
			case seen[g]:
				c.errAt(i.Pos, key, "security group %s is listed twice", g)
			case strings.Contains(g, "/"):
				c.errAt(i.Pos, key, "%q: an instance's security groups belong to its own VPC; write the group name alone", g)
			case v.SecurityGroup(g) == nil:
				c.errAt(i.Pos, key, "security group %q does not exist in vpc %s", g, v.Name)
			}
			seen[g] = true
		}
		c.oneOf(i.Pos, "attach", i.Attach, AttachVeth, AttachInternal, AttachTrunk)
		c.instanceHost(i)
	}
}

// reserved says why a is reserved in subnet p, or "" when it is usable.
func reserved(p netip.Prefix, a netip.Addr) string {
	switch off := u32(a) - u32(p.Addr()); {
	case a == Broadcast(p):
		return "the broadcast address"
	case off == 0:
		return "the network address"
	case off == 1:
		return "the VPC router"
	case off <= 3:
		return "reserved, as in AWS"
	}
	return ""
}

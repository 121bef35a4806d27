package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// routeTables checks destinations and resolves `via:` targets.
func (c *checker) routeTables(v *VPC) {
	for _, rt := range v.RouteTables {
		dests := map[netip.Prefix]Pos{}
		for _, r := range rt.Routes {
			r.Dest = c.cidr(r.Pos, "destination", r.Destination)
			if r.Dest.IsValid() {
				if first, dup := dests[r.Dest]; dup {
					c.errAt(r.Pos, "destination", "duplicate destination %s in route table %s (first at %s)", r.Dest, rt.Name, where(first))
				} else {
					dests[r.Dest] = r.Pos
				}
				if r.Dest == v.Prefix {
					c.errAt(r.Pos, "destination", "%s is the VPC's own cidr, whose local route is implicit in every table", r.Dest)
				}
			}
			c.via(v, r)
		}
	}
}

// via parses and resolves a route's target.
func (c *checker) via(v *VPC, r *Route) {
	if r.Via == "" {
		return
	}
	if r.Via == "internet-gateway" {
		r.Kind = ViaInternetGateway
		if !v.InternetGateway {
			c.errAt(r.Pos, "via", "vpc %s has no internet gateway; set internet_gateway: true on it", v.Name)
		}
		return
	}
	kind, name, _ := strings.Cut(r.Via, "/")
	switch kind {
	case "nat-gateway":
		if v.NATGateway(name) == nil {
			c.errAt(r.Pos, "via", "NAT gateway %q does not exist in vpc %s", name, v.Name)
			return
		}
		r.Kind = ViaNATGateway
	case "peering":
		p := c.peerings[name]
		if p == nil {
			c.errAt(r.Pos, "via", "peering %q does not exist", name)
			return
		}
		if !slices.Contains(p.VPCs, v.Name) {
			c.errAt(r.Pos, "via", "peering %s does not connect vpc %s", name, v.Name)
			return
		}
		r.Kind = ViaPeering
	case "instance":
		i := v.Instance(name)
		if i == nil {
			c.errAt(r.Pos, "via", "instance %q does not exist in vpc %s", name, v.Name)
			return
		}
		r.Kind = ViaInstance
		if i.CheckSourceDest() {
			c.warnAt(r.Pos, "via", "instance %s has source_dest_check on, so it drops the packets this route hands it; set source_dest_check: false", name)
		}
	default:
		c.errAt(r.Pos, "via", "%q is not a route target: write internet-gateway, nat-gateway/NAME, peering/NAME or instance/NAME", r.Via)
		return
	}
	r.Target = name
}

// toInternet reports whether a table sends 0.0.0.0/0 to the internet gateway.
func toInternet(rt *RouteTable) bool {
	d := rt.DefaultRoute()
	return d != nil && d.Kind == ViaInternetGateway
}

// natRoutes checks that each NAT gateway's subnet routes to the internet gateway.
func (c *checker) natRoutes(v *VPC) {
	for _, n := range v.NATGateways {
		if s := v.Subnet(n.Subnet); s != nil && s.Table != nil && !toInternet(s.Table) {
			c.errAt(n.Pos, "subnet", "subnet %s uses route table %s, which does not send 0.0.0.0/0 to internet-gateway; a NAT gateway needs a public subnet", s.Name, s.Table.Name)
		}
	}
}

// elasticIPs warns about public IPs that nothing can reach (accepted, as in AWS).
func (c *checker) elasticIPs(v *VPC) {
	for _, i := range v.Instances {
		if s := v.Subnet(i.Subnet); i.PublicIP != "" && s != nil && s.Table != nil && !toInternet(s.Table) {
			c.warnAt(i.Pos, "public_ip", "subnet %s uses route table %s, which does not send 0.0.0.0/0 to internet-gateway: this elastic IP is unreachable", s.Name, s.Table.Name)
		}
	}
}

// publicIPs checks NAT gateway and elastic IPs against the external network
// and each other.
func (c *checker) publicIPs() {
	type use struct {
		pos  Pos
		addr netip.Addr
		what string
	}
	var uses []use
	for _, v := range c.t.VPCs {
		for _, n := range v.NATGateways {
			if n.PublicIP != "" {
				uses = append(uses, use{n.Pos, n.PublicAddr, "NAT gateway " + n.Name})
			}
		}
		for _, i := range v.Instances {
			if i.PublicIP != "" {
				uses = append(uses, use{i.Pos, i.PublicAddr, "instance " + i.Name})
			}
		}
	}
	e := c.t.External
	if e == nil {
		for _, u := range uses {
			c.errAt(u.pos, "public_ip", "public IPs come from the external network, and the file has no external: section")
		}
		return
	}
	hosts := map[netip.Addr]*Host{}
	for _, h := range e.Hosts {
		if h.Addr.IsValid() {
			hosts[h.Addr] = h
		}
	}
	slices.SortStableFunc(uses, func(a, b use) int { return cmp.Compare(a.pos.line, b.pos.line) })
	seen := map[netip.Addr]use{}
	for _, u := range uses {
		if !u.addr.IsValid() || !c.inNetwork(u.pos, "public_ip", u.addr, e.Prefix) {
			continue
		}
		first, dup := seen[u.addr]
		switch h := hosts[u.addr]; {
		case u.addr == e.GatewayAddr:
			c.errAt(u.pos, "public_ip", "%s is external.gateway", u.addr)
		case h != nil:
			c.errAt(u.pos, "public_ip", "%s is the address of external host %s", u.addr, h.Name)
		case dup:
			c.errAt(u.pos, "public_ip", "%s is already the public IP of %s (%s)", u.addr, first.what, where(first.pos))
		default:
			seen[u.addr] = u
		}
	}
}

// peeringList checks peerings: two distinct existing VPCs that do not overlap,
// one peering per pair.
func (c *checker) peeringList() {
	names := map[string]Pos{}
	pairs := map[[2]string]*Peering{}
	for _, p := range c.t.Peerings {
		c.name(p.Pos, p.Name)
		if c.unique(names, p.Pos, p.Name, "peering") {
			c.peerings[p.Name] = p
		}
		if len(p.VPCs) == 0 {
			continue // reported as missing
		}
		if len(p.VPCs) != 2 {
			c.errAt(p.Pos, "vpcs", "a peering connects exactly two VPCs, not %d", len(p.VPCs))
			continue
		}
		a, b := c.vpcs[p.VPCs[0]], c.vpcs[p.VPCs[1]]
		for k, v := range []*VPC{a, b} {
			if v == nil {
				c.errAt(p.Pos, fmt.Sprintf("vpcs[%d]", k), "vpc %q does not exist", p.VPCs[k])
			}
		}
		switch {
		case a == nil || b == nil:
		case a == b:
			c.errAt(p.Pos, "vpcs", "a VPC cannot peer with itself")
		case a.Prefix.IsValid() && b.Prefix.IsValid() && a.Prefix.Overlaps(b.Prefix):
			c.errAt(p.Pos, "vpcs", "vpcs %s (%s) and %s (%s) overlap; peered VPCs must not", a.Name, a.Prefix, b.Name, b.Prefix)
		default:
			key := [2]string{min(a.Name, b.Name), max(a.Name, b.Name)}
			if first := pairs[key]; first != nil {
				c.errAt(p.Pos, "vpcs", "vpcs %s and %s are already peered by %s (%s)", a.Name, b.Name, first.Name, where(first.Pos))
			} else {
				pairs[key] = p
			}
		}
	}
}

// peeringRoutes warns about peerings that a side does not route to: traffic
// needs a route on both sides, as in AWS.
func (c *checker) peeringRoutes() {
peerings:
	for _, p := range c.t.Peerings {
		if c.peerings[p.Name] != p || len(p.VPCs) != 2 || p.VPCs[0] == p.VPCs[1] {
			continue
		}
		var missing []string
		for _, name := range p.VPCs {
			v := c.vpcs[name]
			if v == nil {
				continue peerings
			}
			if !routesVia(v, ViaPeering, p.Name) {
				missing = append(missing, "vpc "+name)
			}
		}
		if len(missing) > 0 {
			c.warnAt(p.Pos, "", "no route in %s uses peering/%s: traffic over a peering needs routes on both sides", strings.Join(missing, " or "), p.Name)
		}
	}
}

// routesVia reports whether any route table of v routes to the target.
func routesVia(v *VPC, kind ViaKind, target string) bool {
	for _, rt := range v.RouteTables {
		for _, r := range rt.Routes {
			if r.Kind == kind && r.Target == target {
				return true
			}
		}
	}
	return false
}

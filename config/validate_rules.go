package config

import (
	"fmt"
	"strconv"
	"strings"
)

// securityGroups checks every rule of the VPC's groups. It runs after
// peerings, which decide which other VPCs' groups a rule may name.
func (c *checker) securityGroups(v *VPC) {
	for _, g := range v.SecurityGroups {
		for k, r := range g.Ingress {
			c.sgRule(v, g.Pos.child(fmt.Sprintf("ingress[%d]", k)), r, true)
		}
		for k, r := range g.Egress {
			c.sgRule(v, g.Pos.child(fmt.Sprintf("egress[%d]", k)), r, false)
		}
	}
}

// sgRule checks one security group rule and fills its parsed fields.
// fallback locates implicit rules, which have no Pos of their own.
func (c *checker) sgRule(v *VPC, fallback Pos, r *SGRule, ingress bool) {
	p := r.Pos
	if p.path == "" {
		p = fallback
	}
	c.oneOf(p, "protocol", r.Protocol, ProtoTCP, ProtoUDP, ProtoICMP, ProtoAll)
	r.PortRange = c.ports(p, r.Protocol, r.Ports)

	cidrKey, groupKey, cidr, group := "source", "source_group", r.Source, r.SourceGroup
	wrong := map[string]string{"destination": r.Destination, "destination_group": r.DestinationGroup}
	if !ingress {
		cidrKey, groupKey, cidr, group = "destination", "destination_group", r.Destination, r.DestinationGroup
		wrong = map[string]string{"source": r.Source, "source_group": r.SourceGroup}
	}
	for _, key := range []string{"source", "source_group", "destination", "destination_group"} {
		if wrong[key] != "" {
			c.errAt(p, key, "%s is not valid in an %s rule; use %s or %s", key, direction(ingress), cidrKey, groupKey)
		}
	}
	switch {
	case cidr != "" && group != "":
		c.errAt(p, groupKey, "a rule has exactly one of %s and %s", cidrKey, groupKey)
	case cidr != "":
		r.Peer = c.cidr(p, cidrKey, cidr)
	case group != "":
		r.PeerVPC, r.PeerGroup = c.groupRef(v, p, groupKey, group)
	case p.has(cidrKey) || p.has(groupKey):
		c.errAt(p, cidrKey, "must not be empty")
	default:
		c.errAt(p, "", "missing %s or %s", cidrKey, groupKey)
	}
}

func direction(ingress bool) string {
	if ingress {
		return "ingress"
	}
	return "egress"
}

// groupRef resolves NAME (a group of v) or VPC/NAME (a group of a VPC
// peered with v, as AWS allows). It returns empty names when unresolved.
func (c *checker) groupRef(v *VPC, p Pos, key, ref string) (string, string) {
	vpcName, group, qualified := strings.Cut(ref, "/")
	if !qualified {
		vpcName, group = v.Name, ref // v.Name is checked, or reported, on its own
	}
	if !nameRE.MatchString(group) || qualified && !nameRE.MatchString(vpcName) {
		c.errAt(p, key, "%q is not a group reference: write NAME, or VPC/NAME for a group of a peered VPC", ref)
		return "", ""
	}
	other := v
	if vpcName != v.Name {
		if other = c.vpcs[vpcName]; other == nil {
			c.errAt(p, key, "vpc %q does not exist", vpcName)
			return "", ""
		}
		if c.t.PeeringBetween(v.Name, vpcName) == nil {
			c.errAt(p, key, "vpc %s is not peered with vpc %s; rules name groups of peered VPCs only", vpcName, v.Name)
			return "", ""
		}
	}
	if other.SecurityGroup(group) == nil {
		c.errAt(p, key, "security group %q does not exist in vpc %s", group, vpcName)
		return "", ""
	}
	return vpcName, group
}

// aclRules checks one direction of a network ACL.
func (c *checker) aclRules(dir string, rules []*ACLRule) {
	ingress := dir == "ingress"
	numbers := map[int]Pos{}
	for _, r := range rules {
		p := r.Pos
		if p.has("rule") {
			if r.Rule < 1 || r.Rule > 32766 {
				c.errAt(p, "rule", "rule number %d is outside 1-32766", r.Rule)
			} else if first, dup := numbers[r.Rule]; dup {
				c.errAt(p, "rule", "duplicate %s rule number %d (first at %s)", dir, r.Rule, where(first))
			} else {
				numbers[r.Rule] = p
			}
		}
		c.oneOf(p, "protocol", r.Protocol, ProtoTCP, ProtoUDP, ProtoICMP, ProtoAll)
		r.PortRange = c.ports(p, r.Protocol, r.Ports)
		if c.oneOf(p, "action", r.Action, ActionAllow, ActionDeny) {
			r.Allow = r.Action == ActionAllow
		}
		want, wrong, val, wrongVal := "source", "destination", r.Source, r.Destination
		if !ingress {
			want, wrong, val, wrongVal = "destination", "source", r.Destination, r.Source
		}
		if wrongVal != "" {
			c.errAt(p, wrong, "%s is not valid in an %s rule; use %s", wrong, dir, want)
		}
		switch {
		case val != "":
			r.Peer = c.cidr(p, want, val)
		case p.has(want):
			c.errAt(p, want, "must not be empty")
		default:
			c.errAt(p, "", "missing %s (a CIDR; 0.0.0.0/0 for any)", want)
		}
	}
}

// ports parses a rule's ports: "N" or "N-M" within 1-65535, for tcp and
// udp only. The zero range means any port.
func (c *checker) ports(p Pos, proto, s string) PortRange {
	if s == "" {
		return PortRange{}
	}
	if proto != ProtoTCP && proto != ProtoUDP {
		if proto != "" {
			c.errAt(p, "ports", "ports apply to tcp and udp only, not %s", proto)
		}
		return PortRange{}
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, okL := port(lo)
	h, okH := port(hi)
	switch {
	case !okL || !okH:
		c.errAt(p, "ports", "%q is not a port or a range: write \"N\" or \"N-M\" within 1-65535", s)
	case l > h:
		c.errAt(p, "ports", "range %q runs backwards; write \"%d-%d\"", s, h, l)
	default:
		return PortRange{Lo: l, Hi: h}
	}
	return PortRange{}
}

// port parses a decimal port number 1-65535.
func port(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

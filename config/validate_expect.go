package config

import (
	"fmt"
	"strings"
)

// expectations checks the expect: list: known endpoint refs, a protocol and
// port, and yes or no.
func (c *checker) expectations() {
	for _, e := range c.t.Expect {
		for _, key := range []string{"from", "to"} {
			ref := e.From
			if key == "to" {
				ref = e.To
			}
			if ref == "" {
				continue // reported as missing
			}
			if _, err := c.t.Endpoints(ref); err != nil {
				c.errAt(e.Pos, key, "%v", err)
			}
		}
		if e.Proto != "" && c.oneOf(e.Pos, "proto", e.Proto, ProtoTCP, ProtoUDP, ProtoICMP) {
			switch {
			case e.Proto == ProtoICMP && e.Port != 0:
				c.errAt(e.Pos, "port", "icmp has no port")
			case e.Proto != ProtoICMP && (e.Port < 1 || e.Port > 65535):
				c.errAt(e.Pos, "port", "%s needs a port in 1..65535", e.Proto)
			}
		}
		if e.Reach != "" {
			c.oneOf(e.Pos, "reach", e.Reach, "yes", "no")
		}
	}
}

// Endpoints expands an endpoint ref of an expectation into instance and
// external host names, in file order.
func (t *Topology) Endpoints(ref string) ([]string, error) {
	parts := strings.Split(ref, "/")
	switch {
	case len(parts) == 1:
		if _, ok := t.Instance(ref); ok || t.Host(ref) != nil {
			return []string{ref}, nil
		}
		return nil, fmt.Errorf("%q is no instance or external host (use group/NAME, group/VPC/NAME or subnet/VPC/NAME for sets)", ref)
	case parts[0] == "group" && (len(parts) == 2 || len(parts) == 3):
		var vpcs []*VPC
		name := parts[len(parts)-1]
		for _, v := range t.VPCs {
			if (len(parts) == 2 || v.Name == parts[1]) && v.SecurityGroup(name) != nil {
				vpcs = append(vpcs, v)
			}
		}
		switch len(vpcs) {
		case 0:
			return nil, fmt.Errorf("%q: no security group %s", ref, strings.Join(parts[1:], "/"))
		case 1:
		default:
			return nil, fmt.Errorf("%q: several VPCs have a group %s: write group/VPC/%s", ref, name, name)
		}
		var out []string
		for _, i := range vpcs[0].Members(name) {
			out = append(out, i.Name)
		}
		return out, nil
	case parts[0] == "subnet" && len(parts) == 3:
		v := t.VPC(parts[1])
		if v == nil || v.Subnet(parts[2]) == nil {
			return nil, fmt.Errorf("%q: no subnet %s in a VPC %s", ref, parts[2], parts[1])
		}
		var out []string
		for _, i := range v.Instances {
			if i.Subnet == parts[2] {
				out = append(out, i.Name)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%q is no endpoint: an instance or external host, group/NAME, group/VPC/NAME or subnet/VPC/NAME", ref)
}

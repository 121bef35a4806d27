package controller

import (
	"fmt"

	"github.com/vpcctl/vpcctl/config"
)

// TopologyStatus is every object of the topology a bridge runs, as the file
// recorded on the bridge declares it (with defaults and allocated addresses
// filled in), so that objects without instances show too.
type TopologyStatus struct {
	VPCs     []VPCStatus     `json:"vpcs"`
	Peerings []PeeringStatus `json:"peerings"`
	External *ExternalStatus `json:"external,omitempty"`
}

// VPCStatus is one VPC and what it holds.
type VPCStatus struct {
	Name            string                `json:"name"`
	CIDR            string                `json:"cidr"`
	InternetGateway bool                  `json:"internet_gateway"`
	Subnets         []SubnetStatus        `json:"subnets"`
	RouteTables     []RouteTableStatus    `json:"route_tables"`
	SecurityGroups  []SecurityGroupStatus `json:"security_groups"`
	NetworkACLs     []NetworkACLStatus    `json:"network_acls"`
	NATGateways     []NATGatewayStatus    `json:"nat_gateways"`
	ElasticIPs      []ElasticIPStatus     `json:"elastic_ips"`
}

// SubnetStatus is a subnet with the route table and network ACL it uses.
type SubnetStatus struct {
	Name       string   `json:"name"`
	CIDR       string   `json:"cidr"`
	RouteTable string   `json:"route_table"`
	NetworkACL string   `json:"network_acl,omitempty"` // "" = none: everything allowed
	Instances  []string `json:"instances"`
}

// RouteTableStatus is a route table; Routes starts with the implicit local route.
type RouteTableStatus struct {
	Name    string        `json:"name"`
	Subnets []string      `json:"subnets"`
	Routes  []RouteStatus `json:"routes"`
}

// RouteStatus is one route; Via "local" is the VPC CIDR's implicit route.
type RouteStatus struct {
	Destination string `json:"destination"`
	Via         string `json:"via"`
	Path        string `json:"path,omitempty"` // field path in the file
	Line        int    `json:"line,omitempty"`
}

// SecurityGroupStatus is a group, its rule counts and members.
type SecurityGroupStatus struct {
	Name     string   `json:"name"`
	Ingress  int      `json:"ingress_rules"`
	Egress   int      `json:"egress_rules"`
	Members  []string `json:"members"`
	Implicit bool     `json:"implicit,omitempty"` // added by vpcctl (SPEC §1)
}

// NetworkACLStatus is a network ACL and the subnets it guards.
type NetworkACLStatus struct {
	Name    string   `json:"name"`
	Subnets []string `json:"subnets"`
	Ingress int      `json:"ingress_rules"`
	Egress  int      `json:"egress_rules"`
}

// NATGatewayStatus is a NAT gateway.
type NATGatewayStatus struct {
	Name     string `json:"name"`
	Subnet   string `json:"subnet"`
	PublicIP string `json:"public_ip"`
}

// ElasticIPStatus is an instance's elastic IP.
type ElasticIPStatus struct {
	Instance  string `json:"instance"`
	PrivateIP string `json:"private_ip"`
	PublicIP  string `json:"public_ip"`
}

// PeeringStatus is a peering; Routed lists the VPCs with a route over it
// (traffic needs both, as in AWS).
type PeeringStatus struct {
	Name   string   `json:"name"`
	VPCs   []string `json:"vpcs"`
	Routed []string `json:"routed_from"`
}

// ExternalStatus is the simulated internet.
type ExternalStatus struct {
	CIDR    string         `json:"cidr"`
	Gateway string         `json:"gateway"`
	Attach  string         `json:"attach"`
	Hosts   []ExternalHost `json:"hosts"`
}

// ExternalHost is a simulated internet host.
type ExternalHost struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
}

// topologyStatus lists the objects of a validated topology.
func topologyStatus(t *config.Topology) *TopologyStatus {
	ts := &TopologyStatus{VPCs: []VPCStatus{}, Peerings: []PeeringStatus{}}
	routedOver := map[string][]string{} // peering -> VPCs with a route over it
	for _, v := range t.VPCs {
		vs := VPCStatus{Name: v.Name, CIDR: v.Prefix.String(), InternetGateway: v.InternetGateway,
			Subnets: []SubnetStatus{}, RouteTables: []RouteTableStatus{}, SecurityGroups: []SecurityGroupStatus{},
			NetworkACLs: []NetworkACLStatus{}, NATGateways: []NATGatewayStatus{}, ElasticIPs: []ElasticIPStatus{}}
		members := map[string][]string{}
		inSubnet := map[string][]string{}
		for _, in := range v.Instances {
			inSubnet[in.Subnet] = append(inSubnet[in.Subnet], in.Name)
			for _, g := range in.SecurityGroups {
				members[g] = append(members[g], in.Name)
			}
			if in.PublicAddr.IsValid() {
				vs.ElasticIPs = append(vs.ElasticIPs, ElasticIPStatus{Instance: in.Name, PrivateIP: in.Addr.String(), PublicIP: in.PublicAddr.String()})
			}
		}
		tableSubnets := map[string][]string{}
		for _, s := range v.Subnets {
			ss := SubnetStatus{Name: s.Name, CIDR: s.Prefix.String(), Instances: nonNil(inSubnet[s.Name])}
			if s.Table != nil {
				ss.RouteTable = s.Table.Name
				tableSubnets[s.Table.Name] = append(tableSubnets[s.Table.Name], s.Name)
			}
			if s.ACL != nil {
				ss.NetworkACL = s.ACL.Name
			}
			vs.Subnets = append(vs.Subnets, ss)
		}
		for _, rt := range v.RouteTables {
			rs := RouteTableStatus{Name: rt.Name, Subnets: nonNil(tableSubnets[rt.Name]),
				Routes: []RouteStatus{{Destination: v.Prefix.String(), Via: "local"}}}
			for _, r := range rt.Routes {
				rs.Routes = append(rs.Routes, RouteStatus{Destination: r.Dest.String(), Via: r.Via, Path: r.Pos.Path(), Line: r.Pos.Line()})
				if r.Kind == config.ViaPeering {
					routedOver[r.Target] = appendOnce(routedOver[r.Target], v.Name)
				}
			}
			vs.RouteTables = append(vs.RouteTables, rs)
		}
		for _, g := range v.SecurityGroups {
			vs.SecurityGroups = append(vs.SecurityGroups, SecurityGroupStatus{Name: g.Name, Ingress: len(g.Ingress),
				Egress: len(g.Egress), Members: nonNil(members[g.Name]), Implicit: g.Implicit})
		}
		for _, a := range v.NetworkACLs {
			vs.NetworkACLs = append(vs.NetworkACLs, NetworkACLStatus{Name: a.Name, Subnets: nonNil(a.Subnets),
				Ingress: len(a.Ingress), Egress: len(a.Egress)})
		}
		for _, n := range v.NATGateways {
			vs.NATGateways = append(vs.NATGateways, NATGatewayStatus{Name: n.Name, Subnet: n.Subnet, PublicIP: n.PublicAddr.String()})
		}
		ts.VPCs = append(ts.VPCs, vs)
	}
	for _, p := range t.Peerings {
		ts.Peerings = append(ts.Peerings, PeeringStatus{Name: p.Name, VPCs: p.VPCs, Routed: nonNil(routedOver[p.Name])})
	}
	if e := t.External; e != nil {
		es := &ExternalStatus{CIDR: e.Prefix.String(), Gateway: e.GatewayAddr.String(), Attach: e.Attach, Hosts: []ExternalHost{}}
		for _, h := range e.Hosts {
			es.Hosts = append(es.Hosts, ExternalHost{Name: h.Name, IP: h.Addr.String()})
		}
		ts.External = es
	}
	return ts
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// String of a route for tables: "10.2.0.0/16 -> peering/x".
func (r RouteStatus) String() string { return fmt.Sprintf("%s -> %s", r.Destination, r.Via) }

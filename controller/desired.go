package controller

import (
	"net"
	"net/netip"
	"sort"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// External-id keys vpcctl puts on its OVSDB rows (besides ovsdb.OwnerKey).
const (
	keyFile     = "vpcctl-file"
	keyInstance = "vpcctl-instance"
	keyVPC      = "vpcctl-vpc"
	keySubnet   = "vpcctl-subnet"
	keyIP       = "vpcctl-ip"
	keyMAC      = "vpcctl-mac"
	keyAttach   = "vpcctl-attach"
)

// attachment is everything the host needs for one instance.
type attachment struct {
	VPC, Subnet, Name string
	Namespace         string
	Port              string // OVS port name = host veth end or internal port
	Attach            string // veth | internal
	MAC               net.HardwareAddr
	Addr              netip.Prefix // instance IP with the subnet's prefix length
	Gateway           netip.Addr
	Run               string
	OfportRequest     int
}

func (a *attachment) externalIDs() map[string]string {
	return map[string]string{
		keyInstance: a.Name, keyVPC: a.VPC, keySubnet: a.Subnet,
		keyIP: a.Addr.Addr().String(), keyMAC: a.MAC.String(), keyAttach: a.Attach,
	}
}

// attachments lists the instances of a topology in file order, keeping the
// OpenFlow port numbers of ports that exist and giving new ones the lowest
// free numbers, so port numbers (and the flows using them) stay stable.
func attachments(t *config.Topology, existing []ovsdb.PortInfo) []*attachment {
	used := map[int]bool{}
	have := map[string]int{}
	for _, p := range existing {
		n := p.OfportRequest
		if n <= 0 {
			n = p.Ofport
		}
		if n > 0 {
			have[p.Name] = n
			used[n] = true
		}
	}
	var out []*attachment
	next := 1
	for _, v := range t.VPCs {
		for _, in := range v.Instances {
			sn := v.Subnet(in.Subnet)
			a := &attachment{
				VPC: v.Name, Subnet: sn.Name, Name: in.Name,
				Namespace: host.NamespaceName(t.Bridge, in.Name),
				Port:      host.HostVethName(t.Bridge, in.Name),
				Attach:    in.Attach,
				MAC:       host.InstanceMAC(v.Name, in.Name),
				Addr:      netip.PrefixFrom(in.Addr, sn.Prefix.Bits()),
				Gateway:   sn.RouterIP(),
				Run:       in.Run,
			}
			if n, ok := have[a.Port]; ok {
				a.OfportRequest = n
			} else {
				for used[next] {
					next++
				}
				a.OfportRequest = next
				used[next] = true
			}
			out = append(out, a)
		}
	}
	return out
}

// flowTopology is the compiler's view of the topology, given the ports' numbers.
func flowTopology(t *config.Topology, atts []*attachment, ofports map[string]int) *flows.Topology {
	names := make([]string, len(t.VPCs))
	for i, v := range t.VPCs {
		names[i] = v.Name
	}
	ids := vpcIDs(names)
	byName := map[string]*attachment{}
	for _, a := range atts {
		byName[a.VPC+"/"+a.Name] = a
	}
	ft := &flows.Topology{}
	for _, v := range t.VPCs {
		fv := flows.VPC{Name: v.Name, ID: ids[v.Name], CIDR: v.Prefix, RouterMAC: routerMAC(v.Name)}
		for _, g := range v.SecurityGroups {
			fv.SecurityGroups = append(fv.SecurityGroups, flows.SecurityGroup{
				Name: g.Name, Ingress: sgRules(g.Ingress, true), Egress: sgRules(g.Egress, false),
			})
		}
		for si, s := range v.Subnets {
			fs := flows.Subnet{Name: s.Name, ID: uint16(si + 1), CIDR: s.Prefix, Router: s.RouterIP(), ACL: acl(s.ACL)}
			for _, in := range v.Instances {
				if in.Subnet != s.Name {
					continue
				}
				a := byName[v.Name+"/"+in.Name]
				fs.Instances = append(fs.Instances, flows.Instance{
					Name: in.Name, Port: uint32(ofports[a.Port]), MAC: a.MAC, IP: in.Addr, Groups: in.SecurityGroups,
				})
			}
			sort.Slice(fs.Instances, func(i, j int) bool { return fs.Instances[i].Name < fs.Instances[j].Name })
			fv.Subnets = append(fv.Subnets, fs)
		}
		ft.VPCs = append(ft.VPCs, fv)
	}
	return ft
}

// sgRules converts a group's rules for the compiler; a peer group of the
// same VPC is named by its group name.
func sgRules(rules []*config.SGRule, ingress bool) []flows.SGRule {
	out := make([]flows.SGRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, flows.SGRule{
			Owner: r.Pos.Path(), Proto: r.Protocol, PortLo: r.PortRange.Lo, PortHi: r.PortRange.Hi,
			Peer: r.Peer, PeerGroup: r.PeerGroup, PeerVPC: r.PeerVPC,
		})
	}
	return out
}

// acl converts a subnet's network ACL, rules sorted by number.
func acl(a *config.NetworkACL) *flows.ACL {
	if a == nil {
		return nil
	}
	conv := func(rules []*config.ACLRule) []flows.ACLRule {
		out := make([]flows.ACLRule, 0, len(rules))
		for _, r := range rules {
			out = append(out, flows.ACLRule{Owner: r.Pos.Path(), Number: r.Rule, Proto: r.Protocol,
				PortLo: r.PortRange.Lo, PortHi: r.PortRange.Hi, Peer: r.Peer, Allow: r.Allow})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
		return out
	}
	return &flows.ACL{Name: a.Name, Ingress: conv(a.Ingress), Egress: conv(a.Egress)}
}

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
		for si, s := range v.Subnets {
			fs := flows.Subnet{Name: s.Name, ID: uint16(si + 1), CIDR: s.Prefix, Router: s.RouterIP()}
			for _, in := range v.Instances {
				if in.Subnet != s.Name {
					continue
				}
				a := byName[v.Name+"/"+in.Name]
				fs.Instances = append(fs.Instances, flows.Instance{
					Name: in.Name, Port: uint32(ofports[a.Port]), MAC: a.MAC, IP: in.Addr,
				})
			}
			sort.Slice(fs.Instances, func(i, j int) bool { return fs.Instances[i].Name < fs.Instances[j].Name })
			fv.Subnets = append(fv.Subnets, fs)
		}
		ft.VPCs = append(ft.VPCs, fv)
	}
	return ft
}

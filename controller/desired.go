package controller

import (
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/flowlog"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// External-id keys vpcctl puts on its OVSDB rows (besides ovsdb.OwnerKey).
const (
	keyFile     = "vpcctl-file"
	keyFileHash = "vpcctl-file-sha256" // of the file as last applied
	keyHost     = "vpcctl-host"        // which of the topology's hosts this bridge is (--host)
	keyInstance = "vpcctl-instance"
	keyVPC      = "vpcctl-vpc"
	keySubnet   = "vpcctl-subnet"
	keyIP       = "vpcctl-ip"
	keyMAC      = "vpcctl-mac"
	keyAttach   = "vpcctl-attach"
	// keyPlumbed: host.VethSpec.Digest of the veth plumbing the port's
	// instance was given and verified with (see host.VethSpec.Recorded).
	keyPlumbed = "vpcctl-plumbed"
)

// attachment is everything the host needs for one instance.
type attachment struct {
	VPC, Subnet, Name string
	Namespace         string
	Port              string // OVS port name = host veth end or internal port
	Attach            string // veth | internal | host (the external network's port in the host namespace)
	MAC               net.HardwareAddr
	Addr              netip.Prefix // instance IP with the subnet's prefix length
	Gateway           netip.Addr
	Run               string
	OfportRequest     int
	// recorded: the keyPlumbed external id of the instance's existing port.
	recorded string
	// VLAN is a trunk instance's tag on the trunk (attach: trunk).
	VLAN uint16
	// trunks are the trunk instances a trunk port records.
	trunks []*attachment
	// wasTrunk: a veth instance that was a trunk instance; its host end
	// still carries the trunk's tc filter (see untagFormerTrunks).
	wasTrunk bool
	// MTU and NoTxOffload of the instance's link (instances of a topology
	// that spans hosts; 0 and false otherwise).
	MTU         int
	NoTxOffload bool
}

func (a *attachment) externalIDs() map[string]string {
	ids := map[string]string{
		keyInstance: a.Name, keyVPC: a.VPC, keySubnet: a.Subnet,
		keyIP: a.Addr.Addr().String(), keyMAC: a.MAC.String(), keyAttach: a.Attach,
	}
	switch a.Attach {
	case attachTunnel:
		ids = map[string]string{keyAttach: a.Attach}
	case attachTrunkPort:
		ids = map[string]string{keyAttach: a.Attach}
		for _, t := range a.trunks {
			ids[keyTrunkRecord+t.Port] = trunkRecord(t.externalIDs())
		}
	case attachTrunk:
		ids[keyVLAN] = strconv.Itoa(int(a.VLAN))
		ids[keyPlumbed] = a.vethSpec().Digest()
	case "veth":
		ids[keyPlumbed] = a.vethSpec().Digest()
	}
	return ids
}

// keepAddresses gives every instance without an explicit IP the address
// recorded on its port (external_ids vpcctl-ip) when it has one and it is
// still valid, so that edits of other instances never move it: the port's
// record is what a restarted vpcctl, or the same file checked out afresh, finds.
func keepAddresses(t *config.Topology, existing []ovsdb.PortInfo) {
	if len(t.Hosts) > 0 {
		// Across hosts every host must give an instance the same address:
		// one bridge's records cannot say it. The file's allocation (pinned
		// by whoever publishes it, see vpcctl apply --cluster) is used as is.
		return
	}
	type key struct{ vpc, instance, subnet string }
	rec := make(map[key]netip.Addr, len(existing))
	for _, p := range existing {
		ids := p.ExternalIDs
		if a, err := netip.ParseAddr(ids[keyIP]); err == nil && ids[keyInstance] != "" {
			rec[key{ids[keyVPC], ids[keyInstance], ids[keySubnet]}] = a
		}
	}
	config.Reallocate(t, func(vpc, instance, subnet string) (netip.Addr, bool) {
		a, ok := rec[key{vpc, instance, subnet}]
		return a, ok
	})
}

// attachments lists the instances of a topology in file order, keeping the
// OpenFlow port numbers of ports that exist and giving new ones the lowest
// free numbers, so port numbers (and the flows using them) stay stable.
func attachments(t *config.Topology, existing []ovsdb.PortInfo) []*attachment {
	used := map[int]bool{}
	have := map[string]int{}
	recorded := map[string]string{}
	wasTrunk := map[string]bool{}
	for _, p := range existing {
		recorded[p.Name] = p.ExternalIDs[keyPlumbed]
		if p.Type == attachTrunk {
			wasTrunk[p.Name] = true
			continue // not a port (trunkRecords)
		}
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
			if !t.OnThisHost(in) {
				continue // another host's: remoteInstances
			}
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
			out = append(out, a)
		}
	}
	if e := t.External; e != nil && t.GatewayHere() {
		for _, h := range e.Hosts {
			out = append(out, &attachment{
				Subnet: externalSubnet, Name: h.Name,
				Namespace: host.NamespaceName(t.Bridge, h.Name),
				Port:      host.HostVethName(t.Bridge, h.Name),
				Attach:    "veth",
				MAC:       host.InstanceMAC(externalSubnet, h.Name),
				Addr:      netip.PrefixFrom(h.Addr, e.Prefix.Bits()),
				Gateway:   e.GatewayAddr,
				Run:       h.Run,
			})
		}
		if e.Attach == "host" {
			out = append(out, &attachment{
				Subnet: externalSubnet, Name: hostPortName,
				Port:   host.HostVethName(t.Bridge, "/"+hostPortName),
				Attach: "host",
				MAC:    host.InstanceMAC(externalSubnet, "/"+hostPortName),
				Addr:   netip.PrefixFrom(e.GatewayAddr, e.Prefix.Bits()),
			})
		}
	}
	if len(t.Hosts) > 0 {
		// Anything an instance or an external host sends may cross the
		// tunnel: an MTU that leaves room for it, and no offloads.
		for _, a := range out {
			if a.Namespace != "" {
				a.MTU, a.NoTxOffload = t.InstanceMTU(), true
			}
		}
	}
	if trunks := assignVLANs(out, existing); len(trunks) > 0 {
		out = append(out, trunkPortAttachment(t.Bridge, trunks))
	}
	if len(t.Hosts) > 0 {
		out = append(out, tunnelAttachment(t.Bridge))
	}
	for _, a := range out {
		a.recorded = recorded[a.Port]
		a.wasTrunk = wasTrunk[a.Port] && a.Attach == "veth"
		if !a.isPort() {
			continue
		}
		if n, ok := have[a.Port]; ok {
			a.OfportRequest = n
		} else if a.OfportRequest == 0 {
			for used[next] {
				next++
			}
			a.OfportRequest = next
			used[next] = true
		}
	}
	return out
}

// The external network's attachments: hosts are named as in the file; the
// host namespace's port (attach: host) by a name no host can have.
const (
	externalSubnet = "external"
	hostPortName   = "external-gateway"
)

// flowTopology is the compiler's view of the topology, given the ports' numbers.
func flowTopology(t *config.Topology, atts []*attachment, ofports map[string]int) *flows.Topology {
	names := make([]string, len(t.VPCs))
	for i, v := range t.VPCs {
		names[i] = v.Name
	}
	ids := vpcIDs(names)
	keys := []string{":external"}
	for _, n := range names {
		keys = append(keys, ":nat:"+n)
	}
	var natKeys []string
	for _, v := range t.VPCs {
		for _, n := range v.NATGateways {
			natKeys = append(natKeys, v.Name+"/"+n.Name)
		}
	}
	natIDs := natGatewayIDs(natKeys)
	peerZone := map[string]uint16{}
	for _, p := range t.Peerings {
		keys = append(keys, ":peering:"+p.Name)
	}
	extra := extraIDs(ids, keys)
	for _, p := range t.Peerings {
		peerZone[p.Name] = extra[":peering:"+p.Name]
	}
	byName := map[string]*attachment{}
	for _, a := range atts {
		byName[a.VPC+"/"+a.Name] = a
	}
	ft := &flows.Topology{External: externalTopology(t, atts, ofports, extra[":external"])}
	for _, a := range atts {
		switch a.Attach {
		case attachTrunkPort:
			ft.Trunk = uint32(ofports[a.Port])
		case attachTunnel:
			ft.Tunnel = uint32(ofports[a.Port])
		}
	}
	if t.External != nil && !t.GatewayHere() {
		ft.GatewayHost = t.Hypervisor(t.External.Host).TunnelAddr
	}
	remote := remoteIDs(t)
	for _, v := range t.VPCs {
		fv := flows.VPC{Name: v.Name, ID: ids[v.Name], CIDR: v.Prefix, RouterMAC: routerMAC(v.Name), NATZone: extra[":nat:"+v.Name]}
		natID := map[string]uint16{}
		for _, n := range v.NATGateways {
			id := natIDs[v.Name+"/"+n.Name]
			natID[n.Name] = id
			fv.NATGateways = append(fv.NATGateways, flows.NATGateway{Name: n.Name, Owner: n.Pos.Path(), ID: id, PublicIP: n.PublicAddr})
		}
		for _, g := range v.SecurityGroups {
			fv.SecurityGroups = append(fv.SecurityGroups, flows.SecurityGroup{
				Name: g.Name, Ingress: sgRules(g.Ingress, true), Egress: sgRules(g.Egress, false),
			})
		}
		subnetIDs := subnetIDs(v)
		for _, s := range v.Subnets {
			fs := flows.Subnet{Name: s.Name, ID: subnetIDs[s.Name], CIDR: s.Prefix, Router: s.RouterIP(), ACL: acl(s.ACL),
				Routes: routes(t, v, s.Table, natID, peerZone)}
			for _, in := range v.Instances {
				if in.Subnet != s.Name {
					continue
				}
				if !t.OnThisHost(in) {
					fs.Instances = append(fs.Instances, flows.Instance{
						Name: in.Name, Port: remote[v.Name+"/"+in.Name], MAC: host.InstanceMAC(v.Name, in.Name), IP: in.Addr,
						Groups: in.SecurityGroups, Forward: !in.CheckSourceDest(), FlowLog: flowlog.Traffic(v, in),
						PublicIP: in.PublicAddr, Remote: t.Hypervisor(in.Host).TunnelAddr,
					})
					continue
				}
				a := byName[v.Name+"/"+in.Name]
				fs.Instances = append(fs.Instances, flows.Instance{
					Name: in.Name, Port: uint32(ofports[a.Port]), VLAN: a.VLAN, MAC: a.MAC, IP: in.Addr, Groups: in.SecurityGroups,
					PublicIP: in.PublicAddr, Forward: !in.CheckSourceDest(), FlowLog: flowlog.Traffic(v, in),
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

// externalTopology is the compiler's view of the external network.
func externalTopology(t *config.Topology, atts []*attachment, ofports map[string]int, id uint16) *flows.External {
	e := t.External
	if e == nil || !t.GatewayHere() {
		return nil
	}
	fe := &flows.External{ID: id, CIDR: e.Prefix, Gateway: e.GatewayAddr, MAC: externalMAC()}
	for _, a := range atts {
		if a.Subnet != externalSubnet || a.VPC != "" {
			continue
		}
		h := flows.Host{Name: a.Name, Port: uint32(ofports[a.Port]), MAC: a.MAC, IP: a.Addr.Addr()}
		if a.Attach == "host" {
			fe.HostPort = &h
			continue
		}
		fe.Hosts = append(fe.Hosts, h)
	}
	sort.Slice(fe.Hosts, func(i, j int) bool { return fe.Hosts[i].Name < fe.Hosts[j].Name })
	return fe
}

// routes converts a subnet's route table for the compiler.
func routes(t *config.Topology, v *config.VPC, rt *config.RouteTable, natID, peerZone map[string]uint16) []flows.Route {
	if rt == nil {
		return nil
	}
	var out []flows.Route
	for _, r := range rt.Routes {
		fr := flows.Route{Owner: r.Pos.Path(), Dest: r.Dest}
		switch r.Kind {
		case config.ViaInternetGateway:
			fr.Kind = flows.RouteInternetGateway
		case config.ViaNATGateway:
			fr.Kind, fr.NATGateway = flows.RouteNATGateway, natID[r.Target]
		case config.ViaPeering:
			fr.Kind, fr.PeeringZone = flows.RoutePeering, peerZone[r.Target]
			if p := t.Peering(r.Target); p != nil {
				for _, other := range p.VPCs {
					if other != v.Name {
						fr.Peer = other
					}
				}
			}
		case config.ViaInstance:
			fr.Kind = flows.RouteInstance
			if in := v.Instance(r.Target); in != nil {
				fr.InstanceMAC = host.InstanceMAC(v.Name, in.Name)
				fr.InstanceForward = !in.CheckSourceDest()
			}
		default:
			continue
		}
		out = append(out, fr)
	}
	return out
}

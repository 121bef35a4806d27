// Package config reads, validates and completes a vpcctl topology file
// (SPEC §1): the YAML-facing fields keep what the user wrote, and parsed
// fields (prefixes, addresses, port ranges, route targets) are filled by
// validation, so other packages never parse strings again.
package config

import (
	"net/netip"
	"strings"
)

// Defaults and enumerations of SPEC §1.
const (
	DefaultBridge        = "br-vpc"
	DefaultRouteTable    = "main"    // every VPC has one; subnets use it unless told otherwise
	DefaultSecurityGroup = "default" // every VPC has one; instances use it unless told otherwise

	DatapathAuto   = "auto"
	DatapathSystem = "system"
	DatapathNetdev = "netdev"

	ExternalIsolated = "isolated"
	ExternalHost     = "host"

	AttachVeth     = "veth"
	AttachInternal = "internal"
	// AttachTrunk: a veth whose host end is no OVS port; its frames reach
	// the bridge through the bridge's one trunk port, tagged (eBPF), so
	// ovs-vswitchd does not poll one more port per instance.
	AttachTrunk = "trunk"

	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
	ProtoICMP = "icmp"
	ProtoAll  = "all"

	ActionAllow = "allow"
	ActionDeny  = "deny"
)

// Struct tags: `mapstructure` names the YAML key (the strict node walk in
// decode.go reads it); `cfg` marks keys that are "required" and
// the key that names list elements in paths ("label").

// Topology is a whole topology file.
type Topology struct {
	Version  int        `mapstructure:"version" cfg:"required"`
	Bridge   string     `mapstructure:"bridge"`
	Datapath string     `mapstructure:"datapath"`
	External *External  `mapstructure:"external"` // nil when the file has none
	VPCs     []*VPC     `mapstructure:"vpcs"`
	Peerings []*Peering `mapstructure:"peerings"`
	// Hosts are the hypervisors one topology spans (each its own OVS
	// bridge, joined by Geneve tunnels); none: everything on this host.
	Hosts []*Hypervisor `mapstructure:"hosts"`
	// UnderlayMTU is the MTU of the network between the hosts (default
	// 1500): instances get it less the tunnel's overhead.
	UnderlayMTU int `mapstructure:"underlay_mtu"`
	// Local is the host of Hosts this vpcctl programs (its --host); the
	// caller sets it, the file never does.
	Local string `mapstructure:"-"`
	// Expect is the reachability the author expects (optional): checked on
	// the model by `vpcctl check`, and by live probes with --live.
	Expect []*Expectation `mapstructure:"expect"`

	Pos Pos `mapstructure:"-"`
}

// External is the simulated internet beyond the gateways.
type External struct {
	CIDR    string  `mapstructure:"cidr" cfg:"required"`
	Gateway string  `mapstructure:"gateway" cfg:"required"`
	Attach  string  `mapstructure:"attach"`
	Hosts   []*Host `mapstructure:"hosts"`
	// Host is the hypervisor (of the topology's hosts:) where the external
	// network, its hosts and every VPC's gateways live; required with hosts.
	Host string `mapstructure:"host"`

	Prefix      netip.Prefix `mapstructure:"-"` // parsed CIDR
	GatewayAddr netip.Addr   `mapstructure:"-"` // parsed Gateway
	Pos         Pos          `mapstructure:"-"`
}

// Host is a simulated internet host: a namespace on the external network.
type Host struct {
	Name string `mapstructure:"name" cfg:"required,label"`
	IP   string `mapstructure:"ip" cfg:"required"`
	Run  string `mapstructure:"run"`

	Addr netip.Addr `mapstructure:"-"` // parsed IP
	Pos  Pos        `mapstructure:"-"`
}

// Hypervisor is one host of a topology that spans several: instances name
// it (Instance.Host); the others reach them through a tunnel to TunnelIP.
type Hypervisor struct {
	Name     string `mapstructure:"name" cfg:"required,label"`
	TunnelIP string `mapstructure:"tunnel_ip" cfg:"required"`

	TunnelAddr netip.Addr `mapstructure:"-"` // parsed TunnelIP
	Pos        Pos        `mapstructure:"-"`
}

// TunnelOverhead is what Geneve over IPv4 adds to each frame: instances of a
// topology with hosts get an MTU this much smaller than the underlay's,
// or a full-size packet would be dropped without a word on the way.
const TunnelOverhead = 50

// Underlay MTU: the default (an Ethernet underlay) and the range allowed.
const (
	DefaultUnderlayMTU = 1500
	MinUnderlayMTU     = 1280 + TunnelOverhead
	MaxUnderlayMTU     = 9216
)

// InstanceMTU is the MTU of every instance of a topology with hosts: the
// underlay's less the tunnel's overhead (0 without hosts: the kernel's).
func (t *Topology) InstanceMTU() int {
	if len(t.Hosts) == 0 {
		return 0
	}
	u := t.UnderlayMTU
	if u == 0 {
		u = DefaultUnderlayMTU
	}
	return u - TunnelOverhead
}

// OnThisHost says whether instance i runs on this vpcctl's host: always on
// a topology without hosts.
func (t *Topology) OnThisHost(i *Instance) bool { return len(t.Hosts) == 0 || i.Host == t.Local }

// GatewayHere says whether the external network (and with it the VPCs'
// gateways) is on this vpcctl's host: always without hosts.
func (t *Topology) GatewayHere() bool {
	return t.External != nil && (len(t.Hosts) == 0 || t.External.Host == t.Local)
}

// Hypervisor finds a host by name; nil when none.
func (t *Topology) Hypervisor(name string) *Hypervisor {
	for _, h := range t.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// VPC is one virtual private cloud.
type VPC struct {
	Name            string           `mapstructure:"name" cfg:"required,label"`
	CIDR            string           `mapstructure:"cidr" cfg:"required"`
	InternetGateway bool             `mapstructure:"internet_gateway"`
	Subnets         []*Subnet        `mapstructure:"subnets"`
	RouteTables     []*RouteTable    `mapstructure:"route_tables"`
	NATGateways     []*NATGateway    `mapstructure:"nat_gateways"`
	SecurityGroups  []*SecurityGroup `mapstructure:"security_groups"`
	NetworkACLs     []*NetworkACL    `mapstructure:"network_acls"`
	Instances       []*Instance      `mapstructure:"instances"`
	FlowLogs        []*FlowLog       `mapstructure:"flow_logs"` // every instance of the VPC

	Prefix netip.Prefix `mapstructure:"-"` // parsed CIDR
	Pos    Pos          `mapstructure:"-"`
}

// Subnet is a range of a VPC's addresses with one route table and at most one ACL.
type Subnet struct {
	Name       string     `mapstructure:"name" cfg:"required,label"`
	CIDR       string     `mapstructure:"cidr" cfg:"required"`
	RouteTable string     `mapstructure:"route_table"` // default: main
	FlowLogs   []*FlowLog `mapstructure:"flow_logs"`   // every instance of the subnet

	Prefix netip.Prefix `mapstructure:"-"` // parsed CIDR
	Table  *RouteTable  `mapstructure:"-"` // resolved RouteTable
	ACL    *NetworkACL  `mapstructure:"-"` // the network ACL listing this subnet; nil: allow all
	Pos    Pos          `mapstructure:"-"`
}

// RouteTable is a VPC route table; the VPC CIDR's local route is implicit.
type RouteTable struct {
	Name   string   `mapstructure:"name" cfg:"required,label"`
	Routes []*Route `mapstructure:"routes"`

	Implicit bool `mapstructure:"-"` // the main table added because the file has none
	Pos      Pos  `mapstructure:"-"`
}

// ViaKind is the kind of a route's target.
type ViaKind int

// Route target kinds; the zero value means "not parsed".
const (
	ViaInvalid ViaKind = iota
	ViaInternetGateway
	ViaNATGateway
	ViaPeering
	ViaInstance
)

// String returns the kind as written in `via:`.
func (k ViaKind) String() string {
	switch k {
	case ViaInternetGateway:
		return "internet-gateway"
	case ViaNATGateway:
		return "nat-gateway"
	case ViaPeering:
		return "peering"
	case ViaInstance:
		return "instance"
	}
	return "invalid"
}

// Route sends Destination to the target named by Via.
type Route struct {
	Destination string `mapstructure:"destination" cfg:"required"`
	Via         string `mapstructure:"via" cfg:"required"`

	Dest   netip.Prefix `mapstructure:"-"` // parsed Destination
	Kind   ViaKind      `mapstructure:"-"` // parsed Via
	Target string       `mapstructure:"-"` // NAT gateway, peering or instance name; empty for the internet gateway
	Pos    Pos          `mapstructure:"-"`
}

// NATGateway translates a subnet's outbound traffic to PublicIP.
type NATGateway struct {
	Name     string `mapstructure:"name" cfg:"required,label"`
	Subnet   string `mapstructure:"subnet" cfg:"required"`
	PublicIP string `mapstructure:"public_ip" cfg:"required"`

	PublicAddr netip.Addr `mapstructure:"-"` // parsed PublicIP
	Pos        Pos        `mapstructure:"-"`
}

// SecurityGroup is a stateful, allow-only set of rules applied to instances.
type SecurityGroup struct {
	Name    string    `mapstructure:"name" cfg:"required,label"`
	Ingress []*SGRule `mapstructure:"ingress"`
	Egress  []*SGRule `mapstructure:"egress"` // omitted: allow all (an implicit rule is added)

	Implicit bool `mapstructure:"-"` // the default group added because the file has none
	Pos      Pos  `mapstructure:"-"`
}

// PortRange is an inclusive range of ports; the zero value means any port.
type PortRange struct{ Lo, Hi uint16 }

// Any reports whether the range matches every port.
func (r PortRange) Any() bool { return r.Lo == 0 && r.Hi == 0 }

// SGRule is one security group rule. Ingress rules use Source or SourceGroup,
// egress rules Destination or DestinationGroup.
type SGRule struct {
	Protocol         string `mapstructure:"protocol" cfg:"required"`
	Ports            string `mapstructure:"ports"`
	Source           string `mapstructure:"source"`
	SourceGroup      string `mapstructure:"source_group"`
	Destination      string `mapstructure:"destination"`
	DestinationGroup string `mapstructure:"destination_group"`

	PortRange PortRange    `mapstructure:"-"` // parsed Ports
	Peer      netip.Prefix `mapstructure:"-"` // parsed Source/Destination; invalid when the peer is a group
	PeerVPC   string       `mapstructure:"-"` // VPC of the peer group (the rule's own VPC for NAME)
	PeerGroup string       `mapstructure:"-"` // peer group name; empty when the peer is a CIDR
	Implicit  bool         `mapstructure:"-"` // added by defaults, not written in the file
	Pos       Pos          `mapstructure:"-"`
}

// NetworkACL is a stateless, numbered rule list on some subnets.
type NetworkACL struct {
	Name    string     `mapstructure:"name" cfg:"required,label"`
	Subnets []string   `mapstructure:"subnets"`
	Ingress []*ACLRule `mapstructure:"ingress"`
	Egress  []*ACLRule `mapstructure:"egress"`

	Pos Pos `mapstructure:"-"`
}

// ACLRule is one network ACL rule; ingress rules use Source, egress rules Destination.
type ACLRule struct {
	Rule        int    `mapstructure:"rule" cfg:"required,label"`
	Protocol    string `mapstructure:"protocol" cfg:"required"`
	Ports       string `mapstructure:"ports"`
	Source      string `mapstructure:"source"`
	Destination string `mapstructure:"destination"`
	Action      string `mapstructure:"action" cfg:"required"`

	PortRange PortRange    `mapstructure:"-"` // parsed Ports
	Peer      netip.Prefix `mapstructure:"-"` // parsed Source/Destination
	Allow     bool         `mapstructure:"-"` // Action == allow
	Pos       Pos          `mapstructure:"-"`
}

// Instance is a namespace plugged into a subnet.
type Instance struct {
	Name            string     `mapstructure:"name" cfg:"required,label"`
	Subnet          string     `mapstructure:"subnet" cfg:"required"`
	IP              string     `mapstructure:"ip"` // empty: allocated
	PublicIP        string     `mapstructure:"public_ip"`
	SecurityGroups  []string   `mapstructure:"security_groups"`   // omitted or empty: [default]
	Attach          string     `mapstructure:"attach"`            // default: veth
	Host            string     `mapstructure:"host"`              // the hypervisor it runs on (topologies with hosts:)
	SourceDestCheck *bool      `mapstructure:"source_dest_check"` // default: true
	Run             string     `mapstructure:"run"`
	FlowLogs        []*FlowLog `mapstructure:"flow_logs"`

	Addr       netip.Addr `mapstructure:"-"` // IP, or the allocated address
	PublicAddr netip.Addr `mapstructure:"-"` // parsed PublicIP; invalid when none
	Pos        Pos        `mapstructure:"-"`
}

// CheckSourceDest reports whether anti-spoofing applies to the instance
// (source_dest_check, true unless set to false).
func (i *Instance) CheckSourceDest() bool { return i.SourceDestCheck == nil || *i.SourceDestCheck }

// Peering connects two VPCs (not transitively).
type Peering struct {
	Name string   `mapstructure:"name" cfg:"required,label"`
	VPCs []string `mapstructure:"vpcs" cfg:"required"`

	Pos Pos `mapstructure:"-"`
}

// Expectation says whether traffic of one kind from one set of endpoints to
// another must get through (reach: yes) or not (reach: no). From and To are
// endpoint refs: an instance or external host name, group/NAME (a group of
// the only VPC that has one of that name), group/VPC/NAME or subnet/VPC/NAME.
type Expectation struct {
	From  string `mapstructure:"from" cfg:"required"`
	To    string `mapstructure:"to" cfg:"required"`
	Proto string `mapstructure:"proto" cfg:"required"` // tcp | udp | icmp
	Port  int    `mapstructure:"port"`                 // tcp and udp: required
	Reach string `mapstructure:"reach" cfg:"required"` // yes | no

	Pos Pos `mapstructure:"-"`
}

// Pos locates an element in the file: its field path and lines.
type Pos struct {
	path string
	line int
	keys map[string]int // key (or "key[i]" for list items) → line, for well-typed keys only
}

// Path is the element's field path, e.g. vpcs[prod].subnets[db].
func (p Pos) Path() string { return p.path }

// Line is the element's line in the file; 0 for implicit objects.
func (p Pos) Line() int { return p.line }

// KeyLine is the line of one of the element's keys, or the element's line.
func (p Pos) KeyLine(key string) int {
	if l, ok := p.keys[key]; ok {
		return l
	}
	return p.line
}

// has reports whether the file set key to a value of the right type.
func (p Pos) has(key string) bool {
	_, ok := p.keys[key]
	return ok
}

// field returns the path and line of key ("" for the element itself).
func (p Pos) field(key string) (string, int) {
	return joinPath(p.path, key), p.KeyLine(key)
}

// joinPath appends a key or an index suffix to a path.
func joinPath(path, key string) string {
	switch {
	case key == "":
		return path
	case path == "" || strings.HasPrefix(key, "["):
		return path + key
	}
	return path + "." + key
}

// child is the Pos of an implicit element under p.
func (p Pos) child(suffix string) Pos { return Pos{path: joinPath(p.path, suffix)} }

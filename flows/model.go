package flows

import (
	"net"
	"net/netip"
)

// Topology is what the compiler needs of a validated topology, with every
// derived value (ids, MACs, port numbers) already resolved, so Compile is a
// pure function and tests can build inputs by hand.
type Topology struct {
	VPCs []VPC
	// External is the simulated internet beyond the gateways; nil when none.
	External *External
	// Trunk is the OpenFlow port of the bridge's trunk, through which every
	// trunk instance (Instance.VLAN) comes and goes; 0 when there is none.
	Trunk uint32
	// Tunnel is the OpenFlow port of the bridge's Geneve tunnel to the other
	// hosts of the topology (Instance.Remote); 0 when it spans no hosts.
	Tunnel uint32
	// GatewayHost is the tunnel address of the host that holds the
	// external network and the VPCs' gateways when that is another host
	// (External is then nil here); invalid otherwise.
	GatewayHost netip.Addr
}

// External is the external network: a flat segment inside the bridge with
// simulated hosts and the public IPs of NAT gateways and elastic IPs.
type External struct {
	ID      uint16 // its RegVPC value, distinct from every VPC's
	CIDR    netip.Prefix
	Gateway netip.Addr       // the upstream router's address
	MAC     net.HardwareAddr // of the gateway and of every public IP
	Hosts   []Host
	// HostPort is the internal port in the host namespace holding Gateway
	// (attach: host); nil when the network is isolated.
	HostPort *Host
}

// Host is a port on the external network.
type Host struct {
	Name string
	Port uint32
	MAC  net.HardwareAddr
	IP   netip.Addr
}

// VPC is one tenant network. ID keys every lookup (register RegVPC).
type VPC struct {
	Name      string
	ID        uint16
	CIDR      netip.Prefix
	RouterMAC net.HardwareAddr // the MAC of every subnet's .1
	Subnets   []Subnet
	// SecurityGroups are the VPC's groups; members are the instances naming them.
	SecurityGroups []SecurityGroup
	// NATZone is the conntrack zone of the VPC's address translation (NAT
	// gateways and elastic IPs), apart from its SG zone (ID) and from every
	// other VPC's, so overlapping VPCs never share a NAT tuple.
	NATZone     uint16
	NATGateways []NATGateway
}

// NATGateway translates outbound traffic routed to it to its public IP.
type NATGateway struct {
	Name     string
	Owner    string // config path
	ID       uint16 // its RegGateway value (>= GatewayNATBase)
	PublicIP netip.Addr
}

// RouteKind is where a route sends packets.
type RouteKind int

const (
	RouteInternetGateway RouteKind = iota + 1
	RouteNATGateway
	RouteInstance
	RoutePeering
)

// Route is one entry of a subnet's route table (the local route is implicit).
type Route struct {
	Owner string // config path, e.g. vpcs[prod].route_tables[private-rt].routes[0]
	Dest  netip.Prefix
	Kind  RouteKind
	// NATGateway is the target's RegGateway value (RouteNATGateway).
	NATGateway uint16
	// Instance is the appliance (RouteInstance): its MAC, and whether it
	// accepts packets not addressed to it (source_dest_check: false).
	InstanceMAC     net.HardwareAddr
	InstanceForward bool
	// Peer is the other VPC of the peering (RoutePeering) and PeeringZone the
	// conntrack zone of the traffic across it.
	Peer        string
	PeeringZone uint16
}

// SecurityGroup is a stateful, allow-only rule set.
type SecurityGroup struct {
	Name    string
	Ingress []SGRule
	Egress  []SGRule
}

// SGRule allows traffic of a protocol and port range from (ingress) or to
// (egress) a CIDR or the members of a group.
type SGRule struct {
	Owner     string // config path of the rule, for cookies and trace
	Proto     string // all | tcp | udp | icmp
	PortLo    uint16 // 0,0 = any port
	PortHi    uint16
	Peer      netip.Prefix // valid when the peer is a CIDR
	PeerGroup string       // a group otherwise,
	PeerVPC   string       // of this VPC ("") or of a peered one
}

// ACL is a network ACL: numbered stateless rules, first match wins.
type ACL struct {
	Name    string
	Ingress []ACLRule // sorted by number
	Egress  []ACLRule
}

// ACLRule is one numbered NACL rule.
type ACLRule struct {
	Owner  string
	Number int
	Proto  string
	PortLo uint16
	PortHi uint16
	Peer   netip.Prefix
	Allow  bool
}

// Subnet is one subnet of a VPC.
type Subnet struct {
	Name      string
	ID        uint16 // 1-based within the VPC
	CIDR      netip.Prefix
	Router    netip.Addr // the .1
	Instances []Instance
	ACL       *ACL // nil: the subnet allows everything
	// Routes is the subnet's route table, without the implicit local route.
	Routes []Route
}

// Instance is one attached namespace.
type Instance struct {
	Name string
	Port uint32 // OpenFlow port number of its attachment; TrunkPort(VLAN) on the trunk
	// VLAN is a trunk instance's 802.1Q tag on the trunk (Topology.Trunk),
	// which stands for its port; 0 for an instance with a port of its own.
	VLAN uint16
	MAC  net.HardwareAddr
	IP   netip.Addr
	// Groups are the security groups the instance is in.
	Groups []string
	// PublicIP is the elastic IP (1:1 NAT); invalid when none.
	PublicIP netip.Addr
	// Forward relaxes anti-spoofing (source_dest_check: false): the instance
	// may send from any IPv4 address, as an appliance forwarding others' packets.
	Forward bool
	// FlowLog is what the instance's flow logs record (zero: it has none).
	FlowLog FlowLogTraffic
	// Remote is the tunnel address of the host the instance runs on, when
	// that is another host: it has no port on this bridge, Port is its
	// RemotePort id, and what is sent to it leaves through the tunnel.
	Remote netip.Addr
}

func vpcOwner(v *VPC) string                   { return "vpcs[" + v.Name + "]" }
func subnetOwner(v *VPC, s *Subnet) string     { return vpcOwner(v) + ".subnets[" + s.Name + "]" }
func instanceOwner(v *VPC, i *Instance) string { return vpcOwner(v) + ".instances[" + i.Name + "]" }

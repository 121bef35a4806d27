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
}

// Instance is one attached namespace.
type Instance struct {
	Name string
	Port uint32 // OpenFlow port number of its attachment
	MAC  net.HardwareAddr
	IP   netip.Addr
	// Groups are the security groups the instance is in.
	Groups []string
}

func vpcOwner(v *VPC) string                   { return "vpcs[" + v.Name + "]" }
func subnetOwner(v *VPC, s *Subnet) string     { return vpcOwner(v) + ".subnets[" + s.Name + "]" }
func instanceOwner(v *VPC, i *Instance) string { return vpcOwner(v) + ".instances[" + i.Name + "]" }

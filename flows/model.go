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
}

// Subnet is one subnet of a VPC.
type Subnet struct {
	Name      string
	ID        uint16 // 1-based within the VPC
	CIDR      netip.Prefix
	Router    netip.Addr // the .1
	Instances []Instance
}

// Instance is one attached namespace.
type Instance struct {
	Name string
	Port uint32 // OpenFlow port number of its attachment
	MAC  net.HardwareAddr
	IP   netip.Addr
}

func vpcOwner(v *VPC) string                   { return "vpcs[" + v.Name + "]" }
func subnetOwner(v *VPC, s *Subnet) string     { return vpcOwner(v) + ".subnets[" + s.Name + "]" }
func instanceOwner(v *VPC, i *Instance) string { return vpcOwner(v) + ".instances[" + i.Name + "]" }

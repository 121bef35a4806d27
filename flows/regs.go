package flows

import "strconv"

// RegField is a bit range of one of OVS's 32-bit registers (NXM_NX_REGn).
// The whole register layout of the pipeline lives in this file so that two
// stages can never reuse the same bits by accident.
type RegField struct {
	Reg    int // 0..15
	Lo, Hi int // inclusive bit range
	Name   string
}

// Register layout. A packet carries these from the classifier on.
var (
	// RegVPC is the VPC the packet is in: it keys every lookup, so two VPCs with the
	// same addresses never see each other's flows. It is also the conntrack zone.
	RegVPC = RegField{0, 0, 15, "vpc"}
	// RegSrcPort is the OpenFlow port the packet came in on (for output checks and trace).
	RegSrcPort = RegField{1, 0, 15, "src_port"}
	// RegDstPort is the OpenFlow port the lookup stages chose; the output stage sends there.
	RegDstPort = RegField{2, 0, 15, "dst_port"}
	// RegSrcSubnet and RegDstSubnet carry subnet ids for the NACL stages (1-based per VPC).
	RegSrcSubnet = RegField{3, 0, 15, "src_subnet"}
	RegDstSubnet = RegField{4, 0, 15, "dst_subnet"}
	// RegGateway is the gateway a route chose: 0 keeps the packet inside the VPC,
	// GatewayInternet sends it out through the internet gateway (elastic IPs),
	// a value >= GatewayNATBase through that NAT gateway (the controller
	// hashes it from the gateway's name, so it is stable).
	RegGateway = RegField{5, 0, 15, "gateway"}
	// RegDstVPC is the VPC of the destination instance: RegVPC's own, or the
	// peer's across a peering. Ingress NACLs and ingress groups key on it.
	RegDstVPC = RegField{6, 0, 15, "dst_vpc"}
	// RegZone is the conntrack zone of the SG stages: the VPC's id, or the
	// peering's zone for traffic across it (the same both ways, so replies
	// find their connection).
	RegZone = RegField{7, 0, 15, "ct_zone"}
)

// Register values with a meaning of their own.
const (
	// SubnetOutside in RegSrcSubnet / RegDstSubnet: the packet came from, or goes
	// to, outside the VPC (the external network): no subnet's NACL and no
	// instance's security group applies on that side.
	SubnetOutside   uint32 = 0xffff
	GatewayInternet uint16 = 1
	GatewayNATBase  uint16 = 2
)

// Bits is the number of bits of the field.
func (r RegField) Bits() int { return r.Hi - r.Lo + 1 }

// Mask is the field's mask within its 32-bit register.
func (r RegField) Mask() uint32 {
	if r.Bits() == 32 {
		return 0xffffffff
	}
	return ((uint32(1) << r.Bits()) - 1) << r.Lo
}

// nxm is the NXM field name of the register, as libOpenflow names it.
func (r RegField) nxm() string { return regFields[r.Reg].nxm }

// String is the ovs-ofctl spelling of the bit range, e.g. NXM_NX_REG0[0..15].
func (r RegField) String() string {
	if r.Bits() == 32 {
		return r.nxm() + "[]"
	}
	return r.nxm() + "[" + strconv.Itoa(r.Lo) + ".." + strconv.Itoa(r.Hi) + "]"
}

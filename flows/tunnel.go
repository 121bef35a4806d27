package flows

import (
	"net/netip"
	"strconv"
)

// A topology that spans hosts: each host's bridge holds its own instances
// and knows every other one as remote. A packet is decided where it enters:
// the sending host runs the whole pipeline (routing, NACLs, both sides'
// security groups, the conntrack commit) and sends what is allowed through
// the Geneve tunnel with the destination's VPC id as the key. The receiving
// host trusts the tunnel (the hosts' underlay): it only finds the local
// instance by VPC and MAC, and commits the connection in its own conntrack,
// so that the reply, decided on that host, is seen as a reply there too.

// Register values of the tunnel.
const (
	// remotePortBase marks the ids that stand for remote instances in
	// RegDstPort and RegSrcPort (16 bits): RemotePort(n) for n < 0x3f00.
	// vpcctl gives real ports the lowest free numbers, far below it, and
	// trunk instances sit at trunkPortBase (0x8000) and up.
	remotePortBase = 0x4000
	remotePortMask = 0xc000
	// MaxRemotePorts is how many remote instances one bridge can know.
	MaxRemotePorts = 0x3f00
	// TunnelSrcPort in RegSrcPort: the packet came in through the tunnel.
	TunnelSrcPort uint32 = 0x7fff
	// TunToGateway in the tunnel key (beside the VPC id): the packet is on
	// its way out of the VPC through a gateway of the receiving host, which
	// routes it again (with the source instance's registers) and commits it
	// where its replies will come back in.
	TunToGateway uint32 = 0x800000
)

// RemotePort is the id a remote instance has in the pipeline's registers.
func RemotePort(n uint16) uint32 { return remotePortBase | uint32(n) }

// regMasked matches the bits of a register field that mask selects.
func (m Match) regMasked(r RegField, value, mask uint32) Match {
	v, mk := value<<r.Lo, (mask<<r.Lo)&r.Mask()
	text := regField(r.Reg).name + "=0x" + strconv.FormatUint(uint64(v), 16) + "/0x" + strconv.FormatUint(uint64(mk), 16)
	return m.with(item(regField(r.Reg), u32(v), u32(mk), text))
}

// TunID matches the tunnel key (the Geneve VNI: 24 bits).
func (m Match) TunID(id uint32) Match {
	return m.with(item(&fTunID, u64(uint64(id)), nil, "tun_id=0x"+strconv.FormatUint(uint64(id), 16)))
}

// SetTunnel sets the key and the remote address of the tunnel the packet
// will be sent through (Geneve, options:key=flow, options:remote_ip=flow).
func SetTunnel(id uint32, dst netip.Addr) []Action {
	return []Action{
		setField(fTunID, "0x"+strconv.FormatUint(uint64(id), 16), u64(uint64(id))),
		setField(fTunDst, dst.String(), dst.AsSlice()),
	}
}

func u64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// tunnelFlows are the flows of a bridge with a tunnel that belong to no
// one instance: what comes in through the tunnel, per VPC (its id is the
// key), goes to the lookup of the local instance and on through conntrack
// only, in the connection's zone: the VPC's own, or a peering's when the
// source is across one (the zone the reply will be looked up in here).
func tunnelFlows(t *Topology) []*Flow {
	if t.Tunnel == 0 {
		return nil
	}
	tun := Match{}.InPort(t.Tunnel)
	fs := []*Flow{
		// Decided on the sending host already: after conntrack, commit.
		{Table: TCtState, Priority: PrioNormal, Match: Match{}.EthType(EthIPv4).Reg(RegSrcPort, TunnelSrcPort), Goto: TCtCommit},
		// A remote instance's packet is never sent back to another host.
		{Table: TOutput, Priority: PrioHighest, Match: tun.regMasked(RegDstPort, remotePortBase, remotePortMask)},
	}
	for vi := range t.VPCs {
		v := &t.VPCs[vi]
		vpc := uint32(v.ID)
		if t.GatewayHost.IsValid() {
			// The gateways are on another host: what leaves the VPC goes
			// there (what stays in it matched GatewayOut's reg5=0 flow).
			send := append(SetTunnel(TunToGateway|vpc, t.GatewayHost), Output(t.Tunnel))
			out := Match{}.EthType(EthIPv4).Reg(RegVPC, vpc)
			fs = append(fs, &Flow{Table: TGatewayOut, Priority: prioToGatewayHost, Match: out, Actions: send, Category: CatGateway, Owner: vpcOwner(v) + ".gateways"})
			if t.Trunk != 0 {
				fs = append(fs, &Flow{Table: TGatewayOut, Priority: prioToGatewayHost + 1, Match: out.VLANTagged(),
					Actions: append([]Action{PopVLAN()}, send...), Category: CatGateway, Owner: vpcOwner(v) + ".gateways"})
			}
		}
		in := tun.TunID(vpc)
		load := func(zone uint32) []Action {
			return []Action{LoadReg(RegVPC, vpc), LoadReg(RegZone, zone), LoadReg(RegSrcPort, TunnelSrcPort), LoadReg(RegSrcSubnet, SubnetOutside)}
		}
		owner := vpcOwner(v) + ".tunnel"
		fs = append(fs, &Flow{Table: TClassifier, Priority: PrioNormal, Match: in.EthType(EthIPv4),
			Actions: load(vpc), Goto: TL2Lookup, Category: CatPipeline, Owner: owner})
		for _, z := range peerZones(t, v) {
			fs = append(fs, &Flow{Table: TClassifier, Priority: PrioHigh + uint16(z.src.Bits()), Match: in.EthType(EthIPv4).IPSrc(z.src),
				Actions: load(uint32(z.zone)), Goto: TL2Lookup, Category: CatPipeline, Owner: owner})
		}
	}
	return fs
}

// prioToGatewayHost is below GatewayOut's reg5=0 flow (PrioLow).
const prioToGatewayHost = PrioLow / 2

type peerZone struct {
	src  netip.Prefix
	zone uint16
}

// peerZones are the peering routes of v's subnets, once each: a packet from
// such a source belongs to the peering's conntrack zone.
func peerZones(t *Topology, v *VPC) []peerZone {
	var out []peerZone
	seen := map[peerZone]bool{}
	for _, s := range v.Subnets {
		for _, r := range s.Routes {
			z := peerZone{r.Dest, r.PeeringZone}
			if r.Kind == RoutePeering && !seen[z] {
				seen[z] = true
				out = append(out, z)
			}
		}
	}
	return out
}

// remoteFlows make a remote instance reachable from this host: its address
// is answered by ARP and routed to as a local one's, and the lookup gives
// its remote id, which Output sends through the tunnel (the tag of a trunk
// sender removed) with the instance's VPC id as the key.
func remoteFlows(t *Topology, v *VPC, s *Subnet, i *Instance) []*Flow {
	owner := instanceOwner(v, i)
	vpc := uint32(v.ID)
	send := append(SetTunnel(vpc, i.Remote), Output(t.Tunnel))
	to := Match{}.Reg(RegDstPort, i.Port)
	fs := append([]*Flow{arpReply(v.ID, i.IP, i.MAC, CatInstance, owner)}, deliveryFlows(v, s, i)...)
	fs = append(fs, &Flow{Table: TOutput, Priority: PrioNormal, Match: to, Actions: send})
	if t.Trunk != 0 {
		fs = append(fs, &Flow{Table: TOutput, Priority: PrioHigh, Match: to.VLANTagged(), Actions: append([]Action{PopVLAN()}, send...)})
	}
	if t.External != nil {
		// This host holds the gateways: the instance's packets leaving the
		// VPC come through the tunnel to be routed out here, as from it.
		fs = append(fs, &Flow{Table: TClassifier, Priority: PrioNormal,
			Match:   Match{}.InPort(t.Tunnel).TunID(TunToGateway | vpc).EthType(EthIPv4).IPSrc(netip.PrefixFrom(i.IP, 32)),
			Actions: []Action{LoadReg(RegVPC, vpc), LoadReg(RegZone, vpc), LoadReg(RegSrcPort, i.Port), LoadReg(RegSrcSubnet, uint32(s.ID))}, Goto: TL3Forwarding})
	}
	return own(CatInstance, owner, fs)
}

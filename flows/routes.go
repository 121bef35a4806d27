package flows

import "net/netip"

// Route priorities in L3Forwarding: an instance of the VPC (PrioNormal) is
// delivered first; then the rest of the VPC's CIDR drops (the local route:
// it always wins over the route table, as in classic AWS); then a subnet's
// routes, longer prefixes first: a route of prefix length L sits at
// prioRouteBase+2L, and a peering route's per-instance deliveries at +1, so
// they beat their own route's catch-all but never a longer prefix.
const (
	prioLocalRoute   uint16 = 180
	prioRouteBase    uint16 = 102 // + 2 x prefix length (0..32): 102..166
	prioNoRoute      uint16 = 101
	prioPeerInstance uint16 = 1
)

func routePrio(p netip.Prefix) uint16 { return prioRouteBase + 2*uint16(p.Bits()) }

// localRouteFlow drops what is addressed to the VPC's own CIDR and matched
// no instance, so that no route (0.0.0.0/0 included) takes it elsewhere.
func localRouteFlow(v *VPC) *Flow {
	return &Flow{Table: TL3Forwarding, Priority: prioLocalRoute,
		Match:    Match{}.Reg(RegVPC, uint32(v.ID)).EthDst(v.RouterMAC).EthType(EthIPv4).IPDst(v.CIDR),
		Category: CatRoute, Owner: vpcOwner(v) + ".local-route"}
}

// noRouteFlow drops, visibly in L3Forwarding, what is addressed to the
// router and matched no route (rather than the L2Lookup miss).
func noRouteFlow(v *VPC) *Flow {
	return &Flow{Table: TL3Forwarding, Priority: prioNoRoute,
		Match:    Match{}.Reg(RegVPC, uint32(v.ID)).EthDst(v.RouterMAC).EthType(EthIPv4),
		Category: CatRoute, Owner: vpcOwner(v) + ".no-route"}
}

// routeFlows compile a subnet's route table: packets from the subnet to the
// router are matched by destination, longest prefix first.
func routeFlows(t *Topology, v *VPC, s *Subnet) []*Flow {
	var fs []*Flow
	for _, r := range s.Routes {
		m := Match{}.Reg(RegVPC, uint32(v.ID)).Reg(RegSrcSubnet, uint32(s.ID)).EthDst(v.RouterMAC).EthType(EthIPv4).IPDst(r.Dest)
		f := &Flow{Table: TL3Forwarding, Priority: routePrio(r.Dest), Match: m, Category: CatRoute, Owner: r.Owner}
		switch r.Kind {
		case RouteInternetGateway, RouteNATGateway:
			// Out of the VPC: the source's egress NACL and groups still apply,
			// then GatewayOut translates (RegGateway says how).
			gw := GatewayInternet
			if r.Kind == RouteNATGateway {
				gw = r.NATGateway
			}
			f.Actions = []Action{DecTTL(), LoadReg(RegDstSubnet, SubnetOutside), LoadReg(RegGateway, uint32(gw))}
			f.Goto = TCtLookup
		case RouteInstance:
			// Handed to the appliance unchanged but for the router's MAC
			// rewrite and TTL; an instance that checks source/destination
			// (the default) drops what is not addressed to it, so the route does.
			if r.InstanceForward {
				f.Actions = []Action{SetEthSrc(v.RouterMAC), SetEthDst(r.InstanceMAC), DecTTL()}
				f.Goto = TL2Lookup
			}
		case RoutePeering:
			fs = append(fs, peeringFlows(t, v, s, r, f.Priority)...)
			continue
		}
		fs = append(fs, f)
	}
	return fs
}

// peeringFlows deliver straight to the peer VPC's instances that the route
// covers, at the route's priority (so longer prefixes of the table still
// win): the packet gets the peer router's MAC and the instance's, TTL-1,
// the destination registers of the peer (its ingress NACL and groups apply)
// and the peering's conntrack zone. Only the peer's own instances are
// reachable: a packet is never routed onward from the peer (not transitive).
// The peer's route back decides the replies: with a route on one side only,
// a connection gets no answer, as in AWS.
func peeringFlows(t *Topology, v *VPC, s *Subnet, r Route, prio uint16) []*Flow {
	var peer *VPC
	for i := range t.VPCs {
		if t.VPCs[i].Name == r.Peer {
			peer = &t.VPCs[i]
		}
	}
	m := Match{}.Reg(RegVPC, uint32(v.ID)).Reg(RegSrcSubnet, uint32(s.ID)).EthDst(v.RouterMAC).EthType(EthIPv4)
	// Addresses of the route that are no peer instance drop here rather than
	// fall through to a shorter route.
	fs := []*Flow{{Table: TL3Forwarding, Priority: prio, Match: m.IPDst(r.Dest), Category: CatRoute, Owner: r.Owner}}
	if peer == nil {
		return fs
	}
	for si := range peer.Subnets {
		ps := &peer.Subnets[si]
		for ii := range ps.Instances {
			in := &ps.Instances[ii]
			if !r.Dest.Contains(in.IP) {
				continue
			}
			fs = append(fs, &Flow{Table: TL3Forwarding, Priority: prio + prioPeerInstance, Match: m.IPDst(host32(in.IP)),
				Actions: []Action{SetEthSrc(peer.RouterMAC), SetEthDst(in.MAC), DecTTL(),
					LoadReg(RegDstPort, in.Port), LoadReg(RegDstSubnet, uint32(ps.ID)), LoadReg(RegDstVPC, uint32(peer.ID)),
					LoadReg(RegZone, uint32(r.PeeringZone))},
				Goto: TCtLookup, Category: CatRoute, Owner: r.Owner})
		}
	}
	return fs
}

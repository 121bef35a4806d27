package flows

// Route priorities in L3Forwarding: an instance of the VPC (PrioNormal) is
// delivered first; then the rest of the VPC's CIDR drops (the local route:
// it always wins over the route table, as in classic AWS); then a subnet's
// routes, longer prefixes first.
const (
	prioLocalRoute uint16 = 150
	prioRouteBase  uint16 = 110 // + prefix length (0..32)
)

// localRouteFlow drops what is addressed to the VPC's own CIDR and matched
// no instance, so that no route (0.0.0.0/0 included) takes it elsewhere.
func localRouteFlow(v *VPC) *Flow {
	return &Flow{Table: TL3Forwarding, Priority: prioLocalRoute,
		Match:    Match{}.Reg(RegVPC, uint32(v.ID)).EthDst(v.RouterMAC).EthType(EthIPv4).IPDst(v.CIDR),
		Category: CatRoute, Owner: vpcOwner(v) + ".local-route"}
}

// routeFlows compile a subnet's route table: packets from the subnet to the
// router are matched by destination, longest prefix first.
func routeFlows(v *VPC, s *Subnet) []*Flow {
	var fs []*Flow
	for _, r := range s.Routes {
		m := Match{}.Reg(RegVPC, uint32(v.ID)).Reg(RegSrcSubnet, uint32(s.ID)).EthDst(v.RouterMAC).EthType(EthIPv4).IPDst(r.Dest)
		f := &Flow{Table: TL3Forwarding, Priority: prioRouteBase + uint16(r.Dest.Bits()), Match: m, Category: CatRoute, Owner: r.Owner}
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
		default:
			// Peering routes are not forwarded yet: they drop rather than
			// fall through to a shorter route.
		}
		fs = append(fs, f)
	}
	return fs
}

package flows

// conntrackFlows are the fixed flows of the stateful stages. Every IPv4
// packet is looked up once, in its VPC's zone, before the ACLs and groups;
// replies (+rpl) and related packets (+rel) of a committed connection skip
// the security groups but never the stateless NACLs; a new connection is
// committed only after both sides' groups allowed it (committing earlier
// would make the ingress check see +est and skip it).
func conntrackFlows() []*Flow {
	ip := Match{}.EthType(EthIPv4)
	return []*Flow{
		{Table: TCtLookup, Priority: PrioLow, Match: ip, Actions: []Action{CT(false, RegZone, TCtState)}},
		{Table: TCtState, Priority: PrioHigh, Match: ip.CtState(CtInv|CtTrk, 0)},
		{Table: TCtState, Priority: PrioLow, Match: ip, Goto: TEgressNACL},
		// Subnets without a network ACL allow everything.
		{Table: TEgressNACL, Priority: PrioLow, Match: ip, Goto: TEgressSG},
		{Table: TIngressNACL, Priority: PrioLow, Match: ip, Goto: TIngressSG},
		{Table: TEgressSG, Priority: PrioHighest, Match: ip.CtState(CtRpl|CtTrk, 0), Goto: TIngressNACL},
		{Table: TEgressSG, Priority: PrioHighest, Match: ip.CtState(CtRel|CtTrk, CtRpl), Goto: TIngressNACL},
		{Table: TIngressSG, Priority: PrioHighest, Match: ip.CtState(CtRpl|CtTrk, 0), Goto: TCtCommit},
		{Table: TIngressSG, Priority: PrioHighest, Match: ip.CtState(CtRel|CtTrk, CtRpl), Goto: TCtCommit},
		// A packet from or to the external network has no group on that side.
		{Table: TEgressSG, Priority: PrioHighest, Match: ip.Reg(RegSrcSubnet, SubnetOutside), Goto: TIngressNACL},
		{Table: TIngressSG, Priority: PrioHighest, Match: ip.Reg(RegDstSubnet, SubnetOutside), Goto: TCtCommit},
		{Table: TCtCommit, Priority: PrioNormal, Match: ip.CtState(CtNew|CtTrk, 0), Actions: []Action{CT(true, RegZone, nil)}, Goto: TGatewayOut},
		{Table: TCtCommit, Priority: PrioLow, Match: ip, Goto: TGatewayOut},
	}
}

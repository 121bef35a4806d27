package flows

import "net/netip"

// NACL priorities: rule N gets naclBase+32767-N, so a lower number wins
// (first match); below every rule the subnet's implicit deny; above them the
// skip for traffic that stays inside the subnet (not subject to its ACL).
const (
	naclDeny uint16 = 1000
	naclSkip uint16 = 40000
)

func naclPrio(number int) uint16 { return naclDeny + uint16(32767-number) }

// naclFlows apply a subnet's network ACL, stateless, to every packet leaving
// it (EgressNACL, keyed by the source subnet) and entering it (IngressNACL,
// keyed by the destination subnet).
func naclFlows(v *VPC, s *Subnet) []*Flow {
	if s.ACL == nil {
		return nil
	}
	owner := subnetOwner(v, s)
	vpc := uint32(v.ID)
	// With flow logs recording rejects in the subnet, its drops also go to
	// the controller, which writes the REJECT records.
	var drop []Action
	if logsRejects(s) {
		drop = []Action{ToController()}
	}
	src := Match{}.Reg(RegVPC, vpc).Reg(RegSrcSubnet, uint32(s.ID)).EthType(EthIPv4)
	dst := Match{}.Reg(RegDstVPC, vpc).Reg(RegDstSubnet, uint32(s.ID)).EthType(EthIPv4)
	fs := []*Flow{
		{Table: TEgressNACL, Priority: naclSkip, Match: src.IPDst(s.CIDR), Goto: TEgressSG, Category: CatNACL, Owner: owner},
		{Table: TEgressNACL, Priority: naclDeny, Match: src, Actions: drop, Category: CatNACL, Owner: owner},
		{Table: TIngressNACL, Priority: naclSkip, Match: dst.IPSrc(s.CIDR), Goto: TIngressSG, Category: CatNACL, Owner: owner},
		{Table: TIngressNACL, Priority: naclDeny, Match: dst, Actions: drop, Category: CatNACL, Owner: owner},
	}
	for _, r := range s.ACL.Egress {
		fs = append(fs, naclRule(TEgressNACL, TEgressSG, src.IPDst(r.Peer), r, drop)...)
	}
	for _, r := range s.ACL.Ingress {
		fs = append(fs, naclRule(TIngressNACL, TIngressSG, dst.IPSrc(r.Peer), r, drop)...)
	}
	return fs
}

func naclRule(t, next *Table, base Match, r ACLRule, drop []Action) []*Flow {
	var fs []*Flow
	for _, m := range protoMatches(base, r.Proto, r.PortLo, r.PortHi) {
		f := &Flow{Table: t, Priority: naclPrio(r.Number), Match: m, Category: CatNACL, Owner: r.Owner}
		if r.Allow {
			f.Goto = next
		} else {
			f.Actions = drop
		}
		fs = append(fs, f)
	}
	return fs
}

// anyAddr reports whether a prefix matches every address (nothing to match on).
func anyAddr(p netip.Prefix) bool { return !p.IsValid() || p.Bits() == 0 }

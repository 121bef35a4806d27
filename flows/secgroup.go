package flows

import (
	"hash/fnv"
	"net/netip"
	"strings"
)

// Security group priorities: an allow that needs one field only is a plain
// flow (sgDirect); rules of several fields are conjunctive matches whose
// clause flows and conj_id flow sit at sgConj. Nothing else is allowed: the
// table-miss drops.
const (
	sgDirect uint16 = PrioHigh
	sgConj   uint16 = PrioNormal
)

// conjIDs hands out conjunction ids, unique over the whole flow set and
// stable: derived from the rule's path, probing past collisions.
type conjIDs map[uint32]string

func (c conjIDs) id(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	id := h.Sum32()
	for {
		if id == 0 {
			id = 1
		}
		if prev, used := c[id]; !used || prev == key {
			c[id] = key
			return id
		}
		id++
	}
}

// flowMerger keeps one flow per slot, so that several rules needing the same
// match share it: their conjunction actions and owners are merged.
type flowMerger struct {
	byKey map[string]*merged
	order []*merged
}

type merged struct {
	f      *Flow
	owners []string
	seen   map[string]bool
}

func (fm *flowMerger) add(t *Table, prio uint16, m Match, a *Action, goto_ *Table, owner string) {
	key := t.Name + "/" + itoa(uint64(prio)) + "/" + m.String()
	e, ok := fm.byKey[key]
	if !ok {
		e = &merged{f: &Flow{Table: t, Priority: prio, Match: m, Goto: goto_, Category: CatSecurityGroup}, seen: map[string]bool{}}
		if fm.byKey == nil {
			fm.byKey = map[string]*merged{}
		}
		fm.byKey[key] = e
		fm.order = append(fm.order, e)
	}
	if a != nil {
		e.f.Actions = append(e.f.Actions, *a)
	}
	if !e.seen[owner] {
		e.seen[owner] = true
		e.owners = append(e.owners, owner)
	}
}

func (fm *flowMerger) flows() []*Flow {
	out := make([]*Flow, len(fm.order))
	for i, e := range fm.order {
		e.f.Owner = strings.Join(e.owners, ", ")
		out[i] = e.f
	}
	return out
}

// groupMembers indexes every VPC's groups: VPC name -> group -> instances.
type groupMembers map[string]map[string][]*Instance

// vpcIDs maps VPC names to their ids, for rules naming another VPC's group.
type vpcIDs map[string]uint16

func indexVPCs(t *Topology) vpcIDs {
	ids := vpcIDs{}
	for _, v := range t.VPCs {
		ids[v.Name] = v.ID
	}
	return ids
}

func indexMembers(t *Topology) groupMembers {
	gm := groupMembers{}
	for vi := range t.VPCs {
		v := &t.VPCs[vi]
		m := map[string][]*Instance{}
		for si := range v.Subnets {
			for ii := range v.Subnets[si].Instances {
				in := &v.Subnets[si].Instances[ii]
				for _, g := range in.Groups {
					m[g] = append(m[g], in)
				}
			}
		}
		gm[v.Name] = m
	}
	return gm
}

// securityGroupFlows compile a VPC's groups. A rule costs members + peers +
// port blocks flows (one conjunctive match), never their product.
func securityGroupFlows(v *VPC, all groupMembers, vpcs vpcIDs, ids conjIDs) []*Flow {
	members := all[v.Name]
	var fm flowMerger
	for _, g := range v.SecurityGroups {
		for _, r := range g.Ingress {
			sgRule(&fm, ids, v, TIngressSG, TCtCommit, RegDstPort, true, members[g.Name], all, vpcs, r)
		}
		for _, r := range g.Egress {
			sgRule(&fm, ids, v, TEgressSG, TIngressNACL, RegSrcPort, false, members[g.Name], all, vpcs, r)
		}
	}
	return fm.flows()
}

// sgRule adds one rule: clause 1 is "the packet is to/from a member's port",
// clause 2 "the peer address is in the CIDR or a peer group member's", clause 3
// "protocol and port". Clauses that match everything are left out; with one
// clause left the rule is plain flows.
func sgRule(fm *flowMerger, ids conjIDs, v *VPC, t, next *Table, portReg RegField, ingress bool, mine []*Instance, all groupMembers, vpcs vpcIDs, r SGRule) {
	if len(mine) == 0 {
		return
	}
	// Peer and protocol clauses carry the VPC: two VPCs may use the same
	// addresses, and their rules must never share a flow. Ingress rules key
	// on the destination's VPC, egress on the source's (they differ across a peering).
	vpcReg := RegVPC
	if ingress {
		vpcReg = RegDstVPC
	}
	ip := Match{}.Reg(vpcReg, uint32(v.ID)).EthType(EthIPv4)
	peerMatch := func(p netip.Prefix) Match {
		if ingress {
			return ip.IPSrc(p)
		}
		return ip.IPDst(p)
	}
	var clauses [][]Match
	var own []Match
	for _, in := range mine {
		own = append(own, Match{}.EthType(EthIPv4).Reg(portReg, in.Port))
	}
	clauses = append(clauses, own)
	switch {
	case r.PeerGroup != "":
		var peers []Match
		// A group of a peered VPC (VPC/NAME) is that VPC's members. Their
		// addresses alone do not say it: another VPC peered with this one may
		// use the same ones, so the peer side's VPC register must be the
		// group's VPC too (the source's for ingress, the destination's for egress).
		peerVPC := r.PeerVPC
		if peerVPC == "" {
			peerVPC = v.Name
		}
		peerReg := RegDstVPC
		if ingress {
			peerReg = RegVPC
		}
		for _, in := range all[peerVPC][r.PeerGroup] {
			peers = append(peers, peerMatch(netip.PrefixFrom(in.IP, 32)).Reg(peerReg, uint32(vpcs[peerVPC])))
		}
		if len(peers) == 0 {
			return // an empty group matches nobody
		}
		clauses = append(clauses, peers)
	case !anyAddr(r.Peer):
		clauses = append(clauses, []Match{peerMatch(r.Peer)})
	}
	if r.Proto != "all" && r.Proto != "" {
		clauses = append(clauses, protoMatches(ip, r.Proto, r.PortLo, r.PortHi))
	}
	if len(clauses) == 1 {
		for _, m := range clauses[0] {
			fm.add(t, sgDirect, m, nil, next, r.Owner)
		}
		return
	}
	id := ids.id(t.Name + "/" + r.Owner)
	n := uint8(len(clauses))
	for k, cl := range clauses {
		for _, m := range cl {
			a := Conjunction(id, uint8(k+1), n)
			fm.add(t, sgConj, m, &a, nil, r.Owner)
		}
	}
	fm.add(t, sgConj, Match{}.ConjID(id), nil, next, r.Owner)
}

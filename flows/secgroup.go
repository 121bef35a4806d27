package flows

import (
	"cmp"
	"hash/fnv"
	"net/netip"
	"slices"
	"sort"
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
// stable: hashed from the rule's identity (see sgKey), probing past
// collisions. Keys are given ids in sorted order, so which of two colliding
// keys probes on depends on the keys only, never on the order of the file.
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
}

// entry finds or makes the flow of a slot.
func (fm *flowMerger) entry(t *Table, prio uint16, m Match, goto_ *Table) *merged {
	key := t.Name + "/" + itoa(uint64(prio)) + "/" + m.String()
	e, ok := fm.byKey[key]
	if !ok {
		e = &merged{f: &Flow{Table: t, Priority: prio, Match: m, Goto: goto_, Category: CatSecurityGroup}}
		if fm.byKey == nil {
			fm.byKey = map[string]*merged{}
		}
		fm.byKey[key] = e
		fm.order = append(fm.order, e)
	}
	return e
}

func (e *merged) own(owner string) {
	if n := len(e.owners); n == 0 || e.owners[n-1] != owner {
		e.owners = append(e.owners, owner)
	}
}

// flows are the merged flows. A flow shared by several rules lists their
// conjunction actions sorted by id (then clause) and once each, so that
// reordering rules or groups, or repeating a rule, changes no flow's text.
func (fm *flowMerger) flows() []*Flow {
	out := make([]*Flow, len(fm.order))
	for i, e := range fm.order {
		f := e.f
		if len(f.Actions) > 1 {
			slices.SortFunc(f.Actions, func(a, b Action) int {
				if c := cmp.Compare(a.conj.id, b.conj.id); c != 0 {
					return c
				}
				return cmp.Compare(a.conj.k, b.conj.k)
			})
			f.Actions = slices.CompactFunc(f.Actions, func(a, b Action) bool { return a.conj == b.conj })
		}
		f.Owner = strings.Join(e.owners, ", ")
		out[i] = f
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

// sgCompiler compiles the security groups of every VPC. Rules are planned
// first, then conjunction ids are given to their keys in sorted order, then
// flows are made: no rule's id depends on where it stands in the file.
//
// A clause (a group's members, a peer group's addresses, a CIDR, a protocol
// and port range) is made once and shared by every rule that has it: a group
// of a hundred rules over a thousand members builds its thousand member
// matches once, and each rule only adds its conjunction action to them.
type sgCompiler struct {
	members groupMembers
	vpcs    vpcIDs
	plans   []sgPlan
	clauses map[clauseKey]*clause
	fm      flowMerger
}

// clauseKey names a clause: its kind and what its matches are made of.
type clauseKey struct {
	kind    byte // 'm' members, 'g' peer group, 'c' CIDR, 'p' protocol
	ingress bool
	vpc     string
	a, b    string // group; peer VPC and group; protocol
	peer    netip.Prefix
	lo, hi  uint16
}

// clause is one part of a conjunctive match: its matches, and once a rule
// uses it, their flows.
type clause struct {
	matches []Match
	entries []*merged
}

// sgPlan is one rule, ready to become flows: its clauses (see plan) and,
// when it needs a conjunctive match, the key its conjunction id is hashed from.
type sgPlan struct {
	t, next *Table
	owner   string
	key     string
	clauses []*clause
}

func newSGCompiler(t *Topology) *sgCompiler {
	return &sgCompiler{members: indexMembers(t), vpcs: indexVPCs(t), clauses: map[clauseKey]*clause{}}
}

// addVPC plans a VPC's groups. A rule costs members + peers + port blocks
// flows (one conjunctive match), never their product.
func (c *sgCompiler) addVPC(v *VPC) {
	for _, g := range v.SecurityGroups {
		for _, r := range g.Ingress {
			c.plan(v, g.Name, TIngressSG, TCtCommit, true, r)
		}
		for _, r := range g.Egress {
			c.plan(v, g.Name, TEgressSG, TIngressNACL, false, r)
		}
	}
}

// sgKey is a rule's identity: its table, VPC and group, and its canonical
// content (protocol, port range, peer CIDR or peer group with its VPC). Never
// its place in the list: removing ingress[0] must not renumber the others.
// Two identical rules of one group have one key: one conjunction.
func sgKey(t *Table, v *VPC, group string, r SGRule) string {
	var b strings.Builder
	b.WriteString(t.Name + "|" + v.Name + "|" + group + "|")
	proto := r.Proto
	if proto == "" {
		proto = "all"
	}
	b.WriteString(proto)
	if (proto == "tcp" || proto == "udp") && !anyPort(r.PortLo, r.PortHi) {
		b.WriteString(":" + itoa(uint64(r.PortLo)) + "-" + itoa(uint64(r.PortHi)))
	}
	b.WriteByte('|')
	switch {
	case r.PeerGroup != "":
		peerVPC := r.PeerVPC
		if peerVPC == "" {
			peerVPC = v.Name
		}
		b.WriteString("group:" + peerVPC + "/" + r.PeerGroup)
	case anyAddr(r.Peer):
		b.WriteString("any")
	default:
		b.WriteString(r.Peer.Masked().String())
	}
	return b.String()
}

// anyPort says whether a port range is every port.
func anyPort(lo, hi uint16) bool { return lo == 0 && hi == 0 || lo <= 1 && hi == 65535 }

// clause finds or makes a clause; make builds its matches the first time.
func (c *sgCompiler) clause(k clauseKey, make func() []Match) *clause {
	cl, ok := c.clauses[k]
	if !ok {
		cl = &clause{matches: make()}
		c.clauses[k] = cl
	}
	return cl
}

// plan adds one rule: clause 1 is "the packet is to/from a member's port",
// clause 2 "the peer address is in the CIDR or a peer group member's", clause 3
// "protocol and port". Clauses that match everything are left out; with one
// clause left the rule is plain flows.
func (c *sgCompiler) plan(v *VPC, group string, t, next *Table, ingress bool, r SGRule) {
	mine := c.members[v.Name][group]
	if len(mine) == 0 {
		return
	}
	// Peer and protocol clauses carry the VPC: two VPCs may use the same
	// addresses, and their rules must never share a flow. Ingress rules key
	// on the destination's VPC, egress on the source's (they differ across a peering).
	vpcReg, portReg := RegVPC, RegSrcPort
	if ingress {
		vpcReg, portReg = RegDstVPC, RegDstPort
	}
	ip := func() Match { return Match{}.Reg(vpcReg, uint32(v.ID)).EthType(EthIPv4) }
	peerMatch := func(base Match, p netip.Prefix) Match {
		if ingress {
			return base.IPSrc(p)
		}
		return base.IPDst(p)
	}
	clauses := []*clause{c.clause(clauseKey{kind: 'm', ingress: ingress, vpc: v.Name, a: group}, func() []Match {
		own := make([]Match, len(mine))
		for i, in := range mine {
			own[i] = Match{}.EthType(EthIPv4).Reg(portReg, in.Port)
		}
		return own
	})}
	switch {
	case r.PeerGroup != "":
		// A group of a peered VPC (VPC/NAME) is that VPC's members. Their
		// addresses alone do not say it: another VPC peered with this one may
		// use the same ones, so the peer side's VPC register must be the
		// group's VPC too (the source's for ingress, the destination's for egress).
		peerVPC := r.PeerVPC
		if peerVPC == "" {
			peerVPC = v.Name
		}
		peers := c.members[peerVPC][r.PeerGroup]
		if len(peers) == 0 {
			return // an empty group matches nobody
		}
		clauses = append(clauses, c.clause(clauseKey{kind: 'g', ingress: ingress, vpc: v.Name, a: peerVPC, b: r.PeerGroup}, func() []Match {
			peerReg := RegDstVPC
			if ingress {
				peerReg = RegVPC
			}
			base := ip().Reg(peerReg, uint32(c.vpcs[peerVPC]))
			ms := make([]Match, len(peers))
			for i, in := range peers {
				ms[i] = peerMatch(base, netip.PrefixFrom(in.IP, 32))
			}
			return ms
		}))
	case !anyAddr(r.Peer):
		clauses = append(clauses, c.clause(clauseKey{kind: 'c', ingress: ingress, vpc: v.Name, peer: r.Peer.Masked()}, func() []Match {
			return []Match{peerMatch(ip(), r.Peer)}
		}))
	}
	if r.Proto != "all" && r.Proto != "" {
		clauses = append(clauses, c.clause(clauseKey{kind: 'p', ingress: ingress, vpc: v.Name, a: r.Proto, lo: r.PortLo, hi: r.PortHi}, func() []Match {
			return protoMatches(ip(), r.Proto, r.PortLo, r.PortHi)
		}))
	}
	p := sgPlan{t: t, next: next, owner: r.Owner, clauses: clauses}
	if len(clauses) > 1 {
		p.key = sgKey(t, v, group, r)
	}
	c.plans = append(c.plans, p)
}

// flows gives the conjunction ids and makes the flows of every planned rule.
func (c *sgCompiler) flows() []*Flow {
	var keys []string
	for _, p := range c.plans {
		if p.key != "" {
			keys = append(keys, p.key)
		}
	}
	sort.Strings(keys)
	ids := conjIDs{}
	idOf := make(map[string]uint32, len(keys))
	for _, k := range keys {
		idOf[k] = ids.id(k)
	}
	fm := &c.fm
	for _, p := range c.plans {
		if p.key == "" {
			for _, m := range p.clauses[0].matches {
				fm.entry(p.t, sgDirect, m, p.next).own(p.owner)
			}
			continue
		}
		id := idOf[p.key]
		n := uint8(len(p.clauses))
		for k, cl := range p.clauses {
			if cl.entries == nil {
				// A clause is of one table (its key says ingress or egress):
				// its flows are made once.
				cl.entries = make([]*merged, len(cl.matches))
				for i, m := range cl.matches {
					cl.entries[i] = fm.entry(p.t, sgConj, m, nil)
				}
			}
			a := Conjunction(id, uint8(k+1), n)
			for _, e := range cl.entries {
				e.f.Actions = append(e.f.Actions, a)
				e.own(p.owner)
			}
		}
		fm.entry(p.t, sgConj, Match{}.ConjID(id), p.next).own(p.owner)
	}
	return fm.flows()
}

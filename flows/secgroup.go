package flows

import (
	"encoding/binary"
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
	byKey map[slotKey]*merged
	order []*merged
}

type slotKey struct {
	t     *Table
	prio  uint16
	match string
}

// merged is a flow being built. A clause flow gets its conjunctions and
// owners from the clauses it belongs to; another flow (a plain allow, a
// conj_id flow) has owners of its own (indexes of the rules' plans).
type merged struct {
	f       *Flow
	clauses []*clause
	owners  []int32
}

// entry finds or makes the flow of a slot.
func (fm *flowMerger) entry(t *Table, prio uint16, m Match, goto_ *Table) *merged {
	key := slotKey{t, prio, m.String()}
	e, ok := fm.byKey[key]
	if !ok {
		e = &merged{f: &Flow{Table: t, Priority: prio, Match: m, Goto: goto_, Category: CatSecurityGroup, matchText: key.match}}
		if fm.byKey == nil {
			fm.byKey = map[slotKey]*merged{}
		}
		fm.byKey[key] = e
		fm.order = append(fm.order, e)
	}
	return e
}

func (e *merged) own(plan int32) {
	if n := len(e.owners); n == 0 || e.owners[n-1] != plan {
		e.owners = append(e.owners, plan)
	}
}

// flows are the merged flows. A flow shared by several rules lists their
// conjunction actions sorted by id (then clause) and once each, so that
// reordering rules or groups, or repeating a rule, changes no flow's text.
// Its owner lists the rules' paths in the order of the file. Flows of the
// same clauses (the members of the same groups) share one action list and
// one owner string, made once.
func (fm *flowMerger) flows(plans []sgPlan) []*Flow {
	out := make([]*Flow, len(fm.order))
	type shared struct {
		actions []Action
		owner   string
	}
	memo := map[string]shared{}
	var names []string
	var key []byte
	var conjs []uint64
	var owners []int32
	for i, e := range fm.order {
		f := e.f
		key = key[:0]
		for _, cl := range e.clauses {
			key = binary.AppendUvarint(key, uint64(cl.idx))
		}
		sh, ok := memo[string(key)]
		if !ok || len(e.clauses) == 0 {
			conjs, owners = conjs[:0], append(owners[:0], e.owners...)
			for _, cl := range e.clauses {
				conjs = append(conjs, cl.conjs...)
				owners = append(owners, cl.owners...)
			}
			slices.Sort(conjs)
			conjs = slices.Compact(conjs)
			slices.Sort(owners)
			owners = slices.Compact(owners)
			if len(conjs) > 0 {
				sh.actions = make([]Action, len(conjs))
				for j, c := range conjs {
					sh.actions[j] = Conjunction(uint32(c>>16), uint8(c>>8), uint8(c))
				}
			}
			names = names[:0]
			for _, p := range owners {
				names = append(names, plans[p].owner)
			}
			sh.owner = strings.Join(names, ", ")
			if len(e.clauses) > 0 {
				memo[string(key)] = sh
			}
		}
		f.Actions, f.Owner = sh.actions, sh.owner
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
// uses it, their flows, and the conjunctions (id<<16 | k<<8 | n) and owners
// (plan indexes) of the rules using it, which its flows get at the end.
type clause struct {
	idx     int
	matches []Match
	entries []*merged
	conjs   []uint64
	owners  []int32
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
		cl = &clause{idx: len(c.clauses), matches: make()}
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
	fm.byKey = make(map[slotKey]*merged, 2*len(c.plans))
	for pi, p := range c.plans {
		pi := int32(pi)
		if p.key == "" {
			for _, m := range p.clauses[0].matches {
				fm.entry(p.t, sgDirect, m, p.next).own(pi)
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
					e := fm.entry(p.t, sgConj, m, nil)
					if !slices.Contains(e.clauses, cl) { // two clauses may share matches
						e.clauses = append(e.clauses, cl)
					}
					cl.entries[i] = e
				}
			}
			cl.conjs = append(cl.conjs, uint64(id)<<16|uint64(k+1)<<8|uint64(n))
			if o := len(cl.owners); o == 0 || cl.owners[o-1] != pi {
				cl.owners = append(cl.owners, pi)
			}
		}
		fm.entry(p.t, sgConj, Match{}.ConjID(id), p.next).own(pi)
	}
	return fm.flows(c.plans)
}

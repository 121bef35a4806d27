// Package reach decides, on the topology model alone, what happens to a
// packet as AWS would (and as vpcctl's pipeline does): port security, the
// route table entry, the network ACL rules, the security group rules, NAT,
// peering and delivery, each step naming the config object that decided.
package reach

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/vpcctl/vpcctl/config"
)

// Packet is an IPv4 packet as the model follows it.
type Packet struct {
	Proto            string // tcp | udp | icmp
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // tcp and udp only
}

func (p Packet) String() string {
	if p.Proto == config.ProtoICMP {
		return fmt.Sprintf("icmp %s -> %s", p.Src, p.Dst)
	}
	return fmt.Sprintf("%s %s:%d -> %s:%d", p.Proto, p.Src, p.SrcPort, p.Dst, p.DstPort)
}

// reply is the answer to p: addresses and ports swapped.
func (p Packet) reply() Packet {
	return Packet{Proto: p.Proto, Src: p.Dst, Dst: p.Src, SrcPort: p.DstPort, DstPort: p.SrcPort}
}

// Endpoint is where a packet starts or ends: an instance, an external host,
// the VPC router (ping of a .1), the external gateway, or the host port.
type Endpoint struct {
	Kind     string // instance | host | router | gateway | host-port | appliance
	Name     string
	VPC      *config.VPC
	Subnet   *config.Subnet
	Instance *config.Instance
	Host     *config.Host
}

func (e *Endpoint) String() string {
	if e == nil {
		return "-"
	}
	switch e.Kind {
	case "instance", "appliance":
		return e.Kind + " " + e.Name
	case "host":
		return "external host " + e.Name
	}
	return e.Name
}

// IP is the endpoint's own address (instances: private IP).
func (e *Endpoint) IP() netip.Addr {
	switch {
	case e.Instance != nil:
		return e.Instance.Addr
	case e.Host != nil:
		return e.Host.Addr
	}
	return netip.Addr{}
}

// Step is one decision of the model, in packet order.
type Step struct {
	Stage  string `json:"stage"`  // port-security | route | egress-nacl | egress-sg | ingress-nacl | ingress-sg | nat | delivery
	Object string `json:"object"` // the config object (field path) that decided
	Line   int    `json:"line,omitempty"`
	Detail string `json:"detail"`
	Drop   bool   `json:"drop,omitempty"`
}

func (s Step) String() string {
	obj := s.Object
	if s.Line > 0 {
		obj += fmt.Sprintf(" (line %d)", s.Line)
	}
	verdict := "pass"
	if s.Drop {
		verdict = "DROP"
	}
	return fmt.Sprintf("%-12s %-4s %s: %s", s.Stage, verdict, obj, s.Detail)
}

// Hop is one direction of a connection through the model.
type Hop struct {
	Packet    Packet    `json:"packet"` // as sent
	Reply     bool      `json:"reply"`  // the answer of a tracked connection
	Steps     []Step    `json:"steps"`
	Accepted  bool      `json:"accepted"`
	To        *Endpoint `json:"-"`         // where it was delivered (nil when dropped)
	Delivered Packet    `json:"delivered"` // as it arrived (after NAT)
	nats      []natRecord
}

// Decider is the step that decided the hop: the dropping one, or the delivery.
func (h *Hop) Decider() Step {
	if len(h.Steps) == 0 {
		return Step{}
	}
	return h.Steps[len(h.Steps)-1]
}

func (h *Hop) pass(stage, object string, line int, format string, args ...any) {
	h.Steps = append(h.Steps, Step{Stage: stage, Object: object, Line: line, Detail: fmt.Sprintf(format, args...)})
}

func (h *Hop) drop(stage, object string, line int, format string, args ...any) {
	h.Steps = append(h.Steps, Step{Stage: stage, Object: object, Line: line, Detail: fmt.Sprintf(format, args...), Drop: true})
	h.Accepted = false
}

func (h *Hop) deliver(to *Endpoint, p Packet, detail string) {
	h.Steps = append(h.Steps, Step{Stage: "delivery", Object: objectOf(to), Line: lineOf(to), Detail: detail})
	h.Accepted, h.To, h.Delivered = true, to, p
}

// natRecord is a translation the request made, reversed for its reply.
type natRecord struct {
	vpc             string
	public, private netip.Addr
	dnat            bool // elastic IP inbound (else: source NAT going out)
}

// Model evaluates packets on one validated topology.
type Model struct {
	t *config.Topology
}

// New returns the model of a validated topology (addresses allocated).
func New(t *config.Topology) *Model { return &Model{t: t} }

// Endpoint resolves a name: an instance or an external host.
func (m *Model) Endpoint(name string) (*Endpoint, bool) {
	if r, ok := m.t.Instance(name); ok {
		return &Endpoint{Kind: "instance", Name: name, VPC: r.VPC, Subnet: r.Subnet, Instance: r.Instance}, true
	}
	if h := m.t.Host(name); h != nil {
		return &Endpoint{Kind: "host", Name: name, Host: h}, true
	}
	return nil, false
}

// Conn is a connection attempt: the request and, when it was delivered to
// the peer that answers, the reply.
type Conn struct {
	From    *Endpoint `json:"-"`
	Request Hop       `json:"request"`
	Reply   *Hop      `json:"reply,omitempty"`
}

// Reachable says whether the connection works both ways.
func (c *Conn) Reachable() bool {
	return c.Request.Accepted && c.Reply != nil && c.Reply.Accepted
}

// Decider is the step that decided the connection: the dropping step of
// the request or of the reply, else the request's delivery.
func (c *Conn) Decider() Step {
	if !c.Request.Accepted || c.Reply == nil || c.Reply.Accepted {
		return c.Request.Decider()
	}
	return c.Reply.Decider()
}

// Connect follows a new connection from an endpoint to dst and its reply.
func (m *Model) Connect(from *Endpoint, p Packet) *Conn {
	c := &Conn{From: from, Request: m.Send(from, p, false, nil)}
	req := &c.Request
	if !req.Accepted {
		return c
	}
	switch req.To.Kind {
	case "appliance":
		return c // what the appliance does next is its own software's business
	case "router", "gateway":
		// Answered in place by flows: the reply leaves where the request came in.
		r := Hop{Packet: req.Delivered.reply(), Reply: true, Accepted: true, To: from, Delivered: req.Delivered.reply()}
		r.Steps = []Step{{Stage: "delivery", Object: objectOf(from), Line: lineOf(from), Detail: "echo reply made by the flow that answered"}}
		c.Reply = &r
		return c
	}
	r := m.Send(req.To, req.Delivered.reply(), true, req.nats)
	c.Reply = &r
	return c
}

// Send follows one packet sent by from. reply marks the answer of a tracked
// connection (groups let it pass; NACLs still apply), and nats are the
// translations of that connection.
func (m *Model) Send(from *Endpoint, p Packet, reply bool, nats []natRecord) Hop {
	h := Hop{Packet: p, Reply: reply, nats: nats}
	switch from.Kind {
	case "instance", "appliance":
		in := from.Instance
		if p.Src != in.Addr && in.CheckSourceDest() {
			h.drop("port-security", instancePath(from), in.Pos.Line(), "source %s is not the instance's own address %s (source_dest_check)", p.Src, in.Addr)
			return h
		}
		h.pass("port-security", instancePath(from), in.Pos.Line(), "source %s and the instance's MAC are its own", p.Src)
		m.fromInstance(&h, from, p)
	case "host":
		if p.Src != from.Host.Addr {
			h.drop("port-security", hostPath(from.Host), from.Host.Pos.Line(), "source %s is not the host's address", p.Src)
			return h
		}
		h.pass("port-security", hostPath(from.Host), from.Host.Pos.Line(), "source is the host's own address")
		m.onExternal(&h, p)
	default:
		h.drop("port-security", from.Name, 0, "cannot send from %s", from)
	}
	return h
}

// fromInstance routes a packet an instance sent, in its VPC router.
func (m *Model) fromInstance(h *Hop, from *Endpoint, p Packet) {
	v, sn := from.VPC, from.Subnet
	for _, s := range v.Subnets {
		if p.Dst == s.RouterIP() {
			if p.Proto == config.ProtoICMP {
				h.deliver(&Endpoint{Kind: "router", Name: "router " + s.RouterIP().String(), VPC: v, Subnet: s}, p, "the VPC router answers ping of each subnet's .1")
			} else {
				h.drop("route", vpcPath(v)+".local-route", v.Pos.Line(), "%s is the VPC router's address: only ping is answered", p.Dst)
			}
			return
		}
	}
	if v.Prefix.Contains(p.Dst) {
		to := m.instanceAt(v, p.Dst)
		if to == nil {
			h.drop("route", vpcPath(v)+".local-route", v.Pos.Line(), "local route %s: no instance has %s", v.Prefix, p.Dst)
			return
		}
		how := "local route " + v.Prefix.String()
		if sn.Prefix.Contains(p.Dst) {
			how = "same subnet " + sn.Prefix.String()
		}
		h.pass("route", vpcPath(v)+".local-route", v.Pos.Line(), "%s -> %s", how, to.Name)
		m.inside(h, from, to, p)
		return
	}
	rt := sn.Table
	r := lpm(rt, p.Dst)
	if r == nil {
		h.drop("route", rtPath(v, rt), rtLine(rt), "route table %s has no route to %s", rt.Name, p.Dst)
		return
	}
	rdesc := fmt.Sprintf("route table %s: %s via %s", rt.Name, r.Dest, r.Via)
	switch r.Kind {
	case config.ViaInstance:
		ap := v.Instance(r.Target)
		if ap == nil || ap.CheckSourceDest() {
			h.drop("route", r.Pos.Path(), r.Pos.Line(), "%s: the appliance checks source/destination (source_dest_check: true) and would not accept the packet", rdesc)
			return
		}
		h.pass("route", r.Pos.Path(), r.Pos.Line(), "%s (handed over unchanged)", rdesc)
		to := &Endpoint{Kind: "appliance", Name: ap.Name, VPC: v, Subnet: v.Subnet(ap.Subnet), Instance: ap}
		m.inside(h, from, to, p)
	case config.ViaPeering:
		peer := m.peerOf(v, r.Target)
		var to *Endpoint
		if peer != nil {
			to = m.instanceAt(peer, p.Dst)
		}
		if to == nil {
			h.drop("route", r.Pos.Path(), r.Pos.Line(), "%s: no instance of the peer VPC has %s (peering is not transitive)", rdesc, p.Dst)
			return
		}
		h.pass("route", r.Pos.Path(), r.Pos.Line(), "%s -> %s in VPC %s", rdesc, to.Name, peer.Name)
		m.inside(h, from, to, p)
	case config.ViaInternetGateway, config.ViaNATGateway:
		h.pass("route", r.Pos.Path(), r.Pos.Line(), "%s", rdesc)
		if !m.securityOut(h, from, p) {
			return
		}
		p2, ok := m.gatewayOut(h, from, r, p)
		if !ok {
			return
		}
		m.onExternal(h, p2)
	default:
		h.drop("route", r.Pos.Path(), r.Pos.Line(), "%s: unknown target", rdesc)
	}
}

// inside applies the stages between two instances (or an appliance) of
// VPCs joined by the local route or a peering, then delivers.
func (m *Model) inside(h *Hop, from, to *Endpoint, p Packet) {
	if !m.securityOut(h, from, p) {
		return
	}
	if !m.securityIn(h, from, to, p) {
		return
	}
	h.deliver(to, p, "delivered to its port")
}

// securityOut is the source side: its subnet's egress NACL and its groups.
func (m *Model) securityOut(h *Hop, from *Endpoint, p Packet) bool {
	if from.Subnet == nil {
		return true // from the external network: no stages on that side
	}
	if !m.nacl(h, from.VPC, from.Subnet, p, false) {
		return false
	}
	return m.groups(h, from, p, false, from.VPC)
}

// securityIn is the destination side: its subnet's ingress NACL and its groups.
func (m *Model) securityIn(h *Hop, from, to *Endpoint, p Packet) bool {
	if !m.nacl(h, to.VPC, to.Subnet, p, true) {
		return false
	}
	var srcVPC *config.VPC
	if from != nil {
		srcVPC = from.VPC
	}
	return m.groups(h, to, p, true, srcVPC)
}

// nacl applies a subnet's network ACL to a packet leaving (egress) or
// entering (ingress) it; traffic that stays inside the subnet skips it.
func (m *Model) nacl(h *Hop, v *config.VPC, s *config.Subnet, p Packet, ingress bool) bool {
	stage, other, dir := "egress-nacl", p.Dst, "egress"
	if ingress {
		stage, other, dir = "ingress-nacl", p.Src, "ingress"
	}
	if s.ACL == nil {
		h.pass(stage, subnetPath(v, s), s.Pos.Line(), "subnet %s has no network ACL: everything passes", s.Name)
		return true
	}
	if s.Prefix.Contains(other) {
		h.pass(stage, aclPath(v, s.ACL), s.ACL.Pos.Line(), "%s stays inside subnet %s: the ACL does not apply", other, s.Name)
		return true
	}
	rules := s.ACL.Egress
	if ingress {
		rules = s.ACL.Ingress
	}
	sorted := append([]*config.ACLRule(nil), rules...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Rule < sorted[j].Rule })
	for _, r := range sorted {
		if !r.Peer.Contains(other) || !protoMatch(r.Protocol, r.PortRange, p) {
			continue
		}
		if r.Allow {
			h.pass(stage, r.Pos.Path(), r.Pos.Line(), "%s rule %d allows %s", s.ACL.Name, r.Rule, ruleText(r.Protocol, r.PortRange, r.Peer.String()))
			return true
		}
		h.drop(stage, r.Pos.Path(), r.Pos.Line(), "%s rule %d denies %s", s.ACL.Name, r.Rule, ruleText(r.Protocol, r.PortRange, r.Peer.String()))
		return false
	}
	h.drop(stage, aclPath(v, s.ACL), s.ACL.Pos.Line(), "%s: no %s rule matches: implicit deny (*)", s.ACL.Name, dir)
	return false
}

// groups applies an instance's security groups: egress for the sender,
// ingress for the receiver. Replies of a tracked connection pass.
func (m *Model) groups(h *Hop, e *Endpoint, p Packet, ingress bool, peerVPC *config.VPC) bool {
	stage, dir := "egress-sg", "egress"
	if ingress {
		stage, dir = "ingress-sg", "ingress"
	}
	in := e.Instance
	path := instancePath(e) + ".security_groups"
	line := in.Pos.KeyLine("security_groups")
	if h.Reply {
		h.pass(stage, path, line, "reply of a tracked connection: groups are stateful")
		return true
	}
	other := p.Dst
	if ingress {
		other = p.Src
	}
	for _, gn := range in.SecurityGroups {
		g := e.VPC.SecurityGroup(gn)
		if g == nil {
			continue
		}
		rules := g.Egress
		if ingress {
			rules = g.Ingress
		}
		for _, r := range rules {
			if !protoMatch(r.Protocol, r.PortRange, p) || !m.sgPeer(r, e.VPC, other, peerVPC, ingress) {
				continue
			}
			peer := r.Peer.String()
			if r.PeerGroup != "" {
				peer = "group " + r.PeerGroup
				if r.PeerVPC != "" && r.PeerVPC != e.VPC.Name {
					peer = "group " + r.PeerVPC + "/" + r.PeerGroup
				}
			}
			implicit := ""
			if r.Implicit {
				implicit = " (implicit rule: the group declares no " + dir + ")"
			}
			h.pass(stage, r.Pos.Path(), r.Pos.Line(), "group %s allows %s%s", g.Name, ruleText(r.Protocol, r.PortRange, peer), implicit)
			return true
		}
	}
	h.drop(stage, path, line, "no %s rule of groups [%s] allows %s", dir, strings.Join(in.SecurityGroups, ", "), p)
	return false
}

// sgPeer says whether a rule's peer (CIDR, or members of a group) covers
// addr. A group's members count only when the packet comes from (ingress)
// or goes to (egress) that group's VPC: another peered VPC may use the same addresses.
func (m *Model) sgPeer(r *config.SGRule, v *config.VPC, addr netip.Addr, peerVPC *config.VPC, ingress bool) bool {
	if r.PeerGroup == "" {
		return !r.Peer.IsValid() || r.Peer.Contains(addr)
	}
	gv := v
	if r.PeerVPC != "" {
		gv = m.t.VPC(r.PeerVPC)
	}
	if gv == nil || peerVPC == nil || peerVPC.Name != gv.Name {
		return false
	}
	for _, i := range gv.Members(r.PeerGroup) {
		if i.Addr == addr {
			return true
		}
	}
	return false
}

// gatewayOut is GatewayOut: the source address translation of a packet
// leaving its VPC. A reply gets its connection's translation reversed.
func (m *Model) gatewayOut(h *Hop, from *Endpoint, r *config.Route, p Packet) (Packet, bool) {
	v, in := from.VPC, from.Instance
	if h.Reply {
		for _, n := range h.nats {
			if n.dnat && n.vpc == v.Name && n.private == p.Src {
				p.Src = n.public
				h.pass("nat", instancePath(from)+".public_ip", in.Pos.KeyLine("public_ip"), "reply: source %s -> %s (the elastic IP's connection)", n.private, n.public)
				return p, true
			}
		}
	}
	if r.Kind == config.ViaNATGateway {
		n := v.NATGateway(r.Target)
		h.pass("nat", natPath(v, n), n.Pos.Line(), "NAT gateway %s: source %s -> %s", n.Name, p.Src, n.PublicAddr)
		h.nats = append(h.nats, natRecord{vpc: v.Name, public: n.PublicAddr, private: p.Src})
		p.Src = n.PublicAddr
		return p, true
	}
	if !in.PublicAddr.IsValid() {
		h.drop("nat", instancePath(from), in.Pos.Line(), "the internet gateway translates only instances with an elastic IP (public_ip); %s has none", in.Name)
		return p, false
	}
	h.pass("nat", instancePath(from)+".public_ip", in.Pos.KeyLine("public_ip"), "elastic IP: source %s -> %s", p.Src, in.PublicAddr)
	h.nats = append(h.nats, natRecord{vpc: v.Name, public: in.PublicAddr, private: p.Src})
	p.Src = in.PublicAddr
	return p, true
}

// onExternal forwards a packet on the external network: to a host, back in
// through a public IP of this bridge, or to the host's port.
func (m *Model) onExternal(h *Hop, p Packet) {
	e := m.t.External
	if e == nil {
		h.drop("external", "external", 0, "the topology has no external network")
		return
	}
	for _, x := range e.Hosts {
		if x.Addr == p.Dst {
			h.deliver(&Endpoint{Kind: "host", Name: x.Name, Host: x}, p, "on the external network")
			return
		}
	}
	if p.Dst == e.GatewayAddr {
		if e.Attach == config.ExternalHost {
			h.deliver(&Endpoint{Kind: "host-port", Name: "host (external.attach)"}, p, "to the host namespace's port holding the gateway address")
		} else if p.Proto == config.ProtoICMP {
			h.deliver(&Endpoint{Kind: "gateway", Name: "external gateway " + p.Dst.String()}, p, "the external gateway answers ping")
		} else {
			h.drop("external", "external.gateway", e.Pos.KeyLine("gateway"), "the external gateway %s answers only ping", p.Dst)
		}
		return
	}
	for _, v := range m.t.VPCs {
		for _, n := range v.NATGateways {
			if n.PublicAddr == p.Dst {
				m.toNATGateway(h, v, n, p)
				return
			}
		}
		for _, in := range v.Instances {
			if in.PublicAddr == p.Dst {
				m.toElasticIP(h, v, in, p)
				return
			}
		}
	}
	if e.Attach == config.ExternalHost {
		h.deliver(&Endpoint{Kind: "host-port", Name: "host (external.attach)"}, p, "no external host has this address: to the host's port")
		return
	}
	h.drop("external", "external", e.Pos.Line(), "no external host or public IP has %s", p.Dst)
}

// toNATGateway is a packet from outside to a NAT gateway's address: only
// replies of the connections it translated get in.
func (m *Model) toNATGateway(h *Hop, v *config.VPC, n *config.NATGateway, p Packet) {
	if h.Reply {
		for _, r := range h.nats {
			if !r.dnat && r.vpc == v.Name && r.public == p.Dst {
				h.pass("nat", natPath(v, n), n.Pos.Line(), "reply to NAT gateway %s: destination %s -> %s", n.Name, p.Dst, r.private)
				p.Dst = r.private
				m.intoVPC(h, v, p)
				return
			}
		}
	}
	h.drop("nat", natPath(v, n), n.Pos.Line(), "NAT gateway %s: a new connection from outside is not translated (nothing opens inward)", n.Name)
}

// toElasticIP is a packet from outside to an instance's elastic IP.
func (m *Model) toElasticIP(h *Hop, v *config.VPC, in *config.Instance, p Packet) {
	r, _ := m.t.Instance(in.Name)
	to := &Endpoint{Kind: "instance", Name: in.Name, VPC: v, Subnet: r.Subnet, Instance: in}
	if h.Reply {
		for _, n := range h.nats {
			if !n.dnat && n.vpc == v.Name && n.public == p.Dst {
				h.pass("nat", instancePath(to)+".public_ip", in.Pos.KeyLine("public_ip"), "reply: destination %s -> %s", p.Dst, n.private)
				p.Dst = n.private
				m.intoVPC(h, v, p)
				return
			}
		}
	}
	h.pass("nat", instancePath(to)+".public_ip", in.Pos.KeyLine("public_ip"), "elastic IP: destination %s -> %s", p.Dst, in.Addr)
	h.nats = append(h.nats, natRecord{vpc: v.Name, public: p.Dst, private: in.Addr, dnat: true})
	p.Dst = in.Addr
	m.intoVPC(h, v, p)
}

// intoVPC delivers a translated packet from outside to the instance it is
// now addressed to: the destination's ingress NACL and groups apply.
func (m *Model) intoVPC(h *Hop, v *config.VPC, p Packet) {
	to := m.instanceAt(v, p.Dst)
	if to == nil {
		h.drop("route", vpcPath(v)+".local-route", v.Pos.Line(), "no instance has %s", p.Dst)
		return
	}
	h.pass("route", vpcPath(v)+".local-route", v.Pos.Line(), "from outside into VPC %s -> %s", v.Name, to.Name)
	if !m.securityIn(h, nil, to, p) {
		return
	}
	h.deliver(to, p, "delivered to its port")
}

// instanceAt finds the instance of a VPC holding an address.
func (m *Model) instanceAt(v *config.VPC, a netip.Addr) *Endpoint {
	for _, in := range v.Instances {
		if in.Addr == a {
			return &Endpoint{Kind: "instance", Name: in.Name, VPC: v, Subnet: v.Subnet(in.Subnet), Instance: in}
		}
	}
	return nil
}

// peerOf is the other VPC of a peering.
func (m *Model) peerOf(v *config.VPC, peering string) *config.VPC {
	p := m.t.Peering(peering)
	if p == nil {
		return nil
	}
	for _, n := range p.VPCs {
		if n != v.Name {
			return m.t.VPC(n)
		}
	}
	return nil
}

// lpm is the table's longest-prefix route to dst, or nil.
func lpm(rt *config.RouteTable, dst netip.Addr) *config.Route {
	if rt == nil {
		return nil
	}
	var best *config.Route
	for _, r := range rt.Routes {
		if r.Dest.Contains(dst) && (best == nil || r.Dest.Bits() > best.Dest.Bits()) {
			best = r
		}
	}
	return best
}

// protoMatch says whether a rule's protocol and port range cover a packet.
func protoMatch(proto string, pr config.PortRange, p Packet) bool {
	switch proto {
	case config.ProtoAll, "":
		return true
	case config.ProtoICMP:
		return p.Proto == config.ProtoICMP
	}
	if proto != p.Proto {
		return false
	}
	return pr.Any() || p.DstPort >= pr.Lo && p.DstPort <= pr.Hi
}

func ruleText(proto string, pr config.PortRange, peer string) string {
	s := proto
	if !pr.Any() {
		if pr.Lo == pr.Hi {
			s += fmt.Sprintf("/%d", pr.Lo)
		} else {
			s += fmt.Sprintf("/%d-%d", pr.Lo, pr.Hi)
		}
	}
	return s + " " + peer
}

func vpcPath(v *config.VPC) string { return "vpcs[" + v.Name + "]" }
func subnetPath(v *config.VPC, s *config.Subnet) string {
	return vpcPath(v) + ".subnets[" + s.Name + "]"
}
func aclPath(v *config.VPC, a *config.NetworkACL) string {
	return vpcPath(v) + ".network_acls[" + a.Name + "]"
}
func groupPath(v *config.VPC, g *config.SecurityGroup) string {
	return vpcPath(v) + ".security_groups[" + g.Name + "]"
}
func natPath(v *config.VPC, n *config.NATGateway) string {
	return vpcPath(v) + ".nat_gateways[" + n.Name + "]"
}
func rtPath(v *config.VPC, rt *config.RouteTable) string {
	if rt == nil {
		return vpcPath(v) + ".route_tables"
	}
	return vpcPath(v) + ".route_tables[" + rt.Name + "]"
}
func rtLine(rt *config.RouteTable) int {
	if rt == nil {
		return 0
	}
	return rt.Pos.Line()
}
func instancePath(e *Endpoint) string { return vpcPath(e.VPC) + ".instances[" + e.Name + "]" }
func hostPath(h *config.Host) string  { return "external.hosts[" + h.Name + "]" }

func objectOf(e *Endpoint) string {
	switch {
	case e.Instance != nil:
		return instancePath(e)
	case e.Host != nil:
		return hostPath(e.Host)
	case e.Subnet != nil:
		return subnetPath(e.VPC, e.Subnet)
	}
	return e.Name
}

func lineOf(e *Endpoint) int {
	switch {
	case e.Instance != nil:
		return e.Instance.Pos.Line()
	case e.Host != nil:
		return e.Host.Pos.Line()
	}
	return 0
}

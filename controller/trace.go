package controller

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/controller/ovsproc"
	"github.com/vpcctl/vpcctl/controller/reach"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// TraceRequest is `vpcctl trace SRC DST ...`.
type TraceRequest struct {
	Bridge  string // "" = the bridge whose topology has SRC
	From    string // instance or external host
	To      string // IP, instance or external host
	Proto   string // tcp | udp | icmp
	Port    uint16 // destination port (tcp, udp)
	SrcPort uint16 // 0 = 40000
	State   string // new (default) | established | reply
}

// TraceHop is one direction of the trace: the model's decisions and what
// ovs-vswitchd does with the same packet.
type TraceHop struct {
	Direction string     `json:"direction"` // request | reply
	Model     reach.Hop  `json:"model"`
	Verdict   string     `json:"model_verdict"` // ACCEPT | DROP
	Decider   reach.Step `json:"decided_by"`
	Flow      string     `json:"dataplane_packet"`
	CtNext    string     `json:"ct_state"`
	Dataplane []DPStep   `json:"dataplane"`
	DPVerdict string     `json:"dataplane_verdict"` // output to PORT | drop | nat (ofproto/trace stops at address translation)
	Agree     bool       `json:"agree"`
	Why       string     `json:"why,omitempty"` // how the two halves were compared
	dp        dpResult
}

// TraceResult is the whole trace: both directions and the verdict.
type TraceResult struct {
	Bridge    string      `json:"bridge"`
	From      string      `json:"from"`
	To        string      `json:"to"`
	Packet    string      `json:"packet"`
	Hops      []*TraceHop `json:"hops"`
	Reachable bool        `json:"reachable"` // the request is delivered and its reply comes back
	Decider   reach.Step  `json:"decided_by"`
	Agree     bool        `json:"agree"` // model and dataplane agree on every hop
	// Warning says why the halves may differ without a bug: the file
	// changed since it was applied.
	Warning string `json:"warning,omitempty"`
	// Note says what this host could not trace (across hosts, a hop sent
	// and decided on another host).
	Note string `json:"note,omitempty"`
}

// Trace follows a packet from an instance or external host through the model
// (which AWS object decides) and through the bridge's real flows
// (ofproto/trace on ovs-vswitchd), and compares the two.
func Trace(ctx context.Context, o Options, req TraceRequest) (*TraceResult, error) {
	o = o.withDefaults()
	db, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	b, t, set, err := bridgeOf(ctx, db, req.Bridge, req.From)
	if err != nil {
		return nil, err
	}
	m := reach.New(t)
	from, _ := m.Endpoint(req.From)
	dst, err := traceDestination(m, from, req.To)
	if err != nil {
		return nil, err
	}
	p := reach.Packet{Proto: req.Proto, Src: from.IP(), Dst: dst}
	if p.Proto != config.ProtoICMP {
		p.SrcPort, p.DstPort = req.SrcPort, req.Port
		if p.SrcPort == 0 {
			p.SrcPort = 40000
		}
	}
	var conn *reach.Conn
	if req.State == "reply" {
		h := m.Send(from, p, true, nil)
		conn = &reach.Conn{From: from, Request: h}
	} else {
		conn = m.Connect(from, p)
	}
	ports, err := listPorts(ctx, db, b.Name)
	if err != nil {
		return nil, err
	}
	att := portsByName(ports)
	res := &TraceResult{Bridge: b.Name, From: req.From, To: req.To, Packet: p.String(), Reachable: conn.Reachable(), Decider: conn.Decider(), Agree: true}
	if fileChanged(b) {
		res.Warning = b.ExternalIDs[keyFile] + " changed since it was last applied: the model follows the file, the dataplane what was applied (apply it first)"
	}
	if req.State == "reply" {
		res.Reachable = conn.Request.Accepted
	}
	// The reply is traced when a port sends it (not when flows answered in place).
	type leg struct {
		dir    string
		h      *reach.Hop
		sender *reach.Endpoint
		ct     string
	}
	hops := []leg{{"request", &conn.Request, from, ctStateFor(req.State, false)}}
	if conn.Reply != nil && conn.Request.To != nil && (conn.Request.To.Kind == "instance" || conn.Request.To.Kind == "host") {
		hops = append(hops, leg{"reply", conn.Reply, conn.Request.To, ctStateFor(req.State, true)})
	}
	for _, x := range hops {
		th := &TraceHop{Direction: x.dir, Model: *x.h, Decider: x.h.Decider(), CtNext: x.ct, Verdict: "DROP"}
		if x.h.Accepted {
			th.Verdict = "ACCEPT"
		}
		var flow string
		var err error
		switch where := hostOf(t, x.sender); {
		case where == "":
			flow, err = dpFlow(t, x.sender, x.h.Packet, x.dir == "reply", att)
		case x.sender.Instance != nil && x.h.Accepted && x.h.To != nil && hostOf(t, x.h.To) == "":
			// Sent on another host, which decided it: here it arrives
			// through the tunnel, to be delivered (and committed).
			flow, err = tunnelFlow(t, x.sender, x.h, att)
		default:
			res.Note = appendNote(res.Note, fmt.Sprintf("the %s is sent and decided on host %s: run trace there", x.dir, where))
			continue
		}
		if err != nil {
			return nil, err
		}
		th.Flow = flow
		args := []string{b.Name, flow}
		for i := 0; i < 6; i++ { // one per conntrack recirculation at most
			args = append(args, "--ct-next", x.ct)
		}
		out, err := ovsproc.Unixctl(ctx, o.RunDir, "ofproto/trace", args...)
		if err != nil {
			return nil, fmt.Errorf("ofproto/trace on ovs-vswitchd: %w", err)
		}
		th.dp = parseOfprotoTrace(out)
		for i := range th.dp.Steps {
			if f := set.Lookup(th.dp.Steps[i].Cookie); f != nil {
				th.dp.Steps[i].Owner = f.Owner
			}
		}
		th.Dataplane = th.dp.Steps
		compareHop(t, th, x.sender, att)
		res.Agree = res.Agree && th.Agree
		res.Hops = append(res.Hops, th)
	}
	return res, nil
}

// ctStateFor is the conntrack state ofproto/trace assumes at each ct().
func ctStateFor(state string, reply bool) string {
	switch {
	case reply || state == "reply":
		return "trk,est,rpl"
	case state == "established":
		return "trk,est"
	}
	return "trk,new"
}

// compareHop says whether the dataplane did what the model says.
func compareHop(t *config.Topology, th *TraceHop, sender *reach.Endpoint, att map[string]ovsdb.PortInfo) {
	dp := th.dp
	if len(dp.Steps) == 0 {
		th.DPVerdict = "no flow matched in table 0"
		th.Why = "the bridge has no vpcctl flows for this port (not applied yet, or ovs-vswitchd restarted without a daemon): apply again"
		return
	}
	switch {
	case dp.NAT >= 0:
		nat := dp.Steps[dp.NAT]
		th.DPVerdict = "nat: " + nat.Owner
		th.Why = "ofproto/trace does not translate addresses: compared up to the translation"
		for _, s := range th.Model.Steps {
			if s.Stage != "nat" || s.Object != nat.Owner {
				continue
			}
			if !s.Drop {
				th.Agree = true
				break
			}
			// The model refuses to translate (a new connection to a NAT
			// gateway): untranslated, the dataplane must drop it after the ct().
			th.Agree = dp.Drop
			th.Why = "untranslated after the ct(nat): the dataplane's own verdict counts"
			if dp.Drop {
				last := dp.Steps[len(dp.Steps)-1]
				th.DPVerdict = fmt.Sprintf("drop in %s (%s) after %s", last.Name, orText(last.Owner, "table-miss or fixed flow"), th.DPVerdict)
			}
		}
		if !th.Agree {
			th.Why = "the dataplane translates at " + nat.Owner + ", the model does not"
		}
		return
	case dp.Drop:
		th.DPVerdict = "drop"
		if n := len(dp.Steps); n > 0 {
			last := dp.Steps[n-1]
			th.DPVerdict = fmt.Sprintf("drop in %s (%s)", last.Name, orText(last.Owner, "table-miss or fixed flow"))
		}
		th.Agree = !th.Model.Accepted
	default:
		th.DPVerdict = fmt.Sprintf("output to port %d", dp.OutPort)
		to := th.Model.To
		if !th.Model.Accepted || to == nil {
			th.Agree = false
			break
		}
		remote := to.Kind != "router" && to.Kind != "gateway" && hostOf(t, to) != ""
		switch {
		case !remote && (to.Kind == "router" || to.Kind == "gateway"):
			th.Agree = dp.InPort || dp.OutPort == portOf(sender, att)
			if dp.InPort {
				th.DPVerdict = "answered in place (output to its input port)"
			}
		case remote:
			// On another host: out through the tunnel, to that host.
			h := t.Hypervisor(hostOf(t, to))
			th.DPVerdict = fmt.Sprintf("output to the tunnel (port %d) with tun_dst=%s", dp.OutPort, dp.TunDst)
			th.Agree = dp.OutPort == att[tunnelAttachName].Ofport && dp.OutPort != 0 && dp.TunDst == h.TunnelAddr.String()
			if !th.Agree {
				th.Why = fmt.Sprintf("the model delivers on host %s (%s) through the tunnel: this is a vpcctl bug", h.Name, h.TunnelAddr)
			}
		default:
			want := portOf(to, att)
			th.Agree = want != 0 && dp.OutPort == want
			if p := att[endpointName(to)]; p.Type == attachTrunk { // and with its tag
				th.Agree = th.Agree && dp.VLAN == recordedVLAN(p)
			}
		}
	}
	if !th.Agree && th.Why == "" {
		th.Why = "model and dataplane disagree: this is a vpcctl bug"
	}
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// bridgeOf finds the bridge whose recorded topology has the endpoint, and
// recompiles it (addresses as recorded on the ports).
func bridgeOf(ctx context.Context, db *ovsdb.Client, want, endpoint string) (ovsdb.BridgeInfo, *config.Topology, *flows.Set, error) {
	brs, err := db.ListBridges(ctx)
	if err != nil {
		return ovsdb.BridgeInfo{}, nil, nil, err
	}
	var errs []string
	for _, b := range brs {
		if want != "" && b.Name != want {
			continue
		}
		t, set, err := compiledFromFile(ctx, db, b)
		if err != nil {
			errs = append(errs, b.Name+": "+err.Error())
			continue
		}
		if _, ok := reach.New(t).Endpoint(endpoint); ok {
			return b, t, set, nil
		}
	}
	if want != "" && len(errs) == 0 {
		return ovsdb.BridgeInfo{}, nil, nil, fmt.Errorf("bridge %s has no instance or external host %q", want, endpoint)
	}
	msg := fmt.Sprintf("no vpcctl bridge has an instance or external host %q", endpoint)
	if len(errs) > 0 {
		msg += " (" + strings.Join(errs, "; ") + ")"
	}
	return ovsdb.BridgeInfo{}, nil, nil, fmt.Errorf("%s", msg)
}

// traceDestination is DST as an address: an IP, or an instance (its private
// IP; seen from an external host, its elastic IP), or an external host.
func traceDestination(m *reach.Model, from *reach.Endpoint, to string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(to); err == nil {
		if !a.Is4() {
			return netip.Addr{}, fmt.Errorf("destination %s: only IPv4", to)
		}
		return a, nil
	}
	e, ok := m.Endpoint(to)
	if !ok {
		return netip.Addr{}, fmt.Errorf("destination %q is neither an IPv4 address nor an instance or external host", to)
	}
	return reach.Destination(from, e), nil // from outside, an instance is its elastic IP
}

func portsByName(ports []ovsdb.PortInfo) map[string]ovsdb.PortInfo {
	m := make(map[string]ovsdb.PortInfo, len(ports))
	for _, p := range ports {
		if n := p.ExternalIDs[keyInstance]; n != "" {
			m[n] = p
		}
		if p.ExternalIDs[keyAttach] == attachTrunkPort {
			m[trunkAttachName] = p
		}
		if p.ExternalIDs[keyAttach] == attachTunnel {
			m[tunnelAttachName] = p
		}
	}
	return m
}

// endpointName is the name an endpoint's port is found by (portsByName).
func endpointName(e *reach.Endpoint) string {
	if e.Kind == "host-port" {
		return hostPortName
	}
	return e.Name
}

func portOf(e *reach.Endpoint, att map[string]ovsdb.PortInfo) int {
	name := endpointName(e)
	if att[name].Type == attachTrunk { // leaves through the trunk (with its tag)
		return att[trunkAttachName].Ofport
	}
	return att[name].Ofport
}

// dpFlow is the packet for ofproto/trace as the sender's kernel puts it on
// its port: its own MAC, and the next hop's (the peer on the same subnet,
// else the VPC router; on the external network the host or the gateway).
func dpFlow(t *config.Topology, sender *reach.Endpoint, p reach.Packet, reply bool, att map[string]ovsdb.PortInfo) (string, error) {
	port, ok := att[sender.Name]
	if !ok || port.Ofport <= 0 {
		return "", fmt.Errorf("%s has no port on the bridge (apply first?)", sender)
	}
	src := port.ExternalIDs[keyMAC]
	var dst string
	switch {
	case sender.Instance != nil:
		dst = routerMAC(sender.VPC.Name).String()
		if sender.Subnet.Prefix.Contains(p.Dst) && p.Dst != sender.Subnet.RouterIP() {
			for _, in := range sender.VPC.Instances {
				if in.Addr == p.Dst { // (on another host too: it has no port here)
					dst = host.InstanceMAC(sender.VPC.Name, in.Name).String()
				}
			}
		}
	default:
		dst = externalMAC().String()
		if e := t.External; e != nil && e.Attach == config.ExternalHost {
			dst = att[hostPortName].ExternalIDs[keyMAC]
		}
		if h := hostAt(t, p.Dst); h != "" {
			dst = att[h].ExternalIDs[keyMAC]
		}
	}
	if _, err := net.ParseMAC(dst); err != nil {
		return "", fmt.Errorf("no MAC for the next hop of %s", p)
	}
	f := fmt.Sprintf("in_port=%d,dl_src=%s,dl_dst=%s,", port.Ofport, src, dst)
	if port.Type == attachTrunk { // the trunk, with the sender's tag
		f = fmt.Sprintf("in_port=%d,dl_vlan=%d,dl_src=%s,dl_dst=%s,", att[trunkAttachName].Ofport, recordedVLAN(port), src, dst)
	}
	return f + packetFields(p, reply, 64), nil
}

func hostAt(t *config.Topology, a netip.Addr) string {
	if t.External == nil {
		return ""
	}
	for _, h := range t.External.Hosts {
		if h.Addr == a {
			return h.Name
		}
	}
	return ""
}

// hostOf is the host an endpoint is on when that is not this bridge's host
// ("" when it is here, or the topology spans no hosts): an instance's own,
// the external network's for its hosts and the gateways.
func hostOf(t *config.Topology, e *reach.Endpoint) string {
	if len(t.Hosts) == 0 || e == nil {
		return ""
	}
	if e.Instance != nil {
		if !t.OnThisHost(e.Instance) {
			return e.Instance.Host
		}
		return ""
	}
	if e.VPC == nil && t.External != nil && !t.GatewayHere() { // the external network's
		return t.External.Host
	}
	return ""
}

// tunnelFlow is the packet for ofproto/trace as another host's bridge sends
// it through the tunnel after deciding it: key = the destination's VPC id,
// MACs and TTL as routed there (the sender's own MAC on a shared subnet,
// else the router's).
func tunnelFlow(t *config.Topology, sender *reach.Endpoint, h *reach.Hop, att map[string]ovsdb.PortInfo) (string, error) {
	tun, ok := att[tunnelAttachName]
	to := h.To
	if !ok || tun.Ofport <= 0 {
		return "", fmt.Errorf("no tunnel port on the bridge for %s (apply first?)", sender)
	}
	names := make([]string, len(t.VPCs))
	for i, v := range t.VPCs {
		names[i] = v.Name
	}
	ids := vpcIDs(names)
	var key uint32
	var src, dst string
	ttl := 63
	switch {
	case to.Instance == nil:
		// Out of the VPC through this host's gateways: routed again here,
		// as it left the sender (its MAC, to the router's).
		key = flows.TunToGateway | uint32(ids[sender.VPC.Name])
		src, dst = host.InstanceMAC(sender.VPC.Name, sender.Name).String(), routerMAC(sender.VPC.Name).String()
	default:
		key, dst = uint32(ids[to.VPC.Name]), host.InstanceMAC(to.VPC.Name, to.Name).String()
		switch {
		case sender.VPC != to.VPC: // across a peering: the sender's router
			src = routerMAC(sender.VPC.Name).String()
		case sender.Subnet != to.Subnet:
			src = routerMAC(to.VPC.Name).String()
		default:
			src, ttl = host.InstanceMAC(sender.VPC.Name, sender.Name).String(), 64
		}
	}
	p := h.Packet
	f := fmt.Sprintf("in_port=%d,tun_id=0x%x,tun_src=%s,tun_dst=%s,dl_src=%s,dl_dst=%s,",
		tun.Ofport, key, t.Hypervisor(sender.Instance.Host).TunnelAddr, t.Hypervisor(t.Local).TunnelAddr, src, dst)
	return f + packetFields(p, h.Reply, ttl), nil
}

func appendNote(note, s string) string {
	if note == "" {
		return s
	}
	return note + "; " + s
}

// packetFields is the IP part of an ofproto/trace flow: protocol and ports
// (an echo request, or its reply), addresses and TTL.
func packetFields(p reach.Packet, reply bool, ttl int) string {
	var f string
	switch p.Proto {
	case config.ProtoICMP:
		typ := 8
		if reply {
			typ = 0
		}
		f = "icmp,icmp_type=" + strconv.Itoa(typ) + ",icmp_code=0"
	default:
		f = fmt.Sprintf("%s,tp_src=%d,tp_dst=%d", p.Proto, p.SrcPort, p.DstPort)
	}
	return f + fmt.Sprintf(",nw_src=%s,nw_dst=%s,nw_ttl=%d", p.Src, p.Dst, ttl)
}

package flowlog

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/controller/metrics"
	"github.com/vpcctl/vpcctl/controller/reach"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
)

// Defaults of Options.
const (
	// DefaultControllerRate and DefaultControllerBurst bound the packet-ins
	// of rejected packets (the bridge's controller meter, in the datapath):
	// a flood of rejected packets costs the daemon at most this many per second.
	DefaultControllerRate  = 200
	DefaultControllerBurst = 200
	eventQueue             = 4096 // packet-ins and flow-removed waiting for the collector
)

// Options configure a Collector.
type Options struct {
	Bridge string
	// Dir is where relative destinations go (default: the current directory).
	Dir     string
	Log     *slog.Logger
	Metrics *metrics.Metrics // nil records nothing
	// ControllerRate and ControllerBurst set the controller meter (packets
	// per second, burst in packets); 0 = the defaults.
	ControllerRate, ControllerBurst uint32
}

// Collector is the flow-log part of the daemon. HandleAsync takes the
// switch's packet-ins and flow-removed messages (never blocking: a full
// queue drops them, counted), Update the topology and flows of each apply,
// SetConn the OpenFlow connection; Run does the rest on one goroutine.
type Collector struct {
	o      Options
	events chan []byte
	kick   chan struct{}

	mu      sync.Mutex
	topo    *config.Topology
	set     *flows.Set
	conn    *ofconn.Conn
	changed bool // topo/set/conn changed since Run last looked

	lostEvents uint64 // under mu
}

// New makes a collector; Run starts it.
func New(o Options) *Collector {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ControllerRate == 0 {
		o.ControllerRate = DefaultControllerRate
	}
	if o.ControllerBurst == 0 {
		o.ControllerBurst = DefaultControllerBurst
	}
	return &Collector{o: o, events: make(chan []byte, eventQueue), kick: make(chan struct{}, 1)}
}

// HandleAsync is an ofconn async handler (ofconn.WithAsyncHandler): it
// queues packet-ins and flow-removed messages and never blocks.
func (c *Collector) HandleAsync(msgType uint8, frame []byte) {
	if msgType != ofconn.TypePacketIn && msgType != ofconn.TypeFlowRemoved {
		return
	}
	select {
	case c.events <- frame:
	default:
		c.mu.Lock()
		c.lostEvents++
		c.mu.Unlock()
	}
}

// Update gives the collector the topology and the flow set just applied.
func (c *Collector) Update(t *config.Topology, set *flows.Set) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.topo, c.set, c.changed = t, set, true
	c.mu.Unlock()
	c.poke()
}

// SetConn gives the collector ovs-vswitchd's connection (nil: none).
// Update and SetConn do nothing on a nil collector.
func (c *Collector) SetConn(conn *ofconn.Conn) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.conn, c.changed = conn, true
	c.mu.Unlock()
	c.poke()
}

func (c *Collector) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// iface is an instance with flow logs, by its OpenFlow port.
type iface struct {
	owner  flows.PortOwner
	name   string // OVS port name: the record's interface-id
	vpc    *config.VPC
	subnet *config.Subnet
	inst   *config.Instance
	logs   []*window
}

// run is the state of Run's goroutine.
type run struct {
	c       *Collector
	topo    *config.Topology
	model   *reach.Model
	set     *flows.Set
	conn    *ofconn.Conn
	meterOn *ofconn.Conn // the connection the meter was set on
	ifaces  map[uint32]*iface
	windows map[string]*window // by resolved path
	last    map[flowKey]counts
	// learning are the learning flows' last counts: their packets are the
	// first packets of flows (the learned flow counts from the second).
	learning map[learnGroup]counts
	awaiting map[learnGroup][]newFlow // new flows whose first packets were not credited yet
	lastAt   time.Time                // the previous poll
	started  time.Time                // counting flows older than this were counted by an earlier daemon
}

// flowKey names one learned counting flow: its table's direction, the
// interface's port, and the tuple.
type flowKey struct {
	dir  string
	port uint32
	t    tuple
}

// Run collects and writes records until ctx ends, then writes what it has
// and closes the files.
func (c *Collector) Run(ctx context.Context) {
	now := time.Now()
	r := &run{c: c, windows: map[string]*window{}, last: map[flowKey]counts{}, learning: map[learnGroup]counts{}, ifaces: map[uint32]*iface{}, lastAt: now, started: now}
	tick := time.NewTimer(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush(time.Now(), true)
			for _, w := range r.windows {
				w.w.Close()
				r.count(w)
			}
			return
		case <-c.kick:
			r.refresh()
		case f := <-c.events:
			r.event(f, time.Now())
		case <-tick.C:
			r.refresh()
			now := time.Now()
			r.poll(ctx, now)
			r.flush(now, false)
			tick.Reset(r.period())
		}
	}
}

// period is how often counters are read: half the shortest interval, 1 to
// 5 s (half the counting flows' idle timeout, so that every counting flow is
// read at least once before it expires).
func (r *run) period() time.Duration {
	p := flows.FlowLogIdleTimeout * time.Second / 2
	for _, w := range r.windows {
		p = min(p, time.Duration(w.log.Interval)*time.Second/2)
	}
	return max(p, time.Second)
}

// refresh takes the latest topology, flows and connection.
func (r *run) refresh() {
	c := r.c
	c.mu.Lock()
	changed, topo, set, conn, lost := c.changed, c.topo, c.set, c.conn, c.lostEvents
	c.changed, c.lostEvents = false, 0
	c.mu.Unlock()
	if lost > 0 {
		c.o.Metrics.FlowLogRecords("dropped", int(lost))
		c.o.Log.Warn("flow log events dropped: the collector is behind", "event", "flow_log_dropped", "events", lost)
	}
	if !changed {
		return
	}
	r.conn = conn
	if topo != r.topo || set != r.set {
		r.topo, r.set = topo, set
		r.rebuild()
	}
	if conn != nil && conn != r.meterOn && len(r.ifaces) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := conn.SetMeter(ctx, ofconn.MeterController, c.o.ControllerRate, c.o.ControllerBurst)
		cancel()
		if err != nil {
			c.o.Log.Warn("cannot set the controller meter: rejected packets reach the daemon unlimited", "event", "flow_log_meter", "err", err)
		} else {
			r.meterOn = conn
		}
	}
}

// rebuild maps ports to instances and their flow logs, keeping the windows
// (and their pending records) of flow logs that stay.
func (r *run) rebuild() {
	r.ifaces = map[uint32]*iface{}
	if r.topo == nil || r.set == nil {
		return
	}
	r.model = reach.New(r.topo)
	keep := map[string]*window{}
	for port, o := range r.set.FlowLogPorts {
		v := r.topo.VPC(o.VPC)
		if v == nil {
			continue
		}
		var in *config.Instance
		for _, i := range v.Instances {
			if i.Name == o.Instance {
				in = i
			}
		}
		if in == nil {
			continue
		}
		ifc := &iface{owner: o, name: host.HostVethName(r.topo.Bridge, in.Name), vpc: v, subnet: v.Subnet(in.Subnet), inst: in}
		for _, l := range v.FlowLogsOf(in) {
			path := l.Destination
			if !filepath.IsAbs(path) {
				path = filepath.Join(r.c.o.Dir, path)
			}
			w := keep[path]
			if w == nil {
				w = r.windows[path]
				if w == nil || w.log.Format != l.Format {
					if w != nil {
						r.closeWindow(w)
					}
					w = &window{path: path, start: time.Now(), recs: map[recKey]*Record{}, w: newWriter(path, MaxFileSize, func(err error) {
						r.c.o.Log.Error("cannot write a flow log", "event", "flow_log_write_failed", "file", path, "err", err)
					})}
				}
				w.log = l
				keep[path] = w
			}
			ifc.logs = append(ifc.logs, w)
		}
		r.ifaces[port] = ifc
	}
	for path, w := range r.windows {
		if keep[path] == nil {
			r.closeWindow(w)
		}
	}
	r.windows = keep
}

func (r *run) closeWindow(w *window) {
	r.write(w, w.take(time.Now()))
	w.w.Close()
	r.count(w)
}

// count moves a writer's counters to the metrics.
func (r *run) count(w *window) {
	m := r.c.o.Metrics
	m.FlowLogRecords("written", int(w.w.written.Swap(0)))
	m.FlowLogRecords("dropped", int(w.w.dropped.Swap(0)))
}

// flush writes the records of every window whose interval passed (all
// windows when all is set).
func (r *run) flush(now time.Time, all bool) {
	for _, w := range r.windows {
		if all || w.due(now) {
			r.write(w, w.take(now))
		}
		r.count(w)
	}
}

func (r *run) write(w *window, recs []*Record) {
	for _, rec := range recs {
		w.w.Put(w.line(rec))
	}
}

// learnGroup is what one learning flow covers: a direction, a port, and a
// protocol (6, 17, or 0 for the others).
type learnGroup struct {
	dir   string
	port  uint32
	proto uint8
}

func groupOf(k flowKey) learnGroup {
	g := learnGroup{dir: k.dir, port: k.port}
	if k.t.proto == flows.ProtoTCP || k.t.proto == flows.ProtoUDP {
		g.proto = k.t.proto
	}
	return g
}

// poll reads the counting tables and adds what each learned flow counted
// since the last poll, and the first packets (counted by the learning
// flows) to the flows that appeared since.
func (r *run) poll(ctx context.Context, now time.Time) {
	prev := r.lastAt
	r.lastAt = now
	if r.conn == nil || len(r.ifaces) == 0 {
		return
	}
	var stats []ofconn.FlowStat
	for _, tb := range flows.FlowLogTables {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := r.conn.DumpFlows(dctx, ofconn.FlowFilter{TableID: tb.ID})
		cancel()
		if err != nil {
			r.c.o.Log.Warn("cannot read flow-log counters", "event", "flow_log_poll_failed", "err", err)
			return
		}
		stats = append(stats, st...)
	}
	seen := make(map[flowKey]bool, len(stats))
	firsts := map[learnGroup]counts{} // what each learning flow counted since the last poll
	fresh := map[learnGroup][]newFlow{}
	for _, s := range stats {
		m, err := s.Match()
		if err != nil {
			continue
		}
		if flows.IsOurs(s.Cookie) {
			if g, ok := learnGroupOf(s.TableID, m); ok {
				last, known := r.learning[g]
				r.learning[g] = counts{packets: s.Packets, bytes: s.Bytes}
				if known {
					dp, db := delta(last, s.Packets, s.Bytes)
					firsts[g] = counts{packets: dp, bytes: db}
				}
			}
			continue
		}
		if s.Cookie&flows.FlowLogCookieMask != flows.FlowLogCookie {
			continue
		}
		k, ok := keyOf(s.TableID, m)
		if !ok {
			continue
		}
		seen[k] = true
		created := now.Add(-time.Duration(s.DurationSec) * time.Second)
		if r.read(k, s.Packets, s.Bytes, created, prev, now) {
			since := created
			if prev.After(since) {
				since = prev
			}
			fresh[groupOf(k)] = append(fresh[groupOf(k)], newFlow{k, since})
		}
	}
	for k := range r.last {
		if !seen[k] {
			delete(r.last, k) // gone without a flow-removed (ovs-vswitchd restarted)
		}
	}
	r.firstPackets(firsts, fresh, now)
}

// firstPackets gives the first packets that learning flows counted to the
// flows learned since, shared evenly within a group (exact when one flow of
// a port, direction and protocol appeared, or when all first packets had one
// size, like TCP SYNs). OVS may credit a learning flow a poll later than its
// learned flow appears (the datapath's counts reach OpenFlow rules when a
// revalidator pushes them): new flows that got nothing wait one more poll.
// First packets with no flow to take them (it came and went between two
// polls) are not reported.
func (r *run) firstPackets(firsts map[learnGroup]counts, fresh map[learnGroup][]newFlow, now time.Time) {
	next := map[learnGroup][]newFlow{}
	groups := map[learnGroup]bool{}
	for g := range fresh {
		groups[g] = true
	}
	for g := range r.awaiting {
		groups[g] = true
	}
	for g := range groups {
		waited := len(r.awaiting[g])
		cands := append(append([]newFlow(nil), r.awaiting[g]...), fresh[g]...)
		f := firsts[g]
		n := min(uint64(len(cands)), f.packets)
		for i := uint64(0); i < n; i++ {
			p, b := f.packets/n, f.bytes/n
			if i == 0 {
				p, b = p+f.packets%n, b+f.bytes%n
			}
			nf := cands[i]
			r.emit(nf.k, r.acceptRuleOf(nf.k), p, b, nf.since, now)
		}
		for i := max(int(n), waited); i < len(cands); i++ {
			next[g] = append(next[g], cands[i]) // new in this poll: one more chance
		}
	}
	r.awaiting = next
}

// newFlow is a counting flow first read in this poll, learned at since
// (or before the previous poll, since then).
type newFlow struct {
	k     flowKey
	since time.Time
}

// acceptRuleOf is the rule found when the flow was first read, or found now.
func (r *run) acceptRuleOf(k flowKey) string {
	if c, ok := r.last[k]; ok {
		return c.rule
	}
	return r.acceptRule(k)
}

// learnGroupOf reads a learning flow's group from its table and match.
func learnGroupOf(table uint8, m ofconn.Fields) (learnGroup, bool) {
	g := learnGroup{proto: m.IPProto}
	switch table {
	case flows.TFlowLogEgress.ID:
		g.dir, g.port = Egress, m.Regs[flows.RegSrcPort.Reg]&0xffff
	case flows.TFlowLogIngress.ID:
		g.dir, g.port = Ingress, m.Regs[flows.RegDstPort.Reg]&0xffff
	default:
		return g, false
	}
	return g, m.HasRegs != 0 && !m.IPSrc.IsValid() // a learned flow has addresses
}

// read takes one counting flow's counters, read at now (the previous poll
// was at prev; the flow was learned at created). It reports whether the flow
// is new to this daemon (and not learned before it started).
func (r *run) read(k flowKey, packets, bytes uint64, created, prev, now time.Time) bool {
	_, known := r.last[k]
	if !known && created.Before(r.started.Add(-time.Second)) {
		// Learned before this daemon started: what it counted until now
		// was the previous daemon's to report (or is lost with it); count
		// from here on, never twice.
		r.last[k] = counts{packets: packets, bytes: bytes, at: now, rule: r.acceptRule(k)}
		return false
	}
	from := prev
	if created.After(from) {
		from = created
	}
	r.counted(k, packets, bytes, from, now, false)
	return !known
}

// keyOf reads a counting flow's key from its table and match.
func keyOf(table uint8, m ofconn.Fields) (flowKey, bool) {
	k := flowKey{t: tuple{proto: m.IPProto, src: m.IPSrc, dst: m.IPDst, sport: m.SrcPort, dport: m.DstPort}}
	switch table {
	case flows.TFlowLogEgress.ID:
		k.dir, k.port = Egress, m.Regs[flows.RegSrcPort.Reg]&0xffff
	case flows.TFlowLogIngress.ID:
		k.dir, k.port = Ingress, m.Regs[flows.RegDstPort.Reg]&0xffff
	default:
		return k, false
	}
	return k, k.t.src.IsValid() && k.t.dst.IsValid()
}

// counted adds what a counting flow counted since it was last read.
func (r *run) counted(k flowKey, packets, bytes uint64, from, to time.Time, removed bool) {
	prev, known := r.last[k]
	dp, db := delta(prev, packets, bytes)
	if removed {
		delete(r.last, k)
	} else {
		if !known {
			prev.rule = r.acceptRule(k)
		}
		r.last[k] = counts{packets: packets, bytes: bytes, at: to, rule: prev.rule}
	}
	if dp == 0 {
		return
	}
	if known && prev.at.After(from) {
		from = prev.at
	}
	if removed && prev.rule == "" {
		prev.rule = r.acceptRule(k)
	}
	r.emit(k, prev.rule, dp, db, from, to)
}

// emit adds packets and bytes of an accepted flow, seen between from and
// to, to the records of its interface's flow logs.
func (r *run) emit(k flowKey, rule string, packets, bytes uint64, from, to time.Time) {
	ifc := r.ifaces[k.port]
	if ifc == nil {
		return
	}
	rec := r.record(ifc, k.dir, k.t, Accept, rule)
	for _, w := range ifc.logs {
		if w.log.Accepts() {
			w.add(recKey{ifc.name, k.dir, k.t, Accept}, rec, packets, bytes, from, to, 0)
		}
	}
}

// record is the fixed part of a record of an interface.
func (r *run) record(ifc *iface, dir string, t tuple, action, rule string) *Record {
	rec := &Record{AccountID: r.topo.Bridge, InterfaceID: ifc.name, Src: t.src, Dst: t.dst, SrcPort: t.sport, DstPort: t.dport,
		Protocol: t.proto, Action: action, VPC: ifc.owner.VPC, Subnet: ifc.owner.Subnet, Instance: ifc.owner.Instance,
		Direction: dir, Rule: rule}
	return rec
}

// event handles one packet-in or flow-removed message.
func (r *run) event(f []byte, now time.Time) {
	switch f[1] {
	case ofconn.TypeFlowRemoved:
		fr, err := ofconn.ParseFlowRemoved(f)
		if err != nil || fr.Cookie&flows.FlowLogCookieMask != flows.FlowLogCookie {
			return
		}
		k, ok := keyOf(fr.TableID, fr.Match)
		if !ok {
			return
		}
		// An idle flow's last packet went idle_timeout ago.
		end := now
		if fr.Reason == 0 {
			end = now.Add(-time.Duration(fr.IdleTimeout) * time.Second)
		}
		from := now.Add(-fr.Duration)
		if end.Before(from) {
			end = from
		}
		r.counted(k, fr.Packets, fr.Bytes, from, end, true)
	case ofconn.TypePacketIn:
		p, err := ofconn.ParsePacketIn(f)
		if err != nil {
			return
		}
		r.rejected(p, now)
	}
}

// rejected records a packet a NACL or the security groups dropped.
func (r *run) rejected(p *ofconn.PacketIn, now time.Time) {
	var dir string
	var port uint32
	switch p.TableID {
	case flows.TEgressNACL.ID, flows.TEgressSG.ID:
		dir, port = Egress, p.Match.Regs[flows.RegSrcPort.Reg]&0xffff
	case flows.TIngressNACL.ID, flows.TIngressSG.ID:
		dir, port = Ingress, p.Match.Regs[flows.RegDstPort.Reg]&0xffff
	default:
		return
	}
	ifc := r.ifaces[port]
	if ifc == nil || !ifc.owner.Traffic.Reject {
		return // another instance of a subnet whose NACL logs
	}
	t, flags, ok := parseFrame(p.Data)
	if !ok {
		return
	}
	rec := r.record(ifc, dir, t, Reject, r.rejectRule(p.Cookie, p.TableID, ifc))
	for _, w := range ifc.logs {
		if w.log.Rejects() {
			w.add(recKey{ifc.name, dir, t, Reject}, rec, 1, uint64(p.TotalLen), now, now, flags)
		}
	}
}

// rejectRule names the config object of the flow that dropped a packet: a
// NACL rule, the NACL's implicit deny (rule *), or the instance's groups.
func (r *run) rejectRule(cookie uint64, table uint8, ifc *iface) string {
	f := r.set.Lookup(cookie)
	if f == nil {
		return ""
	}
	if f.Category == flows.CatNACL && !strings.Contains(f.Owner, ".network_acls[") {
		// The implicit deny is the subnet's flow: name the ACL's rule *.
		dir := "ingress"
		if table == flows.TEgressNACL.ID {
			dir = "egress"
		}
		for _, s := range ifc.vpc.Subnets {
			if f.Owner == fmt.Sprintf("vpcs[%s].subnets[%s]", ifc.vpc.Name, s.Name) && s.ACL != nil {
				return s.ACL.Pos.Path() + "." + dir + "[*]"
			}
		}
	}
	return f.Owner
}

// acceptRule is the security group rule that let a counted flow through on
// its interface's side, from the model (the flows that allowed it are
// shared by a group's members and do not count per packet): for a request
// the interface's own rule of its direction; for a reply, the rule that
// let the connection in or out in the first place. A flow the model
// accepts both ways is a request when its source port is the higher one
// (clients use ephemeral ports).
func (r *run) acceptRule(k flowKey) string {
	ifc := r.ifaces[k.port]
	if ifc == nil || r.model == nil {
		return ""
	}
	proto := map[uint8]string{1: config.ProtoICMP, 6: config.ProtoTCP, 17: config.ProtoUDP}[k.t.proto]
	if proto == "" {
		return ""
	}
	stage, other := "egress-sg", "ingress-sg"
	if k.dir == Ingress {
		stage, other = other, stage
	}
	send := func(src, dst netip.Addr, sport, dport uint16) (reach.Hop, bool) {
		from := r.endpointAt(ifc.vpc, src)
		if from == nil {
			return reach.Hop{}, false
		}
		h := r.model.Send(from, reach.Packet{Proto: proto, Src: src, Dst: dst, SrcPort: sport, DstPort: dport}, false, nil)
		return h, h.Accepted
	}
	fwd, fwdOK := send(k.t.src, k.t.dst, k.t.sport, k.t.dport)
	rev, revOK := send(k.t.dst, k.t.src, k.t.dport, k.t.sport)
	switch {
	case fwdOK && (!revOK || k.t.sport >= k.t.dport):
		return stepObject(fwd, stage)
	case revOK:
		return stepObject(rev, other)
	}
	return ""
}

// endpointAt is the instance of v (or of any VPC) or the external host with address a.
func (r *run) endpointAt(v *config.VPC, a netip.Addr) *reach.Endpoint {
	for _, vv := range append([]*config.VPC{v}, r.topo.VPCs...) {
		for _, in := range vv.Instances {
			if in.Addr == a {
				e, _ := r.model.Endpoint(in.Name)
				return e
			}
		}
	}
	if e := r.topo.External; e != nil {
		for _, h := range e.Hosts {
			if h.Addr == a {
				ep, _ := r.model.Endpoint(h.Name)
				return ep
			}
		}
	}
	return nil
}

func stepObject(h reach.Hop, stage string) string {
	for _, s := range h.Steps {
		if s.Stage == stage {
			return s.Object
		}
	}
	return ""
}

// Traffic is what an instance's flow logs record, for the compiler.
func Traffic(v *config.VPC, in *config.Instance) flows.FlowLogTraffic {
	var t flows.FlowLogTraffic
	for _, l := range v.FlowLogsOf(in) {
		t.Accept = t.Accept || l.Accepts()
		t.Reject = t.Reject || l.Rejects()
	}
	return t
}

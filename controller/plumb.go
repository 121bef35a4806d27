package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// How long plumb waits for ovs-vswitchd to attach the ports of one apply.
// Adding 1,000 veth ports to a userspace bridge was measured at 2.5-6 s on
// two cores; the bound leaves room for a loaded machine.
const ofportWait = 60 * time.Second

// plumb creates or repairs every instance's namespace and link and its OVS
// port, and returns the port numbers OVS assigned. The host is read once and
// the instances are plumbed in parallel (host.EnsureVeths); port creations
// and changes go to OVSDB in a few large transactions (plumbChunk), followed
// by one wait for ovs-vswitchd. An instance that is already right costs no
// write.
//
// The order keeps every interruption (SIGKILL) repairable by the next apply:
// a veth is made before its OVS port (a port never names a device that was
// never there), and a veth that must be re-created loses its OVS port first
// (the userspace datapath keeps reading the old device of a port whose
// device was re-created under the same name, so a port left in place would
// stay silently broken).
func plumb(ctx context.Context, db *ovsdb.Client, bridge string, atts []*attachment, o Options) (map[string]int, int, error) {
	workers := host.DefaultWorkers()
	changes := 0
	start := time.Now()
	phase := func(what string) {
		o.Log.Debug("plumb", "bridge", bridge, "phase", what, "took", time.Since(start))
		start = time.Now()
	}
	var veths, internals, hostPorts, trunks []*attachment
	var trunkPort, tunnel *attachment
	for _, a := range atts {
		switch a.Attach {
		case "host":
			hostPorts = append(hostPorts, a)
		case "internal":
			internals = append(internals, a)
		case attachTrunk:
			trunks = append(trunks, a)
		case attachTrunkPort:
			trunkPort = a
		case attachTunnel:
			tunnel = a
		default:
			veths = append(veths, a)
		}
	}

	// 1. Namespaces, veths and their ports, a chunk at a time: ovs-vswitchd
	// attaches the ports of one chunk while the next one is plumbed.
	// One look at the host's links for all chunks: each chunk changes only
	// its own instances' links.
	var snap *host.HostLinks
	if len(veths)+len(trunks) > 0 {
		var err error
		if snap, err = host.DumpHostLinks(); err != nil {
			return nil, changes, err
		}
	}
	for first := 0; first < len(veths); first += plumbChunk {
		c, err := plumbVeths(ctx, db, bridge, snap, veths[first:min(first+plumbChunk, len(veths))], workers, o.Verify)
		changes += c
		if err != nil {
			return nil, changes, err
		}
	}
	phase("veths")
	if err := untagFormerTrunks(veths); err != nil {
		return nil, changes, err
	}
	// 2. Internal ports' namespaces (OVS makes their devices).
	nsNames := make([]string, len(internals))
	for i, a := range internals {
		nsNames[i] = a.Namespace
	}
	nsCreated, nsErrs := host.EnsureNamespaces(nsNames, workers)
	for _, c := range nsCreated {
		if c {
			changes++
		}
	}
	if err := instanceErrors(internals, nsErrs); err != nil {
		return nil, changes, err
	}
	// An instance that was a veth or trunk one keeps its port's name (and
	// number, address and MAC), and so does the trunk port (a veth pair up
	// to release 09630fe): the veth holding the name goes first, or
	// ovs-vswitchd cannot make the internal port's tap (EINVAL). Looked at
	// on every apply, so an apply killed after the port changed type is
	// repaired by the next one.
	formers := internals
	if trunkPort != nil {
		formers = append(slices.Clip(internals), trunkPort)
	}
	ports := make([]string, len(formers))
	for i, a := range formers {
		ports[i] = a.Port
	}
	vethsGone, vErrs := host.DeleteFormerVeths(ports)
	for i, gone := range vethsGone {
		if gone {
			changes++
			o.Log.Info("deleted former veth", "bridge", bridge, "instance", formers[i].Name, "port", formers[i].Port)
		}
	}
	if err := instanceErrors(formers, vErrs); err != nil {
		return nil, changes, err
	}
	// 3. Internal ports (the trunk's too: OVS makes their devices) in one
	// transaction, then one wait for ovs-vswitchd to have attached every port.
	var specs []ovsdb.PortSpec
	for _, a := range append(internals, hostPorts...) {
		specs = append(specs, a.portSpec())
	}
	if trunkPort != nil {
		specs = append(specs, trunkPort.portSpec())
	}
	if tunnel != nil {
		specs = append(specs, tunnel.portSpec())
	}
	if _, err := db.EnsurePorts(ctx, bridge, specs); err != nil {
		return nil, changes, err
	}
	names := make([]string, 0, len(atts))
	for _, a := range atts {
		if a.isPort() {
			names = append(names, a.Port)
		}
	}
	phase("ovsdb ports")
	wctx, cancel := context.WithTimeout(ctx, ofportWait)
	defer cancel()
	ofports, err := db.WaitOfports(wctx, names)
	if err != nil {
		if tunnel != nil && strings.Contains(err.Error(), tunnel.Port) {
			// OVS takes one flow-based Geneve port per datapath.
			err = fmt.Errorf("%w (%s is the bridge's Geneve tunnel port: does another bridge of this OVS span hosts too? One topology with hosts: per OVS)", err, tunnel.Port)
		}
		return nil, changes, err
	}
	for _, a := range trunks {
		ofports[a.Port] = int(flows.TrunkPort(a.VLAN))
	}
	phase("ofports")
	// 4. The trunk's device (made by ovs-vswitchd now) and its instances.
	if trunkPort != nil {
		c, err := plumbTrunk(ctx, bridge, snap, trunkPort, trunks, workers, o)
		changes += c
		if err != nil {
			return nil, changes, err
		}
		phase("trunk")
	}
	// 5. Internal ports into their namespaces; the host's port configured.
	ierrs := make([]error, len(internals))
	ichanged := make([]bool, len(internals))
	host.Parallel(len(internals), workers, func(i int) {
		a := internals[i]
		ichanged[i], ierrs[i] = host.EnsureInternalPortInNamespace(a.Port, a.linkSpec())
	})
	for _, c := range ichanged {
		if c {
			changes++
		}
	}
	if err := instanceErrors(internals, ierrs); err != nil {
		return nil, changes, err
	}
	for _, a := range hostPorts {
		c, err := host.EnsureHostInternalPort(a.Port, a.MAC, a.Addr)
		if c {
			changes++
		}
		if err != nil {
			return nil, changes, fmt.Errorf("external.attach: host: %w", err)
		}
	}
	return ofports, changes, nil
}

// plannedOfports are the OpenFlow port numbers the instances' ports will
// have: the number of a port that is attached, else the one asked for
// (ofport_request, which attachments gives every port). apply installs the
// flows for them before plumb adds the ports: ovs-vswitchd polls every veth
// port on the thread that also handles OpenFlow, and with 1,000 more ports
// it took 5.6 s instead of 0.28 s for the same 9,048 flows.
func plannedOfports(atts []*attachment, existing []ovsdb.PortInfo) map[string]int {
	have := make(map[string]int, len(existing))
	for _, p := range existing {
		if p.Ofport > 0 && p.Type != attachTrunk {
			have[p.Name] = p.Ofport
		}
	}
	out := make(map[string]int, len(atts))
	for _, a := range atts {
		if a.VLAN != 0 {
			out[a.Port] = int(flows.TrunkPort(a.VLAN))
		} else if n, ok := have[a.Port]; ok {
			out[a.Port] = n
		} else {
			out[a.Port] = a.OfportRequest
		}
	}
	return out
}

// overlapPorts is how many new OVS ports an apply may add and still send
// its flows while it plumbs: ovs-vswitchd takes flow-mods far slower while
// it attaches many ports (see plannedOfports), but an edit that adds a few
// saves the time of one of the two.
const overlapPorts = 8

// newPorts counts the OVS ports of atts that the bridge does not have yet.
func newPorts(atts []*attachment, existing []ovsdb.PortInfo) int {
	have := make(map[string]bool, len(existing))
	for _, p := range existing {
		have[p.Name] = true
	}
	n := 0
	for _, a := range atts {
		if a.isPort() && !have[a.Port] {
			n++
		}
	}
	return n
}

// compileAndSync compiles the flows for the given port numbers and makes
// the bridge's vpcctl flows match them.
// installed, when not nil, is the set the caller knows the bridge holds
// (see session.Installed): the bridge is then not read.
func compileAndSync(ctx context.Context, sw *stopwatch, conn *ofconn.Conn, t *config.Topology, atts []*attachment, ofports map[string]int, installed *flows.Set) (*flows.Set, flowDiff, error) {
	set, err := flows.Compile(flowTopology(t, atts, ofports))
	if err != nil {
		return nil, flowDiff{}, fmt.Errorf("compiling flows: %w", err)
	}
	sw.lap("compile")
	d, err := syncFlows(ctx, conn, installed, set)
	return set, d, err
}

// plumbChunk is how many veth instances go to OVSDB in one transaction.
// ovs-vswitchd (userspace datapath) reconfigures its datapath once per port
// it adds, which costs more the more ports it has: adding 1,000 took 2.3-3.8
// s in one transaction and about the same in chunks of 250, so chunks let it
// work while the host plumbs the next ones, at no extra cost.
const plumbChunk = 200

// plumbVeths makes the namespaces and veths of atts (in parallel) and then
// their OVS ports (one transaction), without waiting for ovs-vswitchd.
//
// Unless verify, an instance whose port records the plumbing it has now
// (keyPlumbed) is trusted when its host end looks intact (host.VethSpec.Recorded).
func plumbVeths(ctx context.Context, db *ovsdb.Client, bridge string, snap *host.HostLinks, atts []*attachment, workers int, verify bool) (int, error) {
	changes := 0
	specs := make([]host.VethSpec, len(atts))
	for i, a := range atts {
		specs[i] = a.vethSpec()
		specs[i].Recorded = !verify && a.recorded != "" && a.recorded == specs[i].Digest()
	}
	hasPort := func(i int) bool { return db.HasPort(ctx, atts[i].Port) }
	reps, created, errs := host.EnsureVethsFrom(snap, specs, workers, hasPort)
	var held []int
	for i, rep := range reps {
		if created[i] {
			changes++
		}
		if rep.Changed {
			changes++
		}
		if rep.Held {
			held = append(held, i)
		}
	}
	if err := instanceErrors(atts, errs); err != nil {
		return changes, err
	}
	// Veths to re-create whose port exists: the port goes first, and
	// ovs-vswitchd must have let go of it before the port comes back.
	if len(held) > 0 {
		hatts := make([]*attachment, len(held))
		names := make([]string, len(held))
		hspecs := make([]host.VethSpec, len(held))
		for k, i := range held {
			hatts[k], names[k], hspecs[k] = atts[i], atts[i].Port, specs[i]
		}
		if _, err := db.DeletePorts(ctx, bridge, names); err != nil {
			return changes, err
		}
		if err := waitApplied(ctx, db); err != nil {
			return changes, err
		}
		hreps, _, herrs := host.EnsureVeths(hspecs, workers, nil)
		for _, rep := range hreps {
			if rep.Changed {
				changes++
			}
		}
		if err := instanceErrors(hatts, herrs); err != nil {
			return changes, err
		}
	}
	ports := make([]ovsdb.PortSpec, len(atts))
	for i, a := range atts {
		ports[i] = a.portSpec()
	}
	_, err := db.EnsurePorts(ctx, bridge, ports)
	return changes, err
}

func (a *attachment) portSpec() ovsdb.PortSpec {
	ps := ovsdb.PortSpec{Name: a.Port, ExternalIDs: a.externalIDs(), OfportRequest: a.OfportRequest}
	if a.Attach == attachTrunkPort {
		ps.SyncPrefix = keyTrunkRecord
	}
	switch a.Attach {
	case "internal", "host", attachTrunkPort:
		ps.Type = "internal"
	case attachTunnel:
		ps.Type, ps.Options = "geneve", map[string]string{"remote_ip": "flow", "key": "flow"}
	}
	return ps
}

func (a *attachment) vethSpec() host.VethSpec {
	return host.VethSpec{HostName: a.Port, LinkSpec: a.linkSpec()}
}

func (a *attachment) linkSpec() host.LinkSpec {
	return host.LinkSpec{Namespace: a.Namespace, MAC: a.MAC, Addr: a.Addr, Gateway: a.Gateway, MTU: a.MTU, NoTxOffload: a.NoTxOffload}
}

// instanceErrors joins the errors of the instances that failed, each named,
// at most a few of them (a broken host fails them all alike).
func instanceErrors(atts []*attachment, errs []error) error {
	const show = 5
	var out []error
	n := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		n++
		if len(out) < show {
			out = append(out, fmt.Errorf("instance %s: %w", atts[i].Name, err))
		}
	}
	if n > show {
		out = append(out, fmt.Errorf("and %d more instances failed", n-show))
	}
	return errors.Join(out...)
}

func waitApplied(ctx context.Context, db *ovsdb.Client) error {
	ctx, cancel := context.WithTimeout(ctx, ofportWait)
	defer cancel()
	return db.WaitApplied(ctx)
}

// removeStale deletes the ports and namespaces of this bridge that belong to
// instances no longer in the topology. It runs after the new flows are in, so
// no flow points at a port that is gone. Internal ports are handed back to
// the host before their OVS port goes, so ovs-vswitchd deletes their device
// (a tap deleted in another namespace would be left behind).
func removeStale(ctx context.Context, db *ovsdb.Client, bridge string, atts []*attachment, existing []ovsdb.PortInfo, o Options) (int, error) {
	wantPort := map[string]bool{}
	wantNS := map[string]bool{}
	wantHost := map[string]bool{} // host ends still in use (a trunk instance's is no port)
	for _, a := range atts {
		wantHost[a.Port] = true
		if a.isPort() {
			wantPort[a.Port] = true
		}
		if a.Namespace != "" {
			wantNS[a.Namespace] = true
		}
	}
	var stale []ovsdb.PortInfo
	var names []string
	for _, p := range existing {
		if p.Type == attachTrunk { // a record on the trunk port (trunkRecords)
			if !wantHost[p.Name] {
				stale = append(stale, p)
			}
			continue
		}
		if !wantPort[p.Name] {
			stale = append(stale, p)
			names = append(names, p.Name)
		}
	}
	var errs []error
	for _, p := range stale {
		if p.Type == "internal" && p.ExternalIDs[keyInstance] != "" {
			if _, err := host.ReleaseInternalPort(host.NamespaceName(bridge, p.ExternalIDs[keyInstance]), p.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	removed, err := db.DeletePorts(ctx, bridge, names)
	if err != nil {
		return 0, err
	}
	if removed > 0 {
		if err := waitApplied(ctx, db); err != nil {
			return removed, err
		}
	}
	for _, p := range stale {
		o.Log.Info("removed port", "bridge", bridge, "port", p.Name, "instance", p.ExternalIDs[keyInstance])
	}
	nss, err := host.ListNamespaces(bridge)
	if err != nil {
		return removed, err
	}
	var gone []string
	for _, ns := range nss {
		if !wantNS[ns] && !o.remoteNS[ns] {
			gone = append(gone, ns)
		}
	}
	if err := removeNamespaces(gone); err != nil {
		return removed, err
	}
	for _, ns := range gone {
		o.Log.Info("removed namespace", "namespace", ns)
	}
	// Host ends whose namespace was already gone, and taps a crashed
	// ovs-vswitchd left behind; not a host end that is still wanted (an
	// instance that went from veth to trunk keeps its veth, not its port).
	for _, p := range stale {
		if !wantHost[p.Name] {
			errs = append(errs, deleteHostEnd(p))
		}
	}
	if !slices.ContainsFunc(atts, func(a *attachment) bool { return a.Attach == attachTrunkPort }) {
		// By name: an apply killed after the trunk's port went left no
		// port to find its devices by.
		errs = append(errs, host.DeleteTrunkDevices(bridge))
	}
	return removed, errors.Join(errs...)
}

// removeNamespaces stops the namespaces' workloads and deletes them, all
// at once (host.DeleteNamespaces).
func removeNamespaces(nss []string) error {
	if len(nss) == 0 {
		return nil
	}
	return host.DeleteNamespaces(nss, host.DefaultWorkers())
}

// startWorkloads starts each instance's `run` command unless it already runs.
func startWorkloads(bridge string, atts []*attachment) (int, error) {
	n := 0
	for _, a := range atts {
		if a.Namespace == "" {
			continue
		}
		c, err := host.EnsureWorkload(bridge, a.Namespace, a.Name, a.Run)
		if err != nil {
			return n, fmt.Errorf("instance %s: run: %w", a.Name, err)
		}
		if c {
			n++
		}
	}
	return n, nil
}

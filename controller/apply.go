package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// Summary says what an apply changed; an unchanged topology gives all zeros.
type Summary struct {
	Bridge       string `json:"bridge"`
	Instances    int    `json:"instances"`
	Flows        int    `json:"flows"`
	FlowsAdded   int    `json:"flows_added"`
	FlowsDeleted int    `json:"flows_deleted"`
	FlowMods     int64  `json:"flow_mods"`
	OVSDBWrites  int64  `json:"ovsdb_writes"`
	HostChanges  int    `json:"host_changes"`
	Removed      int    `json:"instances_removed"`
}

func (s *Summary) String() string {
	return fmt.Sprintf("bridge %s: %d instances, %d flows (+%d -%d, %d flow-mods), %d OVSDB writes, %d host changes, %d instances removed",
		s.Bridge, s.Instances, s.Flows, s.FlowsAdded, s.FlowsDeleted, s.FlowMods, s.OVSDBWrites, s.HostChanges, s.Removed)
}

// Apply makes the host match the topology: bridge, ports, namespaces, flows
// and workloads; then it removes what vpcctl made for this bridge that the
// topology no longer has. Running it twice changes nothing the second time.
func Apply(ctx context.Context, o Options, t *config.Topology) (*Summary, error) {
	return apply(ctx, o, t, &session{})
}

// apply is Apply, with what a long-running caller lends it in s (see
// session in daemon.go): the daemon's OVSDB client and OpenFlow connection,
// and with s.Daemon it makes the daemon's socket the bridge's controller.
func apply(ctx context.Context, o Options, t *config.Topology, s *session) (*Summary, error) {
	o = o.withDefaults()
	lock, err := lockBridge(ctx, o, t.Bridge)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	db := s.DB
	if db == nil {
		c, err := connect(ctx, o)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		db = c
	}
	writes := db.Writes()
	sum := &Summary{Bridge: t.Bridge}

	dp, err := datapathType(t.Datapath)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{ovsdb.OwnerKey: ovsdb.OwnerValue}
	if o.File != "" {
		if abs, err := filepath.Abs(o.File); err == nil {
			ids[keyFile] = abs
		}
	}
	if err := removeRenamed(ctx, o, db, t.Bridge, ids[keyFile]); err != nil {
		return nil, err
	}
	ctl, err := controllerTarget(ctx, db, o, t.Bridge, s.Daemon)
	if err != nil {
		return nil, err
	}
	if err := db.EnsureBridge(ctx, ovsdb.BridgeSpec{
		Name: t.Bridge, DatapathType: dp, ExternalIDs: ids, TableNames: flows.TableNames(),
		Controller: ctl,
		// OpenFlow10 too, so a plain `ovs-ofctl dump-flows` (which speaks 1.0 by
		// default) works for learners; vpcctl itself speaks 1.3.
		Protocols: []string{"OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"},
	}); err != nil {
		return nil, fmt.Errorf("bridge %s: %w", t.Bridge, err)
	}
	if s.Daemon {
		// OVS clears the flows of a bridge that gets its first controller:
		// let ovs-vswitchd do so before the installed flows are compared.
		if err := db.WaitApplied(ctx); err != nil {
			return nil, err
		}
	}
	existing, err := db.ListPorts(ctx, t.Bridge)
	if err != nil {
		return nil, err
	}
	keepAddresses(t, existing)
	atts := attachments(t, existing)
	ofports, changes, err := plumb(ctx, db, t.Bridge, atts, o)
	sum.HostChanges += changes
	if err != nil {
		return nil, err
	}

	set, err := flows.Compile(flowTopology(t, atts, ofports))
	if err != nil {
		return nil, fmt.Errorf("compiling flows: %w", err)
	}
	conn := s.Conn
	if conn == nil {
		c, err := dialBridge(ctx, o, t.Bridge)
		if err != nil {
			return nil, fmt.Errorf("OpenFlow connection to %s: %w", t.Bridge, err)
		}
		defer c.Close()
		conn = c
	}
	mods := conn.Stats().FlowModsSent
	d, err := syncFlows(ctx, conn, set)
	if err != nil {
		return nil, err
	}
	logFlowDiff(o, t.Bridge, d)
	sum.Flows, sum.FlowsAdded, sum.FlowsDeleted = len(set.Flows), len(d.Add), len(d.Delete)
	sum.FlowMods = int64(conn.Stats().FlowModsSent - mods)
	s.Flows = set

	removed, err := removeStale(ctx, db, t.Bridge, atts, existing, o)
	sum.Removed = removed
	if err != nil {
		return nil, err
	}
	n, err := startWorkloads(t.Bridge, atts)
	sum.HostChanges += n
	if err != nil {
		return nil, err
	}
	sum.Instances = len(atts)
	sum.OVSDBWrites = db.Writes() - writes
	o.Log.Info("applied", "bridge", t.Bridge, "summary", sum.String())
	return sum, nil
}

// datapathType picks the OVS datapath: "auto" is the kernel datapath when the
// kernel has the openvswitch module, else the userspace one.
func datapathType(want string) (string, error) {
	kernel := kernelDatapath()
	switch want {
	case "netdev":
		return "netdev", nil
	case "system":
		if !kernel {
			return "", fmt.Errorf("datapath: system: this kernel has no openvswitch datapath (use auto or netdev)")
		}
		return "system", nil
	default:
		if kernel {
			return "system", nil
		}
		return "netdev", nil
	}
}

func kernelDatapath() bool {
	if _, err := os.Stat("/sys/module/openvswitch"); err == nil {
		return true
	}
	_, err := netlink.GenlFamilyGet("ovs_datapath")
	return err == nil
}

// plumb creates or repairs every instance's namespace and link and its OVS
// port, and returns the port numbers OVS assigned.
func plumb(ctx context.Context, db *ovsdb.Client, bridge string, atts []*attachment, o Options) (map[string]int, int, error) {
	changes := 0
	for _, a := range atts {
		if a.Attach == "host" {
			c, err := plumbHostPort(ctx, db, bridge, a)
			if c {
				changes++
			}
			if err != nil {
				return nil, changes, fmt.Errorf("external.attach: host: %w", err)
			}
			continue
		}
		c, err := host.EnsureNamespace(a.Namespace)
		if err != nil {
			return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
		}
		if c {
			changes++
		}
		spec := host.LinkSpec{Namespace: a.Namespace, MAC: a.MAC, Addr: a.Addr, Gateway: a.Gateway}
		if a.Attach == "internal" {
			// OVS creates the device; it is then moved into the namespace.
			if err := db.EnsurePort(ctx, bridge, ovsdb.PortSpec{Name: a.Port, Type: "internal", ExternalIDs: a.externalIDs(), OfportRequest: a.OfportRequest}); err != nil {
				return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
			}
			if _, err := waitOfport(ctx, db, a.Port); err != nil {
				return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
			}
			c, err := host.EnsureInternalPortInNamespace(a.Port, spec)
			if err != nil {
				return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
			}
			if c {
				changes++
			}
			continue
		}
		rep, err := host.EnsureVethReport(host.VethSpec{HostName: a.Port, LinkSpec: spec})
		if err != nil {
			return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
		}
		if rep.Changed {
			changes++
		}
		if rep.Recreated {
			// The userspace datapath does not pick up a veth re-created under
			// the same name: the port must go and come back, in two transactions.
			if err := db.DeletePort(ctx, bridge, a.Port); err != nil {
				return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
			}
		}
		if err := db.EnsurePort(ctx, bridge, ovsdb.PortSpec{Name: a.Port, ExternalIDs: a.externalIDs(), OfportRequest: a.OfportRequest}); err != nil {
			return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
		}
	}
	ofports := make(map[string]int, len(atts))
	for _, a := range atts {
		n, err := waitOfport(ctx, db, a.Port)
		if err != nil {
			return nil, changes, fmt.Errorf("instance %s: %w", a.Name, err)
		}
		ofports[a.Port] = n
	}
	return ofports, changes, nil
}

// plumbHostPort makes the external network's internal port in the host
// namespace, holding the external gateway's address.
func plumbHostPort(ctx context.Context, db *ovsdb.Client, bridge string, a *attachment) (bool, error) {
	if err := db.EnsurePort(ctx, bridge, ovsdb.PortSpec{Name: a.Port, Type: "internal", ExternalIDs: a.externalIDs(), OfportRequest: a.OfportRequest}); err != nil {
		return false, err
	}
	if _, err := waitOfport(ctx, db, a.Port); err != nil {
		return false, err
	}
	return host.EnsureHostInternalPort(a.Port, a.MAC, a.Addr)
}

func waitOfport(ctx context.Context, db *ovsdb.Client, port string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return db.WaitOfport(ctx, port)
}

// removeStale deletes the ports and namespaces of this bridge that belong to
// instances no longer in the topology. It runs after the new flows are in, so
// no flow points at a port that is gone.
func removeStale(ctx context.Context, db *ovsdb.Client, bridge string, atts []*attachment, existing []ovsdb.PortInfo, o Options) (int, error) {
	wantPort := map[string]bool{}
	wantNS := map[string]bool{}
	for _, a := range atts {
		wantPort[a.Port] = true
		if a.Namespace != "" {
			wantNS[a.Namespace] = true
		}
	}
	removed := 0
	for _, p := range existing {
		if wantPort[p.Name] {
			continue
		}
		if err := db.DeletePort(ctx, bridge, p.Name); err != nil {
			return removed, err
		}
		if p.Type == "" {
			if err := host.DeleteVeth(p.Name); err != nil {
				return removed, err
			}
		}
		removed++
		o.Log.Info("removed port", "bridge", bridge, "port", p.Name, "instance", p.ExternalIDs[keyInstance])
	}
	nss, err := host.ListNamespaces(bridge)
	if err != nil {
		return removed, err
	}
	for _, ns := range nss {
		if wantNS[ns] {
			continue
		}
		if err := removeNamespace(ns); err != nil {
			return removed, err
		}
		o.Log.Info("removed namespace", "namespace", ns)
	}
	return removed, nil
}

func removeNamespace(ns string) error {
	if err := host.StopWorkloads(ns); err != nil {
		return err
	}
	return host.DeleteNamespace(ns)
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

package controller

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vpcctl/vpcctl/config"
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
	if err := setLocalHost(t, o.Host); err != nil {
		return nil, err
	}
	o.remoteNS = remoteNamespaces(t)
	sw := newStopwatch(o.Log, "apply", t.Bridge)
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
	sw.lap("lock and OVSDB")
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
			if h, err := fileHash(abs); err == nil {
				ids[keyFileHash] = h
			}
		}
	}
	if o.Host != "" {
		ids[keyHost] = o.Host // for status, trace and flows, which read the file again
	}
	if err := removeRenamed(ctx, o, db, t.Bridge, ids[keyFile]); err != nil {
		return nil, err
	}
	ctl, err := controllerTarget(ctx, db, o, t.Bridge, s.Daemon)
	if err != nil {
		return nil, err
	}
	hadController := db.HasController(ctx, t.Bridge, ctl)
	brSpec := ovsdb.BridgeSpec{
		Name: t.Bridge, DatapathType: dp, ExternalIDs: ids, TableNames: flows.TableNames(),
		Controller: ctl,
		// OpenFlow10 too, so a plain `ovs-ofctl dump-flows` (which speaks 1.0 by
		// default) works for learners; vpcctl itself speaks 1.3.
		Protocols: []string{"OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"},
	}
	// The file's hash is recorded once the apply is done (last, below):
	// it says "as last applied", also after an apply that was killed, and
	// one OVSDB round trip less stands before the dataplane changes.
	early := brSpec
	early.ExternalIDs = maps.Clone(ids)
	delete(early.ExternalIDs, keyFileHash)
	if err := db.EnsureBridge(ctx, early); err != nil {
		return nil, fmt.Errorf("bridge %s: %w", t.Bridge, err)
	}
	if s.Daemon && !hadController {
		// OVS clears the flows of a bridge that gets its first controller:
		// let ovs-vswitchd do so before the installed flows are compared.
		// (Only then: with 1,000 ports, waiting for ovs-vswitchd to take
		// any other bridge change costs 0.1-0.2 s.)
		if err := db.WaitApplied(ctx); err != nil {
			return nil, err
		}
	}
	sw.lap("bridge")
	existing, err := db.ListPorts(ctx, t.Bridge)
	if err != nil {
		return nil, err
	}
	existing = withTrunkRecords(existing)
	keepAddresses(t, existing)
	atts := attachments(t, existing)
	sw.lap("ports read")
	conn := s.Conn
	if conn == nil {
		c, err := dialBridge(ctx, o, t.Bridge)
		if err != nil {
			return nil, fmt.Errorf("OpenFlow connection to %s: %w", t.Bridge, err)
		}
		defer c.Close()
		conn = c
	}
	sw.lap("OpenFlow")
	mods := conn.Stats().FlowModsSent
	// Flows go in before the ports, for the port numbers they will have
	// (plannedOfports, plumb.go): ovs-vswitchd takes flow-mods far slower
	// once it polls many more veths.
	planned := plannedOfports(atts, existing)
	var set *flows.Set
	var d flowDiff
	var ofports map[string]int
	if newPorts(atts, existing) <= overlapPorts {
		// Few new ports (an edit, or trunk instances, which are no ports):
		// compile and send the flows while the host is plumbed. Neither
		// waits for the other, and a port up before its flows only drops
		// (the bridge is fail_mode=secure; its Classifier knows no port).
		type synced struct {
			set *flows.Set
			d   flowDiff
			err error
		}
		done := make(chan synced, 1)
		go func() {
			set, d, err := compileAndSync(ctx, newStopwatch(o.Log, "apply", t.Bridge), conn, t, atts, planned, s.Installed)
			done <- synced{set, d, err}
		}()
		var changes int
		var perr error
		ofports, changes, perr = plumb(ctx, db, t.Bridge, atts, o)
		sum.HostChanges += changes
		r := <-done
		sw.lap("flows sent and plumb")
		if r.err != nil {
			return nil, r.err
		}
		if perr != nil {
			return nil, perr
		}
		set, d = r.set, r.d
	} else {
		if set, d, err = compileAndSync(ctx, sw, conn, t, atts, planned, s.Installed); err != nil {
			return nil, err
		}
		sw.lap("flows sent")
		var changes int
		ofports, changes, err = plumb(ctx, db, t.Bridge, atts, o)
		sw.lap("plumb")
		sum.HostChanges += changes
		if err != nil {
			return nil, err
		}
	}
	if !maps.Equal(ofports, planned) {
		var d2 flowDiff
		if set, d2, err = compileAndSync(ctx, sw, conn, t, atts, ofports, set); err != nil {
			return nil, err
		}
		d.Add, d.Delete = append(d.Add, d2.Add...), append(d.Delete, d2.Delete...)
	}
	logFlowDiff(o, t.Bridge, d)
	sum.Flows, sum.FlowsAdded, sum.FlowsDeleted = len(set.Flows), len(d.Add), len(d.Delete)
	sum.FlowMods = int64(conn.Stats().FlowModsSent - mods)
	s.Flows = set

	sw.lap("flows for new port numbers")
	removed, err := removeStale(ctx, db, t.Bridge, atts, existing, o)
	sum.Removed = removed
	if err != nil {
		return nil, err
	}
	sw.lap("stale removed")
	n, err := startWorkloads(t.Bridge, atts)
	sum.HostChanges += n
	if err != nil {
		return nil, err
	}
	for _, a := range atts {
		if a.Attach != attachTrunkPort && a.Attach != attachTunnel {
			sum.Instances++
		}
	}
	if err := db.EnsureBridge(ctx, brSpec); err != nil {
		return nil, fmt.Errorf("bridge %s: %w", t.Bridge, err)
	}
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

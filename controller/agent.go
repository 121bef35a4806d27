package controller

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/ovsdb/cluster"
)

// Across hosts the desired state lives in the VPCctl cluster (a Raft
// ovsdb-server of vpcctl's own schema, see ovsdb/cluster): `apply --cluster`
// publishes the file and the instances' addresses there in one transaction;
// each host's agent watches it (libovsdb's monitor: no polling) and applies
// it to its own bridge. The name of a topology in the cluster is its bridge.

// clusterAddresses is the prior-address function of config.Reallocate for
// addresses recorded in the cluster ("VPC/INSTANCE" -> IP): one still in
// the instance's subnet is kept.
func clusterAddresses(t *config.Topology, rec map[string]string) func(vpc, instance, subnet string) (netip.Addr, bool) {
	return func(vpc, instance, subnet string) (netip.Addr, bool) {
		a, err := netip.ParseAddr(rec[vpc+"/"+instance])
		if err != nil {
			return netip.Addr{}, false
		}
		for _, v := range t.VPCs {
			if s := v.Subnet(subnet); v.Name == vpc && s != nil && s.Prefix.Contains(a) {
				return a, true
			}
		}
		return netip.Addr{}, false
	}
}

// Publish writes a validated topology (raw: its file) to the cluster, with
// every instance's address: those the cluster recorded stay (see
// config.Reallocate), new instances get free ones. It returns the
// topology's generation and whether this call changed it.
func Publish(ctx context.Context, o Options, endpoints []string, raw []byte, t *config.Topology) (int, bool, error) {
	o = o.withDefaults()
	st, err := cluster.Dial(ctx, endpoints, o.Log)
	if err != nil {
		return 0, false, fmt.Errorf("VPCctl cluster: %w", err)
	}
	defer st.Close()
	config.Reallocate(t, clusterAddresses(t, st.Addresses(t.Bridge)))
	addrs := map[string]string{}
	for _, v := range t.VPCs {
		for _, in := range v.Instances {
			addrs[v.Name+"/"+in.Name] = in.Addr.String()
		}
	}
	return st.Publish(ctx, t.Bridge, string(raw), addrs)
}

// RunAgent is `vpcctl agent`: it applies the cluster's topology name to
// this host (o.Host) whenever a new generation is published, retrying a
// failed apply, and reports each outcome in the cluster's Chassis table.
// It returns when ctx ends; the dataplane keeps running.
func RunAgent(ctx context.Context, o Options, endpoints []string, name string) error {
	o = o.withDefaults()
	if o.Host == "" {
		return fmt.Errorf("the agent needs --host: which of the topology's hosts this is")
	}
	st, err := cluster.Dial(ctx, endpoints, o.Log)
	if err != nil {
		return fmt.Errorf("VPCctl cluster: %w", err)
	}
	defer st.Close()
	log := o.Log.With("topology", name, "host", o.Host)
	log.Info("agent started", "event", "start")
	snaps := st.Watch(ctx, name)
	var cur *cluster.Snapshot
	var retry <-chan time.Time
	delay := time.Second
	for {
		select {
		case <-ctx.Done():
			log.Info("agent stopped; the network keeps running on the installed flows", "event", "stop")
			return nil
		case s, ok := <-snaps:
			if !ok {
				return ctx.Err()
			}
			cur, delay = &s, time.Second
		case <-retry:
		}
		retry = nil
		if cur == nil {
			continue
		}
		sum, err := agentApply(ctx, o, st, name, *cur)
		status := cluster.ChassisStatus{Name: o.Host, Topology: name, AppliedGeneration: cur.Generation}
		if err != nil {
			status.Error = err.Error()
			log.Warn("apply failed; retrying", "event", "apply_failed", "generation", cur.Generation, "err", err, "retry_in", delay)
			retry = time.After(delay)
			delay = min(2*delay, maxRetryDelay)
		} else {
			status.Flows = sum.Flows
			log.Info("applied", "event", "applied", "generation", cur.Generation, "summary", sum.String())
		}
		if err := st.Report(ctx, status); err != nil && ctx.Err() == nil {
			log.Warn("report to the cluster failed", "err", err)
		}
	}
}

// agentApply applies one published version to this host.
func agentApply(ctx context.Context, o Options, st *cluster.Store, name string, s cluster.Snapshot) (*Summary, error) {
	t, _, err := config.Parse([]byte(s.YAML), name+"@generation-"+fmt.Sprint(s.Generation))
	if err != nil {
		return nil, err
	}
	if t.Bridge != name {
		return nil, fmt.Errorf("the cluster's topology %q names bridge %q", name, t.Bridge)
	}
	config.Reallocate(t, clusterAddresses(t, st.Addresses(name)))
	// The version applied, with its addresses, where status, trace and
	// flows find it (the bridge records the file).
	pinned, err := config.PinAddresses([]byte(s.YAML), t)
	if err != nil {
		return nil, err
	}
	o.File = AgentFile(o, name)
	if err := writeFileAtomic(o.File, pinned); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	return Apply(actx, o, t)
}

// AgentFile is where the agent keeps the version of a topology it applies
// (addresses written in): <OVS run directory>/vpcctl-<topology>.cluster.yaml.
func AgentFile(o Options, name string) string {
	return filepath.Join(o.withDefaults().RunDir, "vpcctl-"+name+".cluster.yaml")
}

// writeFileAtomic replaces path with data at once (a reader never sees half).
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

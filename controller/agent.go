package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

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

// RunAgent is `vpcctl agent`: it keeps this host (o.Host) matching the
// cluster's topology name. Each version published is written, with its
// addresses, to AgentFile; the daemon (RunDaemon) on that file applies it,
// becomes the bridge's OpenFlow controller, and repairs drift and
// ovs-vswitchd restarts as on one host. Every outcome is reported in the
// cluster's Chassis table. It returns when ctx ends; the dataplane keeps
// running.
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reports := make(chan cluster.ChassisStatus, 1)
	go reportLoop(ctx, st, reports, log)
	snaps := st.Watch(ctx, name)
	file := AgentFile(o, name)
	var daemonDone chan error
	for {
		select {
		case <-ctx.Done():
			if daemonDone != nil {
				<-daemonDone
			}
			log.Info("agent stopped; the network keeps running on the installed flows", "event", "stop")
			return nil
		case err := <-daemonDone:
			return err
		case s, ok := <-snaps:
			if !ok {
				continue
			}
			if err := writeAgentFile(o, st, name, file, s); err != nil {
				log.Warn("cannot take the published version", "event", "apply_failed", "generation", s.Generation, "err", err)
				latest(reports, cluster.ChassisStatus{Name: o.Host, Topology: name, AppliedGeneration: s.Generation, Error: err.Error()})
				continue
			}
			if daemonDone != nil {
				continue // the daemon sees the file replaced
			}
			daemonDone = make(chan error, 1)
			do := DaemonOptions{File: file, OnApplied: func(raw []byte, sum *Summary, err error) {
				gen := fileGeneration(raw)
				status := cluster.ChassisStatus{Name: o.Host, Topology: name, AppliedGeneration: gen}
				if err != nil {
					status.Error = err.Error()
					log.Warn("apply failed", "event", "apply_failed", "generation", gen, "err", err)
				} else {
					status.Flows = sum.Flows
					log.Info("applied", "event", "applied", "generation", gen, "summary", sum.String())
				}
				latest(reports, status)
			}}
			go func() { daemonDone <- RunDaemon(ctx, o, do) }()
		}
	}
}

// reportLoop writes the newest status to the cluster (a slow or lost
// leader never holds up the daemon's loop).
func reportLoop(ctx context.Context, st *cluster.Store, in <-chan cluster.ChassisStatus, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-in:
			if err := st.Report(ctx, s); err != nil && ctx.Err() == nil {
				log.Warn("report to the cluster failed", "err", err)
			}
		}
	}
}

// latest puts s in ch, replacing what is still waiting there.
func latest(ch chan cluster.ChassisStatus, s cluster.ChassisStatus) {
	for {
		select {
		case ch <- s:
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}

// agentHeader opens every file the agent writes; fileGeneration reads it back.
const agentHeader = "# vpcctl agent: generation %d of topology %s in the VPCctl cluster (do not edit: the agent rewrites it)\n"

var generationRE = regexp.MustCompile(`^# vpcctl agent: generation (\d+) `)

func fileGeneration(raw []byte) int {
	m := generationRE.FindSubmatch(raw)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// writeAgentFile writes one published version, checked and with every
// instance's address (the cluster's) written in, to file.
func writeAgentFile(o Options, st *cluster.Store, name, file string, s cluster.Snapshot) error {
	t, _, err := config.Parse([]byte(s.YAML), name+"@generation-"+strconv.Itoa(s.Generation))
	if err != nil {
		return err
	}
	if t.Bridge != name {
		return fmt.Errorf("the cluster's topology %q names bridge %q", name, t.Bridge)
	}
	if err := setLocalHost(t, o.Host); err != nil {
		return err
	}
	config.Reallocate(t, clusterAddresses(t, st.Addresses(name)))
	pinned, err := config.PinAddresses([]byte(s.YAML), t)
	if err != nil {
		return err
	}
	return writeFileAtomic(file, append(fmt.Appendf(nil, agentHeader, s.Generation, name), pinned...))
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

// Command flowscale times compiling and installing the flows of a large
// topology (flows only, no namespaces) next to `ovs-ofctl --bundle add-flows`
// of the same flows on the same bridge, measured in the same run.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vpcctl/vpcctl/controller"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

func main() {
	nVPC := flag.Int("vpcs", 100, "VPCs")
	nSub := flag.Int("subnets", 10, "subnets per VPC")
	nInst := flag.Int("instances", 10, "instances per subnet")
	db := flag.String("ovsdb", "unix:/var/run/openvswitch/db.sock", "OVSDB endpoint")
	sgInst := flag.Int("sg-instances", 1000, "instances of the security-group run")
	sgGroups := flag.Int("sg-groups", 50, "security groups of the security-group run")
	sgRules := flag.Int("sg-rules", 5000, "rules of the security-group run")
	flag.Parse()
	if err := run(*db, *nVPC, *nSub, *nInst); err != nil {
		fmt.Fprintln(os.Stderr, "flowscale:", err)
		os.Exit(1)
	}
	if err := runSG(*db, *sgInst, *sgGroups, *sgRules); err != nil {
		fmt.Fprintln(os.Stderr, "flowscale:", err)
		os.Exit(1)
	}
}

func run(endpoint string, nVPC, nSub, nInst int) error {
	ctx := context.Background()
	br, mgmt, done, err := scratchBridge(ctx, endpoint, "fs")
	if err != nil {
		return err
	}
	defer done()

	topo := flows.Synthetic(nVPC, nSub, nInst)
	conn, set, m, err := compileAndInstall(ctx, mgmt, topo)
	if err != nil {
		return err
	}
	defer conn.Close()
	tCompile, tInstall, added := m.compile, m.install, m.added

	t2 := time.Now()
	a2, d2, err := controller.SyncFlows(ctx, conn, set)
	if err != nil {
		return err
	}
	tNoop := time.Since(t2)

	// One more instance in one VPC: only its flows go out.
	topo.VPCs[0].Subnets[0].Instances = append(topo.VPCs[0].Subnets[0].Instances, flows.Instance{Name: "extra", Port: 60000,
		MAC: net.HardwareAddr{0x02, 0xff, 0, 0, 0, 1}, IP: netip.MustParseAddr("10.0.0.200")})
	t3 := time.Now()
	set2, err := flows.Compile(topo)
	if err != nil {
		return err
	}
	a3, d3, err := controller.SyncFlows(ctx, conn, set2)
	if err != nil {
		return err
	}
	tIncr := time.Since(t3)

	// The baseline: the same flows as text, through ovs-ofctl in one bundle.
	file := filepath.Join(os.TempDir(), br+".flows")
	defer os.Remove(file)
	var sb strings.Builder
	for _, f := range set.Flows {
		fmt.Fprintf(&sb, "cookie=%#x, %s\n", f.Cookie, f.String())
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("ovs-ofctl", "-O", "OpenFlow13", "del-flows", mgmt).CombinedOutput(); err != nil {
		return fmt.Errorf("ovs-ofctl del-flows: %v: %s", err, out)
	}
	t4 := time.Now()
	if out, err := exec.Command("ovs-ofctl", "-O", "OpenFlow13", "--bundle", "add-flows", mgmt, file).CombinedOutput(); err != nil {
		return fmt.Errorf("ovs-ofctl --bundle add-flows: %v: %s", err, out)
	}
	tOfctl := time.Since(t4)
	// Both paths must have installed the same flows: vpcctl finds nothing to do.
	a5, d5, err := controller.SyncFlows(ctx, conn, set)
	if err != nil {
		return err
	}
	if a5 != 0 || d5 != 0 {
		return fmt.Errorf("ovs-ofctl installed different flows than vpcctl (+%d -%d)", a5, d5)
	}

	fmt.Printf("flows of %d VPCs x %d subnets x %d instances: %d flows, %s, %d cores\n",
		nVPC, nSub, nInst, len(set.Flows), time.Now().UTC().Format("2006-01-02"), runtime.NumCPU())
	fmt.Printf("  compile                              %8.3f s  (%.1f MB allocated)\n", tCompile.Seconds(), m.allocMB)
	fmt.Printf("  install (one bundle, %6d adds)     %8.3f s\n", added, tInstall.Seconds())
	fmt.Printf("  compile + install                    %8.3f s\n", (tCompile + tInstall).Seconds())
	fmt.Printf("  ovs-ofctl --bundle add-flows         %8.3f s\n", tOfctl.Seconds())
	fmt.Printf("  ratio vpcctl (compile+install) / ovs-ofctl: %.2f\n", (tCompile+tInstall).Seconds()/tOfctl.Seconds())
	fmt.Printf("  re-apply unchanged (+%d -%d)         %8.3f s\n", a2, d2, tNoop.Seconds())
	fmt.Printf("  add one instance (+%d -%d)            %8.3f s\n", a3, d3, tIncr.Seconds())
	return nil
}

// Before issue 10 (commit 7bcb7b9, measured on the project machine with
// `go test -bench CompileSG ./flows`): compiling the 1,000/50/5,000 case.
const (
	sgBeforeAllocs  = 6.69e6
	sgBeforeSeconds = 0.81
)

// runSG times the security-group case: many instances, groups and rules;
// then one rule edit on it, and the same edit at twice the scale, to show that
// its flow-mods do not grow with the rest of the topology.
func runSG(endpoint string, n, g, r int) error {
	ctx := context.Background()
	_, mgmt, done, err := scratchBridge(ctx, endpoint, "fg")
	if err != nil {
		return err
	}
	defer done()
	topo := flows.SyntheticSG(n, g, r)
	conn, set, m, err := compileAndInstall(ctx, mgmt, topo)
	if err != nil {
		return err
	}
	defer conn.Close()
	tCompile, tInstall, added := m.compile, m.install, m.added
	sg := 0
	for _, f := range set.Flows {
		if f.Category == flows.CatSecurityGroup {
			sg++
		}
	}
	e, err := ruleEdit(ctx, conn, topo, set)
	if err != nil {
		return err
	}
	// Twice the scale, same group size: the same edit must cost the same flow-mods.
	_, mgmt2, done2, err := scratchBridge(ctx, endpoint, "fh")
	if err != nil {
		return err
	}
	defer done2()
	topo2 := flows.SyntheticSG(2*n, 2*g, 2*r)
	conn2, set2, m2, err := compileAndInstall(ctx, mgmt2, topo2)
	if err != nil {
		return err
	}
	defer conn2.Close()
	e2, err := ruleEdit(ctx, conn2, topo2, set2)
	if err != nil {
		return err
	}

	fmt.Printf("security groups: %d instances in %d groups with %d rules\n", n, g, r)
	fmt.Printf("  flows: %d in all, %d for security groups (%.1f per rule)\n", len(set.Flows), sg, float64(sg)/float64(r))
	fmt.Printf("  compile                              %8.3f s  %6.2f M allocs, %.1f MB  (before issue 10: %.2f s, %.2f M allocs: %.0fx fewer)\n",
		tCompile.Seconds(), float64(m.allocs)/1e6, m.allocMB, sgBeforeSeconds, sgBeforeAllocs/1e6, sgBeforeAllocs/float64(m.allocs))
	fmt.Printf("  install (one bundle, %6d adds)     %8.3f s\n", added, tInstall.Seconds())
	fmt.Printf("  full install (compile + install)     %8.3f s\n", (tCompile + tInstall).Seconds())
	fmt.Printf("  one rule edit, %s (median of %d, each way):\n", e.what, 2*editRuns)
	fmt.Printf("    compile + diff + bundle (+%d -%d)   %8.3f s  (compile %.3f, diff + bundle %.3f; best %.3f; %.1f%% of the full install)\n",
		e.added, e.deleted, e.known.Seconds(), e.compile.Seconds(), (e.known - e.compile).Seconds(), e.best.Seconds(), 100*e.known.Seconds()/(tCompile+tInstall).Seconds())
	fmt.Printf("    the same with a dump of the bridge's flows, as apply does it (+%d -%d)  %.3f s\n", e.dumpAdded, e.dumpDeleted, e.dumped.Seconds())
	fmt.Printf("  the same edit at %d instances / %d groups / %d rules (%d flows; full install %.3f s): +%d -%d in %.3f s\n",
		2*n, 2*g, 2*r, len(set2.Flows), (m2.compile + m2.install).Seconds(), e2.added, e2.deleted, e2.known.Seconds())
	if e.added != e2.added || e.deleted != e2.deleted {
		return fmt.Errorf("a rule edit costs +%d -%d at %d instances but +%d -%d at %d", e.added, e.deleted, n, e2.added, e2.deleted, 2*n)
	}
	return nil
}

// edit is what one rule edit cost.
type edit struct {
	what                   string
	compile, known, dumped time.Duration // medians
	best                   time.Duration
	added, deleted         int
	dumpAdded, dumpDeleted int
}

// editRuns is how many times the edit (and its undoing) is timed: single
// runs of tens of milliseconds vary a lot on a small shared machine.
const editRuns = 5

// ruleEdit changes the peer CIDR of one rule of a group in the middle (20
// members at both scales) and undoes it, editRuns times each, every time
// compiling the whole topology and syncing it against the set known to be
// installed (as the daemon, the bridge's only controller, can); then once
// more the way apply does it (dump the installed cookies, diff, bundle).
func ruleEdit(ctx context.Context, conn *ofconn.Conn, topo *flows.Topology, set *flows.Set) (edit, error) {
	var e edit
	sg := &topo.VPCs[0].SecurityGroups[len(topo.VPCs[0].SecurityGroups)/2]
	rule := &sg.Ingress[0]
	old, edited := rule.Peer, netip.MustParsePrefix("10.99.0.0/16")
	e.what = fmt.Sprintf("%s ingress[0] source %s -> %s", sg.Name, old, edited)
	var compiles, totals []time.Duration
	prev := set
	for i := 0; i < 2*editRuns; i++ {
		rule.Peer = edited
		if i%2 == 1 {
			rule.Peer = old
		}
		t0 := time.Now()
		next, err := flows.Compile(topo)
		if err != nil {
			return e, err
		}
		tc := time.Since(t0)
		a, d, err := controller.SyncFlowsFrom(ctx, conn, prev, next)
		if err != nil {
			return e, err
		}
		totals, compiles = append(totals, time.Since(t0)), append(compiles, tc)
		if i == 0 {
			e.added, e.deleted = a, d
		} else if a+d != e.added+e.deleted {
			return e, fmt.Errorf("edit %d: +%d -%d, the first +%d -%d", i, a, d, e.added, e.deleted)
		}
		prev = next
	}
	e.compile, e.known, e.best = median(compiles), median(totals), slices.Min(totals)

	rule.Peer = edited
	t1 := time.Now()
	next, err := flows.Compile(topo)
	if err != nil {
		return e, err
	}
	if e.dumpAdded, e.dumpDeleted, err = controller.SyncFlows(ctx, conn, next); err != nil {
		return e, err
	}
	e.dumped = time.Since(t1)
	rule.Peer = old
	// Back where it started: one more sync, then nothing left to do.
	if _, _, err := controller.SyncFlows(ctx, conn, set); err != nil {
		return e, err
	}
	if a, d, err := controller.SyncFlows(ctx, conn, set); err != nil || a+d != 0 {
		return e, fmt.Errorf("after undoing the edit: +%d -%d, %v", a, d, err)
	}
	return e, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// scratchBridge makes a vpcctl-owned bridge with a unique name for one run
// and returns its management socket and a function that removes it.
func scratchBridge(ctx context.Context, endpoint, prefix string) (br, mgmt string, done func(), err error) {
	c, err := ovsdb.Connect(ctx, endpoint)
	if err != nil {
		return "", "", nil, err
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	br = prefix + hex.EncodeToString(b)
	if err := c.EnsureBridge(ctx, ovsdb.BridgeSpec{Name: br, DatapathType: "netdev", TableNames: flows.TableNames(),
		Protocols: []string{"OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"}}); err != nil {
		c.Close()
		return "", "", nil, err
	}
	rundir := "/var/run/openvswitch"
	if p, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		rundir = filepath.Dir(p)
	}
	done = func() {
		_ = c.DeleteBridge(ctx, br)
		c.Close()
	}
	// ovs-vswitchd makes the management socket a moment after the bridge.
	mgmt = filepath.Join(rundir, br+".mgmt")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(mgmt); err == nil {
			break
		} else if time.Now().After(deadline) {
			done()
			return "", "", nil, fmt.Errorf("bridge %s: no management socket after 10 s: %w", br, err)
		}
	}
	return br, mgmt, done, nil
}

// measured is what compileAndInstall timed.
type measured struct {
	compile, install time.Duration
	allocMB          float64
	allocs           uint64
	added            int
}

// compileAndInstall compiles a topology and installs its flows on a fresh
// bridge in one bundle, timing both; the connection stays open for more runs.
func compileAndInstall(ctx context.Context, mgmt string, topo *flows.Topology) (*ofconn.Conn, *flows.Set, measured, error) {
	var m measured
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	set, err := flows.Compile(topo)
	if err != nil {
		return nil, nil, m, err
	}
	m.compile = time.Since(t0)
	runtime.ReadMemStats(&m1)
	m.allocMB = float64(m1.TotalAlloc-m0.TotalAlloc) / 1e6
	m.allocs = m1.Mallocs - m0.Mallocs
	conn, err := ofconn.Dial(ctx, "unix:"+mgmt)
	if err != nil {
		return nil, nil, m, err
	}
	t1 := time.Now()
	if m.added, _, err = controller.SyncFlows(ctx, conn, set); err != nil {
		conn.Close()
		return nil, nil, m, err
	}
	m.install = time.Since(t1)
	return conn, set, m, nil
}

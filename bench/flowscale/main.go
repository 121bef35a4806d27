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

// runSG times the security-group case: many instances, groups and rules.
func runSG(endpoint string, n, g, r int) error {
	ctx := context.Background()
	_, mgmt, done, err := scratchBridge(ctx, endpoint, "fg")
	if err != nil {
		return err
	}
	defer done()
	conn, set, m, err := compileAndInstall(ctx, mgmt, flows.SyntheticSG(n, g, r))
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
	fmt.Printf("security groups: %d instances in %d groups with %d rules\n", n, g, r)
	fmt.Printf("  flows: %d in all, %d for security groups (%.1f per rule)\n", len(set.Flows), sg, float64(sg)/float64(r))
	fmt.Printf("  compile %.3f s, install %.3f s (%d adds in one bundle)\n", tCompile.Seconds(), tInstall.Seconds(), added)
	return nil
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
	return br, filepath.Join(rundir, br+".mgmt"), done, nil
}

// measured is what compileAndInstall timed.
type measured struct {
	compile, install time.Duration
	allocMB          float64
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

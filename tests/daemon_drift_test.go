package tests

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// vpcctlFlow is one installed flow with vpcctl's cookie marker.
type vpcctlFlow struct {
	Cookie uint64
	Table  int
	Line   string
}

// ovs-ofctl leaves out "table=0".
var flowLineRE = regexp.MustCompile(`cookie=(0x[0-9a-f]+), (?:.*table=(\d+),)?`)

// vpcctlFlows lists the bridge's flows with vpcctl's cookie marker (0xa5).
func vpcctlFlows(t *testing.T, br string) []vpcctlFlow {
	t.Helper()
	r := sh(t, "ovs-ofctl -O OpenFlow13 --no-names --no-stats dump-flows "+br+" cookie=0xa500000000000000/0xff00000000000000")
	if r.Code != 0 {
		t.Fatalf("dump-flows %s: %s", br, r.Stderr)
	}
	var out []vpcctlFlow
	for _, line := range strings.Split(r.Stdout, "\n") {
		m := flowLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		c, err := strconv.ParseUint(m[1], 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		tbl := 0
		if m[2] != "" {
			tbl, _ = strconv.Atoi(m[2])
		}
		out = append(out, vpcctlFlow{c, tbl, strings.TrimSpace(line)})
	}
	return out
}

// flowKeys is the (table, cookie) set of flows, as "table/cookie" strings.
func flowKeys(fs []vpcctlFlow) map[string]bool {
	out := make(map[string]bool, len(fs))
	for _, f := range fs {
		out[fmt.Sprintf("%d/%#x", f.Table, f.Cookie)] = true
	}
	return out
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// instanceMAC reads the MAC of an instance's link inside its namespace.
func instanceMAC(t *testing.T, br, instance string) string {
	t.Helper()
	r := sh(t, "ip -n vpcctl."+br+"."+instance+" -o link show | grep -v ' lo:' | grep -o 'link/ether [0-9a-f:]*' | head -1")
	mac := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.Stdout), "link/ether"))
	if mac == "" {
		t.Fatalf("no MAC for %s: %s %s", instance, r.Stdout, r.Stderr)
	}
	return mac
}

// replaceFlow deletes the flows of cookie and adds flow, in one bundle.
func replaceFlow(t *testing.T, br string, cookie uint64, flow string) {
	t.Helper()
	cmds := fmt.Sprintf("delete cookie=%#x/-1\nadd %s\n", cookie, flow)
	if r := sh(t, "printf '"+cmds+"' | ovs-ofctl -O OpenFlow13 --bundle add-flows "+br+" -"); r.Code != 0 {
		t.Fatalf("replacing flow %#x: %s", cookie, r.Stderr)
	}
}

// driftsSeen counts the drifts the daemon has noticed so far (logged
// before it repairs them).
func (d *daemonProc) driftsSeen() int {
	return strings.Count(d.log.String(), `msg="dataplane differs from the file"`)
}

// drifts counts the daemon's drift repairs so far.
func (d *daemonProc) drifts() int {
	return strings.Count(d.log.String(), "event=applied reason=drift")
}

// waitDrift waits (at most 30 s: the daemon checks every 10 s) for the
// daemon's n-th drift repair to be applied.
func (d *daemonProc) waitDrift(n int) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.drifts() < n {
		if time.Now().After(deadline) {
			d.t.Fatalf("no drift repair #%d within 30 s:\n%s", n, d.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDaemonRepairsReplacedFlows: the drift check compares the installed
// (table, cookie) set with the desired one, so a flow replaced by another
// vpcctl-marked flow (same number of flows), or moved to another table
// under its own cookie (same number, same cookies), is noticed and repaired.
func TestDaemonRepairsReplacedFlows(t *testing.T) {
	br := uniqueBridge("tdf")
	file := topology(t, br, daemonHello)
	d := startDaemon(t, file)
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatalf("no connectivity before the change\n%s", d.log.String())
	}
	want := vpcctlFlows(t, br)
	wantKeys := flowKeys(want)

	// The flow that delivers to bob: the one matching his MAC as destination.
	mac := instanceMAC(t, br, "bob")
	var victim *vpcctlFlow
	for i, f := range want {
		if strings.Contains(f.Line, "dl_dst="+mac) && strings.Contains(f.Line, "priority=") {
			victim = &want[i]
			break
		}
	}
	if victim == nil {
		t.Fatalf("no flow with dl_dst=%s among:\n%v", mac, want)
	}
	t.Logf("victim: %s", victim.Line)

	// 1. Replace it with a bogus vpcctl-marked flow: same number of flows.
	// (One bundle: the daemon's check, which may run at any moment, sees
	// the flows before or after, never half of it; and it may repair before
	// the looks below, which are skipped then.)
	seen := d.driftsSeen()
	replaceFlow(t, br, victim.Cookie, "table=0,cookie=0xa5ff00000000beef,priority=1,ip,nw_dst=10.99.99.99,actions=drop")
	if got := vpcctlFlows(t, br); d.driftsSeen() == seen && (len(got) != len(want) || sameKeys(flowKeys(got), wantKeys)) {
		t.Fatalf("setup: %d flows (want %d, with another set)", len(got), len(want))
	}
	if ping(t, br, "alice", "10.0.1.20") && d.driftsSeen() == seen {
		t.Errorf("alice still reaches bob without the flow to his MAC: the test removed the wrong flow")
	}
	d.waitDrift(1)
	if got := flowKeys(vpcctlFlows(t, br)); !sameKeys(got, wantKeys) {
		t.Fatalf("after the repair the flows differ from the desired set\n%s", d.log.String())
	}
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatalf("alice cannot reach bob after the repair\n%s", d.log.String())
	}

	// 2. Move it to another table under its own cookie: same number of
	// flows, same cookies; only the tables differ.
	other := 0
	if victim.Table == 0 {
		other = 1
	}
	seen = d.driftsSeen()
	replaceFlow(t, br, victim.Cookie, fmt.Sprintf("table=%d,cookie=%#x,priority=1,ip,nw_dst=10.99.99.98,actions=drop", other, victim.Cookie))
	if got := vpcctlFlows(t, br); d.driftsSeen() == seen && (len(got) != len(want) || sameKeys(flowKeys(got), wantKeys)) {
		t.Fatalf("setup: %d flows (want %d, with another set)", len(got), len(want))
	}
	d.waitDrift(2)
	if got := flowKeys(vpcctlFlows(t, br)); !sameKeys(got, wantKeys) {
		t.Fatalf("after the repair the flows differ from the desired set\n%s", d.log.String())
	}
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatalf("alice cannot reach bob after the repair\n%s", d.log.String())
	}

	log := d.log.String()
	for _, s := range []string{"1 missing", "1 not desired", "1 in the wrong table or duplicated"} {
		if !strings.Contains(log, s) {
			t.Errorf("the drift reasons do not say %q:\n%s", s, log)
		}
	}
	// The repairs went over ovs-vswitchd's connection to the daemon, not a
	// new connection to the management socket.
	if !strings.Contains(log, `reason=drift openflow="controller connection"`) {
		t.Errorf("the drift repair did not use the controller connection:\n%s", log)
	}
}

// TestDaemonRepairsDeletedPort: someone deletes an instance's OVS port. The
// daemon's OVSDB cache shows it (no polling of the server): the daemon puts
// the port back, under its OpenFlow port number, so the flows still fit.
func TestDaemonRepairsDeletedPort(t *testing.T) {
	br := uniqueBridge("tdp")
	file := topology(t, br, daemonHello)
	d := startDaemon(t, file)
	if !ping(t, br, "alice", "10.0.1.30") {
		t.Fatalf("no connectivity before the change\n%s", d.log.String())
	}
	port := host.HostVethName(br, "alice")
	ofport := strings.TrimSpace(sh(t, "ovs-vsctl get interface "+port+" ofport").Stdout)
	flowsBefore := flowKeys(vpcctlFlows(t, br))
	deleted := time.Now()
	if r := sh(t, "ovs-vsctl del-port "+br+" "+port); r.Code != 0 {
		t.Fatalf("del-port: %s", r.Stderr)
	}
	d.waitDrift(1)
	t.Logf("port back %v after it was deleted", time.Since(deleted).Round(time.Millisecond))
	if !strings.Contains(d.log.String(), "are not on bridge") {
		t.Errorf("the drift reason does not name the missing port:\n%s", d.log.String())
	}
	if got := strings.TrimSpace(sh(t, "ovs-vsctl get interface "+port+" ofport").Stdout); got != ofport {
		t.Errorf("ofport of %s: %s, was %s", port, got, ofport)
	}
	if !sameKeys(flowKeys(vpcctlFlows(t, br)), flowsBefore) {
		t.Errorf("the flows changed")
	}
	if !pingUntil(t, br, "alice", "10.0.1.30", 10*time.Second) {
		t.Fatalf("alice cannot reach carol after the repair\n%s", d.log.String())
	}
}

package ofconn

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testOVS is a private ovsdb-server + ovs-vswitchd with one netdev bridge,
// all under its own directory so tests never touch the system's OVS.
type testOVS struct {
	tb    testing.TB
	dir   string
	br    string
	vsPid int
	dbPid int // daemons are our children (see daemon)
}

// startOVS starts a private OVS. It fails (never skips) the test when OVS
// cannot start: these tests are the only proof the package works.
func startOVS(tb testing.TB) *testOVS {
	tb.Helper()
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "ofc")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	o := &testOVS{tb: tb, dir: dir, br: fmt.Sprintf("tb%06x", rand.IntN(1<<24))}

	o.run("ovsdb-tool", "create", o.path("conf.db"), "/usr/share/openvswitch/vswitch.ovsschema")
	o.dbPid = o.daemon("db.sock", "ovsdb-server", o.path("conf.db"), "--remote=punix:"+o.path("db.sock"),
		"--pidfile="+o.path("ovsdb.pid"), "--unixctl="+o.path("ovsdb.ctl"), "--log-file="+o.path("ovsdb.log"))
	// Its own network namespace: the userspace datapath creates a tap
	// device named "ovs-netdev" (and one per bridge) in the namespace it
	// runs in, so a second ovs-vswitchd in the same namespace fails with
	// "datapath ovs-netdev already exists but cannot be opened", and the
	// taps outlive the daemon. The namespace dies with the daemon and takes
	// them along. Unix sockets are reachable across namespaces.
	o.vsPid = o.daemon("vs.ctl", "unshare", "--net", "--", "ovs-vswitchd", "unix:"+o.path("db.sock"),
		"--pidfile="+o.path("vs.pid"), "--unixctl="+o.path("vs.ctl"), "--log-file="+o.path("vs.log"))
	o.vsctl("add-br", o.br, "--", "set", "bridge", o.br, "datapath_type=netdev", "fail_mode=secure")
	o.waitFile(o.br + ".mgmt")
	return o
}

// daemon starts an OVS daemon as our child, not with --detach: with
// Pdeathsig the kernel kills it even when the test binary dies without
// running its cleanups (a test timeout panics), so no daemon outlives a
// run. It returns once the daemon has created readyFile.
func (o *testOVS) daemon(readyFile, name string, args ...string) int {
	o.tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = o.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		o.tb.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	o.tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(o.path(readyFile)); err == nil {
			return cmd.Process.Pid
		}
		select {
		case <-exited:
			o.tb.Fatalf("%s exited at start: %v\n%s", name, cmd.ProcessState, o.logs())
		default:
		}
		if time.Now().After(deadline) {
			o.tb.Fatalf("%s did not create %s\n%s", name, readyFile, o.logs())
		}
	}
}

func (o *testOVS) env() []string {
	// OVS_RUNDIR keeps the bridge's .mgmt socket in our directory.
	return append(os.Environ(), "OVS_RUNDIR="+o.dir, "OVS_DBDIR="+o.dir, "OVS_LOGDIR="+o.dir)
}

func (o *testOVS) path(name string) string { return filepath.Join(o.dir, name) }

// mgmt is the bridge's management socket, the one ovs-ofctl uses.
func (o *testOVS) mgmt() string { return "unix:" + o.path(o.br+".mgmt") }

func (o *testOVS) run(name string, args ...string) string {
	o.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = o.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		o.tb.Fatalf("%s %s: %v\nstderr: %s\n%s", name, strings.Join(args, " "), err, stderr.String(), o.logs())
	}
	return stdout.String()
}

func (o *testOVS) vsctl(args ...string) string {
	o.tb.Helper()
	return o.run("ovs-vsctl", append([]string{"--db=unix:" + o.path("db.sock"), "--timeout=30"}, args...)...)
}

func (o *testOVS) ofctl(args ...string) string {
	o.tb.Helper()
	return o.run("ovs-ofctl", append([]string{"-O", "OpenFlow13", "--no-names"}, args...)...)
}

// dumpFlows returns ovs-ofctl's flow lines (without the reply header).
func (o *testOVS) dumpFlows() []string {
	o.tb.Helper()
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(o.ofctl("dump-flows", o.mgmt())))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "cookie=") {
			lines = append(lines, l)
		}
	}
	return lines
}

var cookieRE = regexp.MustCompile(`^cookie=0x([0-9a-f]+),`)

// installedCookies maps cookie to ovs-ofctl's line for every flow.
func (o *testOVS) installedCookies() map[uint64]string {
	o.tb.Helper()
	m := make(map[uint64]string)
	for _, l := range o.dumpFlows() {
		mm := cookieRE.FindStringSubmatch(l)
		if mm == nil {
			o.tb.Fatalf("unparsable flow line %q", l)
		}
		c, _ := strconv.ParseUint(mm[1], 16, 64)
		m[c] = l
	}
	return m
}

func (o *testOVS) waitFile(name string) {
	o.tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(o.path(name)); err == nil {
			return
		}
	}
	o.tb.Fatalf("%s did not appear\n%s", name, o.logs())
}

func (o *testOVS) logs() string {
	var b strings.Builder
	for _, f := range []string{"ovsdb.log", "vs.log"} {
		data, _ := os.ReadFile(o.path(f))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", f, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

func dialTest(tb testing.TB, o *testOVS, opts ...Option) *Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, o.mgmt(), opts...)
	if err != nil {
		tb.Fatalf("Dial: %v\n%s", err, o.logs())
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

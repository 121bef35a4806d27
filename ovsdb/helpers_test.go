package ovsdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ovs is an ovsdb-server (and maybe ovs-vswitchd) of one test, in its own
// temporary directory, stopped by t.Cleanup.
type ovs struct {
	dir  string // rundir: sockets, pid files, logs, database
	sock string // ovsdb-server's unix socket
}

// tempDir returns a short temporary directory (unix socket paths are
// limited to 107 bytes, and t.TempDir paths carry the test name).
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vpcovs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// mustLook fails the test (it does not skip it) when an OVS program is missing.
func mustLook(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is needed for this test (apt-get install openvswitch-switch): %v", prog, err)
	}
	return p
}

// startOVSDB creates an empty database from the committed schema and runs
// ovsdb-server on it as a child process.
func startOVSDB(t *testing.T) *ovs {
	t.Helper()
	server := mustLook(t, "ovsdb-server")
	tool := mustLook(t, "ovsdb-tool")
	o := &ovs{dir: tempDir(t)}
	o.sock = filepath.Join(o.dir, "db.sock")
	db := filepath.Join(o.dir, "conf.db")
	if out, err := exec.Command(tool, "create", db, "vswitchd/vswitch.ovsschema").CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	start(t, "ovsdb-server", nil, server, db,
		"--remote=punix:"+o.sock,
		"--unixctl="+filepath.Join(o.dir, "ovsdb.ctl"),
		"--pidfile="+filepath.Join(o.dir, "ovsdb.pid"),
		"--log-file="+filepath.Join(o.dir, "ovsdb.log"))
	waitListening(t, o.sock)
	return o
}

// startVswitchd runs ovs-vswitchd against the test's database, in a network
// namespace of its own (unshare -n): the userspace datapath's "ovs-netdev"
// tap and the bridges' taps then cannot clash with other OVS instances on
// the machine. OVS_RUNDIR puts the bridges' .mgmt sockets in o.dir.
func (o *ovs) startVswitchd(t *testing.T) {
	t.Helper()
	vswitchd := mustLook(t, "ovs-vswitchd")
	unshare := mustLook(t, "unshare")
	start(t, "ovs-vswitchd", []string{"OVS_RUNDIR=" + o.dir}, unshare, "--net", vswitchd,
		"unix:"+o.sock,
		"--unixctl="+filepath.Join(o.dir, "vswitchd.ctl"),
		"--pidfile="+filepath.Join(o.dir, "vswitchd.pid"),
		"--log-file="+filepath.Join(o.dir, "vswitchd.log"))
	waitFile(t, filepath.Join(o.dir, "vswitchd.ctl"))
}

// start runs a program in the foreground as a child; t.Cleanup stops it
// with SIGTERM (SIGKILL after 5 s) and shows its log if the test failed.
func start(t *testing.T, name string, env []string, prog string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && out.Len() > 0 {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

// waitListening waits until a unix socket accepts connections: the file
// appears at bind(), a moment before listen() (a Connect in between is refused).
func waitListening(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", path)
}

// connect returns a Client on o, closed by t.Cleanup (before the servers stop).
func (o *ovs) connect(t *testing.T) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, "unix:"+o.sock)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// vsctl runs ovs-vsctl on the test database, as a foreign tool would.
func (o *ovs) vsctl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(mustLook(t, "ovs-vsctl"), append([]string{"--db=unix:" + o.sock, "--no-wait", "--timeout=10"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// name returns a unique bridge or port name: prefix + 4 hex digits.
func name(prefix string) string {
	b := make([]byte, 2)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noWrites fails the test if fn made an OVSDB write.
func noWrites(t *testing.T, c *Client, what string, fn func() error) {
	t.Helper()
	before := c.Writes()
	if err := fn(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if n := c.Writes() - before; n != 0 {
		t.Fatalf("%s: %d writes, want none", what, n)
	}
}

// oneWrite fails the test unless fn made exactly one OVSDB write.
func oneWrite(t *testing.T, c *Client, what string, fn func() error) {
	t.Helper()
	before := c.Writes()
	if err := fn(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if n := c.Writes() - before; n != 1 {
		t.Fatalf("%s: %d writes, want 1", what, n)
	}
}

// seen waits until the client's cache shows a change another client (like
// ovs-vsctl) made: the monitor update reaches it asynchronously, after
// ovs-vsctl has returned. Without the wait a test acts on the old state.
func seen(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("the client's cache never showed %s", what)
}

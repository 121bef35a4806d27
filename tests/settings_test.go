package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// vpcctlEnv runs the binary under test with the test's environment minus
// every VPCCTL_* variable, plus env ("NAME=value").
func vpcctlEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vpcctlBin, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "VPCCTL_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("vpcctl %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("vpcctl %s: still running after 2 min", strings.Join(args, " "))
	}
	return result{so.String(), se.String(), code}
}

// freePort is a TCP port on 127.0.0.1 nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ovsdbTCP makes the shared ovsdb-server listen on a TCP port of 127.0.0.1
// too, until the test ends, and returns the port.
func ovsdbTCP(t *testing.T) int {
	t.Helper()
	port := freePort(t)
	remote := fmt.Sprintf("ptcp:%d:127.0.0.1", port)
	if r := sh(t, "ovs-appctl -t ovsdb-server ovsdb-server/add-remote "+remote); r.Code != 0 {
		t.Fatalf("add-remote %s: %s", remote, r.Stderr)
	}
	t.Cleanup(func() {
		if r := sh(t, "ovs-appctl -t ovsdb-server ovsdb-server/remove-remote "+remote); r.Code != 0 {
			t.Errorf("cleanup: remove-remote %s: %s", remote, r.Stderr)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovsdb-server does not listen on %s: %v", remote, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// relay forwards TCP connections to target and counts them: a command that
// succeeded through it did dial the endpoint it was given.
type relay struct {
	addr     string
	accepted atomic.Int64
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &relay{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accepted.Add(1)
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				go func() { _, _ = io.Copy(d, c); d.Close() }()
				_, _ = io.Copy(c, d)
			}()
		}
	}()
	return r
}

// The OVSDB endpoint set by flag, by environment and by config file each
// take effect (vpcctl status -o json through ovsdb-server's TCP remote, via a
// relay that counts the connections), a bogus endpoint set each way is named
// in the error, and flag beats environment beats file.
func TestSettingsOVSDBEndpoint(t *testing.T) {
	br := uniqueBridge("setg")
	mustVpcctl(t, "apply", "-f", topology(t, br, `vpcs:
  - name: v
    cidr: 10.93.0.0/16
    subnets: [{name: s, cidr: 10.93.1.0/24}]
`))
	rl := startRelay(t, fmt.Sprintf("127.0.0.1:%d", ovsdbTCP(t)))
	good := "tcp:" + rl.addr
	bogus := func(way string) string { return "unix:/nonexistent/vpcctl-settings-" + way + ".sock" }
	dir := t.TempDir()
	configFile := func(name, endpoint string) string {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte("# vpcctl settings\novsdb: "+endpoint+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFile, bogusFile := configFile("good", good), configFile("bogus", bogus("file"))

	// ok runs status and checks it answered through the relay.
	ok := func(name string, env []string, args ...string) {
		t.Helper()
		before := rl.accepted.Load()
		r := vpcctlEnv(t, env, append(args, "status", "-o", "json")...)
		// status lists bridges, then reads each one's ports: a bridge another
		// test destroys in between makes it fail (`bridge "x": not found`).
		for i := 0; i < 3 && r.Code == 1 && strings.Contains(r.Stderr, ": not found") && !strings.Contains(r.Stderr, br); i++ {
			r = vpcctlEnv(t, env, append(args, "status", "-o", "json")...)
		}
		if r.Code != 0 {
			t.Fatalf("%s: exit %d: %s", name, r.Code, r.Stderr)
		}
		if rl.accepted.Load() == before {
			t.Errorf("%s: status succeeded without dialing %s", name, good)
		}
		var st struct{ Bridges []struct{ Name string } }
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
			t.Fatalf("%s: status -o json: %v\n%s", name, err, r.Stdout)
		}
		found := false
		for _, b := range st.Bridges {
			found = found || b.Name == br
		}
		if !found {
			t.Errorf("%s: status through %s lacks bridge %s: %s", name, good, br, r.Stdout)
		}
	}
	// fails runs status and checks the error names endpoint, which it did not reach.
	fails := func(name, endpoint string, env []string, args ...string) {
		t.Helper()
		before := rl.accepted.Load()
		r := vpcctlEnv(t, env, append(args, "status", "-o", "json")...)
		if r.Code != 1 || !strings.Contains(r.Stderr, endpoint) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and an error naming %s", name, r.Code, r.Stderr, endpoint)
		}
		if rl.accepted.Load() != before {
			t.Errorf("%s: dialed %s, want only %s", name, good, endpoint)
		}
	}
	// Each way alone.
	ok("flag", nil, "--config", "", "--ovsdb", good)
	ok("environment", []string{"VPCCTL_CONFIG=", "VPCCTL_OVSDB=" + good}, "--config", "")
	ok("file (--config)", nil, "--config", goodFile)
	ok("file (VPCCTL_CONFIG)", []string{"VPCCTL_CONFIG=" + goodFile})
	fails("bogus flag", bogus("flag"), nil, "--config", "", "--ovsdb", bogus("flag"))
	fails("bogus environment", bogus("env"), []string{"VPCCTL_OVSDB=" + bogus("env")}, "--config", "")
	fails("bogus file", bogus("file"), nil, "--config", bogusFile)

	// Precedence: flag > environment > file, both ways round.
	ok("flag beats environment and file", []string{"VPCCTL_OVSDB=" + bogus("env")}, "--config", bogusFile, "--ovsdb", good)
	fails("flag beats environment (bogus flag)", bogus("flag"), []string{"VPCCTL_OVSDB=" + good}, "--config", goodFile, "--ovsdb", bogus("flag"))
	ok("environment beats file", []string{"VPCCTL_OVSDB=" + good, "VPCCTL_CONFIG=" + bogusFile})
	fails("environment beats file (bogus environment)", bogus("env"), []string{"VPCCTL_OVSDB=" + bogus("env"), "VPCCTL_CONFIG=" + goodFile})

	// A malformed endpoint is bad input (exit 2) naming where it came from.
	r := vpcctlEnv(t, []string{"VPCCTL_OVSDB=db.sock"}, "--config", "", "status")
	if r.Code != 2 || !strings.Contains(r.Stderr, `"db.sock" (from VPCCTL_OVSDB)`) {
		t.Errorf("VPCCTL_OVSDB=db.sock: exit %d, %q; want exit 2 naming the value and VPCCTL_OVSDB", r.Code, r.Stderr)
	}
	malformed := configFile("malformed", "db.sock")
	r = vpcctlEnv(t, nil, "--config", malformed, "status")
	if r.Code != 2 || !strings.Contains(r.Stderr, malformed+": key ovsdb") {
		t.Errorf("file with ovsdb: db.sock: exit %d, %q; want exit 2 naming %s and the key", r.Code, r.Stderr, malformed)
	}
	// An unknown key: exit 2 naming the file, line and key; nothing is dialed.
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("ovsdb: "+good+"\novsbd: "+good+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := rl.accepted.Load()
	r = vpcctlEnv(t, nil, "--config", typo, "status")
	if r.Code != 2 || !strings.Contains(r.Stderr, typo) || !strings.Contains(r.Stderr, `line 2: unknown key "ovsbd"`) || rl.accepted.Load() != before {
		t.Errorf("file with key ovsbd: exit %d, %q; want exit 2 naming %s, line 2 and the key, and no connection", r.Code, r.Stderr, typo)
	}
	// A named file that does not exist is an error naming it.
	absent := filepath.Join(dir, "absent.yaml")
	r = vpcctlEnv(t, []string{"VPCCTL_CONFIG=" + absent}, "status")
	if r.Code != 2 || !strings.Contains(r.Stderr, absent) || !strings.Contains(r.Stderr, "VPCCTL_CONFIG") {
		t.Errorf("VPCCTL_CONFIG=%s (absent): exit %d, %q; want exit 2 naming the file", absent, r.Code, r.Stderr)
	}

	// The OVS run directory from the file too: flows over TCP OVSDB need the
	// bridge's management socket; a wrong directory is named in the error.
	rundirFile := func(name, rundir string) string {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte("ovsdb: "+good+"\novs-rundir: "+rundir+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r = vpcctlEnv(t, nil, "--config", rundirFile("rundir", "/var/run/openvswitch"), "flows", "--bridge", br)
	if r.Code != 0 || !strings.Contains(r.Stdout, "table=") && !strings.Contains(r.Stdout, "Classifier") {
		t.Errorf("flows with ovsdb and ovs-rundir from the file: exit %d, %q, %q", r.Code, r.Stdout, r.Stderr)
	}
	r = vpcctlEnv(t, nil, "--config", rundirFile("badrundir", "/nonexistent/vpcctl-rundir"), "flows", "--bridge", br)
	if r.Code == 0 || !strings.Contains(r.Stderr, "/nonexistent/vpcctl-rundir/"+br+".mgmt") {
		t.Errorf("flows with a bogus ovs-rundir from the file: exit %d, %q; want an error naming the socket", r.Code, r.Stderr)
	}
}

// Log level and format from the environment: every line apply logs at debug
// is a JSON object.
func TestSettingsLogFormatJSON(t *testing.T) {
	br := uniqueBridge("setj")
	file := topology(t, br, `vpcs:
  - name: v
    cidr: 10.94.0.0/16
    subnets: [{name: s, cidr: 10.94.1.0/24}]
`)
	r := vpcctlEnv(t, []string{"VPCCTL_LOG_LEVEL=debug", "VPCCTL_LOG_FORMAT=json"}, "--config", "", "apply", "-f", file)
	if r.Code != 0 {
		t.Fatalf("apply: exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("apply at debug logged nothing")
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("not a JSON log record: %q (%v)", l, err)
		}
	}
	// Without them: text, and nothing at the default level (warn) for a clean apply.
	r = vpcctlEnv(t, nil, "--config", "", "apply", "-f", file)
	if r.Code != 0 || strings.TrimSpace(r.Stderr) != "" {
		t.Errorf("apply at the default level: exit %d, stderr %q; want nothing logged", r.Code, r.Stderr)
	}
}

// The daemon takes its settings the same way: the OVSDB endpoint and the
// metrics address (a daemon flag with no settings code of its own) from the
// config file, the log format from the environment, at its default level
// (info).
func TestSettingsDaemon(t *testing.T) {
	br := uniqueBridge("setd")
	file := topology(t, br, `vpcs:
  - name: v
    cidr: 10.95.0.0/16
    subnets: [{name: s, cidr: 10.95.1.0/24}]
`)
	rl := startRelay(t, fmt.Sprintf("127.0.0.1:%d", ovsdbTCP(t)))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(conf, []byte("ovsdb: tcp:"+rl.addr+"\nmetrics-addr: "+metricsAddr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(vpcctlBin, "daemon", "-f", file)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "VPCCTL_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "VPCCTL_CONFIG="+conf, "VPCCTL_LOG_FORMAT=json")
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return os.ErrDeadlineExceeded
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("daemon: %v\n%s", err, log.String())
		}
	})

	// Applied, logged as JSON at info.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), `"event":"applied"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no JSON \"applied\" record within 30 s:\n%s", log.String())
		}
		select {
		case err := <-done:
			t.Fatalf("daemon exited (%v):\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if rl.accepted.Load() == 0 {
		t.Errorf("the daemon applied without dialing the OVSDB endpoint of the file (tcp:%s)", rl.addr)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics at %s (metrics-addr from the file): %v", metricsAddr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "vpcctl_") {
		t.Errorf("GET /metrics: %s, %.300s", resp.Status, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("daemon: SIGTERM: %v\n%s", err, log.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("not a JSON log record: %q", l)
		} else if rec["level"] == "DEBUG" {
			t.Errorf("debug record at the daemon's default level: %q", l)
		}
	}
}

// make install puts the binary and the daemon's unit where the unit expects
// them (PREFIX is substituted), and systemd-analyze verify finds nothing to
// say about the unit (it is not started: systemd need not run here).
func TestSettingsSystemdUnit(t *testing.T) {
	dest := t.TempDir()
	r := run(t, 2*time.Minute, "make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/opt/vpcctl", "BIN="+filepath.Join(t.TempDir(), "vpcctl"))
	if r.Code != 0 {
		t.Fatalf("make install: %s%s", r.Stdout, r.Stderr)
	}
	bin := filepath.Join(dest, "opt/vpcctl/bin/vpcctl")
	if st, err := os.Stat(bin); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary %s: %v %v", bin, st, err)
	}
	unitPath := filepath.Join(dest, "etc/systemd/system/vpcctl@.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/opt/vpcctl/bin/vpcctl daemon -f /etc/vpcctl/%i.yaml\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"Restart=on-failure\n",
		"After=network-online.target openvswitch-switch.service",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("installed unit lacks %q:\n%s", want, unit)
		}
	}
	if st, err := os.Stat(filepath.Join(dest, "etc/vpcctl")); err != nil || !st.IsDir() {
		t.Errorf("make install made no /etc/vpcctl: %v", err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the unit was checked by its text only")
		return
	}
	// An instance of the unit, pointing at the installed binary.
	inst := filepath.Join(t.TempDir(), "vpcctl@prod.service")
	text := strings.ReplaceAll(string(unit), "/opt/vpcctl/bin/vpcctl", bin)
	if err := os.WriteFile(inst, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, time.Minute, "systemd-analyze", "verify", inst); r.Code != 0 || strings.TrimSpace(r.Stdout+r.Stderr) != "" {
		t.Errorf("systemd-analyze verify: exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
}

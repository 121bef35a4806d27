// Package tests holds the end-to-end tests: the vpcctl binary against a real
// ovsdb-server and ovs-vswitchd, real namespaces, veths and traffic. They need
// root and fail (never skip) when OVS cannot be started.
package tests

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vpcctlBin is the binary under test, built once by TestMain.
var vpcctlBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "end-to-end tests need root (namespaces, veths, OVS)")
		return 1
	}
	dir, err := os.MkdirTemp("", "vpcctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	vpcctlBin = filepath.Join(dir, "vpcctl")
	if out, err := exec.Command("go", "build", "-o", vpcctlBin, "../cmd/vpcctl").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building vpcctl: %v\n%s", err, out)
		return 1
	}
	// The same command a user runs: starts OVS unless one runs already.
	if out, err := exec.Command(vpcctlBin, "ovs", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot start Open vSwitch: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is what a command printed and how it exited.
type result struct {
	Stdout, Stderr string
	Code           int
}

// run executes a command with a time bound and returns its result.
func run(t *testing.T, timeout time.Duration, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: still running after %v", name, strings.Join(args, " "), timeout)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{so.String(), se.String(), code}
}

// vpcctl runs the binary under test.
func vpcctl(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, 2*time.Minute, vpcctlBin, args...)
}

// mustVpcctl runs the binary and fails the test on a non-zero exit.
func mustVpcctl(t *testing.T, args ...string) string {
	t.Helper()
	r := vpcctl(t, args...)
	if r.Code != 0 {
		t.Fatalf("vpcctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// sh runs a shell command (tests may inspect with ip, ovs-vsctl, ovs-ofctl).
func sh(t *testing.T, script string) result {
	t.Helper()
	return run(t, time.Minute, "sh", "-c", script)
}

// uniqueBridge is a bridge name no other test run uses (IFNAMSIZ: <= 15).
func uniqueBridge(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// topology writes a topology file with the bridge name filled in and
// registers a cleanup that destroys it even when the test fails.
func topology(t *testing.T, bridge, yaml string) string {
	t.Helper()
	return topologyFile(t, "version: 1\nbridge: "+bridge+"\n"+yaml)
}

// topologyFile writes a whole topology file and destroys what it made at the end.
func topologyFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// An invalid file (exit 2) cannot have created anything to destroy.
		if r := vpcctl(t, "destroy", "-f", path); r.Code != 0 && r.Code != 2 {
			t.Errorf("cleanup: destroy: %s", r.Stderr)
		}
	})
	return path
}

// inNS runs a command inside an instance's namespace through `vpcctl exec`.
func inNS(t *testing.T, bridge, instance string, timeout time.Duration, argv ...string) result {
	t.Helper()
	args := append([]string{"exec", "--bridge", bridge, instance, "--"}, argv...)
	return run(t, timeout, vpcctlBin, args...)
}

// ping sends a bounded number of pings and says whether any reply came.
func ping(t *testing.T, bridge, from, to string) bool {
	t.Helper()
	r := inNS(t, bridge, from, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "1", to)
	return r.Code == 0
}

// bg is a command running in the background, stopped by the test.
type bg struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // what it printed, for failure messages
	done chan struct{}
}

// inNSBackground starts a command inside an instance and stops it at the end
// of the test at the latest.
func inNSBackground(t *testing.T, bridge, instance string, argv ...string) *bg {
	t.Helper()
	args := append([]string{"exec", "--bridge", bridge, instance, "--"}, argv...)
	b := &bg{cmd: exec.Command(vpcctlBin, args...), done: make(chan struct{})}
	cmd := b.cmd
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	return b
}

func (b *bg) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Kill()
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
	}
}

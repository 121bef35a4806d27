package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// simHostsScript makes simulated hypervisors: a network namespace each, with
// its own ovsdb-server and ovs-vswitchd, joined by an underlay (see the script).
const simHostsScript = "../scripts/sim-hosts.sh"

// simHost is one simulated hypervisor of scripts/sim-hosts.sh.
type simHost struct {
	Name     string // "h1", "h2", ...: the host's name within its set
	NS       string // its network namespace, PREFIX-h1; also the script's NAME
	TunnelIP string // its underlay (Geneve) address, 100.64.0.K, on the OVS bridge ul0
	OVSDB    string // its ovsdb-server, unix:/run/vpcctl-sim/PREFIX-hK/db.sock
	RunDir   string // its OVS run directory (pidfiles, BRIDGE.mgmt sockets)
}

// startSimHosts starts n simulated hosts under a prefix no other test uses and
// removes them when the test ends, failed or not. It fails the test (never
// skips) when they cannot start.
func startSimHosts(t *testing.T, n int) []simHost {
	t.Helper()
	prefix := uniqueBridge("sim")
	// Registered before `up`: a partial up (killed by the timeout) goes too.
	t.Cleanup(func() {
		if out, err := simHostsCmd(2*time.Minute, "down", prefix); err != nil {
			t.Errorf("cleanup: sim-hosts.sh down %s: %v\n%s", prefix, err, out)
		}
	})
	out, err := simHostsCmd(3*time.Minute, "up", prefix, strconv.Itoa(n))
	if err != nil {
		t.Fatalf("sim-hosts.sh up %s %d: %v\n%s", prefix, n, err, out)
	}
	hosts, err := parseSimHosts(prefix, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != n {
		t.Fatalf("sim-hosts.sh up %s %d: %d hosts listed:\n%s", prefix, n, len(hosts), out)
	}
	return hosts
}

// simHostsCmd runs the script with the binary under test, bounded in time;
// out holds stdout, and stderr too when it fails.
func simHostsCmd(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{simHostsScript}, args...)...)
	cmd.Env = append(os.Environ(), "BIN="+vpcctlBin)
	// The script's daemons detach; do not wait on their inherited stdio.
	cmd.WaitDelay = 5 * time.Second
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		return so.String() + se.String(), err
	}
	return so.String(), nil
}

// parseSimHosts reads the script's lines: NAME TUNNEL_IP OVSDB_ENDPOINT RUNDIR.
func parseSimHosts(prefix, out string) ([]simHost, error) {
	var hosts []simHost
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 || !strings.HasPrefix(f[0], prefix+"-h") {
			return nil, fmt.Errorf("sim-hosts.sh: unexpected line %q", line)
		}
		hosts = append(hosts, simHost{
			Name: strings.TrimPrefix(f[0], prefix+"-"), NS: f[0],
			TunnelIP: f[1], OVSDB: f[2], RunDir: f[3],
		})
	}
	return hosts, nil
}

// prefix is the prefix the host set was started with.
func (h simHost) prefix() string { return strings.TrimSuffix(h.NS, "-"+h.Name) }

// exec runs a command inside the host's namespace.
func (h simHost) exec(t *testing.T, timeout time.Duration, argv ...string) result {
	t.Helper()
	return run(t, timeout, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
}

// background starts a command inside the host's namespace, stopped at the
// end of the test at the latest.
func (h simHost) background(t *testing.T, argv ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	return b
}

// vsctl runs ovs-vsctl against the host's ovsdb-server, inside its namespace.
func (h simHost) vsctl(t *testing.T, args ...string) result {
	t.Helper()
	return h.exec(t, 30*time.Second, append([]string{"ovs-vsctl", "--db=" + h.OVSDB, "--timeout=20"}, args...)...)
}

// mustVsctl is vsctl failing the test on a non-zero exit.
func (h simHost) mustVsctl(t *testing.T, args ...string) string {
	t.Helper()
	r := h.vsctl(t, args...)
	if r.Code != 0 {
		t.Fatalf("%s: ovs-vsctl %s: exit %d: %s", h.Name, strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// mustOfctl runs ovs-ofctl (OpenFlow 1.3) on one of the host's bridges.
func (h simHost) mustOfctl(t *testing.T, cmd, bridge string, args ...string) string {
	t.Helper()
	argv := append([]string{"ovs-ofctl", "-O", "OpenFlow13", cmd, "unix:" + filepath.Join(h.RunDir, bridge+".mgmt")}, args...)
	r := h.exec(t, 30*time.Second, argv...)
	if r.Code != 0 {
		t.Fatalf("%s: %s: exit %d: %s", h.Name, strings.Join(argv, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// ovsPidsIn lists the ovsdb-server and ovs-vswitchd processes whose command
// line names a file in dir (their run directory).
func ovsPidsIn(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		if c := strings.TrimSpace(string(comm)); c != "ovsdb-server" && c != "ovs-vswitchd" {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmdline, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// netnsWithPrefix lists the network namespaces whose names start with prefix.
func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	r := run(t, 30*time.Second, "ip", "netns", "list")
	if r.Code != 0 {
		t.Fatalf("ip netns list: %s", r.Stderr)
	}
	var names []string
	for _, line := range strings.Split(r.Stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names
}

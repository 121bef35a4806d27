package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// daemonProc is a `vpcctl daemon` running in the background.
type daemonProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  lockedBuffer
	done chan struct{}
	err  error // its exit, once done is closed
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon runs `vpcctl daemon -f file` until the end of the test, when
// it is stopped with SIGTERM (before the topology's destroy: cleanups run
// last-in first-out) and must exit 0 within 10 s. It returns once the
// daemon has applied the file.
func startDaemon(t *testing.T, file string) *daemonProc {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(vpcctlBin, "daemon", "-f", file), done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon: %v\nlog:\n%s", err, d.log.String())
		}
	})
	d.waitApplied(1)
	return d
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (d *daemonProc) stop() error {
	select {
	case <-d.done:
		return d.err
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.err
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		return os.ErrDeadlineExceeded
	}
}

func (d *daemonProc) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// applied counts the daemon's successful applies so far.
func (d *daemonProc) applied() int {
	return strings.Count(d.log.String(), " event=applied ")
}

// waitApplied waits (at most 30 s) until the daemon has applied n times.
func (d *daemonProc) waitApplied(n int) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.applied() < n {
		if !d.running() {
			d.t.Fatalf("daemon exited (%v) before apply #%d:\n%s", d.err, n, d.log.String())
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon did not apply #%d within 30 s:\n%s", n, d.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rewrite replaces the topology file the way editors do: a new file renamed
// over the old one.
func rewrite(t *testing.T, path, body string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".topology.yaml.new")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// daemonTarget is the controller target the daemon of a bridge sets.
func daemonTarget(bridge string) string {
	return "unix:/var/run/openvswitch/vpcctl-" + bridge + ".sock"
}

// pingUntil pings (one packet at a time) until a reply comes or limit passes.
func pingUntil(t *testing.T, bridge, from, to string, limit time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if inNS(t, bridge, from, 10*time.Second, "ping", "-c", "1", "-W", "1", to).Code == 0 {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// nsExists says whether an instance's namespace exists (as `ip netns` sees it).
func nsExists(bridge, instance string) bool {
	_, err := os.Stat("/run/netns/vpcctl." + bridge + "." + instance)
	return err == nil
}

const daemonHello = `vpcs:
  - name: hello
    cidr: 10.0.0.0/16
    subnets:
      - name: lan
        cidr: 10.0.1.0/24
    instances:
      - name: alice
        subnet: lan
        ip: 10.0.1.10
      - name: bob
        subnet: lan
        ip: 10.0.1.20
        attach: internal
      - name: carol
        subnet: lan
        ip: 10.0.1.30
`

func TestDaemonIsTheBridgeController(t *testing.T) {
	br := uniqueBridge("tda")
	file := topology(t, br, daemonHello)
	d := startDaemon(t, file)

	if got := strings.TrimSpace(sh(t, "ovs-vsctl get-controller "+br).Stdout); got != daemonTarget(br) {
		t.Fatalf("get-controller %s = %q, want %q", br, got, daemonTarget(br))
	}
	if got := strings.TrimSpace(sh(t, "ovs-vsctl get bridge "+br+" fail_mode").Stdout); got != "secure" {
		t.Errorf("fail_mode = %q, want secure", got)
	}
	// ovs-vswitchd refreshes Controller.is_connected every few seconds.
	query := `ovs-vsctl --bare --columns=is_connected find controller target='"` + daemonTarget(br) + `"'`
	var connected string
	for i := 0; i < 60 && connected != "true"; i++ {
		if i > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		connected = strings.TrimSpace(sh(t, query).Stdout)
	}
	if connected != "true" {
		t.Fatalf("is_connected = %q after 15 s\n%s", connected, d.log.String())
	}
	if !ping(t, br, "alice", "10.0.1.20") || !ping(t, br, "bob", "10.0.1.30") {
		t.Fatalf("no connectivity under the daemon\n%s", d.log.String())
	}

	// Stopping the daemon leaves the network running: flows and target stay
	// (OVS would flush the flows if the bridge's only controller went away).
	if err := d.stop(); err != nil {
		t.Fatalf("daemon did not stop cleanly on SIGTERM: %v\n%s", err, d.log.String())
	}
	if !strings.Contains(d.log.String(), " event=stop") {
		t.Errorf("no stop event logged:\n%s", d.log.String())
	}
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatal("the network stopped with the daemon")
	}
	if _, err := os.Stat(strings.TrimPrefix(daemonTarget(br), "unix:")); !os.IsNotExist(err) {
		t.Errorf("the daemon's socket outlived it: %v", err)
	}
}

func TestDaemonFollowsFileChanges(t *testing.T) {
	br := uniqueBridge("tdb")
	const before = `vpcs:
  - name: v
    cidr: 10.0.0.0/16
    subnets:
      - name: lan
        cidr: 10.0.1.0/24
    instances:
      - name: a
        subnet: lan
        ip: 10.0.1.10
      - name: b
        subnet: lan
        ip: 10.0.1.11
        attach: internal
      - name: c
        subnet: lan
        ip: 10.0.1.12
`
	// c goes; d joins lan; a new subnet lan2 with e and f.
	const after = `vpcs:
  - name: v
    cidr: 10.0.0.0/16
    subnets:
      - name: lan
        cidr: 10.0.1.0/24
      - name: lan2
        cidr: 10.0.2.0/24
    instances:
      - name: a
        subnet: lan
        ip: 10.0.1.10
      - name: b
        subnet: lan
        ip: 10.0.1.11
        attach: internal
      - name: d
        subnet: lan
        ip: 10.0.1.13
      - name: e
        subnet: lan2
        ip: 10.0.2.10
      - name: f
        subnet: lan2
        ip: 10.0.2.11
        attach: internal
`
	file := topology(t, br, before)
	d := startDaemon(t, file)
	if !ping(t, br, "a", "10.0.1.11") || !ping(t, br, "c", "10.0.1.10") {
		t.Fatal("no connectivity before the change")
	}

	// Traffic between two untouched instances runs through the change.
	pinger := inNSBackground(t, br, "a", "ping", "-i", "0.05", "-c", "200", "-W", "1", "10.0.1.11")
	time.Sleep(time.Second)
	rewrite(t, file, "version: 1\nbridge: "+br+"\n"+after)
	d.waitApplied(2)

	if !ping(t, br, "d", "10.0.1.10") {
		t.Errorf("new instance d cannot ping a\n%s", d.log.String())
	}
	if !ping(t, br, "e", "10.0.2.11") {
		t.Errorf("new instance e cannot ping f in the new subnet\n%s", d.log.String())
	}
	if nsExists(br, "c") {
		t.Error("removed instance c still has its namespace")
	}
	if !nsExists(br, "d") {
		t.Error("new instance d has no namespace")
	}

	select {
	case <-pinger.done:
	case <-time.After(30 * time.Second):
		t.Fatal("background ping still running after 30 s")
	}
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinger.out.String())
	if m == nil {
		t.Fatalf("no ping summary:\n%s", pinger.out.String())
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	if sent != 200 || got != sent {
		t.Errorf("unrelated traffic during the re-apply: %d sent, %d received (want 200/200)\n%s", sent, got, d.log.String())
	}
}

func TestDaemonKeepsNetworkOnInvalidFile(t *testing.T) {
	br := uniqueBridge("tdc")
	file := topology(t, br, daemonHello)
	d := startDaemon(t, file)
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatal("no connectivity before the invalid file")
	}
	flowsBefore := sh(t, "ovs-ofctl --no-names dump-flows "+br+" | grep -c cookie=0xa5").Stdout

	invalid := "version: 1\nbridge: " + br + "\n" + strings.Replace(daemonHello, "cidr: 10.0.1.0/24", "cidr: 10.0.1.0/33", 1)
	rewrite(t, file, invalid)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Both the file event and SIGHUP must be refused, with the field path.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.log.String(), "event=invalid_file") < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	log := d.log.String()
	if !strings.Contains(log, "event=invalid_file") || !strings.Contains(log, "vpcs[hello].subnets[lan].cidr") {
		t.Fatalf("the invalid file was not reported with its field path:\n%s", log)
	}
	time.Sleep(500 * time.Millisecond)
	if !d.running() {
		t.Fatalf("daemon died on an invalid file (%v):\n%s", d.err, d.log.String())
	}
	if n := d.applied(); n != 1 {
		t.Errorf("daemon applied %d times, want 1 (the invalid file must change nothing)", n)
	}
	if !ping(t, br, "alice", "10.0.1.20") || !ping(t, br, "carol", "10.0.1.20") {
		t.Fatal("the network broke on an invalid file")
	}
	if after := sh(t, "ovs-ofctl --no-names dump-flows "+br+" | grep -c cookie=0xa5").Stdout; after != flowsBefore {
		t.Errorf("flows changed on an invalid file: %s -> %s", strings.TrimSpace(flowsBefore), strings.TrimSpace(after))
	}

	// A valid file afterwards is applied: carol goes.
	valid := "version: 1\nbridge: " + br + "\n" + daemonHello[:strings.Index(daemonHello, "      - name: carol")]
	rewrite(t, file, valid)
	d.waitApplied(2)
	if nsExists(br, "carol") {
		t.Error("carol's namespace is still there after the valid file")
	}
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatal("no connectivity after the valid file")
	}
}

func TestDaemonRestoresAfterVswitchdRestart(t *testing.T) {
	br := uniqueBridge("tdd")
	// dave is a trunk instance: the trunk port's tap (persistent) keeps its
	// ifindex and tc filter through the restart.
	file := topology(t, br, daemonHello+"      - {name: dave, subnet: lan, ip: 10.0.1.40, attach: trunk}\n")
	d := startDaemon(t, file)
	if !ping(t, br, "alice", "10.0.1.20") || !ping(t, br, "alice", "10.0.1.30") || !ping(t, br, "dave", "10.0.1.10") {
		t.Fatal("no connectivity before the restart")
	}
	trunkPort, _ := host.TrunkNames(br)
	trunkIndex := strings.TrimSpace(sh(t, "cat /sys/class/net/"+trunkPort+"/ifindex").Stdout)
	// Whatever happens below, OVS must run afterwards (other tests share it).
	t.Cleanup(func() {
		if r := vpcctl(t, "ovs", "up"); r.Code != 0 {
			t.Errorf("ovs up: %s", r.Stderr)
		}
	})
	if r := sh(t, "kill -9 $(cat /var/run/openvswitch/ovs-vswitchd.pid)"); r.Code != 0 {
		t.Fatalf("killing ovs-vswitchd: %s", r.Stderr)
	}
	// Wait (bounded) for it to be gone before starting it again.
	for i := 0; i < 50 && sh(t, "kill -0 $(cat /var/run/openvswitch/ovs-vswitchd.pid) 2>/dev/null").Code == 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	mustVpcctl(t, "ovs", "up")
	restarted := time.Now()

	// No user action: the daemon reinstalls the flows and moves bob's
	// internal port (re-created in the host namespace) back.
	if !pingUntil(t, br, "alice", "10.0.1.20", 20*time.Second) {
		t.Fatalf("alice (veth) cannot reach bob (internal port) 20 s after the restart\n%s", d.log.String())
	}
	if !pingUntil(t, br, "carol", "10.0.1.10", 5*time.Second) {
		t.Fatalf("carol (veth) cannot reach alice (veth) after the restart\n%s", d.log.String())
	}
	if !ping(t, br, "bob", "10.0.1.30") {
		t.Fatalf("bob (internal port) cannot reach carol after the restart\n%s", d.log.String())
	}
	if !pingUntil(t, br, "dave", "10.0.1.20", 5*time.Second) || !ping(t, br, "carol", "10.0.1.40") {
		t.Fatalf("dave (trunk) and the others cannot reach each other after the restart\n%s", d.log.String())
	}
	if now := strings.TrimSpace(sh(t, "cat /sys/class/net/"+trunkPort+"/ifindex").Stdout); now != trunkIndex {
		t.Errorf("the trunk device %s changed across the restart: ifindex %s, then %s", trunkPort, trunkIndex, now)
	}
	t.Logf("connectivity back %v after ovs-vswitchd started", time.Since(restarted).Round(10*time.Millisecond))
	if !strings.Contains(d.log.String(), "event=controller_disconnected") {
		t.Errorf("the daemon did not log losing ovs-vswitchd:\n%s", d.log.String())
	}
	if !d.running() {
		t.Fatalf("daemon exited: %v\n%s", d.err, d.log.String())
	}
}

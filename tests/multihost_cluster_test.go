package tests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/ovsdb/cluster"
)

// mcTopology is the topology of TestMultiHostCluster: one VPC, two subnets,
// a1 on h1, a2 on h2, a3 on h3 (and, from generation 2, a4 on h3); the
// group "app" lets ICMP and TCP in from the VPC. %[1]s is the bridge, %[2]s
// extra instance lines.
const mcTopology = `version: 1
bridge: %[1]s
hosts:
  - {name: h1, tunnel_ip: 100.64.0.1}
  - {name: h2, tunnel_ip: 100.64.0.2}
  - {name: h3, tunnel_ip: 100.64.0.3}
vpcs:
  - name: mc
    cidr: 10.71.0.0/16
    subnets:
      - {name: front, cidr: 10.71.1.0/24}
      - {name: back, cidr: 10.71.2.0/24}
    security_groups:
      - name: app
        ingress:
          - {protocol: icmp, source: 10.71.0.0/16}
          - {protocol: tcp, ports: "1-65535", source: 10.71.0.0/16}
    instances:
      - {name: a1, subnet: front, host: h1, ip: 10.71.1.10, security_groups: [app]}
      - {name: a2, subnet: back, host: h2, ip: 10.71.2.10, security_groups: [app]}
      - {name: a3, subnet: front, host: h3, ip: 10.71.1.11, security_groups: [app]}
%[2]s`

const (
	mcA4  = "      - {name: a4, subnet: back, host: h3, ip: 10.71.2.11, security_groups: [app]}\n"
	mcBad = "      - {name: a5, subnet: front, host: h9, ip: 10.71.1.12, security_groups: [app]}\n"
	// mcPublishBudget is issue 13's requirement: a publish reaches every
	// agent's dataplane within 5 s, a leader's crash included.
	mcPublishBudget = 5 * time.Second
)

// mcAgent is one host's `vpcctl agent`, its stderr in a file.
type mcAgent struct {
	host simHost
	log  string // its stderr (slog text)
	cmd  *exec.Cmd
	done chan struct{}
}

// mcRun is one run of TestMultiHostCluster.
type mcRun struct {
	br       string
	eps      string // the cluster's endpoints
	hosts    []simHost
	logDir   string
	agents   map[string]*mcAgent // by host name: the running one
	allLogs  []string            // every agent log file, for failure output
	starts   int
	clusterO cluster.Options
}

// mcRandomHex is n random bytes in hex.
func mcRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mcFreeBase picks a base port in 20000-40000 with n free ports from it on
// 127.0.0.1.
func mcFreeBase(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + mrand.IntN(20000-n)
		free := true
		for i := range n {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free loopback ports in 20000-40000")
	return 0
}

// vpcctlOn is the argv of nsenter running vpcctl in host h's network
// namespace (not ip netns exec: its private mount namespace would hide the
// instance namespaces vpcctl bind-mounts in /run/netns), as h, against h's
// OVS and the cluster.
func (m *mcRun) vpcctlOn(h simHost, args ...string) []string {
	return append([]string{"--net=/run/netns/" + h.NS, vpcctlBin, "--ovsdb", h.OVSDB, "--host", h.Name, "--cluster", m.eps}, args...)
}

// startAgent starts host h's agent, its stderr in a new log file.
func (m *mcRun) startAgent(t *testing.T, h simHost) *mcAgent {
	t.Helper()
	m.starts++
	path := filepath.Join(m.logDir, fmt.Sprintf("agent-%s-%d.log", h.Name, m.starts))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := &mcAgent{host: h, log: path, done: make(chan struct{})}
	a.cmd = exec.Command("nsenter", m.vpcctlOn(h, "agent", "--topology", m.br)...)
	a.cmd.Stdout, a.cmd.Stderr = f, f
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting the agent of %s: %v", h.Name, err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	m.agents[h.Name] = a
	m.allLogs = append(m.allLogs, path)
	return a
}

// stop ends the agent with sig (SIGKILL after 5 s) and waits for it.
func (a *mcAgent) stop(sig syscall.Signal) {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = a.cmd.Process.Kill()
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
	}
}

// mcEventRE matches an agent's outcome lines.
var mcEventRE = regexp.MustCompile(`event=(applied|apply_failed) generation=([0-9]+)`)

// events are the agent's outcome lines: "applied N" / "apply_failed N", and
// the lines themselves.
func (a *mcAgent) events() ([]string, []string) {
	data, _ := os.ReadFile(a.log)
	var evs, lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if sub := mcEventRE.FindStringSubmatch(line); sub != nil {
			evs = append(evs, sub[1]+" "+sub[2])
			lines = append(lines, line)
		}
	}
	return evs, lines
}

// appliedLine is the agent's first `event=applied generation=gen` line, or "".
func (a *mcAgent) appliedLine(gen int) string {
	evs, lines := a.events()
	for i, e := range evs {
		if e == "applied "+strconv.Itoa(gen) {
			return lines[i]
		}
	}
	return ""
}

// waitApplied waits (at most limit from start) until every running agent
// logged that it applied gen; it returns how long after start the last one
// was seen, and fails the test if some did not.
func (m *mcRun) waitApplied(t *testing.T, gen int, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	deadline := start.Add(limit)
	for {
		missing := []string{}
		for _, h := range m.hosts {
			if m.agents[h.Name].appliedLine(gen) == "" {
				missing = append(missing, h.Name)
			}
		}
		if len(missing) == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: the agents of %v have not logged event=applied generation=%d", limit, missing, gen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publish runs `vpcctl --cluster EPS apply -f file` (from the root
// namespace: publishing needs no host) and returns its result.
func (m *mcRun) publish(t *testing.T, file string) result {
	t.Helper()
	return run(t, time.Minute, vpcctlBin, "--cluster", m.eps, "apply", "-f", file)
}

// mustPublish publishes and wants "generation gen in the cluster (how)".
func (m *mcRun) mustPublish(t *testing.T, file string, gen int, how string) {
	t.Helper()
	r := m.publish(t, file)
	want := fmt.Sprintf("topology %s: generation %d in the cluster (%s)", m.br, gen, how)
	if r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Fatalf("publish %s: exit %d, want %q\nstdout: %s\nstderr: %s", filepath.Base(file), r.Code, want, r.Stdout, r.Stderr)
	}
}

// in runs a command in an instance's namespace, bounded.
func (m *mcRun) in(t *testing.T, inst string, timeout time.Duration, argv ...string) result {
	t.Helper()
	return run(t, timeout, "ip", append([]string{"netns", "exec", "vpcctl." + m.br + "." + inst}, argv...)...)
}

// reaches says whether from gets ping replies from ip: up to 5 rounds of 3
// pings (the first packets to a host may go while its tunnel is learnt).
func (m *mcRun) reaches(t *testing.T, from, ip string) bool {
	t.Helper()
	for i := 0; i < 5; i++ {
		if r := m.in(t, from, 15*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "1", ip); r.Code == 0 {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// mcPingSummary reads ping's "N packets transmitted, M received".
var mcPingSummary = regexp.MustCompile(`([0-9]+) packets transmitted, ([0-9]+) (?:packets )?received`)

// mcFlowDurations are the durations (s) of the bridge's flows on host h.
func (m *mcRun) flowDurations(t *testing.T, h simHost) []float64 {
	t.Helper()
	out := h.mustOfctl(t, "dump-flows", m.br)
	var ds []float64
	for _, sub := range regexp.MustCompile(`duration=([0-9.]+)s`).FindAllStringSubmatch(out, -1) {
		d, err := strconv.ParseFloat(sub[1], 64)
		if err != nil {
			t.Fatalf("%s: dump-flows: duration %q: %v", h.Name, sub[1], err)
		}
		ds = append(ds, d)
	}
	return ds
}

// TestMultiHostCluster runs issue 13's multi-host mode end to end: three
// simulated hosts with their own OVS, the VPCctl Raft cluster, an agent per
// host; publishing a topology makes traffic flow across hosts; the cluster's
// leader crashes during a publish without a lost packet and within 5 s to
// every dataplane; a restarted agent converges without touching a flow; an
// invalid file is refused and changes nothing.
func TestMultiHostCluster(t *testing.T) {
	hosts := startSimHosts(t, 3)
	for i, h := range hosts {
		if want := fmt.Sprintf("h%d", i+1); h.Name != want || h.TunnelIP != fmt.Sprintf("100.64.0.%d", i+1) {
			t.Fatalf("sim host %d: %s %s, want %s 100.64.0.%d", i, h.Name, h.TunnelIP, want, i+1)
		}
	}
	m := &mcRun{br: uniqueBridge("mc"), hosts: hosts, logDir: t.TempDir(), agents: map[string]*mcAgent{}}

	// The cluster: a short directory (unix socket paths are limited), free
	// Raft ports. Down is registered before up: a partial up goes too.
	dir := "/tmp/vc-" + mcRandomHex(4)
	m.clusterO = cluster.Options{Dir: dir, BasePort: mcFreeBase(t, 3)}
	t.Cleanup(func() {
		if r := runNoFatal(vpcctlBin, "cluster", "down", "--dir", dir); r.Code != 0 {
			t.Errorf("cleanup: cluster down: exit %d: %s", r.Code, r.Stderr)
		}
		for mbr, pid := range m.clusterO.PIDs() {
			t.Errorf("cleanup: cluster member %d (pid %d) still runs after down", mbr, pid)
		}
		_ = os.RemoveAll(dir)
	})
	up := run(t, time.Minute, vpcctlBin, "cluster", "up", "--dir", dir, "--base-port", strconv.Itoa(m.clusterO.BasePort))
	if up.Code != 0 {
		t.Fatalf("cluster up: exit %d\n%s%s", up.Code, up.Stdout, up.Stderr)
	}
	m.eps = strings.TrimSpace(up.Stdout)
	if want := fmt.Sprintf("unix:%[1]s/m1.sock,unix:%[1]s/m2.sock,unix:%[1]s/m3.sock", dir); m.eps != want {
		t.Fatalf("cluster up printed %q, want %q", m.eps, want)
	}

	files := t.TempDir()
	write := func(name, extra string) string {
		path := filepath.Join(files, name)
		if err := os.WriteFile(path, []byte(fmt.Sprintf(mcTopology, m.br, extra)), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	gen1, gen2, bad := write("gen1.yaml", ""), write("gen2.yaml", mcA4), write("bad.yaml", mcA4+mcBad)

	// Runs after the agents stop, before the cluster and the hosts go:
	// destroy on every host as that host; then no namespace of the bridge.
	t.Cleanup(func() {
		for _, h := range hosts {
			argv := []string{"--net=/run/netns/" + h.NS, vpcctlBin, "--ovsdb", h.OVSDB, "--host", h.Name, "destroy", "-f", gen2}
			if r := runNoFatal("nsenter", argv...); r.Code != 0 {
				t.Errorf("cleanup: destroy on %s: exit %d: %s", h.Name, r.Code, r.Stderr)
			}
		}
		if ns := netnsWithPrefix(t, "vpcctl."+m.br+"."); len(ns) > 0 {
			t.Errorf("cleanup: namespaces left after destroy on every host: %v", ns)
		}
	})
	for _, h := range hosts {
		m.startAgent(t, h)
	}
	t.Cleanup(func() {
		for _, a := range m.agents {
			a.stop(syscall.SIGTERM)
		}
		if t.Failed() {
			for _, path := range m.allLogs {
				data, _ := os.ReadFile(path)
				t.Logf("--- %s:\n%s", filepath.Base(path), data)
			}
		}
	})

	// 1. Publish: every agent applies generation 1; a1 reaches a2 and a3
	// across hosts.
	start := time.Now()
	m.mustPublish(t, gen1, 1, "published")
	took := m.waitApplied(t, 1, start, 10*time.Second)
	t.Logf("generation 1: publish -> applied on all three hosts in %v", took.Round(time.Millisecond))
	for _, h := range hosts {
		if evs, _ := m.agents[h.Name].events(); len(evs) != 1 || evs[0] != "applied 1" {
			t.Errorf("agent of %s: events %v, want one: applied 1", h.Name, evs)
		}
	}
	if !m.reaches(t, "a1", "10.71.2.10") {
		t.Fatal("a1 (h1) cannot ping a2 (h2)")
	}
	if !m.reaches(t, "a1", "10.71.1.11") {
		t.Fatal("a1 (h1) cannot ping a3 (h3)")
	}

	// 2. The leader crashes while a1 pings a2; an edit (a4 on h3) is
	// published meanwhile and reaches every host within 5 s.
	pinger := exec.Command("ip", "netns", "exec", "vpcctl."+m.br+".a1", "ping", "-i", "0.1", "-c", "150", "-W", "1", "-w", "40", "10.71.2.10")
	var pingOut strings.Builder
	pinger.Stdout, pinger.Stderr = &pingOut, &pingOut
	pinger.WaitDelay = 5 * time.Second
	if err := pinger.Start(); err != nil {
		t.Fatal(err)
	}
	pingDone := make(chan struct{})
	go func() { _ = pinger.Wait(); close(pingDone) }()
	t.Cleanup(func() {
		select {
		case <-pingDone:
		default:
			_ = pinger.Process.Kill()
			<-pingDone
		}
	})
	time.Sleep(time.Second) // the ping runs before the crash

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader, err := m.clusterO.Leader(ctx)
	if err != nil {
		t.Fatalf("cluster leader: %v", err)
	}
	if err := m.clusterO.Kill(leader); err != nil {
		t.Fatalf("kill member %d (the leader): %v", leader, err)
	}
	t.Logf("SIGKILLed the leader, member %d", leader)
	start = time.Now()
	m.mustPublish(t, gen2, 2, "published")
	pubTook := time.Since(start)
	took = m.waitApplied(t, 2, start, 15*time.Second)
	t.Logf("generation 2 after the leader's crash: publish took %v; publish start -> applied on all three hosts: %v",
		pubTook.Round(time.Millisecond), took.Round(time.Millisecond))
	if took > mcPublishBudget {
		t.Errorf("generation 2 reached every agent %v after the publish started, want <= %v", took.Round(time.Millisecond), mcPublishBudget)
	}
	if !m.reaches(t, "a1", "10.71.2.11") {
		t.Error("a1 (h1) cannot ping a4 (h3), the instance of generation 2")
	}
	select {
	case <-pingDone:
	case <-time.After(50 * time.Second):
		t.Fatalf("the background ping has not ended:\n%s", pingOut.String())
	}
	sub := mcPingSummary.FindStringSubmatch(pingOut.String())
	if sub == nil {
		t.Fatalf("background ping a1 -> a2: no summary:\n%s", pingOut.String())
	}
	sent, _ := strconv.Atoi(sub[1])
	got, _ := strconv.Atoi(sub[2])
	t.Logf("background ping a1 -> a2 across the crash and the publish: %d sent, %d received, %d lost", sent, got, sent-got)
	if sent != 150 || got != sent {
		t.Errorf("background ping a1 -> a2: %d sent, %d received; want 150 and none lost:\n%s", sent, got, pingOut.String())
	}

	// The crashed member comes back: three members, one leader.
	if err := m.clusterO.Start(ctx, leader); err != nil {
		t.Fatalf("restart member %d: %v", leader, err)
	}
	var status struct {
		Leader  int `json:"leader"`
		Members []struct {
			Member int    `json:"member"`
			PID    int    `json:"pid"`
			Role   string `json:"role"`
			Status string `json:"status"`
		} `json:"members"`
		Topologies []struct {
			Name       string `json:"name"`
			Generation int    `json:"generation"`
			Hosts      []struct {
				Name              string `json:"name"`
				AppliedGeneration int    `json:"applied_generation"`
				Error             string `json:"error"`
			} `json:"hosts"`
		} `json:"topologies"`
	}
	var stOut string
	whole := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r := run(t, 30*time.Second, vpcctlBin, "-o", "json", "cluster", "status", "--dir", dir)
		stOut = r.Stdout + r.Stderr
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &status) != nil || status.Leader == 0 || len(status.Members) != 3 {
			continue
		}
		whole = true
		for _, mb := range status.Members {
			if mb.PID == 0 || (mb.Role != "leader" && mb.Role != "follower") || mb.Status != "cluster member" {
				whole = false
			}
		}
		if whole {
			break
		}
	}
	if !whole {
		t.Fatalf("cluster not whole 20 s after member %d restarted:\n%s", leader, stOut)
	}
	// Status shows the topology at generation 2, applied by every agent.
	if len(status.Topologies) != 1 || status.Topologies[0].Generation != 2 || len(status.Topologies[0].Hosts) != 3 {
		t.Errorf("cluster status: topologies %+v, want one at generation 2 with 3 hosts reporting\n%s", status.Topologies, stOut)
	} else {
		for _, h := range status.Topologies[0].Hosts {
			if h.AppliedGeneration != 2 || h.Error != "" {
				t.Errorf("cluster status: host %s applied %d (error %q), want 2", h.Name, h.AppliedGeneration, h.Error)
			}
		}
	}

	// 3. h2's agent crashes and starts again: it applies the same
	// generation without a single flow-mod; the flows are those installed
	// before (their durations go back beyond the crash).
	h2 := hosts[1]
	m.agents["h2"].stop(syscall.SIGKILL)
	killed := time.Now()
	time.Sleep(500 * time.Millisecond)
	restarted := m.startAgent(t, h2)
	m.waitApplied(t, 2, time.Now(), 10*time.Second)
	line := restarted.appliedLine(2)
	t.Logf("restarted agent of h2: %s", line)
	if !strings.Contains(line, "(+0 -0, 0 flow-mods)") {
		t.Errorf("restarted agent of h2 changed flows: %s", line)
	}
	if !strings.Contains(line, " 0 host changes, 0 instances removed") {
		t.Errorf("restarted agent of h2 changed the host: %s", line)
	}
	// SPEC §4: no OVSDB write either (the tunnel's options are compared
	// with the monitored ones, not rewritten).
	if !strings.Contains(line, " 0 OVSDB writes,") {
		t.Errorf("restarted agent of h2 wrote to OVSDB: %s", line)
	}
	if evs, _ := restarted.events(); len(evs) != 1 {
		t.Errorf("restarted agent of h2: events %v, want one: applied 2", evs)
	}
	sinceKill := time.Since(killed).Seconds()
	ds := m.flowDurations(t, h2)
	if len(ds) == 0 {
		t.Errorf("h2: no flows on %s", m.br)
	}
	for _, d := range ds {
		if d < sinceKill-1 {
			t.Errorf("h2: a flow %.1f s old, younger than the agent's restart %.1f s ago: re-installed", d, sinceKill)
			break
		}
	}
	if !m.reaches(t, "a1", "10.71.2.10") {
		t.Error("a1 cannot ping a2 after h2's agent restarted")
	}

	// 4. An invalid file (an instance on h9, not in hosts:) is refused,
	// naming the field; the cluster keeps generation 2 and the agents do
	// nothing.
	before := map[string][]string{}
	for name, a := range m.agents {
		before[name], _ = a.events()
	}
	r := m.publish(t, bad)
	if r.Code == 0 {
		t.Errorf("publishing an instance on host h9: exit 0, want a refusal\n%s", r.Stdout)
	}
	if r.Code != 2 {
		t.Errorf("publishing an instance on host h9: exit %d, want 2 (invalid input)", r.Code)
	}
	if !strings.Contains(r.Stderr, "instances[a5].host") || !strings.Contains(r.Stderr, "h9") {
		t.Errorf("the refusal does not name the field instances[a5].host and h9: %q", r.Stderr)
	}
	m.mustPublish(t, gen2, 2, "unchanged")
	time.Sleep(2 * time.Second)
	for name, a := range m.agents {
		if evs, lines := a.events(); len(evs) != len(before[name]) {
			t.Errorf("agent of %s acted after the refused and the unchanged publish: %v", name, lines[len(before[name]):])
		}
	}
	if _, err := os.Stat("/run/netns/vpcctl." + m.br + ".a5"); err == nil {
		t.Error("a namespace for a5 (host h9) exists")
	}
}

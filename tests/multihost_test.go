package tests

import (
	"encoding/json"
	"fmt"
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

// multiHostTopology is the three-host topology of issue 13: VPC blue spans
// h1..h3 (web b1 on h1, web b2 on h2, db b3 on h3), VPC green has the same
// CIDR and addresses (g1 = b1's 10.10.1.10 on h2, g2 = b2's 10.10.1.11 on
// h3). blue's db subnet's NACL denies TCP 6000 from web while the db group
// allows it (and 5432) from web; nothing else reaches db (no ICMP).
const multiHostTopology = `version: 1
bridge: %s
hosts:
  - {name: h1, tunnel_ip: 100.64.0.1}
  - {name: h2, tunnel_ip: 100.64.0.2}
  - {name: h3, tunnel_ip: 100.64.0.3}
vpcs:
  - name: blue
    cidr: 10.10.0.0/16
    subnets:
      - {name: web, cidr: 10.10.1.0/24}
      - {name: db, cidr: 10.10.2.0/24}
    security_groups:
      - name: web
        ingress:
          - {protocol: all, source: 10.10.0.0/16}
      - name: db
        ingress:
          - {protocol: tcp, ports: "5432", source_group: web}
          - {protocol: tcp, ports: "6000", source_group: web}
    network_acls:
      - name: db-acl
        subnets: [db]
        ingress:
          - {rule: 100, protocol: tcp, ports: "6000", source: 10.10.1.0/24, action: deny}
          - {rule: 200, protocol: all, source: 0.0.0.0/0, action: allow}
        egress:
          - {rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}
    instances:
      - {name: b1, subnet: web, host: h1, ip: 10.10.1.10, security_groups: [web]}
      - {name: b2, subnet: web, host: h2, ip: 10.10.1.11, security_groups: [web]}
      - {name: b3, subnet: db, host: h3, ip: 10.10.2.10, security_groups: [db]}
  - name: green
    cidr: 10.10.0.0/16
    subnets:
      - {name: web, cidr: 10.10.1.0/24}
    instances:
      - {name: g1, subnet: web, host: h2, ip: 10.10.1.10}
      - {name: g2, subnet: web, host: h3, ip: 10.10.1.11, attach: trunk}  # behind h3's trunk port
`

// nameServer listens on every port given and, on each connection, sends its
// name (a line), then echoes every line it reads: who answered is visible.
// It exits after 300 s.
const nameServer = `import socket, sys, threading, time
name = sys.argv[1].encode()
def handle(c):
    try:
        c.settimeout(10)
        c.sendall(name + b"\n")
        for line in c.makefile("rb"):
            c.sendall(line)
    except Exception:
        pass
    finally:
        c.close()
def serve(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
socks = []
for p in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p)))
    s.listen(16)
    socks.append(s)
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
time.sleep(300)  # bounded, even if the test dies
`

// nameClient connects (2 s), sends a line, and prints the server's name if
// the line came back; exit 1 on any failure.
const nameClient = `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.settimeout(3)
s.sendall(b"hello\n")
f = s.makefile("rb")
name, echo = f.readline().strip(), f.readline().strip()
if echo != b"hello":
    print("no echo: %r %r" % (name, echo))
    sys.exit(1)
print(name.decode())
`

// mhTest is one run of the three-host topology.
type mhTest struct {
	br     string
	file   string
	hosts  []simHost
	client string // nameClient's path
	server string // nameServer's path
}

// instNS is the namespace of an instance (global names across the
// simulated hosts).
func (m *mhTest) instNS(name string) string { return "vpcctl." + m.br + "." + name }

// host is the simulated host hK.
func (m *mhTest) host(name string) simHost {
	for _, h := range m.hosts {
		if h.Name == name {
			return h
		}
	}
	panic("no host " + name)
}

// vpcctlArgv is vpcctl on host h, in its network namespace (nsenter, not
// ip netns exec: the instance namespaces vpcctl bind-mounts must be seen
// outside), against its ovsdb-server, as --host h.Name.
func (m *mhTest) vpcctlArgv(h simHost, args ...string) []string {
	return append([]string{"--net=/run/netns/" + h.NS, vpcctlBin, "--ovsdb", h.OVSDB, "--host", h.Name}, args...)
}

// on runs vpcctl on host h.
func (m *mhTest) on(t *testing.T, h simHost, args ...string) result {
	t.Helper()
	return run(t, 2*time.Minute, "nsenter", m.vpcctlArgv(h, args...)...)
}

// in runs a command inside an instance's namespace, bounded.
func (m *mhTest) in(t *testing.T, inst string, timeout time.Duration, argv ...string) result {
	t.Helper()
	return run(t, timeout, "ip", append([]string{"netns", "exec", m.instNS(inst)}, argv...)...)
}

// bgIn starts a command inside an instance's namespace, stopped at the end
// of the test at the latest.
func (m *mhTest) bgIn(t *testing.T, inst string, argv ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command("ip", append([]string{"netns", "exec", m.instNS(inst)}, argv...)...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	return b
}

// ask connects once from inst to ip:port with nameClient: the name of the
// server that answered, or ok=false.
func (m *mhTest) ask(t *testing.T, inst, ip string, port int) (string, bool) {
	t.Helper()
	r := m.in(t, inst, 15*time.Second, "timeout", "8", "python3", m.client, ip, strconv.Itoa(port))
	return strings.TrimSpace(r.Stdout), r.Code == 0
}

// mustAnswer asks up to 5 times (the first packet towards a host may go
// while its underlay address is being resolved) and wants `want`'s answer.
func (m *mhTest) mustAnswer(t *testing.T, inst, ip string, port int, want string) {
	t.Helper()
	var got string
	var ok bool
	for i := 0; i < 5; i++ {
		if got, ok = m.ask(t, inst, ip, port); ok {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch {
	case !ok:
		t.Errorf("%s -> %s:%d: no answer (want %s's): %s", inst, ip, port, want, got)
	case got != want:
		t.Errorf("%s -> %s:%d: answered by %q, want %q", inst, ip, port, got, want)
	}
}

// mustNotConnect tries twice (2 s each) and wants no connection.
func (m *mhTest) mustNotConnect(t *testing.T, inst, ip string, port int, why string) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if got, ok := m.ask(t, inst, ip, port); ok {
			t.Errorf("%s -> %s:%d connected (answered by %q); want blocked: %s", inst, ip, port, got, why)
			return
		}
	}
}

// pings sends count pings (0.2 s apart, 1 s wait) with extra options; ok
// if any reply came.
func (m *mhTest) pings(t *testing.T, inst, to string, count int, extra ...string) (result, bool) {
	t.Helper()
	argv := append([]string{"ping", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1"}, extra...)
	r := m.in(t, inst, 30*time.Second, append(argv, to)...)
	return r, r.Code == 0
}

// serve starts a nameServer in inst on ports and waits (at most 10 s) until
// the instance reaches it at its own address, not through OVS; this is also
// the proof that a blocked connection later had a listener.
func (m *mhTest) serve(t *testing.T, inst, ownIP string, ports ...int) {
	t.Helper()
	argv := []string{"python3", m.server, inst}
	for _, p := range ports {
		argv = append(argv, strconv.Itoa(p))
	}
	srv := m.bgIn(t, inst, argv...)
	for _, p := range ports {
		// Generous: python starts slowly on a loaded machine.
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, ok := m.ask(t, inst, ownIP, p)
			if ok && got == inst {
				break
			}
			exited := false
			select {
			case <-srv.done:
				exited = true
			default:
			}
			if exited || time.Now().After(deadline) {
				srv.stop()
				t.Fatalf("%s's server on %s:%d does not answer locally (exited: %v, last answer %q): %s", inst, ownIP, p, exited, got, srv.out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// mhSummary is what these tests read of `vpcctl apply -o json`.
type mhSummary struct {
	Bridge           string `json:"bridge"`
	Instances        int    `json:"instances"`
	Flows            int    `json:"flows"`
	FlowsAdded       int    `json:"flows_added"`
	FlowsDeleted     int    `json:"flows_deleted"`
	FlowMods         int    `json:"flow_mods"`
	OVSDBWrites      int    `json:"ovsdb_writes"`
	HostChanges      int    `json:"host_changes"`
	InstancesRemoved int    `json:"instances_removed"`
}

// flowsOf is the host's flows on the bridge without counters and ages
// (what a re-added or changed flow would change).
func (m *mhTest) flowsOf(t *testing.T, h simHost) string {
	t.Helper()
	out := h.mustOfctl(t, "dump-flows", m.br)
	re := regexp.MustCompile(`(duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*, ?`)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(re.ReplaceAllString(l, "")); l != "" && !strings.HasPrefix(l, "OFPST_FLOW") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// macOf is the MAC address of eth0 in an instance.
func (m *mhTest) macOf(t *testing.T, inst string) string {
	t.Helper()
	r := m.in(t, inst, 10*time.Second, "cat", "/sys/class/net/eth0/address")
	if r.Code != 0 {
		t.Fatalf("%s: eth0's address: %s", inst, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// capture runs tcpdump on eth0 of inst with a filter while act runs, and
// returns the packets it printed (bounded: 30 packets, 15 s).
func (m *mhTest) capture(t *testing.T, inst, filter string, act func()) []string {
	t.Helper()
	var so, se lockedBuffer
	cmd := exec.Command("ip", "netns", "exec", m.instNS(inst),
		"timeout", "-s", "INT", "15", "tcpdump", "-i", "eth0", "-nn", "-e", "-l", "-c", "30", filter)
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// ip netns exec became timeout, which passes SIGINT on to tcpdump
	// (a SIGKILL would leave tcpdump running).
	stop := func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	defer stop()
	for i := 0; !strings.Contains(se.String(), "listening on"); i++ {
		if i == 100 {
			t.Fatalf("tcpdump in %s did not start: %s", inst, se.String())
		}
		select {
		case <-done:
			t.Fatalf("tcpdump in %s ended: %s", inst, se.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	act()
	time.Sleep(500 * time.Millisecond) // the last packets through the tunnel
	stop()
	var pkts []string
	for _, l := range strings.Split(so.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			pkts = append(pkts, l)
		}
	}
	return pkts
}

// TestMultiHost applies one topology on three simulated hosts (each its own
// OVS, Geneve between them) and checks the dataplane across them: same-VPC
// reachability over the tunnel (ping, TCP, iperf3), routing, security groups
// and NACLs decided across hosts, isolation of two VPCs with the same
// addresses on the same hosts, MTU 1450, and that destroying one host leaves
// the others working.
func TestMultiHost(t *testing.T) {
	hosts := startSimHosts(t, 3)
	m := &mhTest{br: uniqueBridge("mh"), hosts: hosts}
	dir := t.TempDir()
	m.file = filepath.Join(dir, "topology.yaml")
	m.client, m.server = filepath.Join(dir, "client.py"), filepath.Join(dir, "server.py")
	for path, body := range map[string]string{
		m.file: fmt.Sprintf(multiHostTopology, m.br), m.client: nameClient, m.server: nameServer,
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"b1", "b2", "b3", "g1", "g2"}
	// Before sim-hosts down (registered earlier, runs later): destroy on
	// every host as that host, then nothing of the bridge's may be left.
	t.Cleanup(func() {
		for _, h := range hosts {
			if r := runNoFatal("nsenter", m.vpcctlArgv(h, "destroy", "-f", m.file)...); r.Code != 0 {
				t.Errorf("cleanup: destroy on %s: exit %d: %s", h.Name, r.Code, r.Stderr)
			}
		}
		for _, name := range all {
			if _, err := os.Stat("/run/netns/" + m.instNS(name)); err == nil {
				t.Errorf("cleanup: namespace %s left after destroy on every host", m.instNS(name))
			}
		}
	})

	if !t.Run("apply", func(t *testing.T) {
		want := map[string][]string{"h1": {"b1"}, "h2": {"b2", "g1"}, "h3": {"b3", "g2"}}
		for _, h := range hosts {
			r := m.on(t, h, "apply", "-o", "json", "-f", m.file)
			if r.Code != 0 {
				t.Fatalf("apply on %s: exit %d\n%s%s", h.Name, r.Code, r.Stdout, r.Stderr)
			}
			var s mhSummary
			if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
				t.Fatalf("apply on %s -o json: %v: %s", h.Name, err, r.Stdout)
			}
			if s.Instances != len(want[h.Name]) || s.FlowsAdded == 0 {
				t.Errorf("apply on %s: %d instances, %d flows added; want %d instances (%v), flows", h.Name, s.Instances, s.FlowsAdded, len(want[h.Name]), want[h.Name])
			}
			// One Geneve port, remote and key chosen by the flows.
			out := h.mustVsctl(t, "--bare", "--columns=options", "find", "interface", "type=geneve")
			if !strings.Contains(out, "remote_ip=flow") || !strings.Contains(out, "key=flow") {
				t.Errorf("%s: Geneve interface's options: %q, want remote_ip=flow key=flow", h.Name, out)
			}
			if ports := h.mustVsctl(t, "list-ports", m.br); len(strings.Fields(ports)) != len(want[h.Name])+1 {
				t.Errorf("%s: ports of %s: %q, want %d instances and the tunnel", h.Name, m.br, ports, len(want[h.Name]))
			}
		}
		for _, name := range all {
			if _, err := os.Stat("/run/netns/" + m.instNS(name)); err != nil {
				t.Errorf("no namespace %s after apply on every host: %v", m.instNS(name), err)
			}
		}
	}) {
		t.FailNow()
	}

	t.Run("second-apply-changes-nothing", func(t *testing.T) {
		for _, h := range hosts {
			before := m.flowsOf(t, h)
			r := m.on(t, h, "apply", "-f", m.file)
			if r.Code != 0 {
				t.Fatalf("second apply on %s: exit %d\n%s%s", h.Name, r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stdout, "(+0 -0, 0 flow-mods)") {
				t.Errorf("second apply on %s changed flows: %s", h.Name, r.Stdout)
			}
			r = m.on(t, h, "apply", "-o", "json", "-f", m.file)
			var s mhSummary
			if err := json.Unmarshal([]byte(r.Stdout), &s); r.Code != 0 || err != nil {
				t.Fatalf("third apply on %s -o json: exit %d %v\n%s%s", h.Name, r.Code, err, r.Stdout, r.Stderr)
			}
			// SPEC §4: an unchanged file sends no flow-mod and no OVSDB write.
			if s.FlowsAdded != 0 || s.FlowsDeleted != 0 || s.FlowMods != 0 || s.OVSDBWrites != 0 || s.HostChanges != 0 || s.InstancesRemoved != 0 {
				t.Errorf("apply of the unchanged file on %s changed things: %+v", h.Name, s)
			}
			if after := m.flowsOf(t, h); after != before {
				t.Errorf("%s: flows changed by the second apply:\nbefore:\n%s\nafter:\n%s", h.Name, before, after)
			}
		}
	})

	m.serve(t, "b2", "10.10.1.11", 7000)
	m.serve(t, "g2", "10.10.1.11", 7000)
	m.serve(t, "b3", "10.10.2.10", 5432, 6000)

	t.Run("same-vpc-across-hosts", func(t *testing.T) {
		// Warm up (the underlay resolves the other host's address).
		m.pings(t, "b1", "10.10.1.11", 2)
		if r, ok := m.pings(t, "b1", "10.10.1.11", 3); !ok {
			t.Errorf("b1 (h1) cannot ping b2 (h2):\n%s%s", r.Stdout, r.Stderr)
		}
		m.mustAnswer(t, "b1", "10.10.1.11", 7000, "b2")
		out, stdout := iperfTransfer(t, m.br, "b2", "b1", "10.10.1.11", 15*time.Second, "-t", "2")
		if out.End.SumReceived.Bytes < 1e6 {
			t.Errorf("iperf3 b1 -> b2 (2 s): %.0f bytes received:\n%s", out.End.SumReceived.Bytes, stdout)
		} else {
			t.Logf("iperf3 b1 (h1) -> b2 (h2): %.0f Mbit/s", out.End.SumReceived.BitsPerSecond/1e6)
		}
		// Routed (web -> db) and across hosts (h1 -> h3); the db group
		// allows tcp 5432 from web.
		m.mustAnswer(t, "b1", "10.10.2.10", 5432, "b3")
		// The db group allows no ICMP: b3 answers its own pings, and its
		// pings to b1 get replies (the path is there), but b1's get none.
		if r, ok := m.pings(t, "b3", "10.10.2.10", 1); !ok {
			t.Fatalf("b3 does not answer its own ping:\n%s", r.Stdout)
		}
		if r, ok := m.pings(t, "b3", "10.10.1.10", 3); !ok {
			t.Errorf("b3 (h3) cannot ping b1 (h1) (web allows all of the VPC):\n%s%s", r.Stdout, r.Stderr)
		}
		if r, ok := m.pings(t, "b1", "10.10.2.10", 3); ok {
			t.Errorf("b1 pings b3, but the db group allows only tcp 5432 and 6000:\n%s", r.Stdout)
		}
		// TCP 6000: the db group allows it, the db subnet's NACL denies it
		// from web; b3 listens on it (checked locally by serve).
		m.mustNotConnect(t, "b1", "10.10.2.10", 6000, "the NACL of db denies tcp 6000 from 10.10.1.0/24")
		m.mustNotConnect(t, "b2", "10.10.2.10", 6000, "the NACL of db denies tcp 6000 from 10.10.1.0/24")
		// h2 -> h3 as well.
		m.mustAnswer(t, "b2", "10.10.2.10", 5432, "b3")
	})

	t.Run("isolation", func(t *testing.T) {
		// 10.10.1.11 is b2 (h2) in blue and g2 (h3) in green; g1 sits on h2
		// next to b2 and has blue's b1's address.
		m.pings(t, "g1", "10.10.1.11", 2)
		if r, ok := m.pings(t, "g1", "10.10.1.11", 3); !ok {
			t.Errorf("g1 (h2) cannot ping g2 (h3):\n%s%s", r.Stdout, r.Stderr)
		}
		m.mustAnswer(t, "g1", "10.10.1.11", 7000, "g2")
		m.mustAnswer(t, "b1", "10.10.1.11", 7000, "b2")
		// green has no 10.10.2.0/24: blue's b3 is not there for it.
		m.mustNotConnect(t, "g1", "10.10.2.10", 5432, "green has no instance 10.10.2.10 (blue's b3)")

		// b2 never sees green's packets: a capture on b2's eth0 while g1
		// talks to 10.10.1.11 (g2) holds nothing from g1's MAC or from
		// 10.10.1.10 (b1 is silent meanwhile).
		g1MAC := m.macOf(t, "g1")
		filter := "ether src " + g1MAC + " or (ip and src host 10.10.1.10)"
		seen := m.capture(t, "b2", filter, func() {
			m.pings(t, "g1", "10.10.1.11", 3)
			m.mustAnswer(t, "g1", "10.10.1.11", 7000, "g2")
		})
		if len(seen) > 0 {
			t.Errorf("b2 saw green's packets (g1 %s -> 10.10.1.11):\n%s", g1MAC, strings.Join(seen, "\n"))
		}
		// The same capture does see b1's packets: it would have seen g1's.
		seen = m.capture(t, "b2", filter, func() { m.pings(t, "b1", "10.10.1.11", 2) })
		if len(seen) == 0 {
			t.Errorf("the capture on b2 saw nothing of b1's pings either: it proves nothing")
		}
	})

	t.Run("mtu", func(t *testing.T) {
		for _, name := range all {
			r := m.in(t, name, 10*time.Second, "cat", "/sys/class/net/eth0/mtu")
			if got := strings.TrimSpace(r.Stdout); got != "1450" {
				t.Errorf("%s: eth0 mtu %q, want 1450 (%s)", name, got, r.Stderr)
			}
		}
		// 1422 + 8 + 20 = 1450 bytes, unfragmented, over the tunnel.
		m.pings(t, "b1", "10.10.1.11", 1)
		if r, ok := m.pings(t, "b1", "10.10.1.11", 3, "-M", "do", "-s", "1422"); !ok || !strings.Contains(r.Stdout, "1430 bytes from 10.10.1.11") {
			t.Errorf("ping -M do -s 1422 b1 -> b2: no full-size reply:\n%s%s", r.Stdout, r.Stderr)
		}
		if r, ok := m.pings(t, "g1", "10.10.1.11", 3, "-M", "do", "-s", "1422"); !ok {
			t.Errorf("ping -M do -s 1422 g1 -> g2: no reply:\n%s%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("destroy-one-host", func(t *testing.T) {
		h1 := m.host("h1")
		if r := m.on(t, h1, "destroy", "-f", m.file); r.Code != 0 {
			t.Fatalf("destroy on h1: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if _, err := os.Stat("/run/netns/" + m.instNS("b1")); err == nil {
			t.Errorf("b1's namespace is still there after destroy on h1")
		}
		for _, name := range []string{"b2", "b3", "g1", "g2"} {
			if _, err := os.Stat("/run/netns/" + m.instNS(name)); err != nil {
				t.Errorf("destroy on h1 removed %s's namespace (another host's): %v", name, err)
			}
		}
		if r := h1.vsctl(t, "br-exists", m.br); r.Code == 0 {
			t.Errorf("bridge %s still in h1's OVS after destroy", m.br)
		}
		if r, ok := m.pings(t, "g1", "10.10.1.11", 3); !ok {
			t.Errorf("after destroy on h1, g1 cannot ping g2:\n%s%s", r.Stdout, r.Stderr)
		}
		m.mustAnswer(t, "g1", "10.10.1.11", 7000, "g2")
		m.mustAnswer(t, "b2", "10.10.2.10", 5432, "b3")
		if r, ok := m.pings(t, "b3", "10.10.1.11", 3); !ok {
			t.Errorf("after destroy on h1, b3 cannot ping b2:\n%s%s", r.Stdout, r.Stderr)
		}
		// A second destroy on h1 is a no-op.
		if r := m.on(t, h1, "destroy", "-f", m.file); r.Code != 0 {
			t.Errorf("second destroy on h1: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
}

// TestMultiHostBadInput: a topology that spans hosts needs --host naming one
// of them; without it, or with an unknown one, apply fails and makes nothing.
func TestMultiHostBadInput(t *testing.T) {
	hosts := startSimHosts(t, 1)
	h := hosts[0]
	m := &mhTest{br: uniqueBridge("mb"), hosts: hosts}
	m.file = filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(m.file, []byte(fmt.Sprintf(multiHostTopology, m.br)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Should there be anything, it goes (as h1).
		_ = runNoFatal("nsenter", m.vpcctlArgv(h, "destroy", "-f", m.file)...)
	})
	nothingMade := func(t *testing.T, what string) {
		t.Helper()
		if r := h.vsctl(t, "br-exists", m.br); r.Code == 0 {
			t.Errorf("%s: bridge %s made in the host's OVS", what, m.br)
		}
		if ns := netnsWithPrefix(t, "vpcctl."+m.br+"."); len(ns) > 0 {
			t.Errorf("%s: namespaces made: %v", what, ns)
		}
	}
	noHost := []string{"--net=/run/netns/" + h.NS, vpcctlBin, "--ovsdb", h.OVSDB}
	cases := []struct {
		name string
		argv []string
		want []string // in the message
	}{
		{"no --host", append(noHost, "apply", "-f", m.file), []string{"--host"}},
		{"--host h9", append(noHost, "--host", "h9", "apply", "-f", m.file), []string{"--host", "h9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, time.Minute, "nsenter", c.argv...)
			if r.Code != 2 { // bad input (SPEC §3)
				t.Errorf("apply with %s: exit %d, want 2\n%s", c.name, r.Code, r.Stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("apply with %s: message does not name %q: %q", c.name, w, r.Stderr)
				}
			}
			nothingMade(t, c.name)
		})
	}
}

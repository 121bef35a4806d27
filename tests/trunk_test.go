package tests

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// The end-to-end tests of `attach: trunk`: the instance's veth host end is
// not an OVS port; a tc eBPF program tags its frames with the instance's
// VLAN id and redirects them into the bridge's one trunk port, an OVS
// internal port (and back, untagged, by a vid->ifindex map on its tap).
// Everything else (addresses, groups, routing, isolation, exec, status,
// destroy) is as for a veth instance, and mixed subnets work.

// bridgePorts lists the OVS ports of a bridge.
func bridgePorts(t *testing.T, br string) []string {
	t.Helper()
	r := sh(t, "ovs-vsctl list-ports "+br)
	if r.Code != 0 {
		t.Fatalf("ovs-vsctl list-ports %s: %s", br, r.Stderr)
	}
	return strings.Fields(r.Stdout)
}

// trunkPorts lists the bridge's ports that vpcctl marked as trunks
// (external_ids vpcctl-attach=trunk or trunk-port, on the port or its interface).
func trunkPorts(t *testing.T, br string) []string {
	t.Helper()
	r := sh(t, "for p in $(ovs-vsctl list-ports "+br+"); do echo \"$p $(ovs-vsctl --if-exists get port $p external_ids:vpcctl-attach) $(ovs-vsctl --if-exists get interface $p external_ids:vpcctl-attach)\"; done")
	if r.Code != 0 {
		t.Fatalf("ovs-vsctl: %s", r.Stderr)
	}
	var trunks []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		f := strings.Fields(line)
		for _, v := range f[min(1, len(f)):] {
			if v = strings.Trim(v, `"`); v == "trunk" || v == "trunk-port" {
				trunks = append(trunks, f[0])
				break
			}
		}
	}
	return trunks
}

// theTrunk is the bridge's one trunk port; the test fails unless there is exactly one.
func theTrunk(t *testing.T, br string) string {
	t.Helper()
	trunks := trunkPorts(t, br)
	if len(trunks) != 1 {
		t.Fatalf("bridge %s: want exactly one port with external_ids vpcctl-attach=trunk(-port), have %q (ports %q)", br, trunks, bridgePorts(t, br))
	}
	return trunks[0]
}

// linkExists says whether a link of that name is in the host namespace.
func linkExists(t *testing.T, name string) bool {
	t.Helper()
	return sh(t, "ip link show dev "+name).Code == 0
}

// hasBPFIngress says whether a link has a tc bpf filter on ingress.
func hasBPFIngress(t *testing.T, dev string) (bool, string) {
	t.Helper()
	r := sh(t, "tc filter show dev "+dev+" ingress")
	return r.Code == 0 && strings.Contains(r.Stdout, "bpf"), r.Stdout + r.Stderr
}

var (
	dlVlanRE  = regexp.MustCompile(`dl_vlan=(\d+)`)
	vlanTCIRE = regexp.MustCompile(`vlan_tci=0x([0-9a-f]+)/0x1fff`)
	instOwnRE = regexp.MustCompile(`instances\[([a-z0-9-]+)\]`)
)

// trunkVIDs maps each trunk instance to its VLAN id, read from the
// Classifier flows that match it (in_port=<trunk>,dl_vlan=<vid>), whose
// owner `vpcctl flows` names.
func trunkVIDs(t *testing.T, br string) map[string]int {
	t.Helper()
	vids := map[string]int{}
	for _, r := range flowRows(t, br) {
		if r.Table != "Classifier" {
			continue
		}
		vid := -1
		if m := dlVlanRE.FindStringSubmatch(r.Flow); m != nil {
			vid, _ = strconv.Atoi(m[1])
		} else if m := vlanTCIRE.FindStringSubmatch(r.Flow); m != nil {
			n, _ := strconv.ParseUint(m[1], 16, 16)
			vid = int(n & 0xfff)
		}
		o := instOwnRE.FindStringSubmatch(r.Owner)
		if vid < 0 || o == nil {
			continue
		}
		if old, ok := vids[o[1]]; ok && old != vid {
			t.Errorf("instance %s is matched by two VLAN ids: %d and %d", o[1], old, vid)
		}
		vids[o[1]] = vid
	}
	return vids
}

// statusVLANs maps the bridge's instances to the "vlan" that
// `vpcctl status -o json` shows (0 when none).
func statusVLANs(t *testing.T, br string) map[string]int {
	t.Helper()
	var st struct {
		Bridges []struct {
			Name      string `json:"name"`
			Instances []struct {
				Name string `json:"name"`
				VLAN int    `json:"vlan"`
			} `json:"instances"`
		} `json:"bridges"`
	}
	out := mustVpcctl(t, "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	m := map[string]int{}
	for _, b := range st.Bridges {
		if b.Name == br {
			for _, i := range b.Instances {
				m[i.Name] = i.VLAN
			}
		}
	}
	return m
}

// checkTrunkPlumbing checks the ports of a bridge against its instances:
// one trunk port for all trunk instances plus one port per veth or internal
// instance; a trunk instance's host veth exists, is no OVS port and carries
// a bpf program; every trunk instance has its own VLAN id in 1..4094.
func checkTrunkPlumbing(t *testing.T, br string, in map[string]instance) {
	t.Helper()
	ports := bridgePorts(t, br)
	isPort := map[string]bool{}
	for _, p := range ports {
		isPort[p] = true
	}
	trunk := theTrunk(t, br)
	want := []string{trunk}
	var trunkInstances []string
	for name, i := range in {
		v := host.HostVethName(br, name)
		switch i.Attach {
		case "trunk":
			trunkInstances = append(trunkInstances, name)
			if isPort[v] {
				t.Errorf("trunk instance %s: its host veth %s is an OVS port", name, v)
			}
			if !linkExists(t, v) {
				t.Errorf("trunk instance %s: no host veth %s in the host namespace", name, v)
			} else if ok, out := hasBPFIngress(t, v); !ok {
				t.Errorf("trunk instance %s: no bpf filter on the ingress of %s:\n%s", name, v, out)
			}
		case "veth":
			if i.Port != v {
				t.Errorf("veth instance %s: status shows port %q, want %s", name, i.Port, v)
			}
			// An OVS port needs no tagging program (one left from a time as a
			// trunk instance would drop its frames before tc hands them on).
			if ok, out := hasBPFIngress(t, v); ok {
				t.Errorf("veth instance %s: its host veth %s still has a bpf filter on ingress:\n%s", name, v, out)
			}
			want = append(want, v)
		default:
			want = append(want, i.Port)
		}
	}
	sort.Strings(want)
	sort.Strings(ports)
	if strings.Join(want, " ") != strings.Join(ports, " ") {
		t.Errorf("bridge %s has ports %q, want the trunk and one per veth/internal instance: %q", br, ports, want)
	}
	vids := trunkVIDs(t, br)
	shown := statusVLANs(t, br)
	owner := map[int]string{}
	for _, name := range trunkInstances {
		vid, ok := vids[name]
		if !ok {
			t.Errorf("trunk instance %s: no Classifier flow matches it by dl_vlan (vids: %v)", name, vids)
			continue
		}
		if shown[name] != vid {
			t.Errorf("trunk instance %s: status shows VLAN %d, the Classifier matches dl_vlan=%d", name, shown[name], vid)
		}
		if vid < 1 || vid > 4094 {
			t.Errorf("trunk instance %s: VLAN id %d is not in 1..4094", name, vid)
		}
		if o, dup := owner[vid]; dup {
			t.Errorf("trunk instances %s and %s share VLAN id %d", o, name, vid)
		}
		owner[vid] = name
	}
}

// trunkVPC is one tenant of TestTrunkDataplane: two subnets, trunk, veth and
// internal instances mixed, all with the same addresses in every tenant
// (instance names start with p). Every instance serves its own name at
// http://IP:8080/id and echoes on tcp 7000.
func trunkVPC(p, script, dir string) string {
	serve := func(name string) string {
		return fmt.Sprintf(`"cd %s/%s && exec python3 %s serve 600 %s/%s.ready http:8080 tcp:7000"`, dir, name, script, dir, name)
	}
	inst := func(n, subnet, ip, attach, group string) string {
		a := ""
		if attach != "" {
			a = ", attach: " + attach
		}
		return fmt.Sprintf("      - {name: %s%s, subnet: %s, ip: %s%s, security_groups: [%s], run: %s}\n", p, n, subnet, ip, a, group, serve(p+n))
	}
	return `  - name: t` + p + `
    cidr: 10.61.0.0/16
    subnets:
      - {name: s1, cidr: 10.61.1.0/24}
      - {name: s2, cidr: 10.61.2.0/24}
    security_groups:
      - name: web
        ingress:
          - {protocol: tcp, ports: "8080", source_group: client}
          - {protocol: tcp, ports: "5201", source_group: client}
          - {protocol: icmp, source: 0.0.0.0/0}
      - name: client
        ingress:
          - {protocol: icmp, source: 0.0.0.0/0}
    instances:
` + inst("1", "s1", "10.61.1.10", "trunk", "web") +
		inst("2", "s1", "10.61.1.11", "trunk", "client") +
		inst("3", "s1", "10.61.1.12", "", "client") +
		inst("4", "s2", "10.61.2.10", "trunk", "client") +
		inst("5", "s2", "10.61.2.11", "internal", "web")
}

// TestTrunkDataplane: two tenants with the same CIDR and addresses, trunk
// instances mixed with veth and internal ones: pings within a subnet (trunk
// to trunk, trunk to veth, trunk to internal) and across subnets (routed),
// security groups (allowed and blocked ports), tenant isolation (a capture in
// the other tenant sees nothing), a TCP stream (iperf3) between trunk
// instances of different subnets, and one OVS port for all trunk instances.
func TestTrunkDataplane(t *testing.T) {
	br := uniqueBridge("tk")
	dir := t.TempDir()
	script := netprobe(t, dir)
	var names []string
	for _, p := range []string{"a", "b"} {
		for i := 1; i <= 5; i++ {
			n := fmt.Sprintf("%s%d", p, i)
			names = append(names, n)
			if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, n, "id"), []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := topology(t, br, "vpcs:\n"+trunkVPC("a", script, dir)+trunkVPC("b", script, dir))
	mustVpcctl(t, "apply", "-f", file)
	waitReady(t, dir, names...)
	in := instances(t, br)
	for _, n := range names {
		want := map[string]string{"1": "trunk", "2": "trunk", "3": "veth", "4": "trunk", "5": "internal"}[n[1:]]
		if in[n].Attach != want || in[n].State != "up" {
			t.Errorf("status: %s is attach %q state %q, want %s up", n, in[n].Attach, in[n].State, want)
		}
	}

	t.Run("ports", func(t *testing.T) { checkTrunkPlumbing(t, br, in) })

	t.Run("reachability and groups", func(t *testing.T) {
		var probes []probe
		for _, p := range []string{"a", "b"} {
			n := func(i int) string { return fmt.Sprintf("%s%d", p, i) }
			probes = append(probes,
				// ICMP is open to all: trunk<->trunk, trunk<->veth,
				// trunk<->internal in s1/s2, and routed between them.
				probe{n(1), "icmp", "10.61.1.11", 0, true}, // trunk -> trunk, same subnet
				probe{n(2), "icmp", "10.61.1.10", 0, true},
				probe{n(2), "icmp", "10.61.1.12", 0, true}, // trunk -> veth
				probe{n(3), "icmp", "10.61.1.11", 0, true}, // veth -> trunk
				probe{n(4), "icmp", "10.61.1.10", 0, true}, // trunk -> trunk, routed
				probe{n(1), "icmp", "10.61.2.10", 0, true},
				probe{n(4), "icmp", "10.61.2.11", 0, true}, // trunk -> internal
				probe{n(5), "icmp", "10.61.2.10", 0, true}, // internal -> trunk
				probe{n(3), "icmp", "10.61.2.10", 0, true}, // veth -> trunk, routed
				probe{n(2), "icmp", "10.61.1.1", 0, true},  // the router
				// web: 8080 from the client group only; 7000 from nobody.
				probe{n(2), "http", "10.61.1.10", 8080, true}, // trunk -> trunk
				probe{n(3), "http", "10.61.1.10", 8080, true}, // veth -> trunk
				probe{n(4), "http", "10.61.1.10", 8080, true}, // trunk -> trunk, routed
				probe{n(4), "http", "10.61.2.11", 8080, true}, // trunk -> internal
				probe{n(2), "tcp", "10.61.1.10", 7000, false},
				probe{n(4), "tcp", "10.61.1.10", 7000, false},
				probe{n(1), "tcp", "10.61.2.11", 8080, false}, // web is no client
				probe{n(5), "tcp", "10.61.1.10", 8080, false},
				// client: icmp only.
				probe{n(1), "tcp", "10.61.1.11", 7000, false},
				probe{n(1), "tcp", "10.61.2.10", 8080, false},
			)
		}
		checkProbes(t, br, script, probes)
	})

	t.Run("each tenant reaches its own instances", func(t *testing.T) {
		for _, c := range []struct{ from, ip, want string }{
			{"a2", "10.61.1.10", "a1"}, {"b2", "10.61.1.10", "b1"},
			{"a4", "10.61.1.10", "a1"}, {"b4", "10.61.1.10", "b1"},
			{"a4", "10.61.2.11", "a5"}, {"b4", "10.61.2.11", "b5"},
			{"a3", "10.61.1.10", "a1"}, {"b3", "10.61.1.10", "b1"},
		} {
			waitHTTP(t, br, c.from, "http://"+c.ip+":8080/id", c.want)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		trunkIsolation(t, br, in, "a", "b")
		trunkIsolation(t, br, in, "b", "a")
	})

	t.Run("exec", func(t *testing.T) {
		// vpcctl exec runs in the trunk instance's namespace: eth0 has its address and MAC.
		r := inNS(t, br, "a1", 10*time.Second, "sh", "-c", "ip -4 -o addr show dev eth0; ip -o link show dev eth0")
		if r.Code != 0 || !strings.Contains(r.Stdout, "10.61.1.10/24") || !strings.Contains(r.Stdout, in["a1"].MAC) {
			t.Errorf("vpcctl exec a1: exit %d, want 10.61.1.10/24 and %s on eth0:\n%s%s", r.Code, in["a1"].MAC, r.Stdout, r.Stderr)
		}
	})

	t.Run("iperf3 trunk to trunk across subnets", func(t *testing.T) {
		trunkIperf(t, br, "a1", "a4", "10.61.1.10")
	})
}

// trunkIsolation: while an instance of tenant to captures, tenant from's
// instances ping and fetch the same addresses (answered in their own
// tenant) and broadcast ARP; nothing of it reaches tenant to.
func trunkIsolation(t *testing.T, br string, in map[string]instance, from, to string) {
	t.Helper()
	marker := randomMarker()
	pat := hex.EncodeToString(marker)
	victim, sender := in[to+"1"], in[to+"2"]
	control := randomMarker()
	c := startCapture(t, br, victim.Name, 20*time.Second, control)
	for _, src := range []string{from + "2", from + "4", from + "3"} {
		if r := inNS(t, br, src, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-p", pat, "10.61.1.10"); r.Code != 0 {
			t.Errorf("%s cannot ping 10.61.1.10 (%s1) during the isolation check:\n%s%s", src, from, r.Stdout, r.Stderr)
		}
	}
	// Broadcast ARP from a trunk instance (its own addresses: legitimate in its tenant).
	a2 := in[from+"2"]
	own := mustMAC(a2.MAC)
	arp := ethFrame(broadcastMAC, own, 0x0806, arpPacket(1, own, netip.MustParseAddr(a2.IP), zeroMAC, netip.MustParseAddr("10.61.1.10")))
	unknown := ethFrame(mustMAC("02:00:00:5e:00:42"), own, 0x0800, icmpEcho(netip.MustParseAddr(a2.IP), netip.MustParseAddr("10.61.1.10"), marker))
	sendFrames(t, br, a2.Name, append(arp, marker...), unknown)
	// The control: a legitimate frame in tenant to, which stops the capture.
	sendFrames(t, br, sender.Name, ethFrame(mustMAC(victim.MAC), mustMAC(sender.MAC), 0x0800,
		icmpEcho(netip.MustParseAddr(sender.IP), netip.MustParseAddr(victim.IP), control)))
	fromMACs := map[string]bool{}
	for n, i := range in {
		if strings.HasPrefix(n, from) {
			fromMACs[strings.ToLower(i.MAC)] = true
		}
	}
	seen := false
	var bad []string
	for _, f := range c.wait(t) {
		d := decode(f)
		switch {
		case bytes.Contains(f, control):
			seen = true
		case bytes.Contains(f, marker) || fromMACs[d.src] || fromMACs[d.arpSha]:
			bad = append(bad, hex.EncodeToString(f))
		}
	}
	if !seen {
		t.Fatalf("%s: the capture missed the control frame from %s", victim.Name, sender.Name)
	}
	if len(bad) > 0 {
		t.Errorf("tenant %s's %s received frames of tenant %s:\n%s", to, victim.Name, from, strings.Join(bad, "\n"))
	}
}

// trunkIperf runs iperf3 for 2 s from client to server and checks that it
// completed and that bytes arrived (no assertion on the rate).
func trunkIperf(t *testing.T, br, server, client, serverIP string) {
	t.Helper()
	out, stdout := iperfTransfer(t, br, server, client, serverIP, 20*time.Second, "-t", "2")
	if out.End.SumReceived.Bytes <= 0 {
		t.Fatalf("iperf3 %s -> %s: nothing received:\n%s", client, server, stdout)
	}
	t.Logf("iperf3 %s -> %s (trunk to trunk): %.0f bytes in 2 s, %.2f Gbit/s", client, server, out.End.SumReceived.Bytes, out.End.SumReceived.BitsPerSecond/1e9)
}

// trunkEditsBody is TestTrunkEdits's topology: one subnet, the given
// instances (name:attach, attach "" for the default), t2 runs the echo server.
func trunkEditsBody(server string, insts ...string) string {
	var b strings.Builder
	b.WriteString("vpcs:\n  - name: e\n    cidr: 10.64.0.0/16\n    subnets:\n      - {name: a, cidr: 10.64.1.0/24}\n    instances:\n")
	for _, s := range insts {
		name, attach, _ := strings.Cut(s, ":")
		fmt.Fprintf(&b, "      - {name: %s, subnet: a", name)
		if attach != "" {
			fmt.Fprintf(&b, ", attach: %s", attach)
		}
		if name == "t2" {
			fmt.Fprintf(&b, `, run: "exec python3 %s"`, server)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// TestTrunkEdits: instances inserted before trunk instances and removed
// leave the others' IP, MAC and VLAN id alone and a TCP connection to a
// trunk instance open; a removed trunk instance leaves no namespace and no
// host veth; an unchanged file sends no flow-mod; an instance switched from
// veth to trunk and back keeps its IP and MAC and stays reachable.
func TestTrunkEdits(t *testing.T) {
	br := uniqueBridge("tk")
	server, client, stop := echoFiles(t)
	file := topology(t, br, trunkEditsBody(server, "t1:trunk", "t2:trunk", "v1:", "t3:trunk"))
	mustVpcctl(t, "apply", "-f", file)
	before := instances(t, br)
	for name, ip := range map[string]string{"t1": "10.64.1.4", "t2": "10.64.1.5", "v1": "10.64.1.6", "t3": "10.64.1.7"} {
		if before[name].IP != ip {
			t.Errorf("%s allocated %s, want %s", name, before[name].IP, ip)
		}
	}
	checkTrunkPlumbing(t, br, before)
	vidsBefore := trunkVIDs(t, br)
	t2 := before["t2"].IP

	// One connection from t1 to t2 (trunk to trunk), kept open through every edit.
	up := false
	for i := 0; i < 40 && !up; i++ {
		up = inNS(t, br, "t1", 5*time.Second, "python3", "-c",
			"import socket; socket.create_connection(('"+t2+"', 9000), timeout=1)").Code == 0
		if !up {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if !up {
		t.Fatal("t2's echo server does not answer t1")
	}
	conn := inNSBackground(t, br, "t1", "python3", client, t2, stop)
	alive := func(step string) {
		t.Helper()
		select {
		case <-conn.done:
			t.Fatalf("%s: the TCP connection t1 -> t2 ended:\n%s", step, conn.out.String())
		default:
		}
	}
	// same checks that an instance kept its addresses (status and inside its namespace).
	same := func(step string, names ...string) {
		t.Helper()
		now := instances(t, br)
		for _, n := range names {
			got, want := now[n], before[n]
			if got.IP != want.IP || got.MAC != want.MAC {
				t.Errorf("%s: %s is %s %s, was %s %s", step, n, got.IP, got.MAC, want.IP, want.MAC)
			}
			r := run(t, 30*time.Second, "ip", "netns", "exec", "vpcctl."+br+"."+n, "sh", "-c", "ip -4 -o addr show dev eth0; ip -o link show dev eth0")
			if r.Code != 0 || !strings.Contains(r.Stdout, want.IP+"/24") || !strings.Contains(r.Stdout, want.MAC) {
				t.Errorf("%s: inside %s: exit %d, want %s and %s on eth0:\n%s%s", step, n, r.Code, want.IP, want.MAC, r.Stdout, r.Stderr)
			}
		}
	}
	// An address may change hands (n1 may get the removed t3's): a stale
	// neighbour entry needs a few seconds to be probed again.
	reach := func(step string, pairs ...[2]string) {
		t.Helper()
		now := instances(t, br)
		for _, p := range pairs {
			if !pingUntil(t, br, p[0], now[p[1]].IP, 15*time.Second) {
				t.Errorf("%s: %s cannot ping %s (%s)", step, p[0], p[1], now[p[1]].IP)
			}
		}
	}
	reach("first apply", [2]string{"t1", "t2"}, [2]string{"t2", "v1"}, [2]string{"v1", "t3"}, [2]string{"t3", "t1"})

	// Insert a trunk instance before the others: it gets a free address
	// (.8), theirs stay.
	step := "insert n1 before them"
	writeTopology(t, file, br, trunkEditsBody(server, "n1:trunk", "t1:trunk", "t2:trunk", "v1:", "t3:trunk"))
	s := applyJSON(t, file)
	t.Logf("%s: %+v", step, s)
	same(step, "t1", "t2", "v1", "t3")
	alive(step)
	now := instances(t, br)
	if now["n1"].Attach != "trunk" || now["n1"].IP != "10.64.1.8" {
		t.Errorf("%s: n1 is attach %q with %s, want trunk with 10.64.1.8", step, now["n1"].Attach, now["n1"].IP)
	}
	reach(step, [2]string{"t1", "t2"}, [2]string{"n1", "t2"}, [2]string{"v1", "n1"}, [2]string{"n1", "v1"}, [2]string{"t3", "n1"})
	checkTrunkPlumbing(t, br, now)

	// Remove t3. (Its address is not given to anyone in the same apply
	// here: the others' neighbour caches would still hold t3's MAC for it.)
	step = "remove t3"
	writeTopology(t, file, br, trunkEditsBody(server, "n1:trunk", "t1:trunk", "t2:trunk", "v1:"))
	s = applyJSON(t, file)
	t.Logf("%s: %+v", step, s)
	same(step, "t1", "t2", "v1")
	alive(step)
	reach(step, [2]string{"t1", "t2"}, [2]string{"n1", "t2"}, [2]string{"v1", "n1"}, [2]string{"n1", "v1"}, [2]string{"t2", "t1"})
	now = instances(t, br)
	if _, ok := now["t3"]; ok {
		t.Errorf("%s: status still shows t3", step)
	}
	if nsExists(br, "t3") {
		t.Errorf("%s: t3's namespace is still there", step)
	}
	if v := host.HostVethName(br, "t3"); linkExists(t, v) {
		t.Errorf("%s: t3's host veth %s is still there", step, v)
	}
	checkTrunkPlumbing(t, br, now)
	vids := trunkVIDs(t, br)
	for _, n := range []string{"t1", "t2"} {
		if vids[n] != vidsBefore[n] {
			t.Errorf("%s: %s's VLAN id moved from %d to %d", step, n, vidsBefore[n], vids[n])
		}
	}
	if _, ok := vids["t3"]; ok {
		t.Errorf("%s: a Classifier flow still matches the removed t3's VLAN id %d", step, vids["t3"])
	}

	// The same file again: nothing to do.
	if s := applyJSON(t, file); s.FlowMods != 0 || s.OVSDBWrites != 0 || s.HostChanges != 0 {
		t.Errorf("second apply of the same file: want 0 flow-mods, 0 OVSDB writes, 0 host changes, got %+v", s)
	}
	alive("second apply")

	// v1: veth -> trunk -> veth.
	for _, attach := range []string{"trunk", "veth"} {
		step := "v1 attach " + attach
		a := ":"
		if attach == "trunk" {
			a = ":trunk"
		}
		writeTopology(t, file, br, trunkEditsBody(server, "n1:trunk", "t1:trunk", "t2:trunk", "v1"+a))
		s := applyJSON(t, file)
		t.Logf("%s: %+v", step, s)
		now := instances(t, br)
		if now["v1"].Attach != attach {
			t.Errorf("%s: status shows v1 attach %q", step, now["v1"].Attach)
		}
		same(step, "t1", "t2", "v1")
		alive(step)
		reach(step, [2]string{"t1", "v1"}, [2]string{"v1", "t1"}, [2]string{"v1", "n1"}, [2]string{"t2", "v1"})
		checkTrunkPlumbing(t, br, now)
		if s := applyJSON(t, file); s.FlowMods != 0 || s.HostChanges != 0 {
			t.Errorf("%s: apply again: want 0 flow-mods and 0 host changes, got %+v", step, s)
		}
	}

	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.done:
	case <-time.After(10 * time.Second):
		t.Fatal("echo client did not stop")
	}
	if out := conn.out.String(); conn.cmd.ProcessState.ExitCode() != 0 || !strings.Contains(out, "echoed") {
		t.Fatalf("the TCP connection t1 -> t2 did not survive the edits: %s", out)
	} else {
		t.Logf("one TCP connection t1 -> t2 through all edits: %s", strings.TrimSpace(out))
	}
}

// hostLinks is the set of link names in the host namespace.
func hostLinks(t *testing.T) map[string]bool {
	t.Helper()
	r := sh(t, "ip -o link show")
	if r.Code != 0 {
		t.Fatalf("ip link: %s", r.Stderr)
	}
	links := map[string]bool{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		links[name] = true
	}
	return links
}

// TestTrunkDestroy: while applied, the trunk's kernel end and every trunk
// instance's host veth carry a tc bpf program; `vpcctl destroy -f` then
// leaves no namespace, no veth (instances' or trunk's) and no bridge.
func TestTrunkDestroy(t *testing.T) {
	br := uniqueBridge("tk")
	before := hostLinks(t)
	file := topology(t, br, `vpcs:
  - name: d
    cidr: 10.65.0.0/16
    subnets:
      - {name: a, cidr: 10.65.1.0/24}
      - {name: b, cidr: 10.65.2.0/24}
    instances:
      - {name: d1, subnet: a, attach: trunk, run: "exec sleep 600"}
      - {name: d2, subnet: a, attach: trunk}
      - {name: d3, subnet: b, attach: trunk}
      - {name: d4, subnet: a}
      - {name: d5, subnet: b, attach: internal}
`)
	mustVpcctl(t, "apply", "-f", file)
	in := instances(t, br)
	checkTrunkPlumbing(t, br, in)
	for _, p := range [][2]string{{"d1", "d2"}, {"d2", "d3"}, {"d3", "d4"}, {"d4", "d1"}, {"d5", "d1"}} {
		if !ping(t, br, p[0], in[p[1]].IP) {
			t.Errorf("%s cannot ping %s (%s)", p[0], p[1], in[p[1]].IP)
		}
	}
	trunk := theTrunk(t, br)
	if r := sh(t, "ip -d link show dev "+trunk); !strings.Contains(r.Stdout, "tun type tap") {
		t.Errorf("the trunk port %s is not an OVS internal port's tap: %s", trunk, r.Stdout)
	}
	if ok, out := hasBPFIngress(t, trunk); !ok {
		t.Errorf("the trunk device %s has no bpf filter on ingress:\n%s", trunk, out)
	}
	_, formerKernelEnd := host.TrunkNames(br)
	mine := []string{trunk, formerKernelEnd}
	for name := range in {
		mine = append(mine, host.HostVethName(br, name))
	}
	pids := sh(t, "ip netns pids vpcctl."+br+".d1").Stdout
	if strings.TrimSpace(pids) == "" {
		t.Error("d1's workload is not running after apply")
	}

	mustVpcctl(t, "destroy", "-f", file)

	if r := sh(t, "ip netns list | grep -F 'vpcctl."+br+".' || true"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("namespaces left: %s", r.Stdout)
	}
	if r := sh(t, "ovs-vsctl br-exists "+br); r.Code == 0 {
		t.Errorf("bridge %s still exists", br)
	}
	after := hostLinks(t)
	for _, l := range mine {
		if after[l] {
			t.Errorf("link %s is still in the host namespace", l)
		}
	}
	// Anything else new that looks like vpcctl's (other tests may run
	// meanwhile, so only names tied to this bridge count).
	for l := range after {
		if !before[l] && strings.Contains(l, br) {
			t.Errorf("link %s appeared and was not removed", l)
		}
	}
	for _, pid := range strings.Fields(pids) {
		if r := sh(t, "ps -o stat= -p "+pid+" | grep -qv Z"); r.Code == 0 {
			t.Errorf("workload process %s still running", pid)
		}
	}
	if r := sh(t, "ls -R /sys/fs/bpf 2>/dev/null | grep -F '"+br+"' || true"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("pinned bpf objects of %s left in /sys/fs/bpf:\n%s", br, r.Stdout)
	}
	if r := sh(t, "ovs-vsctl --bare --columns=name find port external_ids:vpcctl-attach=trunk"); r.Code == 0 {
		for _, p := range strings.Fields(r.Stdout) {
			if p == trunk {
				t.Errorf("OVSDB still has the trunk port %s", p)
			}
		}
	}
	// A second destroy is a no-op, not an error.
	mustVpcctl(t, "destroy", "-f", file)
}

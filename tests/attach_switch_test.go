package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// attachSwitchProbe connects to HOST:PORT and expects a line echoed back.
// Exit codes: 0 answered, 1 timeout (dropped), 2 refused (RST), 3 other.
const attachSwitchProbe = `import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=1.5)
    s.settimeout(1.5)
    s.sendall(b"hello\n")
    sys.exit(0 if s.recv(64) == b"hello\n" else 3)
except socket.timeout:
    sys.exit(1)
except ConnectionRefusedError:
    sys.exit(2)
except OSError:
    sys.exit(3)
`

// attachSwitchBody: two instances in two subnets of one VPC, both running
// the echo server on 9000, in a group that lets the VPC ping them and
// members of the group reach 9000 (and nothing else: 9001 is dropped).
func attachSwitchBody(server, attach1, attach2 string) string {
	return fmt.Sprintf(`vpcs:
  - name: sw
    cidr: 10.73.0.0/16
    subnets:
      - {name: a, cidr: 10.73.1.0/24}
      - {name: b, cidr: 10.73.2.0/24}
    security_groups:
      - name: app
        ingress:
          - {protocol: tcp, ports: "9000", source_group: app}
          - {protocol: icmp, source: 10.73.0.0/16}
    instances:
      - {name: s1, subnet: a, attach: %s, security_groups: [app], run: "exec python3 %s"}
      - {name: s2, subnet: b, attach: %s, security_groups: [app], run: "exec python3 %s"}
`, attach1, server, attach2, server)
}

// applyKilledAt runs `vpcctl apply -v -f file` and SIGKILLs it as soon as
// its log shows pattern; the test fails if the apply never logs it (the
// kill point this test relies on moved).
func applyKilledAt(t *testing.T, file, pattern string) {
	t.Helper()
	cmd := exec.Command(vpcctlBin, "apply", "-v", "-f", file)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bound := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer bound.Stop()
	var logged strings.Builder
	hit := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		logged.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), pattern) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			hit = true
			break
		}
	}
	_ = cmd.Wait()
	if !hit {
		t.Fatalf("apply never logged %q, so it was not killed there:\n%s", pattern, logged.String())
	}
}

// TestAttachSwitch switches the attachment of existing instances in place
// (veth <-> internal, and through trunk): each apply exits 0, every
// instance keeps its IP and MAC (in status and inside its namespace, on its
// one link), ping and TCP go both ways across the subnets with the security
// group still in force, and a second apply changes nothing. An apply killed
// in the middle of a switch is repaired by the next one. destroy leaves no
// namespace, host veth, internal port or bridge.
func TestAttachSwitch(t *testing.T) {
	br := uniqueBridge("as")
	server, _, _ := echoFiles(t)
	probe := filepath.Join(t.TempDir(), "probe.py")
	if err := os.WriteFile(probe, []byte(attachSwitchProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	file := topology(t, br, attachSwitchBody(server, "veth", "veth"))
	mustVpcctl(t, "apply", "-f", file)
	first := instances(t, br)
	for _, n := range []string{"s1", "s2"} {
		if first[n].IP == "" || first[n].MAC == "" || first[n].Port == "" {
			t.Fatalf("status shows %s as %+v", n, first[n])
		}
	}
	ofport := func(port string) string {
		t.Helper()
		return strings.TrimSpace(sh(t, "ovs-vsctl get Interface "+port+" ofport").Stdout)
	}
	ofports := map[string]string{} // while the instance has a port of its own

	// tcp probes port from -> to until want (exit code) or 15 s.
	tcp := func(step, from, to string, port, want int) {
		t.Helper()
		var r result
		for deadline := time.Now().Add(15 * time.Second); ; {
			r = inNS(t, br, from, 20*time.Second, "python3", probe, first[to].IP, fmt.Sprint(port))
			if r.Code == want || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if r.Code != want {
			t.Errorf("%s: tcp %s -> %s:%d exits %d, want %d %s", step, from, to, port, r.Code, want, r.Stderr)
		}
	}

	check := func(step string, attach map[string]string) {
		t.Helper()
		now := instances(t, br)
		for _, n := range []string{"s1", "s2"} {
			got, want := now[n], first[n]
			if got.Attach != attach[n] {
				t.Errorf("%s: status shows %s attach %q, want %q", step, n, got.Attach, attach[n])
			}
			if got.IP != want.IP || got.MAC != want.MAC || got.Port != want.Port {
				t.Errorf("%s: %s is %s %s port %s, was %s %s port %s", step, n, got.IP, got.MAC, got.Port, want.IP, want.MAC, want.Port)
			}
			// Inside: exactly one link besides lo, holding the address and MAC.
			ns := "vpcctl." + br + "." + n
			r := run(t, 30*time.Second, "ip", "netns", "exec", ns, "sh", "-c",
				"ip -o link show | grep -v ': lo:'; echo ---; ip -4 -o addr show | grep -v ' lo '")
			links, addrs, _ := strings.Cut(r.Stdout, "---")
			iface := got.iface()
			if r.Code != 0 || strings.Count(strings.TrimSpace(links), "\n") != 0 ||
				!strings.Contains(links, " "+iface+":") && !strings.Contains(links, " "+iface+"@") ||
				!strings.Contains(links, want.MAC) ||
				strings.Count(strings.TrimSpace(addrs), "\n") != 0 || !strings.Contains(addrs, " "+iface+" ") ||
				!strings.Contains(addrs, want.IP+"/24") {
				t.Errorf("%s: inside %s want only %s with %s and %s, got (exit %d):\n%s%s", step, n, iface, want.IP, want.MAC, r.Code, r.Stdout, r.Stderr)
			}
			// Host side: an internal instance's device is in its namespace,
			// a veth or trunk instance's host end is a veth.
			hr := sh(t, "ip -d -o link show dev "+want.Port)
			switch attach[n] {
			case "internal":
				if hr.Code == 0 {
					t.Errorf("%s: %s's port %s is in the host namespace: %s", step, n, want.Port, hr.Stdout)
				}
			default:
				if hr.Code != 0 || !strings.Contains(hr.Stdout, " veth ") {
					t.Errorf("%s: %s's host end %s is no veth (exit %d): %s%s", step, n, want.Port, hr.Code, hr.Stdout, hr.Stderr)
				}
			}
			// veth <-> internal keeps the OVS port and its number, so no
			// flow changes; a trunk instance has no port of its own.
			if attach[n] != "trunk" {
				if typ := strings.Trim(strings.TrimSpace(sh(t, "ovs-vsctl get Interface "+want.Port+" type").Stdout), `"`); typ != map[string]string{"veth": "", "internal": "internal"}[attach[n]] {
					t.Errorf("%s: %s's OVS interface has type %q", step, n, typ)
				}
				p := ofport(want.Port)
				if ofports[n] == "" {
					ofports[n] = p
				} else if p != ofports[n] {
					t.Errorf("%s: %s's OpenFlow port is %s, was %s", step, n, p, ofports[n])
				}
			} else {
				delete(ofports, n)
				if sh(t, "ovs-vsctl port-to-br "+want.Port).Code == 0 {
					t.Errorf("%s: trunk instance %s still has an OVS port of its own", step, n)
				}
			}
		}
		for _, p := range [][2]string{{"s1", "s2"}, {"s2", "s1"}} {
			if !pingUntil(t, br, p[0], first[p[1]].IP, 15*time.Second) {
				t.Errorf("%s: %s cannot ping %s (%s)", step, p[0], p[1], first[p[1]].IP)
			}
			tcp(step, p[0], p[1], 9000, 0)
		}
		tcp(step, "s1", "s2", 9001, 1) // no rule: dropped, not refused
		if s := applyJSON(t, file); s.FlowMods != 0 || s.OVSDBWrites != 0 || s.HostChanges != 0 {
			t.Errorf("%s: apply again: want 0 flow-mods, 0 OVSDB writes, 0 host changes, got %+v", step, s)
		}
	}
	check("veth", map[string]string{"s1": "veth", "s2": "veth"})

	for _, sw := range [][2]string{
		{"internal", "internal"}, // veth -> internal (the bug: EINVAL from ovs-vswitchd)
		{"veth", "veth"},         // internal -> veth
		{"trunk", "internal"},    // veth -> trunk, veth -> internal
		{"internal", "trunk"},    // trunk -> internal, internal -> trunk
		{"veth", "veth"},         // internal -> veth, trunk -> veth
	} {
		step := "s1 " + sw[0] + ", s2 " + sw[1]
		writeTopology(t, file, br, attachSwitchBody(server, sw[0], sw[1]))
		r := vpcctl(t, "apply", "-f", file)
		if r.Code != 0 {
			t.Fatalf("%s: apply exits %d:\n%s%s", step, r.Code, r.Stdout, r.Stderr)
		}
		t.Logf("%s: %s", step, strings.TrimSpace(r.Stdout))
		check(step, map[string]string{"s1": sw[0], "s2": sw[1]})
	}

	// Killed half-way: veth -> internal just after the veths went (the OVS
	// ports are still veth ports); internal -> veth just after the veths
	// and their ports were made. The next apply repairs.
	for _, k := range []struct{ attach, at string }{
		{"internal", "deleted former veth"},
		{"veth", "phase=veths"},
	} {
		step := k.attach + ", apply killed at " + k.at
		writeTopology(t, file, br, attachSwitchBody(server, k.attach, k.attach))
		applyKilledAt(t, file, k.at)
		r := vpcctl(t, "apply", "-f", file)
		if r.Code != 0 {
			t.Fatalf("%s: the next apply exits %d:\n%s%s", step, r.Code, r.Stdout, r.Stderr)
		}
		check(step, map[string]string{"s1": k.attach, "s2": k.attach})
	}

	mustVpcctl(t, "destroy", "-f", file)
	if r := sh(t, "ip netns list | grep -F 'vpcctl."+br+".' || true"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("destroy left namespaces: %s", r.Stdout)
	}
	if sh(t, "ovs-vsctl br-exists "+br).Code == 0 {
		t.Errorf("destroy left bridge %s", br)
	}
	ovsEnd, kernelEnd := host.TrunkNames(br)
	for _, l := range []string{first["s1"].Port, first["s2"].Port, ovsEnd, kernelEnd} {
		if linkExists(t, l) {
			t.Errorf("destroy left link %s in the host namespace", l)
		}
	}
}

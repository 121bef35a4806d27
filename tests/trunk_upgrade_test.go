package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// trunkVethRelease is the last commit whose trunk port was a veth pair
// (OVS end + kernel end carrying the tc program); later ones make it an OVS
// internal port.
const trunkVethRelease = "09630fe15ae2f45ed4df3d43e0bbf3bad24e57d7"

// buildRelease builds cmd/vpcctl as it was at commit rev (from this
// repository's history) and returns the binary's path.
func buildRelease(t *testing.T, rev string) string {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A shallow clone lacks the commit: deepen it from where it came from.
	if sh(t, "git -C "+repo+" cat-file -e "+rev+"^{commit}").Code != 0 {
		if r := run(t, 5*time.Minute, "git", "-C", repo, "fetch", "-q", "--unshallow"); r.Code != 0 {
			t.Fatalf("commit %s is not in this clone and fetching the history failed: %s", rev, r.Stderr)
		}
	}
	if r := run(t, 2*time.Minute, "bash", "-c", "set -o pipefail; git -C "+repo+" archive "+rev+" | tar -x -C "+dir); r.Code != 0 {
		t.Fatalf("git archive %s (the test needs the repository's history): %s", rev, r.Stderr)
	}
	bin := filepath.Join(dir, "vpcctl-"+rev)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/vpcctl")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building release %s: %v\n%s", rev, err, out)
	}
	return bin
}

// A bridge whose trunk the previous release made (a veth pair, the program
// on its kernel end) converges on this release's trunk (an OVS internal
// port): the pair goes, the port keeps its number and records, every trunk
// instance keeps its address, MAC and VLAN id, traffic flows, and a second
// apply changes nothing.
func TestTrunkUpgradeFromVethPair(t *testing.T) {
	prev := buildRelease(t, trunkVethRelease)
	br := uniqueBridge("tku")
	file := topology(t, br, `vpcs:
  - name: up
    cidr: 10.66.0.0/16
    subnets:
      - {name: a, cidr: 10.66.1.0/24}
      - {name: b, cidr: 10.66.2.0/24}
    security_groups:
      - name: web
        ingress:
          - {protocol: icmp, source: 10.66.0.0/16}
          - {protocol: tcp, ports: "8080", source: 10.66.0.0/16}
    instances:
      - {name: u1, subnet: a, attach: trunk, security_groups: [web]}
      - {name: u2, subnet: b, attach: trunk, security_groups: [web]}
      - {name: u3, subnet: a, security_groups: [web]}
`)
	if r := run(t, 2*time.Minute, prev, "apply", "-f", file); r.Code != 0 {
		t.Fatalf("apply with release %.7s: exit %d: %s", trunkVethRelease, r.Code, r.Stderr)
	}
	port, formerKernelEnd := host.TrunkNames(br)
	if r := sh(t, "ip -d link show dev "+formerKernelEnd); !strings.Contains(r.Stdout, "veth") {
		t.Fatalf("release %.7s made no trunk veth pair (%s): %s %s", trunkVethRelease, formerKernelEnd, r.Stdout, r.Stderr)
	}
	before := instances(t, br)
	vlans := statusVLANs(t, br)
	ofport := strings.TrimSpace(sh(t, "ovs-vsctl get interface "+port+" ofport").Stdout)
	if !ping(t, br, "u1", before["u2"].IP) {
		t.Fatal("u1 cannot ping u2 under the previous release")
	}

	s := applyJSON(t, file)
	t.Logf("upgrade apply: %+v", s)
	if s.HostChanges == 0 {
		t.Errorf("the upgrade apply changed nothing on the host: %+v", s)
	}
	if r := sh(t, "ip link show dev "+formerKernelEnd); r.Code == 0 {
		t.Errorf("the former trunk veth end %s is still there: %s", formerKernelEnd, r.Stdout)
	}
	if r := sh(t, "ip -d link show dev "+port); !strings.Contains(r.Stdout, "tun type tap") {
		t.Errorf("trunk port %s is not an internal port's tap after the upgrade: %s", port, r.Stdout)
	}
	if ok, out := hasBPFIngress(t, port); !ok {
		t.Errorf("the trunk device %s has no bpf filter on ingress:\n%s", port, out)
	}
	if now := strings.TrimSpace(sh(t, "ovs-vsctl get interface "+port+" ofport").Stdout); now != ofport {
		t.Errorf("trunk port number changed: %s, then %s", ofport, now)
	}
	after := instances(t, br)
	for name, b := range before {
		if a := after[name]; a.IP != b.IP || a.MAC != b.MAC {
			t.Errorf("instance %s: %s %s before, %s %s after the upgrade", name, b.IP, b.MAC, a.IP, a.MAC)
		}
	}
	if now := statusVLANs(t, br); now["u1"] != vlans["u1"] || now["u2"] != vlans["u2"] || vlans["u1"] == 0 {
		t.Errorf("VLAN ids: %v before, %v after the upgrade", vlans, now)
	}
	for _, p := range [][2]string{{"u1", "u2"}, {"u2", "u3"}, {"u3", "u1"}} {
		if !ping(t, br, p[0], after[p[1]].IP) {
			t.Errorf("%s cannot ping %s after the upgrade", p[0], p[1])
		}
	}
	if again := applyJSON(t, file); again.FlowMods != 0 || again.OVSDBWrites != 0 || again.HostChanges != 0 {
		t.Errorf("second apply after the upgrade changed something: %+v", again)
	}
	if err := os.Remove(prev); err != nil {
		t.Log(err)
	}
}

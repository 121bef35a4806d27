package tests

import (
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/controller/host"
)

// apply records on each instance's port the plumbing it verified
// (external_ids vpcctl-plumbed) and, on later applies, does not enter the
// namespace of an instance whose record matches and whose host end is
// intact. What breaks the host end (veth deleted, namespace deleted, the
// inside link down) is repaired by a plain apply; a change made by hand
// inside the namespace only by `apply --verify`; an edit of the instance in
// the file changes its record, so apply looks again.
func TestApplyTrustsRecordedPlumbing(t *testing.T) {
	br := uniqueBridge("tp")
	body := func(ipB string) string {
		return `vpcs:
  - name: v
    cidr: 10.63.0.0/16
    subnets:
      - {name: a, cidr: 10.63.1.0/24}
    instances:
      - {name: a1, subnet: a, ip: 10.63.1.10}
      - {name: a2, subnet: a, ip: ` + ipB + `}
`
	}
	file := topology(t, br, body("10.63.1.11"))
	mustVpcctl(t, "apply", "-f", file)
	port := host.HostVethName(br, "a2")
	ns := "vpcctl." + br + ".a2"
	rec := sh(t, "ovs-vsctl get port "+port+" external_ids:vpcctl-plumbed").Stdout
	if strings.TrimSpace(rec) == "" || strings.Contains(rec, "no key") {
		t.Fatalf("port %s records no plumbing: %q", port, rec)
	}
	reachable := func(step string) {
		t.Helper()
		if !ping(t, br, "a1", "10.63.1.11") {
			t.Fatalf("%s: a1 cannot reach a2", step)
		}
	}
	reachable("first apply")
	changes := func(args ...string) string {
		t.Helper()
		out := mustVpcctl(t, append([]string{"apply", "-f", file}, args...)...)
		return out
	}
	if out := changes(); !strings.Contains(out, ", 0 host changes") {
		t.Fatalf("unchanged apply changed the host: %s", out)
	}

	// Inside the namespace, by hand: a plain apply trusts the record and
	// leaves it; --verify looks and repairs it.
	sh(t, "ip -n "+ns+" addr del 10.63.1.11/24 dev eth0")
	if out := changes(); !strings.Contains(out, ", 0 host changes") {
		t.Fatalf("plain apply entered a trusted namespace: %s", out)
	}
	if out := changes("--verify"); strings.Contains(out, ", 0 host changes") {
		t.Fatalf("apply --verify did not repair the address: %s", out)
	}
	reachable("after --verify")

	// The inside link down: the host end loses its carrier, so apply looks.
	sh(t, "ip -n "+ns+" link set eth0 down")
	if out := changes(); strings.Contains(out, ", 0 host changes") {
		t.Fatalf("apply did not repair a link that is down: %s", out)
	}
	reachable("after the link came back")

	// The host end deleted (its peer goes with it), then the namespace.
	sh(t, "ip link del "+port)
	if out := changes(); strings.Contains(out, ", 0 host changes") {
		t.Fatalf("apply did not re-create a deleted veth: %s", out)
	}
	reachable("after the veth was re-created")
	sh(t, "ip netns del "+ns)
	if out := changes(); strings.Contains(out, ", 0 host changes") {
		t.Fatalf("apply did not re-create a deleted namespace: %s", out)
	}
	reachable("after the namespace was re-created")

	// An edit of the instance: a new record, and the new address inside.
	writeTopology(t, file, br, body("10.63.1.12"))
	changes()
	if addrs := sh(t, "ip -n "+ns+" -4 -o addr show dev eth0").Stdout; !strings.Contains(addrs, "10.63.1.12/24") || strings.Contains(addrs, "10.63.1.11/") {
		t.Fatalf("edited address not applied inside: %s", addrs)
	}
	if rec2 := sh(t, "ovs-vsctl get port "+port+" external_ids:vpcctl-plumbed").Stdout; rec2 == rec {
		t.Fatalf("record unchanged after the edit: %s", rec2)
	}
	if !ping(t, br, "a1", "10.63.1.12") {
		t.Fatal("a1 cannot reach a2 at its new address")
	}
}

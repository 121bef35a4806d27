package tctag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vpcctl/vpcctl/controller/host"
)

// inNamespace runs the test body on a thread inside a fresh network
// namespace named name (the tools reach it with `ip netns exec name`).
func inNamespace(t *testing.T, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (CAP_BPF, CAP_NET_ADMIN)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		netns.Set(orig)
		ns.Close()
		orig.Close()
		netns.DeleteNamed(name)
		runtime.UnlockOSThread()
	})
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A frame the instance sends leaves on the trunk's OVS end with the
// instance's tag; Ensure finds its program again; Plug, Prune and Unplug are
// exact and idempotent.
func TestTagIntoTrunk(t *testing.T) {
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	sw, inst := "tctag-s"+id, "tctag-i"+id
	inNamespace(t, sw)
	run(t, "ip", "netns", "add", inst)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", inst).Run() })

	kidx, recreated, err := host.EnsureTrunkVeth("tko", "tkk")
	if err != nil || !recreated {
		t.Fatalf("EnsureTrunkVeth: %v, recreated %v", err, recreated)
	}
	if _, again, err := host.EnsureTrunkVeth("tko", "tkk"); err != nil || again {
		t.Fatalf("second EnsureTrunkVeth: %v, recreated %v", err, again)
	}
	tr, loaded, err := Ensure(kidx)
	if err != nil || !loaded {
		t.Fatalf("Ensure: %v, loaded %v", err, loaded)
	}
	defer tr.Close()
	tr2, loaded2, err := Ensure(kidx)
	if err != nil || loaded2 || tr2.id != tr.id {
		t.Fatalf("second Ensure: %v, loaded %v, program %d vs %d", err, loaded2, tr2.id, tr.id)
	}
	tr2.Close()

	// The instance: h1 here, eth0 in inst.
	instNS, err := netns.GetFromName(inst)
	if err != nil {
		t.Fatal(err)
	}
	defer instNS.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "h1"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(instNS)}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	h1, err := netlink.LinkByName("h1")
	if err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(h1)
	run(t, "ip", "-n", inst, "addr", "add", "10.9.0.1/24", "dev", "eth0")
	run(t, "ip", "-n", inst, "link", "set", "eth0", "up")

	if c, err := tr.Plug(h1.Attrs().Index, 42, false); err != nil || !c {
		t.Fatalf("Plug: %v, changed %v", err, c)
	}
	if c, err := tr.Plug(h1.Attrs().Index, 42, false); err != nil || c {
		t.Fatalf("second Plug: %v, changed %v", err, c)
	}
	if !tr.Attached(h1.Attrs().Index, 42) || tr.Attached(h1.Attrs().Index, 43) {
		t.Fatal("Attached does not report the tag")
	}
	if out := run(t, "tc", "filter", "show", "dev", "h1", "ingress"); !strings.Contains(out, FilterName) {
		t.Fatalf("no %s filter on h1: %s", FilterName, out)
	}

	// The instance's ARP request must come out of the OVS end tagged 42.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	capture := exec.CommandContext(ctx, "ip", "netns", "exec", sw, "tcpdump", "-e", "-n", "-l", "-c", "1", "-i", "tko", "arp")
	var out strings.Builder
	capture.Stdout, capture.Stderr = &out, &out
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	exec.Command("ip", "netns", "exec", inst, "ping", "-c", "2", "-W", "1", "10.9.0.2").Run()
	capture.Wait()
	if !strings.Contains(out.String(), "vlan 42") {
		t.Fatalf("the instance's frame did not leave the trunk tagged 42:\n%s", out.String())
	}

	// Prune: the host end is no longer wanted, its entries go (both ways).
	if n, err := tr.Prune(map[int]uint16{}); err != nil || n != 2 {
		t.Fatalf("Prune: %d entries, %v; want 2", n, err)
	}
	if n, err := tr.Prune(map[int]uint16{}); err != nil || n != 0 {
		t.Fatalf("second Prune: %d entries, %v; want 0", n, err)
	}
	if err := Unplug(h1.Attrs().Index); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "tc", "filter", "show", "dev", "h1", "ingress"); strings.Contains(out, FilterName) {
		t.Fatalf("filter still on h1 after Unplug: %s", out)
	}
	if err := Unplug(h1.Attrs().Index); err != nil {
		t.Fatalf("second Unplug: %v", err)
	}
}

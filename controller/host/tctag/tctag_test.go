package tctag

import (
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
	"golang.org/x/sys/unix"

	"github.com/vpcctl/vpcctl/controller/host"
)

// readFrame reads the tap (non-blocking fd) for up to 3 s, returning the
// first frame want accepts (nil: none).
func readFrame(t *testing.T, fd int, want func([]byte) bool) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("read tap: %v", err)
		}
		if want(buf[:n]) {
			return append([]byte{}, buf[:n]...)
		}
	}
	return nil
}

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

// A frame the instance sends leaves on the trunk device with the
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

	// The trunk device: a tap, as ovs-vswitchd makes for an internal port;
	// the test reads and writes its frames as ovs-vswitchd would.
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tkt"}, Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_NO_PI, NonPersist: true, Queues: 1}
	if err := netlink.LinkAdd(tap); err != nil {
		t.Fatalf("tap: %v", err)
	}
	fd := int(tap.Fds[0].Fd())
	defer tap.Fds[0].Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	kidx, changed, err := host.EnsureTrunkDevice("tkt")
	if err != nil || !changed {
		t.Fatalf("EnsureTrunkDevice: %v, changed %v", err, changed)
	}
	if _, again, err := host.EnsureTrunkDevice("tkt"); err != nil || again {
		t.Fatalf("second EnsureTrunkDevice: %v, changed %v", err, again)
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

	// The instance's ARP request must come out of the trunk tagged 42.
	ping := exec.Command("ip", "netns", "exec", inst, "ping", "-c", "3", "-W", "1", "10.9.0.2")
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	defer ping.Wait()
	frame := readFrame(t, fd, func(f []byte) bool {
		return len(f) >= 18 && f[12] == 0x81 && f[13] == 0 && (int(f[14])<<8|int(f[15]))&0xfff == 42 && f[16] == 0x08 && f[17] == 0x06
	})
	if frame == nil {
		t.Fatal("the instance's ARP request did not leave the trunk tagged 42")
	}
	instMAC := frame[6:12]

	// A frame written to the trunk tagged 42 reaches the instance untagged:
	// an ARP request for its address, answered through the trunk (tagged).
	req := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x02, 0x81, 0, 0, 42, 0x08, 0x06,
		0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x02, 10, 9, 0, 2, 0, 0, 0, 0, 0, 0, 10, 9, 0, 1}
	if _, err := unix.Write(fd, req); err != nil {
		t.Fatal(err)
	}
	reply := readFrame(t, fd, func(f []byte) bool {
		return len(f) >= 26 && f[0] == 0x02 && f[5] == 0x02 && f[12] == 0x81 && (int(f[14])<<8|int(f[15]))&0xfff == 42 &&
			f[16] == 0x08 && f[17] == 0x06 && f[25] == 2 // ARP reply to the request above
	})
	if reply == nil || string(reply[6:12]) != string(instMAC) {
		t.Fatalf("no ARP reply from the instance through the trunk: %x", reply)
	}
	// Tagged with another instance's id, or untagged: nothing reaches it.
	for _, f := range [][]byte{append(append([]byte{}, req[:14]...), append([]byte{0, 43}, req[16:]...)...), append(append([]byte{}, req[:12]...), req[16:]...)} {
		if _, err := unix.Write(fd, f); err != nil {
			t.Fatal(err)
		}
	}
	if f := readFrame(t, fd, func(f []byte) bool {
		return len(f) >= 26 && f[0] == 0x02 && f[16] == 0x08 && f[17] == 0x06 && f[25] == 2
	}); f != nil {
		t.Fatalf("the instance answered a frame not tagged with its id: %x", f)
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

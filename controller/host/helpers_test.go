package host

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// testBridge is a unique "bridge" name per run (t + 4 hex), so namespaces,
// veths and state files never collide with other runs or other people's.
func testBridge(t *testing.T) string {
	t.Helper()
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	br := "t" + hex.EncodeToString(b)
	t.Cleanup(func() {
		os.RemoveAll(workloadStateRoot + "/" + br)
		os.RemoveAll(workloadLogRoot + "/" + br)
		assertNoLeftovers(t, br)
	})
	return br
}

// newNamespace creates vpcctl.<bridge>.<name>, deleted at the end.
func newNamespace(t *testing.T, bridge, name string) string {
	t.Helper()
	ns := NamespaceName(bridge, name)
	if _, err := EnsureNamespace(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNamespace(ns); err != nil {
			t.Errorf("DeleteNamespace(%s): %v", ns, err)
		}
	})
	return ns
}

// tool runs an inspection tool (ip, ...) and returns its trimmed output.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// assertNoLeftovers: no namespace, veth or state of this run remains.
func assertNoLeftovers(t *testing.T, bridge string) {
	t.Helper()
	if out := tool(t, "ip", "netns", "list"); strings.Contains(out, "vpcctl."+bridge+".") {
		t.Errorf("namespaces left: %s", out)
	}
	links := tool(t, "ip", "-o", "link")
	for _, name := range []string{"a", "b", "c", "x", "underlay"} {
		if strings.Contains(links, HostVethName(bridge, name)) {
			t.Errorf("host veth of %s left: %s", name, links)
		}
	}
	if strings.Contains(links, bridge) {
		t.Errorf("links named after %s left: %s", bridge, links)
	}
}

// linuxBridge makes a Linux bridge (no address, IPv6 off: pure L2, the
// host stack stays out of it) to join host veth ends in tests.
func linuxBridge(t *testing.T, name string) *netlink.Bridge {
	t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(br) })
	if _, err := disableIPv6(name); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	return br
}

func attach(t *testing.T, br *netlink.Bridge, hostVeth string) {
	t.Helper()
	l, err := netlink.LinkByName(hostVeth)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetMaster(l, br); err != nil {
		t.Fatal(err)
	}
}

// instanceSpec is a veth spec for instance name in 10.77.1.0/24.
func instanceSpec(bridge, name string, host byte) VethSpec {
	return VethSpec{
		HostName: HostVethName(bridge, name),
		LinkSpec: LinkSpec{
			Namespace: NamespaceName(bridge, name),
			MAC:       InstanceMAC("vpc", name),
			Addr:      netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, 1, host}), 24),
			Gateway:   netip.MustParseAddr("10.77.1.1"),
			MTU:       1500,
		},
	}
}

// ping from ns to ip, bounded: count packets, 1 s each.
func ping(ns string, ip netip.Addr, count int) error {
	return Command(ns, []string{"ping", "-n", "-q", "-c", strconv.Itoa(count), "-W", "1", ip.String()}).Run()
}

// eventually retries f every 100 ms for at most d.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

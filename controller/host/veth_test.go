package host

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// twoInstances: namespaces a (10.77.1.4) and b (10.77.1.5), veths plumbed by
// EnsureVeth, host ends joined by a test Linux bridge.
func twoInstances(t *testing.T) (br string, a, b VethSpec, lbr *netlink.Bridge) {
	t.Helper()
	br = testBridge(t)
	a, b = instanceSpec(br, "a", 4), instanceSpec(br, "b", 5)
	lbr = linuxBridge(t, br+"-br")
	for _, s := range []VethSpec{a, b} {
		newNamespace(t, br, strings.TrimPrefix(s.Namespace, "vpcctl."+br+"."))
		t.Cleanup(func() { DeleteVeth(s.HostName) })
		changed, err := EnsureVeth(s)
		if err != nil || !changed {
			t.Fatalf("EnsureVeth(%s) = %v, %v", s.Namespace, changed, err)
		}
		attach(t, lbr, s.HostName)
	}
	return br, a, b, lbr
}

// checkPlumbed verifies every property EnsureVeth promises, with ip(8)
// and /proc as an outsider would see them.
func checkPlumbed(t *testing.T, s VethSpec) {
	t.Helper()
	ns, ifn := s.Namespace, s.ifName()
	link := tool(t, "ip", "-n", ns, "-o", "link", "show", ifn)
	if !strings.Contains(link, "link/ether "+s.MAC.String()) || !strings.Contains(link, ",UP") || !strings.Contains(link, "mtu 1500") {
		t.Errorf("%s/%s link: %s", ns, ifn, link)
	}
	if lo := tool(t, "ip", "-n", ns, "-o", "link", "show", "lo"); !strings.Contains(lo, ",UP") {
		t.Errorf("lo not up in %s: %s", ns, lo)
	}
	addrs := tool(t, "ip", "-n", ns, "-o", "-4", "addr", "show", "dev", ifn)
	if strings.Count(addrs, "inet ") != 1 || !strings.Contains(addrs, "inet "+s.Addr.String()+" ") {
		t.Errorf("%s addresses: %s", ns, addrs)
	}
	if v6 := tool(t, "ip", "-n", ns, "-o", "-6", "addr", "show", "dev", ifn); v6 != "" {
		t.Errorf("%s has IPv6 addresses: %s", ns, v6)
	}
	if routes := tool(t, "ip", "-n", ns, "-4", "route", "show", "default"); routes != "default via "+s.Gateway.String()+" dev "+ifn && !strings.HasPrefix(routes, "default via "+s.Gateway.String()+" dev "+ifn+" ") {
		t.Errorf("%s default route: %q", ns, routes)
	}
	v := strings.TrimSpace(tool(t, "ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv6/conf/"+ifn+"/disable_ipv6"))
	if d := tool(t, "ip", "-n", ns, "-d", "link", "show", ifn); v != "1" && !strings.Contains(d, "addrgenmode none") {
		t.Errorf("%s: disable_ipv6 = %s and IPv6 addresses generated: %s", ns, v, d)
	}
	if s.HostName != "" {
		host := tool(t, "ip", "-o", "link", "show", s.HostName)
		if !strings.Contains(host, ",UP") {
			t.Errorf("host end down: %s", host)
		}
		// IPv6 quiet: disabled, or (a new host end) no address generation.
		v := strings.TrimSpace(tool(t, "cat", "/proc/sys/net/ipv6/conf/"+s.HostName+"/disable_ipv6"))
		if d := tool(t, "ip", "-d", "link", "show", s.HostName); v != "1" && !strings.Contains(d, "addrgenmode none") {
			t.Errorf("host end %s: disable_ipv6 = %s and IPv6 addresses generated: %s", s.HostName, v, d)
		}
		if v6 := tool(t, "ip", "-o", "-6", "addr", "show", "dev", s.HostName); v6 != "" {
			t.Errorf("host end %s has IPv6 addresses: %s", s.HostName, v6)
		}
	}
}

func ensureNoChange(t *testing.T, s VethSpec) {
	t.Helper()
	if changed, err := EnsureVeth(s); err != nil || changed {
		t.Fatalf("EnsureVeth(%s) again = %v, %v; want no change", s.Namespace, changed, err)
	}
}

func TestVethPingIdempotentDrift(t *testing.T) {
	requireRoot(t)
	_, a, b, lbr := twoInstances(t)
	checkPlumbed(t, a)
	checkPlumbed(t, b)
	ensureNoChange(t, a)
	ensureNoChange(t, b)
	if err := ping(a.Namespace, b.Addr.Addr(), 2); err != nil {
		t.Fatalf("ping a->b: %v", err)
	}
	// Offloads untouched: OVS's userspace TSO relies on them.
	if out := tool(t, "ip", "netns", "exec", a.Namespace, "ethtool", "-k", "eth0"); !strings.Contains(out, "tx-checksumming: on") {
		t.Errorf("tx checksumming off in the namespace:\n%s", out)
	}

	t.Run("drift inside", func(t *testing.T) {
		ns := a.Namespace
		tool(t, "ip", "-n", ns, "addr", "add", "10.77.1.99/24", "dev", "eth0")
		tool(t, "ip", "-n", ns, "addr", "del", a.Addr.String(), "dev", "eth0")
		tool(t, "ip", "-n", ns, "link", "set", "eth0", "address", "02:00:00:00:00:99")
		tool(t, "ip", "-n", ns, "link", "set", "eth0", "mtu", "1400")
		tool(t, "ip", "-n", ns, "link", "set", "eth0", "down") // takes the default route with it
		tool(t, "ip", "-n", ns, "link", "set", "lo", "down")
		tool(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0")
		tool(t, "ip", "-n", ns, "link", "set", "eth0", "addrgenmode", "eui64")
		tool(t, "sysctl", "-qw", "net.ipv6.conf."+a.HostName+".disable_ipv6=0")
		tool(t, "ip", "link", "set", a.HostName, "addrgenmode", "eui64")
		if changed, err := EnsureVeth(a); err != nil || !changed {
			t.Fatalf("EnsureVeth after drift = %v, %v", changed, err)
		}
		checkPlumbed(t, a)
		ensureNoChange(t, a)
		if err := ping(a.Namespace, b.Addr.Addr(), 1); err != nil {
			t.Fatalf("ping after repair: %v", err)
		}
	})

	t.Run("stray default route", func(t *testing.T) {
		tool(t, "ip", "-n", a.Namespace, "route", "replace", "default", "via", "10.77.1.77", "dev", "eth0")
		if changed, err := EnsureVeth(a); err != nil || !changed {
			t.Fatalf("EnsureVeth = %v, %v", changed, err)
		}
		checkPlumbed(t, a)
	})

	t.Run("host end deleted", func(t *testing.T) {
		tool(t, "ip", "link", "del", a.HostName) // the peer goes with it
		if changed, err := EnsureVeth(a); err != nil || !changed {
			t.Fatalf("EnsureVeth = %v, %v", changed, err)
		}
		checkPlumbed(t, a)
		attach(t, lbr, a.HostName) // OVS re-attaches by name; the test bridge needs help
		if err := ping(a.Namespace, b.Addr.Addr(), 1); err != nil {
			t.Fatalf("ping after re-create: %v", err)
		}
	})

	t.Run("stray peer in namespace", func(t *testing.T) {
		// eth0 in the namespace belongs to some other veth: replaced.
		tool(t, "ip", "link", "del", a.HostName)
		tool(t, "ip", "link", "add", a.HostName+"x", "type", "veth", "peer", "name", "eth0", "netns", a.Namespace)
		t.Cleanup(func() { DeleteVeth(a.HostName + "x") })
		if changed, err := EnsureVeth(a); err != nil || !changed {
			t.Fatalf("EnsureVeth = %v, %v", changed, err)
		}
		checkPlumbed(t, a)
		if out := tool(t, "ip", "-o", "link"); strings.Contains(out, a.HostName+"x") {
			t.Errorf("stray veth not removed")
		}
	})

	t.Run("spec change", func(t *testing.T) {
		a2 := a
		a2.Addr = netip.MustParsePrefix("10.77.2.4/24")
		a2.Gateway = netip.MustParseAddr("10.77.2.1")
		a2.MAC = InstanceMAC("vpc2", "a")
		if changed, err := EnsureVeth(a2); err != nil || !changed {
			t.Fatalf("EnsureVeth = %v, %v", changed, err)
		}
		checkPlumbed(t, a2)
		ensureNoChange(t, a2)
	})

	t.Run("not ours", func(t *testing.T) {
		// A host link of that name that is not a veth is left alone.
		s := instanceSpec(a.Namespace, "x", 9)
		s.Namespace = a.Namespace
		s.HostName = lbr.Name
		if _, err := EnsureVeth(s); err == nil || !strings.Contains(err.Error(), "not touching") {
			t.Fatalf("EnsureVeth over a bridge: %v", err)
		}
		if _, err := netlink.LinkByName(lbr.Name); err != nil {
			t.Fatalf("bridge gone: %v", err)
		}
	})

	veths, err := ListHostVeths(strings.Split(a.Namespace, ".")[1])
	if err != nil || veths[a.HostName] != a.Namespace || veths[b.HostName] != b.Namespace || len(veths) != 2 {
		t.Errorf("ListHostVeths = %v, %v", veths, err)
	}
}

func TestVethValidation(t *testing.T) {
	good := instanceSpec("tbr", "a", 4)
	for name, mut := range map[string]func(*VethSpec){
		"no MAC":          func(s *VethSpec) { s.MAC = nil },
		"no address":      func(s *VethSpec) { s.Addr = netip.Prefix{} },
		"IPv6":            func(s *VethSpec) { s.Addr = netip.MustParsePrefix("fd00::4/64") },
		"gateway outside": func(s *VethSpec) { s.Gateway = netip.MustParseAddr("10.9.9.1") },
		"long host name":  func(s *VethSpec) { s.HostName = "a-name-longer-than-15" },
		"bad namespace":   func(s *VethSpec) { s.Namespace = "../x" },
	} {
		s := good
		mut(&s)
		if _, err := EnsureVeth(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := EnsureVeth(instanceSpec("tnone", "missing", 4)); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing namespace: %v", err)
	}
}

// DeleteNamespace removes the veth at once, not some time later.
func TestDeleteNamespaceRemovesVeth(t *testing.T) {
	requireRoot(t)
	br := testBridge(t)
	s := instanceSpec(br, "a", 4)
	newNamespace(t, br, "a")
	if _, err := EnsureVeth(s); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNamespace(s.Namespace); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(s.HostName); err == nil {
		t.Fatalf("%s still exists right after DeleteNamespace", s.HostName)
	}
	if err := DeleteVeth(s.HostName); err != nil {
		t.Fatalf("DeleteVeth of a missing veth: %v", err)
	}
	var st unix.Stat_t
	if unix.Stat(namespacePath(s.Namespace), &st) == nil {
		t.Fatal("namespace file left")
	}
}

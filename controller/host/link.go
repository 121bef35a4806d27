package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkSpec is an instance's side of its link, whatever the attachment.
type LinkSpec struct {
	Namespace string           // the instance's namespace (NamespaceName)
	MAC       net.HardwareAddr // the instance's MAC (InstanceMAC)
	Addr      netip.Prefix     // instance IP with the subnet's prefix length, e.g. 10.1.1.10/24
	Gateway   netip.Addr       // default gateway (the subnet's .1); invalid = no default route
	MTU       int              // 0 leaves the kernel default
	// NoTxOffload: transmit offloads off (an instance of a topology that
	// spans hosts; see disableTxOffload).
	NoTxOffload bool
}

// VethSpec describes an instance's veth pair.
type VethSpec struct {
	HostName string // host end (HostVethName), the OVS port
	IfName   string // peer's name inside the namespace, default "eth0"
	LinkSpec
	// Recorded: the caller's record says this exact spec (Digest) was
	// plumbed and verified before. EnsureVeths then trusts the inside of
	// the namespace when the host end looks intact (see trusted), without
	// entering it.
	Recorded bool
}

// Digest names the content of the spec (namespace, names, MAC, address,
// gateway, MTU), for a caller to record beside what it plumbed.
func (s VethSpec) Digest() string {
	b := fmt.Appendf(nil, "%s|%s|%s|%s|%s|%s|%d", s.HostName, s.ifName(), s.Namespace, s.MAC, s.Addr, s.Gateway, s.MTU)
	if s.NoTxOffload { // only then: digests recorded before stay valid
		b = append(b, "|notx"...)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func (s VethSpec) ifName() string {
	if s.IfName == "" {
		return "eth0"
	}
	return s.IfName
}

func (s LinkSpec) validate(ifName string) error {
	var errs []error
	if err := checkNamespaceName(s.Namespace); err != nil {
		errs = append(errs, err)
	}
	if len(s.MAC) != 6 {
		errs = append(errs, fmt.Errorf("MAC %q is not a 6-byte Ethernet address", s.MAC))
	}
	if !s.Addr.IsValid() || !s.Addr.Addr().Is4() {
		errs = append(errs, fmt.Errorf("address %v is not an IPv4 prefix", s.Addr))
	}
	if s.Gateway.IsValid() && !s.Addr.Contains(s.Gateway) {
		errs = append(errs, fmt.Errorf("gateway %v is outside %v", s.Gateway, s.Addr.Masked()))
	}
	if ifName == "" || len(ifName) > unix.IFNAMSIZ-1 {
		errs = append(errs, fmt.Errorf("interface name %q must be 1..%d characters", ifName, unix.IFNAMSIZ-1))
	}
	return errors.Join(errs...)
}

// configureInside makes the instance-side link (already in the namespace,
// reachable through h) match spec: IPv6 off, MAC, MTU, exactly one IPv4
// address, link and loopback up, default route via the gateway.
func configureInside(h *netlink.Handle, spec LinkSpec, ifName string) (bool, error) {
	return configureLink(h, spec, ifName, nil, nil, func() (bool, error) { return disableIPv6In(spec.Namespace, ifName) })
}

// configureLink is configureInside with the links already looked up (nil:
// look them up) and the way to turn IPv6 off given.
func configureLink(h *netlink.Handle, spec LinkSpec, ifName string, link, lo netlink.Link, ipv6Off func() (bool, error)) (bool, error) {
	changed := false
	// IPv6 off before the link goes up, so it never sends router solicitations.
	c, err := ipv6Off()
	if err != nil {
		return changed, err
	}
	changed = changed || c

	if link == nil {
		if link, err = h.LinkByName(ifName); err != nil {
			return changed, fmt.Errorf("%s in %s: %w", ifName, spec.Namespace, err)
		}
	}
	attrs := link.Attrs()
	if !macEqual(attrs.HardwareAddr, spec.MAC) {
		if err := setMAC(h, link, spec.MAC); err != nil {
			return changed, fmt.Errorf("set MAC of %s: %w", ifName, err)
		}
		changed = true
	}
	if spec.MTU > 0 && attrs.MTU != spec.MTU {
		if err := h.LinkSetMTU(link, spec.MTU); err != nil {
			return changed, fmt.Errorf("set MTU of %s: %w", ifName, err)
		}
		changed = true
	}
	if spec.NoTxOffload {
		c, err := disableTxOffload(spec.Namespace, ifName)
		if err != nil {
			return changed, err
		}
		changed = changed || c
	}
	c, err = ensureOnlyAddr(h, link, spec.Addr)
	changed = changed || c
	if err != nil {
		return changed, err
	}
	c, err = ensureUp(h, link)
	changed = changed || c
	if err != nil {
		return changed, err
	}
	if lo == nil {
		if lo, err = h.LinkByName("lo"); err != nil {
			return changed, fmt.Errorf("lo in %s: %w", spec.Namespace, err)
		}
	}
	c, err = ensureUp(h, lo)
	changed = changed || c
	if err != nil {
		return changed, err
	}
	c, err = ensureDefaultRoute(h, link, spec.Gateway)
	return changed || c, err
}

func ensureUp(h *netlink.Handle, link netlink.Link) (bool, error) {
	if link.Attrs().Flags&net.FlagUp != 0 {
		return false, nil
	}
	if err := h.LinkSetUp(link); err != nil {
		return false, fmt.Errorf("set %s up: %w", link.Attrs().Name, err)
	}
	return true, nil
}

func macEqual(a, b net.HardwareAddr) bool { return strings.EqualFold(a.String(), b.String()) }

// setMAC changes a link's MAC; veth and tap allow it while up, other
// drivers answer EBUSY and need the link down for a moment.
func setMAC(h *netlink.Handle, link netlink.Link, mac net.HardwareAddr) error {
	err := h.LinkSetHardwareAddr(link, mac)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	if err := h.LinkSetDown(link); err != nil {
		return err
	}
	return errors.Join(h.LinkSetHardwareAddr(link, mac), h.LinkSetUp(link))
}

// ensureOnlyAddr leaves exactly want as the link's IPv4 address: vpcctl owns
// the link, so any other address on it is drift.
func ensureOnlyAddr(h *netlink.Handle, link netlink.Link, want netip.Prefix) (bool, error) {
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	changed, have := false, false
	for _, a := range addrs {
		if prefixOf(a.IPNet) == want {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			return changed, fmt.Errorf("remove %v from %s: %w", a.IPNet, link.Attrs().Name, err)
		}
		changed = true
	}
	if !have {
		addr := &netlink.Addr{IPNet: &net.IPNet{
			IP:   want.Addr().AsSlice(),
			Mask: net.CIDRMask(want.Bits(), 32),
		}}
		if err := h.AddrAdd(link, addr); err != nil {
			return changed, fmt.Errorf("add %v to %s: %w", want, link.Attrs().Name, err)
		}
		changed = true
	}
	return changed, nil
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones)
}

// ensureDefaultRoute leaves exactly one IPv4 default route in the main table:
// via gw on link. An invalid gw means no default route at all.
func ensureDefaultRoute(h *netlink.Handle, link netlink.Link, gw netip.Addr) (bool, error) {
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, fmt.Errorf("list routes: %w", err)
	}
	changed, have := false, false
	for _, r := range routes {
		if !isDefault(r.Dst) {
			continue
		}
		rgw, _ := netip.AddrFromSlice(r.Gw)
		if gw.IsValid() && !have && r.LinkIndex == link.Attrs().Index && rgw.Unmap() == gw && len(r.MultiPath) == 0 {
			have = true
			continue
		}
		if err := h.RouteDel(&r); err != nil {
			return changed, fmt.Errorf("remove default route %v: %w", r, err)
		}
		changed = true
	}
	if gw.IsValid() && !have {
		r := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			Gw:        gw.AsSlice(),
			Table:     unix.RT_TABLE_MAIN,
		}
		if err := h.RouteReplace(r); err != nil {
			return changed, fmt.Errorf("default route via %v: %w", gw, err)
		}
		changed = true
	}
	return changed, nil
}

func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}

// disableIPv6In sets disable_ipv6=1 on ifName inside the namespace.
// /proc/sys/net is resolved against the calling thread's namespace, hence the
// thread switch.
func disableIPv6In(ns, ifName string) (changed bool, err error) {
	err = inNamespace(ns, func() error {
		changed, err = disableIPv6(ifName)
		return err
	})
	return changed, err
}

// disableIPv6 sets disable_ipv6=1 on ifName in the calling thread's
// namespace. IPv6 is out of scope (the pipeline drops it); turning it off
// keeps links from chattering router solicitations and DAD. A kernel without
// IPv6 is fine.
func disableIPv6(ifName string) (bool, error) {
	path := filepath.Join("/proc/sys/net/ipv6/conf", ifName, "disable_ipv6")
	cur, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return false, nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return false, fmt.Errorf("disable IPv6 on %s: %w", ifName, err)
	}
	return true, nil
}

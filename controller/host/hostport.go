package host

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// EnsureHostInternalPort configures an OVS internal port that stays in the
// host namespace (external.attach: host): IPv6 off, the given MAC, exactly
// the given address (the external gateway with the external prefix), up.
// It never adds a route beyond the address's own connected one, so the host
// reaches the external network through it and nothing else changes.
func EnsureHostInternalPort(port string, mac net.HardwareAddr, addr netip.Prefix) (bool, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return false, err
	}
	defer h.Close()
	link, err := h.LinkByName(port)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrPortNotFound, port, err)
	}
	if !isInternalPort(link) {
		return false, fmt.Errorf("%s is a %s device, not an OVS internal port", port, link.Type())
	}
	changed, err := disableIPv6(port)
	if err != nil {
		return changed, err
	}
	if !macEqual(link.Attrs().HardwareAddr, mac) {
		if err := setMAC(h, link, mac); err != nil {
			return changed, fmt.Errorf("set MAC of %s: %w", port, err)
		}
		changed = true
	}
	c, err := ensureOnlyAddr(h, link, addr)
	changed = changed || c
	if err != nil {
		return changed, err
	}
	c, err = ensureUp(h, link)
	return changed || c, err
}

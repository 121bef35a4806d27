package host

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TrunkNames name a bridge's trunk: port is its OVS internal port, whose
// device (a tap with the userspace datapath, made by ovs-vswitchd) carries
// the tc program that hands frames to the trunk instances (package tctag);
// formerKernelEnd is the peer of the veth pair that was the trunk port up to
// the 2026-12-02 releases (apply deletes that pair: see DeleteFormerVeths).
//
// Why an internal port: the userspace datapath reads a tap with one read()
// per frame, where a veth port costs a packet socket and one more veth hop
// each way (sender and receiver both behind the trunk: scripts/bench-ovn.sh).
// A tap made by ovs-vswitchd is persistent: it keeps its ifindex, and the tc
// filter on it, across an ovs-vswitchd restart.
func TrunkNames(bridge string) (port, formerKernelEnd string) {
	return HostVethName(bridge, "/trunk"), HostVethName(bridge, "/trunk-kernel")
}

// EnsureTrunkDevice readies the device ovs-vswitchd made for the trunk
// port: up, with no IPv6 address (so the host never sends anything into the
// bridge through it). It returns its ifindex; changed says it had to be set
// up. ErrPortNotFound: ovs-vswitchd has not made it (yet).
func EnsureTrunkDevice(port string) (index int, changed bool, err error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return 0, false, err
	}
	defer h.Close()
	l, err := linkIfExists(h, port)
	if err != nil {
		return 0, false, err
	}
	if l == nil {
		return 0, false, fmt.Errorf("trunk port %s: %w", port, ErrPortNotFound)
	}
	if !isInternalPort(l) {
		return 0, false, fmt.Errorf("trunk port %s is a %s, not an OVS internal port", port, l.Type())
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetIP6AddrGenMode(l, addrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
			return 0, false, fmt.Errorf("turn off IPv6 addresses on %s: %w", port, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return 0, false, fmt.Errorf("set %s up: %w", port, err)
		}
		changed = true
	}
	return l.Attrs().Index, changed, nil
}

// DeleteTrunkDevices deletes what may be left of a bridge's trunk once its
// OVS port is gone: the veth pair of earlier releases, and the port's tap,
// left behind when ovs-vswitchd was not running as the port went
// (ovs-vswitchd makes it persistent). Program and map go with the last
// filter.
func DeleteTrunkDevices(bridge string) error {
	port, formerKernelEnd := TrunkNames(bridge)
	_, errs := DeleteFormerVeths([]string{port, formerKernelEnd})
	return errors.Join(append(errs, DeleteLeftoverTap(port))...)
}

// LinkIndex is the ifindex of a link of the host namespace.
func LinkIndex(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("link %s: %w", name, err)
	}
	return l.Attrs().Index, nil
}

package host

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TrunkNames are the two ends of a bridge's trunk veth pair, both in the
// host namespace: ovsEnd is the bridge's port, kernelEnd carries the tc
// program that hands frames to the trunk instances (package tctag).
func TrunkNames(bridge string) (ovsEnd, kernelEnd string) {
	return HostVethName(bridge, "/trunk"), HostVethName(bridge, "/trunk-kernel")
}

// EnsureTrunkVeth makes the trunk veth pair: both ends up, IPv6 quiet (no
// address, so the host never sends anything into the bridge through it). A
// pair that is not exactly this (one end missing, or paired elsewhere) is
// re-created. It returns the kernel end's ifindex; recreated says the OVS
// end is a new device (its OVS port must be re-added, see
// VethReport.Recreated).
func EnsureTrunkVeth(ovsEnd, kernelEnd string) (index int, recreated bool, err error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return 0, false, err
	}
	defer h.Close()
	o, err := linkIfExists(h, ovsEnd)
	if err != nil {
		return 0, false, err
	}
	k, err := linkIfExists(h, kernelEnd)
	if err != nil {
		return 0, false, err
	}
	if !trunkPaired(o, k) {
		for _, l := range []netlink.Link{o, k} {
			if l == nil {
				continue
			}
			if _, ok := l.(*netlink.Veth); !ok {
				return 0, false, fmt.Errorf("%s is a %s, not a veth: not deleting it", l.Attrs().Name, l.Type())
			}
			if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				return 0, false, fmt.Errorf("delete %s: %w", l.Attrs().Name, err)
			}
		}
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ovsEnd}, PeerName: kernelEnd}
		if err := h.LinkAdd(v); err != nil {
			return 0, false, fmt.Errorf("create trunk veth %s: %w", ovsEnd, err)
		}
		recreated = true
		if o, err = h.LinkByName(ovsEnd); err != nil {
			return 0, true, err
		}
		if k, err = h.LinkByName(kernelEnd); err != nil {
			return 0, true, err
		}
	}
	for _, l := range []netlink.Link{o, k} {
		if l.Attrs().Flags&net.FlagUp != 0 {
			continue
		}
		if err := h.LinkSetIP6AddrGenMode(l, addrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
			return 0, recreated, fmt.Errorf("turn off IPv6 addresses on %s: %w", l.Attrs().Name, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			return 0, recreated, fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
		}
	}
	return k.Attrs().Index, recreated, nil
}

// trunkPaired: o and k exist and are the two ends of one veth pair.
func trunkPaired(o, k netlink.Link) bool {
	if o == nil || k == nil {
		return false
	}
	if _, ok := o.(*netlink.Veth); !ok {
		return false
	}
	if _, ok := k.(*netlink.Veth); !ok {
		return false
	}
	peer, err := netlink.VethPeerIndex(o.(*netlink.Veth))
	return err == nil && peer == k.Attrs().Index
}

// LinkIndex is the ifindex of a link of the host namespace.
func LinkIndex(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("link %s: %w", name, err)
	}
	return l.Attrs().Index, nil
}

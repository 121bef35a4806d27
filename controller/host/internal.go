package host

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrPortNotFound: the internal port is neither in the host namespace nor in
// the instance's: ovs-vswitchd has not created it (yet). Retry later.
var ErrPortNotFound = errors.New("internal port not found")

// isInternalPort recognises an OVS internal port's device: a tap with the
// userspace datapath, an "openvswitch" device with the kernel datapath.
func isInternalPort(l netlink.Link) bool {
	return l.Type() == "tuntap" || l.Type() == "openvswitch"
}

// EnsureInternalPortInNamespace moves the OVS internal port `port` from the
// host namespace into spec.Namespace and configures it like a veth peer (MAC,
// address, default route, IPv6 off). The device KEEPS ITS NAME inside the
// namespace (no eth0): ovs-vswitchd tracks ports by device name, and with the
// kernel datapath a renamed internal device shows up under its new name in
// the datapath, which ovs-vswitchd then takes for an unknown port. (With the
// userspace datapath a rename was measured to keep forwarding.) Keeping the
// name is safe with both datapaths.
//
// ovs-vswitchd (userspace datapath) makes internal ports as persistent taps.
// When it restarts it opens a fresh tap of the same name in the host
// namespace, and the old one stays in the instance namespace, dead. So a port
// of that name in the host namespace always wins: any namesake in the
// instance namespace is stale and is deleted before the move.
func EnsureInternalPortInNamespace(port string, spec LinkSpec) (changed bool, err error) {
	if err := spec.validate(port); err != nil {
		return false, err
	}
	nsh, nsfd, err := nsHandles(spec.Namespace)
	if err != nil {
		return false, err
	}
	defer nsfd.Close()
	defer nsh.Close()
	host, err := netlink.NewHandle()
	if err != nil {
		return false, err
	}
	defer host.Close()

	hl, err := linkIfExists(host, port)
	if err != nil {
		return false, err
	}
	inside, err := linkIfExists(nsh, port)
	if err != nil {
		return false, err
	}
	switch {
	case hl != nil:
		if !isInternalPort(hl) {
			return false, fmt.Errorf("%s is a %s, not an OVS internal port: not moving it", port, hl.Type())
		}
		if inside != nil {
			if !isInternalPort(inside) {
				return false, fmt.Errorf("%s in %s is a %s, not an OVS internal port", port, spec.Namespace, inside.Type())
			}
			if err := nsh.LinkDel(inside); err != nil {
				return false, fmt.Errorf("remove stale %s from %s: %w", port, spec.Namespace, err)
			}
		}
		if err := host.LinkSetNsFd(hl, int(nsfd)); err != nil {
			return true, fmt.Errorf("move %s into %s: %w", port, spec.Namespace, err)
		}
		changed = true
	case inside == nil:
		return false, fmt.Errorf("%s: %w", port, ErrPortNotFound)
	case !isInternalPort(inside):
		return false, fmt.Errorf("%s in %s is a %s, not an OVS internal port", port, spec.Namespace, inside.Type())
	}
	// The veth peer of an instance that was a veth or trunk one, if its
	// host end did not take it along (see DeleteFormerVeths): it would
	// hold the instance's address too.
	old, err := linkIfExists(nsh, "eth0")
	if err != nil {
		return changed, err
	}
	if _, ok := old.(*netlink.Veth); ok {
		if err := nsh.LinkDel(old); err != nil {
			return changed, fmt.Errorf("remove former veth eth0 from %s: %w", spec.Namespace, err)
		}
		changed = true
	}
	c, err := configureInside(nsh, spec, port)
	return changed || c, err
}

// DeleteFormerVeths deletes, for each name, a veth of that name in the host
// namespace: the host end an instance had before it became an internal
// one (attach: veth or trunk). Its peer, the namespace's eth0, goes with
// it. It must go before ovs-vswitchd is asked for the internal port: the
// port keeps its name, and ovs-vswitchd cannot make a tap of a name that a
// veth holds ("could not open network device ... (Invalid argument)").
// A device of that name that is no veth (the internal port itself, after an
// ovs-vswitchd restart) is left alone. deleted[i] says names[i] was deleted.
func DeleteFormerVeths(names []string) (deleted []bool, errs []error) {
	deleted, errs = make([]bool, len(names)), make([]error, len(names))
	if len(names) == 0 {
		return deleted, errs
	}
	h, err := netlink.NewHandle()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return deleted, errs
	}
	defer h.Close()
	for i, name := range names {
		l, err := linkIfExists(h, name)
		if err != nil || l == nil {
			errs[i] = err
			continue
		}
		if _, ok := l.(*netlink.Veth); !ok {
			continue
		}
		if err := h.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) && !errors.Is(err, unix.ENODEV) {
			errs[i] = fmt.Errorf("delete former veth %s: %w", name, err)
			continue
		}
		deleted[i] = true
	}
	return deleted, errs
}

// ReleaseInternalPort moves an internal port out of the namespace back into
// the process's own, where ovs-vswitchd can delete or reuse it. Call it (or
// DeleteNamespace, which does it) before the namespace goes away: destroying
// the namespace destroys the device, and the OVS port stays broken ("File
// descriptor in bad state") until the port is re-created or ovs-vswitchd
// restarts. moved is false when there was nothing to move.
func ReleaseInternalPort(ns, port string) (moved bool, err error) {
	if ok, err := namespaceExists(ns); err != nil || !ok {
		return false, err
	}
	nsh, nsfd, err := nsHandles(ns)
	if err != nil {
		return false, err
	}
	defer nsfd.Close()
	defer nsh.Close()
	l, err := linkIfExists(nsh, port)
	if err != nil || l == nil {
		return false, err
	}
	if !isInternalPort(l) {
		return false, fmt.Errorf("%s in %s is a %s, not an OVS internal port", port, ns, l.Type())
	}
	return true, moveToHost(nsh, l)
}

// moveToHost moves l to the process's namespace (that of its main thread,
// which vpcctl never moves). If the host already has a device of that name,
// l is a stale tap left by a restarted ovs-vswitchd: it is deleted instead.
func moveToHost(nsh *netlink.Handle, l netlink.Link) error {
	self, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	err = nsh.LinkSetNsFd(l, int(self))
	if errors.Is(err, unix.EEXIST) {
		err = nsh.LinkDel(l)
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// DeleteLeftoverTap deletes the host device of an internal port whose OVS
// port is gone, if one is left. ovs-vswitchd (userspace datapath) makes
// internal ports persistent taps and deletes them with the port, but a tap
// it made before a crash, moved back out of a deleted namespace, is nobody's
// and persists.
func DeleteLeftoverTap(port string) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := linkIfExists(h, port)
	if err != nil || l == nil {
		return err
	}
	if !isInternalPort(l) {
		return fmt.Errorf("%s is a %s, not an OVS internal port: not deleting it", port, l.Type())
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete leftover tap %s: %w", port, err)
	}
	return nil
}

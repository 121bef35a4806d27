package host

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// VethReport says what EnsureVethReport did.
type VethReport struct {
	Changed bool // anything at all was changed
	// Recreated: the pair was (re-)created, so HostName is a new device.
	// ovs-vswitchd's userspace datapath does not notice a device that was
	// deleted and re-created under the same name (it keeps reading the old
	// one, and OVSDB shows no error): the caller must re-add the OVS port
	// (delete and add the Port row) unless it is adding it for the first time.
	Recreated bool
	// Held: the pair needs re-creating, and EnsureVeths was told to leave
	// it for now (nothing was changed).
	Held bool
	// hostReady: the host end was configured along with the pair.
	hostReady bool
}

// EnsureVeth makes an instance's veth pair match spec: host end HostName in
// the caller's namespace (up, IPv6 off, to be added to the OVS bridge by the
// caller), peer IfName inside spec.Namespace with MAC, address, default
// route. The namespace must exist. A pair that is broken (host end without
// its peer in the namespace, or a stray peer) is re-created; see
// EnsureVethReport to learn when. Offloads are left alone: OVS runs with
// userspace TSO, which relies on them.
func EnsureVeth(spec VethSpec) (changed bool, err error) {
	rep, err := EnsureVethReport(spec)
	return rep.Changed, err
}

// EnsureVethReport is EnsureVeth that also reports whether the pair was
// re-created.
func EnsureVethReport(spec VethSpec) (VethReport, error) {
	var rep VethReport
	if err := spec.validate(spec.ifName()); err != nil {
		return rep, err
	}
	if spec.HostName == "" || len(spec.HostName) > unix.IFNAMSIZ-1 {
		return rep, fmt.Errorf("host veth name %q must be 1..%d characters", spec.HostName, unix.IFNAMSIZ-1)
	}
	nsh, nsfd, err := nsHandles(spec.Namespace)
	if err != nil {
		return rep, err
	}
	defer nsfd.Close()
	defer nsh.Close()
	host, err := netlink.NewHandle()
	if err != nil {
		return rep, err
	}
	defer host.Close()

	intact, err := vethIntact(host, nsh, spec)
	if err != nil {
		return rep, err
	}
	if !intact {
		rep.Changed, rep.Recreated = true, true
		if err := createVeth(host, nsh, nsfd, spec); err != nil {
			return rep, err
		}
	}
	c, err := configureHostEnd(host, spec)
	rep.Changed = rep.Changed || c
	if err != nil {
		return rep, err
	}
	c, err = configureInside(nsh, spec.LinkSpec, spec.ifName())
	rep.Changed = rep.Changed || c
	return rep, err
}

// vethIntact reports whether HostName and IfName-in-namespace exist and are
// each other's peer. Names that exist but are not veths belong to someone
// else: that is an error, not something to delete.
func vethIntact(host, nsh *netlink.Handle, spec VethSpec) (bool, error) {
	hl, err := linkIfExists(host, spec.HostName)
	if err != nil || hl == nil {
		return false, err
	}
	if _, ok := hl.(*netlink.Veth); !ok {
		return false, fmt.Errorf("%s exists and is a %s, not a veth: not touching it", spec.HostName, hl.Type())
	}
	pl, err := linkIfExists(nsh, spec.ifName())
	if err != nil || pl == nil {
		return false, err
	}
	if _, ok := pl.(*netlink.Veth); !ok {
		return false, fmt.Errorf("%s in %s exists and is a %s, not a veth", spec.ifName(), spec.Namespace, pl.Type())
	}
	// IFLA_LINK of a veth is its peer's ifindex.
	return hl.Attrs().ParentIndex == pl.Attrs().Index && pl.Attrs().ParentIndex == hl.Attrs().Index, nil
}

// createVeth removes the remains of a broken pair and creates a new one, the
// peer born inside the namespace under its final name (so it never clashes
// with the host's own eth0) and with the instance MAC.
func createVeth(host, nsh *netlink.Handle, nsfd netns.NsHandle, spec VethSpec) error {
	for _, side := range []struct {
		h    *netlink.Handle
		name string
	}{{host, spec.HostName}, {nsh, spec.ifName()}} {
		l, err := linkIfExists(side.h, side.name)
		if err != nil {
			return err
		}
		if l != nil {
			if err := side.h.LinkDel(l); err != nil {
				return fmt.Errorf("remove broken veth %s: %w", side.name, err)
			}
		}
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: spec.HostName, MTU: spec.MTU},
		PeerName:         spec.ifName(),
		PeerHardwareAddr: spec.MAC,
		PeerNamespace:    netlink.NsFd(nsfd),
	}
	if err := host.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s <-> %s/%s: %w", spec.HostName, spec.Namespace, spec.ifName(), err)
	}
	return nil
}

func configureHostEnd(host *netlink.Handle, spec VethSpec) (bool, error) {
	changed, err := disableIPv6(spec.HostName)
	if err != nil {
		return changed, err
	}
	hl, err := host.LinkByName(spec.HostName)
	if err != nil {
		return changed, err
	}
	if spec.MTU > 0 && hl.Attrs().MTU != spec.MTU {
		if err := host.LinkSetMTU(hl, spec.MTU); err != nil {
			return changed, fmt.Errorf("set MTU of %s: %w", spec.HostName, err)
		}
		changed = true
	}
	c, err := ensureUp(host, hl)
	return changed || c, err
}

// linkIfExists returns nil, nil when there is no such link.
func linkIfExists(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return l, nil
}

// DeleteVeth removes a host veth (and with it its peer). A missing veth is
// not an error; a non-veth of that name is left alone.
func DeleteVeth(hostName string) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := linkIfExists(h, hostName)
	if err != nil || l == nil {
		return err
	}
	if _, ok := l.(*netlink.Veth); !ok {
		return fmt.Errorf("%s is a %s, not a veth: not deleting it", hostName, l.Type())
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete veth %s: %w", hostName, err)
	}
	return nil
}

// hostVethRE matches HostVethName's output.
var hostVethRE = regexp.MustCompile(`^v[0-9a-f]{10}$`)

// ListHostVeths returns the host veths whose peer lives in one of the
// bridge's vpcctl namespaces ("" = any bridge), as host name -> namespace.
func ListHostVeths(bridge string) (map[string]string, error) {
	nss, err := ListNamespaces(bridge)
	if err != nil {
		return nil, err
	}
	// The kernel names a veth's peer namespace by a per-namespace id
	// (IFLA_LINK_NETNSID); map those ids back to namespace names.
	byID := map[int]string{}
	for _, ns := range nss {
		fd, err := openNamespace(ns)
		if err != nil {
			continue // deleted meanwhile
		}
		id, err := netlink.GetNetNsIdByFd(int(fd))
		fd.Close()
		if err == nil && id >= 0 {
			byID[id] = ns
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); !ok || !hostVethRE.MatchString(l.Attrs().Name) {
			continue
		}
		if ns, ok := byID[l.Attrs().NetNsID]; ok {
			out[l.Attrs().Name] = ns
		}
	}
	return out, nil
}

// emptyNamespace prepares a namespace for deletion: veths are deleted now
// (synchronously, rather than by the kernel's deferred namespace cleanup),
// OVS internal ports go back to the process's own namespace.
func emptyNamespace(ns string) error {
	return eachLinkIn(ns, func(nsh *netlink.Handle, l netlink.Link) error {
		switch {
		case isInternalPort(l):
			return moveToHost(nsh, l)
		case l.Type() == "veth":
			return nsh.LinkDel(l)
		}
		return nil
	})
}

// eachLinkIn calls fn for every link of a namespace, with a netlink handle
// inside it, and joins the errors.
func eachLinkIn(ns string, fn func(nsh *netlink.Handle, l netlink.Link) error) error {
	nsh, nsfd, err := nsHandles(ns)
	if err != nil {
		return err
	}
	defer nsfd.Close()
	defer nsh.Close()
	links, err := nsh.LinkList()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		errs = append(errs, fn(nsh, l))
	}
	return errors.Join(errs...)
}

package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultWorkers bounds the goroutines (each on its own OS thread) that
// plumb instances in parallel. Link changes serialize on the kernel's RTNL
// lock anyway; a few workers overlap the rest (namespace creation, netlink
// round trips, /proc writes). Measured on 2 cores for 1,000 instances: 2-4
// workers are about twice as fast as 1, more gain nothing.
func DefaultWorkers() int { return min(max(2*runtime.NumCPU(), 2), 8) }

// EnsureVeths is EnsureVethReport for many instances at once, and creates
// each instance's namespace too (EnsureNamespace). The host's links are read
// once; the instances are plumbed by up to workers goroutines, each on its
// own locked OS thread that enters (or creates) the instance's namespace for
// the time of its work, so an instance that is already right costs a handful
// of syscalls. reports[i] and errs[i] belong to specs[i]; created[i] says the
// namespace was made now. When hold(i) is true, a pair of specs[i] that needs
// re-creating is left alone and reported Held: the caller first removes the
// OVS port of the old device (see VethReport.Recreated), then calls again.
func EnsureVeths(specs []VethSpec, workers int, hold func(i int) bool) (reports []VethReport, created []bool, errs []error) {
	return EnsureVethsFrom(nil, specs, workers, hold)
}

// HostLinks is a snapshot of the host's links (one netlink dump).
type HostLinks struct{ links map[string]dumpedLink }

// Index is the ifindex the link had when dumped (0: there was none).
func (s *HostLinks) Index(name string) int {
	if s == nil {
		return 0
	}
	if l, ok := s.links[name]; ok {
		return l.Attrs().Index
	}
	return 0
}

// DumpHostLinks reads the host's links once, for EnsureVethsFrom calls that
// each plumb other instances: with 1,000 links a dump costs ~50 ms of CPU.
func DumpHostLinks() (*HostLinks, error) {
	l, err := dumpLinks()
	if err != nil {
		return nil, err
	}
	return &HostLinks{links: l}, nil
}

// EnsureVethsFrom is EnsureVeths with the host's links as snap shows them
// (nil: dumped now). snap must be newer than any change to these specs'
// links.
func EnsureVethsFrom(snap *HostLinks, specs []VethSpec, workers int, hold func(i int) bool) (reports []VethReport, created []bool, errs []error) {
	reports = make([]VethReport, len(specs))
	created = make([]bool, len(specs))
	errs = make([]error, len(specs))
	fail := func(err error) ([]VethReport, []bool, []error) {
		for i := range errs {
			errs[i] = err
		}
		return reports, created, errs
	}
	for i, s := range specs {
		errs[i] = s.validateVeth()
	}
	if err := prepareNetnsDir(); err != nil {
		return fail(err)
	}
	if snap == nil {
		var err error
		if snap, err = DumpHostLinks(); err != nil {
			return fail(err)
		}
	}
	hostLinks := snap.links
	runPool(len(specs), workers, func(w *nsWorker, i int) {
		if errs[i] != nil {
			return
		}
		hl := hostLinks[specs[i].HostName]
		if specs[i].Recorded && trusted(specs[i], hl) {
			return
		}
		reports[i], created[i], errs[i] = w.ensureVeth(specs[i], hl, hold != nil && hold(i))
	})
	return reports, created, errs
}

// trusted says an instance recorded as plumbed needs no look inside its
// namespace: its host end, as the host's link dump shows it, is a veth that
// is up with a carrier (so its peer exists and is up), quiet on IPv6, of the
// right MTU, with its peer in another namespace, and the namespace is there.
// Entering 1,000 namespaces to re-read them costs about 0.4 s on 2 cores; an
// edit of one instance should not pay for the others. Changes made by hand
// inside a namespace (its address, its routes) are left to `apply --verify`.
func trusted(s VethSpec, hl dumpedLink) bool {
	v, ok := hl.Link.(*netlink.Veth)
	if !ok {
		return false
	}
	a := v.Attrs()
	if a.Flags&net.FlagUp == 0 || a.OperState != netlink.OperUp || a.NetNsID < 0 ||
		!hl.ipv6Known || !hl.ipv6Off || (s.MTU > 0 && a.MTU != s.MTU) {
		return false
	}
	ok, err := namespaceExists(s.Namespace)
	return ok && err == nil
}

func (s VethSpec) validateVeth() error {
	if err := s.validate(s.ifName()); err != nil {
		return err
	}
	if s.HostName == "" || len(s.HostName) > unix.IFNAMSIZ-1 {
		return fmt.Errorf("host veth name %q must be 1..%d characters", s.HostName, unix.IFNAMSIZ-1)
	}
	return nil
}

// EnsureNamespaces is EnsureNamespace for many namespaces, in parallel.
func EnsureNamespaces(names []string, workers int) (created []bool, errs []error) {
	created = make([]bool, len(names))
	errs = make([]error, len(names))
	runPool(len(names), workers, func(_ *nsWorker, i int) {
		created[i], errs[i] = EnsureNamespace(names[i])
	})
	return created, errs
}

// Parallel runs fn(i) for i in [0, n) on up to workers goroutines.
func Parallel(n, workers int, fn func(i int)) {
	runPool(n, workers, func(_ *nsWorker, i int) { fn(i) })
}

// nsWorker is one goroutine locked to its OS thread, which it moves between
// namespaces; host is a netlink handle bound to the host namespace (the
// thread's original one).
type nsWorker struct {
	orig netns.NsHandle
	host *netlink.Handle
	// broken: the thread could not return to the host namespace; the worker
	// stops and its thread is discarded (it stays locked when the goroutine
	// ends, so the runtime kills it).
	broken bool
}

// runPool calls job(w, i) for every i in [0, n) on up to workers
// goroutines. A worker whose thread cannot return to the host namespace ends
// (its thread discarded) and a new one takes its place.
func runPool(n, workers int, job func(w *nsWorker, i int)) {
	if n == 0 {
		return
	}
	workers = max(1, min(workers, n))
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var start func()
	start = func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			w := &nsWorker{}
			var err error
			if w.orig, err = netns.Get(); err == nil {
				w.host, err = netlink.NewHandle(unix.NETLINK_ROUTE)
			}
			if err != nil {
				// Cannot even start: do the jobs without a worker thread
				// of our own (they fail cleanly on w.host == nil).
				runtime.UnlockOSThread()
				for i := range next {
					job(w, i)
				}
				return
			}
			defer w.host.Close()
			defer w.orig.Close()
			for i := range next {
				job(w, i)
				if w.broken {
					start() // a replacement; this thread dies locked
					return
				}
			}
			runtime.UnlockOSThread()
		}()
	}
	for range workers {
		start()
	}
	wg.Wait()
}

// enter moves the worker's thread into the named namespace, creating the
// namespace first when it does not exist (then the thread is the one that
// unshared it: no second switch). The caller must call leave.
func (w *nsWorker) enter(name string) (created bool, err error) {
	if w.host == nil {
		return false, errors.New("no worker thread")
	}
	ok, err := namespaceExists(name)
	if err != nil {
		return false, err
	}
	if ok {
		h, err := openNamespace(name)
		if err != nil {
			return false, err
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return false, fmt.Errorf("enter netns %s: %w", name, err)
		}
		return false, nil
	}
	path := namespacePath(name)
	// A plain file left by an interrupted run is not a namespace: replace it.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("remove stale %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("create netns %s: unshare: %w", name, err)
	}
	self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return true, fmt.Errorf("create netns %s: bind mount: %w", name, err)
	}
	// No sysctl write here (IPv6 is turned quiet per link, see plumbFresh):
	// every namespace adds its own entries under /proc/sys/net/ipv6/conf
	// to one shared dentry cache, and a lookup there walks all of them
	// (proc_sys_compare was 8% of the CPU of plumbing 1,000 instances).
	return true, nil
}

// leave returns the worker's thread to the host namespace.
func (w *nsWorker) leave() error {
	if err := netns.Set(w.orig); err != nil {
		w.broken = true
		return fmt.Errorf("restore netns: %w", err)
	}
	return nil
}

// ensureVeth is EnsureVethReport on the worker's thread; hl is the host end
// as the host's link dump showed it (Link nil: none).
func (w *nsWorker) ensureVeth(spec VethSpec, hl dumpedLink, hold bool) (rep VethReport, created bool, err error) {
	created, err = w.enter(spec.Namespace)
	if err != nil {
		// The thread may have unshared before failing: back to the host.
		return rep, created, errors.Join(err, w.leave())
	}
	rep, err = w.plumbInside(spec, hl.Link, created, hold)
	if lerr := w.leave(); lerr != nil {
		return rep, created, errors.Join(err, lerr)
	}
	if err != nil || rep.Held {
		return rep, created, err
	}
	var c bool
	switch {
	case rep.hostReady:
	case rep.Recreated:
		c, err = configureNewHostEnd(w.host, spec)
	default:
		c, err = configureHostEndFrom(w.host, spec, hl)
	}
	rep.Changed = rep.Changed || c
	return rep, created, err
}

// configureNewHostEnd is configureHostEnd for a host end just created (and
// still down): instead of writing disable_ipv6 (with 1,000 links in the host
// every open of a file under /proc/sys/net/ipv6/conf was measured at about
// 0.5 ms, a fifth of the CPU of plumbing 1,000 instances), IPv6 address
// generation is turned off over netlink before the link goes up: no
// link-local address, hence no DAD, router solicitations or MLD reports.
func configureNewHostEnd(h *netlink.Handle, spec VethSpec) (bool, error) {
	hl, err := h.LinkByName(spec.HostName)
	if err != nil {
		return true, err
	}
	if hl.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetIP6AddrGenMode(hl, addrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
			return true, fmt.Errorf("turn off IPv6 addresses on %s: %w", spec.HostName, err)
		}
	} else if _, err := disableIPv6(spec.HostName); err != nil {
		return true, fmt.Errorf("disable IPv6 on %s: %w", spec.HostName, err)
	}
	if spec.MTU > 0 && hl.Attrs().MTU != spec.MTU {
		if err := h.LinkSetMTU(hl, spec.MTU); err != nil {
			return true, fmt.Errorf("set MTU of %s: %w", spec.HostName, err)
		}
	}
	_, err = ensureUp(h, hl)
	return true, err
}

// configureHostEndFrom is configureHostEnd with the host end as dumped.
func configureHostEndFrom(h *netlink.Handle, spec VethSpec, hl dumpedLink) (bool, error) {
	changed := false
	if !hl.ipv6Known || !hl.ipv6Off {
		c, err := disableIPv6(spec.HostName)
		if err != nil {
			return false, err
		}
		changed = c
	}
	if spec.MTU > 0 && hl.Attrs().MTU != spec.MTU {
		if err := h.LinkSetMTU(hl, spec.MTU); err != nil {
			return changed, fmt.Errorf("set MTU of %s: %w", spec.HostName, err)
		}
		changed = true
	}
	c, err := ensureUp(h, hl)
	return changed || c, err
}

// plumbFresh plumbs a namespace made just now, which holds lo only: nothing
// to look at first, only to add, in as few netlink requests as possible
// (each takes the kernel's RTNL lock, which serializes the workers; with
// 1,000 instances every link event also costs the kernel a walk over
// ovs-vswitchd's 1,000 packet sockets). hl is a stale host end of the same
// name, if any (its namespace is gone). Both ends come out configured.
func (w *nsWorker) plumbFresh(nsh *netlink.Handle, spec VethSpec, hl netlink.Link) (VethReport, error) {
	rep := VethReport{Changed: true, Recreated: true, hostReady: true}
	if hl != nil {
		if err := w.host.LinkDel(hl); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) && !errors.Is(err, unix.ENODEV) {
			return rep, fmt.Errorf("remove broken veth %s: %w", spec.HostName, err)
		}
	}
	nsfd, err := netns.Get()
	if err != nil {
		return rep, err
	}
	defer nsfd.Close()
	// The host end is born up: it has no carrier (so IPv6 makes no address
	// on it) until the inside goes up, after its IPv6 is made quiet below.
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: spec.HostName, MTU: spec.MTU, Flags: net.FlagUp},
		PeerName:         spec.ifName(),
		PeerHardwareAddr: spec.MAC,
		PeerNamespace:    netlink.NsFd(nsfd),
	}
	if err := w.host.LinkAdd(veth); err != nil {
		return rep, fmt.Errorf("create veth %s <-> %s/%s: %w", spec.HostName, spec.Namespace, spec.ifName(), err)
	}
	// IPv6 quiet on both ends before there is a carrier: no address of
	// their own, hence no DAD, router solicitations or MLD (the pipeline
	// drops IPv6 anyway), and no sysctl file to open (see enter).
	if err := w.host.LinkSetIP6AddrGenMode(veth, addrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return rep, fmt.Errorf("turn off IPv6 addresses on %s: %w", spec.HostName, err)
	}
	link, err := nsh.LinkByName(spec.ifName())
	if err != nil {
		return rep, fmt.Errorf("%s in %s: %w", spec.ifName(), spec.Namespace, err)
	}
	if err := nsh.LinkSetIP6AddrGenMode(link, addrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return rep, fmt.Errorf("turn off IPv6 addresses on %s: %w", spec.ifName(), err)
	}
	if spec.NoTxOffload {
		if _, err := disableTxOffloadHere(spec.Namespace, spec.ifName()); err != nil {
			return rep, err
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: spec.Addr.Addr().AsSlice(), Mask: net.CIDRMask(spec.Addr.Bits(), 32)}}
	if err := nsh.AddrAdd(link, addr); err != nil {
		return rep, fmt.Errorf("add %v to %s: %w", spec.Addr, spec.ifName(), err)
	}
	if err := nsh.LinkSetUp(link); err != nil {
		return rep, fmt.Errorf("set %s up: %w", spec.ifName(), err)
	}
	// lo of a new namespace is always ifindex 1 (LOOPBACK_IFINDEX).
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo", Index: 1}}
	if err := nsh.LinkSetUp(lo); err != nil {
		return rep, fmt.Errorf("set lo up in %s: %w", spec.Namespace, err)
	}
	if spec.Gateway.IsValid() {
		r := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			Gw:        spec.Gateway.AsSlice(),
			Table:     unix.RT_TABLE_MAIN,
		}
		if err := nsh.RouteReplace(r); err != nil {
			return rep, fmt.Errorf("default route via %v: %w", spec.Gateway, err)
		}
	}
	return rep, nil
}

// plumbInside runs with the thread in the instance's namespace: one link
// dump there tells whether the pair is intact and how its inside is.
func (w *nsWorker) plumbInside(spec VethSpec, hl netlink.Link, fresh, hold bool) (VethReport, error) {
	var rep VethReport
	nsh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return rep, fmt.Errorf("netlink in netns %s: %w", spec.Namespace, err)
	}
	defer nsh.Close()
	// An OVS internal port of the host end's name is the instance's own
	// former port (attach: internal before; in the host namespace after an
	// ovs-vswitchd restart): replaced like a broken pair.
	if hl != nil && !isInternalPort(hl) {
		if _, ok := hl.(*netlink.Veth); !ok {
			return rep, fmt.Errorf("%s exists and is a %s, not a veth: not touching it", spec.HostName, hl.Type())
		}
	}
	if fresh && !hold {
		return w.plumbFresh(nsh, spec, hl)
	}
	links, err := dumpLinks()
	if err != nil {
		return rep, fmt.Errorf("netns %s: %w", spec.Namespace, err)
	}
	pl := links[spec.ifName()]
	if pl.Link != nil {
		if _, ok := pl.Link.(*netlink.Veth); !ok {
			return rep, fmt.Errorf("%s in %s exists and is a %s, not a veth", spec.ifName(), spec.Namespace, pl.Type())
		}
	}
	// IFLA_LINK of a veth is its peer's ifindex.
	intact := hl != nil && pl.Link != nil &&
		hl.Attrs().ParentIndex == pl.Attrs().Index && pl.Attrs().ParentIndex == hl.Attrs().Index
	if !intact && hold {
		rep.Held = true
		return rep, nil
	}
	// The instance's former internal port, moved in here: it holds the
	// instance's address too. (Its OVS port, if still there, is the
	// caller's: deleted or changed to the veth.)
	if old := links[spec.HostName].Link; old != nil && isInternalPort(old) {
		if err := nsh.LinkDel(old); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) && !errors.Is(err, unix.ENODEV) {
			return rep, fmt.Errorf("remove former internal port %s from %s: %w", spec.HostName, spec.Namespace, err)
		}
		rep.Changed = true
	}
	if !intact {
		rep.Changed, rep.Recreated = true, true
		nsfd, err := netns.Get()
		if err != nil {
			return rep, err
		}
		defer nsfd.Close()
		if err := createVeth(w.host, nsh, nsfd, spec); err != nil {
			return rep, err
		}
		if links, err = dumpLinks(); err != nil {
			return rep, fmt.Errorf("netns %s: %w", spec.Namespace, err)
		}
		if pl = links[spec.ifName()]; pl.Link == nil {
			return rep, fmt.Errorf("%s in %s: not there after creating it", spec.ifName(), spec.Namespace)
		}
	}
	ipv6Off := func() (bool, error) {
		if pl.ipv6Known && pl.ipv6Off {
			return false, nil
		}
		return disableIPv6(spec.ifName()) // the thread is in the namespace
	}
	c, err := configureLink(nsh, spec.LinkSpec, spec.ifName(), pl.Link, links["lo"].Link, ipv6Off)
	rep.Changed = rep.Changed || c
	return rep, err
}

// DeleteNamespaces is DeleteNamespace for many namespaces, and much faster
// for many: workloads are stopped in one pass over /proc, internal ports are
// handed back to the host, then every namespace is unmounted at once and
// the kernel tears them down together (deleting veths one by one costs an
// RCU grace period each, about 20 ms: 20 s for 1,000). It returns once the
// host ends of their veths are gone, deleting those that are still there
// after a short wait (a process outside vpcctl may hold a namespace).
func DeleteNamespaces(names []string, workers int) error {
	var errs []error
	var live []string
	for _, name := range names {
		if err := checkNamespaceName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		ok, err := namespaceExists(name)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			live = append(live, name)
		}
	}
	errs = append(errs, stopWorkloadsOf(names))
	// Host ends of the namespaces' veths, by the namespaces' ids.
	byID := map[int]bool{}
	for _, ns := range live {
		if fd, err := openNamespace(ns); err == nil {
			if id, err := netlink.GetNetNsIdByFd(int(fd)); err == nil && id >= 0 {
				byID[id] = true
			}
			fd.Close()
		}
	}
	// The host ends, by ifindex and name: once the namespaces are gone their
	// ids may be given to others' namespaces.
	track := map[int]string{}
	if len(byID) > 0 {
		links, err := dumpLinks()
		if err != nil {
			errs = append(errs, err)
		}
		for _, l := range links {
			if _, ok := l.Link.(*netlink.Veth); ok && byID[l.Attrs().NetNsID] {
				track[l.Attrs().Index] = l.Attrs().Name
			}
		}
	}
	veths := func() []netlink.Link {
		links, err := dumpLinks()
		if err != nil {
			return nil
		}
		var out []netlink.Link
		for name, l := range links {
			if track[l.Attrs().Index] == name {
				out = append(out, l.Link)
			}
		}
		return out
	}
	mu := sync.Mutex{}
	Parallel(len(live), workers, func(i int) {
		if err := releaseInternalPorts(live[i]); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	for _, name := range names {
		if err := unix.Unmount(namespacePath(name), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", namespacePath(name), err))
		}
		if err := os.Remove(namespacePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(track) > 0 {
		left := veths()
		for deadline := time.Now().Add(2 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = veths() {
			time.Sleep(20 * time.Millisecond)
		}
		for _, l := range left {
			if err := netlink.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", l.Attrs().Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// releaseInternalPorts moves every OVS internal port of the namespace back
// to the host namespace (see emptyNamespace).
func releaseInternalPorts(ns string) error {
	return eachLinkIn(ns, func(nsh *netlink.Handle, l netlink.Link) error {
		if isInternalPort(l) {
			return moveToHost(nsh, l)
		}
		return nil
	})
}

// stopWorkloadsOf is StopWorkloads for many namespaces: one pass over /proc.
func stopWorkloadsOf(names []string) error {
	ids := map[nsID]bool{}
	for _, ns := range names {
		if id, err := namespaceID(ns); err == nil {
			ids[id] = true
		}
	}
	var errs []error
	if len(ids) > 0 {
		_, err := terminate(func(pid int, _ procInfo) bool {
			got, err := pidNamespace(pid)
			return err == nil && ids[got]
		})
		errs = append(errs, err)
	}
	byBridge := map[string]map[string]bool{}
	for _, ns := range names {
		if b, _, ok := ParseNamespaceName(ns); ok {
			if byBridge[b] == nil {
				byBridge[b] = map[string]bool{}
			}
			byBridge[b][ns] = true
		}
	}
	for bridge, set := range byBridge {
		files, _ := filepath.Glob(filepath.Join(workloadStateRoot, bridge, "*.run"))
		for _, f := range files {
			if st, ok := readWorkloadState(f); ok && set[st.Namespace] {
				errs = append(errs, removeIfExists(f))
			}
		}
		_ = os.Remove(filepath.Join(workloadStateRoot, bridge)) // only if now empty
	}
	return errors.Join(errs...)
}

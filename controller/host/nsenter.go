package host

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNamespace runs fn on a fresh OS thread that has joined the named network
// namespace. The caller's own thread never changes namespace.
func inNamespace(name string, fn func() error) error {
	target, err := openNamespace(name)
	if err != nil {
		return err
	}
	defer target.Close()
	return onNamespaceThread(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("enter netns %s: %w", name, err)
		}
		return nil
	}, fn)
}

// onNamespaceThread runs fn on a fresh locked OS thread after enter has
// switched that thread's network namespace (setns or unshare), then switches
// it back. If the thread cannot be switched back it stays locked, so the Go
// runtime throws it away when the goroutine ends instead of reusing a thread
// in the wrong namespace.
func onNamespaceThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := enter(); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// openNamespace opens /run/netns/<name>.
func openNamespace(name string) (netns.NsHandle, error) {
	if err := checkNamespaceName(name); err != nil {
		return netns.None(), err
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return netns.None(), fmt.Errorf("open netns %s: %w", name, err)
	}
	return h, nil
}

// nsHandles opens a netlink socket inside the named namespace (netlink
// sockets stay bound to the namespace they were created in, so no thread
// switching is needed for link/address/route work) plus the namespace fd
// itself, used to move links into it. The caller closes both.
func nsHandles(name string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := openNamespace(name)
	if err != nil {
		return nil, netns.None(), err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, netns.None(), fmt.Errorf("netlink in netns %s: %w", name, err)
	}
	return h, ns, nil
}

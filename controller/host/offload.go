package host

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ethtool's legacy transmit-checksum commands (linux/ethtool.h). Turning
// the checksum off turns TSO off with it (the kernel drops features that
// depend on it), so the instance's kernel sends frames of the link's MTU.
const (
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

type ethtoolValue struct{ cmd, data uint32 }

// ifreqData is struct ifreq with its union holding a pointer (ifr_data).
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

// disableTxOffload turns transmit offloads off on ifName in namespace ns;
// it reports whether they were on. Needed across hosts: ovs-vswitchd 3.1's
// userspace datapath cannot segment a TSO packet into a Geneve tunnel and
// drops it (TCP then stalls while ping works).
func disableTxOffload(ns, ifName string) (bool, error) {
	fd, err := socketIn(ns)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	return txOffloadOff(fd, ns, ifName)
}

// disableTxOffloadHere is disableTxOffload for a thread already in ns.
func disableTxOffloadHere(ns, ifName string) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	return txOffloadOff(fd, ns, ifName)
}

// txOffloadOff does it through fd, a socket in ns.
func txOffloadOff(fd int, ns, ifName string) (bool, error) {
	get := ethtoolValue{cmd: ethtoolGTXCSUM}
	if err := ethtoolIoctl(fd, ifName, &get); err != nil {
		return false, fmt.Errorf("read tx offload of %s in %s: %w", ifName, ns, err)
	}
	if get.data == 0 {
		return false, nil
	}
	set := ethtoolValue{cmd: ethtoolSTXCSUM}
	if err := ethtoolIoctl(fd, ifName, &set); err != nil {
		return false, fmt.Errorf("turn tx offload of %s in %s off: %w", ifName, ns, err)
	}
	return true, nil
}

func ethtoolIoctl(fd int, ifName string, v *ethtoolValue) error {
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], ifName)
	ifr.data = uintptr(unsafe.Pointer(v))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return errno
	}
	return nil
}

// socketIn opens a datagram socket in namespace ns (a socket stays in the
// namespace it was made in, whatever thread uses it later).
func socketIn(ns string) (int, error) {
	target, err := openNamespace(ns)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("enter netns %s: %w", ns, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if rerr := netns.Set(orig); rerr != nil {
		if err == nil {
			unix.Close(fd)
		}
		return -1, errors.Join(err, rerr) // the thread stays locked and is discarded
	}
	runtime.UnlockOSThread()
	return fd, err
}

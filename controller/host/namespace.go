package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces live, as with `ip netns`, so `ip netns
// exec` and friends see vpcctl's namespaces.
const netnsDir = "/run/netns"

func checkNamespaceName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("invalid namespace name %q", name)
	}
	return nil
}

func namespacePath(name string) string { return filepath.Join(netnsDir, name) }

// namespaceExists reports whether /run/netns/<name> is a live namespace
// mount (an nsfs file), not just a leftover empty file.
func namespaceExists(name string) (bool, error) {
	var st unix.Statfs_t
	err := unix.Statfs(namespacePath(name), &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statfs %s: %w", namespacePath(name), err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// NamespaceExists reports whether the named namespace exists.
func NamespaceExists(name string) bool {
	ok, err := namespaceExists(name)
	return err == nil && ok
}

// EnsureNamespace creates the named network namespace if it does not exist,
// as `ip netns add` does. created is false when it was already there.
func EnsureNamespace(name string) (created bool, err error) {
	if err := checkNamespaceName(name); err != nil {
		return false, err
	}
	if ok, err := namespaceExists(name); err != nil || ok {
		return false, err
	}
	if err := prepareNetnsDir(); err != nil {
		return false, err
	}
	path := namespacePath(name)
	// A plain file left by an interrupted run is not a namespace: replace it.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	if err := bindNewNamespace(path); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("create netns %s: %w", name, err)
	}
	return true, nil
}

// prepareNetnsDir makes /run/netns a shared mount, exactly like iproute2,
// so namespaces created here propagate to other mount namespaces and `ip
// netns` works on them alike.
func prepareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	for bound := false; ; bound = true {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("make %s shared: %w", netnsDir, err)
		}
		// Not a mount point yet: bind it onto itself, then retry.
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", netnsDir, err)
		}
	}
}

// bindNewNamespace unshares a new network namespace on a dedicated locked
// thread and bind-mounts it onto path. The thread then returns to its
// original namespace (or, if that fails, is discarded while still locked).
func bindNewNamespace(path string) error {
	return onNamespaceThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() error {
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount: %w", err)
		}
		return nil
	})
}

// DeleteNamespace removes a named namespace and what lives in it: it stops
// its processes (a process would keep the namespace alive), deletes its veths
// right away (the kernel would otherwise remove them asynchronously, some time
// after the namespace goes), and hands OVS internal ports back to the host
// namespace: destroying the namespace would destroy such a port's device
// under ovs-vswitchd's feet and leave the OVS port broken until a restart.
// Deleting a namespace that does not exist is not an error.
func DeleteNamespace(name string) error {
	if err := checkNamespaceName(name); err != nil {
		return err
	}
	ok, err := namespaceExists(name)
	if err != nil {
		return err
	}
	var errs []error
	if ok {
		if err := StopWorkloads(name); err != nil {
			errs = append(errs, err)
		}
		if err := emptyNamespace(name); err != nil {
			errs = append(errs, err)
		}
		if err := unix.Unmount(namespacePath(name), unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", namespacePath(name), err))
		}
	}
	if err := os.Remove(namespacePath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ListNamespaces returns the vpcctl namespaces of one bridge ("" = every
// bridge), sorted.
func ListNamespaces(bridge string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		b, _, ok := ParseNamespaceName(e.Name())
		if ok && (bridge == "" || b == bridge) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

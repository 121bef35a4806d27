package controller

import (
	"fmt"
	"strings"

	"github.com/vpcctl/vpcctl/controller/host"
)

// NamespaceOf finds the namespace of an instance or external host by name.
// With several vpcctl bridges holding that name, bridge must say which.
func NamespaceOf(bridge, name string) (string, error) {
	nss, err := host.ListNamespaces(bridge)
	if err != nil {
		return "", err
	}
	var found []string
	for _, ns := range nss {
		if _, n, ok := host.ParseNamespaceName(ns); ok && n == name {
			found = append(found, ns)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no instance or external host named %q on this host (see `vpcctl status`)", name)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("%q exists in several namespaces (%s): pass --bridge", name, strings.Join(found, ", "))
	}
}

// Exec runs argv inside a namespace and returns its exit code.
func Exec(ns string, argv []string) (int, error) {
	return host.Run(ns, argv)
}

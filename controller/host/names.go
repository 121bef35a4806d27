package host

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
)

// namespacePrefix marks the namespaces vpcctl owns (SPEC §4: never touch
// what vpcctl did not create). Names never contain dots, so
// vpcctl.<bridge>.<name> parses back unambiguously.
const namespacePrefix = "vpcctl."

// NamespaceName is the network namespace of an instance or external host.
func NamespaceName(bridge, name string) string {
	return namespacePrefix + bridge + "." + name
}

// ParseNamespaceName reverses NamespaceName; ok is false for namespaces
// vpcctl did not name.
func ParseNamespaceName(ns string) (bridge, name string, ok bool) {
	rest, found := strings.CutPrefix(ns, namespacePrefix)
	if !found {
		return "", "", false
	}
	bridge, name, found = strings.Cut(rest, ".")
	if !found || bridge == "" || name == "" || strings.Contains(name, ".") {
		return "", "", false
	}
	return bridge, name, true
}

// HostVethName is the host end of an instance's veth: "v" + 10 hex digits of
// sha256(bridge/name). A hash keeps it within IFNAMSIZ (15) whatever the
// names' lengths, and stable across runs.
func HostVethName(bridge, name string) string {
	sum := sha256.Sum256([]byte(bridge + "/" + name))
	return "v" + hex.EncodeToString(sum[:])[:10]
}

// InstanceMAC is 02:xx:xx:xx:xx:xx with 5 bytes of sha256(vpc/instance):
// locally administered, unicast, and stable, so flows that match an
// instance's MAC survive re-creating its namespace.
func InstanceMAC(vpc, instance string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(vpc + "/" + instance))
	mac := make(net.HardwareAddr, 6)
	mac[0] = 0x02
	copy(mac[1:], sum[:5])
	return mac
}

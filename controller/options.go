// Package controller reconciles the host (OVSDB, OpenFlow, namespaces) with a
// validated topology.
package controller

import (
	"log/slog"
	"path/filepath"
	"strings"
)

// DefaultOVSDB is the local OVS database socket.
const DefaultOVSDB = "unix:/var/run/openvswitch/db.sock"

// Options say where OVS is and how to log.
type Options struct {
	OVSDB  string       // OVSDB endpoint
	RunDir string       // OVS run directory holding BRIDGE.mgmt; "" = derived from OVSDB
	Log    *slog.Logger // nil = discard
	File   string       // the topology file, recorded on the bridge so `flows` and `status` can find it
	// Host is the host of the topology's hosts: this vpcctl programs (its
	// instances plumbed, the others reached through the tunnel); required
	// when the topology lists hosts.
	Host string
	// Verify: look inside every instance's namespace, also those whose
	// port records the plumbing they have and whose host end is intact.
	Verify bool
	// verifyTrunk: read every trunk instance's tc filter, also of those
	// whose map entries and plumbing record are right (the daemon after it
	// saw one missing).
	verifyTrunk bool
	// remoteNS are the namespaces of the topology's instances on other
	// hosts: stale namespaces of this bridge are not theirs to remove
	// (hosts simulated on one machine share the namespace names).
	remoteNS map[string]bool
}

func (o Options) withDefaults() Options {
	if o.OVSDB == "" {
		o.OVSDB = DefaultOVSDB
	}
	if o.RunDir == "" {
		o.RunDir = "/var/run/openvswitch"
		if p, ok := strings.CutPrefix(o.OVSDB, "unix:"); ok {
			o.RunDir = filepath.Dir(p)
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// mgmtTarget is the OpenFlow management socket of a bridge (what ovs-ofctl uses).
func (o Options) mgmtTarget(bridge string) string {
	return "unix:" + filepath.Join(o.RunDir, bridge+".mgmt")
}

package controller

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/flows"
)

// attachTunnel is the Geneve port of a bridge whose topology spans hosts:
// one per bridge, remote_ip and key chosen per packet by the flows.
const attachTunnel = "tunnel"

// tunnelAttachName is the tunnel's attachment name (no instance has a "/").
const tunnelAttachName = "/tunnel"

// tunnelAttachment is the bridge's tunnel port (no namespace, no host link).
func tunnelAttachment(bridge string) *attachment {
	return &attachment{Name: tunnelAttachName, Port: host.HostVethName(bridge, tunnelAttachName), Attach: attachTunnel}
}

// remoteIDs gives every instance of another host its id in the pipeline's
// port registers (flows.RemotePort): a hash of VPC/name, the next free one
// on a clash, taken in name order, so an instance's id moves only when an
// instance that sorts before it takes its slot (and only here: the ids are
// this bridge's own, no other host sees them).
func remoteIDs(t *config.Topology) map[string]uint32 {
	var keys []string
	for _, v := range t.VPCs {
		for _, in := range v.Instances {
			if !t.OnThisHost(in) {
				keys = append(keys, v.Name+"/"+in.Name)
			}
		}
	}
	sort.Strings(keys)
	used := make(map[uint16]bool, len(keys))
	out := make(map[string]uint32, len(keys))
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(k))
		n := uint16(h.Sum32() % flows.MaxRemotePorts)
		for used[n] {
			n = (n + 1) % flows.MaxRemotePorts
		}
		used[n] = true
		out[k] = flows.RemotePort(n)
	}
	return out
}

// HostError is a --host that does not fit the topology: bad input, like
// an invalid file (nothing on the host is changed).
type HostError struct{ msg string }

func (e *HostError) Error() string { return e.msg }

// SetLocalHost says which of the topology's hosts this is (name, from
// --host); a topology without hosts needs none and takes none.
func SetLocalHost(t *config.Topology, name string) error { return setLocalHost(t, name) }

func setLocalHost(t *config.Topology, name string) error {
	switch {
	case len(t.Hosts) == 0 && name != "":
		return &HostError{fmt.Sprintf("--host %s: the topology lists no hosts", name)}
	case len(t.Hosts) == 0:
		return nil
	case name == "":
		return &HostError{"the topology spans hosts (hosts:): say which one this is with --host NAME"}
	case t.Hypervisor(name) == nil:
		return &HostError{fmt.Sprintf("--host %s: not one of the topology's hosts", name)}
	}
	t.Local = name
	return nil
}

// remoteNamespaces names the namespaces of the instances on other hosts.
func remoteNamespaces(t *config.Topology) map[string]bool {
	out := map[string]bool{}
	for _, v := range t.VPCs {
		for _, in := range v.Instances {
			if !t.OnThisHost(in) {
				out[host.NamespaceName(t.Bridge, in.Name)] = true
			}
		}
	}
	if e := t.External; e != nil && !t.GatewayHere() {
		for _, h := range e.Hosts {
			out[host.NamespaceName(t.Bridge, h.Name)] = true
		}
	}
	return out
}

// remoteStatus lists the instances of other hosts, for status: this bridge
// reaches them through its tunnel.
func remoteStatus(t *config.Topology) []InstanceStatus {
	var out []InstanceStatus
	for _, v := range t.VPCs {
		for _, in := range v.Instances {
			if t.OnThisHost(in) {
				continue
			}
			out = append(out, InstanceStatus{
				Name: in.Name, VPC: v.Name, Subnet: in.Subnet, IP: in.Addr.String(),
				MAC: host.InstanceMAC(v.Name, in.Name).String(), Attach: in.Attach,
				State: "remote", Host: in.Host,
			})
		}
	}
	return out
}

package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// nameRE is SPEC §1's name rule. It also keeps dots out of names, which
// namespace names (vpcctl.<bridge>.<name>) rely on to parse back.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)

// bridgeRE: a Linux netdev name (IFNAMSIZ: 15 characters) without dots,
// since the bridge name is part of namespace names too.
var bridgeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,14}$`)

// checker validates one topology, filling parsed fields as it goes.
type checker struct {
	*report
	t        *Topology
	vpcs     map[string]*VPC     // first VPC of each name
	peerings map[string]*Peering // first peering of each name
}

// validate checks every rule of SPEC §1. Order matters: each step uses the
// parsed fields of the steps before it.
func validate(t *Topology, r *report) {
	c := &checker{report: r, t: t, vpcs: map[string]*VPC{}, peerings: map[string]*Peering{}}
	c.top()
	c.hosts()
	c.external()
	vpcNames := map[string]Pos{}
	for _, v := range t.VPCs {
		c.name(v.Pos, v.Name)
		if c.unique(vpcNames, v.Pos, v.Name, "VPC") {
			c.vpcs[v.Name] = v
		}
		c.vpc(v)
	}
	c.globalNames()
	c.peeringList()
	for _, v := range t.VPCs {
		c.routeTables(v)
		c.natRoutes(v)
		c.securityGroups(v)
		c.elasticIPs(v)
	}
	c.publicIPs()
	c.peeringRoutes()
	c.expectations()
	c.flowLogs()
}

// top checks the top-level scalars.
func (c *checker) top() {
	t := c.t
	if t.Pos.has("version") && t.Version != 1 {
		c.errAt(t.Pos, "version", "unsupported version %d: this vpcctl reads version 1", t.Version)
	}
	switch {
	case !bridgeRE.MatchString(t.Bridge):
		c.errAt(t.Pos, "bridge", "%q is not a usable bridge name: at most 15 lowercase letters, digits, '-' or '_', starting with a letter or digit", t.Bridge)
	case t.Bridge == "ovs-system":
		c.errAt(t.Pos, "bridge", "ovs-system is the kernel datapath's own device; choose another bridge name")
	}
	c.oneOf(t.Pos, "datapath", t.Datapath, DatapathAuto, DatapathSystem, DatapathNetdev)
}

// hosts checks the hypervisors of a topology that spans several.
func (c *checker) hosts() {
	names := map[string]Pos{}
	addrs := map[netip.Addr]*Hypervisor{}
	for _, h := range c.t.Hosts {
		c.name(h.Pos, h.Name)
		c.unique(names, h.Pos, h.Name, "host")
		h.TunnelAddr = c.addr(h.Pos, "tunnel_ip", h.TunnelIP)
		if !h.TunnelAddr.IsValid() {
			continue
		}
		if !h.TunnelAddr.Is4() || h.TunnelAddr.IsUnspecified() || h.TunnelAddr.IsMulticast() || h.TunnelAddr.IsLoopback() {
			c.errAt(h.Pos, "tunnel_ip", "%s is not a usable unicast IPv4 address for a tunnel endpoint", h.TunnelAddr)
			continue
		}
		if other, dup := addrs[h.TunnelAddr]; dup {
			c.errAt(h.Pos, "tunnel_ip", "%s is already the tunnel address of host %s (%s)", h.TunnelAddr, other.Name, where(other.Pos))
			continue
		}
		addrs[h.TunnelAddr] = h
	}
	switch u := c.t.UnderlayMTU; {
	case !c.t.Pos.has("underlay_mtu"):
	case len(c.t.Hosts) == 0:
		c.errAt(c.t.Pos, "underlay_mtu", "the topology lists no hosts: there is no underlay")
	case u < MinUnderlayMTU || u > MaxUnderlayMTU:
		c.errAt(c.t.Pos, "underlay_mtu", "%d is outside %d-%d (instances get it less %d bytes of Geneve)", u, MinUnderlayMTU, MaxUnderlayMTU, TunnelOverhead)
	}
	if e := c.t.External; e != nil {
		switch {
		case len(c.t.Hosts) == 0 && e.Host != "":
			c.errAt(e.Pos, "host", "host %q: the topology lists no hosts", e.Host)
		case len(c.t.Hosts) > 0 && e.Host == "":
			c.errAt(e.Pos, "host", "missing: the topology lists hosts, so the external network says which one holds it (and the gateways)")
		case e.Host != "" && c.t.Hypervisor(e.Host) == nil:
			c.errAt(e.Pos, "host", "host %q is not in hosts:", e.Host)
		}
	}
}

// instanceHost checks an instance's host: required when the topology lists
// hosts, refused when it does not.
func (c *checker) instanceHost(i *Instance) {
	switch {
	case len(c.t.Hosts) == 0 && i.Host != "":
		c.errAt(i.Pos, "host", "host %q: the topology lists no hosts (add hosts: with each host's tunnel_ip, or remove host:)", i.Host)
	case len(c.t.Hosts) > 0 && i.Host == "":
		c.errAt(i.Pos, "host", "missing: the topology lists hosts, so every instance says which one it runs on")
	case i.Host != "" && c.t.Hypervisor(i.Host) == nil:
		c.errAt(i.Pos, "host", "host %q is not in hosts:", i.Host)
	}
}

// external checks the external network and its hosts.
func (c *checker) external() {
	e := c.t.External
	if e == nil {
		return
	}
	e.Prefix = c.cidr(e.Pos, "cidr", e.CIDR)
	if e.Prefix.IsValid() {
		if msg := specialOverlap(e.Prefix); msg != "" {
			c.errAt(e.Pos, "cidr", "%s", msg)
		}
		if e.Prefix.Bits() > 30 {
			c.errAt(e.Pos, "cidr", "%s is too small: it needs a gateway and another address besides the network and broadcast addresses", e.Prefix)
		}
	}
	e.GatewayAddr = c.addr(e.Pos, "gateway", e.Gateway)
	c.inNetwork(e.Pos, "gateway", e.GatewayAddr, e.Prefix)
	c.oneOf(e.Pos, "attach", e.Attach, ExternalIsolated, ExternalHost)

	ips := map[netip.Addr]*Host{}
	for _, h := range e.Hosts {
		c.name(h.Pos, h.Name)
		h.Addr = c.addr(h.Pos, "ip", h.IP)
		if !h.Addr.IsValid() || !c.inNetwork(h.Pos, "ip", h.Addr, e.Prefix) {
			continue
		}
		switch other, dup := ips[h.Addr]; {
		case h.Addr == e.GatewayAddr:
			c.errAt(h.Pos, "ip", "%s is external.gateway", h.Addr)
		case dup:
			c.errAt(h.Pos, "ip", "%s is already the address of external host %s (%s)", h.Addr, other.Name, where(other.Pos))
		default:
			ips[h.Addr] = h
		}
	}
}

// inNetwork checks that a lies inside the external network p and is not its
// network or broadcast address; it reports whether a is usable.
func (c *checker) inNetwork(pos Pos, key string, a netip.Addr, p netip.Prefix) bool {
	if !a.IsValid() || !p.IsValid() {
		return false
	}
	switch {
	case !p.Contains(a):
		c.errAt(pos, key, "%s is outside external.cidr %s", a, p)
	case a == p.Addr():
		c.errAt(pos, key, "%s is the network address of external.cidr %s", a, p)
	case a == Broadcast(p):
		c.errAt(pos, key, "%s is the broadcast address of external.cidr %s", a, p)
	default:
		return true
	}
	return false
}

// globalNames checks that instance and external host names are unique in the
// file: both name namespaces and `vpcctl exec` targets.
func (c *checker) globalNames() {
	type entry struct {
		pos  Pos
		name string
	}
	var all []entry
	if e := c.t.External; e != nil {
		for _, h := range e.Hosts {
			all = append(all, entry{h.Pos, h.Name})
		}
	}
	for _, v := range c.t.VPCs {
		for _, i := range v.Instances {
			all = append(all, entry{i.Pos, i.Name})
		}
	}
	// Report the later one in the file, wherever `external:` is.
	slices.SortStableFunc(all, func(a, b entry) int { return cmp.Compare(a.pos.line, b.pos.line) })
	seen := map[string]Pos{}
	for _, e := range all {
		if e.name == "" {
			continue
		}
		if first, dup := seen[e.name]; dup {
			c.errAt(e.pos, "name", "name %q is already used by %s (%s): instance and external host names are unique in the file", e.name, first.path, where(first))
			continue
		}
		seen[e.name] = e.pos
	}
}

// name checks one element's name.
func (c *checker) name(p Pos, name string) {
	if name != "" && !nameRE.MatchString(name) {
		c.errAt(p, "name", "%q is not a valid name: up to 31 lowercase letters, digits and '-', starting with a letter or digit", name)
	}
}

// unique records name in seen, reporting a duplicate; it reports whether
// name was new.
func (c *checker) unique(seen map[string]Pos, p Pos, name, what string) bool {
	if name == "" {
		return false
	}
	if first, dup := seen[name]; dup {
		c.errAt(p, "name", "duplicate %s name %q (first at %s)", what, name, where(first))
		return false
	}
	seen[name] = p
	return true
}

// oneOf checks an enumerated value; empty values were defaulted or reported.
func (c *checker) oneOf(p Pos, key, val string, allowed ...string) bool {
	if val == "" || slices.Contains(allowed, val) {
		return val != ""
	}
	c.errAt(p, key, "%q is not one of: %s", val, strings.Join(allowed, ", "))
	return false
}

// cidr parses a canonical CIDR field, reporting problems.
func (c *checker) cidr(p Pos, key, s string) netip.Prefix {
	if s == "" {
		return netip.Prefix{}
	}
	pf, msg := parseCIDR(s)
	if msg != "" {
		c.errAt(p, key, "%s", msg)
	}
	return pf
}

// addr parses a canonical address field, reporting problems.
func (c *checker) addr(p Pos, key, s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	a, msg := parseAddr(s)
	if msg != "" {
		c.errAt(p, key, "%s", msg)
	}
	return a
}

// where says where an element is, for "first at" messages.
func where(p Pos) string {
	if p.line > 0 {
		return fmt.Sprintf("line %d", p.line)
	}
	return "implicit " + p.path
}

package config

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// RouterIP is a subnet's .1: the VPC router's address, as in AWS.
func RouterIP(subnet netip.Prefix) netip.Addr { return addrAt(subnet, 1) }

// RouterIP is the subnet's .1: the VPC router's address.
func (s *Subnet) RouterIP() netip.Addr { return RouterIP(s.Prefix) }

// Broadcast is the last address of an IPv4 prefix.
func Broadcast(p netip.Prefix) netip.Addr {
	return fromU32(u32(p.Masked().Addr()) | ^mask(p.Bits()))
}

// contains reports whether prefix outer contains the whole of inner.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// addrAt is the address at offset i in p.
func addrAt(p netip.Prefix, i uint32) netip.Addr { return fromU32(u32(p.Masked().Addr()) + i) }

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func fromU32(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func mask(bits int) uint32 {
	if bits <= 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

// parseCIDR parses a canonical IPv4 CIDR; the string is the problem otherwise.
func parseCIDR(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return netip.Prefix{}, fmt.Sprintf("%s is an address, not a CIDR (did you mean %s/32?)", s, s)
		}
		return netip.Prefix{}, fmt.Sprintf("%q is not an IPv4 CIDR such as 10.1.0.0/16", s)
	}
	if m := p.Masked(); m != p || m.String() != s {
		return netip.Prefix{}, fmt.Sprintf("%s is not a canonical CIDR (did you mean %s?)", s, m)
	}
	return p, ""
}

// parseAddr parses a canonical IPv4 address; the string is the problem otherwise.
func parseAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.String() != s {
		return netip.Addr{}, fmt.Sprintf("%q is not an IPv4 address such as 10.1.1.10", s)
	}
	return a, ""
}

// specialOverlap names the special-purpose range p overlaps, if any: the
// kernel or the wire gives these a meaning of their own, so they cannot hold
// VPCs or the external network.
func specialOverlap(p netip.Prefix) string {
	for _, s := range [...]struct{ cidr, what string }{
		{"0.0.0.0/8", "\"this network\""},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local"},
		{"224.0.0.0/3", "multicast and reserved"},
	} {
		if netip.MustParsePrefix(s.cidr).Overlaps(p) {
			return fmt.Sprintf("%s overlaps %s, the %s range", p, s.cidr, s.what)
		}
	}
	return ""
}

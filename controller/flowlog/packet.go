package flowlog

import (
	"encoding/binary"
	"net/netip"
)

// tuple is what a record keys on besides its interface: protocol,
// addresses and ports (0 for protocols without ports).
type tuple struct {
	proto        uint8
	src, dst     netip.Addr
	sport, dport uint16
}

// parseFrame reads the tuple and TCP flags of an Ethernet frame holding
// IPv4 (possibly truncated after the transport header); ok is false for
// anything else. A frame of a trunk instance still carries its 802.1Q tag.
func parseFrame(b []byte) (t tuple, flags uint8, ok bool) {
	if len(b) >= 18 && binary.BigEndian.Uint16(b[12:14]) == 0x8100 {
		b = append(b[:12:12], b[16:]...)
	}
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return t, 0, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl {
		return t, 0, false
	}
	t.proto = ip[9]
	t.src = netip.AddrFrom4([4]byte(ip[12:16]))
	t.dst = netip.AddrFrom4([4]byte(ip[16:20]))
	l4 := ip[ihl:]
	fragment := binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0
	if fragment {
		return t, 0, true
	}
	switch t.proto {
	case 6, 17:
		if len(l4) >= 4 {
			t.sport, t.dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
		}
		if t.proto == 6 && len(l4) >= 14 {
			flags = l4[13]
		}
	}
	return t, flags, true
}

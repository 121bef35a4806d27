package flows

import (
	"fmt"
	"strconv"
)

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// portMask is one value/mask pair of a port range.
type portMask struct{ Value, Mask uint16 }

// portMasks splits [lo, hi] into the fewest prefix-aligned value/mask pairs
// (8000-8100 is 7 of them), so a range costs a handful of flows, not one per port.
func portMasks(lo, hi uint16) []portMask {
	var out []portMask
	l, h := uint32(lo), uint32(hi)
	for l <= h {
		size := uint32(1)
		// Grow the block while it stays aligned and inside the range.
		for l%(size*2) == 0 && l+size*2-1 <= h && size < 1<<16 {
			size *= 2
		}
		out = append(out, portMask{uint16(l), uint16(0xffff &^ (size - 1))})
		l += size
	}
	return out
}

// L4Dst matches a TCP or UDP destination port (value/mask); proto must
// already be matched.
func (m Match) L4Dst(proto uint8, pm portMask) Match {
	f := &fTCPDst
	if proto == ProtoUDP {
		f = &fUDPDst
	}
	if pm.Mask == 0xffff {
		return m.with(item(f, u16(pm.Value), nil, fmt.Sprintf("tp_dst=%d", pm.Value)))
	}
	return m.with(item(f, u16(pm.Value), u16(pm.Mask), fmt.Sprintf("tp_dst=0x%x/0x%x", pm.Value, pm.Mask)))
}

// protoMatches is the match of a protocol with an optional port range:
// "all" is any IPv4, tcp/udp without ports any port, with ports the prefix blocks.
func protoMatches(base Match, proto string, lo, hi uint16) []Match {
	m := base.EthType(EthIPv4)
	var p uint8
	switch proto {
	case "tcp":
		p = ProtoTCP
	case "udp":
		p = ProtoUDP
	case "icmp":
		return []Match{m.IPProto(ProtoICMP)}
	default:
		return []Match{m}
	}
	m = m.IPProto(p)
	if lo == 0 && hi == 0 || lo <= 1 && hi == 65535 {
		return []Match{m}
	}
	var out []Match
	for _, pm := range portMasks(lo, hi) {
		out = append(out, m.L4Dst(p, pm))
	}
	return out
}

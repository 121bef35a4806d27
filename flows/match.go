package flows

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	of "github.com/contiv/libOpenflow/openflow13"
)

// Ethernet types and IP protocols the pipeline matches on.
const (
	EthIPv4 uint16 = 0x0800
	EthARP  uint16 = 0x0806
	EthIPv6 uint16 = 0x86dd

	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17

	ARPRequest uint16 = 1
	ARPReply   uint16 = 2

	ICMPEchoReply   uint8 = 0
	ICMPEchoRequest uint8 = 8
)

// field describes one match field: its NXM name (libOpenflow's key), its
// ovs-ofctl name, and its place in the canonical order. The order also
// satisfies OVS's prerequisites, which it checks field by field (eth_type
// before IP fields, ip_proto before ports).
type field struct {
	nxm   string
	name  string
	order int
}

var (
	fInPort   = field{"NXM_OF_IN_PORT", "in_port", 0}
	fEthSrc   = field{"NXM_OF_ETH_SRC", "dl_src", 1}
	fEthDst   = field{"NXM_OF_ETH_DST", "dl_dst", 2}
	fEthType  = field{"NXM_OF_ETH_TYPE", "dl_type", 3}
	fVlanTCI  = field{"NXM_OF_VLAN_TCI", "vlan_tci", 4}
	fArpOp    = field{"NXM_OF_ARP_OP", "arp_op", 10}
	fArpSpa   = field{"NXM_OF_ARP_SPA", "arp_spa", 11}
	fArpTpa   = field{"NXM_OF_ARP_TPA", "arp_tpa", 12}
	fArpSha   = field{"NXM_NX_ARP_SHA", "arp_sha", 13}
	fArpTha   = field{"NXM_NX_ARP_THA", "arp_tha", 14}
	fIPSrc    = field{"NXM_OF_IP_SRC", "nw_src", 20}
	fIPDst    = field{"NXM_OF_IP_DST", "nw_dst", 21}
	fIPProto  = field{"NXM_OF_IP_PROTO", "nw_proto", 22}
	fTCPSrc   = field{"NXM_OF_TCP_SRC", "tp_src", 30}
	fTCPDst   = field{"NXM_OF_TCP_DST", "tp_dst", 31}
	fUDPSrc   = field{"NXM_OF_UDP_SRC", "tp_src", 32}
	fUDPDst   = field{"NXM_OF_UDP_DST", "tp_dst", 33}
	fICMPType = field{"NXM_OF_ICMP_TYPE", "icmp_type", 34}
	fICMPCode = field{"NXM_OF_ICMP_CODE", "icmp_code", 35}
	fCtState  = field{"NXM_NX_CT_STATE", "ct_state", 50}
	fCtZone   = field{"NXM_NX_CT_ZONE", "ct_zone", 51}
	fCtMark   = field{"NXM_NX_CT_MARK", "ct_mark", 52}
	fConjID   = field{"NXM_NX_CONJ_ID", "conj_id", 60}
	fTunID    = field{"NXM_NX_TUN_ID", "tun_id", -2} // ovs-ofctl prints the tunnel first
	fTunDst   = field{"NXM_NX_TUN_IPV4_DST", "tun_dst", -1}
)

// regField is the match field of a whole register; regs sort after the packet
// fields and before conntrack, by register number.
func regField(reg int) *field { return &regFields[reg] }

var regFields = func() (fs [16]field) {
	for r := range fs {
		fs[r] = field{"NXM_NX_REG" + strconv.Itoa(r), "reg" + strconv.Itoa(r), 40 + r}
	}
	return fs
}()

// matchItem is one field of a match with its value, its optional mask, and its
// text as ovs-ofctl would print it.
type matchItem struct {
	f           *field
	n           uint8 // bytes of value (and mask)
	masked      bool
	value, mask [8]byte
	text        string
}

// item makes a match item (mask nil: exact match). Values are at most 8 bytes
// (a tunnel id) and live in the item: a match costs one allocation per field added.
func item(f *field, value, mask []byte, text string) matchItem {
	it := matchItem{f: f, n: uint8(len(value)), masked: mask != nil, text: text}
	copy(it.value[:], value)
	copy(it.mask[:], mask)
	return it
}

// Match is an OpenFlow match built field by field. Methods return a new
// Match, so a common prefix can be shared between flows safely.
type Match struct{ items []matchItem }

func (m Match) with(it matchItem) Match {
	// Copy on write (matches are shared as prefixes), inserting in canonical order.
	items := make([]matchItem, 0, len(m.items)+1)
	placed := false
	for _, old := range m.items {
		if old.f == it.f {
			continue
		}
		if !placed && it.f.order < old.f.order {
			items, placed = append(items, it), true
		}
		items = append(items, old)
	}
	if !placed {
		items = append(items, it)
	}
	return Match{items: items}
}

func u16(v uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, v); return b }
func u32(v uint32) []byte { b := make([]byte, 4); binary.BigEndian.PutUint32(b, v); return b }

// InPort matches the OpenFlow port the packet came in on.
func (m Match) InPort(port uint32) Match {
	return m.with(item(&fInPort, u16(uint16(port)), nil, fmt.Sprintf("in_port=%d", port)))
}

// EthSrc matches the source MAC.
func (m Match) EthSrc(mac net.HardwareAddr) Match {
	return m.with(item(&fEthSrc, []byte(mac), nil, "dl_src="+mac.String()))
}

// EthDst matches the destination MAC.
func (m Match) EthDst(mac net.HardwareAddr) Match {
	return m.with(item(&fEthDst, []byte(mac), nil, "dl_dst="+mac.String()))
}

// EthDstMulticast matches every group (broadcast and multicast) destination.
func (m Match) EthDstMulticast() Match {
	return m.with(item(&fEthDst, []byte{1, 0, 0, 0, 0, 0}, []byte{1, 0, 0, 0, 0, 0}, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"))
}

// EthType matches the Ethernet type; ARP and IPv4 print as ovs-ofctl's shorthands.
func (m Match) EthType(t uint16) Match {
	text := fmt.Sprintf("dl_type=0x%04x", t)
	switch t {
	case EthARP:
		text = "arp"
	case EthIPv4:
		text = "ip"
	case EthIPv6:
		text = "ipv6"
	}
	return m.with(item(&fEthType, u16(t), nil, text))
}

// VLANTagged matches frames that carry an 802.1Q tag (the CFI/present bit).
func (m Match) VLANTagged() Match {
	return m.with(item(&fVlanTCI, u16(0x1000), u16(0x1000), "vlan_tci=0x1000/0x1000"))
}

// VLANID matches frames tagged with VLAN id vid: on the trunk, the tag
// stands for the trunk instance that sent the frame.
func (m Match) VLANID(vid uint16) Match {
	return m.with(item(&fVlanTCI, u16(0x1000|vid), u16(0x1fff), "dl_vlan="+itoa(uint64(vid))))
}

// ARPOp matches the ARP opcode (needs EthType(EthARP)).
func (m Match) ARPOp(op uint16) Match {
	return m.with(item(&fArpOp, u16(op), nil, fmt.Sprintf("arp_op=%d", op)))
}

// ARPSpa matches the ARP sender IP.
func (m Match) ARPSpa(ip netip.Addr) Match {
	return m.with(item(&fArpSpa, ip.AsSlice(), nil, "arp_spa="+ip.String()))
}

// ARPTpa matches the ARP target IP.
func (m Match) ARPTpa(ip netip.Addr) Match {
	return m.with(item(&fArpTpa, ip.AsSlice(), nil, "arp_tpa="+ip.String()))
}

// ARPSha matches the ARP sender MAC.
func (m Match) ARPSha(mac net.HardwareAddr) Match {
	return m.with(item(&fArpSha, []byte(mac), nil, "arp_sha="+mac.String()))
}

func prefixItem(f *field, p netip.Prefix) matchItem {
	if p.Bits() == 32 {
		return item(f, p.Addr().AsSlice(), nil, f.name+"="+p.Addr().String())
	}
	mask := net.CIDRMask(p.Bits(), 32)
	return item(f, p.Masked().Addr().AsSlice(), []byte(mask), f.name+"="+p.Masked().String())
}

// IPSrc matches the IPv4 source against a prefix (a /32 is an exact match;
// 0.0.0.0/0 adds nothing).
func (m Match) IPSrc(p netip.Prefix) Match {
	if anyAddr(p) {
		return m
	}
	return m.with(prefixItem(&fIPSrc, p))
}

// IPDst matches the IPv4 destination against a prefix.
func (m Match) IPDst(p netip.Prefix) Match {
	if anyAddr(p) {
		return m
	}
	return m.with(prefixItem(&fIPDst, p))
}

// IPProto matches the IP protocol (needs EthType(EthIPv4)).
func (m Match) IPProto(p uint8) Match {
	return m.with(item(&fIPProto, []byte{p}, nil, fmt.Sprintf("nw_proto=%d", p)))
}

// ICMPType matches the ICMP type (needs IPProto(ProtoICMP)).
func (m Match) ICMPType(t uint8) Match {
	return m.with(item(&fICMPType, []byte{t}, nil, fmt.Sprintf("icmp_type=%d", t)))
}

// Reg matches a register bit range against a value.
func (m Match) Reg(r RegField, value uint32) Match {
	v := value << r.Lo
	f := regField(r.Reg)
	text := f.name + "=0x" + strconv.FormatUint(uint64(v), 16)
	if r.Bits() != 32 {
		return m.with(item(f, u32(v), u32(r.Mask()), text+"/0x"+strconv.FormatUint(uint64(r.Mask()), 16)))
	}
	return m.with(item(f, u32(v), nil, text))
}

// String is the match in ovs-ofctl syntax, fields in canonical order.
func (m Match) String() string { return string(m.appendText(nil)) }

func (m Match) appendText(b []byte) []byte {
	for i, it := range m.items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it.text...)
	}
	return b
}

// ofMatch builds the OpenFlow 1.3 match. NXM-class fields are valid OXM classes
// (0x0000, 0x0001), which OVS accepts in OF1.3 matches.
func (m Match) ofMatch() (of.Match, error) {
	om := *of.NewMatch()
	for _, it := range m.items {
		var mask []byte
		if it.masked {
			mask = slices.Clone(it.mask[:it.n])
		}
		mf, err := nxmField(it.f.nxm, slices.Clone(it.value[:it.n]), mask)
		if err != nil {
			return om, err
		}
		om.AddField(*mf)
	}
	return om, nil
}

// nxmField builds a match field from libOpenflow's header table and raw bytes.
func nxmField(nxm string, value, mask []byte) (*of.MatchField, error) {
	mf, err := of.FindFieldHeaderByName(nxm, mask != nil)
	if err != nil {
		return nil, err
	}
	mf.Value = &of.ByteArrayField{Data: value, Length: uint8(len(value))}
	if mask != nil {
		mf.Mask = &of.ByteArrayField{Data: mask, Length: uint8(len(mask))}
	}
	return mf, nil
}

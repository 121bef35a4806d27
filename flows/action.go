package flows

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	of "github.com/contiv/libOpenflow/openflow13"
)

// Action is one OpenFlow action: its ovs-ofctl text and its wire form.
type Action struct {
	text  string
	build func() (of.Action, error)
	// table is the table the action names (resubmit, ct(table=)), whose
	// number a flow's cookie covers; nil when none.
	table *Table
	// conj is the conjunction an action marks (zero for other actions):
	// flows shared by several rules sort and dedupe their actions by it.
	conj conjRef
}

// conjRef is clause k of n of conjunctive match id.
type conjRef struct {
	id   uint32
	k, n uint8
}

func (a Action) String() string {
	if a.conj.n != 0 {
		return string(a.appendText(nil))
	}
	return a.text
}

// appendText appends the action's ovs-ofctl text. A conjunction action has
// none stored: a large security group set has hundreds of thousands of them.
func (a Action) appendText(b []byte) []byte {
	if a.conj.n == 0 {
		return append(b, a.text...)
	}
	b = append(b, "conjunction("...)
	b = strconv.AppendUint(b, uint64(a.conj.id), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(a.conj.k), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(a.conj.n), 10)
	return append(b, ')')
}

// wire builds the action's OpenFlow form.
func (a Action) wire() (of.Action, error) {
	if a.conj.n != 0 {
		// libOpenflow passes the clause through as is, but OVS expects it
		// 0-based on the wire (ofp-actions.c decode_NXAST_RAW_CONJUNCTION).
		return of.NewNXActionConjunction(a.conj.k-1, a.conj.n, a.conj.id), nil
	}
	return a.build()
}

// Actions without arguments (or with the ones every flow uses) are made
// once: an ARP reply flow has eight actions, and there is one per instance.
var (
	actMoveEthSrcToDst = move(fEthSrc, fEthDst, 48)
	actMoveARPShaToTha = move(fArpSha, fArpTha, 48)
	actMoveARPSpaToTpa = move(fArpSpa, fArpTpa, 32)
	actMoveIPSrcToDst  = move(fIPSrc, fIPDst, 32)
	actSetARPReply     = setField(fArpOp, "2", u16(ARPReply))
	actOutputInPort    = act("IN_PORT", func() (of.Action, error) { return of.NewActionOutput(of.P_IN_PORT), nil })
	actDecTTL          = act("dec_ttl", func() (of.Action, error) { return of.NewActionDecNwTtl(), nil })
	actPopVLAN         = act("pop_vlan", func() (of.Action, error) { return of.NewActionPopVlan(), nil })
	actPushVLAN        = act("push_vlan:0x8100", func() (of.Action, error) { return of.NewActionPushVlan(0x8100), nil })
)

// PopVLAN removes the 802.1Q tag (nothing when there is none).
func PopVLAN() Action { return actPopVLAN }

// PushVLAN adds an 802.1Q tag (VLAN id 0 until SetVLANID).
func PushVLAN() Action { return actPushVLAN }

// SetVLANID sets the VLAN id of the frame's tag.
func SetVLANID(vid uint16) Action {
	return act("set_field:"+itoa(uint64(0x1000|vid))+"->vlan_vid", func() (of.Action, error) {
		return of.NewActionSetField(*of.NewVlanIdField(vid, nil)), nil
	})
}

// Output sends the packet to a port.
func Output(port uint32) Action {
	return act(fmt.Sprintf("output:%d", port), func() (of.Action, error) { return of.NewActionOutput(port), nil })
}

// OutputInPort sends the packet back where it came from (OpenFlow forbids a
// plain output to the ingress port).
func OutputInPort() Action {
	return actOutputInPort
}

// OutputReg sends the packet to the port number held in a register field.
func OutputReg(r RegField) Action {
	return act("output:"+r.String(), func() (of.Action, error) {
		mf, err := of.FindFieldHeaderByName(r.nxm(), false)
		if err != nil {
			return nil, err
		}
		return of.NewOutputFromField(mf, of.NewNXRange(r.Lo, r.Hi).ToOfsBits()), nil
	})
}

// LoadReg writes a value into a register field (NXAST_REG_LOAD).
func LoadReg(r RegField, value uint32) Action {
	return act("load:0x"+strconv.FormatUint(uint64(value), 16)+"->"+r.String(), func() (of.Action, error) {
		mf, err := of.FindFieldHeaderByName(r.nxm(), false)
		if err != nil {
			return nil, err
		}
		return of.NewNXActionRegLoad(of.NewNXRange(r.Lo, r.Hi).ToOfsBits(), mf, uint64(value)), nil
	})
}

func setField(f field, text string, value []byte) Action {
	return act("set_field:"+text+"->"+f.name, func() (of.Action, error) {
		mf, err := nxmField(f.nxm, value, nil)
		if err != nil {
			return nil, err
		}
		return of.NewActionSetField(*mf), nil
	})
}

// SetEthSrc rewrites the source MAC.
func SetEthSrc(mac net.HardwareAddr) Action { return setField(fEthSrc, mac.String(), mac) }

// SetEthDst rewrites the destination MAC.
func SetEthDst(mac net.HardwareAddr) Action { return setField(fEthDst, mac.String(), mac) }

// SetARPOp rewrites the ARP opcode.
func SetARPOp(op uint16) Action {
	if op == ARPReply {
		return actSetARPReply
	}
	return setField(fArpOp, fmt.Sprint(op), u16(op))
}

// SetARPSha rewrites the ARP sender MAC.
func SetARPSha(mac net.HardwareAddr) Action { return setField(fArpSha, mac.String(), mac) }

// SetARPSpa rewrites the ARP sender IP.
func SetARPSpa(ip netip.Addr) Action { return setField(fArpSpa, ip.String(), ip.AsSlice()) }

// Move copies a whole field into another of the same width (NXAST_REG_MOVE).
func move(src, dst field, bits int) Action {
	return act(fmt.Sprintf("move:%s[]->%s[]", src.nxm, dst.nxm), func() (of.Action, error) {
		s, err := of.FindFieldHeaderByName(src.nxm, false)
		if err != nil {
			return nil, err
		}
		d, err := of.FindFieldHeaderByName(dst.nxm, false)
		if err != nil {
			return nil, err
		}
		return of.NewNXActionRegMove(uint16(bits), 0, 0, s, d), nil
	})
}

// MoveEthSrcToDst copies the source MAC to the destination MAC (for replies).
func MoveEthSrcToDst() Action { return actMoveEthSrcToDst }

// MoveARPShaToTha copies the ARP sender MAC to the target MAC (for replies).
func MoveARPShaToTha() Action { return actMoveARPShaToTha }

// MoveARPSpaToTpa copies the ARP sender IP to the target IP (for replies).
func MoveARPSpaToTpa() Action { return actMoveARPSpaToTpa }

// SetIPSrc rewrites the IPv4 source.
func SetIPSrc(ip netip.Addr) Action { return setField(fIPSrc, ip.String(), ip.AsSlice()) }

// SetIPTTL rewrites the IPv4 TTL (a router's own replies start afresh).
func SetIPTTL(ttl uint8) Action {
	return setField(field{"NXM_NX_IP_TTL", "nw_ttl", 23}, fmt.Sprint(ttl), []byte{ttl})
}

// SetICMPType rewrites the ICMP type.
func SetICMPType(t uint8) Action { return setField(fICMPType, fmt.Sprint(t), []byte{t}) }

// MoveIPSrcToDst copies the IPv4 source to the destination (for replies).
func MoveIPSrcToDst() Action { return actMoveIPSrcToDst }

// DecTTL decrements the IP TTL; a packet at TTL 1 is dropped. It uses the
// OpenFlow 1.1+ action: libOpenflow's NewNXActionDecTTL sends Nicira subtype
// 18, which OVS accepts only on OpenFlow 1.0 (OFPBAC_BAD_EXP_TYPE on 1.3).
func DecTTL() Action {
	return actDecTTL
}

// Resubmit runs the packet through another table (backwards too) and then
// comes back (NXAST_RESUBMIT_TABLE, in_port unchanged).
func Resubmit(t *Table) Action {
	a := act("resubmit(,"+t.Name+")", func() (of.Action, error) {
		return of.NewNXActionResubmitTableAction(of.OFPP_IN_PORT, t.ID), nil
	})
	a.table = t
	return a
}

// CtClear forgets the packet's conntrack state, so that a later ct() looks
// its connection up afresh: userspace OVS otherwise reuses the connection
// the packet already met in the same zone. libOpenflow knows the subtype
// (NXAST_CT_CLEAR) but has no action type for it.
func CtClear() Action {
	return act("ct_clear", func() (of.Action, error) { return newNXCtClear(), nil })
}

// nxCtClear is the 16-byte ct_clear action: the Nicira header and 6 bytes of padding.
type nxCtClear struct{ *of.NXActionHeader }

func newNXCtClear() *nxCtClear {
	h := of.NewNxActionHeader(of.NXAST_CT_CLEAR)
	h.Length = 16
	return &nxCtClear{h}
}

func (a *nxCtClear) Len() uint16 { return 16 }

func (a *nxCtClear) MarshalBinary() ([]byte, error) {
	data := make([]byte, 16)
	h, err := a.NXActionHeader.MarshalBinary()
	copy(data, h)
	return data, err
}

func (a *nxCtClear) UnmarshalBinary(data []byte) error {
	if len(data) < 16 {
		return fmt.Errorf("ct_clear: %d bytes, want 16", len(data))
	}
	return a.NXActionHeader.UnmarshalBinary(data[:of.NxActionHeaderLength])
}

// ClearInPort sets in_port to 0 (no port has that number),
// so that the packet may leave by the port it came in on: OVS drops an
// output to in_port. A hairpin to the sender's own public IP needs it.
func ClearInPort() Action {
	return act("load:0->NXM_OF_IN_PORT[]", func() (of.Action, error) {
		mf, err := of.FindFieldHeaderByName("NXM_OF_IN_PORT", false)
		if err != nil {
			return nil, err
		}
		return of.NewNXActionRegLoad(of.NewNXRange(0, 15).ToOfsBits(), mf, 0), nil
	})
}

func act(text string, build func() (of.Action, error)) Action {
	return Action{text: text, build: build}
}

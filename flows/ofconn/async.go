package ofconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
)

// Asynchronous messages a switch sends on its own (see WithAsyncHandler).
const (
	TypePacketIn    = openflow13.Type_PacketIn
	TypeFlowRemoved = openflow13.Type_FlowRemoved
)

// Fields are the match fields vpcctl reads back from packet-ins,
// flow-removed messages and flow stats. The decoding is ours (a walk over
// the OXM TLVs): libOpenflow's Match.UnmarshalBinary has no case for many
// fields OVS puts in a packet-in's metadata (ct_nw_src, ct_tp_dst, ...
// are experimenter-class or NXM1 fields it does not know) and fails on them.
type Fields struct {
	InPort           uint32
	Regs             [16]uint32 // NXM_NX_REG0..15 (the value; masks ignored)
	HasRegs          uint16     // bit n: REGn was present
	EthType          uint16
	IPProto          uint8
	IPSrc, IPDst     netip.Addr
	SrcPort, DstPort uint16 // TCP or UDP
	CtState          uint32
}

// OXM classes and fields used here (OpenFlow 1.3 §7.2.3.7; OVS meta-flow).
const (
	oxmBasic   = 0x8000
	oxmNXM1    = 0x0001
	ofbInPort  = 0
	ofbEthType = 5
	ofbIPProto = 10
	ofbIPv4Src = 11
	ofbIPv4Dst = 12
	ofbTCPSrc  = 13
	ofbTCPDst  = 14
	ofbUDPSrc  = 15
	ofbUDPDst  = 16
	nxmCtState = 105
)

// parseMatch decodes an ofp_match of type OXM at the start of b and returns
// it with the match's size padded to 8 bytes (what follows it starts there).
func parseMatch(b []byte) (Fields, int, error) {
	var f Fields
	if len(b) < 4 {
		return f, 0, fmt.Errorf("%w: short match", ErrProtocol)
	}
	typ, l := binary.BigEndian.Uint16(b[0:2]), int(binary.BigEndian.Uint16(b[2:4]))
	padded := (l + 7) / 8 * 8
	if typ != 1 || l < 4 || padded > len(b) {
		return f, 0, fmt.Errorf("%w: match type %d length %d", ErrProtocol, typ, l)
	}
	for rest := b[4:l]; len(rest) > 0; {
		if len(rest) < 4 {
			return f, 0, fmt.Errorf("%w: truncated OXM header", ErrProtocol)
		}
		h := binary.BigEndian.Uint32(rest[0:4])
		class, field, hasMask, n := uint16(h>>16), uint8(h>>9&0x7f), h>>8&1 == 1, int(h&0xff)
		if 4+n > len(rest) {
			return f, 0, fmt.Errorf("%w: OXM field %#x:%d length %d", ErrProtocol, class, field, n)
		}
		v := rest[4 : 4+n]
		if hasMask {
			v = v[:n/2]
		}
		switch {
		case class == oxmBasic && field == ofbInPort && len(v) == 4:
			f.InPort = binary.BigEndian.Uint32(v)
		case class == oxmBasic && field == ofbEthType && len(v) == 2:
			f.EthType = binary.BigEndian.Uint16(v)
		case class == oxmBasic && field == ofbIPProto && len(v) == 1:
			f.IPProto = v[0]
		case class == oxmBasic && field == ofbIPv4Src && len(v) == 4:
			f.IPSrc = netip.AddrFrom4([4]byte(v))
		case class == oxmBasic && field == ofbIPv4Dst && len(v) == 4:
			f.IPDst = netip.AddrFrom4([4]byte(v))
		case class == oxmBasic && (field == ofbTCPSrc || field == ofbUDPSrc) && len(v) == 2:
			f.SrcPort = binary.BigEndian.Uint16(v)
		case class == oxmBasic && (field == ofbTCPDst || field == ofbUDPDst) && len(v) == 2:
			f.DstPort = binary.BigEndian.Uint16(v)
		case class == oxmNXM1 && field < 16 && len(v) == 4:
			f.Regs[field] = binary.BigEndian.Uint32(v)
			f.HasRegs |= 1 << field
		case class == oxmNXM1 && field == nxmCtState && len(v) == 4:
			f.CtState = binary.BigEndian.Uint32(v)
		}
		rest = rest[4+n:]
	}
	return f, padded, nil
}

// PacketIn is an OFPT_PACKET_IN (OpenFlow 1.3 §7.4.1). OVS puts the
// packet's pipeline fields (registers, in_port, conntrack state) in its match.
type PacketIn struct {
	TotalLen uint16 // the packet's length; Data may be truncated
	Reason   uint8  // OFPR_*: 1 = an output:CONTROLLER action
	TableID  uint8
	Cookie   uint64 // of the flow that sent it
	Match    Fields
	Data     []byte // the Ethernet frame, truncated to the action's max_len
}

// ParsePacketIn decodes a PACKET_IN frame (as handed to the async handler).
func ParsePacketIn(frame []byte) (*PacketIn, error) {
	if len(frame) < 24 || frame[1] != TypePacketIn {
		return nil, fmt.Errorf("%w: not a packet-in", ErrProtocol)
	}
	p := &PacketIn{
		TotalLen: binary.BigEndian.Uint16(frame[12:14]),
		Reason:   frame[14],
		TableID:  frame[15],
		Cookie:   binary.BigEndian.Uint64(frame[16:24]),
	}
	m, n, err := parseMatch(frame[24:])
	if err != nil {
		return nil, err
	}
	p.Match = m
	if off := 24 + n + 2; off <= len(frame) { // 2 bytes of padding after the match
		p.Data = frame[off:]
	}
	return p, nil
}

// FlowRemoved is an OFPT_FLOW_REMOVED (OpenFlow 1.3 §7.4.2): a flow that
// asked for it (send_flow_rem) expired or was deleted, with its final counts.
type FlowRemoved struct {
	Cookie      uint64
	Priority    uint16
	Reason      uint8 // OFPRR_*: 0 idle timeout, 1 hard timeout, 2 deleted
	TableID     uint8
	Duration    time.Duration // how long it was installed
	IdleTimeout uint16
	Packets     uint64
	Bytes       uint64
	Match       Fields
}

// ParseFlowRemoved decodes a FLOW_REMOVED frame.
func ParseFlowRemoved(frame []byte) (*FlowRemoved, error) {
	if len(frame) < 48 || frame[1] != TypeFlowRemoved {
		return nil, fmt.Errorf("%w: not a flow-removed", ErrProtocol)
	}
	r := &FlowRemoved{
		Cookie:      binary.BigEndian.Uint64(frame[8:16]),
		Priority:    binary.BigEndian.Uint16(frame[16:18]),
		Reason:      frame[18],
		TableID:     frame[19],
		Duration:    time.Duration(binary.BigEndian.Uint32(frame[20:24]))*time.Second + time.Duration(binary.BigEndian.Uint32(frame[24:28])),
		IdleTimeout: binary.BigEndian.Uint16(frame[28:30]),
		Packets:     binary.BigEndian.Uint64(frame[32:40]),
		Bytes:       binary.BigEndian.Uint64(frame[40:48]),
	}
	m, _, err := parseMatch(frame[48:])
	if err != nil {
		return nil, err
	}
	r.Match = m
	return r, nil
}

// Match decodes the flow's match fields from Raw.
func (s FlowStat) Match() (Fields, error) {
	if len(s.Raw) < flowStatsFixed {
		return Fields{}, fmt.Errorf("%w: short flow stats", ErrProtocol)
	}
	f, _, err := parseMatch(s.Raw[flowStatsFixed:])
	return f, err
}

// Controller meter: the OpenFlow 1.3 meter that rate-limits every packet
// sent to controllers (OFPM_CONTROLLER). OVS applies it in the datapath
// (userspace datapath included), so packets over the rate cost no upcall.
const (
	MeterController = 0xfffffffe // OFPM_CONTROLLER (0xfffffffd is OFPM_SLOWPATH)
	meterModLen     = 16 + 16    // header + command/flags/id, one drop band
	typeMeterMod    = openflow13.Type_MeterMod
	meterFlagsPktps = 1<<1 | 1<<2 | 1<<3 // OFPMF_PKTPS | OFPMF_BURST | OFPMF_STATS
	etMeterModFail  = 12                 // OFPET_METER_MOD_FAILED
)

// SetMeter adds or changes meter id to drop packets over pktps packets per
// second, with bursts of up to burst packets. Meter mods cannot go in a
// bundle (OVS refuses them there): this is a plain request and a barrier.
// libOpenflow's MeterMod is not used: its MarshalBinary writes each band at
// a fixed METER_BAND_LEN and logs through logrus at every call.
func (c *Conn) SetMeter(ctx context.Context, id, pktps, burst uint32) error {
	err := c.Exec(ctx, meterMod(openflow13.OFPMC_MODIFY, id, pktps, burst))
	var be *BatchError
	if errors.As(err, &be) && len(be.Failed) == 1 {
		var oe *OFError
		if errors.As(be.Failed[0].Err, &oe) && oe.Type == etMeterModFail {
			// No such meter yet (OFPMMFC_UNKNOWN_METER): add it.
			err = c.Exec(ctx, meterMod(openflow13.OFPMC_ADD, id, pktps, burst))
		}
	}
	if err != nil {
		return fmt.Errorf("ofconn: meter %#x: %w", id, err)
	}
	return nil
}

func meterMod(cmd uint16, id, pktps, burst uint32) rawMessage {
	b := make([]byte, meterModLen)
	putHeader(b, typeMeterMod, len(b), 0)
	binary.BigEndian.PutUint16(b[8:10], cmd)
	binary.BigEndian.PutUint16(b[10:12], meterFlagsPktps)
	binary.BigEndian.PutUint32(b[12:16], id)
	band := b[16:]
	binary.BigEndian.PutUint16(band[0:2], openflow13.OFPMBT13_DROP)
	binary.BigEndian.PutUint16(band[2:4], 16)
	binary.BigEndian.PutUint32(band[4:8], pktps)
	binary.BigEndian.PutUint32(band[8:12], burst)
	return rawMessage(b)
}

// rawMessage is a message encoded by hand, sent through marshal (which
// stamps the xid) like libOpenflow's.
type rawMessage []byte

func (m rawMessage) Len() uint16                    { return uint16(len(m)) }
func (m rawMessage) MarshalBinary() ([]byte, error) { return append([]byte(nil), m...), nil }
func (m rawMessage) UnmarshalBinary([]byte) error {
	return errors.New("ofconn: rawMessage is send-only")
}

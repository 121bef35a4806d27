package ofconn

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/contiv/libOpenflow/openflow13"
)

// TableAll selects every table in a FlowFilter.
const TableAll uint8 = openflow13.OFPTT_ALL

// FlowFilter selects the flows DumpFlows returns. TableID is one table or
// TableAll (0xff); note that the zero value means table 0. A flow matches
// when flow.cookie & CookieMask == Cookie & CookieMask (mask 0: all flows).
type FlowFilter struct {
	TableID    uint8
	Cookie     uint64
	CookieMask uint64
}

// FlowStat is one installed flow, decoded from the fixed part of
// ofp_flow_stats only. Raw is the whole ofp_flow_stats entry (match and
// instructions included), a slice into the received message; Decode parses
// it with libOpenflow when the caller needs more.
type FlowStat struct {
	TableID     uint8
	Priority    uint16
	Cookie      uint64
	Packets     uint64
	Bytes       uint64
	DurationSec uint32
	IdleTimeout uint16
	HardTimeout uint16
	Flags       uint16
	Raw         []byte
}

// Decode parses Raw with libOpenflow. DumpFlows does not, because that is
// slow and fragile: DecodeNxAction returns a nil action for many Nicira
// subtypes OVS reports (ct_clear, exit, fin_timeout, ...;
// openflow13/nx_action.go:113-176) and DecodeAction then calls
// UnmarshalBinary on it (action.go:115): a nil-pointer panic. DecodeInstr
// likewise has no case for OFPIT_EXPERIMENTER (instruction.go:70-73) and
// ignores decode errors. Such panics come back here as errors.
func (s FlowStat) Decode() (fs *openflow13.FlowStats, err error) {
	defer func() {
		if r := recover(); r != nil {
			fs, err = nil, fmt.Errorf("ofconn: libOpenflow panicked decoding flow stats: %v", r)
		}
	}()
	fs = openflow13.NewFlowStats()
	if err := fs.UnmarshalBinary(s.Raw); err != nil {
		return nil, err
	}
	return fs, nil
}

// flowStatsFixed is sizeof(struct ofp_flow_stats) without match/instructions.
const flowStatsFixed = 48

// DumpFlows returns the flows selected by f, from every part of the
// OFPMP_FLOW multipart reply, in the switch's order. Work is linear in the
// size of the reply.
func (c *Conn) DumpFlows(ctx context.Context, f FlowFilter) ([]FlowStat, error) {
	req := openflow13.NewFlowStatsRequest()
	req.TableId = f.TableID
	req.Cookie = f.Cookie
	req.CookieMask = f.CookieMask
	mp := &openflow13.MultipartRequest{
		Header: openflow13.NewOfp13Header(),
		Type:   openflow13.MultipartType_Flow,
		Body:   req,
	}
	mp.Header.Type = typeMultipartRq
	frame, err := marshal(mp, c.nextXid(1))
	if err != nil {
		return nil, err
	}
	w, err := c.roundTrip(ctx, frame)
	if err != nil {
		return nil, fmt.Errorf("ofconn: dump flows: %w", err)
	}
	total := 0
	for _, r := range w.replies {
		total += len(r)
	}
	// A flow entry is rarely under 80 bytes: this avoids most regrowth.
	out := make([]FlowStat, 0, total/80)
	for _, r := range w.replies {
		out, err = appendFlowStats(out, r)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendFlowStats decodes the ofp_flow_stats entries of one
// OFPMP_FLOW reply message. libOpenflow's MultipartReply.UnmarshalBinary is
// not used: it decodes every match and instruction (slow, and it panics on
// experimenter instructions, see FlowStat.Decode) and it derives each
// entry's size from what it decoded (multipart.go:153 uses FlowStats.Len,
// multipart.go:415) instead of the entry's length field, so an action it
// skips misaligns every later entry.
func appendFlowStats(out []FlowStat, r []byte) ([]FlowStat, error) {
	if r[1] != typeMultipartRp || len(r) < 16 {
		return out, fmt.Errorf("%w: %s in a flow dump", ErrProtocol, msgTypeName(r[1]))
	}
	if t := binary.BigEndian.Uint16(r[8:10]); t != openflow13.MultipartType_Flow {
		return out, fmt.Errorf("%w: multipart type %d in a flow dump", ErrProtocol, t)
	}
	body := r[16:]
	for len(body) > 0 {
		if len(body) < flowStatsFixed {
			return out, fmt.Errorf("%w: %d trailing bytes in flow stats", ErrProtocol, len(body))
		}
		l := int(binary.BigEndian.Uint16(body[0:2]))
		if l < flowStatsFixed || l > len(body) {
			return out, fmt.Errorf("%w: flow stats entry length %d", ErrProtocol, l)
		}
		e := body[:l:l]
		out = append(out, FlowStat{
			TableID:     e[2],
			DurationSec: binary.BigEndian.Uint32(e[4:8]),
			Priority:    binary.BigEndian.Uint16(e[12:14]),
			IdleTimeout: binary.BigEndian.Uint16(e[14:16]),
			HardTimeout: binary.BigEndian.Uint16(e[16:18]),
			Flags:       binary.BigEndian.Uint16(e[18:20]),
			Cookie:      binary.BigEndian.Uint64(e[24:32]),
			Packets:     binary.BigEndian.Uint64(e[32:40]),
			Bytes:       binary.BigEndian.Uint64(e[40:48]),
			Raw:         e,
		})
		body = body[l:]
	}
	return out, nil
}

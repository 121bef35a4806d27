package ofconn

import (
	"fmt"
	"net"
	"strings"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

const testMarker uint64 = 0xA5 << 56

// testFlow builds flow i in table: ip,nw_src=10.x.y.z (unique per i) with
// Nicira actions (reg load, ct for every 4th), dec_ttl and goto_table.
// dec_ttl is the standard OFPAT_DEC_NW_TTL: libOpenflow's NewNXActionDecTTL
// encodes Nicira subtype 18, which OVS accepts on OpenFlow 1.0 only
// (lib/ofp-actions.c: "NX1.0(18), OF1.1+(24)") and rejects on 1.3 with
// OFPBAC_BAD_EXP_TYPE.
func testFlow(i int, table uint8, cookie uint64) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.TableId = table
	fm.Priority = 100
	fm.Cookie = cookie
	fm.Match.AddField(*openflow13.NewEthTypeField(0x0800))
	fm.Match.AddField(*openflow13.NewIpv4SrcField(testIP(i), nil))
	apply := openflow13.NewInstrApplyActions()
	apply.AddAction(openflow13.NewNXActionRegLoad(openflow13.NewNXRange(0, 31).ToOfsBits(),
		openflow13.NewRegMatchField(1, 0, nil), uint64(i)), false)
	apply.AddAction(openflow13.NewActionDecNwTtl(), false)
	if i%4 == 0 {
		apply.AddAction(openflow13.NewNXActionConnTrack().ZoneImm(uint16(i%1000+1)).Table(table+2), false)
	}
	fm.AddInstruction(apply)
	fm.AddInstruction(openflow13.NewInstrGotoTable(table + 10))
	return fm
}

// testFlowText is testFlow in ovs-ofctl syntax.
func testFlowText(i int, table uint8, cookie uint64) string {
	ct := ""
	if i%4 == 0 {
		ct = fmt.Sprintf(",ct(table=%d,zone=%d)", table+2, i%1000+1)
	}
	return fmt.Sprintf("table=%d,priority=100,cookie=%#x,ip,nw_src=%s,actions=load:%#x->NXM_NX_REG1[],dec_ttl%s,goto_table:%d",
		table, cookie, testIP(i), i, ct, table+10)
}

func testIP(i int) net.IP { return net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).To4() }

// testFlows builds n flows spread over tables 0, 1 and 2 with cookies
// base|i.
func testFlows(n int, base uint64) []util.Message {
	msgs := make([]util.Message, n)
	for i := range msgs {
		msgs[i] = testFlow(i, uint8(i%3), base|uint64(i))
	}
	return msgs
}

func testFlowsText(n int, base uint64) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(testFlowText(i, uint8(i%3), base|uint64(i)))
		b.WriteByte('\n')
	}
	return b.String()
}

// conjunctionFlows is conjunction(7,1/2), conjunction(7,2/2) and the
// conj_id=7 flow. On the wire the clause is 0-based (OVS
// decode_NXAST_RAW_CONJUNCTION rejects clause >= n_clauses), while
// libOpenflow's NewNXActionConjunction passes its argument through
// unchanged, whatever its comment's "Clause/nclause" suggests: hence c-1.
func conjunctionFlows(cookie uint64) []util.Message {
	clause := func(dst string, c uint8) *openflow13.FlowMod {
		fm := openflow13.NewFlowMod()
		fm.Priority = 200
		fm.Cookie = cookie | uint64(c)
		fm.Match.AddField(*openflow13.NewEthTypeField(0x0800))
		fm.Match.AddField(*openflow13.NewIpv4DstField(net.ParseIP(dst).To4(), nil))
		apply := openflow13.NewInstrApplyActions()
		apply.AddAction(openflow13.NewNXActionConjunction(c-1, 2, 7), false)
		fm.AddInstruction(apply)
		return fm
	}
	id := openflow13.NewFlowMod()
	id.Priority = 200
	id.Cookie = cookie | 3
	id.Match.AddField(*openflow13.NewEthTypeField(0x0800))
	id.Match.AddField(*openflow13.NewConjIDMatchField(7))
	id.AddInstruction(openflow13.NewInstrGotoTable(10))
	return []util.Message{clause("192.168.0.1", 1), clause("192.168.0.2", 2), id}
}

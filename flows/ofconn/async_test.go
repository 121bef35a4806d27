package ofconn

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// oxm is one OXM TLV.
func oxm(class uint16, field uint8, mask bool, v []byte) []byte {
	h := uint32(class)<<16 | uint32(field)<<9 | uint32(len(v))
	if mask {
		h |= 1 << 8
	}
	b := binary.BigEndian.AppendUint32(nil, h)
	return append(b, v...)
}

// match wraps TLVs in an ofp_match padded to 8 bytes.
func match(tlvs ...[]byte) []byte {
	var body []byte
	for _, t := range tlvs {
		body = append(body, t...)
	}
	b := binary.BigEndian.AppendUint16(nil, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(4+len(body)))
	b = append(b, body...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u16b(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// A packet-in as OVS sends it for output:CONTROLLER: registers, conntrack
// state and an experimenter-class field (skipped) in its match.
func TestParsePacketIn(t *testing.T) {
	m := match(
		oxm(oxmNXM1, nxmCtState, false, u32b(0x21)),
		oxm(0xffff, 1, false, append(u32b(0x4f4e4600), 1, 2, 3, 4)), // experimenter id + value
		oxm(oxmNXM1, 1, false, u32b(3)),
		oxm(oxmNXM1, 2, true, append(u32b(4), u32b(0xffff)...)),
		oxm(oxmBasic, ofbInPort, false, u32b(3)),
	)
	data, _ := hex.DecodeString("0a0b0c0d0e0f")
	f := make([]byte, 24)
	f[0], f[1] = version13, TypePacketIn
	binary.BigEndian.PutUint32(f[8:12], 0xffffffff)
	binary.BigEndian.PutUint16(f[12:14], 1514)
	f[14], f[15] = 1, 12
	binary.BigEndian.PutUint64(f[16:24], 0xa5050000000000aa)
	f = append(append(append(f, m...), 0, 0), data...)
	binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
	p, err := ParsePacketIn(f)
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalLen != 1514 || p.Reason != 1 || p.TableID != 12 || p.Cookie != 0xa5050000000000aa {
		t.Errorf("fixed part: %+v", p)
	}
	if p.Match.InPort != 3 || p.Match.Regs[1] != 3 || p.Match.Regs[2] != 4 || p.Match.HasRegs != 0b110 || p.Match.CtState != 0x21 {
		t.Errorf("match: %+v", p.Match)
	}
	if hex.EncodeToString(p.Data) != "0a0b0c0d0e0f" {
		t.Errorf("data %x", p.Data)
	}
}

// A flow-removed of a learned counting flow.
func TestParseFlowRemoved(t *testing.T) {
	m := match(
		oxm(oxmBasic, ofbEthType, false, u16b(0x0800)),
		oxm(oxmBasic, ofbIPProto, false, []byte{6}),
		oxm(oxmNXM1, 1, true, append(u32b(7), u32b(0xffff)...)),
		oxm(oxmBasic, ofbIPv4Src, false, []byte{10, 0, 1, 4}),
		oxm(oxmBasic, ofbIPv4Dst, false, []byte{10, 0, 1, 5}),
		oxm(oxmBasic, ofbTCPSrc, false, u16b(40000)),
		oxm(oxmBasic, ofbTCPDst, false, u16b(5201)),
	)
	f := make([]byte, 48)
	f[0], f[1] = version13, TypeFlowRemoved
	binary.BigEndian.PutUint64(f[8:16], 0xa6f1000000000000)
	binary.BigEndian.PutUint16(f[16:18], 200)
	f[18], f[19] = 0, 17
	binary.BigEndian.PutUint32(f[20:24], 12)
	binary.BigEndian.PutUint32(f[24:28], 500_000_000)
	binary.BigEndian.PutUint16(f[28:30], 10)
	binary.BigEndian.PutUint64(f[32:40], 2937)
	binary.BigEndian.PutUint64(f[40:48], 66647383)
	f = append(f, m...)
	binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
	r, err := ParseFlowRemoved(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{Regs: [16]uint32{1: 7}, HasRegs: 0b10, EthType: 0x0800, IPProto: 6,
		IPSrc: netip.MustParseAddr("10.0.1.4"), IPDst: netip.MustParseAddr("10.0.1.5"), SrcPort: 40000, DstPort: 5201}
	if r.Match != want {
		t.Errorf("match %+v, want %+v", r.Match, want)
	}
	if r.Cookie != 0xa6f1000000000000 || r.TableID != 17 || r.Packets != 2937 || r.Bytes != 66647383 || r.Duration != 12500*time.Millisecond || r.IdleTimeout != 10 {
		t.Errorf("fixed part: %+v", r)
	}
	if _, err := ParseFlowRemoved(f[:50]); err == nil {
		t.Error("a truncated match parsed")
	}
}

func TestMeterModWire(t *testing.T) {
	got := hex.EncodeToString(meterMod(0, MeterController, 100, 50))
	want := "041d002000000000" + "0000" + "000e" + "fffffffe" + "0001" + "0010" + "00000064" + "00000032" + "00000000"
	if got != want {
		t.Errorf("meter mod %s, want %s", got, want)
	}
}

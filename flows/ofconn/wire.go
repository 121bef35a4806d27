package ofconn

import (
	"encoding/binary"
	"fmt"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

// Wire constants of OpenFlow 1.3 that this package needs as plain numbers.
const (
	version13  = 0x04
	headerLen  = 8
	maxMsgLen  = 0xffff
	typeHello  = openflow13.Type_Hello
	typeError  = openflow13.Type_Error
	typeEchoRq = openflow13.Type_EchoRequest
	typeEchoRp = openflow13.Type_EchoReply

	typeExperimenter = openflow13.Type_Experimenter
	typeFeaturesRq   = openflow13.Type_FeaturesRequest
	typeFeaturesRp   = openflow13.Type_FeaturesReply
	typeFlowMod      = openflow13.Type_FlowMod
	typeMultipartRq  = openflow13.Type_MultiPartRequest
	typeMultipartRp  = openflow13.Type_MultiPartReply
	typeBarrierRq    = openflow13.Type_BarrierRequest

	helloElemVersionBitmap = 1
	multipartReplyMore     = openflow13.OFPMPF_REPLY_MORE
)

// header writes an OpenFlow 1.3 header into b[:8].
func putHeader(b []byte, typ uint8, length int, xid uint32) {
	b[0] = version13
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:4], uint16(length))
	binary.BigEndian.PutUint32(b[4:8], xid)
}

func frameXid(f []byte) uint32 { return binary.BigEndian.Uint32(f[4:8]) }

// simpleFrame is a header-only message (barrier, features request, echo).
func simpleFrame(typ uint8, xid uint32) []byte {
	b := make([]byte, headerLen)
	putHeader(b, typ, headerLen, xid)
	return b
}

// marshal encodes a libOpenflow message and stamps our xid on it (the
// library draws xids from a process-wide counter, common/header.go:13-20,
// shared by every connection of the process; a per-connection xid is what
// lets the reader route replies and errors).
//
// It also repairs or rejects what libOpenflow gets wrong:
//   - openflow13/flowmod.go:99-102 writes OutPort twice and never OutGroup,
//     so a flow-mod's out_group field always carries out_port. We overwrite
//     bytes 40..43 with the struct's OutGroup.
//   - openflow13/flowmod.go:65-75: FlowMod.Len leaves the instructions out
//     for DELETE commands but MarshalBinary still appends them, so the
//     header's length disagrees with the bytes. Every message's header length
//     is checked against its real size and a mismatch is refused instead of
//     desynchronising the stream.
//   - Several MarshalBinary methods panic on bad input (e.g.
//     BundlePropertyExperimenter.MarshalBinary, bundles.go:122-124, writes into
//     a zero-length slice); a panic becomes an error here.
func marshal(m util.Message, xid uint32) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%w: %T.MarshalBinary panicked: %v", ErrBadMessage, m, r)
		}
	}()
	if m == nil {
		return nil, fmt.Errorf("%w: nil message", ErrBadMessage)
	}
	b, err = m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrBadMessage, m, err)
	}
	if len(b) < headerLen || len(b) > maxMsgLen {
		return nil, fmt.Errorf("%w: %T encodes to %d bytes", ErrBadMessage, m, len(b))
	}
	if b[0] != version13 {
		return nil, fmt.Errorf("%w: %T has version %#x, want 0x04", ErrBadMessage, m, b[0])
	}
	if l := int(binary.BigEndian.Uint16(b[2:4])); l != len(b) {
		return nil, fmt.Errorf("%w: %T header says %d bytes but encodes %d (a DELETE flow-mod with instructions?)",
			ErrBadMessage, m, l, len(b))
	}
	if fm, ok := m.(*openflow13.FlowMod); ok && b[1] == typeFlowMod && len(b) >= 48 {
		binary.BigEndian.PutUint32(b[40:44], fm.OutGroup)
	}
	binary.BigEndian.PutUint32(b[4:8], xid)
	return b, nil
}

// helloFrame is our HELLO: version 1.3 plus a version bitmap that offers only
// 1.3, so a peer that speaks 1.0-1.5 settles on 1.3. (common.NewHello offers
// 1.0 as well, common/header.go:122.)
func helloFrame(xid uint32) []byte {
	b := make([]byte, 16)
	putHeader(b, typeHello, len(b), xid)
	binary.BigEndian.PutUint16(b[8:10], helloElemVersionBitmap)
	binary.BigEndian.PutUint16(b[10:12], 8)
	binary.BigEndian.PutUint32(b[12:16], 1<<version13)
	return b
}

// helloSupports13 says whether the peer's HELLO allows OpenFlow 1.3. We parse
// it ourselves: common.Hello.UnmarshalBinary loops forever on an element type
// it does not know (header.go:227-239 never advances 'next' then).
func helloSupports13(f []byte) (bool, error) {
	if len(f) < headerLen {
		return false, fmt.Errorf("%w: short hello", ErrProtocol)
	}
	peerVersion := f[0]
	for rest := f[headerLen:]; len(rest) >= 4; {
		typ := binary.BigEndian.Uint16(rest[0:2])
		l := int(binary.BigEndian.Uint16(rest[2:4]))
		if l < 4 || l > len(rest) {
			return false, fmt.Errorf("%w: bad hello element length %d", ErrProtocol, l)
		}
		if typ == helloElemVersionBitmap {
			words := rest[4:l]
			// Bit n of the bitmap is version n.
			return len(words) >= 4 && binary.BigEndian.Uint32(words[0:4])&(1<<version13) != 0, nil
		}
		rest = rest[min((l+7)/8*8, len(rest)):]
	}
	// No bitmap: the negotiated version is min(ours, theirs).
	return peerVersion >= version13, nil
}

// helloFailedFrame tells a peer we cannot talk to it (OFPET_HELLO_FAILED /
// OFPHFC_INCOMPATIBLE), as the spec asks before closing.
func helloFailedFrame(xid uint32) []byte {
	msg := "OpenFlow 1.3 required"
	b := make([]byte, 12+len(msg))
	putHeader(b, typeError, len(b), xid)
	binary.BigEndian.PutUint16(b[8:10], openflow13.ET_HELLO_FAILED)
	binary.BigEndian.PutUint16(b[10:12], openflow13.HFC_INCOMPATIBLE)
	copy(b[12:], msg)
	return b
}

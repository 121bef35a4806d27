package ofconn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/contiv/libOpenflow/openflow13"
)

// Sentinel errors. A dead connection reports one of these (wrapped) from Err.
var (
	ErrClosed        = errors.New("ofconn: connection closed")
	ErrEchoTimeout   = errors.New("ofconn: peer did not answer echo in time")
	ErrNoOpenFlow13  = errors.New("ofconn: peer does not speak OpenFlow 1.3")
	ErrProtocol      = errors.New("ofconn: protocol violation")
	ErrBadMessage    = errors.New("ofconn: cannot encode message")
	ErrBundleUnknown = errors.New("ofconn: bundle commit outcome unknown")
)

// Experimenter IDs that appear in OFPET_EXPERIMENTER errors.
const (
	ExperimenterONF     uint32 = 0x4f4e4600 // ONF extensions (bundles in OF1.3: EXT-230)
	ExperimenterNicira  uint32 = 0x00002320
	errTypeExperimenter uint16 = 0xffff
)

// OFError is an OpenFlow ERROR message sent by the switch in answer to one of
// our requests. For OFPET_EXPERIMENTER errors (the ONF bundle errors of
// OpenFlow 1.3, Nicira errors) Code is the experimenter's code and
// Experimenter its ID. Data holds (the start of) the offending request, as
// the switch echoed it.
type OFError struct {
	Type         uint16
	Code         uint16
	Experimenter uint32
	Data         []byte
	Xid          uint32
}

// parseError decodes an OFPT_ERROR frame. It does not use
// openflow13.Parse/ErrorMsg, because ErrorMsg.UnmarshalBinary ignores errors
// from the header and copies Data through a bytes.Buffer; ours is direct.
func parseError(frame []byte) (*OFError, error) {
	if len(frame) < 12 {
		return nil, fmt.Errorf("%w: error message of %d bytes", ErrProtocol, len(frame))
	}
	e := &OFError{
		Xid:  binary.BigEndian.Uint32(frame[4:8]),
		Type: binary.BigEndian.Uint16(frame[8:10]),
		Code: binary.BigEndian.Uint16(frame[10:12]),
	}
	data := frame[12:]
	if e.Type == errTypeExperimenter {
		// ofp_error_experimenter_msg: type, exp_code, experimenter, data.
		if len(data) < 4 {
			return nil, fmt.Errorf("%w: short experimenter error", ErrProtocol)
		}
		e.Experimenter = binary.BigEndian.Uint32(data[:4])
		data = data[4:]
	}
	e.Data = append([]byte(nil), data...)
	return e, nil
}

// Error names the error like OVS does, e.g. "OFPET_BAD_MATCH/OFPBMC_BAD_FIELD",
// followed by the type of the request that caused it.
func (e *OFError) Error() string {
	var b strings.Builder
	b.WriteString("openflow error ")
	b.WriteString(e.Name())
	if len(e.Data) >= 2 {
		fmt.Fprintf(&b, " (request %s, xid %d)", requestName(e.Data), e.Xid)
	}
	return b.String()
}

// Name is the symbolic TYPE/CODE name, numeric where unknown.
func (e *OFError) Name() string {
	if e.Type == errTypeExperimenter {
		vendor := fmt.Sprintf("0x%08x", e.Experimenter)
		switch e.Experimenter {
		case ExperimenterONF:
			vendor = "ONF"
		case ExperimenterNicira:
			vendor = "NX"
		}
		if i := int(e.Code) - 2300; e.Experimenter == ExperimenterONF && i >= 0 && i < len(onfBundleCodes) {
			return "OFPET_EXPERIMENTER(ONF)/" + onfBundleCodes[i]
		}
		if n := nxErrorName(e.Code); e.Experimenter == ExperimenterNicira && n != "" {
			return "OFPET_EXPERIMENTER(NX)/" + n
		}
		return fmt.Sprintf("OFPET_EXPERIMENTER(%s)/%d", vendor, e.Code)
	}
	if int(e.Type) < len(errTypes) && errTypes[e.Type].name != "" {
		t := errTypes[e.Type]
		if int(e.Code) < len(t.codes) {
			return t.name + "/" + t.codes[e.Code]
		}
		return fmt.Sprintf("%s/%d", t.name, e.Code)
	}
	return fmt.Sprintf("OFPET_%d/%d", e.Type, e.Code)
}

// Is makes errors.Is(err, &OFError{Type: t, Code: c}) match on type, code and
// experimenter only.
func (e *OFError) Is(target error) bool {
	t, ok := target.(*OFError)
	return ok && t.Type == e.Type && t.Code == e.Code && t.Experimenter == e.Experimenter
}

// MessageError is the error the switch returned for one message of a batch
// (Bundle or Exec); Index is its position in the caller's slice.
type MessageError struct {
	Index int
	Err   *OFError
}

func (m MessageError) Error() string { return fmt.Sprintf("message %d: %v", m.Index, m.Err) }
func (m MessageError) Unwrap() error { return m.Err }

// BundleError reports a failed Bundle. Phase is where it failed ("open",
// "add", "commit", "discard"); Err is the bundle-level cause (for a failed
// commit OVS sends OFPBFC_MSG_FAILED) and Failed the per-message errors,
// which name the flow-mod that broke the bundle. errors.As(err, &*OFError)
// finds the first per-message error before the bundle-level one.
type BundleError struct {
	Phase  string
	Err    error
	Failed []MessageError
}

func (b *BundleError) Error() string {
	var s strings.Builder
	fmt.Fprintf(&s, "ofconn: bundle %s failed", b.Phase)
	for i, f := range b.Failed {
		if i == 3 {
			fmt.Fprintf(&s, "; and %d more", len(b.Failed)-i)
			break
		}
		s.WriteString(": ")
		s.WriteString(f.Error())
	}
	if b.Err != nil {
		s.WriteString(": ")
		s.WriteString(b.Err.Error())
	}
	return s.String()
}

func (b *BundleError) Unwrap() []error {
	errs := make([]error, 0, len(b.Failed)+1)
	for _, f := range b.Failed {
		errs = append(errs, f)
	}
	if b.Err != nil {
		errs = append(errs, b.Err)
	}
	return errs
}

// BatchError reports the messages of an Exec batch that the switch rejected.
type BatchError struct{ Failed []MessageError }

func (b *BatchError) Error() string {
	s := fmt.Sprintf("ofconn: %d message(s) rejected", len(b.Failed))
	if len(b.Failed) > 0 {
		s += ", first " + b.Failed[0].Error()
	}
	return s
}

func (b *BatchError) Unwrap() []error {
	errs := make([]error, len(b.Failed))
	for i, f := range b.Failed {
		errs[i] = f
	}
	return errs
}

type errType struct {
	name  string
	codes []string
}

// Names from the OpenFlow 1.3.5 specification, section 7.4.4 (the spelling
// OVS's ofp-errors.h uses too).
var errTypes = [...]errType{
	0: {"OFPET_HELLO_FAILED", []string{"OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"}},
	1: {"OFPET_BAD_REQUEST", []string{"OFPBRC_BAD_VERSION", "OFPBRC_BAD_TYPE", "OFPBRC_BAD_MULTIPART",
		"OFPBRC_BAD_EXPERIMENTER", "OFPBRC_BAD_EXP_TYPE", "OFPBRC_EPERM", "OFPBRC_BAD_LEN",
		"OFPBRC_BUFFER_EMPTY", "OFPBRC_BUFFER_UNKNOWN", "OFPBRC_BAD_TABLE_ID", "OFPBRC_IS_SLAVE",
		"OFPBRC_BAD_PORT", "OFPBRC_BAD_PACKET", "OFPBRC_MULTIPART_BUFFER_OVERFLOW"}},
	2: {"OFPET_BAD_ACTION", []string{"OFPBAC_BAD_TYPE", "OFPBAC_BAD_LEN", "OFPBAC_BAD_EXPERIMENTER",
		"OFPBAC_BAD_EXP_TYPE", "OFPBAC_BAD_OUT_PORT", "OFPBAC_BAD_ARGUMENT", "OFPBAC_EPERM",
		"OFPBAC_TOO_MANY", "OFPBAC_BAD_QUEUE", "OFPBAC_BAD_OUT_GROUP", "OFPBAC_MATCH_INCONSISTENT",
		"OFPBAC_UNSUPPORTED_ORDER", "OFPBAC_BAD_TAG", "OFPBAC_BAD_SET_TYPE", "OFPBAC_BAD_SET_LEN",
		"OFPBAC_BAD_SET_ARGUMENT"}},
	3: {"OFPET_BAD_INSTRUCTION", []string{"OFPBIC_UNKNOWN_INST", "OFPBIC_UNSUP_INST",
		"OFPBIC_BAD_TABLE_ID", "OFPBIC_UNSUP_METADATA", "OFPBIC_UNSUP_METADATA_MASK",
		"OFPBIC_BAD_EXPERIMENTER", "OFPBIC_BAD_EXP_TYPE", "OFPBIC_BAD_LEN", "OFPBIC_EPERM"}},
	4: {"OFPET_BAD_MATCH", []string{"OFPBMC_BAD_TYPE", "OFPBMC_BAD_LEN", "OFPBMC_BAD_TAG",
		"OFPBMC_BAD_DL_ADDR_MASK", "OFPBMC_BAD_NW_ADDR_MASK", "OFPBMC_BAD_WILDCARDS",
		"OFPBMC_BAD_FIELD", "OFPBMC_BAD_VALUE", "OFPBMC_BAD_MASK", "OFPBMC_BAD_PREREQ",
		"OFPBMC_DUP_FIELD", "OFPBMC_EPERM"}},
	5: {"OFPET_FLOW_MOD_FAILED", []string{"OFPFMFC_UNKNOWN", "OFPFMFC_TABLE_FULL",
		"OFPFMFC_BAD_TABLE_ID", "OFPFMFC_OVERLAP", "OFPFMFC_EPERM", "OFPFMFC_BAD_TIMEOUT",
		"OFPFMFC_BAD_COMMAND", "OFPFMFC_BAD_FLAGS"}},
	6: {"OFPET_GROUP_MOD_FAILED", []string{"OFPGMFC_GROUP_EXISTS", "OFPGMFC_INVALID_GROUP",
		"OFPGMFC_WEIGHT_UNSUPPORTED", "OFPGMFC_OUT_OF_GROUPS", "OFPGMFC_OUT_OF_BUCKETS",
		"OFPGMFC_CHAINING_UNSUPPORTED", "OFPGMFC_WATCH_UNSUPPORTED", "OFPGMFC_LOOP",
		"OFPGMFC_UNKNOWN_GROUP", "OFPGMFC_CHAINED_GROUP", "OFPGMFC_BAD_TYPE", "OFPGMFC_BAD_COMMAND",
		"OFPGMFC_BAD_BUCKET", "OFPGMFC_BAD_WATCH", "OFPGMFC_EPERM"}},
	7: {"OFPET_PORT_MOD_FAILED", []string{"OFPPMFC_BAD_PORT", "OFPPMFC_BAD_HW_ADDR",
		"OFPPMFC_BAD_CONFIG", "OFPPMFC_BAD_ADVERTISE", "OFPPMFC_EPERM"}},
	8: {"OFPET_TABLE_MOD_FAILED", []string{"OFPTMFC_BAD_TABLE", "OFPTMFC_BAD_CONFIG", "OFPTMFC_EPERM"}},
	9: {"OFPET_QUEUE_OP_FAILED", []string{"OFPQOFC_BAD_PORT", "OFPQOFC_BAD_QUEUE", "OFPQOFC_EPERM"}},
	10: {"OFPET_SWITCH_CONFIG_FAILED", []string{"OFPSCFC_BAD_FLAGS", "OFPSCFC_BAD_LEN",
		"OFPSCFC_EPERM"}},
	11: {"OFPET_ROLE_REQUEST_FAILED", []string{"OFPRRFC_STALE", "OFPRRFC_UNSUP", "OFPRRFC_BAD_ROLE"}},
	12: {"OFPET_METER_MOD_FAILED", []string{"OFPMMFC_UNKNOWN", "OFPMMFC_METER_EXISTS",
		"OFPMMFC_INVALID_METER", "OFPMMFC_UNKNOWN_METER", "OFPMMFC_BAD_COMMAND", "OFPMMFC_BAD_FLAGS",
		"OFPMMFC_BAD_RATE", "OFPMMFC_BAD_BURST", "OFPMMFC_BAD_BAND", "OFPMMFC_BAD_BAND_VALUE",
		"OFPMMFC_OUT_OF_METERS", "OFPMMFC_OUT_OF_BANDS"}},
	13: {"OFPET_TABLE_FEATURES_FAILED", []string{"OFPTFFC_BAD_TABLE", "OFPTFFC_BAD_METADATA",
		"OFPTFFC_BAD_TYPE", "OFPTFFC_BAD_LEN", "OFPTFFC_BAD_ARGUMENT", "OFPTFFC_EPERM"}},
}

// ONF EXT-230 bundle error codes (OFPET_EXPERIMENTER, ONF, 2300+), which OVS
// uses for bundles on OpenFlow 1.3 (ofp-errors.h: "ONF1.3(2300)").
var onfBundleCodes = [...]string{
	"OFPBFC_UNKNOWN", "OFPBFC_EPERM", "OFPBFC_BAD_ID", "OFPBFC_BUNDLE_EXIST",
	"OFPBFC_BUNDLE_CLOSED", "OFPBFC_OUT_OF_BUNDLES", "OFPBFC_BAD_TYPE", "OFPBFC_BAD_FLAGS",
	"OFPBFC_MSG_BAD_LEN", "OFPBFC_MSG_BAD_XID", "OFPBFC_MSG_UNSUP", "OFPBFC_MSG_CONFLICT",
	"OFPBFC_MSG_TOO_MANY", "OFPBFC_MSG_FAILED", "OFPBFC_TIMEOUT", "OFPBFC_BUNDLE_IN_PROGRESS",
}

// nxErrorName names the Nicira error codes OVS sends on OpenFlow 1.2+
// (include/openvswitch/ofp-errors.h, "NX1.2+(N)").
func nxErrorName(code uint16) string {
	switch code {
	case 2:
		return "NXBRC_NXM_INVALID"
	case 3:
		return "NXBRC_NXM_BAD_TYPE"
	case 4:
		return "NXBRC_MUST_BE_ZERO"
	case 5:
		return "NXBRC_BAD_REASON"
	case 9:
		return "NXBRC_FM_BAD_EVENT"
	case 10:
		return "NXBRC_UNENCODABLE_ERROR"
	case 11:
		return "NXBAC_MUST_BE_ZERO"
	case 12:
		return "NXFMFC_HARDWARE"
	case 13:
		return "NXFMFC_BAD_TABLE_ID"
	case 15:
		return "NXBAC_BAD_CONJUNCTION"
	case 34:
		return "NXR_NOT_SUPPORTED"
	case 35:
		return "NXR_STALE"
	case 37:
		return "NXFMFC_INVALID_TLV_FIELD"
	case 39:
		return "NXBAC_BAD_HEADER_TYPE"
	case 42:
		return "NXBAC_CT_DATAPATH_SUPPORT"
	case 43:
		return "NXBMC_CT_DATAPATH_SUPPORT"
	}
	return ""
}

var msgTypeNames = [...]string{
	"HELLO", "ERROR", "ECHO_REQUEST", "ECHO_REPLY", "EXPERIMENTER", "FEATURES_REQUEST",
	"FEATURES_REPLY", "GET_CONFIG_REQUEST", "GET_CONFIG_REPLY", "SET_CONFIG", "PACKET_IN",
	"FLOW_REMOVED", "PORT_STATUS", "PACKET_OUT", "FLOW_MOD", "GROUP_MOD", "PORT_MOD", "TABLE_MOD",
	"MULTIPART_REQUEST", "MULTIPART_REPLY", "BARRIER_REQUEST", "BARRIER_REPLY",
	"QUEUE_GET_CONFIG_REQUEST", "QUEUE_GET_CONFIG_REPLY", "ROLE_REQUEST", "ROLE_REPLY",
	"GET_ASYNC_REQUEST", "GET_ASYNC_REPLY", "SET_ASYNC", "METER_MOD",
}

// requestName describes the offending request echoed in an error's data;
// for ONF bundle messages it looks inside.
func requestName(d []byte) string {
	if d[1] != typeExperimenter || len(d) < 16 || binary.BigEndian.Uint32(d[8:12]) != ExperimenterONF {
		return msgTypeName(d[1])
	}
	switch binary.BigEndian.Uint32(d[12:16]) {
	case openflow13.Type_BundleCtrl:
		return "BUNDLE_CONTROL"
	case openflow13.Type_BundleAdd:
		if len(d) >= bundleAddPrefix+2 {
			return "BUNDLE_ADD of " + msgTypeName(d[bundleAddPrefix+1])
		}
		return "BUNDLE_ADD"
	}
	return msgTypeName(d[1])
}

func msgTypeName(t uint8) string {
	if int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("type %d", t)
}

// Package flowlog writes AWS VPC Flow Log records for the instances that
// have flow logs: it turns the counts of the flow-log flows OVS learns,
// their flow-removed messages and the packet-ins of rejected packets into
// one record per flow and aggregation interval, and writes them to each
// flow log's file through a bounded queue.
package flowlog

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Actions and log status of a record (AWS: ACCEPT, REJECT; OK).
const (
	Accept = "ACCEPT"
	Reject = "REJECT"
	OK     = "OK"
)

// Directions of a flow relative to its interface (AWS flow-direction).
const (
	Ingress = "ingress"
	Egress  = "egress"
)

// Record is one flow of one interface in one aggregation interval. The
// first fourteen fields are AWS's default format (version 2); the rest are
// fields of later versions and the deciding rule, for the JSON format.
type Record struct {
	AccountID   string // the bridge: vpcctl has no accounts
	InterfaceID string // the instance's OVS port
	Src, Dst    netip.Addr
	SrcPort     uint16
	DstPort     uint16
	Protocol    uint8 // IANA number
	Packets     uint64
	Bytes       uint64 // Ethernet frames, as OVS counts them
	Start, End  time.Time
	Action      string // ACCEPT | REJECT

	VPC, Subnet, Instance string
	Direction             string // ingress | egress
	TCPFlags              uint8  // OR of the flags seen (rejected packets; 0 when unknown)
	// Rule is the config object that decided: a security group rule, a
	// NACL rule (ingress[*] for the implicit deny), or the instance's groups
	// when none of their rules allowed the packet.
	Rule string
}

// Text is the record in AWS's default format, version 2:
// version account-id interface-id srcaddr dstaddr srcport dstport protocol
// packets bytes start end action log-status.
func (r *Record) Text() string {
	f := []string{"2", dash(r.AccountID), dash(r.InterfaceID), addr(r.Src), addr(r.Dst),
		strconv.Itoa(int(r.SrcPort)), strconv.Itoa(int(r.DstPort)), strconv.Itoa(int(r.Protocol)),
		strconv.FormatUint(r.Packets, 10), strconv.FormatUint(r.Bytes, 10),
		strconv.FormatInt(r.Start.Unix(), 10), strconv.FormatInt(r.End.Unix(), 10), r.Action, OK}
	return strings.Join(f, " ")
}

// jsonRecord is a record as a JSON line: AWS's field names.
type jsonRecord struct {
	Version     int    `json:"version"`
	AccountID   string `json:"account-id"`
	InterfaceID string `json:"interface-id"`
	SrcAddr     string `json:"srcaddr"`
	DstAddr     string `json:"dstaddr"`
	SrcPort     uint16 `json:"srcport"`
	DstPort     uint16 `json:"dstport"`
	Protocol    uint8  `json:"protocol"`
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	Start       int64  `json:"start"`
	End         int64  `json:"end"`
	Action      string `json:"action"`
	LogStatus   string `json:"log-status"`
	VPCID       string `json:"vpc-id"`
	SubnetID    string `json:"subnet-id"`
	InstanceID  string `json:"instance-id"`
	Direction   string `json:"flow-direction"`
	TCPFlags    uint8  `json:"tcp-flags"`
	PktSrcAddr  string `json:"pkt-srcaddr"`
	PktDstAddr  string `json:"pkt-dstaddr"`
	Rule        string `json:"rule,omitempty"`
}

// JSON is the record as one JSON object (no newline), with the fields of
// later versions (vpc-id, subnet-id, instance-id, flow-direction,
// tcp-flags, pkt-srcaddr, pkt-dstaddr) and the deciding rule.
func (r *Record) JSON() []byte {
	b, _ := json.Marshal(jsonRecord{
		Version: 2, AccountID: r.AccountID, InterfaceID: r.InterfaceID,
		SrcAddr: addr(r.Src), DstAddr: addr(r.Dst), SrcPort: r.SrcPort, DstPort: r.DstPort, Protocol: r.Protocol,
		Packets: r.Packets, Bytes: r.Bytes, Start: r.Start.Unix(), End: r.End.Unix(), Action: r.Action, LogStatus: OK,
		VPCID: r.VPC, SubnetID: r.Subnet, InstanceID: r.Instance, Direction: r.Direction, TCPFlags: r.TCPFlags,
		// Addresses inside a VPC are never translated on an instance's
		// interface: the packet's addresses are the flow's.
		PktSrcAddr: addr(r.Src), PktDstAddr: addr(r.Dst), Rule: r.Rule,
	})
	return b
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

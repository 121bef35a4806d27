package flows

import (
	"fmt"
	"strings"

	of "github.com/contiv/libOpenflow/openflow13"
)

// Flow logs (AWS VPC Flow Logs) cost nothing unless an instance has them:
// with none, Compile's output is exactly what it was before flow logs
// existed. For an instance with accepted traffic logged, every IPv4 packet
// it sends or receives that the security stages let through is counted, in
// ConntrackCommit (after the groups and NACLs, before NAT, so the addresses
// are the instance's own), by a resubmit to FlowLogEgress (it sent it) and
// FlowLogIngress (it receives it). There the first packet of a flow runs a
// learn action that makes OVS itself install an exact counting flow for the
// flow's 5-tuple and the instance's port (cookie FlowLogCookie, idle timeout
// FlowLogIdleTimeout, send_flow_rem): later packets count on it, in the
// datapath, with no controller round trip. The daemon reads the counts from
// flow stats and flow-removed messages. Rejected traffic is sent to the
// controller (output:CONTROLLER, truncated) by the flows that drop it: the
// subnet's NACL deny rules and implicit deny, and a flow just above each
// security group table's miss for the instance's port; the packet-in's
// cookie names the deciding rule. The daemon rate-limits packet-ins with
// the bridge's controller meter.

// FlowLogTraffic says which of an instance's traffic its flow logs record.
type FlowLogTraffic struct{ Accept, Reject bool }

// Flow-log tables. They are not in Pipeline: they hold flows (and a
// table-miss) only when an instance has flow logs, and their numbers
// follow Pipeline's, so adding them moved no other table.
var (
	TFlowLogEgress  = &Table{Name: "FlowLogEgress", Doc: "flow logs: counts what an instance with flow logs sends, one learned flow per 5-tuple and aggregation"}
	TFlowLogIngress = &Table{Name: "FlowLogIngress", Doc: "flow logs: counts what an instance with flow logs receives, one learned flow per 5-tuple"}
)

// FlowLogTables are the optional tables of flow logs, numbered after Pipeline.
var FlowLogTables = []*Table{TFlowLogEgress, TFlowLogIngress}

func init() {
	for i, t := range FlowLogTables {
		t.ID = uint8(len(Pipeline) + i)
	}
}

// Learned counting flows carry FlowLogCookie: not vpcctl's marker, so apply
// and the drift check never see them (OVS makes and expires them).
const (
	FlowLogCookie      uint64 = 0xA6F1 << 48
	FlowLogCookieMask  uint64 = 0xFFFF << 48
	FlowLogIdleTimeout        = 10 // seconds without a packet before a counting flow goes (and is reported)
	// ControllerMaxLen is how much of a rejected packet the controller asks
	// for: Ethernet, IPv4 with options and the TCP header. (OVS 3.1 keeps no
	// packet buffers and sends the whole frame anyway.)
	ControllerMaxLen = 128
)

// Flow-log priorities: in ConntrackCommit above the commit of new
// connections (PrioNormal); the learning flows below the learned ones.
const (
	flowLogNew     = PrioHigh + 10 // a new connection: commit and count
	flowLogCount   = PrioHigh      // any other packet: count
	flowLogLearned = PrioNormal
	flowLogLearn   = PrioLow
	flowLogAnyIP   = PrioLow - 10 // protocols without ports
	flowLogReject  = PrioMiss + 1 // just above a security group table's miss
)

// ToController sends the packet, truncated to ControllerMaxLen bytes, to the
// controller (OFPR_ACTION; the packet-in carries the flow's cookie).
func ToController() Action {
	return act(fmt.Sprintf("CONTROLLER:%d", ControllerMaxLen), func() (of.Action, error) {
		a := of.NewActionOutput(of.P_CONTROLLER)
		a.MaxLen = ControllerMaxLen
		return a, nil
	})
}

// learn field specs: the NXM field, its width, and the immediate value (for
// an immediate match) or "" (match the packet's own value of the field).
type learnSpec struct {
	nxm   string
	bits  uint16
	value []byte
	text  string
}

// learnCount is the learn action of a counting flow: a flow in table t, at
// flowLogLearned, matching the packet's IP protocol (proto 0: copied from
// the packet), addresses, ports (tcp, udp) and the port register reg.
func learnCount(t *Table, reg RegField, proto uint8) Action {
	specs := []learnSpec{{nxm: "NXM_OF_ETH_TYPE", bits: 16, value: u16(EthIPv4), text: "eth_type=0x800"}}
	if proto != 0 {
		specs = append(specs, learnSpec{nxm: "NXM_OF_IP_PROTO", bits: 8, value: []byte{0, proto}, text: fmt.Sprintf("nw_proto=%d", proto)})
	} else {
		specs = append(specs, learnSpec{nxm: "NXM_OF_IP_PROTO", bits: 8})
	}
	specs = append(specs, learnSpec{nxm: reg.nxm(), bits: uint16(reg.Bits()), text: reg.String()},
		learnSpec{nxm: "NXM_OF_IP_SRC", bits: 32}, learnSpec{nxm: "NXM_OF_IP_DST", bits: 32})
	switch proto {
	case ProtoTCP:
		specs = append(specs, learnSpec{nxm: "NXM_OF_TCP_SRC", bits: 16}, learnSpec{nxm: "NXM_OF_TCP_DST", bits: 16})
	case ProtoUDP:
		specs = append(specs, learnSpec{nxm: "NXM_OF_UDP_SRC", bits: 16}, learnSpec{nxm: "NXM_OF_UDP_DST", bits: 16})
	}
	parts := make([]string, len(specs))
	for i, s := range specs {
		switch {
		case s.text != "":
			parts[i] = s.text
		default:
			parts[i] = s.nxm + "[]"
		}
	}
	text := fmt.Sprintf("learn(table=%s,idle_timeout=%d,priority=%d,send_flow_rem,delete_learned,cookie=%#x,%s)",
		t.Name, FlowLogIdleTimeout, flowLogLearned, FlowLogCookie, strings.Join(parts, ","))
	a := act(text, func() (of.Action, error) {
		l := of.NewNXActionLearn()
		l.IdleTimeout = FlowLogIdleTimeout
		l.Priority = flowLogLearned
		l.Cookie = FlowLogCookie
		l.Flags = nxLearnSendFlowRem | nxLearnDeleteLearned
		l.TableID = t.ID
		for _, s := range specs {
			dst, err := of.FindFieldHeaderByName(s.nxm, false)
			if err != nil {
				return nil, err
			}
			spec := &of.NXLearnSpec{DstField: &of.NXLearnSpecField{Field: dst}}
			if s.value != nil {
				spec.Header = of.NewLearnHeaderMatchFromValue(s.bits)
				spec.SrcValue = s.value
			} else {
				spec.Header = of.NewLearnHeaderMatchFromField(s.bits)
				spec.SrcField = &of.NXLearnSpecField{Field: dst}
			}
			l.LearnSpecs = append(l.LearnSpecs, spec)
		}
		return l, nil
	})
	a.table = t
	return a
}

// NX_LEARN_F_* (OVS include/openflow/nicira-ext.h); libOpenflow names none.
const (
	nxLearnSendFlowRem   = 1 << 0
	nxLearnDeleteLearned = 1 << 1
)

// flowLogFlows are the flows of every instance with flow logs; nil when none
// has them.
func flowLogFlows(t *Topology) []*Flow {
	var fs []*Flow
	for vi := range t.VPCs {
		v := &t.VPCs[vi]
		for si := range v.Subnets {
			for ii := range v.Subnets[si].Instances {
				fs = append(fs, instanceFlowLogFlows(v, &v.Subnets[si].Instances[ii])...)
			}
		}
	}
	if len(fs) == 0 {
		return nil
	}
	for _, tb := range FlowLogTables {
		fs = append(fs, &Flow{Table: tb, Priority: PrioMiss, Category: CatFlowLog})
	}
	return fs
}

func instanceFlowLogFlows(v *VPC, i *Instance) []*Flow {
	ip := Match{}.EthType(EthIPv4)
	owner := instanceOwner(v, i)
	var fs []*Flow
	if i.FlowLog.Accept {
		count := []Action{Resubmit(TFlowLogEgress), Resubmit(TFlowLogIngress)}
		commit := append([]Action{CT(true, RegZone, nil)}, count...)
		for _, reg := range []RegField{RegSrcPort, RegDstPort} {
			fs = append(fs,
				&Flow{Table: TCtCommit, Priority: flowLogNew, Match: ip.CtState(CtNew|CtTrk, 0).Reg(reg, i.Port), Actions: commit, Goto: TGatewayOut},
				&Flow{Table: TCtCommit, Priority: flowLogCount, Match: ip.Reg(reg, i.Port), Actions: count, Goto: TGatewayOut})
		}
		for _, tr := range []struct {
			t   *Table
			reg RegField
		}{{TFlowLogEgress, RegSrcPort}, {TFlowLogIngress, RegDstPort}} {
			m := ip.Reg(tr.reg, i.Port)
			fs = append(fs,
				&Flow{Table: tr.t, Priority: flowLogLearn, Match: m.IPProto(ProtoTCP), Actions: []Action{learnCount(tr.t, tr.reg, ProtoTCP)}},
				&Flow{Table: tr.t, Priority: flowLogLearn, Match: m.IPProto(ProtoUDP), Actions: []Action{learnCount(tr.t, tr.reg, ProtoUDP)}},
				&Flow{Table: tr.t, Priority: flowLogAnyIP, Match: m, Actions: []Action{learnCount(tr.t, tr.reg, 0)}})
		}
		own(CatFlowLog, owner+".flow_logs", fs)
	}
	if i.FlowLog.Reject {
		// What no rule of the instance's groups allows.
		groups := owner + ".security_groups"
		fs = append(fs,
			&Flow{Table: TEgressSG, Priority: flowLogReject, Match: ip.Reg(RegSrcPort, i.Port), Actions: []Action{ToController()}, Category: CatSecurityGroup, Owner: groups},
			&Flow{Table: TIngressSG, Priority: flowLogReject, Match: ip.Reg(RegDstPort, i.Port), Actions: []Action{ToController()}, Category: CatSecurityGroup, Owner: groups})
	}
	return fs
}

// logsRejects says whether an instance of the subnet logs rejected traffic:
// then its NACL's drops go to the controller too (a NACL is per subnet).
func logsRejects(s *Subnet) bool {
	for _, i := range s.Instances {
		if i.FlowLog.Reject {
			return true
		}
	}
	return false
}

// PortOwner names the instance behind an OpenFlow port.
type PortOwner struct {
	VPC, Subnet, Instance string
	Traffic               FlowLogTraffic
}

// flowLogPorts indexes the instances with flow logs by port; nil when none.
func flowLogPorts(t *Topology) map[uint32]PortOwner {
	var m map[uint32]PortOwner
	for vi := range t.VPCs {
		v := &t.VPCs[vi]
		for si := range v.Subnets {
			s := &v.Subnets[si]
			for _, i := range s.Instances {
				if !i.FlowLog.Accept && !i.FlowLog.Reject {
					continue
				}
				if m == nil {
					m = map[uint32]PortOwner{}
				}
				m[i.Port] = PortOwner{VPC: v.Name, Subnet: s.Name, Instance: i.Name, Traffic: i.FlowLog}
			}
		}
	}
	return m
}

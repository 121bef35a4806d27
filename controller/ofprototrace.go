package controller

import (
	"regexp"
	"strconv"
	"strings"
)

// DPStep is one flow that ovs-vswitchd's ofproto/trace says the packet hit.
type DPStep struct {
	Table    uint8    `json:"table"`
	Name     string   `json:"table_name"`
	Priority int      `json:"priority"`
	Cookie   uint64   `json:"cookie"`
	Match    string   `json:"match"`
	Actions  []string `json:"actions"`
	Owner    string   `json:"owner"` // the config object of the flow (by its cookie); "" for fixed flows
}

// dpResult is a parsed ofproto/trace output.
type dpResult struct {
	Steps   []DPStep
	OutPort int    // OpenFlow port of the last output, 0 when none
	InPort  bool   // sent back out of its input port (answered in place)
	Drop    bool   // the final datapath actions are "drop"
	NAT     int    // index in Steps of the first ct(...nat...) flow, -1 when none
	Final   string // the last "Datapath actions:" line
	VLAN    int    // the tag the datapath pushes last (to a trunk instance), 0 when none
	TunDst  string // the tunnel's remote address the flows set last ("" when none)
}

var (
	traceFlowLine = regexp.MustCompile(`^\s*(\d+)\. (.*?),? ?priority (\d+), cookie (0x[0-9a-f]+)$`)
	traceOutPort  = regexp.MustCompile(`-> output port is (\d+)`)
	traceOutput   = regexp.MustCompile(`^output:(\d+)$`)
	tracePushVLAN = regexp.MustCompile(`push_vlan\(vid=(\d+)`)
)

// parseOfprotoTrace reads the text of `ofproto/trace`: the flows hit in
// order (through every conntrack recirculation), and where the packet went.
func parseOfprotoTrace(text string) dpResult {
	r := dpResult{NAT: -1}
	var cur *DPStep
	for _, line := range strings.Split(text, "\n") {
		if m := traceFlowLine.FindStringSubmatch(line); m != nil {
			t, _ := strconv.Atoi(m[1])
			p, _ := strconv.Atoi(m[3])
			c, _ := strconv.ParseUint(strings.TrimPrefix(m[4], "0x"), 16, 64)
			r.Steps = append(r.Steps, DPStep{Table: uint8(t), Name: tableName(uint8(t)), Priority: p, Cookie: c, Match: m[2]})
			cur = &r.Steps[len(r.Steps)-1]
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "Datapath actions:"):
			r.Final = strings.TrimSpace(strings.TrimPrefix(trimmed, "Datapath actions:"))
			cur = nil
			r.VLAN = 0
			for _, m := range tracePushVLAN.FindAllStringSubmatch(r.Final, -1) {
				r.VLAN, _ = strconv.Atoi(m[1])
			}
		case traceOutPort.MatchString(trimmed):
			m := traceOutPort.FindStringSubmatch(trimmed)
			r.OutPort, _ = strconv.Atoi(m[1])
		case cur != nil && trimmed != "" && !strings.HasPrefix(trimmed, "->") && !strings.HasPrefix(line, "Final flow") && !strings.HasPrefix(line, "Megaflow"):
			cur.Actions = append(cur.Actions, trimmed)
			if a, ok := strings.CutSuffix(trimmed, "->tun_dst"); ok && strings.HasPrefix(a, "set_field:") {
				r.TunDst = strings.TrimPrefix(a, "set_field:")
			}
			if m := traceOutput.FindStringSubmatch(trimmed); m != nil {
				r.OutPort, _ = strconv.Atoi(m[1])
			}
			if strings.HasPrefix(trimmed, "ct(") && strings.Contains(trimmed, "nat") && r.NAT < 0 {
				r.NAT = len(r.Steps) - 1
			}
			if strings.Contains(trimmed, "IN_PORT") || strings.Contains(trimmed, "output:in_port") {
				r.InPort = true
			}
		}
	}
	r.Drop = r.Final == "" || r.Final == "drop" || toControllerOnly(r.Final)
	return r
}

// toControllerOnly says whether datapath actions only hand the packet to
// the controller (a flow-log drop flow's output:CONTROLLER, metered): for
// forwarding, a drop.
func toControllerOnly(actions string) bool {
	depth, start, any := 0, 0, false
	for i := 0; i <= len(actions); i++ {
		if i < len(actions) {
			switch actions[i] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		a := strings.TrimSpace(actions[start:i])
		start = i + 1
		switch {
		case strings.HasPrefix(a, "userspace("):
			any = true
		case strings.HasPrefix(a, "meter("):
		case strings.HasPrefix(a, "sample(") && strings.Contains(a, "actions("):
			// With the controller meter: sample(sample=100.0%,actions(meter(0),userspace(...))).
			inner := a[strings.Index(a, "actions(")+len("actions(") : len(a)-1]
			if !toControllerOnly(strings.TrimSuffix(inner, ")")) {
				return false
			}
			any = true
		default:
			return false
		}
	}
	return any
}

package labcheck

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
	"github.com/vpcctl/vpcctl/controller/ovsproc"
	"github.com/vpcctl/vpcctl/flows"
)

// State is what a task may inspect: the learner's file and answers, and the
// live bridge (its ports as `vpcctl status` shows them, its flows as
// `vpcctl flows` does, ofproto/trace).
type State struct {
	ctx         context.Context
	opts        controller.Options
	File        string
	AnswersFile string
	Topo        *config.Topology
	// Bridge is the file's bridge on the host; nil when it is not there.
	Bridge *controller.BridgeStatus

	answers    map[string]string
	answersErr error
	flows      []controller.FlowRow
	flowsErr   error
	flowsRead  bool
}

func newState(ctx context.Context, o controller.Options, t *config.Topology, file, answers string) (*State, error) {
	s := &State{ctx: ctx, opts: o, File: file, AnswersFile: answers, Topo: t}
	// GetStatus reads every bridge: one that another user deletes while it
	// reads fails it, so try again.
	var st *controller.Status
	var err error
	for try := 0; try < 3; try++ {
		if st, err = controller.GetStatus(ctx, o); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the host (is OVS running? `bin/vpcctl ovs up`): %w", err)
	}
	for i := range st.Bridges {
		if st.Bridges[i].Name == t.Bridge {
			s.Bridge = &st.Bridges[i]
		}
	}
	s.answers, s.answersErr = readAnswers(answers)
	return s, nil
}

// applyWarning says when the bridge does not run the learner's file as it is.
func (s *State) applyWarning() string {
	apply := "run `bin/vpcctl apply -f " + s.File + "`"
	switch {
	case s.Bridge == nil:
		return fmt.Sprintf("bridge %s is not on this host: %s", s.Topo.Bridge, apply)
	case s.Bridge.File != absPath(s.File):
		return fmt.Sprintf("bridge %s was last applied from %s, not %s: %s", s.Topo.Bridge, s.Bridge.File, s.File, apply)
	case s.Bridge.FileChanged:
		return fmt.Sprintf("%s changed since it was last applied: %s", s.File, apply)
	}
	return ""
}

// Instance is an instance or external host as the bridge has it.
func (s *State) Instance(name string) (*controller.InstanceStatus, error) {
	if s.Bridge == nil {
		return nil, fmt.Errorf("bridge %s is not on this host (apply %s first)", s.Topo.Bridge, s.File)
	}
	for i := range s.Bridge.Instances {
		if s.Bridge.Instances[i].Name == name {
			return &s.Bridge.Instances[i], nil
		}
	}
	return nil, fmt.Errorf("bridge %s has no instance %s (`bin/vpcctl status` lists them)", s.Topo.Bridge, name)
}

// Flows are the bridge's installed vpcctl flows, each with its config object.
func (s *State) Flows() ([]controller.FlowRow, error) {
	if !s.flowsRead {
		s.flowsRead = true
		if s.Bridge == nil {
			s.flowsErr = fmt.Errorf("bridge %s is not on this host (apply %s first)", s.Topo.Bridge, s.File)
		} else {
			s.flows, s.flowsErr = controller.GetFlows(s.ctx, s.opts, controller.FlowFilter{Bridge: s.Topo.Bridge})
		}
	}
	return s.flows, s.flowsErr
}

// FlowsOf are the installed flows of one config object (exactly that owner,
// or one of a comma-separated list) in table ("" = any).
func (s *State) FlowsOf(owner, table string) ([]controller.FlowRow, error) {
	all, err := s.Flows()
	if err != nil {
		return nil, err
	}
	var out []controller.FlowRow
	for _, r := range all {
		if table != "" && r.Table != table {
			continue
		}
		for _, o := range strings.Split(r.Owner, ", ") {
			if o == owner {
				out = append(out, r)
				break
			}
		}
	}
	return out, nil
}

// traceStep is a flow ofproto/trace says a packet hit.
var traceStep = regexp.MustCompile(`^\s*(\d+)\. `)

// DropTable runs a hand-made packet (ovs-ofctl flow syntax) through the
// bridge with ofproto/trace and names the table that drops it; "" when the
// packet is not dropped.
func (s *State) DropTable(packet string) (string, error) {
	out, err := ovsproc.Unixctl(s.ctx, s.runDir(), "ofproto/trace", s.Topo.Bridge, packet)
	if err != nil {
		return "", fmt.Errorf("ofproto/trace: %w", err)
	}
	return dropTable(out), nil
}

// dropTable reads ofproto/trace's text: the table of the last flow hit when
// the final datapath actions are "drop".
func dropTable(trace string) string {
	last, final := -1, ""
	for _, line := range strings.Split(trace, "\n") {
		if m := traceStep.FindStringSubmatch(line); m != nil {
			last, _ = strconv.Atoi(m[1])
		}
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "Datapath actions:"); ok {
			final = strings.TrimSpace(a)
		}
	}
	if last < 0 || final != "drop" {
		return ""
	}
	if name, ok := flows.TableNames()[uint8(last)]; ok {
		return name
	}
	return strconv.Itoa(last)
}

// runDir is OVS's run directory (ovs-vswitchd's unixctl socket), as the
// controller derives it from the OVSDB endpoint.
func (s *State) runDir() string {
	if s.opts.RunDir != "" {
		return s.opts.RunDir
	}
	if p, ok := strings.CutPrefix(s.opts.OVSDB, "unix:"); ok {
		return filepath.Dir(p)
	}
	return "/var/run/openvswitch"
}

// Trace is `vpcctl trace FROM TO` on the bridge.
func (s *State) Trace(from, to, proto string, port uint16) (*controller.TraceResult, error) {
	if s.Bridge == nil {
		return nil, fmt.Errorf("bridge %s is not on this host (apply %s first)", s.Topo.Bridge, s.File)
	}
	return controller.Trace(s.ctx, s.opts, controller.TraceRequest{Bridge: s.Topo.Bridge, From: from, To: to, Proto: proto, Port: port})
}

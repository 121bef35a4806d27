// Package labcheck checks a learner's lab tasks against the live host.
//
// A lab's tasks either change the topology (then real probes from inside the
// namespaces must show the new reachability) or ask the learner to find
// something and write it in an answers file (then the checker finds the same
// thing on the live bridge: its flows, ofproto/trace, the recorded ports) and
// compares. The learner works on a copy of the lab's topology (default
// /tmp/labNN.yaml) so the committed labs/NN/topology.yaml never changes.
package labcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
	"github.com/vpcctl/vpcctl/controller/reach"
)

// Lab is one of labs/NN-NAME and its tasks.
type Lab struct {
	Number int
	Dir    string // "02-security": the directory under labs/
	Tasks  []Task
}

// DefaultFile is where the lab's README has the learner keep their copy of
// the topology.
func (l *Lab) DefaultFile() string { return fmt.Sprintf("/tmp/lab%02d.yaml", l.Number) }

// DefaultAnswers is where the README has the learner write what they found.
func (l *Lab) DefaultAnswers() string { return fmt.Sprintf("/tmp/lab%02d-answers.yaml", l.Number) }

// Task is one thing the learner does.
type Task struct {
	Name string // short id shown in the output: "client-db"
	Goal string // one line; the README says it at length
	// Probes are the reachability the live host must show, probed from
	// inside the namespaces (as `vpcctl check --live` does).
	Probes []Probe
	// Answer is a question the learner answers in the answers file; nil:
	// none.
	Answer *Answer
	// Check inspects what else must hold (an object on the bridge); nil:
	// nothing else. Its error says what is wrong.
	Check func(s *State) error
	// Hint names what to look at when the task fails. {file}, {answers},
	// {bridge} and {lab} are replaced.
	Hint string
}

// Probe is one packet exchange that must (Reach) or must not get through.
type Probe struct {
	From, To string // instances or external hosts of the learner's file
	Proto    string // tcp | udp | icmp
	Port     int    // tcp, udp
	Reach    bool
}

// Result is one task's verdict.
type Result struct {
	N       int      `json:"task"`
	Name    string   `json:"name"`
	Goal    string   `json:"goal"`
	Pass    bool     `json:"pass"`
	Details []string `json:"details,omitempty"` // what is wrong
	Hint    string   `json:"hint,omitempty"`    // where to look (failed tasks only)
}

// Report is a lab check: every task, and what was checked.
type Report struct {
	Lab     string `json:"lab"`
	File    string `json:"file"`
	Answers string `json:"answers"`
	Bridge  string `json:"bridge"`
	// Warnings: the live bridge does not run the file as it is; the
	// answers file has keys no task asks for.
	Warnings []string `json:"warnings,omitempty"`
	Results  []Result `json:"results"`
}

// Passed says whether every task passed.
func (r *Report) Passed() bool {
	for _, x := range r.Results {
		if !x.Pass {
			return false
		}
	}
	return len(r.Results) > 0
}

// Failed names the failed tasks.
func (r *Report) Failed() []string {
	var out []string
	for _, x := range r.Results {
		if !x.Pass {
			out = append(out, x.Name)
		}
	}
	return out
}

// Run checks the lab's tasks: file is the learner's topology, answers their
// answers file (missing: the answer tasks fail). It errors only when it
// cannot check at all (no file, an invalid file, OVS unreachable).
func Run(ctx context.Context, o controller.Options, lab *Lab, file, answers string) (*Report, error) {
	t, _, err := config.Load(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file: start lab %s with `cp labs/%s/topology.yaml %s` and apply it (or give -f)", file, lab.Dir, lab.Dir, file)
		}
		return nil, err
	}
	s, err := newState(ctx, o, t, file, answers)
	if err != nil {
		return nil, err
	}
	rep := &Report{Lab: lab.Dir, File: file, Answers: answers, Bridge: t.Bridge}
	if w := s.applyWarning(); w != "" {
		rep.Warnings = append(rep.Warnings, w)
	}
	if w := s.unknownAnswers(lab); w != "" {
		rep.Warnings = append(rep.Warnings, w)
	}
	probed := s.probe(lab.Tasks)
	fill := strings.NewReplacer("{file}", file, "{answers}", answers, "{bridge}", t.Bridge, "{lab}", lab.Dir)
	for i, task := range lab.Tasks {
		res := Result{N: i + 1, Name: task.Name, Goal: task.Goal}
		res.Details = append(res.Details, probed[i]...)
		if task.Answer != nil {
			if err := task.Answer.check(s); err != nil {
				res.Details = append(res.Details, err.Error())
			}
		}
		if task.Check != nil {
			if err := task.Check(s); err != nil {
				res.Details = append(res.Details, err.Error())
			}
		}
		res.Pass = len(res.Details) == 0
		if !res.Pass {
			res.Hint = fill.Replace(task.Hint)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// probe sends every task's probes at once and returns, per task, what did
// not come out as wanted.
func (s *State) probe(tasks []Task) [][]string {
	out := make([][]string, len(tasks))
	var exps []*config.Expectation
	owners := map[*config.Expectation]int{}
	for i, task := range tasks {
		said := map[string]bool{} // a missing instance is named once per task
		for _, p := range task.Probes {
			missing := false
			for _, name := range []string{p.From, p.To} {
				if _, err := s.Topo.Endpoints(name); err != nil {
					if !said[name] {
						out[i] = append(out[i], fmt.Sprintf("%s has no instance or external host %s", s.File, name))
					}
					said[name], missing = true, true
				}
			}
			if missing {
				continue
			}
			e := &config.Expectation{From: p.From, To: p.To, Proto: p.Proto, Port: p.Port, Reach: "no"}
			if p.Reach {
				e.Reach = "yes"
			}
			exps = append(exps, e)
			owners[e] = i
		}
	}
	if len(exps) == 0 {
		return out
	}
	// The tasks' probes stand in for the file's own expect: section (which
	// `vpcctl check` evaluates); the loaded copy is the checker's own.
	s.Topo.Expect = exps
	live := s.Bridge != nil
	cells, err := controller.Check(s.ctx, s.opts, s.Topo, live)
	if err != nil {
		for _, e := range exps {
			i := owners[e]
			out[i] = append(out[i], fmt.Sprintf("%s -> %s: cannot probe: %v", e.From, e.To, err))
		}
		return out
	}
	for _, c := range cells {
		i := owners[c.Expect]
		if d := cellProblem(c, live, s.Topo.Bridge); d != "" {
			out[i] = append(out[i], d)
		}
	}
	return out
}

// cellProblem says what is wrong with a probed cell ("" when nothing) and
// which trace shows why.
func cellProblem(c *reach.Cell, live bool, bridge string) string {
	if c.OK() && live {
		return ""
	}
	want := "get through"
	if !c.Want {
		want = "be stopped"
	}
	var got []string
	if !live {
		got = append(got, fmt.Sprintf("not probed: bridge %s is not on this host", bridge))
	} else if c.LiveErr != "" {
		got = append(got, "live probe failed: "+c.LiveErr)
	} else if c.Live != nil {
		got = append(got, "live: "+yesNo(*c.Live))
	}
	model := "model: " + yesNo(c.Model)
	if !c.Model {
		obj := c.Decider.Object
		if c.Decider.Line > 0 {
			obj += fmt.Sprintf(" (line %d)", c.Decider.Line)
		}
		model = fmt.Sprintf("model: stopped at %s by %s", c.Decider.Stage, obj)
	}
	got = append(got, model)
	if live && c.Live != nil && *c.Live != c.Model {
		got = append(got, "the file and the bridge differ: apply the file")
	}
	args := "--icmp"
	if c.Proto != config.ProtoICMP {
		args = fmt.Sprintf("--%s %d", c.Proto, c.Port)
	}
	return fmt.Sprintf("%s should %s (%s); see: bin/vpcctl trace %s %s %s", c.Label(), want, strings.Join(got, "; "), c.From, c.To, args)
}

func yesNo(b bool) string {
	if b {
		return "gets through"
	}
	return "stopped"
}

// absPath is path made absolute, as apply records it on the bridge.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

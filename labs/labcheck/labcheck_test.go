package labcheck

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/reach"
)

func TestParseAnswers(t *testing.T) {
	a, err := parseAnswers([]byte("# mine\nred_vpc_id: 0x905d   # hex stays as written\nalice_ip: 10.0.1.4\ntable: L2Lookup\nempty:\n"), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"red_vpc_id": "0x905d", "alice_ip": "10.0.1.4", "table": "L2Lookup", "empty": ""}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}
	if _, err := parseAnswers([]byte("- a\n- b\n"), "a.yaml"); err == nil || !strings.Contains(err.Error(), "key: answer") {
		t.Errorf("a list: %v", err)
	}
	if _, err := parseAnswers([]byte("x:\n  y: 1\n"), "a.yaml"); err == nil || !strings.Contains(err.Error(), "a.yaml:2: x") {
		t.Errorf("a nested value: %v", err)
	}
	s := &State{AnswersFile: "a.yaml", answers: a}
	if _, err := s.Answer("empty"); err == nil || !strings.Contains(err.Error(), "`empty:`") {
		t.Errorf("an empty answer: %v", err)
	}
}

func TestSame(t *testing.T) {
	for _, c := range []struct {
		k         Kind
		got, want string
		same      bool
	}{
		{number, "0x905d", "0x905d", true},
		{number, "36957", "0x905d", true},
		{number, "0X905D", "0x905d", true},
		{number, "0x905e", "0x905d", false},
		{number, "red", "0x905d", false},
		{ip, " 10.0.1.4 ", "10.0.1.4", true},
		{ip, "10.0.1.04", "10.0.1.4", false},
		{ip, "10.0.1.5", "10.0.1.4", false},
		{mac, "02:53:19:43:2E:1A", "02:53:19:43:2e:1a", true},
		{mac, "02:53:19:43:2e:1b", "02:53:19:43:2e:1a", false},
		{table, "l2lookup", "L2Lookup", true},
		{table, "table=L2Lookup", "L2Lookup", true},
		{table, tableNumber("L2Lookup"), "L2Lookup", true},
		{table, "L3Forwarding", "L2Lookup", false},
		{text, "Abc", "abc", true},
	} {
		if got := same(c.k, c.got, c.want); got != c.same {
			t.Errorf("same(%d, %q, %q) = %v", c.k, c.got, c.want, got)
		}
	}
}

func TestDropTable(t *testing.T) {
	trace := `Flow: icmp,in_port=1,vlan_tci=0x0000,dl_src=02:6f:60:76:c6:5d,dl_dst=02:fa:7c:e9:8e:db

bridge("br-routing")
--------------------
 0. in_port=1, priority 200, cookie 0xa502739f2262cb6d
    goto_table:1
 1. ip,in_port=1,dl_src=02:6f:60:76:c6:5d,nw_src=10.0.1.10, priority 200, cookie 0xa50222cbc80ed3f3
    goto_table:2
 6. priority 0, cookie 0xa5010000000000006
    drop

Final flow: unchanged
Megaflow: recirc_id=0,eth,ip,in_port=1
Datapath actions: drop
`
	if got := dropTable(trace); got != "L2Lookup" {
		t.Errorf("dropTable = %q, want L2Lookup", got)
	}
	if got := dropTable(strings.Replace(trace, "Datapath actions: drop", "Datapath actions: 3", 1)); got != "" {
		t.Errorf("a delivered packet: dropTable = %q, want \"\"", got)
	}
}

func TestFind(t *testing.T) {
	for _, arg := range []string{"2", "02", "02-security", "security", "labs/02-security/"} {
		if l, err := Find(arg); err != nil || l.Dir != "02-security" {
			t.Errorf("Find(%q) = %v, %v", arg, l, err)
		}
	}
	if _, err := Find("9"); err == nil || !strings.Contains(err.Error(), "04-peering") {
		t.Errorf("Find(9): %v", err)
	}
}

// TestLabsOnTheModel keeps the tasks, the READMEs and the solutions
// together: every task is in its README, the solution's answers answer every
// question, and on the model the solution's topology gives every probe its
// wanted result while the lab's own topology does not (so the live check can
// fail first and pass after).
func TestLabsOnTheModel(t *testing.T) {
	for i, l := range Labs {
		if l.Number != i || len(l.Tasks) < 2 || len(l.Tasks) > 4 {
			t.Errorf("lab %s: number %d at %d, %d tasks (want 2-4)", l.Dir, l.Number, i, len(l.Tasks))
		}
		dir := filepath.Join("..", l.Dir)
		readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		ans, err := readAnswers(filepath.Join(dir, "solution", "answers.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		initial := load(t, filepath.Join(dir, "topology.yaml"))
		solved := load(t, filepath.Join(dir, "solution", "topology.yaml"))
		// The steps tests/lab_check_test.go runs, with this test's files.
		for _, step := range []string{
			"cp labs/" + l.Dir + "/topology.yaml " + l.DefaultFile(),
			"cp labs/" + l.Dir + "/solution/topology.yaml " + l.DefaultFile(),
			"cp labs/" + l.Dir + "/solution/answers.yaml " + l.DefaultAnswers(),
			"bin/vpcctl apply -f " + l.DefaultFile(),
			"bin/vpcctl lab check " + strconv.Itoa(l.Number),
		} {
			if !strings.Contains(string(readme), step) {
				t.Errorf("lab %s: README.md does not say `%s`", l.Dir, step)
			}
		}
		names := map[string]bool{}
		for _, task := range l.Tasks {
			if names[task.Name] {
				t.Errorf("lab %s: two tasks %s", l.Dir, task.Name)
			}
			names[task.Name] = true
			if !strings.Contains(string(readme), "`"+task.Name+"`") {
				t.Errorf("lab %s: README.md does not name task `%s`", l.Dir, task.Name)
			}
			if task.Answer == nil && len(task.Probes) == 0 {
				t.Errorf("lab %s: task %s checks nothing", l.Dir, task.Name)
			}
			if a := task.Answer; a != nil {
				if ans[a.Key] == "" {
					t.Errorf("lab %s: solution/answers.yaml has no %s", l.Dir, a.Key)
				}
				if !strings.Contains(string(readme), a.Key) {
					t.Errorf("lab %s: README.md does not ask for %s", l.Dir, a.Key)
				}
			}
			if len(task.Probes) == 0 {
				continue
			}
			for _, c := range modelCells(t, solved, task.Probes) {
				if c == nil || c.Model != c.Want {
					t.Errorf("lab %s, task %s: the solution does not do it on the model: %+v", l.Dir, task.Name, c)
				}
			}
			failsFirst := false
			for _, c := range modelCells(t, initial, task.Probes) {
				failsFirst = failsFirst || c == nil || c.Model != c.Want
			}
			if !failsFirst {
				t.Errorf("lab %s, task %s is done already in the lab's topology", l.Dir, task.Name)
			}
		}
	}
}

func load(t *testing.T, path string) *config.Topology {
	t.Helper()
	topo, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return topo
}

// modelCells evaluates probes on the model, a nil cell for a probe whose
// endpoints the topology does not have.
func modelCells(t *testing.T, topo *config.Topology, probes []Probe) []*reach.Cell {
	t.Helper()
	out := make([]*reach.Cell, len(probes))
	for i, p := range probes {
		_, e1 := topo.Endpoints(p.From)
		_, e2 := topo.Endpoints(p.To)
		if e1 != nil || e2 != nil {
			continue
		}
		reachWord := "no"
		if p.Reach {
			reachWord = "yes"
		}
		topo.Expect = []*config.Expectation{{From: p.From, To: p.To, Proto: p.Proto, Port: p.Port, Reach: reachWord}}
		cells := reach.New(topo).Check()
		if len(cells) != 1 {
			t.Fatalf("%d cells for one probe", len(cells))
		}
		out[i] = cells[0]
	}
	return out
}

func TestDBRulesKept(t *testing.T) {
	for _, f := range []string{"topology.yaml", "solution/topology.yaml"} {
		s := &State{File: f, Topo: load(t, filepath.Join("..", "02-security", f))}
		if err := dbRulesKept(s); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "02-security", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"a rule for client": {`source_group: web}`, "source_group: web}\n          - {protocol: tcp, ports: \"5432\", source: 10.0.1.20/32}"},
		"the rule widened":  {`ports: "5432", source_group: web`, `ports: "5432", source: 10.0.1.0/24`},
	} {
		path := filepath.Join(t.TempDir(), "lab02.yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), edit[0], edit[1], 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := dbRulesKept(&State{File: path, Topo: load(t, path)}); err == nil {
			t.Errorf("%s: passes", name)
		}
	}
}

func TestUnknownAnswers(t *testing.T) {
	l, _ := Find("0")
	s := &State{AnswersFile: "a.yaml", answers: map[string]string{"alice_ip": "10.0.1.4", "alice-mac": "x"}}
	if w := s.unknownAnswers(l); w != "a.yaml: no task asks for alice-mac (the tasks ask for alice_ip, alice_mac)" {
		t.Errorf("unknownAnswers = %q", w)
	}
	s.answers = map[string]string{"alice_ip": "10.0.1.4"}
	if w := s.unknownAnswers(l); w != "" {
		t.Errorf("unknownAnswers = %q", w)
	}
}

package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/labs/labcheck"
)

// TestLabCheck runs every lab's README "Tasks" steps against a real OVS: on
// the lab's initial topology `vpcctl lab check N` fails and names every
// task; after the README's solution steps (copy solution/topology.yaml and
// solution/answers.yaml to the working files, apply) it passes. Each lab runs
// on a bridge of its own, its workloads' files in the test's directory.
func TestLabCheck(t *testing.T) {
	for _, lab := range labcheck.Labs {
		t.Run(lab.Dir, func(t *testing.T) { labCheckRun(t, lab) })
	}
}

func labCheckRun(t *testing.T, lab *labcheck.Lab) {
	br := uniqueBridge("tlk")
	dir := t.TempDir()
	// The working files, as /tmp/labNN.yaml and /tmp/labNN-answers.yaml in the README.
	file := filepath.Join(dir, fmt.Sprintf("lab%02d.yaml", lab.Number))
	answers := filepath.Join(dir, fmt.Sprintf("lab%02d-answers.yaml", lab.Number))
	t.Cleanup(func() {
		if r := vpcctl(t, "destroy", "-f", file); r.Code != 0 && r.Code != 2 {
			t.Errorf("cleanup: destroy: %s", r.Stderr)
		}
	})
	// cp labs/NN/SRC to a working file, on this test's bridge and directory.
	cp := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "labs", lab.Dir, src))
		if err != nil {
			t.Fatal(err)
		}
		s := regexp.MustCompile(`(?m)^bridge:.*$`).ReplaceAllString(string(b), "bridge: "+br)
		s = strings.ReplaceAll(s, fmt.Sprintf("/tmp/vpcctl-lab%02d", lab.Number), filepath.Join(dir, "files"))
		if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func() (result, labcheck.Report) {
		t.Helper()
		r := vpcctl(t, "lab", "check", fmt.Sprint(lab.Number), "-f", file, "--answers", answers)
		j := vpcctl(t, "-o", "json", "lab", "check", lab.Dir, "-f", file, "--answers", answers)
		var rep labcheck.Report
		if err := json.Unmarshal([]byte(j.Stdout), &rep); err != nil {
			t.Fatalf("lab check -o json: %v\n%s\n%s", err, j.Stdout, j.Stderr)
		}
		if j.Code != r.Code {
			t.Errorf("lab check exits %d, with -o json %d", r.Code, j.Code)
		}
		return r, rep
	}

	// The lab's initial state: every task fails, each named with a hint.
	cp("topology.yaml", file)
	mustVpcctl(t, "apply", "-f", file)
	r, rep := check()
	if r.Code != 1 {
		t.Fatalf("lab check on the initial state: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if len(rep.Results) != len(lab.Tasks) || len(lab.Tasks) < 2 || len(lab.Tasks) > 4 {
		t.Fatalf("%d results for %d tasks (a lab has 2-4)", len(rep.Results), len(lab.Tasks))
	}
	for i, task := range lab.Tasks {
		line := regexp.MustCompile(fmt.Sprintf(`(?m)^FAIL  %d %s `, i+1, regexp.QuoteMeta(task.Name)))
		if !line.MatchString(r.Stdout) || rep.Results[i].Pass {
			t.Errorf("task %s does not fail on the initial state:\n%s", task.Name, r.Stdout)
		}
		if rep.Results[i].Hint == "" || len(rep.Results[i].Details) == 0 {
			t.Errorf("task %s fails without details or hint: %+v", task.Name, rep.Results[i])
		}
	}
	if want := fmt.Sprintf("0 of %d tasks pass; to do: %s", len(lab.Tasks), strings.Join(rep.Failed(), ", ")); !strings.Contains(r.Stdout, want) {
		t.Errorf("lab check does not end with %q:\n%s", want, r.Stdout)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings on a freshly applied file: %q", rep.Warnings)
	}
	t.Logf("initial state:\n%s", r.Stdout)

	// A wrong answer fails its task, and only that one.
	if len(rep.Results) > 0 {
		cp("solution/answers.yaml", answers)
		b, _ := os.ReadFile(answers)
		wrong := regexp.MustCompile(`(?m)^(\w+):\s*\S+`).ReplaceAllString(string(b), "$1: 0x1")
		if err := os.WriteFile(answers, []byte(wrong), 0o644); err != nil {
			t.Fatal(err)
		}
		_, rep := check()
		for i, task := range lab.Tasks {
			if task.Answer != nil && (rep.Results[i].Pass || !strings.Contains(strings.Join(rep.Results[i].Details, " "), "is not what the bridge shows")) {
				t.Errorf("task %s with a wrong answer: %+v", task.Name, rep.Results[i])
			}
		}
	}

	// The README's steps: the solution's topology and answers, applied.
	cp("solution/topology.yaml", file)
	cp("solution/answers.yaml", answers)
	mustVpcctl(t, "apply", "-f", file)
	// Workloads start in the background; give a first probe one retry.
	for attempt := 1; ; attempt++ {
		r, rep = check()
		if r.Code == 0 || attempt == 2 {
			break
		}
		t.Logf("attempt %d:\n%s", attempt, r.Stdout)
		time.Sleep(2 * time.Second)
	}
	if r.Code != 0 || !rep.Passed() {
		t.Fatalf("lab check after the solution: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for i, task := range lab.Tasks {
		if !strings.Contains(r.Stdout, fmt.Sprintf("PASS  %d %s ", i+1, task.Name)) {
			t.Errorf("task %s: no PASS line:\n%s", task.Name, r.Stdout)
		}
	}
	t.Logf("solved:\n%s", r.Stdout)

	// An edit not applied yet is called out (the probes see the bridge, not the file).
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "# an edit not applied yet")
	f.Close()
	r, rep = check()
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "changed since it was last applied") || !strings.Contains(r.Stdout, "warning: "+file+" changed since it was last applied: run `bin/vpcctl apply -f "+file+"`") {
		t.Errorf("no warning about the unapplied edit:\n%s", r.Stdout)
	}
}

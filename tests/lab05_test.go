package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Lab 05 spans simulated hosts, so `vpcctl lab check` (TestLabCheck) cannot
// check it: TestLab05Walkthrough runs its README as a learner would and its
// own check.sh.
const (
	lab05Dir = "../labs/05-multihost"
	// lab05ScriptTimeout bounds the walkthrough and the tasks (measured: 50-60 s
	// on a busy 2-core machine).
	lab05ScriptTimeout = 6 * time.Minute
	// lab05CleanupTimeout bounds the README's cleanup block.
	lab05CleanupTimeout = 3 * time.Minute
)

// lab05Block is one ```sh block of the README.
type lab05Block struct {
	Line    int    // its first line in README.md (1-based: the ```sh line)
	Section string // the "## ..." heading it is under
	Details bool   // inside <details> (the solution)
	Body    string
}

// lab05Names are the fixed names the README uses, read from it and from the
// lab's files: a learner's own run on this machine would use the same.
type lab05Names struct {
	Prefix     string   // the sim hosts' prefix (namespaces PREFIX-*, /run/vpcctl-sim/PREFIX-*)
	Bridge     string   // the topology's bridge (instance namespaces vpcctl.BRIDGE.*)
	ClusterDir string   // `vpcctl cluster up --dir`
	Ports      []int    // the cluster's Raft ports on 127.0.0.1
	Files      []string // what the cleanup block removes under /tmp (globs)
	Tasks      []string // the tasks' names, in order (section 7)
}

// TestLab05Walkthrough runs labs/05-multihost as a learner does, on this
// machine's fixed names (prefix lab05, /tmp/lab05*, the cluster's ports),
// which it first checks are free:
//
//  1. every ```sh block of README.md, in order, as one bash script (set -euo
//     pipefail) in a scratch copy of the repository's top directory whose
//     bin/vpcctl is the binary under test (`make build` is a no-op there
//     that checks it is present). Sections 1-6 must pass, and what the README
//     says the commands print is checked where it is a verdict: `CMD; echo
//     "exit $?"   # exit N` must exit N, `CMD   # prog: ... error: TEXT` must
//     fail printing TEXT, `curl .../name   # NAME` must print NAME, the
//     tcpdump of section 2 must see both VPCs' VNIs, and the agents' logs of
//     section 6 every host applying both generations. Nothing is retried.
//  2. The blocks of section 7 run in the same script (the solution's block
//     too, inside <details>: it is what a learner does): check.sh on the
//     initial state must exit 1 naming every task as failed, check.sh after
//     the solution's steps must exit 0 with every task passed, and with wrong
//     answers (a file of the test's own) exactly the answer tasks fail.
//  3. Cleanup, on failure too: the README's cleanup block (section 8: the
//     only block not in the script above), then nothing may be left: no
//     namespace PREFIX-* or vpcctl.BRIDGE.*, no agent, no cluster member, no
//     /run/vpcctl-sim/PREFIX-*, no /tmp file of the lab, no process of the
//     script. What is left is an error (when the walkthrough passed) and is
//     removed.
func TestLab05Walkthrough(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(lab05Dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := lab05Blocks(string(readme))
	names := lab05ReadNames(t, string(readme), blocks)
	var script, solution, cleanup, funcs []lab05Block
	for _, b := range blocks {
		switch {
		case regexp.MustCompile(`(?i)clean ?up`).MatchString(b.Section):
			cleanup = append(cleanup, b)
			continue
		case b.Details:
			solution = append(solution, b)
		}
		if regexp.MustCompile(`(?m)^on\(\) *\{`).MatchString(b.Body) {
			funcs = append(funcs, b)
		}
		script = append(script, b)
	}
	if len(cleanup) != 1 || len(solution) != 1 || len(funcs) != 1 || len(script) < 10 {
		t.Fatalf("README.md: %d cleanup blocks, %d solution blocks, %d blocks defining on(), %d other blocks: "+
			"this test expects 1, 1, 1 and 10 or more: update it", len(cleanup), len(solution), len(funcs), len(script))
	}
	for _, b := range funcs {
		if regexp.MustCompile(`(?m)^\s*(bin/vpcctl|scripts/|cp |rm |kill )`).MatchString(b.Body) {
			t.Fatalf("README.md line %d: the block defining on() does more than define (the cleanup runs it again): update this test", b.Line)
		}
	}

	// 0. The fixed names must be free: never touch a learner's run.
	if left := lab05Leftovers(t, names); len(left) > 0 {
		t.Fatalf("lab 05's fixed names are in use on this machine (a run of the lab, or of this test, not cleaned up?):\n  %s\n"+
			"this test does not touch them: finish that run with README.md section 8 (Clean up), then run the test again",
			strings.Join(left, "\n  "))
	}
	for _, p := range names.Ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("lab 05's cluster needs tcp port %d on 127.0.0.1 (README section 6: --base-port), it is in use: %v", p, err)
		}
		l.Close()
	}

	top, out := lab05Scratch(t), t.TempDir()
	// Registered after the TempDirs: runs before they are removed.
	pgid := 0
	t.Cleanup(func() { lab05Cleanup(t, names, top, funcs[0], cleanup[0], pgid) })

	// 1 and 2: the blocks, in order, as one script.
	body, checks := lab05Script(t, script)
	start := time.Now()
	res := lab05Bash(t, top, out, body, lab05ScriptTimeout, &pgid)
	t.Logf("README sections 1-7 (%d blocks): exit %d after %v", len(script), res, time.Since(start).Round(time.Second))
	log, _ := os.ReadFile(filepath.Join(out, "out.log"))
	if res != 0 {
		trace, _ := os.ReadFile(filepath.Join(out, "trace"))
		t.Fatalf("the README's blocks fail (exit %d); the end of what they printed:\n%s\nthe end of bash's trace (set -x):\n%s",
			res, lab05Tail(string(log), 40), lab05Tail(string(trace), 25))
	}
	for _, vni := range []string{"vni 0x905d", "vni 0x260e"} { // section 2's tcpdump: red's and blue's
		if !strings.Contains(string(log), vni) {
			t.Errorf("section 2's tcpdump on the underlay did not show %q:\n%s", vni, lab05Tail(string(log), 60))
		}
	}
	// Section 6 greps the agents' logs (3 s after each publish) and shows
	// every host applying each generation.
	for _, g := range []string{"1", "2"} {
		for _, h := range []string{"h1", "h2", "h3"} {
			if !strings.Contains(string(log), "host="+h+" event=applied generation="+g+" ") {
				t.Errorf("section 6: the agents' logs shown do not have %s applying generation %s", h, g)
			}
		}
	}

	if len(checks) != 2 {
		t.Fatalf("%d runs of check.sh in the README's section 7, want 2 (initial state, solution): update this test", len(checks))
	}
	for i, c := range checks {
		b, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("check%d.out", i)))
		rcb, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("check%d.rc", i)))
		got, rc := string(b), strings.TrimSpace(string(rcb))
		t.Logf("check.sh, README line %d (%s):\n%s", c.Line, c.Comment, got)
		if want := regexp.MustCompile(`\d+ of \d+ tasks pass`).FindString(c.Comment); want == "" || !strings.Contains(got, want) {
			t.Errorf("check.sh at README line %d does not print what the README says (%q)", c.Line, c.Comment)
		}
		if i == 0 { // the initial state: every task fails, with a hint
			if rc != "1" {
				t.Errorf("check.sh on the initial state: exit %s, want 1", rc)
			}
			for k, task := range names.Tasks {
				if !regexp.MustCompile(fmt.Sprintf(`(?m)^FAIL  %d %s .*\n(        .*\n)*        hint: \S`, k+1, regexp.QuoteMeta(task))).MatchString(got) {
					t.Errorf("check.sh on the initial state: task %s does not fail with a hint", task)
				}
			}
			// check.sh separates the names with blanks (`vpcctl lab check`: commas).
			if want := fmt.Sprintf("0 of %d tasks pass; to do: %s\n", len(names.Tasks), strings.Join(names.Tasks, "[, ]+")); !regexp.MustCompile(want + `$`).MatchString(got) {
				t.Errorf("check.sh on the initial state does not end with %q", want)
			}
		} else { // after the solution: all pass
			if rc != "0" {
				t.Errorf("check.sh after the solution's steps: exit %s, want 0", rc)
			}
			for k, task := range names.Tasks {
				if !strings.Contains(got, fmt.Sprintf("PASS  %d %s ", k+1, task)) {
					t.Errorf("check.sh after the solution: no PASS line for task %s", task)
				}
			}
			if want := fmt.Sprintf("%d of %d tasks pass\n", len(names.Tasks), len(names.Tasks)); !strings.HasSuffix(got, want) {
				t.Errorf("check.sh after the solution does not end with %q", want)
			}
		}
	}
	if t.Failed() {
		return
	}

	// Wrong answers (in a file of the test's): exactly the tasks with an
	// answer fail; the live state still passes move-db.
	sol, err := os.ReadFile(filepath.Join(lab05Dir, "solution", "answers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`(?m)^(\w+):`).FindAllStringSubmatch(string(sol), -1)
	wrong := filepath.Join(out, "wrong-answers.yaml")
	var w strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&w, "%s: 0x1\n", k[1])
	}
	if err := os.WriteFile(wrong, []byte(w.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, time.Minute, "bash", "-c", "cd \"$1\" && labs/05-multihost/check.sh --answers \"$2\"", "-", top, wrong)
	t.Logf("check.sh with wrong answers:\n%s%s", r.Stdout, r.Stderr)
	if len(keys) != 2 || r.Code != 1 ||
		!strings.Contains(r.Stdout, "PASS  1 "+names.Tasks[0]+" ") ||
		!regexp.MustCompile("1 of 3 tasks pass; to do: "+strings.Join(names.Tasks[1:], "[, ]+")+"\n$").MatchString(r.Stdout) ||
		strings.Count(r.Stdout, "is not what") != 2 {
		t.Errorf("check.sh with wrong answers (%d keys, all 0x1): exit %d, want 1 with exactly the answer tasks failing on their value", len(keys), r.Code)
	}
}

// lab05Blocks returns the README's ```sh blocks in order.
func lab05Blocks(readme string) []lab05Block {
	var blocks []lab05Block
	var cur *lab05Block
	section, details := "", false
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.Body += line + "\n"
		case line == "```sh":
			cur = &lab05Block{Line: i + 1, Section: section, Details: details}
		case strings.HasPrefix(line, "## "):
			section, details = line, false
		case strings.HasPrefix(line, "<details"):
			details = true
		case strings.HasPrefix(line, "</details>"):
			details = false
		}
	}
	return blocks
}

// lab05ReadNames reads the fixed names the lab uses from its README and files.
func lab05ReadNames(t *testing.T, readme string, blocks []lab05Block) lab05Names {
	t.Helper()
	var all strings.Builder
	for _, b := range blocks {
		all.WriteString(b.Body)
	}
	sh := all.String()
	var n lab05Names
	must := func(what string, re string, s string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("README.md: no %s (%s): update this test", what, re)
		}
		return m[1]
	}
	n.Prefix = must("sim-hosts prefix", `scripts/sim-hosts\.sh up (\w+) 3\b`, sh)
	n.ClusterDir = must("cluster directory", `cluster up --dir (/tmp/\S+)`, sh)
	base, _ := strconv.Atoi(must("cluster base port", `--base-port (\d+)`, sh))
	n.Ports = []int{base, base + 1, base + 2}
	topo, err := os.ReadFile(filepath.Join(lab05Dir, "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n.Bridge = must("bridge", `(?m)^bridge: *(\S+)`, string(topo))
	for _, b := range blocks {
		if m := regexp.MustCompile(`(?m)^rm -rf (.*)$`).FindStringSubmatch(b.Body); m != nil {
			n.Files = strings.Fields(m[1])
		}
	}
	if len(n.Files) == 0 {
		t.Fatalf("README.md: no `rm -rf` of the lab's files in a block: update this test")
	}
	for _, f := range n.Files {
		if !strings.HasPrefix(f, "/tmp/") || !strings.Contains(f, n.Prefix) {
			t.Fatalf("README.md removes %s: not a lab file under /tmp: update this test", f)
		}
	}
	for _, m := range regexp.MustCompile("(?m)^[0-9]+\\. `([a-z0-9-]+)`:").FindAllStringSubmatch(readme, -1) {
		n.Tasks = append(n.Tasks, m[1])
	}
	if len(n.Tasks) != 3 {
		t.Fatalf("README.md: tasks %q, want 3: update this test", n.Tasks)
	}
	return n
}

// lab05Check is a run of check.sh in the README.
type lab05Check struct {
	Line    int
	Comment string // what the README says it prints ("0 of 3 tasks pass")
}

// lab05Script turns the blocks into one bash script. Lines whose comment is a
// verdict become checks of it (see TestLab05Walkthrough); check.sh's output
// and exit code go to files $LAB05_OUT/checkN.{out,rc} and the script goes on.
func lab05Script(t *testing.T, blocks []lab05Block) (string, []lab05Check) {
	t.Helper()
	var s strings.Builder
	s.WriteString(`set -euo pipefail
exec 3>>"$LAB05_OUT/trace"; BASH_XTRACEFD=3; set -x
__lab05_fail() { echo "lab05 test: README line $1: $2" >&2; return 1; }
__lab05_check() { # ID CMD...: check.sh, its output and exit code kept
	local id=$1 rc=0; shift
	"$@" >"$LAB05_OUT/check$id.out" 2>&1 || rc=$?
	echo "$rc" >"$LAB05_OUT/check$id.rc"
	cat "$LAB05_OUT/check$id.out"
}
`)
	var checks []lab05Check
	exitRe := regexp.MustCompile(`^(.*?);\s*echo "exit \$\?"$`)
	wantExitRe := regexp.MustCompile(`^exit (\d+)\b`)
	errorRe := regexp.MustCompile(`^\w+: .*error: .+`)
	curlRe := regexp.MustCompile(`^inst \S+ curl [^;&|]*/name$`)
	nameRe := regexp.MustCompile(`^([a-z0-9-]+)(:|$)`)
	for _, b := range blocks {
		fmt.Fprintf(&s, "echo '### README line %d (%s)'\n", b.Line, strings.ReplaceAll(b.Section, "'", ""))
		for i, line := range strings.Split(strings.TrimRight(b.Body, "\n"), "\n") {
			n := b.Line + 1 + i
			cmd, comment := lab05SplitComment(line)
			switch m := exitRe.FindStringSubmatch(cmd); {
			case m != nil && wantExitRe.MatchString(comment):
				want := wantExitRe.FindStringSubmatch(comment)[1]
				fmt.Fprintf(&s, "__rc=0; %s || __rc=$?; echo \"exit $__rc\"; [ \"$__rc\" = %s ] || __lab05_fail %d \"exits $__rc, the README says %s\"\n",
					m[1], want, n, want)
			case errorRe.MatchString(comment):
				fmt.Fprintf(&s, "__rc=0; __out=$(%s 2>&1) || __rc=$?; echo \"$__out\"; [ \"$__rc\" != 0 ] && [[ \"$__out\" == *%s* ]] || __lab05_fail %d \"exit $__rc, the README says it fails with: %s\"\n",
					cmd, lab05Quote(comment), n, strings.ReplaceAll(strings.ReplaceAll(comment, `"`, ``), "$", ""))
			case curlRe.MatchString(cmd) && nameRe.MatchString(comment):
				want := nameRe.FindStringSubmatch(comment)[1]
				fmt.Fprintf(&s, "__out=$(%s); echo \"$__out\"; [ \"$__out\" = %s ] || __lab05_fail %d \"got '$__out', the README says %s\"\n",
					cmd, want, n, want)
			case strings.HasPrefix(cmd, "labs/05-multihost/check.sh"):
				fmt.Fprintf(&s, "__lab05_check %d %s\n", len(checks), cmd)
				checks = append(checks, lab05Check{Line: n, Comment: comment})
			default:
				s.WriteString(line + "\n")
			}
		}
	}
	s.WriteString("echo '### done'\n")
	return s.String(), checks
}

// lab05SplitComment splits a shell line into its command and its trailing
// comment (a # after a blank, outside quotes).
func lab05SplitComment(line string) (cmd, comment string) {
	var quote rune
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		}
	}
	return strings.TrimSpace(line), ""
}

// lab05Quote quotes s for bash, as one word.
func lab05Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lab05Scratch makes the repository's top directory as the README sees it,
// with the binary under test: bin/vpcctl is it, scripts/ and labs/ are the
// repository's, and `make build` (first on PATH, as is vpcctl) only checks
// that bin/vpcctl is there.
func lab05Scratch(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	for _, d := range []string{"bin", "path"} {
		if err := os.Mkdir(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"scripts", "labs"} {
		abs, err := filepath.Abs(filepath.Join("..", d))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(top, d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin/vpcctl", "path/vpcctl"} {
		if err := os.Symlink(vpcctlBin, filepath.Join(top, l)); err != nil {
			t.Fatal(err)
		}
	}
	mk := "#!/bin/sh\n# the lab test's make: bin/vpcctl is the binary under test, built by TestMain\n" +
		"[ \"$*\" = build ] && [ -x bin/vpcctl ] || { echo \"lab05 test: make $*: only 'make build' here, in $PWD\" >&2; exit 2; }\n"
	if err := os.WriteFile(filepath.Join(top, "path", "make"), []byte(mk), 0o755); err != nil {
		t.Fatal(err)
	}
	return top
}

// lab05Bash runs a bash script in top (PATH: top/path first; no PREFIX or
// BIN from the environment, as in a learner's shell) with stdout and stderr
// in out/out.log, bounded in time, in a process group of its own (its id in
// *pgid; the whole group is killed at the timeout). It returns the exit code.
func lab05Bash(t *testing.T, top, out, script string, timeout time.Duration, pgid *int) int {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(out, "out.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = top
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PREFIX=") && !strings.HasPrefix(e, "BIN=") && !strings.HasPrefix(e, "PATH=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+filepath.Join(top, "path")+":"+os.Getenv("PATH")+":/usr/sbin:/sbin", "LAB05_OUT="+out)
	// A file, not a pipe: a background job of the script (an agent) may outlive it.
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if pgid != nil {
		*pgid = cmd.Process.Pid
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		fmt.Fprintf(f, "\nlab05 test: killed after %v\n", timeout)
		t.Errorf("the script did not end within %v", timeout)
		return -1
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

// lab05Cleanup runs the README's cleanup block (with the block defining on()
// first), then removes what is left, an error when the test had passed so far.
func lab05Cleanup(t *testing.T, n lab05Names, top string, funcs, cleanup lab05Block, pgid int) {
	passed := !t.Failed()
	out := t.TempDir()
	opts := "set -euo pipefail\n"
	if !passed { // whatever a failed walkthrough left: do every step
		opts = "set -uo pipefail\n"
	}
	start := time.Now()
	rc := lab05Bash(t, top, out, opts+funcs.Body+cleanup.Body, lab05CleanupTimeout, nil)
	log, _ := os.ReadFile(filepath.Join(out, "out.log"))
	t.Logf("README section 8 (Clean up): exit %d after %v\n%s", rc, time.Since(start).Round(time.Second), log)
	if rc != 0 && passed {
		t.Errorf("the README's cleanup block (line %d) fails: exit %d", cleanup.Line, rc)
	}
	report := func(format string, args ...any) {
		if passed {
			t.Errorf("left after the README's cleanup: "+format, args...)
		} else {
			t.Logf("left after the README's cleanup (the walkthrough failed): "+format, args...)
		}
	}
	// The script's own processes (background jobs; the group is killed).
	if pgid != 0 {
		if pids := lab05Group(pgid); len(pids) > 0 {
			report("processes of the script: %v", lab05Describe(pids))
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	// Agents (vpcctl on a host of the lab) and cluster members.
	for _, p := range lab05Procs(n) {
		report("process %s", lab05Describe([]int{p}))
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	time.Sleep(500 * time.Millisecond)
	for _, p := range lab05Procs(n) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	if _, err := os.Stat(n.ClusterDir); err == nil {
		_ = vpcctl(t, "cluster", "down", "--dir", n.ClusterDir)
	}
	// The hosts and instances.
	if ns := append(netnsWithPrefix(t, n.Prefix+"-"), netnsWithPrefix(t, "vpcctl."+n.Bridge+".")...); len(ns) > 0 {
		report("namespaces %v", ns)
	}
	if m, _ := filepath.Glob("/run/vpcctl-sim/" + n.Prefix + "-*"); len(m) > 0 || len(netnsWithPrefix(t, n.Prefix+"-")) > 0 {
		if out, err := simHostsCmd(2*time.Minute, "down", n.Prefix); err != nil {
			t.Errorf("cleanup: sim-hosts.sh down %s: %v\n%s", n.Prefix, err, out)
		}
	}
	for _, ns := range netnsWithPrefix(t, "vpcctl."+n.Bridge+".") {
		_ = run(t, 30*time.Second, "ip", "netns", "del", ns)
	}
	for _, f := range append(append([]string{}, n.Files...), n.ClusterDir) {
		m, _ := filepath.Glob(f)
		for _, p := range m {
			report("%s", p)
			if err := os.RemoveAll(p); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	if left := lab05Leftovers(t, n); len(left) > 0 {
		t.Errorf("cleanup: cannot remove:\n  %s", strings.Join(left, "\n  "))
	}
}

// lab05Leftovers lists what of the lab exists on this machine: namespaces,
// the hosts' run directories, agents and cluster members, the lab's files.
func lab05Leftovers(t *testing.T, n lab05Names) []string {
	t.Helper()
	var left []string
	for _, ns := range append(netnsWithPrefix(t, n.Prefix+"-"), netnsWithPrefix(t, "vpcctl."+n.Bridge+".")...) {
		left = append(left, "namespace "+ns)
	}
	m, _ := filepath.Glob("/run/vpcctl-sim/" + n.Prefix + "-*")
	for _, d := range m {
		left = append(left, "directory "+d)
	}
	for _, p := range lab05Procs(n) {
		left = append(left, "process "+lab05Describe([]int{p}))
	}
	for _, f := range append(append([]string{}, n.Files...), n.ClusterDir) {
		m, _ := filepath.Glob(f)
		for _, p := range m {
			left = append(left, "file "+p)
		}
	}
	return left
}

// lab05Procs lists the processes working for the lab: whatever names a host's
// run directory (/run/vpcctl-sim/PREFIX-hK: agents, the hosts' OVS) or the
// cluster's directory (its members, clients) on its command line, and the
// workloads (their working directory is in a lab directory, such as
// /tmp/vpcctl-lab05/red-web1, deleted or not).
func lab05Procs(n lab05Names) []int {
	var dirs []string
	for _, f := range n.Files {
		if !strings.ContainsAny(f, "*?[") {
			dirs = append(dirs, f)
		}
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if bytes.Contains(cl, []byte("/run/vpcctl-sim/"+n.Prefix+"-")) || bytes.Contains(cl, []byte(n.ClusterDir+"/")) {
			pids = append(pids, pid)
			continue
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		cwd = strings.TrimSuffix(cwd, " (deleted)")
		for _, d := range dirs {
			if cwd == d || strings.HasPrefix(cwd, d+"/") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// lab05Group lists the live processes of a process group.
func lab05Group(pgid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold blanks, cut at the last ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// lab05Describe is "PID: command line" for each pid.
func lab05Describe(pids []int) string {
	var s []string
	for _, p := range pids {
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		s = append(s, fmt.Sprintf("%d: %s", p, strings.TrimSpace(string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '})))))
	}
	return strings.Join(s, "; ")
}

// lab05Tail is the last n lines of s.
func lab05Tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// nsInode is what `readlink /proc/self/ns/net` prints inside ns.
func nsInode(t *testing.T, ns string) string {
	t.Helper()
	id, err := namespaceID(ns)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("net:[%d]", id.ino)
}

func TestCommand(t *testing.T) {
	requireRoot(t)
	br := testBridge(t)
	ns := newNamespace(t, br, "a")

	out, err := Command(ns, []string{"readlink", "/proc/self/ns/net"}).Output()
	if err != nil || strings.TrimSpace(string(out)) != nsInode(t, ns) {
		t.Fatalf("child namespace %q (%v), want %s", out, err, nsInode(t, ns))
	}
	// The caller's own namespace did not change.
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	if self == nsInode(t, ns) {
		t.Fatal("calling thread left in the namespace")
	}

	err = Command(ns, []string{"sh", "-c", "echo oops >&2; exit 7"}).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit code: %v", err)
	}
	_, err = Command(ns, []string{"sh", "-c", "echo oops >&2; exit 3"}).Output()
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || string(ee.Stderr) != "oops\n" {
		t.Fatalf("Output error: %v", err)
	}
	if err := Command(ns, []string{"no-such-command-vpcctl"}).Run(); err == nil {
		t.Fatal("missing command ran")
	}
	if err := Command("vpcctl.nope.nope", []string{"true"}).Run(); err == nil {
		t.Fatal("missing namespace accepted")
	}
	if code, err := Run(ns, []string{"sh", "-c", "exit 5"}); err != nil || code != 5 {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if _, err := Run(ns, []string{"no-such-command-vpcctl"}); err == nil {
		t.Fatal("Run of a missing command: no error")
	}
	b, err := Command(ns, []string{"sh", "-c", "ip -o link | wc -l"}).CombinedOutput()
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("links seen inside: %q, %v", b, err)
	}
}

// Exec replaces the process: run the test binary as a child that Execs.
func TestExec(t *testing.T) {
	requireRoot(t)
	if ns := os.Getenv("VPCCTL_TEST_EXEC_IN"); ns != "" {
		err := Exec(ns, []string{"sh", "-c", "readlink /proc/self/ns/net; exit 42"})
		fmt.Println("Exec returned:", err)
		os.Exit(1)
	}
	br := testBridge(t)
	ns := newNamespace(t, br, "a")
	child := exec.Command(os.Args[0], "-test.run=^TestExec$", "-test.count=1")
	child.Env = append(os.Environ(), "VPCCTL_TEST_EXEC_IN="+ns)
	out, err := child.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Fatalf("exit code: %v, output %q", err, out)
	}
	if strings.TrimSpace(string(out)) != nsInode(t, ns) {
		t.Fatalf("exec'd command ran in %q, want %s", out, nsInode(t, ns))
	}
	if err := Exec(ns, []string{"no-such-command-vpcctl"}); err == nil {
		t.Fatal("Exec of a missing command returned nil")
	}
}

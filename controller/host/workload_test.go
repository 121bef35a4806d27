package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func curl(ns, url string) error {
	out, err := Command(ns, []string{"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2", url}).Output()
	if err != nil {
		return err
	}
	if string(out) != "200" {
		return fmt.Errorf("HTTP %s", out)
	}
	return nil
}

func pidAlive(pid int) bool {
	p, err := readProc(pid)
	return err == nil && p.live()
}

func TestWorkload(t *testing.T) {
	requireRoot(t)
	br, a, b, _ := twoInstances(t)
	ip := b.Addr.Addr().String()

	changed, err := EnsureWorkload(br, b.Namespace, "b", "exec python3 -m http.server 8080")
	pid, running := WorkloadRunning(b.Namespace, "b")
	if err != nil || !changed || !running {
		t.Fatalf("EnsureWorkload = %v, %v; running %v", changed, err, running)
	}
	if err := eventually(10*time.Second, func() error { return curl(a.Namespace, "http://"+ip+":8080/") }); err != nil {
		t.Fatalf("curl a -> b:8080: %v", err)
	}
	// It really runs in b: `ip netns pids` agrees.
	if pids := tool(t, "ip", "netns", "pids", b.Namespace); !strings.Contains(pids, strconv.Itoa(pid)) {
		t.Errorf("ip netns pids %s = %q, want %d", b.Namespace, pids, pid)
	}
	if got, cmd, ok := WorkloadInfo(br, "b"); !ok || got != pid || cmd != "exec python3 -m http.server 8080" {
		t.Errorf("WorkloadInfo = %d, %q, %v", got, cmd, ok)
	}
	state, err := os.ReadFile(workloadStateRoot + "/" + br + "/b.run")
	if err != nil || !strings.Contains(string(state), "http.server 8080") || !strings.Contains(string(state), strconv.Itoa(pid)) {
		t.Errorf("state file: %s, %v", state, err)
	}
	log, _ := os.ReadFile(DefaultWorkloadLog(b.Namespace, "b"))
	if !strings.Contains(string(log), "GET / HTTP") {
		t.Errorf("the log does not have the request:\n%s", log)
	}

	// Python's http.server --bind IP costs ~6 s here: server_bind does a
	// reverse DNS lookup that times out in an isolated namespace.

	// Same command: nothing happens.
	changed, err = EnsureWorkload(br, b.Namespace, "b", "exec python3 -m http.server 8080")
	if pid2, _ := WorkloadRunning(b.Namespace, "b"); err != nil || changed || pid2 != pid {
		t.Fatalf("EnsureWorkload again = %v, %v; want no change, pid %d", changed, err, pid)
	}

	// A changed command replaces the old one. This one keeps sh as the
	// parent of python: stopping must take the whole process group.
	const cmd8081 = "python3 -m http.server 8081 || exit 1"
	pid3, changed, err := ensureWorkload(b.Namespace, "b", cmd8081, "")
	if err != nil || !changed || pid3 == pid {
		t.Fatalf("EnsureWorkload new command = %d, %v, %v", pid3, changed, err)
	}
	if pidAlive(pid) {
		t.Errorf("old workload %d still runs", pid)
	}
	if err := eventually(10*time.Second, func() error { return curl(a.Namespace, "http://"+ip+":8081/") }); err != nil {
		t.Fatalf("curl :8081: %v", err)
	}

	// An exited workload is started again.
	if err := stopRecorded(workloadState{Namespace: b.Namespace, PID: pid3}); err != nil {
		t.Fatal(err)
	}
	if pids := tool(t, "ip", "netns", "pids", b.Namespace); pids != "" {
		t.Fatalf("processes left after stopping the group: %s", pids)
	}
	pid4, changed, err := ensureWorkload(b.Namespace, "b", cmd8081, "")
	if err != nil || !changed || pid4 == pid3 {
		t.Fatalf("EnsureWorkload after exit = %d, %v, %v", pid4, changed, err)
	}

	// A process started some other way in the namespace is found too.
	stray := Command(b.Namespace, []string{"sleep", "60"})
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	go stray.Wait()

	if err := StopWorkloads(b.Namespace); err != nil {
		t.Fatal(err)
	}
	if _, ok := WorkloadRunning(b.Namespace, "b"); ok {
		t.Error("still running after StopWorkloads")
	}
	for _, p := range []int{pid4, stray.Process.Pid} {
		if pidAlive(p) {
			t.Errorf("pid %d survived StopWorkloads", p)
		}
	}
	if pids := tool(t, "ip", "netns", "pids", b.Namespace); pids != "" {
		t.Errorf("processes left in %s: %s", b.Namespace, pids)
	}
	if _, err := os.Stat(workloadStateRoot + "/" + br + "/b.run"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left: %v", err)
	}
	if err := RemoveBridgeState(br); err != nil {
		t.Error(err)
	}
}

// A workload outlives the process that started it (vpcctl apply exits), and
// a later process recognises it.
func TestWorkloadSurvivesStarter(t *testing.T) {
	requireRoot(t)
	if ns := os.Getenv("VPCCTL_TEST_START_IN"); ns != "" {
		// Child: start and exit at once.
		if _, err := StartWorkload(ns, "a", "sleep 60", ""); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	br := testBridge(t)
	ns := newNamespace(t, br, "a")
	child := exec.Command(os.Args[0], "-test.run=^TestWorkloadSurvivesStarter$", "-test.count=1")
	child.Env = append(os.Environ(), "VPCCTL_TEST_START_IN="+ns)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("starter: %v: %s", err, out)
	}
	pid, ok := WorkloadRunning(ns, "a")
	if !ok {
		t.Fatal("workload did not survive its starter")
	}
	if changed, err := EnsureWorkload(br, ns, "a", "sleep 60"); err != nil || changed {
		t.Fatalf("EnsureWorkload from another process = %v, %v; want no change", changed, err)
	}
	if _, err := EnsureWorkload("other", ns, "a", "sleep 60"); err == nil {
		t.Error("EnsureWorkload accepted a namespace of another bridge")
	}
	if err := DeleteNamespace(ns); err != nil { // stops it too
		t.Fatal(err)
	}
	if pidAlive(pid) {
		t.Errorf("workload %d survived DeleteNamespace", pid)
	}
}

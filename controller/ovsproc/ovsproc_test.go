package ovsproc

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tempOptions puts a private OVS in a short temp dir (unix socket paths are
// limited to 108 bytes), clear of any other OVS on the machine, and makes
// sure its daemons are stopped at the end even if the test fails.
func tempOptions(t *testing.T) Options {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, b := range []string{"ovsdb-tool", ovsdbServer, ovsVswitchd} {
		if _, err := binary(b); err != nil {
			t.Skip(err)
		}
	}
	dir, err := os.MkdirTemp("", "ovsp")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		RunDir: filepath.Join(dir, "run"),
		DBDir:  filepath.Join(dir, "db"),
		LogDir: filepath.Join(dir, "log"),
	}
	t.Cleanup(func() {
		if _, err := Down(context.Background(), o); err != nil {
			t.Errorf("cleanup Down: %v", err)
		}
		if t.Failed() {
			for _, l := range []string{ovsdbServer, ovsVswitchd} {
				b, _ := os.ReadFile(filepath.Join(o.LogDir, l+".log"))
				t.Logf("%s.log:\n%s", l, b)
			}
		}
		os.RemoveAll(dir)
	})
	return o
}

func ovsTool(t *testing.T, o Options, name string, args ...string) string {
	t.Helper()
	path, err := binary(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+o.RunDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestUpDown(t *testing.T) {
	o := tempOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if st := Running(o); st.OVSDBPid != 0 || st.VswitchdPid != 0 {
		t.Fatalf("fresh dir reports running: %+v", st)
	}
	st, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.AlreadyRunning || !slices.Equal(st.Started, []string{ovsdbServer, ovsVswitchd}) ||
		st.OVSDBPid == 0 || st.VswitchdPid == 0 || !st.UserspaceTSO {
		t.Fatalf("first Up: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(o.DBDir, "conf.db")); err != nil {
		t.Fatalf("conf.db not created: %v", err)
	}

	// What the brief asks to see, with the stock tools.
	oc := ovsTool(t, o, "ovs-vsctl", "--db=unix:"+o.RunDir+"/db.sock", "get", "Open_vSwitch", ".", "other_config")
	if !strings.Contains(oc, `userspace-tso-enable="true"`) {
		t.Errorf("other_config = %s", oc)
	}
	ctl := filepath.Join(o.RunDir, "ovs-vswitchd."+strconv.Itoa(st.VswitchdPid)+".ctl")
	if v := ovsTool(t, o, "ovs-appctl", "-t", ctl, "version"); !strings.Contains(v, "ovs-vswitchd") {
		t.Errorf("ovs-appctl version = %q", v)
	}
	log, _ := os.ReadFile(filepath.Join(o.LogDir, "ovs-vswitchd.log"))
	if !strings.Contains(string(log), "Userspace TCP Segmentation Offloading support enabled") {
		t.Errorf("ovs-vswitchd did not enable userspace TSO; log:\n%s", log)
	}

	if s := st.String(); !strings.Contains(s, "started ovsdb-server, ovs-vswitchd") || strings.Contains(s, "WARNING") {
		t.Errorf("String() = %q", s)
	}

	// Up again: nothing to do.
	st2, err := Up(ctx, o)
	if err != nil || !st2.AlreadyRunning || len(st2.Started) != 0 ||
		st2.OVSDBPid != st.OVSDBPid || st2.VswitchdPid != st.VswitchdPid {
		t.Fatalf("second Up: %+v, %v", st2, err)
	}

	// ovs-vswitchd dies: Up restarts only it, against the same ovsdb-server.
	if err := stopDaemon(o.withDefaults(), ovsVswitchd, st.VswitchdPid); err != nil {
		t.Fatal(err)
	}
	st3, err := Up(ctx, o)
	if err != nil || !slices.Equal(st3.Started, []string{ovsVswitchd}) || st3.OVSDBPid != st.OVSDBPid {
		t.Fatalf("Up after vswitchd stop: %+v, %v", st3, err)
	}

	down, err := Down(ctx, o)
	if err != nil || !slices.Equal(down.Stopped, []string{ovsVswitchd, ovsdbServer}) {
		t.Fatalf("Down: %+v, %v", down, err)
	}
	for _, pid := range []int{st.OVSDBPid, st3.VswitchdPid} {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil && (IsDaemon(pid, ovsdbServer) || IsDaemon(pid, ovsVswitchd)) {
			t.Errorf("pid %d still runs after Down", pid)
		}
	}
	if st := Running(o); st.OVSDBPid != 0 || st.VswitchdPid != 0 {
		t.Errorf("Running after Down: %+v", st)
	}
	for _, f := range []string{"db.sock", "ovsdb-server.pid", "ovs-vswitchd.pid", "vpcctl-ovsproc.json"} {
		if _, err := os.Stat(filepath.Join(o.RunDir, f)); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
	// Down again: nothing to stop, no error.
	if st, err := Down(ctx, o); err != nil || len(st.Stopped) != 0 {
		t.Errorf("second Down: %+v, %v", st, err)
	}

	// The database survives: Up again reuses it.
	st4, err := Up(ctx, o)
	if err != nil || !st4.UserspaceTSO || len(st4.Started) != 2 {
		t.Fatalf("Up after Down: %+v, %v", st4, err)
	}
}

// Down must not stop an OVS it did not start (here: no marker for the pids).
func TestDownLeavesForeignDaemons(t *testing.T) {
	o := tempOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(o.RunDir, "vpcctl-ovsproc.json")
	saved, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(marker)
	down, err := Down(ctx, o)
	if err != nil || len(down.Stopped) != 0 || len(down.NotOurs) != 2 {
		t.Fatalf("Down without marker: %+v, %v", down, err)
	}
	if r := Running(o); r.OVSDBPid != st.OVSDBPid || r.VswitchdPid != st.VswitchdPid {
		t.Fatalf("foreign daemons were touched: %+v", r)
	}
	// Put the marker back so the cleanup stops them.
	if err := os.WriteFile(marker, saved, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOVSMapRoundTrip(t *testing.T) {
	raw := map[string]json.RawMessage{
		"other_config": json.RawMessage(`["map",[["a","1"],["userspace-tso-enable","true"]]]`),
	}
	if got := otherConfig(raw); got["userspace-tso-enable"] != "true" || got["a"] != "1" {
		t.Fatalf("otherConfig = %v", got)
	}
}

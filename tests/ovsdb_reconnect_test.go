package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/ovsdb"
)

// privateOVSDB is an ovsdb-server of the test's own (no ovs-vswitchd): its
// restarts disturb nobody.
type privateOVSDB struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *privateOVSDB) sock() string { return filepath.Join(p.dir, "db.sock") }
func (p *privateOVSDB) db() string   { return filepath.Join(p.dir, "conf.db") }

// create makes a fresh database (replacing any).
func (p *privateOVSDB) create() {
	p.t.Helper()
	os.Remove(p.db())
	if r := run(p.t, 10*time.Second, "ovsdb-tool", "create", p.db(), "/usr/share/openvswitch/vswitch.ovsschema"); r.Code != 0 {
		p.t.Fatalf("ovsdb-tool create: %s", r.Stderr)
	}
}

// start runs ovsdb-server in the foreground (a child of the test) and waits
// until it answers.
func (p *privateOVSDB) start() {
	p.t.Helper()
	p.cmd = exec.Command("ovsdb-server", p.db(), "--remote=punix:"+p.sock(),
		"--unixctl="+filepath.Join(p.dir, "ovsdb-server.ctl"), "--no-chdir",
		"--log-file="+filepath.Join(p.dir, "ovsdb-server.log"), "-vconsole:off")
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(p.cmd, p.done)
	for i := 0; i < 100; i++ {
		if p.vsctl("--no-wait", "get", "open_vswitch", ".", "_uuid").Code == 0 || p.vsctl("--no-wait", "init").Code == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatal("private ovsdb-server does not answer after 5 s")
}

// kill9 kills ovsdb-server and waits (bounded) until it is gone.
func (p *privateOVSDB) kill9() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatal("ovsdb-server still running 10 s after SIGKILL")
	}
}

func (p *privateOVSDB) vsctl(args ...string) result {
	p.t.Helper()
	return run(p.t, 10*time.Second, "ovs-vsctl", append([]string{"--db=unix:" + p.sock(), "--timeout=5"}, args...)...)
}

// eventually polls f (every 50 ms, at most 15 s).
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOVSDBClientSurvivesServerRestart: one ovsdb.Client (as the daemon
// keeps for its life) goes on working across ovsdb-server restarts: after a
// kill -9 and restart on the same database its cache follows changes made
// by others and its writes work; after a restart on a database made afresh
// too, and WaitApplied does not wait for the old database's next_cfg.
func TestOVSDBClientSurvivesServerRestart(t *testing.T) {
	p := &privateOVSDB{t: t, dir: t.TempDir()}
	p.create()
	p.start()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.kill9()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := ovsdb.Connect(ctx, "unix:"+p.sock())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetOpenvSwitchOtherConfig(ctx, "vpcctl-test", "1"); err != nil {
		t.Fatal(err)
	}
	// Pretend to be ovs-vswitchd: it has applied everything (cur_cfg = next_cfg).
	applied := func() {
		t.Helper()
		next := strings.TrimSpace(p.vsctl("--no-wait", "get", "open_vswitch", ".", "next_cfg").Stdout)
		if r := p.vsctl("--no-wait", "set", "open_vswitch", ".", "cur_cfg="+next); r.Code != 0 {
			t.Fatalf("set cur_cfg: %s", r.Stderr)
		}
	}
	p.vsctl("--no-wait", "set", "open_vswitch", ".", "next_cfg=100")
	if err := c.SetOpenvSwitchOtherConfig(ctx, "vpcctl-test", "2"); err != nil { // next_cfg 101
		t.Fatal(err)
	}
	applied()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	if err := c.WaitApplied(wctx); err != nil {
		t.Fatalf("WaitApplied before the restarts: %v", err)
	}
	wcancel()

	bridges := func() []string {
		brs, err := c.ListBridges(ctx)
		if err != nil {
			return nil
		}
		var names []string
		for _, b := range brs {
			names = append(names, b.Name)
		}
		return names
	}

	// 1. kill -9 and restart on the same database.
	p.kill9()
	p.start()
	// (ListBridges lists vpcctl's bridges only.)
	if r := p.vsctl("--no-wait", "add-br", "rc1", "--", "br-set-external-id", "rc1", "vpcctl-owner", "vpcctl"); r.Code != 0 {
		t.Fatalf("add-br: %s", r.Stderr)
	}
	eventually(t, "the client's cache shows a bridge added after the restart", func() bool {
		return slices.Contains(bridges(), "rc1")
	})
	eventually(t, "a write after the restart", func() bool {
		return c.SetOpenvSwitchOtherConfig(ctx, "vpcctl-test", "3") == nil
	})
	if got := strings.TrimSpace(p.vsctl("--no-wait", "get", "open_vswitch", ".", "other_config:vpcctl-test").Stdout); got != `"3"` {
		t.Fatalf("other_config:vpcctl-test = %s after the write, want \"3\"", got)
	}

	// 2. kill -9, a fresh database, restart: next_cfg counts from 0 again.
	p.kill9()
	p.create()
	p.start()
	eventually(t, "the client's cache forgets the old database's bridge", func() bool {
		return !slices.Contains(bridges(), "rc1")
	})
	eventually(t, "a write to the new database", func() bool {
		return c.SetOpenvSwitchOtherConfig(ctx, "vpcctl-test", "4") == nil
	})
	applied()
	wctx, wcancel = context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := c.WaitApplied(wctx); err != nil {
		t.Fatalf("WaitApplied on the new database: %v", err)
	}
}

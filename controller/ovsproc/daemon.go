package ovsproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	ovsdbServer = "ovsdb-server"
	ovsVswitchd = "ovs-vswitchd"
)

func (o Options) pidfile(daemon string) string { return filepath.Join(o.RunDir, daemon+".pid") }

// ctlPath is a daemon's unixctl socket: <rundir>/<daemon>.<pid>.ctl, the
// OVS default when OVS_RUNDIR is the run directory.
func (o Options) ctlPath(daemon string, pid int) string {
	return filepath.Join(o.RunDir, fmt.Sprintf("%s.%d.ctl", daemon, pid))
}

// runningPid is the pid in the daemon's pidfile if that process is alive and
// really is the daemon (a stale pidfile's pid may have been reused), else 0.
func runningPid(o Options, daemon string) int {
	b, err := os.ReadFile(o.pidfile(daemon))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !IsDaemon(pid, daemon) {
		return 0
	}
	return pid
}

// IsDaemon says whether pid is a live (not exited, not a zombie) process
// named daemon (ovsdb-server, ovs-vswitchd).
func IsDaemon(pid int, daemon string) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != daemon {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// binary finds an OVS program: root's PATH has /usr/sbin, a test's may not.
func binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: is openvswitch-switch installed?", name)
}

// runOVS runs an OVS program to completion (daemons with --detach return
// once the daemon is ready) with the run/log/db directories in its
// environment, so that defaults such as the unixctl socket path follow them.
func runOVS(ctx context.Context, o Options, name string, args ...string) (string, error) {
	path, err := binary(name)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(),
		"OVS_RUNDIR="+o.RunDir, "OVS_LOGDIR="+o.LogDir, "OVS_DBDIR="+o.DBDir)
	cmd.Dir = "/"
	// A detached daemon closes its inherited stdio once ready; do not hang
	// on it for long if it does not.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// stopDaemon sends SIGTERM (OVS then removes its pidfile and sockets),
// waits up to 5 s, then SIGKILLs and removes the leftovers itself.
func stopDaemon(o Options, daemon string, pid int) error {
	gone := func() bool { return !IsDaemon(pid, daemon) }
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitDuration(gone, 5*time.Second) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitDuration(gone, 2*time.Second) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", daemon, pid)
	}
	leftovers := []string{o.pidfile(daemon), o.ctlPath(daemon, pid)}
	if daemon == ovsdbServer {
		leftovers = append(leftovers, o.socketPath())
	}
	for _, f := range leftovers {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Run runs an OVS program (ovsdb-tool, ovs-appctl, a daemon with --detach)
// to completion, with OVS_RUNDIR, OVS_LOGDIR and OVS_DBDIR set to dir: for
// callers that run OVS programs of their own (the VPCctl cluster).
func Run(ctx context.Context, dir, name string, args ...string) (string, error) {
	return runOVS(ctx, Options{RunDir: dir, LogDir: dir, DBDir: dir}, name, args...)
}

// WaitFor polls cond every 50 ms until it holds or ctx ends.
func WaitFor(ctx context.Context, what string, cond func() bool) error {
	return waitFor(ctx, what, cond)
}

// WaitDuration is WaitFor for at most d; it reports whether cond held.
func WaitDuration(cond func() bool, d time.Duration) bool { return waitDuration(cond, d) }

func waitDuration(cond func() bool, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return waitFor(ctx, "", cond) == nil
}

// marker records which daemons (by pid) Up started, so that Down stops those
// and nothing else: a system OVS uses the same pidfiles.
type marker map[string]int

func readMarker(o Options) marker {
	m := marker{}
	if b, err := os.ReadFile(o.markerPath()); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func (m marker) write(o Options) error {
	if len(m) == 0 {
		if err := os.Remove(o.markerPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := o.markerPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, o.markerPath())
}

package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Where workload state and logs live: /run is wiped at boot, as are the
// namespaces the workloads run in; logs are kept.
const (
	workloadStateRoot = "/run/vpcctl"
	workloadLogRoot   = "/var/log/vpcctl"
)

// workloadState is the <name>.run file: enough to recognise the process
// later (pid + start time guard against pid reuse) and to tell whether the
// `run` line changed.
type workloadState struct {
	Namespace string `json:"namespace"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	Cmdline   string `json:"cmdline"`
	Log       string `json:"log"`
}

func workloadStatePath(ns, name string) (string, error) {
	bridge, _, ok := ParseNamespaceName(ns)
	if !ok {
		return "", fmt.Errorf("%q is not a vpcctl namespace", ns)
	}
	if name == "" || strings.ContainsAny(name, "/.") {
		return "", fmt.Errorf("invalid workload name %q", name)
	}
	return filepath.Join(workloadStateRoot, bridge, name+".run"), nil
}

// DefaultWorkloadLog is /var/log/vpcctl/<bridge>/<name>.log.
func DefaultWorkloadLog(ns, name string) string {
	bridge, _, _ := ParseNamespaceName(ns)
	return filepath.Join(workloadLogRoot, bridge, name+".log")
}

func readWorkloadState(path string) (workloadState, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return workloadState{}, false
	}
	var st workloadState
	if json.Unmarshal(b, &st) != nil || st.PID <= 0 {
		return workloadState{}, false
	}
	return st, true
}

// running reports whether the recorded process still exists: same pid, same
// start time, not a zombie, still in the namespace.
func (st workloadState) running() bool {
	p, err := readProc(st.PID)
	if err != nil || !p.live() || p.startTime != st.StartTime {
		return false
	}
	want, err1 := namespaceID(st.Namespace)
	got, err2 := pidNamespace(st.PID)
	return err1 == nil && err2 == nil && want == got
}

// StartWorkload makes `sh -c cmdline` run in the namespace as workload name
// and returns its pid; see EnsureWorkload. logPath "" = DefaultWorkloadLog.
func StartWorkload(ns, name, cmdline, logPath string) (pid int, err error) {
	pid, _, err = ensureWorkload(ns, name, cmdline, logPath)
	return pid, err
}

// EnsureWorkload makes `sh -c run` run inside the namespace ns of bridge as
// workload name, detached from vpcctl (own session, stdin /dev/null, stdout
// and stderr appended to DefaultWorkloadLog, cwd /) so it outlives vpcctl.
// If the same command already runs it does nothing (changed false). A
// different command replaces the running one; one that exited is started
// again; an empty run stops the workload.
func EnsureWorkload(bridge, ns, name, run string) (changed bool, err error) {
	if b, _, ok := ParseNamespaceName(ns); !ok || b != bridge {
		return false, fmt.Errorf("namespace %q is not one of bridge %q", ns, bridge)
	}
	_, changed, err = ensureWorkload(ns, name, run, "")
	return changed, err
}

func ensureWorkload(ns, name, cmdline, logPath string) (pid int, changed bool, err error) {
	statePath, err := workloadStatePath(ns, name)
	if err != nil {
		return 0, false, err
	}
	if logPath == "" {
		logPath = DefaultWorkloadLog(ns, name)
	}
	st, ok := readWorkloadState(statePath)
	if ok && st.Namespace == ns && st.running() {
		if st.Cmdline == cmdline {
			return st.PID, false, nil
		}
		if err := stopRecorded(st); err != nil {
			return 0, true, err
		}
		changed = true
	}
	if cmdline == "" {
		if err := removeIfExists(statePath); err != nil {
			return 0, changed, err
		}
		return 0, changed || ok, nil
	}
	st, err = startWorkload(ns, cmdline, logPath)
	if err != nil {
		return 0, true, err
	}
	if err := writeWorkloadState(statePath, st); err != nil {
		return st.PID, true, err
	}
	return st.PID, true, nil
}

func startWorkload(ns, cmdline, logPath string) (workloadState, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return workloadState{}, err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return workloadState{}, err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== %s vpcctl: starting in %s: %s\n", time.Now().Format(time.RFC3339), ns, cmdline)

	cmd := Command(ns, []string{"/bin/sh", "-c", cmdline})
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf // *os.File: passed as is, no copying goroutine tied to vpcctl
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return workloadState{}, fmt.Errorf("start workload in %s: %w", ns, err)
	}
	// Reap it if it ends while vpcctl still runs; once vpcctl exits, init
	// inherits it.
	go func() { _ = cmd.Wait() }()
	p, err := readProc(cmd.Process.Pid)
	if err != nil {
		return workloadState{}, fmt.Errorf("workload exited at once (see %s): %w", logPath, err)
	}
	return workloadState{Namespace: ns, PID: cmd.Process.Pid, StartTime: p.startTime, Cmdline: cmdline, Log: logPath}, nil
}

func writeWorkloadState(path string, st workloadState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	// Write then rename, so a crash never leaves a half-written state file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// stopRecorded stops the workload's process group (it is a session leader,
// so its children share its group) within the namespace.
func stopRecorded(st workloadState) error {
	id, err := namespaceID(st.Namespace)
	if err != nil {
		return err
	}
	inNS := inNamespaceMatch(id)
	_, err = terminate(func(pid int, p procInfo) bool { return p.pgrp == st.PID && inNS(pid, p) })
	return err
}

// WorkloadRunning reports whether the workload recorded for name runs.
func WorkloadRunning(ns, name string) (pid int, running bool) {
	path, err := workloadStatePath(ns, name)
	if err != nil {
		return 0, false
	}
	st, ok := readWorkloadState(path)
	if !ok || st.Namespace != ns || !st.running() {
		return 0, false
	}
	return st.PID, true
}

// StopWorkload stops the one workload recorded for name and forgets it.
func StopWorkload(ns, name string) error {
	_, _, err := ensureWorkload(ns, name, "", "")
	return err
}

// WorkloadInfo returns the running workload recorded for instance name of
// bridge: its pid and command line.
func WorkloadInfo(bridge, name string) (pid int, cmdline string, ok bool) {
	ns := NamespaceName(bridge, name)
	path, err := workloadStatePath(ns, name)
	if err != nil {
		return 0, "", false
	}
	st, found := readWorkloadState(path)
	if !found || st.Namespace != ns || !st.running() {
		return 0, "", false
	}
	return st.PID, st.Cmdline, true
}

// RemoveBridgeState forgets every workload record of a bridge (after its
// namespaces are gone). Logs are kept.
func RemoveBridgeState(bridge string) error {
	if bridge == "" || strings.ContainsAny(bridge, "/.") {
		return fmt.Errorf("invalid bridge name %q", bridge)
	}
	return os.RemoveAll(filepath.Join(workloadStateRoot, bridge))
}

// StopWorkloads stops every process in the namespace, recorded or not (like
// `ip netns pids`, then kill): SIGTERM, a grace period, SIGKILL. It forgets
// the namespace's workload records.
func StopWorkloads(ns string) error {
	id, err := namespaceID(ns)
	if errors.Is(err, fs.ErrNotExist) {
		return forgetWorkloads(ns)
	}
	if err != nil {
		return err
	}
	_, err = terminate(inNamespaceMatch(id))
	return errors.Join(err, forgetWorkloads(ns))
}

// forgetWorkloads removes the state files that belong to ns.
func forgetWorkloads(ns string) error {
	bridge, _, ok := ParseNamespaceName(ns)
	if !ok {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(workloadStateRoot, bridge, "*.run"))
	var errs []error
	for _, f := range files {
		if st, ok := readWorkloadState(f); ok && st.Namespace == ns {
			errs = append(errs, removeIfExists(f))
		}
	}
	_ = os.Remove(filepath.Join(workloadStateRoot, bridge)) // only if now empty
	return errors.Join(errs...)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

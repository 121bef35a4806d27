package host

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procInfo is what vpcctl needs from /proc/PID/stat.
type procInfo struct {
	state     byte   // R, S, D, Z, ...
	pgrp      int    // process group
	startTime uint64 // clock ticks since boot: with the pid, identifies a process
}

func (p procInfo) live() bool { return p.state != 'Z' && p.state != 'X' }

func readProc(pid int) (procInfo, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	// comm (field 2) is in parentheses and may itself contain spaces and
	// parentheses: the fields we want come after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procInfo{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	pgrp, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64) // field 22
	if err := errors.Join(err1, err2); err != nil {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return procInfo{state: f[0][0], pgrp: pgrp, startTime: start}, nil
}

// nsID identifies a namespace by the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{uint64(st.Dev), st.Ino}, nil
}

func namespaceID(ns string) (nsID, error) {
	if err := checkNamespaceName(ns); err != nil {
		return nsID{}, err
	}
	return statNS(namespacePath(ns))
}

func pidNamespace(pid int) (nsID, error) {
	return statNS("/proc/" + strconv.Itoa(pid) + "/ns/net")
}

// livePids lists the live processes (not zombies) for which match is true,
// other than vpcctl itself.
func livePids(match func(pid int, p procInfo) bool) []int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		p, err := readProc(pid)
		if err != nil || !p.live() {
			continue // gone meanwhile, or a zombie: nothing left to stop
		}
		if match(pid, p) {
			out = append(out, pid)
		}
	}
	return out
}

// inNamespaceMatch matches processes whose network namespace is id, as `ip
// netns pids` does.
func inNamespaceMatch(id nsID) func(int, procInfo) bool {
	return func(pid int, _ procInfo) bool {
		got, err := pidNamespace(pid)
		return err == nil && got == id
	}
}

// Bounds of terminate: a workload gets this long to exit on SIGTERM before
// SIGKILL, and SIGKILL this long to take effect.
const (
	termGrace = 3 * time.Second
	killGrace = 2 * time.Second
	pollEvery = 50 * time.Millisecond
)

// terminate sends SIGTERM to every matching process, waits up to termGrace,
// then SIGKILLs the survivors and waits up to killGrace. It returns how many
// it signalled and an error if some survive even SIGKILL.
func terminate(match func(int, procInfo) bool) (int, error) {
	pids := livePids(match)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM) // ESRCH: already gone
	}
	if waitNone(match, termGrace) {
		return len(pids), nil
	}
	for _, pid := range livePids(match) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if waitNone(match, killGrace) {
		return len(pids), nil
	}
	return len(pids), fmt.Errorf("processes %v survived SIGKILL", livePids(match))
}

func waitNone(match func(int, procInfo) bool, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(pollEvery) {
		if len(livePids(match)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

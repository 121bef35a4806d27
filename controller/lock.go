package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vpcctl/vpcctl/flows/ofconn"
)

// lockWait bounds how long an apply waits for another one on the same bridge.
const lockWait = 2 * time.Minute

// bridgeLock serializes the commands that change one bridge (apply, the
// daemon's applies, destroy): two at once would race on the same veths and
// namespaces. It is an flock(2) on <rundir>/vpcctl-<bridge>.lock, so it goes
// away with the process that held it, even when that one was killed.
type bridgeLock struct{ f *os.File }

// lockBridge takes the bridge's lock, waiting (at most lockWait, and logging
// once that it waits) while another vpcctl holds it.
func lockBridge(ctx context.Context, o Options, bridge string) (*bridgeLock, error) {
	if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(o.RunDir, "vpcctl-"+bridge+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock of bridge %s: %w", bridge, err)
	}
	deadline := time.Now().Add(lockWait)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &bridgeLock{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock of bridge %s (%s): %w", bridge, path, err)
		}
		if !logged {
			o.Log.Info("another vpcctl is changing this bridge; waiting for it", "bridge", bridge, "lock", path)
			logged = true
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another vpcctl has been changing bridge %s for over %v (lock %s held); try again when it is done", bridge, lockWait, path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another vpcctl on bridge %s: %w", bridge, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *bridgeLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the last descriptor releases the flock
	}
}

// dialBridge opens an OpenFlow session to the bridge's management socket.
// ovs-vswitchd makes that socket when it has taken the new bridge in, some
// time after the OVSDB transaction that created it: until then (no such
// file, or nobody listening yet) it is retried, for at most 10 s.
func dialBridge(ctx context.Context, o Options, bridge string) (*ofconn.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		conn, err := ofconn.Dial(ctx, o.mgmtTarget(bridge))
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (ovs-vswitchd has not opened the bridge's management socket)", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

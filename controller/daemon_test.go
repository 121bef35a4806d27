package controller

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	for failures, want := range map[int]time.Duration{
		1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 7: 30 * time.Second, 100: 30 * time.Second,
	} {
		if got := retryDelay(failures); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", failures, got, want)
		}
	}
}

func TestDropMessage(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(dropMessage{slog.NewTextHandler(&buf, nil), "applied"}).With("bridge", "b")
	log.Info("applied", "x", 1)
	log.Info("removed port", "port", "p")
	log.Handler().Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "applied", 0))
	out := buf.String()
	if strings.Contains(out, "msg=applied") || !strings.Contains(out, `msg="removed port" bridge=b port=p`) {
		t.Errorf("output:\n%s", out)
	}
}

func TestDaemonTarget(t *testing.T) {
	o := Options{OVSDB: "unix:/run/ovs/db.sock"}
	if got, want := DaemonTarget(o, "br0"), "unix:/run/ovs/vpcctl-br0.sock"; got != want {
		t.Errorf("DaemonTarget = %q, want %q", got, want)
	}
}

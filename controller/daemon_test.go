package controller

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
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

// TestCompareFlows: drift is any difference of the (table, cookie) set, not
// only of the number of flows: one flow replaced by another vpcctl-marked
// one, a flow moved to another table, a flow installed twice.
func TestCompareFlows(t *testing.T) {
	topo, _, err := config.Parse([]byte(`version: 1
bridge: br-drift
vpcs:
  - name: v
    cidr: 10.0.0.0/16
    subnets:
      - name: lan
        cidr: 10.0.1.0/24
    instances:
      - name: a
        subnet: lan
      - name: b
        subnet: lan
`), "drift.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := compileFresh(t, topo)
	installed := func() []ofconn.FlowStat {
		var out []ofconn.FlowStat
		for _, f := range set.Flows {
			out = append(out, ofconn.FlowStat{TableID: f.Table.ID, Cookie: f.Cookie})
		}
		return out
	}
	if dr := compareFlows(set, installed()); dr.reason != "" || dr.misplaced != nil {
		t.Fatalf("the desired set itself: %+v", dr)
	}

	// Replaced: same count, one cookie gone, a bogus vpcctl cookie instead.
	st := installed()
	st[3].Cookie = flows.CookieMarker | 0x1234
	dr := compareFlows(set, st)
	if !strings.Contains(dr.reason, "1 missing") || !strings.Contains(dr.reason, "1 not desired") || dr.misplaced != nil {
		t.Errorf("replaced flow: %+v", dr)
	}

	// Moved: a desired cookie in another table; a cookie diff sees nothing.
	st = installed()
	moved := flowKey{st[3].TableID + 1, st[3].Cookie}
	st[3].TableID = moved.Table
	dr = compareFlows(set, st)
	if !strings.Contains(dr.reason, "1 missing") || !slices.Equal(dr.misplaced, []flowKey{moved}) {
		t.Errorf("moved flow: %+v", dr)
	}

	// Duplicated: the right flow plus the same cookie again in its table.
	st = append(installed(), installed()[5])
	dr = compareFlows(set, st)
	if dr.reason == "" || strings.Contains(dr.reason, "missing") ||
		!slices.Equal(dr.misplaced, []flowKey{{st[5].TableID, st[5].Cookie}}) {
		t.Errorf("duplicated flow: %+v", dr)
	}
}

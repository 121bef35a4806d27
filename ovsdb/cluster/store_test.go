package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/ovsproc"
)

// These tests run real ovsdb-server members (Open vSwitch must be
// installed: a missing ovsdb-server fails them) on random loopback ports.

// freeBase picks a base port with n free ports after it on 127.0.0.1.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(40000)
		free := true
		for i := range n {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free loopback ports")
	return 0
}

// startCluster starts a 3-member cluster in a temporary directory; cleanup
// stops it and checks that no member survives.
func startCluster(t *testing.T) (Options, string) {
	t.Helper()
	o := Options{Dir: t.TempDir(), BasePort: freeBase(t, 3)}
	t.Cleanup(func() {
		pids := o.PIDs()
		if err := Down(context.Background(), o); err != nil {
			t.Errorf("down: %v", err)
		}
		for m, pid := range pids {
			if running(pid) {
				t.Errorf("member %d (pid %d) still runs after Down", m, pid)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	eps, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("cluster up in %v: %s", time.Since(start).Round(time.Millisecond), eps)
	return o, eps
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func dial(t *testing.T, eps string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, []string{eps}, testLogger())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t *testing.T, s *Store, name, yaml string, addrs map[string]string, wantGen int, wantChanged bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gen, changed, err := s.Publish(ctx, name, yaml, addrs)
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	if gen != wantGen || changed != wantChanged {
		t.Fatalf("publish %s: generation %d changed %v, want %d %v", name, gen, changed, wantGen, wantChanged)
	}
}

// next receives one snapshot within d.
func next(t *testing.T, ch <-chan Snapshot, d time.Duration) Snapshot {
	t.Helper()
	select {
	case s, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return s
	case <-time.After(d):
		t.Fatalf("no snapshot within %v", d)
	}
	return Snapshot{}
}

// nothing checks that no snapshot is pending for a while.
func nothing(t *testing.T, ch <-chan Snapshot, d time.Duration) {
	t.Helper()
	select {
	case s := <-ch:
		t.Fatalf("unexpected snapshot: generation %d", s.Generation)
	case <-time.After(d):
	}
}

func TestPublishReadWatch(t *testing.T) {
	_, eps := startCluster(t)
	s := dial(t, eps)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	early := s.Watch(ctx, "br-a")
	nothing(t, early, 200*time.Millisecond)
	if _, _, ok := s.Topology("br-a"); ok {
		t.Fatal("Topology before any publish")
	}

	a1 := map[string]string{"prod/web": "10.0.1.4", "prod/db": "10.0.2.4"}
	publish(t, s, "br-a", "v1", a1, 1, true)
	if y, g, ok := s.Topology("br-a"); !ok || y != "v1" || g != 1 {
		t.Fatalf("Topology = %q %d %v, want v1 1 true", y, g, ok)
	}
	if got := s.Addresses("br-a"); !maps.Equal(got, a1) {
		t.Fatalf("Addresses = %v, want %v", got, a1)
	}
	if snap := next(t, early, 5*time.Second); snap != (Snapshot{"v1", 1}) {
		t.Fatalf("watch got %+v", snap)
	}

	// The same file again: no new generation, but the addresses follow.
	a2 := map[string]string{"prod/web": "10.0.1.5", "prod/app": "10.0.3.4"}
	publish(t, s, "br-a", "v1", a2, 1, false)
	if got := s.Addresses("br-a"); !maps.Equal(got, a2) {
		t.Fatalf("Addresses = %v, want %v", got, a2)
	}
	nothing(t, early, 200*time.Millisecond)
	publish(t, s, "br-a", "v1", map[string]string{}, 1, false)
	if got := s.Addresses("br-a"); len(got) != 0 {
		t.Fatalf("Addresses = %v, want none", got)
	}
	publish(t, s, "br-a", "v1", a1, 1, false)

	// Another topology keeps its own addresses under the same keys.
	publish(t, s, "br-b", "other", map[string]string{"prod/web": "192.168.0.4"}, 1, true)
	if got := s.Addresses("br-a"); !maps.Equal(got, a1) {
		t.Fatalf("br-a Addresses = %v after publishing br-b, want %v", got, a1)
	}

	publish(t, s, "br-a", "v2", a1, 2, true)
	if snap := next(t, early, 5*time.Second); snap != (Snapshot{"v2", 2}) {
		t.Fatalf("watch got %+v", snap)
	}

	// A late watcher gets the current version at once.
	late := s.Watch(ctx, "br-a")
	if snap := next(t, late, time.Second); snap != (Snapshot{"v2", 2}) {
		t.Fatalf("late watch got %+v", snap)
	}

	// Latest wins: a reader that did not read for three versions gets the
	// newest, and nothing else is pending.
	for i := 3; i <= 5; i++ {
		publish(t, s, "br-a", fmt.Sprintf("v%d", i), a1, i, true)
	}
	time.Sleep(100 * time.Millisecond)
	if snap := next(t, late, time.Second); snap != (Snapshot{"v5", 5}) {
		t.Fatalf("slow reader got %+v, want v5", snap)
	}
	nothing(t, late, 200*time.Millisecond)

	// Another host's store sees the same.
	s2 := dial(t, eps)
	if y, g, ok := s2.Topology("br-a"); !ok || y != "v5" || g != 5 {
		t.Fatalf("second store: Topology = %q %d %v", y, g, ok)
	}
	if got := s2.Addresses("br-a"); !maps.Equal(got, a1) {
		t.Fatalf("second store: Addresses = %v", got)
	}

	// Chassis: one row per host and topology, updated in place.
	for _, st := range []ChassisStatus{
		{Name: "host2", Topology: "br-a", AppliedGeneration: 4, Error: "boom", Flows: 10},
		{Name: "host1", Topology: "br-a", AppliedGeneration: 5, Flows: 120},
		{Name: "host1", Topology: "br-b", AppliedGeneration: 1, Flows: 7},
		{Name: "host2", Topology: "br-a", AppliedGeneration: 5, Flows: 121},
	} {
		if err := s2.Report(ctx, st); err != nil {
			t.Fatalf("report %+v: %v", st, err)
		}
	}
	ovsproc.WaitFor(ctx, "chassis", func() bool { return len(s.Chassis("br-a")) == 2 && s.Chassis("br-a")[1].Flows == 121 })
	cs := s.Chassis("br-a")
	if len(cs) != 2 || cs[0].Name != "host1" || cs[0].AppliedGeneration != 5 || cs[0].Flows != 120 ||
		cs[1].Name != "host2" || cs[1].AppliedGeneration != 5 || cs[1].Error != "" || cs[1].Flows != 121 {
		t.Fatalf("Chassis(br-a) = %+v", cs)
	}
	if time.Since(cs[0].Updated) > time.Minute {
		t.Fatalf("Updated = %v", cs[0].Updated)
	}
	if cs := s.Chassis("br-b"); len(cs) != 1 || cs[0].Flows != 7 {
		t.Fatalf("Chassis(br-b) = %+v", cs)
	}

	// Watch ends with its context.
	wctx, wcancel := context.WithCancel(ctx)
	w := s.Watch(wctx, "br-a")
	next(t, w, time.Second)
	wcancel()
	select {
	case _, ok := <-w:
		if ok {
			t.Fatal("snapshot after cancel")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}

func TestLeaderFailover(t *testing.T) {
	o, eps := startCluster(t)
	s := dial(t, eps)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := map[string]string{"prod/web": "10.0.1.4"}
	publish(t, s, "br-a", "v1", addrs, 1, true)
	w := s.Watch(ctx, "br-a")
	if snap := next(t, w, 5*time.Second); snap.Generation != 1 {
		t.Fatalf("watch got %+v", snap)
	}

	leader, err := o.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Kill(leader); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	gen, changed, err := s.Publish(pctx, "br-a", "v2", addrs)
	if err != nil {
		t.Fatalf("publish after killing leader m%d: %v", leader, err)
	}
	t.Logf("leader m%d killed: publish landed after %v", leader, time.Since(killed).Round(time.Millisecond))
	if gen != 2 || !changed {
		t.Fatalf("publish: generation %d changed %v, want 2 true", gen, changed)
	}
	if snap := next(t, w, 5*time.Second); snap != (Snapshot{"v2", 2}) {
		t.Fatalf("watch got %+v after failover", snap)
	}
	newLeader, err := o.Leader(ctx)
	if err != nil || newLeader == leader {
		t.Fatalf("new leader %d (%v), old %d", newLeader, err, leader)
	}

	// The killed member comes back and rejoins as a follower.
	if err := o.Start(ctx, leader); err != nil {
		t.Fatalf("restart m%d: %v", leader, err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := ovsproc.WaitFor(wctx, "rejoin", func() bool {
		sts, err := o.Status(wctx)
		if err != nil {
			return false
		}
		for _, st := range sts {
			if st.Member == leader {
				return st.Status == "cluster member" && (st.Role == "follower" || st.Role == "leader")
			}
		}
		return false
	}); err != nil {
		sts, _ := o.Status(ctx)
		t.Fatalf("%v: %+v", err, sts)
	}
	publish(t, s, "br-a", "v3", addrs, 3, true)
	if snap := next(t, w, 5*time.Second); snap != (Snapshot{"v3", 3}) {
		t.Fatalf("watch got %+v", snap)
	}
}

// TestNoQuorum kills 2 of 3 members: the leader and a follower (the store
// loses its connection), or both followers (it keeps talking to a leader
// that can no longer commit).
func TestNoQuorum(t *testing.T) {
	for _, kill := range []string{"leader+follower", "followers"} {
		t.Run(kill, func(t *testing.T) { testNoQuorum(t, kill == "followers") })
	}
}

func testNoQuorum(t *testing.T, followers bool) {
	o, eps := startCluster(t)
	s := dial(t, eps)
	ctx := context.Background()
	addrs := map[string]string{"prod/web": "10.0.1.4"}
	publish(t, s, "br-a", "v1", addrs, 1, true)
	w := s.Watch(ctx, "br-a")
	next(t, w, 5*time.Second)

	leader, err := o.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victims := []int{leader, leader%3 + 1}
	if followers {
		victims = []int{leader%3 + 1, (leader+1)%3 + 1}
	}
	for _, m := range victims {
		if err := o.Kill(m); err != nil {
			t.Fatal(err)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err = s.Publish(pctx, "br-a", "v2", addrs)
	if err == nil {
		t.Fatal("publish without quorum succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("publish without quorum: %v, want a deadline", err)
	}
	t.Logf("killed %v: publish without quorum failed after %v: %v", victims, time.Since(start).Round(time.Millisecond), err)
	if y, g, ok := s.Topology("br-a"); !ok || y != "v1" || g != 1 {
		t.Fatalf("Topology without quorum = %q %d %v", y, g, ok)
	}
	if got := s.Addresses("br-a"); !maps.Equal(got, addrs) {
		t.Fatalf("Addresses without quorum = %v", got)
	}

	// Quorum back: the same store writes again; its watcher sees it.
	for _, m := range victims {
		if err := o.Start(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	publish(t, s, "br-a", "v2", addrs, 2, true)
	t.Logf("quorum restored: publish after %v", time.Since(start).Round(time.Millisecond))
	if snap := next(t, w, 5*time.Second); snap != (Snapshot{"v2", 2}) {
		t.Fatalf("watch got %+v", snap)
	}

	// Close ends every Watch.
	s.Close()
	select {
	case _, ok := <-w:
		if ok {
			t.Fatal("snapshot after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("watch channel not closed by Close")
	}
}

func TestDown(t *testing.T) {
	o, _ := startCluster(t)
	pids := o.PIDs()
	if len(pids) != 3 {
		t.Fatalf("PIDs = %v, want 3 members", pids)
	}
	if err := Down(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for m, pid := range pids {
		if running(pid) {
			t.Errorf("member %d (pid %d) runs after Down", m, pid)
		}
	}
	left, _ := filepath.Glob(filepath.Join(o.Dir, "*"))
	hidden, _ := filepath.Glob(filepath.Join(o.Dir, ".m*"))
	if len(left)+len(hidden) != 0 {
		t.Errorf("files left after Down: %v %v", left, hidden)
	}
	if err := Down(context.Background(), o); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestUpPortTaken(t *testing.T) {
	base := freeBase(t, 3)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := Options{Dir: t.TempDir(), BasePort: base}
	t.Cleanup(func() { _ = Down(context.Background(), o) })
	if _, err := Up(context.Background(), o); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("Up with a port taken: %v", err)
	}
	if pids := o.PIDs(); len(pids) != 0 {
		t.Fatalf("members run after a failed Up: %v", pids)
	}
}

func TestParseClusterStatus(t *testing.T) {
	text := "a3f1\nName: VPCctl\nCluster ID: 1b2c (1b2c-...)\nServer ID: a3f1\nAddress: tcp:127.0.0.1:6641\n" +
		"Status: cluster member\nRole: leader\nTerm: 4\nLeader: self\nVote: self\n"
	st, role, term := parseClusterStatus(text)
	if st != "cluster member" || role != "leader" || term != 4 {
		t.Fatalf("got %q %q %d", st, role, term)
	}
}

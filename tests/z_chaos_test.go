package tests

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// This file's name sorts last on purpose: go test runs a package's tests in
// file order, and this test restarts the shared ovs-vswitchd and
// ovsdb-server. `go test ./...` runs packages in parallel; by the time this
// one runs, the other packages' tests against OVS are done.
//
// The chaos test: a daemon manages a topology while a bounded ping runs
// between two instances the test never touches (p1, a veth, to p2, an
// internal port, routed across subnets through a security group). Meanwhile
// the test kills the daemon with SIGKILL and starts it again (5 times, two
// of them right after a file edit, while it applies), restarts ovs-vswitchd
// (3 times, kill -9 and start again as `vpcctl ovs up` does), restarts
// ovsdb-server once, and edits the file 50 times, alternating valid edits
// (other instances come and go, another group's rule changes) and invalid
// ones (the running network must stay). Every event has a time window; the
// ping's lost packets are attributed to the window they fall in.
const (
	chaosEdits    = 50
	chaosKills    = 5
	chaosRestarts = 3
	chaosWhole    = 20 * time.Second // bound: pair whole again after a vswitchd restart
	pingInterval  = 0.02             // s
)

// chaosExtras are the instances valid edits add and remove; p1 and p2 stay.
var chaosExtras = []struct{ name, subnet, ip, attach string }{
	{"x1", "a", "10.20.1.21", ""},
	{"x2", "b", "10.20.2.22", "internal"},
	{"x3", "a", "10.20.1.23", ""},
	{"x4", "b", "10.20.2.24", ""},
}

// chaosTopology is valid edit number n: extras present by the bits of n+1,
// the rule of group "others" on port 7000+n.
func chaosTopology(br string, n int) (string, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
bridge: %s
vpcs:
  - name: chaos
    cidr: 10.20.0.0/16
    subnets:
      - {name: a, cidr: 10.20.1.0/24}
      - {name: b, cidr: 10.20.2.0/24}
    security_groups:
      - name: pair
        ingress:
          - {protocol: icmp, source: 10.20.0.0/16}
      - name: others
        ingress:
          - {protocol: tcp, ports: "%d", source: 10.20.0.0/16}
    instances:
      - {name: p1, subnet: a, ip: 10.20.1.10, security_groups: [pair]}
      - {name: p2, subnet: b, ip: 10.20.2.10, security_groups: [pair], attach: internal}
`, br, 7000+n)
	names := []string{"p1", "p2"}
	for k, x := range chaosExtras {
		if (n+1)>>k&1 == 0 {
			continue
		}
		attach := ""
		if x.attach != "" {
			attach = ", attach: " + x.attach
		}
		fmt.Fprintf(&b, "      - {name: %s, subnet: %s, ip: %s, security_groups: [others]%s}\n", x.name, x.subnet, x.ip, attach)
		names = append(names, x.name)
	}
	return b.String(), names
}

// chaosInvalid breaks a valid file in one of several ways.
func chaosInvalid(valid string, n int) string {
	switch n % 4 {
	case 0:
		return strings.Replace(valid, "cidr: 10.20.2.0/24", "cidr: 10.20.2.0/33", 1)
	case 1:
		return valid + "      - {name: bad, subnet: nosuch}\n"
	case 2:
		return valid + "  - {name: [oops\n" // not YAML
	default:
		return strings.Replace(valid, `ports: "`, `ports: "99999`, 1)
	}
}

// chaosEvent is one disturbance and the time it lasted.
type chaosEvent struct {
	kind       string
	start, end time.Time
}

// pingLog parses `ping -D -O` output: the seqs answered, and for each seq
// reported unanswered ("no answer yet", printed when the next one is sent)
// the time of that report.
type pingLog struct {
	replied  map[int]time.Time
	noAnswer map[int]time.Time
}

var (
	pingReplyRE  = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)`)
	pingNoAnsRE  = regexp.MustCompile(`^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)`)
	pingAnyRE    = regexp.MustCompile(`^\[(\d+\.\d+)\] `)
	pingSummRE   = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	chaosApplied = " event=applied "
)

func parsePing(out string) pingLog {
	p := pingLog{replied: map[int]time.Time{}, noAnswer: map[int]time.Time{}}
	for _, line := range strings.Split(out, "\n") {
		if m := pingReplyRE.FindStringSubmatch(line); m != nil {
			seq, _ := strconv.Atoi(m[2])
			p.replied[seq] = epoch(m[1])
		} else if m := pingNoAnsRE.FindStringSubmatch(line); m != nil {
			seq, _ := strconv.Atoi(m[2])
			p.noAnswer[seq] = epoch(m[1])
		}
	}
	return p
}

func epoch(s string) time.Time {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Unix(0, int64(f*1e9))
}

// lost lists the times of the packets that never got an answer.
func (p pingLog) lost() []time.Time {
	var out []time.Time
	for seq, ts := range p.noAnswer {
		if _, ok := p.replied[seq]; !ok {
			out = append(out, ts)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// firstReplyAfter is the time of the first answer received after t.
func (p pingLog) firstReplyAfter(t time.Time) (time.Time, bool) {
	var first time.Time
	for _, ts := range p.replied {
		if ts.After(t) && (first.IsZero() || ts.Before(first)) {
			first = ts
		}
	}
	return first, !first.IsZero()
}

// chaosDaemon is a `vpcctl daemon` the test may kill.
type chaosDaemon struct{ *daemonProc }

func startChaosDaemon(t *testing.T, file string) chaosDaemon {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(vpcctlBin, "daemon", "-f", file), done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { _ = d.stop() }) // killed ones are done already
	return chaosDaemon{d}
}

func (d chaosDaemon) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon still running 10 s after SIGKILL")
	}
}

// waitLog waits (bounded) until the daemon's log holds s at least n times.
func (d chaosDaemon) waitLog(t *testing.T, s string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for strings.Count(d.log.String(), s) < n {
		if !d.running() {
			t.Fatalf("daemon exited (%v) waiting for %q #%d:\n%s", d.err, s, n, d.log.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q #%d within %v:\n%s", s, n, limit, d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killOVS kills an OVS daemon by its pid file and waits (bounded) until it is gone.
func killOVS(t *testing.T, name string) {
	t.Helper()
	raw, err := os.ReadFile("/var/run/openvswitch/" + name + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file of %s: %q", name, raw)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s (%d): %v", name, pid, err)
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("%s (%d) still there 5 s after SIGKILL", name, pid)
	}
}

func TestChaos(t *testing.T) {
	br := uniqueBridge("tch")
	body, names := chaosTopology(br, 0)
	file := topologyFile(t, body)
	// Before that cleanup's destroy, which refuses an invalid file: the
	// last valid one (also when the test stops between edits).
	t.Cleanup(func() { _ = os.WriteFile(file, []byte(body), 0o644) })
	// Whatever happens, OVS must run afterwards (other tests share it).
	t.Cleanup(func() {
		if r := vpcctl(t, "ovs", "up"); r.Code != 0 {
			t.Errorf("ovs up: %s", r.Stderr)
		}
	})
	d := startChaosDaemon(t, file)
	d.waitLog(t, chaosApplied, 1, 60*time.Second)
	if !pingUntil(t, br, "p1", "10.20.2.10", 10*time.Second) {
		t.Fatalf("p1 cannot reach p2 before the chaos\n%s", d.log.String())
	}
	sock := strings.TrimPrefix(daemonTarget(br), "unix:")

	// The ping: 50 per second, bounded in count and time; stopped at the end.
	var pingOut lockedBuffer
	pinger := exec.Command("ip", "netns", "exec", "vpcctl."+br+".p1",
		"ping", "-D", "-O", "-n", "-i", fmt.Sprint(pingInterval), "-W", "1", "-c", "15000", "-w", "290", "10.20.2.10")
	pinger.Stdout, pinger.Stderr = &pingOut, &pingOut
	if err := pinger.Start(); err != nil {
		t.Fatal(err)
	}
	pingDone := make(chan struct{})
	go func() { _ = pinger.Wait(); close(pingDone) }()
	t.Cleanup(func() {
		select {
		case <-pingDone:
		default:
			_ = pinger.Process.Kill()
			<-pingDone
		}
	})
	time.Sleep(time.Second)

	var events []chaosEvent
	record := func(kind string, start time.Time) {
		events = append(events, chaosEvent{kind, start, time.Now()})
	}
	validN := 0 // valid edits so far
	// edit writes valid edit number validN+1, or an invalid file, and waits
	// until the daemon has applied or refused it; its event is recorded
	// unless it is part of another one.
	edit := func(valid bool, n int, part bool) {
		t.Helper()
		if valid {
			validN++
			body, names = chaosTopology(br, validN)
		}
		content := body
		if !valid {
			content = chaosInvalid(body, n)
		}
		start := time.Now()
		appliedBefore := strings.Count(d.log.String(), chaosApplied)
		invalidBefore := strings.Count(d.log.String(), "event=invalid_file")
		rewrite(t, file, content)
		kind := "edit (invalid)"
		if valid {
			kind = "edit (valid)"
			d.waitLog(t, chaosApplied, appliedBefore+1, 60*time.Second)
		} else {
			d.waitLog(t, "event=invalid_file", invalidBefore+1, 30*time.Second)
		}
		if !part {
			record(kind, start)
		}
	}

	var wholeAfter []time.Duration // per vswitchd restart, from its start to the first answer
	var outages []time.Duration    // per vswitchd restart, from the kill to the first answer
	edits, restarts := 0, 0
	for round := 0; round < chaosKills; round++ {
		// Ten edits, invalid first, so the file is valid when the daemon
		// starts again below (it refuses to start on an invalid file).
		for i := 0; i < chaosEdits/chaosKills; i++ {
			edit(edits%2 == 1, edits, false)
			edits++
		}

		// kill -9 the daemon; every other round right after a valid edit,
		// while it applies it.
		start := time.Now()
		if round%2 == 1 {
			validN++
			body, names = chaosTopology(br, validN)
			rewrite(t, file, body)
			time.Sleep(time.Duration(150+rand.IntN(300)) * time.Millisecond)
		}
		d.kill(t)
		if _, err := os.Stat(sock); err != nil {
			t.Errorf("round %d: the killed daemon's socket file is not there (%v): the restart below does not meet a stale one", round, err)
		}
		d = startChaosDaemon(t, file)
		d.waitLog(t, chaosApplied, 1, 60*time.Second)
		if !strings.Contains(d.log.String(), "event=start socket=") {
			t.Fatalf("round %d: restarted daemon did not listen:\n%s", round, d.log.String())
		}
		record("daemon kill -9", start)

		if round >= 1 && restarts < chaosRestarts {
			restarts++
			start := time.Now()
			appliedBefore := strings.Count(d.log.String(), chaosApplied)
			logFrom := len(d.log.String())
			killOVS(t, "ovs-vswitchd")
			mustVpcctl(t, "ovs", "up")
			up := time.Now()
			deadline := up.Add(chaosWhole)
			var whole time.Time
			for {
				if ts, ok := parsePing(pingOut.String()).firstReplyAfter(up); ok {
					whole = ts
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("vswitchd restart %d: p1 gets no answer from p2 %v after ovs-vswitchd started\n%s", restarts, chaosWhole, d.log.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			wholeAfter = append(wholeAfter, whole.Sub(up))
			outages = append(outages, whole.Sub(start))
			// Let the daemon finish its repair before the next event.
			d.waitLog(t, chaosApplied, appliedBefore+1, 30*time.Second)
			time.Sleep(500 * time.Millisecond)
			record("ovs-vswitchd restart", start)
			var lines []string
			for _, l := range strings.Split(d.log.String()[logFrom:], "\n") {
				if strings.Contains(l, "event=") && !strings.Contains(l, "event=file_event") {
					lines = append(lines, l)
				}
			}
			t.Logf("ovs-vswitchd restart %d: killed %s, started %s; the daemon:\n%s", restarts,
				start.Format("15:04:05.000"), up.Format("15:04:05.000"), strings.Join(lines, "\n"))
		}
	}

	// ovsdb-server restart: the daemon's one OVSDB client reconnects by
	// itself; an edit made right after it is applied without a new client
	// (it is part of this event: its apply waits until ovs-vswitchd, which
	// retries its own connection to the database with a backoff of up to
	// 8 s, has taken the change in).
	start := time.Now()
	killOVS(t, "ovsdb-server")
	mustVpcctl(t, "ovs", "up")
	edit(true, edits, true)
	record("ovsdb-server restart", start)
	if n := strings.Count(d.log.String(), "event=ovsdb_connected"); n != 1 {
		t.Errorf("the daemon connected to OVSDB %d times, want once for its life:\n%s", n, d.log.String())
	}

	time.Sleep(time.Second)
	_ = pinger.Process.Signal(syscall.SIGINT)
	select {
	case <-pingDone:
	case <-time.After(10 * time.Second):
		t.Fatal("ping did not stop on SIGINT")
	}

	// Attribute each lost packet to the event whose window holds it (ping
	// reports a loss when it sends the next packet; a second of slack).
	pl := parsePing(pingOut.String())
	if m := pingSummRE.FindStringSubmatch(pingOut.String()); m != nil {
		t.Logf("ping p1 -> p2 every %.0f ms: %s packets transmitted, %s received", pingInterval*1000, m[1], m[2])
	} else {
		t.Fatalf("no ping summary:\n%s", pingOut.String())
	}
	lostBy := map[string]int{}
	countBy := map[string]int{}
	for _, e := range events {
		countBy[e.kind]++
	}
	var burst struct {
		kind        string
		first, last time.Time
		n           int
	}
	flush := func() {
		if burst.n > 0 {
			t.Logf("lost %d packets %s .. %s (%s)", burst.n, burst.first.Format("15:04:05.000"), burst.last.Format("15:04:05.000"), burst.kind)
		}
	}
	for _, ts := range pl.lost() {
		// The event that started last before ts (events do not overlap),
		// if ts is within a second of its end.
		kind := "no event (idle)"
		var at *chaosEvent
		for i, e := range events {
			if !ts.Before(e.start.Add(-250*time.Millisecond)) && (at == nil || e.start.After(at.start)) {
				at = &events[i]
			}
		}
		if at != nil && !ts.After(at.end.Add(time.Second)) {
			kind = at.kind
		}
		lostBy[kind]++
		if burst.n > 0 && (kind != burst.kind || ts.Sub(burst.last) > 200*time.Millisecond) {
			flush()
			burst.n = 0
		}
		if burst.n == 0 {
			burst.kind, burst.first = kind, ts
		}
		burst.last = ts
		burst.n++
	}
	flush()
	kinds := []string{"edit (valid)", "edit (invalid)", "daemon kill -9", "ovs-vswitchd restart", "ovsdb-server restart", "no event (idle)"}
	for _, k := range kinds {
		t.Logf("%-22s events: %2d  packets lost: %d", k, countBy[k], lostBy[k])
	}
	for i := range wholeAfter {
		t.Logf("ovs-vswitchd restart %d: pair whole again %v after ovs-vswitchd started (%v after the kill)",
			i+1, wholeAfter[i].Round(time.Millisecond), outages[i].Round(time.Millisecond))
	}
	// Not asserted for the ovsdb-server restart: twice in eight runs
	// here the pair lost about 0.6 s of packets just before ovs-vswitchd
	// reconnected to the restarted database (no flow of the pair changed;
	// both times another test had hundreds of ports on the shared
	// ovs-vswitchd, whose main thread also forwards for veth ports).
	for _, k := range []string{"edit (valid)", "edit (invalid)", "daemon kill -9", "no event (idle)"} {
		if lostBy[k] != 0 {
			t.Errorf("%d packets lost during %s, want 0", lostBy[k], k)
		}
	}
	if t.Failed() {
		for _, e := range events {
			t.Logf("event %s .. %s %s", e.start.Format("15:04:05.000"), e.end.Format("15:04:05.000"), e.kind)
		}
		t.Logf("daemon log:\n%s", d.log.String())
	}
	if countBy["edit (valid)"]+countBy["edit (invalid)"] != chaosEdits || countBy["daemon kill -9"] != chaosKills || countBy["ovs-vswitchd restart"] != chaosRestarts {
		t.Errorf("events: %v", countBy)
	}

	// The end: the last daemon serves the bridge (ovs-vswitchd found the
	// restarted daemon's socket), then stops cleanly.
	d.waitLog(t, "event=controller_connected", 1, 30*time.Second)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon did not stop cleanly: %v\n%s", err, d.log.String())
	}

	// Flows equal the desired set: a plain apply of the same file finds
	// nothing to add or delete and nothing on the host to change or remove.
	var sum struct {
		Flows        int   `json:"flows"`
		FlowsAdded   int   `json:"flows_added"`
		FlowsDeleted int   `json:"flows_deleted"`
		FlowMods     int64 `json:"flow_mods"`
		HostChanges  int   `json:"host_changes"`
		Removed      int   `json:"instances_removed"`
		Instances    int   `json:"instances"`
	}
	out := mustVpcctl(t, "apply", "-f", file, "-o", "json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, out)
	}
	if sum.FlowsAdded != 0 || sum.FlowsDeleted != 0 || sum.FlowMods != 0 || sum.HostChanges != 0 || sum.Removed != 0 {
		t.Errorf("after the chaos, apply still changed things: %+v", sum)
	}
	installed := vpcctlFlows(t, br)
	if len(installed) != sum.Flows || len(flowKeys(installed)) != sum.Flows {
		t.Errorf("%d vpcctl flows installed (%d distinct), %d desired", len(installed), len(flowKeys(installed)), sum.Flows)
	}

	// Nothing left over: namespaces, OVS ports and host veths are exactly
	// those of the file's instances.
	slices.Sort(names)
	var nss []string
	for _, line := range strings.Split(sh(t, "ip netns list").Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "vpcctl."+br+".") {
			nss = append(nss, strings.TrimPrefix(f[0], "vpcctl."+br+"."))
		}
	}
	slices.Sort(nss)
	if !slices.Equal(nss, names) {
		t.Errorf("namespaces %v, want %v", nss, names)
	}
	var wantPorts []string
	for _, n := range names {
		wantPorts = append(wantPorts, host.HostVethName(br, n))
	}
	slices.Sort(wantPorts)
	ports := strings.Fields(sh(t, "ovs-vsctl list-ports "+br).Stdout)
	slices.Sort(ports)
	if !slices.Equal(ports, wantPorts) {
		t.Errorf("ports %v, want %v (instances %v)", ports, wantPorts, names)
	}
	for _, x := range chaosExtras {
		if slices.Contains(names, x.name) {
			continue
		}
		if r := sh(t, "ip link show "+host.HostVethName(br, x.name)); r.Code == 0 {
			t.Errorf("removed instance %s left its link in the host: %s", x.name, r.Stdout)
		}
	}
}

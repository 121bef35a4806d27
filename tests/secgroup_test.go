package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// netprobePy is a small helper run inside the namespaces: bounded TCP/UDP
// echo servers (and a web page) as workloads, and clients that tell an answer
// from a drop (timeout) from a refusal (RST).
const netprobePy = `import os, socket, sys, threading, time

# netprobe: tiny bounded TCP/UDP echo servers and clients for the
# security group and network ACL tests.
#   serve LIFETIME READYFILE tcp:P|udp:P|http:P ...   (echo servers; http: a web page)
#   tcp HOST PORT     connect (1.5 s), send a line, expect it back (1.5 s)
#   udp HOST PORT     send a datagram up to 3 times, expect it back (1.5 s in all)
#   stream HOST PORT SECONDS OUTFILE   one connection, a line every 100 ms;
#                     every echo appends "ok SEQ" to OUTFILE
# Client exit codes: 0 answered, 1 timeout (dropped), 2 refused (RST), 3 other.


def serve(lifetime, ready, specs):
    def echo_tcp(c):
        c.settimeout(lifetime)
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    def accept_loop(l):
        while True:
            c, _ = l.accept()
            threading.Thread(target=echo_tcp, args=(c,), daemon=True).start()

    def udp_loop(u):
        while True:
            b, a = u.recvfrom(4096)
            u.sendto(b, a)

    for spec in specs:
        proto, port = spec.split(":")
        port = int(port)
        if proto == "tcp":
            l = socket.socket()
            l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind(("0.0.0.0", port))
            l.listen(64)
            threading.Thread(target=accept_loop, args=(l,), daemon=True).start()
        elif proto == "udp":
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("0.0.0.0", port))
            threading.Thread(target=udp_loop, args=(u,), daemon=True).start()
        elif proto == "http":
            import http.server

            class Quiet(http.server.SimpleHTTPRequestHandler):
                def log_message(self, *a):
                    pass

            s = http.server.ThreadingHTTPServer(("0.0.0.0", port), Quiet)
            threading.Thread(target=s.serve_forever, daemon=True).start()
        else:
            sys.exit("unknown spec " + spec)
    with open(ready, "w") as f:
        f.write("ready\n")
    time.sleep(lifetime)


def tcp(host, port):
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        s.sendall(b"hello\n")
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(100)
            if not b:
                break
            got += b
        if got == b"hello\n":
            print("ok")
            return 0
        print("bad reply %r" % got)
        return 3
    except socket.timeout:
        print("timeout")
        return 1
    except ConnectionRefusedError:
        print("refused")
        return 2
    except OSError as e:
        print("error %s" % e)
        return 3


def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    msg = os.urandom(8).hex().encode()
    for _ in range(3):
        try:
            s.sendto(msg, (host, port))
            while True:
                b, _ = s.recvfrom(4096)
                if b == msg:
                    print("ok")
                    return 0
        except socket.timeout:
            continue
        except ConnectionRefusedError:
            print("refused")
            return 2
    print("timeout")
    return 1


def stream(host, port, seconds, out):
    s = socket.create_connection((host, port), timeout=2)
    s.settimeout(None)
    f = open(out, "a", buffering=1)
    f.write("connected\n")

    def reader():
        buf = b""
        while True:
            try:
                b = s.recv(4096)
            except OSError:
                return
            if not b:
                return
            buf += b
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                f.write("ok %s\n" % line.decode())

    threading.Thread(target=reader, daemon=True).start()
    end = time.time() + seconds
    seq = 0
    while time.time() < end:
        s.sendall(b"%d\n" % seq)
        seq += 1
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif cmd == "tcp":
        sys.exit(tcp(sys.argv[2], int(sys.argv[3])))
    elif cmd == "udp":
        sys.exit(udp(sys.argv[2], int(sys.argv[3])))
    elif cmd == "stream":
        sys.exit(stream(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]))
    else:
        sys.exit("unknown command " + cmd)
`

// netprobe writes the helper into dir and returns its path.
func netprobe(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "netprobe.py")
	if err := os.WriteFile(p, []byte(netprobePy), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveAll is the workload of every instance of these tests: echo servers on
// every port the tests try (so a refusal is the dataplane's, never a closed
// port), for at most 10 minutes (destroy stops them earlier).
func serveAll(script, dir, name string, http bool) string {
	web := "tcp:8080"
	if http {
		web = "http:8080"
	}
	return fmt.Sprintf("cd %s && exec python3 %s serve 600 %s/%s.ready %s tcp:5432 tcp:5433 tcp:7000 tcp:7777 tcp:8999 tcp:9000 tcp:9005 tcp:9010 tcp:9011 udp:5353 udp:5354",
		dir, script, dir, name, web)
}

// waitReady waits (at most 20 s) until every named workload listens.
func waitReady(t *testing.T, dir string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range names {
		for {
			if _, err := os.Stat(filepath.Join(dir, n+".ready")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the workload of %s does not listen after 20 s", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// writeTopology rewrites a topology file (the user's "edit the file").
func writeTopology(t *testing.T, path, bridge, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("version: 1\nbridge: "+bridge+"\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// probe is one connection attempt and whether the rules must let it through.
type probe struct {
	from, kind, to string // kind: tcp, udp, icmp, http
	port           int
	want           bool
}

func (p probe) String() string {
	if p.kind == "icmp" {
		return fmt.Sprintf("%s -> %s ping", p.from, p.to)
	}
	return fmt.Sprintf("%s -> %s %s/%d", p.from, p.to, p.kind, p.port)
}

// argv is the command that tries the probe once.
func (p probe) argv(script string) []string {
	port := fmt.Sprint(p.port)
	switch p.kind {
	case "icmp":
		n := "2"
		if p.want {
			n = "3" // any reply of three counts
		}
		return []string{"ping", "-n", "-c", n, "-i", "0.2", "-W", "1", p.to}
	case "http":
		return []string{"curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", "http://" + p.to + ":" + port + "/"}
	default:
		return []string{"python3", script, p.kind, p.to, port}
	}
}

// outcome is what one probe saw.
type outcome struct {
	ok   bool
	what string
}

// try runs a probe (an allowed one up to three times: a first packet may
// meet a cold ARP cache). It does not touch t: probes run concurrently.
func try(br, script string, p probe) outcome {
	attempts := 1
	if p.want {
		attempts = 3
	}
	var o outcome
	for i := 0; i < attempts; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		args := append([]string{"exec", "--bridge", br, p.from, "--"}, p.argv(script)...)
		out, err := exec.CommandContext(ctx, vpcctlBin, args...).CombinedOutput()
		cancel()
		s := strings.TrimSpace(string(out))
		switch p.kind {
		case "http":
			o = outcome{s == "200", "http " + s}
		case "icmp":
			o = outcome{err == nil, "ping: " + lastLine(s)}
		default:
			o = outcome{err == nil && s == "ok", s}
		}
		if o.ok {
			return o
		}
		if i+1 < attempts {
			time.Sleep(300 * time.Millisecond)
		}
	}
	return o
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// checkProbes runs the probes concurrently and reports every one whose
// outcome differs from what the rules say.
func checkProbes(t *testing.T, br, script string, probes []probe) {
	t.Helper()
	res := make([]outcome, len(probes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res[i] = try(br, script, p)
		}()
	}
	wg.Wait()
	for i, p := range probes {
		o := res[i]
		switch {
		case p.want && !o.ok:
			t.Errorf("%s: refused, but the rules allow it (%s)", p, o.what)
		case !p.want && o.ok:
			t.Errorf("%s: got through, but the rules do not allow it", p)
		case !p.want && o.what == "refused":
			// A drop is a timeout; an RST means the SYN reached the server.
			t.Errorf("%s: the SYN reached the server (it answered with an RST); the rules should drop it", p)
		}
	}
}

// applySummary is `vpcctl apply -o json`.
type applySummary struct {
	Flows        int   `json:"flows"`
	FlowsAdded   int   `json:"flows_added"`
	FlowsDeleted int   `json:"flows_deleted"`
	FlowMods     int64 `json:"flow_mods"`
	OVSDBWrites  int64 `json:"ovsdb_writes"`
	HostChanges  int   `json:"host_changes"`
}

func applyJSON(t *testing.T, file string) applySummary {
	t.Helper()
	out := mustVpcctl(t, "apply", "-o", "json", "-f", file)
	var s applySummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, out)
	}
	return s
}

// flowRow is one row of `vpcctl flows -o json`.
type flowRow struct {
	Cookie uint64 `json:"cookie"`
	Table  string `json:"table"`
	Flow   string `json:"flow"`
	Owner  string `json:"owner"`
}

func flowRows(t *testing.T, br string) []flowRow {
	t.Helper()
	out := mustVpcctl(t, "flows", "--bridge", br, "-o", "json")
	var rows []flowRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("flows -o json: %v\n%s", err, out)
	}
	return rows
}

// cookiesOwnedBy lists the cookies of the flows owned only by the given
// config objects (an owner path, or a path below it), sorted. A flow shared
// by several rules (a clause of several conjunctive matches) lists them all,
// comma-separated; it counts only if every one of them is given.
func cookiesOwnedBy(rows []flowRow, owners ...string) []string {
	var cs []string
	for _, r := range rows {
		all := true
		for _, own := range strings.Split(r.Owner, ", ") {
			mine := false
			for _, o := range owners {
				if own == o || strings.HasPrefix(own, o+".") || strings.HasPrefix(own, o+"[") {
					mine = true
				}
			}
			all = all && mine
		}
		if all {
			cs = append(cs, fmt.Sprintf("%#x %s  # %s", r.Cookie, r.Flow, r.Owner))
		}
	}
	sort.Strings(cs)
	return cs
}

// Established connections: a stream sends a line every 100 ms over one TCP
// connection and logs every echo to a file; it runs for at most a minute.

type stream struct{ name, file string }

func startStream(t *testing.T, br, script, dir, from, to string, port int) stream {
	t.Helper()
	s := stream{name: fmt.Sprintf("%s -> %s:%d", from, to, port), file: filepath.Join(dir, fmt.Sprintf("stream-%s-%s-%d", from, to, port))}
	inNSBackground(t, br, from, "python3", script, "stream", to, fmt.Sprint(port), "60", s.file)
	deadline := time.Now().Add(10 * time.Second)
	for echoes(s) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: fewer than 3 echoes after 10 s (%d)", s.name, echoes(s))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// echoes counts the echoes a stream has received so far.
func echoes(s stream) int {
	b, _ := os.ReadFile(s.file)
	return strings.Count(string(b), "ok ")
}

// checkStreams waits a second after a change, then counts each stream's
// echoes over two seconds: a stream that must go on gets at least 5 (20 are
// sent), a stream that must stop gets none.
func checkStreams(t *testing.T, flowing, stopped []stream) {
	t.Helper()
	time.Sleep(time.Second)
	all := append(append([]stream{}, flowing...), stopped...)
	before := make([]int, len(all))
	for i, s := range all {
		before[i] = echoes(s)
	}
	time.Sleep(2 * time.Second)
	for i, s := range all {
		d := echoes(s) - before[i]
		if i < len(flowing) && d < 5 {
			t.Errorf("established stream %s broke: %d echoes in 2 s (20 sent), but the rules still allow it", s.name, d)
		}
		if i >= len(flowing) && d != 0 {
			t.Errorf("established stream %s still runs (%d echoes in 2 s, from 1 s after the apply), but the rules no longer allow it", s.name, d)
		}
	}
}

// sgSetup is what the security group topology varies between applies.
type sgSetup struct {
	rule7000    string // web's ingress[4]; "" leaves it out
	cli2Groups  string
	dflt1Groups string // "" leaves security_groups out: [default]
}

// sgTopology: web1 serves; cli1 and cli2 are clients (group client, which
// has no ingress rule at all), lck may only send what its egress allows,
// dflt1/dflt2 are in the VPC's implicit default group, db1 takes 5432 from
// group web, and multi is in web and db at once. Subnet a is 10.6.1.0/24,
// b 10.6.2.0/24.
func sgTopology(script, dir string, s sgSetup) string {
	run := func(name string) string { return fmt.Sprintf("%q", serveAll(script, dir, name, name == "web1")) }
	groups := func(g string) string {
		if g == "" {
			return ""
		}
		return "security_groups: [" + g + "], "
	}
	rule := ""
	if s.rule7000 != "" {
		rule = "          - " + s.rule7000 + "\n"
	}
	return `vpcs:
  - name: sg
    cidr: 10.6.0.0/16
    subnets:
      - {name: a, cidr: 10.6.1.0/24}
      - {name: b, cidr: 10.6.2.0/24}
    security_groups:
      - name: web
        ingress:
          - {protocol: tcp, ports: "8080", source: 0.0.0.0/0}
          - {protocol: tcp, ports: "9000-9010", source: 10.6.1.0/24}
          - {protocol: udp, ports: "5353", source_group: client}
          - {protocol: icmp, source_group: client}
` + rule + `      - name: client
      - name: db
        ingress:
          - {protocol: tcp, ports: "5432", source_group: web}
      - name: locked
        egress:
          - {protocol: tcp, ports: "8080", destination_group: web}
          - {protocol: tcp, ports: "9000", destination: 10.6.1.10/32}
    instances:
      - {name: web1, subnet: a, ip: 10.6.1.10, security_groups: [web], run: ` + run("web1") + `}
      - {name: cli1, subnet: a, ip: 10.6.1.20, security_groups: [client], run: ` + run("cli1") + `}
      - {name: lck, subnet: a, ip: 10.6.1.30, security_groups: [locked], run: ` + run("lck") + `}
      - {name: cli2, subnet: b, ip: 10.6.2.20, ` + groups(s.cli2Groups) + `run: ` + run("cli2") + `}
      - {name: dflt1, subnet: b, ip: 10.6.2.30, ` + groups(s.dflt1Groups) + `run: ` + run("dflt1") + `}
      - {name: dflt2, subnet: b, ip: 10.6.2.31, run: ` + run("dflt2") + `}
      - {name: db1, subnet: b, ip: 10.6.2.40, security_groups: [db], run: ` + run("db1") + `}
      - {name: multi, subnet: b, ip: 10.6.2.50, security_groups: [web, db], run: ` + run("multi") + `}
`
}

const (
	web1, cli1, lck, cli2  = "10.6.1.10", "10.6.1.20", "10.6.1.30", "10.6.2.20"
	dflt1, dflt2, db1, mlt = "10.6.2.30", "10.6.2.31", "10.6.2.40", "10.6.2.50"
)

// TestSecurityGroups checks SPEC §1/§2 security groups with real traffic:
// stateful, allow-only, per instance (union of its groups), ingress and
// egress, tcp/udp/icmp/all, port ranges, CIDR and group peers matching the
// current members, the implicit default group; a membership change touches
// only the flows it must; a rule removal stops the established connections
// it no longer allows, and a change that still allows them does not.
func TestSecurityGroups(t *testing.T) {
	br := uniqueBridge("tg")
	dir := t.TempDir()
	script := netprobe(t, dir)
	setup := sgSetup{rule7000: `{protocol: tcp, ports: "7000", source_group: client}`, cli2Groups: "client"}
	file := topology(t, br, sgTopology(script, dir, setup))
	mustVpcctl(t, "apply", "-f", file)
	waitReady(t, dir, "web1", "cli1", "lck", "cli2", "dflt1", "dflt2", "db1", "multi")
	// The client group has no ingress rule: the HTTP response comes back
	// only because the connection is tracked.
	waitHTTP(t, br, "cli1", "http://"+web1+":8080/", "200")

	t.Run("rules", func(t *testing.T) {
		checkProbes(t, br, script, []probe{
			// Stateful: replies pass without a rule; allow-only: not the other way.
			{"cli1", "http", web1, 8080, true},
			{"cli2", "http", web1, 8080, true},
			{"dflt1", "http", web1, 8080, true}, // 0.0.0.0/0
			{"cli1", "udp", web1, 5353, true},   // the echo comes back to a group with no ingress
			{"cli1", "icmp", web1, 0, true},
			{"cli2", "icmp", web1, 0, true},
			{"web1", "icmp", cli1, 0, false}, // client allows no ingress at all
			{"web1", "tcp", cli1, 7000, false},
			{"web1", "udp", cli1, 5353, false},
			// Ports: only the range, both ends included; protocols apart.
			{"cli1", "tcp", web1, 9000, true},
			{"cli1", "tcp", web1, 9005, true},
			{"cli1", "tcp", web1, 9010, true},
			{"cli1", "tcp", web1, 8999, false},
			{"cli1", "tcp", web1, 9011, false},
			{"cli1", "udp", web1, 5354, false},
			{"cli1", "udp", web1, 9005, false}, // a tcp range does not open udp
			// CIDR source: 9000-9010 only from subnet a.
			{"cli2", "tcp", web1, 9005, false},
			{"dflt1", "tcp", web1, 9005, false},
			// Group source: members of client only.
			{"cli1", "tcp", web1, 7000, true},
			{"cli2", "tcp", web1, 7000, true},
			{"dflt1", "tcp", web1, 7000, false},
			{"dflt1", "udp", web1, 5353, false},
			{"dflt1", "icmp", web1, 0, false},
			{"lck", "udp", web1, 5353, false},
			// db: 5432 from members of web (web1, multi) only.
			{"web1", "tcp", db1, 5432, true},
			{"multi", "tcp", db1, 5432, true},
			{"web1", "tcp", db1, 5433, false},
			{"cli1", "tcp", db1, 5432, false},
			{"dflt1", "tcp", db1, 5432, false},
			{"web1", "icmp", db1, 0, false},
			// Union: multi (web + db) takes web's and db's rules.
			{"cli1", "tcp", mlt, 8080, true},  // web
			{"cli1", "tcp", mlt, 9005, true},  // web, from subnet a
			{"web1", "tcp", mlt, 5432, true},  // db, from group web
			{"cli1", "tcp", mlt, 5432, false}, // db needs group web
			{"cli1", "tcp", mlt, 5433, false},
			// Implicit default group: all protocols from its members, all egress.
			{"dflt1", "tcp", dflt2, 7777, true},
			{"dflt1", "udp", dflt2, 5353, true},
			{"dflt1", "icmp", dflt2, 0, true},
			{"dflt2", "tcp", dflt1, 9011, true},
			{"cli1", "tcp", dflt2, 7777, false},
			{"web1", "icmp", dflt2, 0, false},
			{"db1", "udp", dflt2, 5353, false},
			// Egress of locked: tcp 8080 to group web, tcp 9000 to web1 only.
			{"lck", "http", web1, 8080, true},
			{"lck", "tcp", mlt, 8080, true},    // group web, other subnet
			{"lck", "tcp", web1, 9000, true},   // destination 10.6.1.10/32
			{"lck", "tcp", web1, 9005, false},  // web1 would take it (subnet a); lck's egress not
			{"lck", "tcp", mlt, 9000, false},   // not 10.6.1.10
			{"lck", "tcp", dflt1, 8080, false}, // not in web (and default would refuse it too)
		})
	})

	t.Run("membership", func(t *testing.T) {
		// dflt1 joins client (and stays in default): it gets client's access,
		// and only the flows of rules that name client (and dflt1's own) change.
		unrelated := []string{
			"vpcs[sg].security_groups[web].ingress[0]", "vpcs[sg].security_groups[web].ingress[1]",
			"vpcs[sg].security_groups[db]", "vpcs[sg].security_groups[locked]",
		}
		rows := flowRows(t, br)
		before := cookiesOwnedBy(rows, unrelated...)
		if len(before) == 0 {
			var owners []string
			for _, r := range rows {
				owners = append(owners, r.Owner)
			}
			sort.Strings(owners)
			t.Fatalf("no flow is owned by %v; owners:\n%s", unrelated, strings.Join(owners, "\n"))
		}
		setup.dflt1Groups = "default, client"
		writeTopology(t, file, br, sgTopology(script, dir, setup))
		sum := applyJSON(t, file)
		if sum.FlowsAdded+sum.FlowsDeleted == 0 || sum.FlowsAdded+sum.FlowsDeleted >= 20 {
			t.Errorf("adding dflt1 to client: +%d -%d flows (%d flow-mods), want 1-19", sum.FlowsAdded, sum.FlowsDeleted, sum.FlowMods)
		}
		if after := cookiesOwnedBy(flowRows(t, br), unrelated...); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("flows of rules that do not name client changed:\nbefore\n%s\nafter\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
		}
		// `flows --instance dflt1` now lists client's rules too (and no other group's).
		var inst []flowRow
		if err := json.Unmarshal([]byte(mustVpcctl(t, "flows", "--bridge", br, "--instance", "dflt1", "-o", "json")), &inst); err != nil {
			t.Fatal(err)
		}
		groups := map[string]bool{}
		for _, r := range inst {
			mine := false
			for _, own := range strings.Split(r.Owner, ", ") {
				for _, g := range []string{"client", "default"} {
					if strings.HasPrefix(own, "vpcs[sg].security_groups["+g+"].") {
						groups[g], mine = true, true
					}
				}
				mine = mine || strings.HasPrefix(own, "vpcs[sg].instances[dflt1]") || strings.HasPrefix(own, "vpcs[sg].route_tables[") || strings.HasPrefix(own, "vpcs[sg].network_acls[")
			}
			if !mine {
				t.Errorf("flows --instance dflt1 shows a flow of %s", r.Owner)
			}
		}
		if !groups["client"] || !groups["default"] {
			t.Errorf("flows --instance dflt1 shows the rules of groups %v, want client and default", groups)
		}
		checkProbes(t, br, script, []probe{
			{"dflt1", "udp", web1, 5353, true},
			{"dflt1", "icmp", web1, 0, true},
			{"dflt1", "tcp", web1, 7000, true},
			{"dflt1", "tcp", dflt2, 7777, true}, // still in default
			{"dflt1", "tcp", web1, 9005, false}, // still not subnet a
			{"dflt2", "tcp", web1, 7000, false},
		})

		// cli2 leaves client for default: it loses client's access and gains default's.
		setup.cli2Groups = ""
		writeTopology(t, file, br, sgTopology(script, dir, setup))
		mustVpcctl(t, "apply", "-f", file)
		checkProbes(t, br, script, []probe{
			{"cli2", "icmp", web1, 0, false},
			{"cli2", "udp", web1, 5353, false},
			{"cli2", "tcp", web1, 7000, false},
			{"cli2", "http", web1, 8080, true},
			{"cli2", "tcp", dflt2, 7777, true},
			{"dflt2", "tcp", cli2, 7777, true},
			{"cli1", "tcp", web1, 7000, true},
		})
	})

	t.Run("established", func(t *testing.T) {
		setup = sgSetup{rule7000: `{protocol: tcp, ports: "7000", source_group: client}`, dflt1Groups: "default, client"}
		writeTopology(t, file, br, sgTopology(script, dir, setup))
		mustVpcctl(t, "apply", "-f", file)
		s7000 := startStream(t, br, script, dir, "cli1", web1, 7000)   // web ingress[4]
		s9005 := startStream(t, br, script, dir, "cli1", web1, 9005)   // web ingress[1]
		sDflt := startStream(t, br, script, dir, "dflt1", dflt2, 7777) // default ingress[0]

		// A change that still allows all three: 7000 from a CIDR instead of the group.
		setup.rule7000 = `{protocol: tcp, ports: "6990-7010", source: 10.6.0.0/16}`
		writeTopology(t, file, br, sgTopology(script, dir, setup))
		mustVpcctl(t, "apply", "-f", file)
		checkStreams(t, []stream{s7000, s9005, sDflt}, nil)

		// Without the rule, the 7000 stream stops; the others go on.
		setup.rule7000 = ""
		writeTopology(t, file, br, sgTopology(script, dir, setup))
		mustVpcctl(t, "apply", "-f", file)
		checkStreams(t, []stream{s9005, sDflt}, []stream{s7000})
		checkProbes(t, br, script, []probe{
			{"cli1", "tcp", web1, 7000, false},
			{"cli1", "tcp", web1, 9005, true},
		})

		// dflt1 leaves default: dflt2 takes nothing from it any more,
		// established or new (source_group is the current members).
		setup.dflt1Groups = "client"
		writeTopology(t, file, br, sgTopology(script, dir, setup))
		mustVpcctl(t, "apply", "-f", file)
		checkStreams(t, []stream{s9005}, []stream{sDflt})
		checkProbes(t, br, script, []probe{
			{"dflt1", "tcp", dflt2, 7777, false},
			{"dflt2", "tcp", dflt1, 7777, false},
			{"dflt1", "udp", web1, 5353, true},
		})
	})
}

// invalidCase is a file that must be refused with exit 2, naming want.
type invalidCase struct{ name, body, want string }

// invalidChangesNothing applies valid, then tries each invalid body in the
// same file: validate and apply exit 2 and name the field and line, and the
// bridge's flows, ports and namespaces stay as they were. Restoring the valid
// file then sends no flow-mod.
func invalidChangesNothing(t *testing.T, br, valid string, cases []invalidCase) {
	t.Helper()
	file := topology(t, br, valid)
	mustVpcctl(t, "apply", "-f", file)
	hostState := func() string {
		r := sh(t, "ovs-ofctl -O OpenFlow13 --no-stats dump-flows "+br+" | sort; ovs-vsctl list-ports "+br+
			"; ovs-vsctl --columns=_uuid,external_ids list bridge "+br+"; ip netns list | grep -F 'vpcctl."+br+".' | sort")
		if r.Code != 0 {
			t.Fatalf("reading the host: %s", r.Stderr)
		}
		return r.Stdout
	}
	before := hostState()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writeTopology(t, file, br, c.body)
			for _, cmd := range []string{"validate", "apply"} {
				r := vpcctl(t, cmd, "-f", file)
				if r.Code != 2 {
					t.Errorf("%s: exit %d, want 2\nstdout: %s\nstderr: %s", cmd, r.Code, r.Stdout, r.Stderr)
				}
				if !strings.Contains(r.Stderr, c.want) || !strings.Contains(r.Stderr, "topology.yaml:") {
					t.Errorf("%s: the error does not name %s with its line:\n%s", cmd, c.want, r.Stderr)
				}
			}
			if after := hostState(); after != before {
				t.Errorf("an invalid file changed the host:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
	writeTopology(t, file, br, valid)
	if s := applyJSON(t, file); s.FlowMods != 0 || s.OVSDBWrites != 0 || s.HostChanges != 0 {
		t.Errorf("re-applying the valid file after the invalid ones changed things: %+v", s)
	}
}

// sgInvalid is a valid file with one group rule, one instance group list and
// one extra egress rule to vary.
func sgInvalid(rule, groups, egress string) string {
	e := ""
	if egress != "" {
		e = "        egress:\n          - " + egress + "\n"
	}
	return `vpcs:
  - name: v
    cidr: 10.8.0.0/16
    subnets:
      - {name: a, cidr: 10.8.1.0/24}
    security_groups:
      - name: web
        ingress:
          - ` + rule + "\n" + e + `    instances:
      - {name: i1, subnet: a, security_groups: [` + groups + `]}
      - {name: i2, subnet: a}
`
}

func TestSecurityGroupInvalid(t *testing.T) {
	ok := `{protocol: tcp, ports: "80", source: 0.0.0.0/0}`
	rule := func(r string) string { return sgInvalid(r, "web", "") }
	p := "vpcs[v].security_groups[web].ingress[0]."
	invalidChangesNothing(t, uniqueBridge("tj"), sgInvalid(ok, "web", `{protocol: all, destination: 0.0.0.0/0}`), []invalidCase{
		{"unknown source group", rule(`{protocol: tcp, ports: "80", source_group: nope}`), p + "source_group"},
		{"unknown destination group", sgInvalid(ok, "web", `{protocol: all, destination_group: nope}`), "vpcs[v].security_groups[web].egress[0].destination_group"},
		{"instance in unknown group", sgInvalid(ok, "web, nope", ""), "vpcs[v].instances[i1].security_groups[1]"},
		{"ports with icmp", rule(`{protocol: icmp, ports: "80", source: 0.0.0.0/0}`), p + "ports"},
		{"ports with all", rule(`{protocol: all, ports: "80", source: 0.0.0.0/0}`), p + "ports"},
		{"backwards range", rule(`{protocol: tcp, ports: "90-80", source: 0.0.0.0/0}`), p + "ports"},
		{"port zero", rule(`{protocol: tcp, ports: "0", source: 0.0.0.0/0}`), p + "ports"},
		{"port too big", rule(`{protocol: udp, ports: "70000", source: 0.0.0.0/0}`), p + "ports"},
		{"range too big", rule(`{protocol: tcp, ports: "1000-70000", source: 0.0.0.0/0}`), p + "ports"},
	})
}

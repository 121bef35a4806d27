package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// traceOut is what the tests read of `vpcctl trace -o json`.
type traceOut struct {
	Reachable bool `json:"reachable"`
	Agree     bool `json:"agree"`
	Decider   struct {
		Stage  string `json:"stage"`
		Object string `json:"object"`
	} `json:"decided_by"`
	Hops []struct {
		Direction string `json:"direction"`
		Verdict   string `json:"model_verdict"`
		DPVerdict string `json:"dataplane_verdict"`
		Agree     bool   `json:"agree"`
	} `json:"hops"`
}

func traceJSON(t *testing.T, br, from, to, proto string, port int) traceOut {
	t.Helper()
	return traceJSONWith(t, []string{vpcctlBin}, br, from, to, proto, port)
}

// traceJSONWith is traceJSON with the command that runs vpcctl (another
// host's: nsenter and its own --ovsdb).
func traceJSONWith(t *testing.T, cmd []string, br, from, to, proto string, port int) traceOut {
	t.Helper()
	args := append(cmd[1:len(cmd):len(cmd)], "trace", "--bridge", br, "-o", "json", from, to)
	switch proto {
	case "icmp":
		args = append(args, "--icmp")
	default:
		args = append(args, "--"+proto, fmt.Sprint(port))
	}
	r := runNoFatal(cmd[0], args...)
	var out traceOut
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("vpcctl %s: exit %d: %v\n%s%s", strings.Join(args, " "), r.Code, err, r.Stdout, r.Stderr)
	}
	if (r.Code == 0) != out.Agree {
		t.Errorf("vpcctl %s: exit %d with agree=%v", strings.Join(args, " "), r.Code, out.Agree)
	}
	return out
}

// tcpProbe connects from a namespace: connected or refused (a RST came back)
// is reachable; a timeout is not.
const tcpProbe = `import socket, sys
s = socket.socket(); s.settimeout(1.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except ConnectionRefusedError:
    pass
except OSError:
    sys.exit(1)
`

// liveProbe sends a real packet of the tuple and says whether an answer came.
func liveProbe(br, from, to, proto string, port int, script string) bool {
	ns := "vpcctl." + br + "." + from
	switch proto {
	case "icmp":
		for i := 0; i < 2; i++ {
			if runNoFatal("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", to).Code == 0 {
				return true
			}
		}
		return false
	default:
		return runNoFatal("ip", "netns", "exec", ns, "python3", script, to, fmt.Sprint(port)).Code == 0
	}
}

type tuple struct {
	from, to, addr, proto string // to: as given to trace; addr: what the probe targets
	port                  int
}

// checkTraceAgainstProbes traces every tuple and sends the real packet, in
// parallel (bounded): trace's verdict must equal what the probe saw, and its
// two halves must agree. It returns the traces by tuple.
func checkTraceAgainstProbes(t *testing.T, br string, tuples []tuple) map[tuple]traceOut {
	t.Helper()
	return checkTracesWith(t, br, tuples, func(tp tuple) traceOut { return traceJSON(t, br, tp.from, tp.to, tp.proto, tp.port) })
}

// checkTracesWith is checkTraceAgainstProbes with the trace of a tuple
// made by trace (on the host the tuple names, across hosts).
func checkTracesWith(t *testing.T, br string, tuples []tuple, trace func(tuple) traceOut) map[tuple]traceOut {
	t.Helper()
	script := t.TempDir() + "/tcp_probe.py"
	if err := os.WriteFile(script, []byte(tcpProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[tuple]traceOut{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for _, tp := range tuples {
		tr := trace(tp)
		got[tp] = tr
		wg.Add(1)
		go func(tp tuple, tr traceOut) {
			defer wg.Done()
			sem <- struct{}{}
			live := liveProbe(br, tp.from, tp.addr, tp.proto, tp.port, script)
			<-sem
			mu.Lock()
			defer mu.Unlock()
			name := fmt.Sprintf("%s -> %s %s/%d", tp.from, tp.to, tp.proto, tp.port)
			if !tr.Agree {
				t.Errorf("%s: trace's model and dataplane disagree: %+v", name, tr.Hops)
			}
			if tr.Reachable != live {
				t.Errorf("%s: trace says reachable=%v (decided by %s %s), the real probe says %v", name, tr.Reachable, tr.Decider.Stage, tr.Decider.Object, live)
			}
		}(tp, tr)
	}
	wg.Wait()
	return got
}

func instTuples(pairs [][2]string, addr map[string]string, protos []string, ports []int) []tuple {
	var out []tuple
	for _, p := range pairs {
		for _, proto := range protos {
			if proto == "icmp" {
				out = append(out, tuple{p[0], p[1], addr[p[1]], "icmp", 0})
				continue
			}
			for _, port := range ports {
				out = append(out, tuple{p[0], p[1], addr[p[1]], proto, port})
			}
		}
	}
	return out
}

// waitTCP waits until a workload answers HTTP on addr:port, seen from an instance.
func waitTCP(t *testing.T, br, from, addr string, port int) {
	t.Helper()
	for i := 0; i < 50; i++ {
		if runNoFatal("ip", "netns", "exec", "vpcctl."+br+"."+from, "curl", "-s", "-m", "1", "-o", "/dev/null",
			fmt.Sprintf("http://%s:%d/", addr, port)).Code == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s cannot reach %s:%d", from, addr, port)
}

// On labs 02, 03 and 04, trace's verdict equals a real probe's for every
// tuple (allowed and dropped by each kind of rule), and flipping the rule
// trace names flips both.
func TestTraceMatchesProbes(t *testing.T) {
	t.Run("00-hello", func(t *testing.T) {
		br := uniqueBridge("tq")
		file := labTopology(t, "00-hello", br)
		mustVpcctl(t, "apply", "-f", file)
		waitTCP(t, br, "bob", "10.0.1.4", 8080)
		checkTraceAgainstProbes(t, br, []tuple{
			{"alice", "bob", "10.0.1.20", "icmp", 0},
			{"bob", "alice", "10.0.1.4", "tcp", 8080},
			{"alice", "bob", "10.0.1.20", "tcp", 22}, // the default group: members may, and bob refuses
			{"alice", "10.0.1.1", "10.0.1.1", "icmp", 0},
			{"alice", "10.0.1.77", "10.0.1.77", "icmp", 0}, // nobody there
		})
	})
	t.Run("01-routing", func(t *testing.T) {
		br := uniqueBridge("tq")
		file := labTopology(t, "01-routing", br)
		mustVpcctl(t, "apply", "-f", file)
		waitTCP(t, br, "red-web", "10.0.2.10", 8080)
		got := checkTraceAgainstProbes(t, br, []tuple{
			{"red-web", "red-app", "10.0.2.10", "tcp", 8080},
			{"blue-web", "blue-app", "10.0.2.10", "tcp", 8080},
			{"red-app", "red-web", "10.0.1.10", "icmp", 0},
			{"red-web", "10.0.9.9", "10.0.9.9", "icmp", 0}, // inside the VPC CIDR, nobody: the local route drops
			{"blue-web", "10.0.2.1", "10.0.2.1", "icmp", 0},
		})
		// Same addresses in two tenants: red-web's 10.0.2.10 is red-app.
		if d := got[tuple{"red-web", "red-app", "10.0.2.10", "tcp", 8080}].Decider; d.Object != "vpcs[red].instances[red-app]" {
			t.Errorf("red-web -> 10.0.2.10 delivered to %+v, want red-app", d)
		}
	})
	t.Run("02-security", func(t *testing.T) {
		br := uniqueBridge("tq")
		file := labTopology(t, "02-security", br)
		mustVpcctl(t, "apply", "-f", file)
		addr := map[string]string{"web1": "10.0.1.10", "client": "10.0.1.20", "db1": "10.0.2.10"}
		waitTCP(t, br, "client", addr["web1"], 8080)
		names := []string{"web1", "client", "db1"}
		var pairs [][2]string
		for _, a := range names {
			for _, b := range names {
				if a != b {
					pairs = append(pairs, [2]string{a, b})
				}
			}
		}
		tuples := instTuples(pairs, addr, []string{"tcp", "icmp"}, []int{8080, 5432, 22})
		tuples = append(tuples,
			tuple{"web1", "10.0.2.99", "10.0.2.99", "tcp", 80}, // local route, nobody there
			tuple{"db1", "10.0.2.1", "10.0.2.1", "icmp", 0},    // the router
			tuple{"web1", "10.0.1.1", "10.0.1.1", "icmp", 0},   // the router
			tuple{"client", "10.9.9.9", "10.9.9.9", "icmp", 0}) // no route
		got := checkTraceAgainstProbes(t, br, tuples)
		t.Logf("%d tuples traced and probed", len(tuples))

		if d := got[tuple{"client", "db1", "10.0.2.10", "tcp", 5432}].Decider; d.Object != "vpcs[shop].instances[db1].security_groups" {
			t.Fatalf("client -> db1 tcp/5432 decided by %+v", d)
		}
		if d := got[tuple{"web1", "db1", "10.0.2.10", "tcp", 22}].Decider; d.Object != "vpcs[shop].network_acls[private-acl]" {
			t.Fatalf("web1 -> db1 tcp/22 decided by %+v", d)
		}
		// Flip 1: a db rule for client's address lets it in (rule 100 of the NACL allows 10.0.1.0/24).
		labSed(t, file, `s|ports: "5432", source_group: web}|ports: "5432", source_group: web}\n          - {protocol: tcp, ports: "5432", source: 10.0.1.20/32}|`)
		mustVpcctl(t, "apply", "-f", file)
		clientDB := tuple{"client", "db1", "10.0.2.10", "tcp", 5432}
		if tr := checkTraceAgainstProbes(t, br, []tuple{clientDB})[clientDB]; !tr.Reachable {
			t.Errorf("with a db rule for client: client -> db1 still decided by %+v", tr.Decider)
		}
		// Flip 2: NACL rule 100 narrowed to web1: client is stopped by the ACL now, web1 is not.
		labSed(t, file, `s|{rule: 100, protocol: tcp, ports: "5432", source: 10.0.1.0/24, action: allow}|{rule: 100, protocol: tcp, ports: "5432", source: 10.0.1.10/32, action: allow}|`)
		mustVpcctl(t, "apply", "-f", file)
		webDB := tuple{"web1", "db1", "10.0.2.10", "tcp", 5432}
		flipped := checkTraceAgainstProbes(t, br, []tuple{clientDB, webDB})
		if tr := flipped[clientDB]; tr.Reachable || tr.Decider.Object != "vpcs[shop].network_acls[private-acl]" {
			t.Errorf("NACL rule 100 narrowed to web1: client -> db1 decided by %+v, want the ACL's implicit deny", tr.Decider)
		}
		if tr := flipped[webDB]; !tr.Reachable {
			t.Errorf("web1 -> db1 tcp/5432 no longer reachable: %+v", tr.Decider)
		}
	})
	t.Run("03-internet", func(t *testing.T) {
		br, file, _ := lab03(t)
		waitTCP(t, br, "internet", "203.0.113.20", 8080)
		tuples := []tuple{
			{"app1", "internet", "203.0.113.100", "tcp", 8080},        // NAT gateway
			{"web1", "internet", "203.0.113.100", "tcp", 8080},        // elastic IP
			{"app1", "internet", "203.0.113.100", "icmp", 0},          //
			{"internet", "web1", "203.0.113.20", "tcp", 8080},         // elastic IP inbound
			{"internet", "web1", "203.0.113.20", "tcp", 22},           // refused by web's group
			{"internet", "203.0.113.10", "203.0.113.10", "tcp", 8080}, // nothing opens inward through a NAT gateway
			{"internet", "10.0.2.10", "10.0.2.10", "tcp", 8080},       // private addresses are not on the internet
			{"internet", "203.0.113.1", "203.0.113.1", "icmp", 0},     // the external gateway
			{"app1", "203.0.113.20", "203.0.113.20", "tcp", 8080},     // hairpin: NAT gateway -> elastic IP
			{"web1", "203.0.113.20", "203.0.113.20", "tcp", 8080},     // its own elastic IP
			{"web1", "app1", "10.0.2.10", "tcp", 8080},                // inside the VPC
			{"app1", "203.0.113.77", "203.0.113.77", "icmp", 0},       // no such host
		}
		got := checkTraceAgainstProbes(t, br, tuples)
		// Flip: without private-rt's default route, app1 loses the internet,
		// and trace names the route table.
		if d := got[tuples[0]].Decider; !strings.Contains(d.Object, "hosts[internet]") {
			t.Errorf("app1 -> internet decided by %+v", d)
		}
		labSed(t, file, `/via: nat-gateway\/nat1/d`)
		mustVpcctl(t, "apply", "-f", file)
		flipped := checkTraceAgainstProbes(t, br, tuples[:1])
		if tr := flipped[tuples[0]]; tr.Reachable || tr.Decider.Object != "vpcs[shop].route_tables[private-rt]" {
			t.Errorf("without the NAT route: app1 -> internet decided by %+v, want route table private-rt", tr.Decider)
		}
	})
	t.Run("04-peering", func(t *testing.T) {
		br := uniqueBridge("tq")
		file := labTopology(t, "04-peering", br)
		mustVpcctl(t, "apply", "-f", file)
		addr := map[string]string{"dev1": "10.10.1.10", "dev2": "10.10.1.20", "registry": "10.20.1.10", "prod1": "10.30.1.10"}
		waitTCP(t, br, "dev1", addr["registry"], 8080)
		var pairs [][2]string
		for _, a := range []string{"dev1", "dev2", "registry", "prod1"} {
			for _, b := range []string{"dev1", "dev2", "registry", "prod1"} {
				if a != b {
					pairs = append(pairs, [2]string{a, b})
				}
			}
		}
		tuples := instTuples(pairs, addr, []string{"tcp", "icmp"}, []int{8080})
		tuples = append(tuples, tuple{"dev1", "10.20.1.99", "10.20.1.99", "icmp", 0})
		got := checkTraceAgainstProbes(t, br, tuples)
		// Flip: dev2 joins group app (which registry's rule names) and gets in.
		if d := got[tuple{"dev2", "registry", "10.20.1.10", "tcp", 8080}].Decider; d.Object != "vpcs[shared].instances[registry].security_groups" {
			t.Errorf("dev2 -> registry decided by %+v", d)
		}
		labSed(t, file, `s|{name: dev2, subnet: app, ip: 10.10.1.20,|{name: dev2, subnet: app, ip: 10.10.1.20, security_groups: [app],|`)
		mustVpcctl(t, "apply", "-f", file)
		flipped := checkTraceAgainstProbes(t, br, []tuple{{"dev2", "registry", "10.20.1.10", "tcp", 8080}})
		if tr := flipped[tuple{"dev2", "registry", "10.20.1.10", "tcp", 8080}]; !tr.Reachable {
			t.Errorf("dev2 in group app still cannot reach registry: %+v", tr.Decider)
		}
		// A peering with a route on one side only: shared loses its route back
		// to dev. The request still gets there; the reply has no route, and
		// trace names shared's route table.
		labSed(t, file, `/destination: 10.10.0.0\/16, via: peering\/dev-shared/d`)
		mustVpcctl(t, "apply", "-f", file)
		devReg := tuple{"dev1", "registry", "10.20.1.10", "tcp", 8080}
		tr := checkTraceAgainstProbes(t, br, []tuple{devReg})[devReg]
		if tr.Reachable || tr.Decider.Object != "vpcs[shared].route_tables[main]" || len(tr.Hops) != 2 ||
			tr.Hops[0].Verdict != "ACCEPT" || tr.Hops[1].Verdict != "DROP" {
			t.Errorf("without shared's route back: dev1 -> registry decided by %+v, hops %+v; want the request delivered and the reply dropped by shared's route table", tr.Decider, tr.Hops)
		}
	})
}

// labSed edits a topology file in place with sed scripts.
func labSed(t *testing.T, file string, scripts ...string) {
	t.Helper()
	for _, s := range scripts {
		if r := runNoFatal("sed", "-i", s, file); r.Code != 0 {
			t.Fatalf("sed %s: %s", s, r.Stderr)
		}
	}
}

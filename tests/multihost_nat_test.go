package tests

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Addresses of TestMultiHostGateways (the topology of issue 13's gateways
// across hosts: the external network and every gateway on h1).
const (
	mnNatIP   = "203.0.113.10"  // nat1, prod's NAT gateway (on h1)
	mnPubEIP  = "203.0.113.20"  // pub's elastic IP (pub on h3)
	mnInetIP  = "203.0.113.100" // inet, the simulated internet host (on h1)
	mnPrivIP  = "10.1.2.10"     // priv, prod's private subnet (h2)
	mnPubIP   = "10.1.1.10"     // pub, prod's public subnet (h3)
	mnSvcIP   = "10.2.1.10"     // svc, VPC shared, peered with prod (h3)
	mnBigPort = "8081"          // inet's file server (the large transfers)
	mnBigSize = 4 << 20         // bytes of the large file
)

// mnTopology is the brief's topology with every workload answering with the
// client address it sees (inetServe: also logs its peers and says when it
// listens). priv serves too (default group: nothing from outside may reach
// it), so that a blocked connection to it had a listener.
func mnTopology(br, script, dir string) string {
	run := func(name string) string { return inetServe(script, dir, name) }
	return `version: 1
bridge: ` + br + `
hosts:
  - {name: h1, tunnel_ip: 100.64.0.1}
  - {name: h2, tunnel_ip: 100.64.0.2}
  - {name: h3, tunnel_ip: 100.64.0.3}
external:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  host: h1
  hosts:
    - {name: inet, ip: ` + mnInetIP + `, run: ` + run("inet") + `}
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    internet_gateway: true
    subnets:
      - {name: public, cidr: 10.1.1.0/24, route_table: public-rt}
      - {name: private, cidr: 10.1.2.0/24, route_table: private-rt}
    route_tables:
      - name: public-rt
        routes:
          - {destination: 0.0.0.0/0, via: internet-gateway}
      - name: private-rt
        routes:
          - {destination: 0.0.0.0/0, via: nat-gateway/nat1}
          - {destination: 10.2.0.0/16, via: peering/pp}
    nat_gateways:
      - {name: nat1, subnet: public, public_ip: ` + mnNatIP + `}
    security_groups:
      - name: web
        ingress:
          - {protocol: tcp, ports: "8080", source: 0.0.0.0/0}
          - {protocol: icmp, source: 0.0.0.0/0}
    instances:
      - {name: priv, subnet: private, host: h2, ip: ` + mnPrivIP + `, run: ` + run("priv") + `}
      - {name: pub, subnet: public, host: h3, ip: ` + mnPubIP + `, public_ip: ` + mnPubEIP + `, security_groups: [web], run: ` + run("pub") + `}
  - name: shared
    cidr: 10.2.0.0/16
    subnets:
      - {name: s, cidr: 10.2.1.0/24, route_table: back}
    route_tables:
      - name: back
        routes:
          - {destination: 10.1.0.0/16, via: peering/pp}
    security_groups:
      - name: open
        ingress:
          - {protocol: all, source: 10.0.0.0/8}
    instances:
      - {name: svc, subnet: s, host: h3, ip: ` + mnSvcIP + `, security_groups: [open], run: ` + run("svc") + `}
peerings:
  - {name: pp, vpcs: [prod, shared]}
`
}

// mnFileServer serves the files of a directory over HTTP (PORT DIR LIFETIME).
const mnFileServer = `import functools, http.server, socketserver, sys, threading, time
class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
s = S(("0.0.0.0", int(sys.argv[1])), functools.partial(H, directory=sys.argv[2]))
threading.Thread(target=s.serve_forever, daemon=True).start()
time.sleep(float(sys.argv[3]))
`

// mnTest is one run of TestMultiHostGateways.
type mnTest struct {
	br, dir, script, file string
	hosts                 []simHost
}

// ns is the namespace of an instance or external host (machine-wide names).
func (n *mnTest) ns(name string) string { return "vpcctl." + n.br + "." + name }

// vpcctlArgv is vpcctl as host h (nsenter --net: the namespaces it
// bind-mounts must be seen outside), against h's ovsdb-server.
func (n *mnTest) vpcctlArgv(h simHost, args ...string) []string {
	return append([]string{"--net=/run/netns/" + h.NS, vpcctlBin, "--ovsdb", h.OVSDB, "--host", h.Name}, args...)
}

// on runs vpcctl as host h.
func (n *mnTest) on(t *testing.T, h simHost, args ...string) result {
	t.Helper()
	return run(t, 2*time.Minute, "nsenter", n.vpcctlArgv(h, args...)...)
}

// in runs a command in an instance's or external host's namespace, bounded.
func (n *mnTest) in(t *testing.T, name string, timeout time.Duration, argv ...string) result {
	t.Helper()
	return run(t, timeout, "ip", append([]string{"netns", "exec", n.ns(name)}, argv...)...)
}

// bgIn starts a command in a namespace, stopped at the end of the test at
// the latest.
func (n *mnTest) bgIn(t *testing.T, name string, argv ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command("ip", append([]string{"netns", "exec", n.ns(name)}, argv...)...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	return b
}

// curl fetches url once from a namespace (3 s at most, or maxTime seconds
// with extra options) and returns stdout and curl's exit code (7 refused or
// unreachable, 28 timeout). It does not touch t: it may run concurrently.
func (n *mnTest) curl(from, url string, extra ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"netns", "exec", n.ns(from), "curl", "-s", "-S", "--max-time", "3"}, extra...)
	cmd := exec.CommandContext(ctx, "ip", append(args, url)...)
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return strings.TrimSpace(string(out)), code
}

// fetchAs fetches url from a namespace (retrying for up to 20 s: the first
// packet towards another host may meet cold ARP caches on both sides of the
// tunnel) and wants the server to have seen the client as wantClient.
func (n *mnTest) fetchAs(t *testing.T, from, url, wantClient string) {
	t.Helper()
	var body string
	var code int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if body, code = n.curl(from, url); code == 0 {
			break
		}
	}
	if code != 0 {
		t.Errorf("%s: curl %s: exit %d (7: refused/unreachable, 28: timeout) for 20 s; want a page", from, url, code)
		return
	}
	if want := "client=" + wantClient; body != want {
		t.Errorf("%s: curl %s: the server saw the client as %q, want %q", from, url, strings.TrimPrefix(body, "client="), wantClient)
	}
}

// mustFail tries each attempt twice, concurrently, and reports every one that
// got a page.
func (n *mnTest) mustFail(t *testing.T, attempts []attempt) {
	t.Helper()
	type res struct {
		body string
		code int
	}
	got := make([]res, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 2; k++ {
				b, c := n.curl(a.from, a.url)
				got[i] = res{b, c}
				if c == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, a := range attempts {
		if got[i].code == 0 {
			t.Errorf("%s: curl %s got a page (%q), but %s", a.from, a.url, got[i].body, a.why)
		}
	}
}

// download fetches inet's large file from a namespace (30 s at most) and
// checks its size and digest.
func (n *mnTest) download(t *testing.T, from, wantSum string) {
	t.Helper()
	url := "http://" + mnInetIP + ":" + mnBigPort + "/big.bin"
	out := filepath.Join(n.dir, from+".big")
	defer os.Remove(out)
	start := time.Now()
	var code int
	var msg string
	for i := 0; i < 3; i++ {
		_ = os.Remove(out)
		if msg, code = n.curl(from, url, "--max-time", "30", "-o", out, "-w", "%{size_download} %{speed_download}"); code == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code != 0 {
		t.Errorf("%s: curl %s: exit %d (18: partial, 28: timeout; an MTU or offload problem stalls large segments): %s", from, url, code, msg)
		return
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s: the downloaded file: %v", from, err)
	}
	sum := sha256.Sum256(b)
	if len(b) != mnBigSize || hex.EncodeToString(sum[:]) != wantSum {
		t.Errorf("%s: downloaded %d bytes (sha256 %x), want %d bytes (sha256 %s)", from, len(b), sum, mnBigSize, wantSum)
		return
	}
	t.Logf("%s: %d bytes from inet in %v (curl: %s)", from, len(b), time.Since(start).Round(time.Millisecond), msg)
}

// TestMultiHostGateways: the topology of issue 13 with the external network
// and all of prod's gateways on h1, priv on h2, pub and svc (another VPC,
// peered) on h3. Real traffic checks the NAT gateway and the elastic IP
// across the tunnel (the source address the other side sees), that nothing
// enters through the NAT gateway, peering across hosts with the default
// group, large transfers through the gateways (MTU, offloads), and that a
// second apply on each host changes nothing.
func TestMultiHostGateways(t *testing.T) {
	hosts := startSimHosts(t, 3)
	n := &mnTest{br: uniqueBridge("mn"), hosts: hosts, dir: t.TempDir()}
	n.script = inetScript(t, n.dir)
	n.file = filepath.Join(n.dir, "topology.yaml")
	if err := os.WriteFile(n.file, []byte(mnTopology(n.br, n.script, n.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Runs before sim-hosts down (registered earlier): destroy as every
	// host, then no namespace of the bridge may be left.
	t.Cleanup(func() {
		for _, h := range hosts {
			if r := runNoFatal("nsenter", n.vpcctlArgv(h, "destroy", "-f", n.file)...); r.Code != 0 {
				t.Errorf("cleanup: destroy on %s: exit %d: %s", h.Name, r.Code, r.Stderr)
			}
		}
		ents, _ := os.ReadDir("/run/netns")
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "vpcctl."+n.br+".") {
				t.Errorf("cleanup: namespace %s left after destroy on every host", e.Name())
			}
		}
	})

	if !t.Run("apply", func(t *testing.T) {
		want := map[string]int{"h1": 1, "h2": 1, "h3": 2} // h1: the external host inet
		for _, h := range hosts {
			r := n.on(t, h, "apply", "-o", "json", "-f", n.file)
			if r.Code != 0 {
				t.Fatalf("apply on %s: exit %d\n%s%s", h.Name, r.Code, r.Stdout, r.Stderr)
			}
			var s struct {
				Instances  int `json:"instances"`
				FlowsAdded int `json:"flows_added"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
				t.Fatalf("apply on %s -o json: %v: %s", h.Name, err, r.Stdout)
			}
			if s.Instances != want[h.Name] || s.FlowsAdded == 0 {
				t.Errorf("apply on %s: %d instances, %d flows added; want %d instances and flows", h.Name, s.Instances, s.FlowsAdded, want[h.Name])
			}
		}
		for _, name := range []string{"inet", "priv", "pub", "svc"} {
			if _, err := os.Stat("/run/netns/" + n.ns(name)); err != nil {
				t.Errorf("no namespace %s after apply on every host: %v", n.ns(name), err)
			}
		}
		waitReady(t, n.dir, "inet", "priv", "pub", "svc")
	}) {
		t.FailNow()
	}

	t.Run("nat-gateway-outbound", func(t *testing.T) {
		// priv (h2) -> inet (h1) through nat1 (h1): inet sees nat1's address.
		n.fetchAs(t, "priv", "http://"+mnInetIP+":8080/", mnNatIP)
		if peers := peersLogged(n.dir, "inet"); slices.ContainsFunc(peers, func(p string) bool { return strings.HasPrefix(p, "10.") }) {
			t.Errorf("inet saw a private address: %v", peers)
		}
		if r := n.in(t, "priv", 20*time.Second, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", mnInetIP); r.Code != 0 {
			t.Errorf("priv cannot ping inet through the NAT gateway:\n%s%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("elastic-ip", func(t *testing.T) {
		// inet (h1) -> pub's elastic IP -> pub (h3): pub sees inet's own address.
		n.fetchAs(t, "inet", "http://"+mnPubEIP+":8080/", mnInetIP)
		// pub's own connection out leaves with its elastic IP.
		n.fetchAs(t, "pub", "http://"+mnInetIP+":8080/", mnPubEIP)
		if r := n.in(t, "inet", 20*time.Second, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", mnPubEIP); r.Code != 0 {
			t.Errorf("inet cannot ping pub's elastic IP (web allows icmp from anywhere):\n%s%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("no-inbound", func(t *testing.T) {
		// priv serves 8080; only the NAT gateway and the private address
		// stand between it and inet.
		n.mustFail(t, []attempt{
			{"inet", "http://" + mnNatIP + ":8080/", "a NAT gateway takes no connection inward"},
			{"inet", "http://" + mnPrivIP + ":8080/", "a private address is not reachable from the internet"},
			{"inet", "http://" + mnPubIP + ":8080/", "a private address is not reachable from the internet"},
		})
		if peers := peersLogged(n.dir, "priv"); len(peers) > 0 {
			t.Errorf("priv's server accepted connections from %v; nothing may reach it from the internet", peers)
		}
	})

	t.Run("peering-across-hosts", func(t *testing.T) {
		// priv (prod, h2) -> svc (shared, h3): no NAT over a peering.
		n.fetchAs(t, "priv", "http://"+mnSvcIP+":8080/", mnPrivIP)
		// SPEC §1: prod has no `default` group, so it gets one admitting
		// only its members; svc is not one, so its new connection to priv
		// gets no answer (the route back exists: priv -> svc above works).
		n.mustFail(t, []attempt{{"svc", "http://" + mnPrivIP + ":8080/", "prod's default group admits only its own members"}})
		if r := n.in(t, "svc", 20*time.Second, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", mnPrivIP); r.Code == 0 {
			t.Errorf("svc pings priv, but prod's default group admits only its own members:\n%s", r.Stdout)
		}
		if peers := peersLogged(n.dir, "priv"); len(peers) > 0 {
			t.Errorf("priv's server accepted connections from %v; its default group admits only prod's default members", peers)
		}
	})

	t.Run("large-transfers", func(t *testing.T) {
		// A random file served by inet, fetched through the NAT gateway (h2
		// -> h1) and the elastic IP (h3 -> h1): full-size segments through
		// the tunnel and the gateways' rewrites.
		big := filepath.Join(n.dir, "big")
		if err := os.MkdirAll(big, 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, mnBigSize)
		_, _ = rand.Read(data)
		if err := os.WriteFile(filepath.Join(big, "big.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		// Not `python3 -m http.server`: it looks up its address's name
		// (getfqdn) before it listens, and the namespace has no DNS.
		fileServer := filepath.Join(n.dir, "files.py")
		if err := os.WriteFile(fileServer, []byte(mnFileServer), 0o644); err != nil {
			t.Fatal(err)
		}
		// python3 itself (ip netns exec execs it), not under timeout: the
		// kill at the end must reach it; it ends by itself after 120 s.
		srv := n.bgIn(t, "inet", "python3", fileServer, mnBigPort, big, "120")
		defer srv.stop()
		for i := 0; ; i++ {
			if r := n.in(t, "inet", 10*time.Second, "curl", "-s", "-o", "/dev/null", "--max-time", "2", "http://"+mnInetIP+":"+mnBigPort+"/"); r.Code == 0 {
				break
			}
			if i == 50 {
				t.Fatalf("inet's file server does not answer locally: %s", srv.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.download(t, "priv", hex.EncodeToString(sum[:]))
		n.download(t, "pub", hex.EncodeToString(sum[:]))

		// Upload through the NAT gateway: iperf3 -t 2 priv -> inet.
		isrv := n.bgIn(t, "inet", "timeout", "60", "iperf3", "-s", "-1", "-B", mnInetIP)
		defer isrv.stop()
		var out iperfResult
		var r result
		start, tries := time.Now(), 0
		for i := 0; i < 20; i++ {
			tries++
			r = n.in(t, "priv", 25*time.Second, "timeout", "15", "iperf3", "-c", mnInetIP, "-J", "--connect-timeout", "1000", "-t", "2")
			out = iperfResult{}
			if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
				out.Error = "unreadable JSON: " + err.Error()
			}
			if r.Code == 0 && out.Error == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		switch {
		case r.Code != 0 || out.Error != "":
			t.Errorf("iperf3 priv -> inet through the NAT gateway: exit %d %s %s\nserver: %s", r.Code, out.Error, r.Stderr, isrv.out.String())
		case out.End.SumReceived.Bytes < 1e6:
			t.Errorf("iperf3 priv -> inet (2 s): %.0f bytes received:\n%s", out.End.SumReceived.Bytes, r.Stdout)
		default:
			t.Logf("iperf3 priv (h2) -> inet (h1) through the NAT gateway: %.0f bytes, %.0f Mbit/s (%d tries, %v)", out.End.SumReceived.Bytes, out.End.SumReceived.BitsPerSecond/1e6, tries, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("reapply-changes-nothing", func(t *testing.T) {
		for _, h := range hosts {
			r := n.on(t, h, "apply", "-f", n.file)
			if r.Code != 0 {
				t.Fatalf("second apply on %s: exit %d\n%s%s", h.Name, r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stdout, "(+0 -0, 0 flow-mods)") || !strings.Contains(r.Stdout, " 0 host changes, 0 instances removed") {
				t.Errorf("second apply on %s changed things: %s", h.Name, strings.TrimSpace(r.Stdout))
			}
			// SPEC §4: an unchanged file sends no OVSDB write either.
			if !strings.Contains(r.Stdout, " 0 OVSDB writes,") {
				t.Errorf("second apply on %s wrote to OVSDB: %s", h.Name, strings.TrimSpace(r.Stdout))
			}
		}
		// The dataplane is still there after it.
		n.fetchAs(t, "priv", "http://"+mnInetIP+":8080/", mnNatIP)
	})
}

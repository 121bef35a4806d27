package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// inetPy is the helper of the internet tests, run inside namespaces (serve)
// and in the host namespace (capture).
//
//	serve PORT LOG READY LIFETIME [ADDRESS]
//	    an HTTP server whose page is "client=ADDRESS" (the peer it sees);
//	    every accepted connection appends its peer address to LOG. It
//	    listens on ADDRESS only when given (all addresses otherwise).
//	capture SECONDS STOP OUT READY IFACES OWN
//	    an AF_PACKET capture (all protocols) in the calling namespace: every
//	    IPv4 packet or ARP frame seen on one of IFACES (comma-separated) with
//	    an address of the test networks (203.0.113.0/24, 198.51.100.0/24,
//	    10.0.0.0/8, 192.0.2.50, 192.0.2.60) and none of OWN (the host's own
//	    addresses: its own traffic, such as DNS) is written to OUT, one line
//	    each. READY is written once the socket has seen its own marker
//	    datagram on lo; it stops when STOP exists or after SECONDS, and then
//	    writes "done frames=N" (frames seen on IFACES).
const inetPy = `import ipaddress, os, socket, sys, threading, time


def serve(port, log, ready, lifetime, bind="0.0.0.0"):
    import http.server

    lock = threading.Lock()

    class Who(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = ("client=%s\n" % self.client_address[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True

        def verify_request(self, request, client_address):
            with lock:
                with open(log, "a") as f:
                    f.write(client_address[0] + "\n")
            return True

    s = Server((bind, port), Who)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(ready, "w") as f:
        f.write("ready\n")
    time.sleep(lifetime)


NETS = [ipaddress.ip_network(n) for n in (
    "203.0.113.0/24", "198.51.100.0/24", "10.0.0.0/8", "192.0.2.50/32", "192.0.2.60/32")]


def addrs(data, hatype):
    """The IPv4 addresses of an IPv4 packet or ARP frame, and its kind."""
    off = 0
    if hatype in (1, 772):  # Ethernet, loopback
        if len(data) < 14:
            return None, []
        et = int.from_bytes(data[12:14], "big")
        off = 14
        while et in (0x8100, 0x88A8) and len(data) >= off + 4:
            et = int.from_bytes(data[off + 2:off + 4], "big")
            off += 4
    elif len(data) > 0 and data[0] >> 4 == 4:
        et = 0x0800
    else:
        return None, []
    if et == 0x0800 and len(data) >= off + 20:
        return "ip", [data[off + 12:off + 16], data[off + 16:off + 20]]
    if et == 0x0806 and len(data) >= off + 28:
        return "arp", [data[off + 14:off + 18], data[off + 24:off + 28]]
    return None, []


def capture(seconds, stop, out, ready, ifaces, own):
    watch = set(i for i in ifaces.split(",") if i)
    own = set(ipaddress.ip_address(a) for a in own.split(",") if a)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.settimeout(0.2)
    marker = ("vpcctl-capture-" + os.urandom(8).hex()).encode()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    seen, deadline = False, time.time() + 10
    while not seen and time.time() < deadline:
        u.sendto(marker, ("127.0.0.1", 9))
        until = time.time() + 0.5
        while time.time() < until:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                break
            if marker in data:
                seen = True
                break
    if not seen:
        sys.exit("capture: the socket never saw its own datagram on lo")
    with open(ready, "w") as f:
        f.write("ready\n")
    frames = 0
    f = open(out, "a", buffering=1)
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(stop):
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[0] not in watch:
            continue
        frames += 1
        kind, raw = addrs(data, addr[3])
        ips = [ipaddress.ip_address(b) for b in raw]
        if not ips or any(a in own for a in ips):
            continue
        if any(a in n for a in ips for n in NETS):
            dirn = "out" if addr[2] == socket.PACKET_OUTGOING else "in"
            f.write("%s %s %s %s > %s (%d bytes)\n" % (addr[0], dirn, kind, ips[0], ips[1], len(data)))
    f.write("done frames=%d\n" % frames)
    f.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), *sys.argv[6:7])
    elif cmd == "capture":
        capture(float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7])
    else:
        sys.exit("unknown command " + cmd)
`

// The simulated internet of every internet test.
const (
	extCIDR    = "203.0.113.0/24"
	extGateway = "203.0.113.1"
	inetHostIP = "203.0.113.100"
	inetURL    = "http://" + inetHostIP + ":8080/"
)

// inetScript writes the helper into dir and returns its path.
func inetScript(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "inet.py")
	if err := os.WriteFile(p, []byte(inetPy), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// inetServe is the `run:` line of a workload answering HTTP on port 8080
// with the address it sees; it logs its peers to DIR/NAME.log and writes
// DIR/NAME.ready once it listens.
func inetServe(script, dir, name string) string {
	return fmt.Sprintf("%q", fmt.Sprintf("exec python3 %s serve 8080 %s/%s.log %s/%s.ready 600", script, dir, name, dir, name))
}

// externalSection is the `external:` section with the internet host serving.
func externalSection(script, dir string) string {
	return `external:
  cidr: ` + extCIDR + `
  gateway: ` + extGateway + `
  hosts:
    - {name: internet, ip: ` + inetHostIP + `, run: ` + inetServe(script, dir, "internet") + `}
`
}

// inetTest is the start of every internet test: a bridge, a directory for
// the workloads' files with the helper script in it, a capture on the
// uplink, and the topology applied with the named workloads listening.
type inetTest struct {
	br, dir, script, file string
	capture               *hostCapture
}

func startInetTest(t *testing.T, prefix string, body func(script, dir string) string, ready ...string) *inetTest {
	t.Helper()
	e := &inetTest{br: uniqueBridge(prefix), dir: t.TempDir()}
	e.script = inetScript(t, e.dir)
	e.capture = startHostCapture(t, e.script, e.dir, e.br)
	e.file = topology(t, e.br, body(e.script, e.dir))
	mustVpcctl(t, "apply", "-f", e.file)
	waitReady(t, e.dir, ready...)
	return e
}

// webGroupYAML is the security_groups section of the internet tests: web
// takes 8080 and ping from anywhere, so that only the gateways decide.
const webGroupYAML = `    security_groups:
      - name: web
        ingress:
          - {protocol: tcp, ports: "8080", source: 0.0.0.0/0}
          - {protocol: icmp, source: 0.0.0.0/0}
`

// twoTierVPC is a VPC NET.0.0/16 (NET like "10.80") with a public subnet
// NET.1.0/24 (0.0.0.0/0 via the internet gateway) and a private one NET.2.0/24
// (0.0.0.0/0 via its NAT gateway nat at natAddr), the web group, and the
// given instance lines.
func twoTierVPC(name, net, natAddr, instances string) string {
	return `  - name: ` + name + `
    cidr: ` + net + `.0.0/16
    internet_gateway: true
    subnets:
      - {name: public, cidr: ` + net + `.1.0/24, route_table: public-rt}
      - {name: private, cidr: ` + net + `.2.0/24, route_table: private-rt}
    route_tables:
      - {name: public-rt, routes: [{destination: 0.0.0.0/0, via: internet-gateway}]}
      - {name: private-rt, routes: [{destination: 0.0.0.0/0, via: nat-gateway/nat}]}
    nat_gateways:
      - {name: nat, subnet: public, public_ip: ` + natAddr + `}
` + webGroupYAML + `    instances:
` + instances
}

// peersLogged is what a serve workload has logged: one peer address a line.
func peersLogged(dir, name string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
	return strings.Fields(string(b))
}

// curlOnce fetches a URL once from inside a namespace (3 s at most) and
// returns the page and curl's exit code (7 refused or unreachable, 28 timeout).
// It does not touch t: it may run concurrently.
func curlOnce(br, from, url string, extra ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"exec", "--bridge", br, from, "--", "curl", "-s", "-S", "--max-time", "3"}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, vpcctlBin, args...)
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return strings.TrimSpace(string(out)), code
}

// fetchAs fetches url from inside from (retrying for up to 20 s: workloads
// need a moment to listen, a first packet may meet a cold ARP cache) and
// checks that the server saw the client as wantClient.
func fetchAs(t *testing.T, br, from, url, wantClient string) {
	t.Helper()
	var body string
	var code int
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if body, code = curlOnce(br, from, url); code == 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code != 0 {
		t.Errorf("%s: curl %s: exit %d (7: refused/unreachable, 28: timeout) for 20 s; want a page", from, url, code)
		return
	}
	if want := "client=" + wantClient; body != want {
		t.Errorf("%s: curl %s: the server saw the client as %q, want %q", from, url, strings.TrimPrefix(body, "client="), wantClient)
	}
}

// attempt is a connection that must not succeed.
type attempt struct{ from, url, why string }

// mustFail tries each attempt twice, concurrently, and reports every one that
// got a page.
func mustFail(t *testing.T, br string, attempts []attempt) {
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
				b, c := curlOnce(br, a.from, a.url)
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

// pingOK pings (3 packets, 1 s wait each) and says whether a reply came.
func pingOK(t *testing.T, br, from, to string) bool {
	t.Helper()
	r := inNS(t, br, from, 20*time.Second, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", to)
	return r.Code == 0
}

// hostCapture watches the machine's real uplink (and the bridge's own port in
// the host) for test packets; see inetPy's capture.
type hostCapture struct {
	ifaces         []string
	out, stopFile  string
	cmd            *exec.Cmd
	done           chan struct{}
	stderr         strings.Builder
	stopped        bool
	stopOnce       sync.Once
	ipForwardStart string
}

var defaultDevRE = regexp.MustCompile(`\bdev (\S+)`)

// uplinks are the devices of the host's IPv4 default routes. With none,
// every host interface that is not an OVS port and not lo: a packet that
// leaves the bridge must show up on one of them.
func uplinks(t *testing.T) []string {
	t.Helper()
	r := sh(t, "ip -4 route show default; ip -4 route show table all default")
	seen := map[string]bool{}
	var devs []string
	for _, m := range defaultDevRE.FindAllStringSubmatch(r.Stdout, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			devs = append(devs, m[1])
		}
	}
	if len(devs) > 0 {
		return devs
	}
	ovsPorts := map[string]bool{}
	for _, n := range strings.Fields(sh(t, "ovs-vsctl --bare --columns=name list Interface").Stdout) {
		ovsPorts[n] = true
	}
	for _, line := range strings.Split(sh(t, "ip -o link show").Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name != "lo" && !ovsPorts[name] {
			devs = append(devs, name)
		}
	}
	if len(devs) == 0 {
		t.Fatalf("no default route and no host interface besides lo and OVS ports: nothing to watch\n%s", sh(t, "ip -o link show").Stdout)
	}
	t.Logf("no IPv4 default route: watching every non-OVS host interface: %v", devs)
	return devs
}

// startHostCapture starts watching the uplink and the bridge's own port in
// the host namespace (which exists once the bridge does; the capture watches
// it by name) and stops the capture at the end of the test at the latest.
// It also records the host's ip_forward, which no test may change.
func startHostCapture(t *testing.T, script, dir, br string) *hostCapture {
	t.Helper()
	c := &hostCapture{
		ifaces:   append(uplinks(t), br),
		out:      filepath.Join(dir, "capture.out"),
		stopFile: filepath.Join(dir, "capture.stop"),
		done:     make(chan struct{}),
	}
	c.ipForwardStart = readIPForward(t)
	var own []string
	for _, line := range strings.Split(sh(t, "ip -4 -o addr show").Stdout, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				a, _, _ := strings.Cut(f[i+1], "/")
				own = append(own, a)
			}
		}
	}
	ready := filepath.Join(dir, "capture.ready")
	c.cmd = exec.Command("python3", script, "capture", "900", c.stopFile, c.out, ready, strings.Join(c.ifaces, ","), strings.Join(own, ","))
	c.cmd.Stdout, c.cmd.Stderr = &c.stderr, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case <-c.done:
			t.Fatalf("the host capture exited before it was ready: %s", c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host capture is not ready after 15 s: %s", c.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("watching %v for test packets", c.ifaces)
	return c
}

func (c *hostCapture) stop() {
	c.stopOnce.Do(func() {
		_ = os.WriteFile(c.stopFile, nil, 0o644)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		c.stopped = true
	})
}

// check stops the capture and fails the test for every test packet it saw
// on the uplink or the bridge's host port, and if the host's ip_forward
// changed.
func (c *hostCapture) check(t *testing.T) {
	t.Helper()
	c.stop()
	f, err := os.Open(c.out)
	if err != nil {
		t.Fatalf("the host capture wrote nothing (%v): %s", err, c.stderr.String())
	}
	defer f.Close()
	var leaked []string
	done := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "done ") {
			done = line
			continue
		}
		leaked = append(leaked, line)
	}
	if done == "" {
		t.Errorf("the host capture did not finish cleanly: %s", c.stderr.String())
	}
	if len(leaked) > 0 {
		if len(leaked) > 20 {
			leaked = append(leaked[:20], fmt.Sprintf("... and %d more", len(leaked)-20))
		}
		t.Errorf("test packets reached the host outside OVS (%v):\n%s", c.ifaces, strings.Join(leaked, "\n"))
	} else {
		t.Logf("host capture on %v: no test packet (%s)", c.ifaces, done)
	}
	if now := readIPForward(t); now != c.ipForwardStart {
		t.Errorf("the host's net.ipv4.ip_forward changed from %s to %s during the test", c.ipForwardStart, now)
	}
}

func readIPForward(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

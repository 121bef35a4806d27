package tests

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// blue-db is added to lab 01 for these tests: an address blue has and red
// does not (10.0.1.20), and a second instance in blue's web subnet. Its web
// root (DIR) is the test's own temporary directory.
const blueDB = `      - {name: blue-db, subnet: web, ip: 10.0.1.20, run: "mkdir -p DIR/blue-db && cd DIR/blue-db && echo blue-db > name && exec python3 -m http.server 8080"}
`

// routingLab applies labs/01-routing (red and blue: the same CIDRs and
// instance IPs, two subnets each) with blue-db added.
func routingLab(t *testing.T) (string, map[string]instance) {
	t.Helper()
	br := uniqueBridge("tr")
	file := labTopology(t, "01-routing", br)
	addToFile(t, file, strings.ReplaceAll(blueDB, "DIR", filepath.Dir(file)))
	mustVpcctl(t, "apply", "-f", file)
	return br, instances(t, br)
}

var ttlRE = regexp.MustCompile(`ttl=(\d+)`)

// pingTTLs pings and returns the TTL of every reply (none if no reply came).
func pingTTLs(t *testing.T, br, from, to string, extra ...string) []string {
	t.Helper()
	args := append([]string{"ping", "-c", "3", "-i", "0.2", "-W", "1"}, extra...)
	r := inNS(t, br, from, 20*time.Second, append(args, to)...)
	var ttls []string
	for _, m := range ttlRE.FindAllStringSubmatch(r.Stdout, -1) {
		ttls = append(ttls, m[1])
	}
	return ttls
}

func TestRoutingBetweenSubnets(t *testing.T) {
	br, _ := routingLab(t)

	t.Run("TTL", func(t *testing.T) {
		// Through the VPC router the reply has lost one hop; within a subnet none.
		cases := []struct{ from, to, want string }{
			{"red-web", "10.0.2.10", "63"},  // veth -> veth, across subnets
			{"red-app", "10.0.1.10", "63"},  // and back
			{"blue-web", "10.0.2.10", "63"}, // veth -> internal port
			{"blue-app", "10.0.1.10", "63"}, // internal port -> veth
			{"blue-web", "10.0.1.20", "64"}, // same subnet: switched, not routed
			{"blue-db", "10.0.1.10", "64"},
		}
		for _, c := range cases {
			ttls := pingTTLs(t, br, c.from, c.to)
			if len(ttls) == 0 {
				t.Errorf("%s cannot ping %s", c.from, c.to)
				continue
			}
			for _, ttl := range ttls {
				if ttl != c.want {
					t.Errorf("%s -> %s: reply ttl=%s, want %s", c.from, c.to, ttl, c.want)
				}
			}
		}
		// The router decrements on the way there too: TTL 1 dies at the
		// router and reaches the next subnet no more, while it is enough
		// within a subnet.
		if ttls := pingTTLs(t, br, "red-web", "10.0.2.10", "-t", "1"); len(ttls) != 0 {
			t.Errorf("a TTL 1 ping crossed the router: replies with ttl=%v", ttls)
		}
		if ttls := pingTTLs(t, br, "blue-web", "10.0.1.20", "-t", "1"); len(ttls) == 0 {
			t.Errorf("a TTL 1 ping within a subnet got no reply")
		}
	})

	t.Run("router answers ping", func(t *testing.T) {
		for _, c := range []struct{ from, to string }{
			{"red-web", "10.0.1.1"}, {"red-app", "10.0.2.1"},
			{"blue-web", "10.0.1.1"}, {"blue-app", "10.0.2.1"},
			{"red-web", "10.0.2.1"}, // the router's address in the other subnet
		} {
			if !ping(t, br, c.from, c.to) {
				t.Errorf("%s: no answer from the router at %s", c.from, c.to)
			}
		}
	})

	t.Run("TCP", func(t *testing.T) {
		iperf(t, br, "red-app", "red-web", "10.0.2.10")   // veth -> veth
		iperf(t, br, "blue-app", "blue-web", "10.0.2.10") // veth -> internal port
		iperf(t, br, "blue-web", "blue-app", "10.0.1.10") // internal port -> veth
	})

	t.Run("same addresses, own VPC", func(t *testing.T) {
		// Every instance reaches its own VPC's peer at the shared address.
		for _, c := range []struct{ from, url, want string }{
			{"red-web", "http://10.0.2.10:8080/name", "red-app"},
			{"blue-web", "http://10.0.2.10:8080/name", "blue-app"},
			{"red-app", "http://10.0.1.10:8080/name", "red-web"},
			{"blue-app", "http://10.0.1.10:8080/name", "blue-web"},
			{"blue-web", "http://10.0.1.20:8080/name", "blue-db"},
		} {
			waitHTTP(t, br, c.from, c.url, c.want)
		}
	})
}

// TestVPCIsolation checks that nothing of red reaches blue, although both use
// the same addresses: red tries blue-db's address (which red does not have),
// even with blue-db's MAC pinned in its neighbour table, broadcasts, and sends
// raw frames to blue's MACs, while every blue instance captures what it
// receives. Blue's own control frames, sent last, prove the captures listened.
func TestVPCIsolation(t *testing.T) {
	br, in := routingLab(t)
	waitHTTP(t, br, "blue-web", "http://10.0.1.20:8080/name", "blue-db") // blue-db serves at 10.0.1.20
	// Both web instances reach their app through their router: their
	// neighbour tables now hold their VPC's router MAC.
	if !ping(t, br, "red-web", "10.0.2.10") || !ping(t, br, "blue-web", "10.0.2.10") {
		t.Fatal("red-web or blue-web cannot ping its app instance")
	}
	redRouter := neighMAC(t, br, "red-web", "10.0.1.1")
	blueRouter := neighMAC(t, br, "blue-web", "10.0.1.1")
	if redRouter == "" || blueRouter == "" || redRouter == blueRouter {
		t.Fatalf("router MACs: red %q, blue %q", redRouter, blueRouter)
	}
	redWeb, redApp := in["red-web"], in["red-app"]
	red := map[string]bool{redWeb.MAC: true, redApp.MAC: true, redRouter: true}

	// ARP: red cannot resolve blue-db's address at all.
	if ping(t, br, "red-web", "10.0.1.20") {
		t.Fatal("red-web got an answer from 10.0.1.20, an address only blue has")
	}
	if mac := neighMAC(t, br, "red-web", "10.0.1.20"); mac != "" {
		t.Errorf("red-web resolved 10.0.1.20 (blue-only) to %s", mac)
	}

	marker := randomMarker()
	controls := map[string][]byte{"blue-web": randomMarker(), "blue-db": randomMarker(), "blue-app": randomMarker()}
	caps := map[string]*capture{}
	for name, control := range controls {
		caps[name] = startCapture(t, br, name, 20*time.Second, control)
	}
	misses := flowPackets(t, br, "L2Lookup", "priority=0 ")

	// With blue-db's MAC pinned, red-web's packets to 10.0.1.20 do leave it.
	nsMust(t, br, "red-web", "ip neigh replace 10.0.1.20 lladdr "+in["blue-db"].MAC+" dev eth0 nud permanent")
	if ttls := pingTTLs(t, br, "red-web", "10.0.1.20"); len(ttls) != 0 {
		t.Errorf("red-web got ping replies from blue-only 10.0.1.20 (blue-db's MAC pinned)")
	}
	if r := inNS(t, br, "red-web", 10*time.Second, "curl", "-s", "-m", "2", "http://10.0.1.20:8080/name"); r.Code == 0 || r.Stdout != "" {
		t.Errorf("red-web fetched from blue-only 10.0.1.20: %q", r.Stdout)
	}
	// Broadcast, and raw frames from red-web's own MAC and IP to each blue
	// MAC and to broadcast: the same frames blue's own instances may send.
	_ = inNS(t, br, "red-web", 10*time.Second, "ping", "-b", "-c", "2", "-i", "0.2", "-W", "1", "10.0.1.255")
	src, srcIP := mustMAC(redWeb.MAC), netip.MustParseAddr(redWeb.IP)
	var raw [][]byte
	for _, dst := range []string{in["blue-web"].MAC, in["blue-db"].MAC, in["blue-app"].MAC, blueRouter, "ff:ff:ff:ff:ff:ff"} {
		for _, to := range []string{"10.0.1.20", "10.0.1.10", "10.0.2.10", "10.0.1.255"} {
			raw = append(raw, ethFrame(mustMAC(dst), src, 0x0800, icmpEcho(srcIP, netip.MustParseAddr(to), marker)))
		}
	}
	sendFrames(t, br, "red-web", raw...)
	// Red's own traffic still flows meanwhile, to the address blue-app also has.
	waitHTTP(t, br, "red-web", "http://10.0.2.10:8080/name", "red-app")

	// Blue's controls: blue-web to blue-db and, through blue's router, to blue-app; blue-db to blue-web.
	blue := func(from, toMAC, to, capName string) []byte {
		i := in[from]
		return ethFrame(mustMAC(toMAC), mustMAC(i.MAC), 0x0800,
			icmpEcho(netip.MustParseAddr(i.IP), netip.MustParseAddr(to), controls[capName]))
	}
	sendFrames(t, br, "blue-web", blue("blue-web", in["blue-db"].MAC, "10.0.1.20", "blue-db"), blue("blue-web", blueRouter, "10.0.2.10", "blue-app"))
	sendFrames(t, br, "blue-db", blue("blue-db", in["blue-web"].MAC, "10.0.1.10", "blue-web"))

	for name, c := range caps {
		seen := false
		var frames [][]byte
		for _, f := range c.wait(t) {
			if strings.Contains(string(f), string(controls[name])) {
				seen = true
				continue
			}
			frames = append(frames, f)
		}
		if !seen {
			t.Errorf("%s's capture missed blue's control frame: it did not listen", name)
		}
		fromRed := func(f frame) bool {
			return red[f.src] || red[f.arpSha] || strings.Contains(string(f.raw), string(marker))
		}
		if bad := offending(frames, fromRed); len(bad) > 0 {
			t.Errorf("%s (blue) received frames of red:\n%s", name, strings.Join(bad, "\n"))
		}
	}
	// Red's L2 lookup dropped the pinged and raw frames: red's VPC has no
	// blue MACs, and broadcast matches no destination.
	waitFlowPackets(t, br, "L2Lookup", misses+3+len(raw), "priority=0 ")
}

// addToFile appends text to a file.
func addToFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lab03 applies labs/03-internet on a bridge of its own, with the workloads'
// files (web roots, the internet host's log) in the test's directory.
func lab03(t *testing.T) (br, file, dir string) {
	t.Helper()
	br = uniqueBridge("tl")
	file = labTopology(t, "03-internet", br)
	dir = t.TempDir()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/tmp/vpcctl-lab03") {
		t.Fatalf("the lab no longer keeps its files in /tmp/vpcctl-lab03: update this test")
	}
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(b), "/tmp/vpcctl-lab03", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := vpcctl(t, "apply", "-f", file)
	if r.Code != 0 {
		t.Fatalf("apply lab 03: exit %d\n%s", r.Code, r.Stderr)
	}
	if strings.Contains(r.Stderr, "warning") {
		t.Errorf("lab 03 should apply without warnings:\n%s", r.Stderr)
	}
	return br, file, dir
}

// labPage fetches url from inside from until it answers (20 s at most).
func labPage(t *testing.T, br, from, url, want string) {
	t.Helper()
	var body string
	var code int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if body, code = curlOnce(br, from, url); code == 0 && body == want {
			return
		}
	}
	t.Fatalf("%s: curl %s: got %q (exit %d), want %q", from, url, body, code, want)
}

// internetLogSince returns the client addresses the lab's internet host
// logged (python http.server: "ADDRESS - - [date] "GET ..."") after offset.
func internetLogSince(t *testing.T, dir string, offset int) []string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "internet.log"))
	if len(b) < offset {
		return nil
	}
	var addrs []string
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		if strings.Contains(line, `"GET `) {
			addrs = append(addrs, strings.Fields(line)[0])
		}
	}
	return addrs
}

func logSize(dir string) int {
	st, err := os.Stat(filepath.Join(dir, "internet.log"))
	if err != nil {
		return 0
	}
	return int(st.Size())
}

// waitLogged waits (5 s at most) until the internet host's log has an entry
// after offset, and checks that every such entry is want.
func waitLogged(t *testing.T, dir string, offset int, want string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = internetLogSince(t, dir, offset); len(got) > 0 {
			break
		}
	}
	if len(got) == 0 {
		t.Errorf("the internet host logged no request (want one from %s)", want)
	}
	for _, a := range got {
		if a != want {
			t.Errorf("the internet host logged a request from %s, want %s", a, want)
		}
	}
}

// TestLab03Internet checks what labs/03-internet/README.md claims, with real
// traffic: the private instance goes out as the NAT gateway, web1 as its
// elastic IP, the internet reaches web1 and never app1, the external gateway
// answers ping, conntrack shows the NAT entry, GatewayOut counts it, and
// without the private subnet's default route curl fails at L3Forwarding.
func TestLab03Internet(t *testing.T) {
	br, file, dir := lab03(t)
	hello := "hello from the internet"

	t.Run("app1 goes out as the NAT gateway", func(t *testing.T) {
		off := logSize(dir)
		labPage(t, br, "app1", inetURL, hello)
		waitLogged(t, dir, off, "203.0.113.10")
	})

	t.Run("web1 goes out as its elastic IP", func(t *testing.T) {
		off := logSize(dir)
		labPage(t, br, "web1", inetURL, hello)
		waitLogged(t, dir, off, "203.0.113.20")
	})

	t.Run("the internet reaches web1 at its elastic IP", func(t *testing.T) {
		labPage(t, br, "internet", "http://203.0.113.20:8080/name", "web1")
		if !pingOK(t, br, "internet", "203.0.113.20") {
			t.Errorf("internet cannot ping web1 at 203.0.113.20")
		}
	})

	t.Run("app1 reaches web1 at its elastic IP (hairpin)", func(t *testing.T) {
		// Section 4: out through the NAT gateway, back in through the elastic IP.
		labPage(t, br, "app1", "http://203.0.113.20:8080/name", "web1")
		r := sh(t, "ovs-appctl dpctl/dump-conntrack | grep -F 'orig=(src=203.0.113.10,dst=203.0.113.20,' | grep -F 'reply=(src=10.0.1.10,dst=203.0.113.10,'")
		if r.Code != 0 {
			t.Errorf("no conntrack entry of the elastic IP's translation of the NAT gateway's connection (README section 4):\n%s", sh(t, "ovs-appctl dpctl/dump-conntrack | grep 203.0.113.20").Stdout)
		}
	})

	t.Run("the internet never reaches app1", func(t *testing.T) {
		labPage(t, br, "web1", "http://10.0.2.10:8080/name", "app1") // app1 serves
		mustFail(t, br, []attempt{
			{"internet", "http://10.0.2.10:8080/name", "app1 has no public address"},
			{"internet", "http://203.0.113.10:8080/name", "a NAT gateway takes no connection inward"},
		})
	})

	t.Run("the external gateway answers ping", func(t *testing.T) {
		if !pingOK(t, br, "internet", "203.0.113.1") {
			t.Errorf("internet: no answer from 203.0.113.1")
		}
	})

	t.Run("conntrack shows the source NAT", func(t *testing.T) {
		port := 20000 + rand.IntN(20000)
		if body, code := curlOnce(br, "app1", inetURL, "--local-port", fmt.Sprint(port)); code != 0 || body != hello {
			t.Fatalf("app1: curl --local-port %d: exit %d, %q", port, code, body)
		}
		// Two entries: the security groups' (the VPC's zone, addresses as the
		// instance sees them) and the NAT zone's (the reply goes to 203.0.113.10).
		r := sh(t, "ovs-appctl dpctl/dump-conntrack")
		orig := fmt.Sprintf("orig=(src=10.0.2.10,dst=203.0.113.100,sport=%d,dport=8080)", port)
		zoneRE := regexp.MustCompile(`zone=(\d+)`)
		zones := map[string]string{} // reply destination -> zone
		for _, line := range strings.Split(r.Stdout, "\n") {
			if !strings.Contains(line, orig) {
				continue
			}
			z := ""
			if m := zoneRE.FindStringSubmatch(line); m != nil {
				z = m[1]
			}
			switch {
			case strings.Contains(line, "reply=(src=203.0.113.100,dst=203.0.113.10,"):
				zones["nat"] = z
			case strings.Contains(line, "reply=(src=203.0.113.100,dst=10.0.2.10,"):
				zones["sg"] = z
			default:
				t.Errorf("unexpected conntrack entry of app1's connection:\n%s", line)
			}
		}
		if zones["nat"] == "" {
			t.Errorf("ovs-appctl dpctl/dump-conntrack has no entry %s translated to 203.0.113.10:\n%s", orig, r.Stdout)
		}
		if zones["sg"] == "" {
			t.Errorf("ovs-appctl dpctl/dump-conntrack has no security-group entry %s:\n%s", orig, r.Stdout)
		}
		if zones["nat"] != "" && zones["nat"] == zones["sg"] {
			t.Errorf("the NAT entry and the security-group entry share zone %s", zones["nat"])
		}
	})

	t.Run("GatewayOut translates", func(t *testing.T) {
		r := sh(t, "ovs-ofctl -O OpenFlow13 --names dump-flows "+br+" table=GatewayOut")
		if r.Code != 0 {
			t.Fatalf("dump-flows table=GatewayOut: %s", r.Stderr)
		}
		for _, ip := range []string{"203.0.113.10", "203.0.113.20"} {
			if n := flowPackets(t, br, "GatewayOut", ip); n == 0 {
				t.Errorf("no GatewayOut flow with %s counted a packet:\n%s", ip, r.Stdout)
			}
		}
	})

	t.Run("exercise: no default route", func(t *testing.T) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		route := "          - {destination: 0.0.0.0/0, via: nat-gateway/nat1}\n"
		if !strings.Contains(string(b), route) {
			t.Fatalf("the lab's private route is no longer %q: update this test and the README", route)
		}
		if err := os.WriteFile(file, []byte(strings.Replace(string(b), route, "", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		r := vpcctl(t, "apply", "-f", file)
		if r.Code != 0 {
			t.Fatalf("apply without the route: exit %d\n%s", r.Code, r.Stderr)
		}
		// No route: the VPC router has nowhere to send it, and L3Forwarding
		// drops it (README, section 7): one of its drop flows counts it.
		drops := func(table string) int { return flowPackets(t, br, table, "actions=drop") }
		before, l2Before := drops("L3Forwarding"), drops("L2Lookup")
		if body, code := curlOnce(br, "app1", inetURL); code == 0 {
			t.Errorf("app1 still reaches the internet without a default route: %q", body)
		}
		if after := drops("L3Forwarding"); after <= before {
			t.Errorf("no drop flow of L3Forwarding counted app1's packets (%d before, %d after; L2Lookup's drop flows went from %d to %d)",
				before, after, l2Before, drops("L2Lookup"))
		}
		labPage(t, br, "app1", "http://10.0.1.10:8080/name", "web1") // the local route stays
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mustVpcctl(t, "apply", "-f", file)
		labPage(t, br, "app1", inetURL, hello)
	})
}

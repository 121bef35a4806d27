package tests

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// hairpinVPC is one tenant of TestInternetHairpin: the same CIDR in both;
// web (elastic IP, 8080 open to all), closed (elastic IP, default group)
// and app (private, behind the NAT gateway).
func hairpinVPC(name, natAddr, webEIP, closedEIP, script, dir string) string {
	run := func(n string) string { return inetServe(script, dir, n) }
	return twoTierVPC(name, "10.80", natAddr, `      - {name: web-`+name+`, subnet: public, ip: 10.80.1.10, public_ip: `+webEIP+`, security_groups: [web], run: `+run("web-"+name)+`}
      - {name: closed-`+name+`, subnet: public, ip: 10.80.1.11, public_ip: `+closedEIP+`, run: `+run("closed-"+name)+`}
      - {name: app-`+name+`, subnet: private, ip: 10.80.2.10, security_groups: [web], run: `+run("app-"+name)+`}
`)
}

// TestInternetHairpin: traffic from a VPC to a public IP of the same bridge
// goes out through its gateway and back in through the public IP's, as it
// would through the internet in AWS: the server sees the client's public
// address, within one VPC and across two VPCs with the same CIDR, and the
// security groups and NAT gateways still decide.
func TestInternetHairpin(t *testing.T) {
	const (
		natA, webA, closedA = "203.0.113.41", "203.0.113.42", "203.0.113.43"
		natB, webB, closedB = "203.0.113.51", "203.0.113.52", "203.0.113.53"
	)
	e := startInetTest(t, "tp", func(script, dir string) string {
		return externalSection(script, dir) + "vpcs:\n" +
			hairpinVPC("ha", natA, webA, closedA, script, dir) + hairpinVPC("hb", natB, webB, closedB, script, dir)
	}, "internet", "web-ha", "web-hb", "closed-ha", "app-ha", "app-hb")
	br, dir, capture := e.br, e.dir, e.capture
	url := func(ip string) string { return "http://" + ip + ":8080/" }

	t.Run("same VPC through its NAT gateway", func(t *testing.T) {
		// Out through nat and in through web-ha's elastic IP, both in ha's NAT zone.
		fetchAs(t, br, "app-ha", url(webA), natA)
		if !pingOK(t, br, "app-ha", webA) {
			t.Errorf("app-ha cannot ping web-ha's elastic IP %s", webA)
		}
	})
	t.Run("other VPC with the same CIDR", func(t *testing.T) {
		fetchAs(t, br, "app-hb", url(webA), natB)
		fetchAs(t, br, "app-ha", url(webB), natA)
	})
	t.Run("elastic IP to elastic IP", func(t *testing.T) {
		fetchAs(t, br, "web-hb", url(webA), webB)
		fetchAs(t, br, "web-ha", url(webB), webA)
	})
	t.Run("an instance reaches its own elastic IP", func(t *testing.T) {
		// Out and back in by the same port (the hairpin flow clears in_port).
		fetchAs(t, br, "web-ha", url(webA), webA)
		if !pingOK(t, br, "web-ha", webA) {
			t.Errorf("web-ha cannot ping its own elastic IP %s", webA)
		}
	})
	t.Run("same address and port from both VPCs at once", func(t *testing.T) {
		// app-ha and app-hb have the same address; with the same source port
		// their connections to web-ha differ only after the NAT gateways.
		for round := 0; round < 4; round++ {
			port := fmt.Sprint(44000 + round)
			var wg sync.WaitGroup
			got, codes := make([]string, 2), make([]int, 2)
			for k, from := range []string{"app-ha", "app-hb"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[k], codes[k] = curlOnce(br, from, url(webA), "--local-port", port)
				}()
			}
			wg.Wait()
			for k, want := range []string{natA, natB} {
				if codes[k] != 0 || got[k] != "client="+want {
					t.Errorf("round %d, source port %s: app-h%c got %q (curl exit %d), want client=%s", round, port, 'a'+k, got[k], codes[k], want)
				}
			}
		}
	})
	t.Run("security groups and NAT gateways still decide", func(t *testing.T) {
		mustFail(t, br, []attempt{
			{"app-ha", url(closedA), "closed-ha's default group takes nothing from outside"},
			{"app-hb", url(closedA), "closed-ha's default group takes nothing from outside"},
			{"web-hb", url(natA), "a NAT gateway takes no connection inward"},
			{"app-ha", url(natA), "a NAT gateway takes no connection inward"},
		})
		for _, n := range []string{"closed-ha", "app-ha", "app-hb"} {
			if peers := peersLogged(dir, n); len(peers) > 0 {
				t.Errorf("%s accepted connections from %v", n, peers)
			}
		}
	})
	t.Run("web-ha saw only public addresses", func(t *testing.T) {
		for _, p := range peersLogged(dir, "web-ha") {
			if !strings.HasPrefix(p, "203.0.113.") {
				t.Errorf("web-ha saw a private address %s: hairpin traffic must carry the client's public IP", p)
			}
		}
	})
	t.Run("nothing reached the uplink", func(t *testing.T) {
		capture.check(t)
	})
}

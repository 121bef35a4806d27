package tests

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Addresses of TestInternetGateways.
const (
	natIP    = "203.0.113.10" // nat1, the NAT gateway of private
	web1EIP  = "203.0.113.20" // web1's elastic IP (public subnet)
	quietEIP = "203.0.113.21" // quiet's elastic IP (public subnet, default group: no ingress from outside)
	lostEIP  = "203.0.113.30" // lost1's elastic IP (a subnet with no route to the internet gateway)
	inetApp1 = "10.50.2.10"
	inetApp2 = "10.50.2.11"
	// A second internet host, for the route tables' longest prefix match:
	// public-rt sends it to the NAT gateway, private-rt to the internet
	// gateway (where app1, with no public IP, is dropped).
	inetHost2IP = "203.0.113.101"
	inetWeb1    = "10.50.1.10"
	inetLost1   = "10.50.3.10"
	inetPub2    = "10.50.1.20"
)

// gatewaysTopology: VPC corp with three subnets: public (0.0.0.0/0 via the
// internet gateway; the NAT gateway lives there), private (0.0.0.0/0 via the
// NAT gateway) and isolated (the main table: only the local route). Every
// instance serves inetServe on 8080 and its groups allow 8080 from anywhere
// (except quiet's, the implicit default group), so that only the gateways
// decide what crosses to the internet.
func gatewaysTopology(script, dir string) string {
	run := func(name string) string { return inetServe(script, dir, name) }
	return externalSection(script, dir) + `    - {name: internet2, ip: ` + inetHost2IP + `, run: ` + run("internet2") + `}
vpcs:
  - name: corp
    cidr: 10.50.0.0/16
    internet_gateway: true
    subnets:
      - {name: public, cidr: 10.50.1.0/24, route_table: public-rt}
      - {name: private, cidr: 10.50.2.0/24, route_table: private-rt}
      - {name: isolated, cidr: 10.50.3.0/24}
    route_tables:
      - name: public-rt
        routes:
          - {destination: 0.0.0.0/0, via: internet-gateway}
          - {destination: ` + inetHost2IP + `/32, via: nat-gateway/nat1}
      - name: private-rt
        routes:
          - {destination: 0.0.0.0/0, via: nat-gateway/nat1}
          - {destination: ` + inetHost2IP + `/32, via: internet-gateway}
          - {destination: 10.50.3.0/24, via: nat-gateway/nat1}
    nat_gateways:
      - {name: nat1, subnet: public, public_ip: ` + natIP + `}
` + webGroupYAML + `    instances:
      - {name: web1, subnet: public, ip: ` + inetWeb1 + `, public_ip: ` + web1EIP + `, security_groups: [web], run: ` + run("web1") + `}
      - {name: quiet, subnet: public, ip: 10.50.1.30, public_ip: ` + quietEIP + `, run: ` + run("quiet") + `}
      - {name: pub2, subnet: public, ip: ` + inetPub2 + `, security_groups: [web], run: ` + run("pub2") + `}
      - {name: app1, subnet: private, ip: ` + inetApp1 + `, security_groups: [web], run: ` + run("app1") + `}
      - {name: app2, subnet: private, ip: ` + inetApp2 + `, security_groups: [web], run: ` + run("app2") + `}
      - {name: lost1, subnet: isolated, ip: ` + inetLost1 + `, public_ip: ` + lostEIP + `, security_groups: [web], run: ` + run("lost1") + `}
`
}

// TestInternetGateways checks SPEC §2's NAT gateway, elastic IP and external
// network with real traffic against a simulated internet host that reports
// the client address it sees, while a capture on the machine's real uplink
// (and the bridge's port in the host) must see no test packet at all.
func TestInternetGateways(t *testing.T) {
	e := startInetTest(t, "ti", gatewaysTopology, "internet", "internet2", "web1", "quiet", "pub2", "app1", "app2", "lost1")
	br, dir, file, capture := e.br, e.dir, e.file, e.capture

	t.Run("external gateway answers ping", func(t *testing.T) {
		if !pingOK(t, br, "internet", extGateway) {
			t.Errorf("internet: no answer from external.gateway %s", extGateway)
		}
	})

	t.Run("NAT gateway outbound", func(t *testing.T) {
		// The private instance reaches the internet with the NAT gateway's address.
		fetchAs(t, br, "app1", inetURL, natIP)
		if peers := peersLogged(dir, "internet"); slices.ContainsFunc(peers, func(p string) bool { return strings.HasPrefix(p, "10.") }) {
			t.Errorf("the internet host saw a private address: %v", peers)
		}
		if !pingOK(t, br, "app1", inetHostIP) {
			t.Errorf("app1 cannot ping the internet host through the NAT gateway")
		}
	})

	t.Run("NAT gateway port translation", func(t *testing.T) {
		// app1 and app2 open connections with the same source port at the
		// same time: behind one public IP, the NAT gateway must tell them
		// apart (a different public port), or one of them breaks.
		fetchAs(t, br, "app2", inetURL, natIP)
		for round := 0; round < 6; round++ {
			port := fmt.Sprint(43000 + round)
			var wg sync.WaitGroup
			got := make([]string, 2)
			codes := make([]int, 2)
			for k, from := range []string{"app1", "app2"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[k], codes[k] = curlOnce(br, from, inetURL, "--local-port", port)
				}()
			}
			wg.Wait()
			for k, from := range []string{"app1", "app2"} {
				if codes[k] != 0 || got[k] != "client="+natIP {
					t.Errorf("round %d, both from source port %s: %s got %q (curl exit %d), want client=%s", round, port, from, got[k], codes[k], natIP)
				}
			}
		}
	})

	t.Run("no inbound through NAT gateway", func(t *testing.T) {
		// app1 serves 8080 and its group allows 8080 from anywhere: only the
		// NAT gateway can stop the internet host.
		mustFail(t, br, []attempt{
			{"internet", "http://" + inetApp1 + ":8080/", "a private address is not reachable from the internet"},
			{"internet", "http://" + natIP + ":8080/", "a NAT gateway takes no connection inward"},
			{"internet2", "http://" + natIP + ":8080/", "a NAT gateway takes no connection inward"},
			{"internet", "http://" + inetWeb1 + ":8080/", "a private address is not reachable from the internet"},
		})
		if peers := peersLogged(dir, "app1"); len(peers) > 0 {
			t.Errorf("app1's server accepted connections from %v; nothing may reach it from the internet", peers)
		}
	})

	t.Run("elastic IP inbound", func(t *testing.T) {
		// The internet host reaches web1 at its elastic IP, and web1 sees the
		// internet host's own address (1:1 NAT of the destination only).
		fetchAs(t, br, "internet", "http://"+web1EIP+":8080/", inetHostIP)
		if !pingOK(t, br, "internet", web1EIP) {
			t.Errorf("internet cannot ping web1's elastic IP %s (web allows icmp from anywhere)", web1EIP)
		}
	})

	t.Run("elastic IP outbound", func(t *testing.T) {
		fetchAs(t, br, "web1", inetURL, web1EIP)
	})

	t.Run("elastic IP behind its security group", func(t *testing.T) {
		// quiet's group (default) takes nothing from outside: its elastic IP
		// does not open it; its own connections out still work (stateful).
		mustFail(t, br, []attempt{{"internet", "http://" + quietEIP + ":8080/", "quiet's security group allows no ingress from the internet"}})
		if peers := peersLogged(dir, "quiet"); len(peers) > 0 {
			t.Errorf("quiet's server accepted connections from %v", peers)
		}
		fetchAs(t, br, "quiet", inetURL, quietEIP)
	})

	t.Run("elastic IP without internet gateway route", func(t *testing.T) {
		// lost1 has a public IP, but its subnet routes nothing to the internet gateway.
		mustFail(t, br, []attempt{
			{"lost1", inetURL, "lost1's subnet has no route to the internet gateway"},
			{"internet", "http://" + lostEIP + ":8080/", "lost1's subnet has no route to the internet gateway"},
			{"internet", "http://" + inetLost1 + ":8080/", "a private address is not reachable from the internet"},
		})
		if peers := peersLogged(dir, "lost1"); len(peers) > 0 {
			t.Errorf("lost1's server accepted connections from %v", peers)
		}
	})

	t.Run("no public IP via internet gateway", func(t *testing.T) {
		// pub2 is in the public subnet without a public IP: as in AWS, the
		// internet gateway drops it.
		mustFail(t, br, []attempt{
			{"pub2", inetURL, "pub2 has no public IP"},
			{"internet", "http://" + inetPub2 + ":8080/", "a private address is not reachable from the internet"},
		})
	})

	t.Run("route tables: longest prefix", func(t *testing.T) {
		// public-rt: internet2 (/32) via the NAT gateway, the rest via the
		// internet gateway; private-rt: internet2 via the internet gateway
		// (app1 has no public IP: dropped), the rest via the NAT gateway.
		fetchAs(t, br, "web1", "http://"+inetHost2IP+":8080/", natIP)
		fetchAs(t, br, "web1", inetURL, web1EIP)
		fetchAs(t, br, "app1", inetURL, natIP)
		mustFail(t, br, []attempt{{"app1", "http://" + inetHost2IP + ":8080/", "private-rt sends internet2 to the internet gateway, and app1 has no public IP"}})
	})

	t.Run("route tables: local route wins", func(t *testing.T) {
		// private-rt's 10.50.3.0/24 via nat1 is inside the VPC's CIDR: the
		// local route wins, and lost1 sees app1's own address.
		fetchAs(t, br, "app1", "http://"+inetLost1+":8080/", inetApp1)
	})

	t.Run("only the external network", func(t *testing.T) {
		// Addresses outside external.cidr: 198.51.100.0/24 (another test
		// net) and 192.0.2.50/.60 (the uplink's network on the project's
		// machines). Nothing answers, through either gateway or from the
		// internet host, and nothing may reach the uplink (the capture).
		var attempts []attempt
		for _, from := range []string{"app1", "web1", "internet"} {
			for _, dst := range []string{"198.51.100.7", "192.0.2.50"} {
				attempts = append(attempts, attempt{from, "http://" + dst + ":80/", dst + " is outside external.cidr"})
			}
		}
		mustFail(t, br, attempts)
		for _, from := range []string{"app1", "web1", "internet"} {
			for _, dst := range []string{"198.51.100.7", "192.0.2.60"} {
				if pingOK(t, br, from, dst) {
					t.Errorf("%s: ping %s got an answer, but it is outside external.cidr", from, dst)
				}
			}
		}
	})

	t.Run("still working", func(t *testing.T) {
		// The failures above were the rules', not a broken dataplane.
		fetchAs(t, br, "app1", inetURL, natIP)
		fetchAs(t, br, "internet", "http://"+web1EIP+":8080/", inetHostIP)
	})

	t.Run("nothing reached the uplink", func(t *testing.T) {
		capture.check(t)
	})

	t.Run("destroy removes the internet hosts", func(t *testing.T) {
		in := instances(t, br)
		for _, h := range []string{"internet", "internet2"} {
			if in[h].Port == "" {
				t.Fatalf("status does not list external host %s: %+v", h, in)
			}
		}
		mustVpcctl(t, "destroy", "-f", file)
		if r := sh(t, "ip netns list | grep -F 'vpcctl."+br+".' || true"); strings.TrimSpace(r.Stdout) != "" {
			t.Errorf("destroy left namespaces: %s", r.Stdout)
		}
		for name, i := range in {
			if r := sh(t, "ip link show "+i.Port); r.Code == 0 {
				t.Errorf("destroy left %s's host link %s", name, i.Port)
			}
		}
		if r := sh(t, "ovs-vsctl br-exists "+br); r.Code == 0 {
			t.Errorf("destroy left bridge %s", br)
		}
	})
}

// sameCIDRVPC is one tenant of TestInternetSameCIDRTwoNATGateways.
func sameCIDRVPC(name, natAddr, script, dir string) string {
	return twoTierVPC(name, "10.60", natAddr, "      - {name: app-"+name+", subnet: private, ip: 10.60.2.10}\n")
}

// TestInternetSameCIDRTwoNATGateways: two VPCs with the same CIDR and the
// same instance address, each behind its own NAT gateway, fetch from the
// internet host at the same time, even with the same source port: each is
// seen with its own public IP, every time.
func TestInternetSameCIDRTwoNATGateways(t *testing.T) {
	const natA, natB = "203.0.113.11", "203.0.113.12"
	e := startInetTest(t, "tm", func(script, dir string) string {
		return externalSection(script, dir) + "vpcs:\n" + sameCIDRVPC("ta", natA, script, dir) + sameCIDRVPC("tb", natB, script, dir)
	}, "internet")
	br, dir, capture := e.br, e.dir, e.capture
	fetchAs(t, br, "app-ta", inetURL, natA)
	fetchAs(t, br, "app-tb", inetURL, natB)

	type got struct {
		body string
		code int
	}
	const rounds = 12
	var res [rounds][2]got
	for i := 0; i < rounds; i++ {
		// Both fetch at once; in half of the rounds from the same source
		// port too: the two connections are then identical inside the VPCs.
		var extra []string
		if i%2 == 0 {
			extra = []string{"--local-port", fmt.Sprint(42000 + i)}
		}
		var wg sync.WaitGroup
		for k, from := range []string{"app-ta", "app-tb"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for try := 0; try < 3; try++ { // a first packet may meet a cold ARP cache
					b, c := curlOnce(br, from, inetURL, extra...)
					res[i][k] = got{b, c}
					if c == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	for i := 0; i < rounds; i++ {
		for k, want := range []string{natA, natB} {
			g := res[i][k]
			switch {
			case g.code != 0:
				t.Errorf("round %d: app-t%c: curl exit %d", i, 'a'+k, g.code)
			case g.body != "client="+want:
				t.Errorf("round %d: app-t%c was seen as %q, want %s", i, 'a'+k, strings.TrimPrefix(g.body, "client="), want)
			}
		}
	}
	peers := map[string]int{}
	for _, p := range peersLogged(dir, "internet") {
		peers[p]++
	}
	if len(peers) != 2 || peers[natA] < rounds || peers[natB] < rounds {
		t.Errorf("the internet host saw %v, want only %s and %s, at least %d times each", peers, natA, natB, rounds)
	}
	capture.check(t)
}

// applianceTopology: appl's private subnet routes 0.0.0.0/0 to natbox, an
// instance of the public subnet with an elastic IP; natbox's group takes
// everything from the private subnet.
func applianceTopology(script, dir string, check bool) string {
	return externalSection(script, dir) + `vpcs:
  - name: appl
    cidr: 10.70.0.0/16
    internet_gateway: true
    subnets:
      - {name: public, cidr: 10.70.1.0/24, route_table: public-rt}
      - {name: private, cidr: 10.70.2.0/24, route_table: private-rt}
    route_tables:
      - name: public-rt
        routes:
          - {destination: 0.0.0.0/0, via: internet-gateway}
      - name: private-rt
        routes:
          - {destination: 0.0.0.0/0, via: instance/natbox}
    security_groups:
      - name: nat
        ingress:
          - {protocol: all, source: 10.70.2.0/24}
    instances:
      - {name: natbox, subnet: public, ip: 10.70.1.10, public_ip: 203.0.113.40, security_groups: [nat], source_dest_check: ` + fmt.Sprint(check) + `}
      - {name: priv1, subnet: private, ip: 10.70.2.10}
`
}

// TestInternetApplianceRouting: a subnet routed to an instance (a NAT
// instance running iptables masquerade in its own namespace) reaches the
// internet through it with source_dest_check off, and not with it on.
func TestInternetApplianceRouting(t *testing.T) {
	e := startInetTest(t, "ta", func(script, dir string) string { return applianceTopology(script, dir, false) }, "internet")
	br, dir, script, file, capture := e.br, e.dir, e.script, e.file, e.capture

	// Forwarding and masquerade inside natbox's namespace only (ip_forward
	// is per network namespace; the host's is checked by capture.check).
	if r := inNS(t, br, "natbox", 10*time.Second, "ip", "-o", "link", "show", "eth0"); r.Code != 0 {
		t.Fatalf("natbox has no eth0: %s\n%s", r.Stderr, inNS(t, br, "natbox", 10*time.Second, "ip", "-o", "link").Stdout)
	}
	nat := func() {
		t.Helper()
		r := inNS(t, br, "natbox", 20*time.Second, "sh", "-c",
			"sysctl -q -w net.ipv4.ip_forward=1 && (iptables -t nat -C POSTROUTING -o eth0 -j MASQUERADE 2>/dev/null || iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE) && cat /proc/sys/net/ipv4/ip_forward")
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "1" {
			t.Fatalf("setting up masquerade in natbox: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
		}
	}
	nat()

	t.Run("source_dest_check off", func(t *testing.T) {
		// natbox masquerades to 10.70.1.10, which its elastic IP translates.
		fetchAs(t, br, "priv1", inetURL, "203.0.113.40")
		fetchAs(t, br, "natbox", inetURL, "203.0.113.40")
	})

	t.Run("source_dest_check on", func(t *testing.T) {
		writeTopology(t, file, br, applianceTopology(script, dir, true))
		r := vpcctl(t, "apply", "-f", file)
		if r.Code != 0 {
			t.Fatalf("apply with source_dest_check on: exit %d (a warning, not an error): %s", r.Code, r.Stderr)
		}
		if !strings.Contains(r.Stderr, "source_dest_check") {
			t.Errorf("apply with source_dest_check on did not warn about the route to natbox:\n%s", r.Stderr)
		}
		nat() // the namespace (and its iptables rules) should still be there; make sure
		mustFail(t, br, []attempt{{"priv1", inetURL, "natbox has source_dest_check on: it may not forward others' packets"}})
		fetchAs(t, br, "natbox", inetURL, "203.0.113.40") // natbox's own traffic still goes
	})

	t.Run("source_dest_check off again", func(t *testing.T) {
		writeTopology(t, file, br, applianceTopology(script, dir, false))
		mustVpcctl(t, "apply", "-f", file)
		nat()
		fetchAs(t, br, "priv1", inetURL, "203.0.113.40")
	})

	t.Run("nothing reached the uplink", func(t *testing.T) {
		capture.check(t)
	})
}

// internetInvalid is a valid file with the parts the invalid cases vary.
type internetInvalid struct {
	noExternal, noIGW          bool
	natVia, natSubnet, natIP   string
	webIP, hostIP, extraRoutes string
}

func (c internetInvalid) yaml() string {
	d := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	ext := `external:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  hosts:
    - {name: internet, ip: ` + d(c.hostIP, "203.0.113.100") + `}
`
	if c.noExternal {
		ext = ""
	}
	igw := "    internet_gateway: true\n"
	if c.noIGW {
		igw = ""
	}
	return ext + `vpcs:
  - name: v
    cidr: 10.80.0.0/16
` + igw + `    subnets:
      - {name: public, cidr: 10.80.1.0/24, route_table: public-rt}
      - {name: private, cidr: 10.80.2.0/24, route_table: private-rt}
    route_tables:
      - name: public-rt
        routes:
          - {destination: 0.0.0.0/0, via: internet-gateway}
      - name: private-rt
        routes:
          - {destination: 0.0.0.0/0, via: ` + d(c.natVia, "nat-gateway/nat1") + `}
` + c.extraRoutes + `    nat_gateways:
      - {name: nat1, subnet: ` + d(c.natSubnet, "public") + `, public_ip: ` + d(c.natIP, "203.0.113.10") + `}
    instances:
      - {name: web1, subnet: public, ip: 10.80.1.10, public_ip: ` + d(c.webIP, "203.0.113.20") + `}
      - {name: app1, subnet: private, ip: 10.80.2.10}
`
}

// TestInternetInvalid: invalid gateway and route references exit 2, name the
// field (with its line), and change nothing on the host (flows, ports,
// namespaces of the valid file applied first).
func TestInternetInvalid(t *testing.T) {
	rt := "vpcs[v].route_tables["
	invalidChangesNothing(t, uniqueBridge("tw"), internetInvalid{}.yaml(), []invalidCase{
		{"unknown NAT gateway", internetInvalid{natVia: "nat-gateway/nat9"}.yaml(), rt + "private-rt].routes[0].via"},
		{"unknown appliance instance", internetInvalid{natVia: "instance/nope"}.yaml(), rt + "private-rt].routes[0].via"},
		{"unknown route target", internetInvalid{natVia: "gateway/nat1"}.yaml(), rt + "private-rt].routes[0].via"},
		{"internet gateway route without internet_gateway", internetInvalid{noIGW: true}.yaml(), rt + "public-rt].routes[0].via"},
		{"NAT gateway IP outside external.cidr", internetInvalid{natIP: "198.51.100.10"}.yaml(), "vpcs[v].nat_gateways[nat1].public_ip"},
		{"elastic IP outside external.cidr", internetInvalid{webIP: "192.0.2.50"}.yaml(), "vpcs[v].instances[web1].public_ip"},
		{"duplicated public IP", internetInvalid{webIP: "203.0.113.10"}.yaml(), "vpcs[v].instances[web1].public_ip"},
		{"public IP is external.gateway", internetInvalid{webIP: "203.0.113.1"}.yaml(), "vpcs[v].instances[web1].public_ip"},
		{"public IP is an external host", internetInvalid{natIP: "203.0.113.100"}.yaml(), "vpcs[v].nat_gateways[nat1].public_ip"},
		{"public IP without external", internetInvalid{noExternal: true}.yaml(), "vpcs[v].nat_gateways[nat1].public_ip"},
		{"NAT gateway in a private subnet", internetInvalid{natSubnet: "private"}.yaml(), "vpcs[v].nat_gateways[nat1].subnet"},
		{"external host outside external.cidr", internetInvalid{hostIP: "198.51.100.100"}.yaml(), "external.hosts[internet].ip"},
		{"duplicate destination", internetInvalid{extraRoutes: "          - {destination: 0.0.0.0/0, via: internet-gateway}\n"}.yaml(), rt + "private-rt].routes[1].destination"},
	})
}

package tests

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPeeringTwoWays: two peered VPCs with routes on both sides exchange TCP
// (echo and HTTP) and ping (TTL-1: the VPC router) in both directions.
// Without the route back on one side (re-applied, with a warning), neither
// direction works: a's SYN reaches b1 (tcpdump sees it), b1's answer has no
// route, so the client times out, and an established connection stops; b has
// no route to a at all. Putting the route back restores both directions.
// Then the network ACLs that apply are the source subnet's egress ACL and the
// peer subnet's ingress ACL (stateless: the replies need a rule).
func TestPeeringTwoWays(t *testing.T) {
	br := uniqueBridge("tpa")
	dir := t.TempDir()
	script := netprobe(t, dir)
	a := peerVPC{name: "a", n: 41, routes: []string{"10.42.0.0/16 ab"}, insts: []string{"a1"}}
	b := peerVPC{name: "b", n: 42, routes: []string{"10.41.0.0/16 ab"}, insts: []string{"b1"}}
	both := peerTopology(script, dir, []peerVPC{a, b}, "ab a b")
	file := topology(t, br, both)
	if w := peerApply(t, file); strings.Contains(w, "warning") {
		t.Errorf("routes on both sides: unexpected warning:\n%s", w)
	}
	waitReady(t, dir, "a1", "b1")
	a1, b1 := a.ip(0), b.ip(0)
	waitHTTP(t, br, "a1", "http://"+b1+":8080/", "200")

	works := []probe{
		{"a1", "tcp", b1, 7000, true},
		{"b1", "tcp", a1, 7000, true},
		{"a1", "http", b1, 8080, true},
		{"b1", "http", a1, 8080, true},
		{"a1", "udp", b1, 5353, true},
		{"a1", "icmp", b1, 0, true},
		{"b1", "icmp", a1, 0, true},
	}
	t.Run("both routes", func(t *testing.T) {
		checkProbes(t, br, script, works)
		for _, p := range [][2]string{{"a1", b1}, {"b1", a1}} {
			if ttls := pingTTLs(t, br, p[0], p[1]); len(ttls) == 0 || strings.Trim(strings.Join(ttls, " "), "63 ") != "" {
				t.Errorf("%s -> %s: reply TTLs %v, want 63 (one router hop)", p[0], p[1], ttls)
			}
		}
		// The connections live in the peering's conntrack zone (reg7 of
		// the route's flows, the same on both sides), not in a VPC's.
		zones := map[string]string{}
		zoneRE := regexp.MustCompile(`load:0x([0-9a-f]+)->NXM_NX_REG7\[`)
		for _, r := range flowRows(t, br) {
			if m := zoneRE.FindStringSubmatch(r.Flow); m != nil && strings.HasPrefix(r.Owner, "vpcs[") && strings.Contains(r.Owner, ".route_tables[") {
				z, _ := strconv.ParseUint(m[1], 16, 16)
				zones[r.Owner] = fmt.Sprint(z)
			}
		}
		za, zb := zones["vpcs[a].route_tables[main].routes[0]"], zones["vpcs[b].route_tables[main].routes[0]"]
		if za == "" || za != zb {
			t.Fatalf("the routes over ab should load one conntrack zone into reg7 on both sides, got %v", zones)
		}
		for _, p := range [][2]string{{a1, b1}, {b1, a1}} {
			r := sh(t, "ovs-appctl dpctl/dump-conntrack | grep -F 'orig=(src="+p[0]+",dst="+p[1]+",' || true")
			if !strings.Contains(r.Stdout, "zone="+za+",") && !strings.HasSuffix(strings.TrimSpace(r.Stdout), "zone="+za) {
				t.Errorf("no conntrack entry %s -> %s in the peering's zone %s:\n%s", p[0], p[1], za, r.Stdout)
			}
			for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
				if l != "" && !regexp.MustCompile(`zone=`+za+`(,|$)`).MatchString(l) {
					t.Errorf("a connection across the peering outside its zone %s: %s", za, l)
				}
			}
		}
	})

	t.Run("route on one side only", func(t *testing.T) {
		s := startStream(t, br, script, dir, "a1", b1, 7777)
		oneSided := peerTopology(script, dir, []peerVPC{a, {name: "b", n: 42, insts: []string{"b1"}}}, "ab a b")
		writeTopology(t, file, br, oneSided)
		w := peerApply(t, file)
		if !strings.Contains(w, "warning") || !strings.Contains(w, "peerings[ab]") || !strings.Contains(w, "vpc b") {
			t.Errorf("a peering routed on one side: want a warning naming peerings[ab] and vpc b, got:\n%s", w)
		}
		checkStreams(t, nil, []stream{s})
		// a1's SYN still gets to b1; b1's SYN-ACK has no route back.
		c := startPeerCapture(t, br, "b1", 1, 8*time.Second, "tcp[tcpflags] & tcp-syn != 0 and src host "+a1+" and dst port 7000")
		checkProbes(t, br, script, []probe{{"a1", "tcp", b1, 7000, false}})
		if got := c.packets(); len(got) == 0 {
			t.Errorf("a1's SYN did not reach b1 (a's route is still there; only the way back is missing)")
		} else {
			t.Logf("b1 saw: %s", got[0])
		}
		// The rest of what worked with both routes fails now (a1's tcp SYN: above).
		checkProbes(t, br, script, blocked(works[1:]))
	})

	t.Run("route restored", func(t *testing.T) {
		writeTopology(t, file, br, both)
		if w := peerApply(t, file); strings.Contains(w, "warning") {
			t.Errorf("routes on both sides again: unexpected warning:\n%s", w)
		}
		checkProbes(t, br, script, works)
	})

	t.Run("network ACLs", func(t *testing.T) {
		// b's subnet takes tcp 7000 (and, stateless, replies to the ephemeral ports
		// 32768-65535) from a; a's subnet lets nothing out to tcp 9000 of b.
		b.acls = `    network_acls:
      - name: b-acl
        subnets: [s42]
        ingress:
          - {rule: 100, protocol: tcp, ports: "7000", source: 10.41.0.0/16, action: allow}
          - {rule: 110, protocol: tcp, ports: "32768-65535", source: 10.41.0.0/16, action: allow}
        egress:
          - {rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}
`
		a.acls = `    network_acls:
      - name: a-acl
        subnets: [s41]
        ingress:
          - {rule: 100, protocol: all, source: 0.0.0.0/0, action: allow}
        egress:
          - {rule: 100, protocol: tcp, ports: "9000", destination: 10.42.0.0/16, action: deny}
          - {rule: 200, protocol: all, destination: 0.0.0.0/0, action: allow}
`
		writeTopology(t, file, br, peerTopology(script, dir, []peerVPC{a, b}, "ab a b"))
		peerApply(t, file)
		checkProbes(t, br, script, []probe{
			{"a1", "tcp", b1, 7000, true},  // b's ingress rule 100
			{"a1", "tcp", b1, 7777, false}, // b's implicit deny
			{"a1", "icmp", b1, 0, false},   // b's implicit deny
			{"a1", "udp", b1, 5353, false}, // b's implicit deny
			{"b1", "tcp", a1, 7000, true},  // the replies enter b by rule 110
			{"b1", "http", a1, 8080, true}, // idem
			{"a1", "tcp", b1, 9000, false}, // a's egress rule 100
			{"b1", "icmp", a1, 0, false},   // the echo reply does not enter b
		})
	})
}

// TestPeeringNotTransitive: a-b and b-c peered, every VPC routing every
// other VPC's CIDR over the one peering it has. b reaches a and c and is
// reached by both; a and c reach each other by no protocol, and nothing a
// sends to c arrives there (tcpdump in c1).
func TestPeeringNotTransitive(t *testing.T) {
	br := uniqueBridge("tpb")
	dir := t.TempDir()
	script := netprobe(t, dir)
	a := peerVPC{name: "a", n: 51, routes: []string{"10.52.0.0/16 ab", "10.53.0.0/16 ab"}, insts: []string{"a1"}}
	b := peerVPC{name: "b", n: 52, routes: []string{"10.51.0.0/16 ab", "10.53.0.0/16 bc"}, insts: []string{"b1"}}
	c := peerVPC{name: "c", n: 53, routes: []string{"10.52.0.0/16 bc", "10.51.0.0/16 bc"}, insts: []string{"c1"}}
	file := topology(t, br, peerTopology(script, dir, []peerVPC{a, b, c}, "ab a b", "bc b c"))
	if w := peerApply(t, file); strings.Contains(w, "warning") {
		t.Errorf("unexpected warning:\n%s", w)
	}
	waitReady(t, dir, "a1", "b1", "c1")
	a1, b1, c1 := a.ip(0), b.ip(0), c.ip(0)
	waitHTTP(t, br, "a1", "http://"+b1+":8080/", "200")

	capC := startPeerCapture(t, br, "c1", 1, 10*time.Second, "src host "+a1)
	capA := startPeerCapture(t, br, "a1", 1, 10*time.Second, "src host "+c1)
	checkProbes(t, br, script, []probe{
		{"a1", "tcp", b1, 7000, true},
		{"b1", "tcp", a1, 7000, true},
		{"b1", "tcp", c1, 7000, true},
		{"c1", "tcp", b1, 7000, true},
		{"a1", "icmp", b1, 0, true},
		{"b1", "icmp", c1, 0, true},
		{"c1", "icmp", b1, 0, true},
		{"a1", "tcp", c1, 7000, false},
		{"c1", "tcp", a1, 7000, false},
		{"a1", "http", c1, 8080, false},
		{"c1", "http", a1, 8080, false},
		{"a1", "udp", c1, 5353, false},
		{"a1", "icmp", c1, 0, false},
		{"c1", "icmp", a1, 0, false},
	})
	if got := capC.packets(); len(got) > 0 {
		t.Errorf("a packet of a1 reached c1 (a -> b -> c is transitive):\n%s", strings.Join(got, "\n"))
	}
	if got := capA.packets(); len(got) > 0 {
		t.Errorf("a packet of c1 reached a1 (c -> b -> a is transitive):\n%s", strings.Join(got, "\n"))
	}
	// a's route to c over ab delivers to no instance: its only flow drops.
	var routeToC []string
	for _, r := range flowRows(t, br) {
		if r.Owner == "vpcs[a].route_tables[main].routes[1]" {
			routeToC = append(routeToC, r.Flow)
		}
	}
	if len(routeToC) != 1 || strings.Contains(routeToC[0], "goto_table") || strings.Contains(routeToC[0], c1) {
		t.Errorf("a's route to 10.53.0.0/16 via peering/ab should be a single drop flow, got:\n%s", strings.Join(routeToC, "\n"))
	}
}

// TestPeeringOverlapRefused: peered VPCs must not overlap (equal CIDRs, or
// one inside the other): validate and apply exit 2 naming both VPCs, and
// nothing is created. The same VPCs without the peering are fine.
func TestPeeringOverlapRefused(t *testing.T) {
	vpcs := func(cidrB, subnetB string) string {
		return `vpcs:
  - name: blue
    cidr: 10.60.0.0/16
    subnets:
      - {name: s, cidr: 10.60.1.0/24}
    instances:
      - {name: blue1, subnet: s}
  - name: green
    cidr: ` + cidrB + `
    subnets:
      - {name: s, cidr: ` + subnetB + `}
    instances:
      - {name: green1, subnet: s}
`
	}
	peering := "peerings:\n  - {name: blue-green, vpcs: [blue, green]}\n"
	for _, c := range []struct{ name, cidr, subnet string }{
		{"same CIDR", "10.60.0.0/16", "10.60.1.0/24"},
		{"nested CIDR", "10.60.128.0/17", "10.60.200.0/24"},
		{"containing CIDR", "10.0.0.0/8", "10.61.1.0/24"},
	} {
		t.Run(c.name, func(t *testing.T) {
			br := uniqueBridge("tpc")
			file := topology(t, br, vpcs(c.cidr, c.subnet)+peering)
			for _, cmd := range []string{"validate", "apply"} {
				r := vpcctl(t, cmd, "-f", file)
				if r.Code != 2 {
					t.Fatalf("%s: exit %d, want 2\nstdout: %s\nstderr: %s", cmd, r.Code, r.Stdout, r.Stderr)
				}
				var line string
				for _, l := range strings.Split(r.Stderr, "\n") {
					if strings.Contains(l, "overlap") {
						line = l
					}
				}
				if line == "" || !strings.Contains(line, "blue") || !strings.Contains(line, "green") ||
					!strings.Contains(line, "peerings[blue-green]") || !strings.Contains(line, "topology.yaml:") {
					t.Errorf("%s: want an error on peerings[blue-green] with its line, naming blue and green as overlapping; got:\n%s", cmd, r.Stderr)
				}
			}
			if r := sh(t, "ovs-vsctl br-exists "+br); r.Code == 0 {
				t.Errorf("a refused file created bridge %s", br)
			}
			if r := sh(t, "ip netns list | grep -F 'vpcctl."+br+".' || true"); strings.TrimSpace(r.Stdout) != "" {
				t.Errorf("a refused file created namespaces: %s", r.Stdout)
			}
			// Without the peering, overlapping VPCs are the multi-tenant case.
			writeTopology(t, file, br, vpcs(c.cidr, c.subnet))
			if r := vpcctl(t, "validate", "-f", file); r.Code != 0 {
				t.Errorf("the same VPCs without the peering: exit %d, want 0\n%s", r.Code, r.Stderr)
			}
		})
	}
}

// TestPeeringGroupReference: shared's db takes tcp 5432 from prod/web, the
// group of the peered VPC prod. web1 (in web) connects; other1 (prod, not in
// web) is dropped (timeout, not refused), and so is ci1, a member of shared's
// own group called web; web1 gets no other port. Once other1 joins web, it
// connects too; leaving web again stops it.
func TestPeeringGroupReference(t *testing.T) {
	br := uniqueBridge("tpd")
	dir := t.TempDir()
	script := netprobe(t, dir)
	prod := func(other1Groups string) peerVPC {
		return peerVPC{name: "prod", n: 71, routes: []string{"10.72.0.0/16 prod-shared"},
			insts:  []string{"web1:web", "other1:" + other1Groups},
			groups: "      - name: web\n"}
	}
	shared := peerVPC{name: "shared", n: 72, routes: []string{"10.71.0.0/16 prod-shared"},
		insts: []string{"db1:db", "ci1:web"},
		groups: `      - name: db
        ingress:
          - {protocol: tcp, ports: "5432", source_group: prod/web}
      - name: web
`}
	body := func(other1Groups string) string {
		return peerTopology(script, dir, []peerVPC{prod(other1Groups), shared}, "prod-shared prod shared")
	}
	file := topology(t, br, body("default"))
	peerApply(t, file)
	waitReady(t, dir, "web1", "other1", "db1", "ci1")
	web1, db1 := prod("").ip(0), shared.ip(0)
	checkProbes(t, br, script, []probe{
		{"web1", "tcp", db1, 5432, true},
		{"other1", "tcp", db1, 5432, false},
		{"ci1", "tcp", db1, 5432, false}, // shared/web is not prod/web
		{"web1", "tcp", db1, 5433, false},
		{"web1", "icmp", db1, 0, false},
		{"db1", "tcp", web1, 7000, false}, // prod's web has no ingress rule at all
	})

	writeTopology(t, file, br, body("default, web"))
	sum := applyJSON(t, file)
	if sum.FlowMods == 0 {
		t.Errorf("other1 joining prod/web sent no flow-mod: %+v", sum)
	}
	checkProbes(t, br, script, []probe{
		{"other1", "tcp", db1, 5432, true},
		{"web1", "tcp", db1, 5432, true},
		{"other1", "tcp", db1, 5433, false},
		{"ci1", "tcp", db1, 5432, false},
	})

	writeTopology(t, file, br, body("default"))
	peerApply(t, file)
	checkProbes(t, br, script, []probe{
		{"other1", "tcp", db1, 5432, false},
		{"web1", "tcp", db1, 5432, true},
	})
}

// TestPeeringDaemonOwnFlows: under a running daemon, adding a peering with
// its routes (file rewritten) adds flows and replaces none: every cookie
// installed before is still installed, and every new flow is owned by one of
// the peering's routes; traffic between the two VPCs starts, and a ping
// inside one VPC loses nothing meanwhile. Removing the peering and its
// routes restores exactly the cookies of before, and the traffic stops.
func TestPeeringDaemonOwnFlows(t *testing.T) {
	br := uniqueBridge("tpe")
	dir := t.TempDir()
	script := netprobe(t, dir)
	a := peerVPC{name: "a", n: 81, insts: []string{"a1", "a2"}}
	b := peerVPC{name: "b", n: 82, insts: []string{"b1"}}
	header := "version: 1\nbridge: " + br + "\n"
	without := peerTopology(script, dir, []peerVPC{a, b})
	a.routes, b.routes = []string{"10.82.0.0/16 ab"}, []string{"10.81.0.0/16 ab"}
	with := peerTopology(script, dir, []peerVPC{a, b}, "ab a b")
	file := topology(t, br, without)
	d := startDaemon(t, file)
	waitReady(t, dir, "a1", "a2", "b1")
	a1, a2, b1 := a.ip(0), a.ip(1), b.ip(0)
	waitHTTP(t, br, "a1", "http://"+a2+":8080/", "200")
	checkProbes(t, br, script, []probe{{"a1", "tcp", b1, 7000, false}, {"b1", "tcp", a1, 7000, false}})
	before := ofCookies(t, br)

	// Add the peering while a1 pings a2 (unrelated flows must not be replaced).
	pinger := inNSBackground(t, br, "a1", "ping", "-n", "-i", "0.05", "-c", "100", "-W", "1", a2)
	time.Sleep(time.Second)
	n := d.applied()
	rewrite(t, file, header+with)
	d.waitApplied(n + 1)
	var after map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		after = ofCookies(t, br)
		if len(cookieDiff(after, before)) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if gone := cookieDiff(before, after); len(gone) > 0 {
		t.Errorf("adding the peering removed or replaced %d flows it does not own:\n%s", len(gone), strings.Join(gone, "\n"))
	}
	added := cookieDiff(after, before)
	if len(added) == 0 {
		t.Fatalf("adding the peering added no flow\n%s", d.log.String())
	}
	owner := map[string]string{}
	for _, r := range flowRows(t, br) {
		owner["0x"+strconv.FormatUint(r.Cookie, 16)] = r.Owner
	}
	routes := map[string]bool{"vpcs[a].route_tables[main].routes[0]": true, "vpcs[b].route_tables[main].routes[0]": true}
	seen := map[string]bool{}
	for _, l := range added {
		c, _, _ := strings.Cut(strings.TrimPrefix(l, "cookie="), ",")
		if !routes[owner[c]] {
			t.Errorf("a new flow is not owned by the peering's routes (owner %q):\n%s", owner[c], l)
		}
		seen[owner[c]] = true
	}
	for r := range routes {
		if !seen[r] {
			t.Errorf("no new flow is owned by %s", r)
		}
	}
	t.Logf("the peering added %d flows", len(added))
	checkProbes(t, br, script, []probe{
		{"a1", "tcp", b1, 7000, true},
		{"b1", "tcp", a1, 7000, true},
		{"a2", "icmp", b1, 0, true},
	})
	select {
	case <-pinger.done:
	case <-time.After(30 * time.Second):
		t.Fatal("background ping still running after 30 s")
	}
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinger.out.String())
	if m == nil || m[1] != "100" || m[2] != "100" {
		t.Errorf("a1 -> a2 while the peering was added: want 100/100 replies:\n%s", pinger.out.String())
	}

	// Remove it: exactly the cookies of before.
	n = d.applied()
	rewrite(t, file, header+without)
	d.waitApplied(n + 1)
	var final map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		final = ofCookies(t, br)
		if len(cookieDiff(final, before))+len(cookieDiff(before, final)) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if extra, missing := cookieDiff(final, before), cookieDiff(before, final); len(extra)+len(missing) > 0 {
		t.Errorf("removing the peering did not restore the flows of before:\nstill there:\n%s\nmissing:\n%s",
			strings.Join(extra, "\n"), strings.Join(missing, "\n"))
	}
	checkProbes(t, br, script, []probe{
		{"a1", "tcp", b1, 7000, false},
		{"b1", "tcp", a1, 7000, false},
		{"a1", "tcp", a2, 7000, true},
	})
	if !d.running() {
		t.Fatalf("daemon exited: %v\n%s", d.err, d.log.String())
	}
}

// TestPeeringInvalid: a route via a peering that does not connect the VPC,
// or via one that does not exist, and peerings of unknown VPCs or of
// overlapping ones, exit 2 naming the field (and change nothing on a running
// bridge); a peering routed on one side only is applied, with a warning.
func TestPeeringInvalid(t *testing.T) {
	a := peerVPC{name: "a", n: 91, routes: []string{"10.92.0.0/16 ab"}, insts: []string{"ia"}}
	b := peerVPC{name: "b", n: 92, routes: []string{"10.91.0.0/16 ab", "10.93.0.0/16 bc"}, insts: []string{"ib"}}
	c := peerVPC{name: "c", n: 93, routes: []string{"10.92.0.0/16 bc"}, insts: []string{"ic"}}
	dir := t.TempDir()
	script := netprobe(t, dir)
	valid := peerTopology(script, dir, []peerVPC{a, b, c}, "ab a b", "bc b c")
	cBad := c
	cBad.routes = []string{"10.92.0.0/16 bc", "10.91.0.0/16 ab"}
	cNone := c
	cNone.routes = []string{"10.92.0.0/16 nope"}
	invalidChangesNothing(t, uniqueBridge("tpf"), valid, []invalidCase{
		{"route via a peering of other VPCs", peerTopology(script, dir, []peerVPC{a, b, cBad}, "ab a b", "bc b c"),
			"vpcs[c].route_tables[main].routes[1].via"},
		{"route via an unknown peering", peerTopology(script, dir, []peerVPC{a, b, cNone}, "ab a b", "bc b c"),
			"vpcs[c].route_tables[main].routes[0].via"},
		{"peering of an unknown VPC", peerTopology(script, dir, []peerVPC{a, b, c}, "ab a b", "bc b c", "ax a x"),
			"peerings[ax].vpcs[1]"},
		{"peering of overlapping VPCs", peerTopology(script, dir, []peerVPC{a, b, c, {name: "d", n: 92, insts: []string{"id"}}}, "ab a b", "bc b c", "bd b d"),
			"peerings[bd].vpcs"},
	})

	t.Run("one side without a route", func(t *testing.T) {
		br := uniqueBridge("tpf")
		cOne := c
		cOne.routes = nil
		file := topology(t, br, peerTopology(script, dir, []peerVPC{a, b, cOne}, "ab a b", "bc b c"))
		for _, cmd := range []string{"validate", "apply"} {
			r := vpcctl(t, cmd, "-f", file)
			if r.Code != 0 {
				t.Fatalf("%s: exit %d, want 0 (a warning only)\nstdout: %s\nstderr: %s", cmd, r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stderr, "warning") || !strings.Contains(r.Stderr, "peerings[bc]") ||
				!strings.Contains(r.Stderr, "vpc c") || strings.Contains(r.Stderr, "peerings[ab]") {
				t.Errorf("%s: want one warning, on peerings[bc] naming vpc c (and none on ab); got:\n%s", cmd, r.Stderr)
			}
		}
		if !nsExists(br, "ic") {
			t.Error("the file with a warning was not applied: no namespace for ic")
		}
	})
}

// TestPeeringGroupReferenceOverlappingPeers: b is peered with a and with x,
// whose CIDRs overlap (allowed: a and x are not peered with each other; b
// routes a part of the range to each). b's db takes tcp 5432 from a/web.
// xevil, in x, has the address of a's web member aweb: it is no member of
// a/web, so its SYN must not reach db1 (SPEC §2: source_group matches the
// current members of that group; isolation between VPCs).
func TestPeeringGroupReferenceOverlappingPeers(t *testing.T) {
	br := uniqueBridge("tpg")
	dir := t.TempDir()
	script := netprobe(t, dir)
	run := func(name string) string { return strconv.Quote(serveAll(script, dir, name, false)) }
	file := topology(t, br, `vpcs:
  - name: a
    cidr: 10.41.0.0/16
    subnets:
      - {name: s, cidr: 10.41.1.0/24}
    route_tables:
      - name: main
        routes:
          - {destination: 10.42.0.0/16, via: peering/ab}
    security_groups:
      - name: web
    instances:
      - {name: aweb, subnet: s, ip: 10.41.1.10, security_groups: [web], run: `+run("aweb")+`}
  - name: x
    cidr: 10.41.0.0/16
    subnets:
      - {name: s, cidr: 10.41.1.0/24}
    route_tables:
      - name: main
        routes:
          - {destination: 10.42.0.0/16, via: peering/bx}
    instances:
      - {name: xevil, subnet: s, ip: 10.41.1.10, run: `+run("xevil")+`}
      - {name: xok, subnet: s, ip: 10.41.1.20, run: `+run("xok")+`}
  - name: b
    cidr: 10.42.0.0/16
    subnets:
      - {name: s, cidr: 10.42.1.0/24}
    route_tables:
      - name: main
        routes:
          - {destination: 10.41.1.0/28, via: peering/ab}
          - {destination: 10.41.1.16/28, via: peering/bx}
    security_groups:
      - name: db
        ingress:
          - {protocol: tcp, ports: "5432", source_group: a/web}
    instances:
      - {name: db1, subnet: s, ip: 10.42.1.10, security_groups: [db], run: `+run("db1")+`}
peerings:
  - {name: ab, vpcs: [a, b]}
  - {name: bx, vpcs: [b, x]}
`)
	peerApply(t, file)
	waitReady(t, dir, "aweb", "xevil", "xok", "db1")
	checkProbes(t, br, script, []probe{{"aweb", "tcp", "10.42.1.10", 5432, true}})
	c := startPeerCapture(t, br, "db1", 1, 6*time.Second, "tcp dst port 5432 and tcp[tcpflags] == tcp-syn")
	checkProbes(t, br, script, []probe{
		{"xevil", "tcp", "10.42.1.10", 5432, false},
		{"xok", "tcp", "10.42.1.10", 5432, false},
	})
	if got := c.packets(); len(got) > 0 {
		t.Errorf("a SYN from x (not a member of a/web) reached db1, whose group takes 5432 only from a/web "+
			"(the ingress rule matches the members' addresses and the destination VPC, not the source VPC):\n%s", strings.Join(got, "\n"))
	}
}

package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// lab04Page fetches http://ADDRESS:8080/name from inside an instance (one
// try, curl -m 3) and returns the body and curl's exit code.
func lab04Page(br, from, addr string) (string, int) {
	return curlOnce(br, from, "http://"+addr+":8080/name")
}

// lab04Reaches checks that from gets want from addr (retrying for up to 20 s:
// workloads need a moment to listen after an apply).
func lab04Reaches(t *testing.T, br, from, addr, want string) {
	t.Helper()
	var body string
	var code int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if body, code = lab04Page(br, from, addr); code == 0 && body == want {
			return
		}
	}
	t.Errorf("%s: curl http://%s:8080/name: got %q (exit %d), want %q", from, addr, body, code, want)
}

// lab04Blocked checks that from gets no answer from addr: curl times out
// (exit 28), the packets are dropped rather than refused.
func lab04Blocked(t *testing.T, br, from, addr string) {
	t.Helper()
	if body, code := lab04Page(br, from, addr); code != 28 {
		t.Errorf("%s: curl http://%s:8080/name: exit %d (%q), want 28 (timeout: dropped)", from, addr, code, body)
	}
}

// lab04Sed edits the lab's topology the way the README tells the reader to.
func lab04Sed(t *testing.T, file string, scripts ...string) {
	t.Helper()
	for _, s := range scripts {
		if out, err := exec.Command("sed", "-i", s, file).CombinedOutput(); err != nil {
			t.Fatalf("sed %q: %v\n%s", s, err, out)
		}
	}
}

// ownerPackets sums n_packets (`vpcctl flows -o json`) over the flows of
// one owner; -1 when it has none.
func ownerPackets(t *testing.T, br, owner string) int64 {
	t.Helper()
	out := mustVpcctl(t, "flows", "--bridge", br, "-o", "json")
	var rows []struct {
		Owner    string `json:"owner"`
		NPackets int64  `json:"n_packets"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("flows -o json: %v\n%s", err, out)
	}
	n := int64(-1)
	for _, r := range rows {
		if r.Owner == owner {
			n = max(n, 0) + r.NPackets
		}
	}
	return n
}

// flowPriority is the priority=N of a flow's text, or "".
func flowPriority(f string) string {
	_, rest, ok := strings.Cut(f, "priority=")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, ",")
	return p
}

// routeFlows returns `vpcctl flows` rows owned by one route.
func routeFlows(t *testing.T, br, owner string) []string {
	t.Helper()
	var fs []string
	for _, r := range flowRows(t, br) {
		if r.Owner == owner {
			fs = append(fs, r.Table+" "+r.Flow)
		}
	}
	return fs
}

// TestLab04Peering checks what labs/04-peering/README.md claims, with real
// traffic: dev and prod each reach shared's registry and back (TTL 63),
// dev2 (not in dev/app) is dropped by registry's cross-VPC group rule, dev
// has no way to prod; the route's flows (a delivery per peer instance with
// the peer's registers and the peering's zone, a drop for the rest) and the
// conntrack zone per peering; the exercise (a route to prod via dev-shared
// is valid but reaches nothing, a dev-prod peering does); the missing route
// back (a warning; the SYN arrives and is answered, the answer never
// arrives; both directions fail) and its repair. The sed commands are the
// README's.
func TestLab04Peering(t *testing.T) {
	br := uniqueBridge("tlp")
	file := labTopology(t, "04-peering", br)
	dir := t.TempDir()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/tmp/vpcctl-lab04") {
		t.Fatalf("the lab no longer keeps its files in /tmp/vpcctl-lab04: update this test")
	}
	original := strings.ReplaceAll(string(b), "/tmp/vpcctl-lab04", dir)
	restore := func() {
		t.Helper()
		if err := os.WriteFile(file, []byte(original), 0o644); err != nil {
			t.Fatal(err)
		}
		if w := peerApply(t, file); strings.Contains(w, "warning") {
			t.Errorf("lab 04 should apply without warnings:\n%s", w)
		}
	}
	restore()
	const dev1, dev2, registry, prod1 = "10.10.1.10", "10.10.1.20", "10.20.1.10", "10.30.1.10"

	t.Run("across the peerings", func(t *testing.T) {
		lab04Reaches(t, br, "dev1", registry, "registry")
		lab04Reaches(t, br, "registry", dev1, "dev1")
		lab04Reaches(t, br, "prod1", registry, "registry")
		lab04Reaches(t, br, "registry", prod1, "prod1")
		if ttls := pingTTLs(t, br, "dev1", registry); len(ttls) == 0 || ttls[0] != "63" {
			t.Errorf("dev1 -> registry: ping TTLs %v, want 63", ttls)
		}
		lab04Blocked(t, br, "dev2", registry) // registry takes 8080 from dev/app only
		lab04Blocked(t, br, "dev1", prod1)    // no route from dev to prod
		lab04Blocked(t, br, "prod1", dev1)
		if ping(t, br, "dev1", prod1) {
			t.Error("dev1 pings prod1")
		}
	})

	t.Run("flows and zones", func(t *testing.T) {
		fs := routeFlows(t, br, "vpcs[dev].route_tables[main].routes[0]")
		var deliver, drop int
		var deliverPrio, dropPrio string
		for _, f := range fs {
			switch {
			case strings.Contains(f, "nw_dst="+registry+",") && strings.Contains(f, "set_field:02:8b:66:7e:89:a8->dl_dst") &&
				strings.Contains(f, "load:0x94f5->NXM_NX_REG6[0..15]") && strings.Contains(f, "load:0x1ef9->NXM_NX_REG7[0..15]") &&
				strings.Contains(f, "dec_ttl") && strings.Contains(f, "goto_table:ConntrackLookup"):
				deliver++
				deliverPrio = flowPriority(f)
			case strings.Contains(f, "nw_dst=10.20.0.0/16") && !strings.Contains(f, "goto_table"):
				drop++
				dropPrio = flowPriority(f)
			}
		}
		if len(fs) != 2 || deliver != 1 || drop != 1 {
			t.Errorf("dev's route to shared: want the delivery to registry (peer registers, zone 0x1ef9) and a drop for 10.20.0.0/16, as the README shows; got:\n%s", strings.Join(fs, "\n"))
		}
		// README: a /16 route sits at 102 + 2 x 16 = 134, its instances one above.
		if deliverPrio != "135" || dropPrio != "134" {
			t.Errorf("route priorities: delivery %s, drop %s; the README says 135 and 134", deliverPrio, dropPrio)
		}
		// registry's rule for dev/app matches dev1's address and the destination VPC register.
		var member bool
		for _, r := range flowRows(t, br) {
			if r.Owner == "vpcs[shared].security_groups[registry].ingress[0]" && strings.Contains(r.Flow, "nw_src="+dev1+",reg0=0xee1d/0xffff,reg6=0x94f5/0xffff") {
				member = true
			}
			if strings.Contains(r.Owner, "security_groups[registry]") && strings.Contains(r.Flow, "nw_src="+dev2) {
				t.Errorf("a flow of registry's group names dev2, which is not in dev/app: %s", r.Flow)
			}
		}
		if !member {
			t.Error("no flow of registry's ingress[0] (source_group: dev/app) matches nw_src=10.10.1.10,reg0=0xee1d/0xffff,reg6=0x94f5/0xffff")
		}
		lab04Reaches(t, br, "dev1", registry, "registry")
		lab04Reaches(t, br, "prod1", registry, "registry")
		for _, c := range []struct{ zone, src string }{{"7929", dev1}, {"45761", prod1}} {
			r := sh(t, "ovs-appctl dpctl/dump-conntrack zone="+c.zone)
			if !strings.Contains(r.Stdout, "orig=(src="+c.src+",dst="+registry+",") {
				t.Errorf("dump-conntrack zone=%s has no connection from %s to registry:\n%s", c.zone, c.src, r.Stdout)
			}
		}
	})

	t.Run("exercise: not transitive", func(t *testing.T) {
		lab04Sed(t, file,
			`s|          - {destination: 10.20.0.0/16, via: peering/dev-shared}|&\n          - {destination: 10.30.0.0/16, via: peering/dev-shared}|`,
			`s|          - {destination: 10.20.0.0/16, via: peering/shared-prod}|&\n          - {destination: 10.10.0.0/16, via: peering/shared-prod}|`)
		if w := peerApply(t, file); strings.Contains(w, "warning") {
			t.Errorf("unexpected warning:\n%s", w)
		}
		lab04Blocked(t, br, "dev1", prod1)
		lab04Blocked(t, br, "prod1", dev1)
		if ping(t, br, "dev1", prod1) {
			t.Error("dev1 pings prod1 through shared")
		}
		lab04Reaches(t, br, "dev1", registry, "registry")
		fs := routeFlows(t, br, "vpcs[dev].route_tables[main].routes[1]")
		if len(fs) != 1 || !strings.Contains(fs[0], "nw_dst=10.30.0.0/16") || strings.Contains(fs[0], "goto_table") {
			t.Errorf("dev's route to prod via dev-shared: want one drop flow, as the README shows; got:\n%s", strings.Join(fs, "\n"))
		}

		// The answer: a peering of their own.
		lab04Sed(t, file, `s|10.30.0.0/16, via: peering/dev-shared|10.30.0.0/16, via: peering/dev-prod|; s|10.10.0.0/16, via: peering/shared-prod|10.10.0.0/16, via: peering/dev-prod|`)
		f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("  - {name: dev-prod, vpcs: [dev, prod]}\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if w := peerApply(t, file); strings.Contains(w, "warning") {
			t.Errorf("unexpected warning:\n%s", w)
		}
		lab04Reaches(t, br, "dev1", prod1, "prod1")
		lab04Reaches(t, br, "prod1", dev1, "dev1")
		lab04Reaches(t, br, "dev1", registry, "registry")
		restore()
	})

	t.Run("no route back", func(t *testing.T) {
		lab04Sed(t, file, `/destination: 10.10.0.0\/16, via: peering\/dev-shared/d`)
		w := peerApply(t, file)
		if !strings.Contains(w, "warning") || !strings.Contains(w, "peerings[dev-shared]: no route in vpc shared uses peering/dev-shared") {
			t.Errorf("want the README's warning on peerings[dev-shared], got:\n%s", w)
		}
		c := startPeerCapture(t, br, "registry", 2, 8*time.Second,
			"tcp port 8080 and ((src host "+dev1+" and tcp[tcpflags] == tcp-syn) or (dst host "+dev1+" and tcp[tcpflags] == tcp-syn|tcp-ack))")
		lab04Blocked(t, br, "dev1", registry)
		got := c.packets()
		var syn, synack bool
		for _, l := range got {
			syn = syn || strings.Contains(l, dev1+".") && strings.Contains(l, "> "+registry+".8080: Flags [S],")
			synack = synack || strings.Contains(l, registry+".8080 > "+dev1+".") && strings.Contains(l, "Flags [S.],")
		}
		if !syn || !synack {
			t.Errorf("registry's tcpdump should show dev1's SYN arriving and its own SYN-ACK leaving; got:\n%s", strings.Join(got, "\n"))
		}
		// The SYN-ACKs die at shared's no-route flow in L3Forwarding.
		if noRoute := ownerPackets(t, br, "vpcs[shared].no-route"); noRoute <= 0 {
			t.Errorf("shared's no-route flow counts %d packets after registry's SYN-ACKs, want > 0 (the README: the answer matches no route and drops there)", noRoute)
		}
		lab04Blocked(t, br, "registry", dev1)
		lab04Reaches(t, br, "prod1", registry, "registry") // the other peering is untouched

		restore()
		lab04Reaches(t, br, "dev1", registry, "registry")
		lab04Reaches(t, br, "registry", dev1, "dev1")
	})
}

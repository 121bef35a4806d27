package tests

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
	"github.com/vpcctl/vpcctl/controller/host/tctag"
)

// killTopology is one VPC of four /20 subnets with instances i0..i(n-1), every
// tenth attached by an OVS internal port, every tenth behind the bridge's
// trunk, the others by veths (killAttach); addresses are explicit so pings
// know them.
func killTopology(n int) string {
	var b strings.Builder
	b.WriteString("vpcs:\n  - name: kill\n    cidr: 10.61.0.0/16\n    subnets:\n")
	for s := range 4 {
		fmt.Fprintf(&b, "      - {name: s%d, cidr: 10.61.%d.0/20}\n", s, s*16)
	}
	b.WriteString("    instances:\n")
	for i := range n {
		attach := ""
		if a := killAttach(i); a != "veth" {
			attach = ", attach: " + a
		}
		fmt.Fprintf(&b, "      - {name: i%d, subnet: s%d, ip: %s%s}\n", i, i%4, killIP(i), attach)
	}
	return b.String()
}

// killAttach is how killTopology attaches instance i: internal when i%10
// is 5, trunk when it is 7, else veth.
func killAttach(i int) string {
	switch i % 10 {
	case 5:
		return "internal"
	case 7:
		return "trunk"
	}
	return "veth"
}

func killIP(i int) string {
	h := 10 + i/4
	return fmt.Sprintf("10.61.%d.%d", (i%4)*16+h/256, h%256)
}

// killedApply starts `vpcctl apply -f file`, SIGKILLs it after delay and
// reports whether it was still running then (else it finished by itself).
func killedApply(t *testing.T, file string, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(vpcctlBin, "apply", "-f", file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return false
	case <-time.After(delay):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("vpcctl apply did not end 30 s after SIGKILL")
	}
	return true
}

// timedApply applies the file and returns how long it took.
func timedApply(t *testing.T, file string) time.Duration {
	t.Helper()
	start := time.Now()
	mustVpcctl(t, "apply", "-f", file)
	return time.Since(start)
}

// checkConverged checks that the host holds exactly what the file's n
// instances need on bridge br (of the `all` instances ever in the file):
// their namespaces, OVS ports (attached) and host veths, nothing of the
// others, no internal port left in the host; for trunk instances no OVS port
// of their own but the bridge's one trunk (attached, its veth pair in the
// host, tc programs on its kernel end and their host ends, a record each on
// the trunk port and none of the others), and no trunk at all when the file
// has no trunk instance; that a further apply changes nothing (so the
// installed flows are the compiled set); and that a few instances reach each
// other, trunk ones included.
func checkConverged(t *testing.T, rng *rand.Rand, br, file string, n, all int) {
	t.Helper()
	want := map[string]bool{}     // instance name -> in the file
	portOf := map[string]string{} // port -> instance
	attach := map[string]string{} // instance -> veth, internal or trunk
	var trunks []string           // the file's trunk instances
	for i := range all {
		name := "i" + strconv.Itoa(i)
		want[name] = i < n
		portOf[host.HostVethName(br, name)] = name
		attach[name] = killAttach(i)
		if i < n && attach[name] == "trunk" {
			trunks = append(trunks, name)
		}
	}
	ovsEnd, kernelEnd := host.TrunkNames(br)

	// Namespaces: exactly vpcctl.<br>.<instance> of the wanted instances.
	var nss []string
	for _, l := range strings.Split(sh(t, "ip netns list").Stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "vpcctl."+br+".") {
			nss = append(nss, f[0])
		}
	}
	seen := map[string]bool{}
	for _, ns := range nss {
		name := strings.TrimPrefix(ns, "vpcctl."+br+".")
		if seen[name] {
			t.Errorf("namespace %s listed twice", ns)
		}
		seen[name] = true
		if !want[name] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	for name, w := range want {
		if w && !seen[name] {
			t.Errorf("namespace of %s missing", name)
		}
	}

	// OVS ports: exactly the wanted veth and internal instances' ports and,
	// when the file has a trunk instance, the trunk; each attached.
	r := sh(t, "ovs-vsctl --timeout=30 list-ports "+br)
	if r.Code != 0 {
		t.Fatalf("ovs-vsctl list-ports: %s", r.Stderr)
	}
	ports := strings.Fields(r.Stdout)
	seen = map[string]bool{}
	for _, p := range ports {
		name, ok := portOf[p]
		if seen[p] {
			t.Errorf("port %s listed twice", p)
		}
		seen[p] = true
		switch {
		case p == ovsEnd:
			if len(trunks) == 0 {
				t.Errorf("trunk port %s left behind (no trunk instance in the file)", p)
			}
		case !ok || !want[name]:
			t.Errorf("OVS port %s (%q) left behind", p, name)
		case attach[name] == "trunk":
			t.Errorf("trunk instance %s has an OVS port of its own: %s", name, p)
		}
	}
	for i := range n {
		if p := host.HostVethName(br, "i"+strconv.Itoa(i)); killAttach(i) != "trunk" && !seen[p] {
			t.Errorf("OVS port %s of i%d missing", p, i)
		}
	}
	if len(trunks) > 0 && !seen[ovsEnd] {
		t.Errorf("trunk port %s missing (%d trunk instances)", ovsEnd, len(trunks))
	}
	bad := sh(t, "ovs-vsctl --timeout=30 --format=csv --no-headings --columns=name,ofport,error list interface "+strings.Join(ports, " ")).Stdout
	for _, l := range strings.Split(strings.TrimSpace(bad), "\n") {
		if f := strings.Split(l, ","); len(f) == 3 && (f[1] == "-1" || f[1] == "[]" || (f[2] != "[]" && f[2] != `""`)) {
			t.Errorf("interface not attached: %s", l)
		}
	}

	// Trunk records: one on the trunk port per trunk instance of the file
	// (keyed by its host end, naming it, with a VLAN id of its own), none
	// of the others.
	if len(trunks) > 0 && seen[ovsEnd] {
		r := sh(t, "ovs-vsctl --timeout=30 get port "+ovsEnd+" external_ids")
		if r.Code != 0 {
			t.Fatalf("ovs-vsctl get port %s external_ids: %s", ovsEnd, r.Stderr)
		}
		recorded := map[string]bool{} // instance
		vlans := map[string]string{}  // VLAN id -> instance
		for _, m := range killTrunkRecordRE.FindAllStringSubmatch(r.Stdout, -1) {
			name, rec := portOf[m[1]], m[0]
			vals, err := url.ParseQuery(m[2])
			switch {
			case !want[name] || attach[name] != "trunk":
				t.Errorf("trunk record of %s (%q) left behind: %s", m[1], name, rec)
				continue
			case err != nil || vals.Get("instance") != name:
				t.Errorf("trunk record of %s (%s) does not name it: %s", m[1], name, rec)
			}
			recorded[name] = true
			vid, err := strconv.Atoi(vals.Get("vlan"))
			if err != nil || vid < 1 || vid > 4094 {
				t.Errorf("trunk record of %s: no VLAN id in 1..4094: %s", name, rec)
			} else if other, dup := vlans[vals.Get("vlan")]; dup {
				t.Errorf("trunk instances %s and %s share VLAN id %d", other, name, vid)
			}
			vlans[vals.Get("vlan")] = name
		}
		for _, name := range trunks {
			if !recorded[name] {
				t.Errorf("trunk instance %s has no record on %s: %s", name, ovsEnd, r.Stdout)
			}
		}
	}

	// Host links: every veth host end of the file's instances (trunk ones
	// too), with its peer in the instance's namespace; no veth or internal
	// port of the bridge's other instances; internal ports not in the host;
	// the trunk port's tap exactly when the file has a trunk instance.
	links := map[string]string{} // name -> "veth:<peer netns>", "veth@<peer in the host>" or "other"
	lre := regexp.MustCompile(`^\d+: ([^:@]+)(@\S+)?:.*`)
	for _, l := range strings.Split(sh(t, "ip -o -d link show").Stdout, "\n") {
		m := lre.FindStringSubmatch(l)
		if m == nil || (portOf[m[1]] == "" && m[1] != ovsEnd && m[1] != kernelEnd) {
			continue
		}
		kind := "other"
		if strings.Contains(l, " tun type tap ") {
			kind = "tap"
		}
		if strings.Contains(l, " veth ") {
			kind = "veth:"
			if i := strings.Index(l, "link-netns "); i >= 0 {
				kind += strings.Fields(l[i+len("link-netns "):])[0]
			} else if m[2] != "" {
				kind = "veth" + m[2]
			}
		}
		if _, dup := links[m[1]]; dup {
			t.Errorf("host link %s listed twice", m[1])
		}
		links[m[1]] = kind
	}
	for p, name := range portOf {
		kind, ok := links[p]
		internal := attach[name] == "internal"
		switch {
		case want[name] && !internal && kind != "veth:vpcctl."+br+"."+name:
			t.Errorf("host veth %s of %s: %q, want its peer in vpcctl.%s.%s", p, name, kind, br, name)
		case (!want[name] || internal) && ok:
			t.Errorf("host link %s of %s left behind (%s)", p, name, kind)
		}
	}
	// The trunk: its OVS internal port's tap; no veth pair of earlier releases.
	if kind, ok := links[ovsEnd]; len(trunks) > 0 && kind != "tap" {
		t.Errorf("trunk port %s: %q, want the OVS internal port's tap", ovsEnd, kind)
	} else if len(trunks) == 0 && ok {
		t.Errorf("trunk port device %s left behind (%s)", ovsEnd, kind)
	}
	if kind, ok := links[kernelEnd]; ok {
		t.Errorf("former trunk veth end %s exists (%s)", kernelEnd, kind)
	}

	// Internal ports live in their instance's namespace.
	for i := 5; i < n; i += 10 {
		name := "i" + strconv.Itoa(i)
		if r := sh(t, "ip -n vpcctl."+br+"."+name+" link show "+host.HostVethName(br, name)); r.Code != 0 {
			t.Errorf("internal port of %s not in its namespace: %s", name, r.Stderr)
		}
	}

	// Tags: one tc program (tctag.FilterName) on the ingress of the trunk
	// device and of each trunk instance's host end; no bpf filter on the
	// veth instances' ports (their frames must not be redirected). One tc
	// batch reads them all (a tc per link takes seconds at 200); links that
	// are missing are reported above.
	if len(trunks) > 0 {
		tagged := map[string]bool{ovsEnd: true} // host link -> wants the program
		for i := range n {
			if a := killAttach(i); a != "internal" {
				tagged[host.HostVethName(br, "i"+strconv.Itoa(i))] = a == "trunk"
			}
		}
		var devs []string
		var batch strings.Builder
		for _, d := range slices.Sorted(maps.Keys(tagged)) {
			if strings.HasPrefix(links[d], "veth") || links[d] == "tap" {
				devs = append(devs, d)
				fmt.Fprintf(&batch, "filter show dev %s ingress\n", d)
			}
		}
		path := filepath.Join(t.TempDir(), "filters.tc")
		if err := os.WriteFile(path, []byte(batch.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, time.Minute, "tc", "-j", "-batch", path)
		dec := json.NewDecoder(strings.NewReader(r.Stdout))
		for _, d := range devs {
			var filters []struct {
				Kind    string `json:"kind"`
				Options struct {
					Name string `json:"bpf_name"`
				} `json:"options"`
			}
			if err := dec.Decode(&filters); err != nil {
				t.Errorf("tc filter show dev %s ingress: %v (tc exit %d: %s)", d, err, r.Code, r.Stderr)
				break
			}
			ours, bpf := 0, 0
			for _, f := range filters {
				if f.Kind == "bpf" {
					bpf++
				}
				if f.Options.Name == tctag.FilterName {
					ours++
				}
			}
			switch {
			case tagged[d] && ours != 1:
				t.Errorf("%s (%q): %d %s filters on ingress, want 1: %+v", d, portOf[d], ours, tctag.FilterName, filters)
			case !tagged[d] && bpf != 0:
				t.Errorf("veth instance %s: a bpf filter on the ingress of its port %s: %+v", portOf[d], d, filters)
			}
		}
	}

	// Flows and everything else: a further apply has nothing to do.
	var sum struct {
		Flows       int `json:"flows"`
		FlowMods    int `json:"flow_mods"`
		OVSDBWrites int `json:"ovsdb_writes"`
		HostChanges int `json:"host_changes"`
		Removed     int `json:"instances_removed"`
	}
	out := mustVpcctl(t, "apply", "-o", "json", "-f", file)
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("apply -o json: %v: %s", err, out)
	}
	if sum.FlowMods != 0 || sum.OVSDBWrites != 0 || sum.HostChanges != 0 || sum.Removed != 0 {
		t.Errorf("apply after convergence still changed things: %+v", sum)
	}
	dump := sh(t, "ovs-ofctl -O OpenFlow13 dump-flows "+br+" cookie=0xa500000000000000/0xff00000000000000")
	if got := strings.Count(dump.Stdout, "cookie=0xa5"); got != sum.Flows {
		t.Errorf("%d vpcctl flows installed, %d compiled", got, sum.Flows)
	}

	// A few instances reach each other: one routed pair at least, and when
	// the file has trunk instances two of them and one with a veth
	// instance, in either direction.
	var trunkIs, vethIs []int
	for i := range n {
		switch killAttach(i) {
		case "trunk":
			trunkIs = append(trunkIs, i)
		case "veth":
			vethIs = append(vethIs, i)
		}
	}
	a := rng.IntN(n)
	pairs := [][2]int{{a, (a + 1) % n}} // next subnet: routed
	if len(trunkIs) > 1 {
		k := rng.IntN(len(trunkIs))
		pairs = append(pairs, [2]int{trunkIs[k], trunkIs[(k+1+rng.IntN(len(trunkIs)-1))%len(trunkIs)]})
	}
	if len(trunkIs) > 0 && len(vethIs) > 0 {
		p := [2]int{trunkIs[rng.IntN(len(trunkIs))], vethIs[rng.IntN(len(vethIs))]}
		if rng.IntN(2) == 0 {
			p[0], p[1] = p[1], p[0]
		}
		pairs = append(pairs, p)
	}
	pairs = append(pairs, [2]int{rng.IntN(n), rng.IntN(n)})
	for _, p := range pairs {
		if p[0] == p[1] {
			continue
		}
		if !pingOnce(t, br, "i"+strconv.Itoa(p[0]), killIP(p[1])) {
			t.Errorf("i%d (%s) cannot ping i%d (%s, %s)", p[0], killAttach(p[0]), p[1], killAttach(p[1]), killIP(p[1]))
		}
	}
}

// killTrunkRecordRE is one trunk instance's record in the trunk port's
// external_ids as ovs-vsctl prints them: "vpcctl-trunk:<host end>"="<query>".
var killTrunkRecordRE = regexp.MustCompile(`"?vpcctl-trunk:([^"=\s]+)"?="?([^"\s,}]*)"?`)

// pingOnce is ping with one echo request per try, three tries at most.
func pingOnce(t *testing.T, br, from, to string) bool {
	t.Helper()
	for range 3 {
		if inNS(t, br, from, 10*time.Second, "ping", "-c", "1", "-W", "1", to).Code == 0 {
			return true
		}
	}
	return false
}

// TestApplyKilled kills `vpcctl apply` of a 200-instance topology with
// SIGKILL at random points, 20 times, each time from nothing (every other
// time twice in a row), and checks that the next apply converges: exactly
// the namespaces, ports and host veths the file needs, the compiled flows, a
// few pings. Then it removes half the instances, kills that apply midway,
// and checks again that nothing is left behind; and the same for an apply
// that removes every trunk instance, and so the trunk.
func TestApplyKilled(t *testing.T) {
	const n, rounds = 200, 20
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VPCCTL_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (VPCCTL_KILL_SEED reproduces it)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	br := uniqueBridge("tk")
	// Runs after topology's destroy: a trunk tap that outlived its OVS port
	// (the failure checkConverged reports) is past what destroy finds.
	t.Cleanup(func() {
		if ovsEnd, _ := host.TrunkNames(br); sh(t, "ip link show dev "+ovsEnd).Code == 0 {
			t.Logf("deleting trunk device %s, left behind after destroy", ovsEnd)
			sh(t, "ip link del dev "+ovsEnd)
		}
	})
	fullYAML := killTopology(n)
	file := topology(t, br, fullYAML)
	full := timedApply(t, file)
	checkConverged(t, rng, br, file, n, n)
	// A second apply from nothing: the first one is often the slowest (half
	// the kills missed when it alone bounded the delays); the shorter of the
	// two bounds them, so most kills land inside an apply.
	mustVpcctl(t, "destroy", "-f", file)
	full = min(full, timedApply(t, file))
	t.Logf("full apply of %d instances: %v", n, full.Round(time.Millisecond))

	killed := 0
	for round := range rounds {
		start := time.Now()
		mustVpcctl(t, "destroy", "-f", file)
		destroyed := time.Since(start)
		kills := 1 + round%2
		var delays []string
		for range kills {
			d := time.Duration(rng.Int64N(int64(full)))
			if killedApply(t, file, d) {
				killed++
			}
			delays = append(delays, d.Round(time.Millisecond).String())
		}
		killedAt := time.Since(start)
		mustVpcctl(t, "apply", "-f", file)
		converged := time.Since(start)
		checkConverged(t, rng, br, file, n, n)
		t.Logf("round %d: killed after %s; destroy %v, kills done %v, converged %v, checked %v", round,
			strings.Join(delays, ", then "), destroyed.Round(time.Millisecond), killedAt.Round(time.Millisecond),
			converged.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if t.Failed() {
			t.Fatalf("round %d did not converge (kills after %s)", round, strings.Join(delays, ", "))
		}
	}
	t.Logf("%d of %d applies were killed before they finished", killed, rounds+rounds/2)

	// Half the instances removed: that apply killed midway, then converge.
	half := killTopology(n / 2)
	writeTopology(t, file, br, half)
	removal := timedApply(t, file)
	t.Logf("apply removing %d instances: %v", n-n/2, removal.Round(time.Millisecond))
	killedShrinks(t, rng, br, file, fullYAML, half, "removal", 3, removal, n/2, n)

	// Every trunk instance removed (i0..i6 are left): the trunk port and its
	// veth pair go too; that apply killed midway, then converge.
	const few = 7
	none := killTopology(few)
	writeTopology(t, file, br, fullYAML)
	mustVpcctl(t, "apply", "-f", file)
	writeTopology(t, file, br, none)
	untrunk := timedApply(t, file)
	t.Logf("apply removing %d instances, the trunk ones all: %v", n-few, untrunk.Round(time.Millisecond))
	checkConverged(t, rng, br, file, few, n)
	killedShrinks(t, rng, br, file, fullYAML, none, "trunk removal", 2, untrunk, few, n)
}

// killedShrinks applies full, then small (its first n of all instances)
// killed after a random part of took, then small again, rounds times; each
// time the host must have converged.
func killedShrinks(t *testing.T, rng *rand.Rand, br, file, full, small, what string, rounds int, took time.Duration, n, all int) {
	t.Helper()
	for round := range rounds {
		writeTopology(t, file, br, full)
		mustVpcctl(t, "apply", "-f", file)
		writeTopology(t, file, br, small)
		d := time.Duration(rng.Int64N(int64(took)))
		k := killedApply(t, file, d)
		t.Logf("%s round %d: killed after %v (before it finished: %v)", what, round, d.Round(time.Millisecond), k)
		mustVpcctl(t, "apply", "-f", file)
		checkConverged(t, rng, br, file, n, all)
		if t.Failed() {
			t.Fatalf("%s round %d did not converge (kill after %v)", what, round, d)
		}
	}
}

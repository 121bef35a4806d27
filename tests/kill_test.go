package tests

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpcctl/vpcctl/controller/host"
)

// killTopology is one VPC of four /20 subnets with instances i0..i(n-1), every
// tenth attached by an OVS internal port, the others by veths; addresses are
// explicit so pings know them.
func killTopology(n int) string {
	var b strings.Builder
	b.WriteString("vpcs:\n  - name: kill\n    cidr: 10.61.0.0/16\n    subnets:\n")
	for s := range 4 {
		fmt.Fprintf(&b, "      - {name: s%d, cidr: 10.61.%d.0/20}\n", s, s*16)
	}
	b.WriteString("    instances:\n")
	for i := range n {
		attach := ""
		if i%10 == 5 {
			attach = ", attach: internal"
		}
		fmt.Fprintf(&b, "      - {name: i%d, subnet: s%d, ip: %s%s}\n", i, i%4, killIP(i), attach)
	}
	return b.String()
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
// others, no internal port left in the host; that a further apply changes
// nothing (so the installed flows are the compiled set); and that a few
// instances reach each other.
func checkConverged(t *testing.T, rng *rand.Rand, br, file string, n, all int) {
	t.Helper()
	want := map[string]bool{}     // instance name -> in the file
	portOf := map[string]string{} // port -> instance
	for i := range all {
		name := "i" + strconv.Itoa(i)
		want[name] = i < n
		portOf[host.HostVethName(br, name)] = name
	}

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

	// OVS ports: exactly the wanted instances' ports, each attached.
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
		if !ok || !want[name] {
			t.Errorf("OVS port %s (%q) left behind", p, name)
		}
	}
	for i := range n {
		if p := host.HostVethName(br, "i"+strconv.Itoa(i)); !seen[p] {
			t.Errorf("OVS port %s of i%d missing", p, i)
		}
	}
	bad := sh(t, "ovs-vsctl --timeout=30 --format=csv --no-headings --columns=name,ofport,error list interface "+strings.Join(ports, " ")).Stdout
	for _, l := range strings.Split(strings.TrimSpace(bad), "\n") {
		if f := strings.Split(l, ","); len(f) == 3 && (f[1] == "-1" || f[1] == "[]" || (f[2] != "[]" && f[2] != `""`)) {
			t.Errorf("interface not attached: %s", l)
		}
	}

	// Host links: every veth host end of the file's instances, with its peer
	// in the instance's namespace; no veth or internal port of the bridge's
	// other instances; internal ports not in the host.
	links := map[string]string{} // name -> "veth:<peer netns>" or "other"
	lre := regexp.MustCompile(`^\d+: ([^:@]+)(@\S+)?:.*`)
	for _, l := range strings.Split(sh(t, "ip -o -d link show").Stdout, "\n") {
		m := lre.FindStringSubmatch(l)
		if m == nil || portOf[m[1]] == "" {
			continue
		}
		kind := "other"
		if strings.Contains(l, " veth ") {
			kind = "veth:"
			if i := strings.Index(l, "link-netns "); i >= 0 {
				kind += strings.Fields(l[i+len("link-netns "):])[0]
			}
		}
		if _, dup := links[m[1]]; dup {
			t.Errorf("host link %s listed twice", m[1])
		}
		links[m[1]] = kind
	}
	for p, name := range portOf {
		i, _ := strconv.Atoi(strings.TrimPrefix(name, "i"))
		kind, ok := links[p]
		switch {
		case want[name] && i%10 != 5 && kind != "veth:vpcctl."+br+"."+name:
			t.Errorf("host veth %s of %s: %q, want its peer in vpcctl.%s.%s", p, name, kind, br, name)
		case (!want[name] || i%10 == 5) && ok:
			t.Errorf("host link %s of %s left behind (%s)", p, name, kind)
		}
	}

	// Internal ports live in their instance's namespace.
	for i := 5; i < n; i += 10 {
		name := "i" + strconv.Itoa(i)
		if r := sh(t, "ip -n vpcctl."+br+"."+name+" link show "+host.HostVethName(br, name)); r.Code != 0 {
			t.Errorf("internal port of %s not in its namespace: %s", name, r.Stderr)
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

	// A few instances reach each other (one routed pair at least).
	for k := 0; k < 3; k++ {
		a, b := rng.IntN(n), rng.IntN(n)
		if k == 0 {
			b = (a + 1) % n // next subnet: routed
		}
		if a == b {
			continue
		}
		if !pingOnce(t, br, "i"+strconv.Itoa(a), killIP(b)) {
			t.Errorf("i%d cannot ping i%d (%s)", a, b, killIP(b))
		}
	}
}

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
// and checks again that nothing is left behind.
func TestApplyKilled(t *testing.T) {
	const n, rounds = 200, 20
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VPCCTL_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (VPCCTL_KILL_SEED reproduces it)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	br := uniqueBridge("tk")
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
	for round := range 3 {
		writeTopology(t, file, br, fullYAML)
		mustVpcctl(t, "apply", "-f", file)
		writeTopology(t, file, br, half)
		d := time.Duration(rng.Int64N(int64(removal)))
		k := killedApply(t, file, d)
		t.Logf("removal round %d: killed after %v (before it finished: %v)", round, d.Round(time.Millisecond), k)
		mustVpcctl(t, "apply", "-f", file)
		checkConverged(t, rng, br, file, n/2, n)
		if t.Failed() {
			t.Fatalf("removal round %d did not converge (kill after %v)", round, d)
		}
	}
}

package tests

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// peerVPC is one VPC of the peering tests: one subnet (10.N.1.0/24), one or
// more instances at .10, .11, ... that run the netprobe echo servers, and a
// group `open` that takes everything from 10.0.0.0/8 (so that across a
// peering only routes decide). Routes are "DESTINATION PEERING" pairs.
type peerVPC struct {
	name   string
	n      int      // second octet of the CIDR
	routes []string // "10.42.0.0/16 ab"
	insts  []string // instance names; their groups follow a colon: "web1:web"
	groups string   // extra security_groups YAML (indented like a list item of the VPC)
	acls   string   // network_acls YAML (the key included), if any
}

func (v peerVPC) cidr() string { return fmt.Sprintf("10.%d.0.0/16", v.n) }

// ip is the address of the VPC's k-th instance.
func (v peerVPC) ip(k int) string { return fmt.Sprintf("10.%d.1.%d", v.n, 10+k) }

// peerTopology renders VPCs and peerings ("NAME A B") as a topology body.
func peerTopology(script, dir string, vpcs []peerVPC, peerings ...string) string {
	var b strings.Builder
	b.WriteString("vpcs:\n")
	for _, v := range vpcs {
		fmt.Fprintf(&b, "  - name: %s\n    cidr: %s\n    subnets:\n      - {name: s%d, cidr: 10.%d.1.0/24}\n", v.name, v.cidr(), v.n, v.n)
		if len(v.routes) > 0 {
			b.WriteString("    route_tables:\n      - name: main\n        routes:\n")
			for _, r := range v.routes {
				f := strings.Fields(r)
				fmt.Fprintf(&b, "          - {destination: %s, via: peering/%s}\n", f[0], f[1])
			}
		}
		b.WriteString("    security_groups:\n      - name: open\n        ingress:\n          - {protocol: all, source: 10.0.0.0/8}\n")
		b.WriteString(v.groups)
		b.WriteString(v.acls)
		b.WriteString("    instances:\n")
		for k, in := range v.insts {
			name, groups, _ := strings.Cut(in, ":")
			if groups == "" {
				groups = "open"
			}
			fmt.Fprintf(&b, "      - {name: %s, subnet: s%d, ip: %s, security_groups: [%s], run: %q}\n",
				name, v.n, v.ip(k), groups, serveAll(script, dir, name, true))
		}
	}
	if len(peerings) > 0 {
		b.WriteString("peerings:\n")
		for _, p := range peerings {
			f := strings.Fields(p)
			fmt.Fprintf(&b, "  - {name: %s, vpcs: [%s, %s]}\n", f[0], f[1], f[2])
		}
	}
	return b.String()
}

// peerApply applies a file and returns stderr (warnings), failing on a non-zero exit.
func peerApply(t *testing.T, file string) string {
	t.Helper()
	r := vpcctl(t, "apply", "-f", file)
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	return r.Stderr
}

// peerCapture is tcpdump running inside an instance's namespace.
type peerCapture struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
}

// startPeerCapture runs `tcpdump -c count FILTER` on eth0 of an instance for
// at most limit, and returns once tcpdump listens.
func startPeerCapture(t *testing.T, br, instance string, count int, limit time.Duration, filter string) *peerCapture {
	t.Helper()
	args := []string{"exec", "--bridge", br, instance, "--", "timeout", fmt.Sprint(int(limit.Seconds())),
		"tcpdump", "-l", "-n", "-i", "eth0", "-c", fmt.Sprint(count), filter}
	c := &peerCapture{cmd: exec.Command(vpcctlBin, args...), done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.out.String(), "listening on") {
		select {
		case <-c.done:
			t.Fatalf("tcpdump in %s exited before listening:\n%s", instance, c.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump in %s does not listen after 10 s:\n%s", instance, c.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// packets waits for tcpdump to end (its count reached or its time limit) and
// returns the packet lines it printed.
func (c *peerCapture) packets() []string {
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	var lines []string
	for _, l := range strings.Split(c.out.String(), "\n") {
		if strings.Contains(l, " IP ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// ofCookies is the set of flow cookies installed on a bridge (each with its flow).
func ofCookies(t *testing.T, br string) map[string]string {
	t.Helper()
	r := sh(t, "ovs-ofctl -O OpenFlow13 --no-stats --names dump-flows "+br)
	if r.Code != 0 {
		t.Fatalf("dump-flows %s: %s", br, r.Stderr)
	}
	set := map[string]string{}
	for _, l := range strings.Split(r.Stdout, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "cookie=") {
			continue
		}
		c, _, _ := strings.Cut(strings.TrimPrefix(l, "cookie="), ",")
		set[c] = l
	}
	return set
}

// cookieDiff lists (sorted) the cookies of a that b lacks, each with its flow.
func cookieDiff(a, b map[string]string) []string {
	var d []string
	for c, l := range a {
		if _, ok := b[c]; !ok {
			d = append(d, l)
		}
	}
	sort.Strings(d)
	return d
}

// blocked is the same probes expected to fail.
func blocked(ps []probe) []probe {
	out := make([]probe, len(ps))
	for i, p := range ps {
		p.want = false
		out[i] = p
	}
	return out
}

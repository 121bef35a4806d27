package tests

import (
	"fmt"
	"strings"
	"testing"
)

// naclTopology: f1 in front (10.7.1.0/24), b1 and b2 in back (10.7.2.0/24),
// all in the implicit default group (which lets members reach each other
// with every protocol), so only the network ACLs decide. acls is the YAML
// list of network_acls ("" for none).
func naclTopology(script, dir, acls string) string {
	run := func(name string) string { return fmt.Sprintf("%q", serveAll(script, dir, name, false)) }
	if acls != "" {
		acls = "    network_acls:\n" + acls
	}
	return `vpcs:
  - name: na
    cidr: 10.7.0.0/16
    subnets:
      - {name: front, cidr: 10.7.1.0/24}
      - {name: back, cidr: 10.7.2.0/24}
` + acls + `    instances:
      - {name: f1, subnet: front, ip: 10.7.1.10, run: ` + run("f1") + `}
      - {name: b1, subnet: back, ip: 10.7.2.10, run: ` + run("b1") + `}
      - {name: b2, subnet: back, ip: 10.7.2.20, run: ` + run("b2") + `}
`
}

// acl is one network ACL in the YAML of naclTopology.
func acl(name, subnet string, ingress, egress []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "      - name: %s\n        subnets: [%s]\n", name, subnet)
	for _, d := range []struct {
		dir   string
		rules []string
	}{{"ingress", ingress}, {"egress", egress}} {
		dir, rules := d.dir, d.rules
		if len(rules) == 0 {
			continue
		}
		b.WriteString("        " + dir + ":\n")
		for _, r := range rules {
			b.WriteString("          - " + r + "\n")
		}
	}
	return b.String()
}

const f1, b1, b2 = "10.7.1.10", "10.7.2.10", "10.7.2.20"

// TestNetworkACLs checks SPEC §1/§2 network ACLs with real traffic: stateless
// (replies need a rule of their own: the ephemeral-port return rule),
// numbered with the lowest matching number deciding, implicit deny, applied
// only where traffic enters or leaves the subnet, and to established
// connections too.
func TestNetworkACLs(t *testing.T) {
	br := uniqueBridge("tn")
	dir := t.TempDir()
	script := netprobe(t, dir)
	file := topology(t, br, naclTopology(script, dir, ""))
	reapply := func(acls string) {
		t.Helper()
		writeTopology(t, file, br, naclTopology(script, dir, acls))
		mustVpcctl(t, "apply", "-f", file)
	}
	mustVpcctl(t, "apply", "-f", file)
	waitReady(t, dir, "f1", "b1", "b2")

	t.Run("no ACL allows all", func(t *testing.T) {
		checkProbes(t, br, script, []probe{
			{"f1", "tcp", b1, 7000, true}, {"f1", "udp", b1, 5353, true}, {"f1", "icmp", b1, 0, true},
			{"b1", "tcp", f1, 8080, true},
		})
	})

	t.Run("no return rule", func(t *testing.T) {
		// back takes tcp 7000 from front and ping, and only sends icmp: the
		// SYN gets in, the SYN-ACK (to f1's ephemeral port) may not leave.
		reapply(acl("back-acl", "back",
			[]string{
				`{rule: 100, protocol: tcp, ports: "7000", source: 10.7.1.0/24, action: allow}`,
				`{rule: 110, protocol: icmp, source: 0.0.0.0/0, action: allow}`,
			},
			[]string{`{rule: 100, protocol: icmp, destination: 0.0.0.0/0, action: allow}`}))
		checkProbes(t, br, script, []probe{
			{"f1", "icmp", b1, 0, true},    // allowed both ways
			{"f1", "tcp", b1, 7000, false}, // the reply is not allowed out
			{"f1", "tcp", b1, 8080, false}, // implicit deny in
			{"f1", "udp", b1, 5353, false}, // implicit deny in
			{"b1", "tcp", f1, 7000, false}, // implicit deny out
			{"b2", "tcp", b1, 8080, true},  // same subnet: no ACL
			{"b2", "udp", b1, 5353, true},  // same subnet: no ACL
			{"b1", "icmp", b2, 0, true},    // same subnet: no ACL
		})
	})

	t.Run("return rule", func(t *testing.T) {
		reapply(acl("back-acl", "back",
			[]string{
				`{rule: 100, protocol: tcp, ports: "7000", source: 10.7.1.0/24, action: allow}`,
				`{rule: 110, protocol: icmp, source: 0.0.0.0/0, action: allow}`,
			},
			[]string{
				`{rule: 100, protocol: icmp, destination: 0.0.0.0/0, action: allow}`,
				`{rule: 200, protocol: tcp, ports: "1024-65535", destination: 10.7.1.0/24, action: allow}`,
			}))
		checkProbes(t, br, script, []probe{
			{"f1", "tcp", b1, 7000, true},
			{"f1", "tcp", b1, 8080, false},
			{"f1", "udp", b1, 5353, false},
			// Out to f1:7000 is allowed now, but f1's SYN-ACK comes back to an
			// ephemeral port that no ingress rule allows (stateless).
			{"b1", "tcp", f1, 7000, false},
		})
	})

	t.Run("rule order and established", func(t *testing.T) {
		s := startStream(t, br, script, dir, "f1", b1, 7000)
		// 100 deny tcp 8080 before 200 allow all: 8080 blocked, the rest allowed.
		reapply(acl("back-acl", "back",
			[]string{
				`{rule: 100, protocol: tcp, ports: "8080", source: 0.0.0.0/0, action: deny}`,
				`{rule: 200, protocol: all, source: 0.0.0.0/0, action: allow}`,
			},
			[]string{`{rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}`}))
		checkStreams(t, []stream{s}, nil)
		checkProbes(t, br, script, []probe{
			{"f1", "tcp", b1, 8080, false},
			{"f1", "tcp", b1, 8999, true},
			{"f1", "tcp", b1, 7000, true},
			{"f1", "udp", b1, 5353, true},
			{"f1", "icmp", b1, 0, true},
			{"b1", "tcp", f1, 8080, true},
		})
		// The same two rules with their numbers swapped (listed in the same
		// order): allow all comes first, 8080 passes.
		reapply(acl("back-acl", "back",
			[]string{
				`{rule: 200, protocol: tcp, ports: "8080", source: 0.0.0.0/0, action: deny}`,
				`{rule: 100, protocol: all, source: 0.0.0.0/0, action: allow}`,
			},
			[]string{`{rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}`}))
		checkStreams(t, []stream{s}, nil)
		checkProbes(t, br, script, []probe{{"f1", "tcp", b1, 8080, true}})

		// Deny all: the established stream stops too (an ACL has no state to
		// let it through), while back's own instances still talk.
		reapply(acl("back-acl", "back",
			[]string{`{rule: 100, protocol: all, source: 0.0.0.0/0, action: deny}`},
			[]string{`{rule: 100, protocol: all, destination: 0.0.0.0/0, action: deny}`}))
		checkStreams(t, nil, []stream{s})
		checkProbes(t, br, script, []probe{
			{"f1", "tcp", b1, 7000, false},
			{"f1", "icmp", b1, 0, false},
			{"b1", "udp", f1, 5353, false},
			{"b2", "tcp", b1, 7000, true},
			{"b1", "udp", b2, 5353, true},
			{"b2", "icmp", b1, 0, true},
		})
	})

	t.Run("source subnet egress", func(t *testing.T) {
		// An ACL on the sender's subnet: its egress rules match the
		// destination port of what leaves, its ingress what comes back.
		reapply(acl("front-acl", "front",
			[]string{`{rule: 100, protocol: all, source: 0.0.0.0/0, action: allow}`},
			[]string{
				`{rule: 100, protocol: tcp, ports: "7000", destination: 10.7.2.0/24, action: deny}`,
				`{rule: 200, protocol: all, destination: 0.0.0.0/0, action: allow}`,
			}))
		checkProbes(t, br, script, []probe{
			{"f1", "tcp", b1, 7000, false},
			{"f1", "tcp", b1, 8080, true},
			{"f1", "udp", b1, 5353, true},
			{"b1", "tcp", f1, 7000, true}, // f1's reply goes from port 7000 to an ephemeral port
		})
	})
}

func TestNetworkACLInvalid(t *testing.T) {
	base := func(acls string) string {
		return `vpcs:
  - name: v
    cidr: 10.9.0.0/16
    subnets:
      - {name: a, cidr: 10.9.1.0/24}
      - {name: b, cidr: 10.9.2.0/24}
    network_acls:
      - name: n
        subnets: [a]
        ingress:
          - {rule: 100, protocol: tcp, ports: "22", source: 0.0.0.0/0, action: allow}
` + acls + `    instances:
      - {name: i1, subnet: a}
      - {name: i2, subnet: b}
`
	}
	ing := func(r string) string { return base("          - " + r + "\n") }
	invalidChangesNothing(t, uniqueBridge("tk"), base(""), []invalidCase{
		{"duplicate rule number", ing(`{rule: 100, protocol: all, source: 0.0.0.0/0, action: deny}`), "vpcs[v].network_acls[n].ingress[100].rule"},
		{"rule number 0", ing(`{rule: 0, protocol: all, source: 0.0.0.0/0, action: deny}`), "vpcs[v].network_acls[n].ingress[0].rule"},
		{"rule number too big", ing(`{rule: 32767, protocol: all, source: 0.0.0.0/0, action: deny}`), "vpcs[v].network_acls[n].ingress[32767].rule"},
		{"ports with icmp", ing(`{rule: 200, protocol: icmp, ports: "80", source: 0.0.0.0/0, action: deny}`), "vpcs[v].network_acls[n].ingress[200].ports"},
		{"backwards range", ing(`{rule: 200, protocol: tcp, ports: "90-80", source: 0.0.0.0/0, action: deny}`), "vpcs[v].network_acls[n].ingress[200].ports"},
		{"port too big", ing(`{rule: 200, protocol: udp, ports: "70000", source: 0.0.0.0/0, action: deny}`), "vpcs[v].network_acls[n].ingress[200].ports"},
		{"bad action", ing(`{rule: 200, protocol: all, source: 0.0.0.0/0, action: permit}`), "vpcs[v].network_acls[n].ingress[200].action"},
		{"subnet in two ACLs", base("      - name: m\n        subnets: [b, a]\n"), "vpcs[v].network_acls[m].subnets[1]"},
	})
}

package controller

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// labTopologies loads every lab's topology and the SPEC example.
func labTopologies(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob("../labs/*/topology.yaml")
	files = append(files, "../config/testdata/spec-example.yaml")
	out := map[string]string{}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f))
		if strings.HasSuffix(f, "spec-example.yaml") {
			name = "spec-example"
		}
		out[name] = f
	}
	return out
}

func load(t *testing.T, file string) *config.Topology {
	t.Helper()
	topo, _, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// compileOnPorts compiles a topology on a bridge whose ports are those of
// another compile (a live bridge keeps its port numbers).
func compileOnPorts(t *testing.T, topo *config.Topology, ports []ovsdb.PortInfo) *flows.Set {
	t.Helper()
	atts := attachments(topo, ports)
	ofports := map[string]int{}
	for _, a := range atts {
		ofports[a.Port] = a.OfportRequest
	}
	set, err := flows.Compile(flowTopology(topo, atts, ofports))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// portsOf are the ports a fresh bridge gets for a topology.
func portsOf(topo *config.Topology) []ovsdb.PortInfo {
	var ps []ovsdb.PortInfo
	for _, a := range attachments(topo, nil) {
		ps = append(ps, ovsdb.PortInfo{Name: a.Port, OfportRequest: a.OfportRequest})
	}
	return ps
}

// cookieLines is a set as "cookie text" lines, sorted.
func cookieLines(s *flows.Set) []string {
	out := make([]string, len(s.Flows))
	for i, f := range s.Flows {
		out[i] = cookieLine(f)
	}
	slices.Sort(out)
	return out
}

func cookieLine(f *flows.Flow) string { return hex64(f.Cookie) + " " + f.String() }

func hex64(c uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[c&0xf]
		c >>= 4
	}
	return string(b)
}

// reverseAll reverses every list of the file whose order carries no meaning:
// VPCs, subnets, instances, groups, rules of each group, NACLs and their
// rules, route tables and their routes, NAT gateways, peerings, external hosts.
func reverseAll(topo *config.Topology) {
	slices.Reverse(topo.VPCs)
	slices.Reverse(topo.Peerings)
	if topo.External != nil {
		slices.Reverse(topo.External.Hosts)
	}
	for _, v := range topo.VPCs {
		slices.Reverse(v.Subnets)
		slices.Reverse(v.Instances)
		slices.Reverse(v.SecurityGroups)
		for _, g := range v.SecurityGroups {
			slices.Reverse(g.Ingress)
			slices.Reverse(g.Egress)
		}
		slices.Reverse(v.NetworkACLs)
		for _, a := range v.NetworkACLs {
			slices.Reverse(a.Ingress)
			slices.Reverse(a.Egress)
		}
		slices.Reverse(v.RouteTables)
		for _, rt := range v.RouteTables {
			slices.Reverse(rt.Routes)
		}
		slices.Reverse(v.NATGateways)
	}
}

// Reordering what has no order (groups, rules, NACL rules in the list,
// routes, subnets, instances, ...) compiles to the same flows and cookies:
// 0 flow-mods. Ports and addresses are those the bridge already has.
func TestReorderKeepsEveryCookie(t *testing.T) {
	for name, file := range labTopologies(t) {
		t.Run(name, func(t *testing.T) {
			before := load(t, file)
			ports := portsOf(before)
			want := cookieLines(compileOnPorts(t, before, ports))
			after := load(t, file)
			reverseAll(after)
			got := cookieLines(compileOnPorts(t, after, ports))
			if !slices.Equal(want, got) {
				t.Errorf("reordering changed flows:\n--- only before\n%s\n--- only after\n%s",
					strings.Join(minus(want, got), "\n"), strings.Join(minus(got, want), "\n"))
			}
		})
	}
}

// minus is a without the lines of b.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, l := range b {
		in[l] = true
	}
	var out []string
	for _, l := range a {
		if !in[l] {
			out = append(out, l)
		}
	}
	return out
}

// ownersOf splits a merged flow's owner list.
func ownersOf(f *flows.Flow) []string { return strings.Split(f.Owner, ", ") }

// Removing one security group rule (ingress[0] of a group of three) changes
// exactly: the flows only that rule owns go; the clause flows it shares lose
// its conjunction action and nothing else; every other flow keeps its cookie.
func TestRemovingOneRuleChangesOnlyItsFlows(t *testing.T) {
	const rule = "vpcs[shared].security_groups[registry].ingress[0]"
	file := labTopologies(t)["04-peering"]
	topo := load(t, file)
	ports := portsOf(topo)
	before := compileOnPorts(t, topo, ports)
	// Delete the rule's line from the file, as the user would: the group's
	// other rules move up (ingress[1] becomes ingress[0]).
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const line = `          - {protocol: tcp, ports: "8080", source_group: dev/app}`
	lines := strings.Split(string(doc), "\n")
	n := len(lines)
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, line) })
	if len(lines) != n-1 || !hasRule(topo, rule, "dev") {
		t.Fatalf("lab 04 changed: want one line %q, the rule %s", line, rule)
	}
	edited, _, err := config.Parse([]byte(strings.Join(lines, "\n")), file)
	if err != nil {
		t.Fatal(err)
	}
	after := compileOnPorts(t, edited, ports)

	// The rule's conjunction id, from its conj_id flow.
	var id string
	for _, f := range before.Flows {
		if f.Owner == rule && strings.Contains(f.Match.String(), "conj_id=") {
			id = strings.TrimPrefix(f.Match.String(), "conj_id=")
		}
	}
	if id == "" {
		t.Fatalf("no conj_id flow owned by %s", rule)
	}
	var want []string
	gone, shared := 0, 0
	for _, f := range before.Flows {
		owners := ownersOf(f)
		switch {
		case !slices.Contains(owners, rule):
			want = append(want, cookieLine(f))
		case len(owners) == 1:
			gone++
		default:
			shared++
			// Same slot, the rule's conjunction gone from the actions.
			var acts []string
			for _, a := range f.Actions {
				if !strings.HasPrefix(a.String(), "conjunction("+id+",") {
					acts = append(acts, a.String())
				}
			}
			text := strings.SplitN(f.String(), " actions=", 2)[0] + " actions=" + strings.Join(acts, ",")
			want = append(want, "shared "+text)
		}
	}
	if gone == 0 || shared == 0 {
		t.Fatalf("test needs flows of the rule alone (%d) and shared ones (%d)", gone, shared)
	}
	beforeCookies := map[uint64]bool{}
	for _, f := range before.Flows {
		beforeCookies[f.Cookie] = true
	}
	var got []string
	for _, f := range after.Flows {
		if beforeCookies[f.Cookie] {
			got = append(got, cookieLine(f))
		} else {
			got = append(got, "shared "+f.String())
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("removing %s:\n--- expected, not found\n%s\n--- found, not expected\n%s", rule,
			strings.Join(minus(want, got), "\n"), strings.Join(minus(got, want), "\n"))
	}
}

// hasRule says whether the rule at path has a peer group of VPC peerVPC.
func hasRule(topo *config.Topology, path, peerVPC string) bool {
	for _, v := range topo.VPCs {
		for _, g := range v.SecurityGroups {
			for _, r := range g.Ingress {
				if r.Pos.Path() == path {
					return r.PeerVPC == peerVPC
				}
			}
		}
	}
	return false
}

// A rule written twice in one group is one conjunction: the same flows and
// cookies as writing it once (no duplicate conjunction action).
func TestDuplicateRuleIsOneConjunction(t *testing.T) {
	file := labTopologies(t)["04-peering"]
	topo := load(t, file)
	ports := portsOf(topo)
	want := cookieLines(compileOnPorts(t, topo, ports))
	for _, v := range topo.VPCs {
		for _, g := range v.SecurityGroups {
			g.Ingress = append(g.Ingress, g.Ingress...)
		}
	}
	got := cookieLines(compileOnPorts(t, topo, ports))
	if !slices.Equal(want, got) {
		t.Errorf("duplicated rules changed flows:\n--- only before\n%s\n--- only after\n%s",
			strings.Join(minus(want, got), "\n"), strings.Join(minus(got, want), "\n"))
	}
}

// Reconcile replaces a flow installed with a desired cookie in another
// table (or at another priority) than the desired flow's, and leaves the
// rest alone.
func TestDiffReplacesFlowInWrongTable(t *testing.T) {
	set := compileFresh(t, load(t, labTopologies(t)["00-hello"]))
	var installed []ofconn.FlowStat
	for _, f := range set.Flows {
		installed = append(installed, ofconn.FlowStat{TableID: f.Table.ID, Priority: f.Priority, Cookie: f.Cookie})
	}
	if d := diffFlows(set, installed); len(d.Add) != 0 || len(d.Delete) != 0 {
		t.Fatalf("in sync, diff is +%d -%d", len(d.Add), len(d.Delete))
	}
	moved, reprio := set.Flows[3], set.Flows[10]
	installed[3].TableID++
	installed[10].Priority++
	// An installed flow of no desired cookie goes too.
	installed = append(installed, ofconn.FlowStat{TableID: 1, Cookie: flows.CookieMarker | 12345})
	d := diffFlows(set, installed)
	wantDel := []uint64{moved.Cookie, reprio.Cookie, flows.CookieMarker | 12345}
	if !slices.Equal(d.Delete, wantDel) || len(d.Add) != 2 || d.Add[0] != moved || d.Add[1] != reprio {
		t.Errorf("diff: delete %x add %d flows; want delete %x, add %s and %s", d.Delete, len(d.Add), wantDel, moved, reprio)
	}
}

// identityDoc is a topology whose lists are written in order, or reversed
// (rev): as the user would edit the file, so config paths (and list
// indexes) change while nothing else does.
func identityDoc(rev bool) string {
	r := func(indent string, items ...string) string {
		if rev {
			items = slices.Clone(items)
			slices.Reverse(items)
		}
		return indent + "- " + strings.Join(items, "\n"+indent+"- ") + "\n"
	}
	return `version: 1
bridge: br-id
external:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  hosts:
` + r("    ", "{name: inet1, ip: 203.0.113.100}", "{name: inet2, ip: 203.0.113.101}") + `vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    internet_gateway: true
    subnets:
` + r("      ", "{name: pub, cidr: 10.1.1.0/24, route_table: rt-pub}", "{name: app, cidr: 10.1.2.0/24, route_table: rt-app}",
		"{name: db, cidr: 10.1.3.0/24, route_table: rt-app}") + `    route_tables:
` + r("      ", "{name: rt-pub, routes: [{destination: 0.0.0.0/0, via: internet-gateway}]}",
		"name: rt-app\n        routes:\n"+r("          ", "{destination: 0.0.0.0/0, via: nat-gateway/nat1}",
			"{destination: 10.9.0.0/16, via: instance/fw}", "{destination: 10.2.0.0/16, via: peering/p1}")) + `    nat_gateways:
` + r("      ", "{name: nat1, subnet: pub, public_ip: 203.0.113.10}", "{name: nat2, subnet: pub, public_ip: 203.0.113.11}") + `    security_groups:
` + r("      ",
		"name: web\n        ingress:\n"+r("          ", `{protocol: tcp, ports: "80", source: 0.0.0.0/0}`, `{protocol: tcp, ports: "8000-8100", source: 10.1.0.0/16}`,
			`{protocol: icmp, source_group: web}`, `{protocol: udp, ports: "53", source_group: shared/tools}`)+
			"        egress:\n"+r("          ", `{protocol: tcp, ports: "5432", destination_group: db}`, `{protocol: all, destination: 10.2.0.0/16}`),
		"name: db\n        ingress:\n"+r("          ", `{protocol: tcp, ports: "5432", source_group: web}`, `{protocol: icmp, source: 10.1.0.0/16}`)) + `    network_acls:
      - name: acl
        subnets: [db]
        ingress:
` + r("          ", "{rule: 100, protocol: tcp, ports: \"5432\", source: 10.1.1.0/24, action: allow}",
		"{rule: 150, protocol: tcp, ports: \"1024-65535\", source: 0.0.0.0/0, action: allow}", "{rule: 200, protocol: all, source: 0.0.0.0/0, action: deny}") + `        egress:
` + r("          ", "{rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}", "{rule: 90, protocol: udp, destination: 10.1.9.0/24, action: deny}") + `    instances:
` + r("      ", "{name: web1, subnet: pub, ip: 10.1.1.10, public_ip: 203.0.113.20, security_groups: [web]}",
		"{name: web2, subnet: pub, ip: 10.1.1.11, security_groups: [web, db]}", "{name: fw, subnet: app, ip: 10.1.2.5, source_dest_check: false}",
		"{name: db1, subnet: db, ip: 10.1.3.10, security_groups: [db]}") + `  - name: shared
    cidr: 10.2.0.0/16
    subnets:
      - {name: tools, cidr: 10.2.1.0/24}
    route_tables:
      - name: main
        routes: [{destination: 10.1.0.0/16, via: peering/p1}]
    security_groups:
      - name: tools
        ingress:
` + r("          ", `{protocol: tcp, ports: "22", source_group: prod/web}`, `{protocol: icmp, source: 10.0.0.0/8}`) + `    instances:
` + r("      ", "{name: ci1, subnet: tools, ip: 10.2.1.4, security_groups: [tools]}", "{name: ci2, subnet: tools, ip: 10.2.1.5, security_groups: [tools]}") + `peerings:
  - {name: p1, vpcs: [prod, shared]}
`
}

// The same, as the user edits the file: every list written the other way
// round (so every config path of a list item changes) gives the same cookies.
func TestReorderInFileKeepsEveryCookie(t *testing.T) {
	parse := func(doc string) *config.Topology {
		topo, _, err := config.Parse([]byte(doc), "test.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		return topo
	}
	before := parse(identityDoc(false))
	ports := portsOf(before)
	set := compileOnPorts(t, before, ports)
	want := cookieLines(set)
	conj := 0
	for _, f := range set.Flows {
		if strings.Contains(f.Match.String(), "conj_id=") {
			conj++
		}
	}
	if conj < 8 {
		t.Fatalf("want the document to make conjunctions, got %d", conj)
	}
	got := cookieLines(compileOnPorts(t, parse(identityDoc(true)), ports))
	if !slices.Equal(want, got) {
		t.Errorf("reordering the file changed flows:\n--- only before\n%s\n--- only after\n%s",
			strings.Join(minus(want, got), "\n"), strings.Join(minus(got, want), "\n"))
	}
}

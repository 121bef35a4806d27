package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// parse parses a snippet named t.yaml.
func parse(t *testing.T, src string) (*Topology, []Warning, error) {
	t.Helper()
	return Parse([]byte(src), "t.yaml")
}

func TestSpecExample(t *testing.T) {
	top, warns, err := Load("testdata/spec-example.yaml")
	if err != nil {
		t.Fatalf("spec example: %v", err)
	}
	if len(warns) > 0 {
		t.Errorf("spec example warnings: %v", warns)
	}
	if top.Bridge != "br-vpc" || top.Datapath != DatapathAuto || top.External.Attach != ExternalIsolated {
		t.Errorf("top: bridge %q datapath %q attach %q", top.Bridge, top.Datapath, top.External.Attach)
	}
	prod, shared := top.VPC("prod"), top.VPC("shared")
	if prod == nil || shared == nil || top.VPC("nope") != nil {
		t.Fatal("VPC lookup")
	}
	if got := prod.Prefix; got != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("prod prefix %v", got)
	}
	// Implicit objects.
	if rt := prod.RouteTable("main"); rt == nil || !rt.Implicit {
		t.Errorf("prod has no implicit main table: %+v", rt)
	}
	if rt := shared.RouteTable("main"); rt == nil || rt.Implicit {
		t.Errorf("shared's declared main table: %+v", rt)
	}
	if g := prod.SecurityGroup("default"); g == nil || !g.Implicit || g.Ingress[0].PeerGroup != "default" || g.Egress[0].Peer.Bits() != 0 {
		t.Errorf("implicit default group: %+v", g)
	}
	if e := prod.SecurityGroup("web").Egress; len(e) != 1 || !e[0].Implicit || e[0].Protocol != ProtoAll {
		t.Errorf("web's omitted egress should allow all: %+v", e)
	}
	// Subnets resolve their table and ACL.
	if s := prod.Subnet("private"); s.Table.Name != "private-rt" || s.ACL == nil || s.ACL.Name != "private-acl" || s.RouterIP() != netip.MustParseAddr("10.1.2.1") {
		t.Errorf("private subnet: table %v acl %v router %v", s.Table.Name, s.ACL, s.RouterIP())
	}
	if s := shared.Subnet("tools"); s.RouteTable != "main" || s.Table != shared.RouteTable("main") || s.ACL != nil {
		t.Errorf("tools subnet: %+v", s)
	}
	// Routes.
	rts := prod.RouteTable("private-rt").Routes
	if rts[0].Kind != ViaNATGateway || rts[0].Target != "nat1" || rts[1].Kind != ViaPeering || rts[1].Target != "prod-shared" {
		t.Errorf("private-rt routes: %+v %+v", rts[0], rts[1])
	}
	if d := prod.RouteTable("public-rt").DefaultRoute(); d == nil || d.Kind != ViaInternetGateway || d.Kind.String() != "internet-gateway" {
		t.Errorf("public-rt default route: %+v", d)
	}
	// Rules.
	web := prod.SecurityGroup("web")
	if r := web.Ingress[1]; r.PortRange != (PortRange{8000, 8100}) || r.Peer != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("web ingress[1]: %+v", r)
	}
	if r := web.Ingress[2]; r.PeerVPC != "prod" || r.PeerGroup != "web" || !r.PortRange.Any() {
		t.Errorf("web ingress[2]: %+v", r)
	}
	acl := prod.NetworkACL("private-acl")
	if r := acl.Ingress[2]; r.Rule != 200 || r.Allow || r.Protocol != ProtoAll {
		t.Errorf("acl ingress[2]: %+v", r)
	}
	if r := acl.Ingress[1]; r.PortRange != (PortRange{1024, 65535}) || !r.Allow {
		t.Errorf("acl ingress[1]: %+v", r)
	}
	// Instances: defaults, explicit and allocated addresses.
	var got []string
	for _, r := range top.Instances() {
		i := r.Instance
		got = append(got, r.VPC.Name+"/"+r.Subnet.Name+"/"+i.Name+"="+i.Addr.String()+","+i.Attach+","+strings.Join(i.SecurityGroups, "+"))
		if !i.CheckSourceDest() {
			t.Errorf("%s: source_dest_check should default to true", i.Name)
		}
	}
	want := []string{
		"prod/public/web1=10.1.1.10,veth,web",
		"prod/private/db1=10.1.2.4,veth,db",
		"shared/tools/ci1=10.2.1.4,veth,default",
	}
	if !slices.Equal(got, want) {
		t.Errorf("instances:\n got %v\nwant %v", got, want)
	}
	if ref, ok := top.Instance("web1"); !ok || ref.Instance.PublicAddr != netip.MustParseAddr("203.0.113.20") {
		t.Errorf("web1: %+v", ref)
	}
	if n := prod.NATGateway("nat1"); n.PublicAddr != netip.MustParseAddr("203.0.113.10") {
		t.Errorf("nat1: %+v", n)
	}
	if h := top.Host("internet"); h == nil || h.Addr != netip.MustParseAddr("203.0.113.100") || h.Run == "" {
		t.Errorf("host: %+v", h)
	}
	if p := top.PeeringBetween("shared", "prod"); p == nil || p.Name != "prod-shared" {
		t.Errorf("peering lookup: %+v", p)
	}
	if m := prod.Members("web"); len(m) != 1 || m[0].Name != "web1" {
		t.Errorf("members of web: %v", m)
	}
	// Positions.
	if s := prod.Subnet("private"); s.Pos.Path() != "vpcs[prod].subnets[private]" || s.Pos.Line() != 23 || s.Pos.KeyLine("route_table") != 25 {
		t.Errorf("private subnet pos: %q %d %d", s.Pos.Path(), s.Pos.Line(), s.Pos.KeyLine("route_table"))
	}
	if p := acl.Ingress[0].Pos; p.Path() != "vpcs[prod].network_acls[private-acl].ingress[100]" || p.Line() != 50 {
		t.Errorf("acl rule pos: %q %d", p.Path(), p.Line())
	}
}

// base is a valid file that cases extend; vpcsOnly is base without its version line.
const (
	vpcsOnly = `vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    subnets:
      - {name: a, cidr: 10.1.1.0/24}
`
	base = "version: 1\n" + vpcsOnly
)

// errorCase is an invalid snippet and the messages it must produce.
type errorCase struct {
	name, src string
	want      []string // each must be a substring of the error text
}

// errorCases has one invalid snippet per rule of SPEC §1 (and of loading).
func errorCases() []errorCase {
	return []errorCase{
		// Loading.
		{"empty", ``, []string{"t.yaml: the file is empty"}},
		{"comments only", "# nothing\n", []string{"the file is empty"}},
		{"null document", "---\n", []string{"the file is empty"}},
		{"not yaml", "version: 1\nvpcs: [\n  - x: : y\n", []string{"t.yaml:2: invalid YAML: did not find expected node content"}},
		{"tab indent", "version: 1\nvpcs:\n\t- name: x\n", []string{"t.yaml:3: invalid YAML"}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{"t.yaml:2: the file holds several YAML documents"}},
		{"top is a list", "- version: 1\n", []string{"t.yaml:1: the file must be a mapping"}},
		{"version missing", "vpcs: []\n", []string{"t.yaml:1: version: missing required field"}},
		{"version 2", "version: 2\n", []string{"t.yaml:1: version: unsupported version 2"}},
		{"version string", "version: \"1\"\n", []string{"t.yaml:1: version: expected an integer, got \"1\""}},
		{"version float", "version: 1.0\n", []string{"version: expected an integer, got the number 1.0"}},
		{"unknown top key", "version: 1\nvpc: []\n", []string{`t.yaml:2: vpc: unknown field "vpc" (did you mean "vpcs"?)`}},
		{"unknown nested key", "version: 1\nvpcs:\n  - name: prod\n    cidr: 10.1.0.0/16\n    subnets:\n      - name: a\n        cdir: 10.1.1.0/24\n",
			[]string{`t.yaml:7: vpcs[prod].subnets[a].cdir: unknown field "cdir" (did you mean "cidr"?)`, "t.yaml:6: vpcs[prod].subnets[a].cidr: missing required field"}},
		{"unknown key lists choices", "version: 1\nexternal: {cidr: 203.0.113.0/24, gateway: 203.0.113.1, zzzzzz: 1}\n",
			[]string{`external.zzzzzz: unknown field "zzzzzz" (expected one of: cidr, gateway, attach, hosts, host)`}},
		{"upper-case key", base + "    Name: x\n", []string{`vpcs[prod].Name: unknown field "Name" (did you mean "name"?)`}},
		{"cidr is a list", "version: 1\nvpcs:\n  - name: prod\n    cidr: [1, 2]\n", []string{"t.yaml:4: vpcs[prod].cidr: expected a string, got a list"}},
		{"subnets is a string", "version: 1\nvpcs:\n  - name: prod\n    cidr: 10.1.0.0/16\n    subnets: \"x\"\n", []string{`t.yaml:5: vpcs[prod].subnets: expected a list, got "x"`}},
		{"vpc is a string", "version: 1\nvpcs: [prod]\n", []string{`t.yaml:2: vpcs[0]: expected a mapping, got "prod"`}},
		{"bool is a string", base + "    internet_gateway: \"yes\"\n", []string{`vpcs[prod].internet_gateway: expected true or false, got "yes"`}},
		{"bool yes", base + "    internet_gateway: yes\n", []string{`vpcs[prod].internet_gateway: expected true or false`}},
		{"required missing", "version: 1\nvpcs:\n  - name: prod\n", []string{"t.yaml:3: vpcs[prod].cidr: missing required field \"cidr\""}},
		{"required null", "version: 1\nvpcs:\n  - name: prod\n    cidr:\n", []string{"vpcs[prod].cidr: missing required field"}},
		{"required empty", "version: 1\nvpcs:\n  - name: prod\n    cidr: \"\"\n", []string{"t.yaml:4: vpcs[prod].cidr: must not be empty"}},
		{"empty list item", base + "    instances:\n      -\n", []string{"t.yaml:8: vpcs[prod].instances[0]: empty list item"}},
		{"duplicate key", "version: 1\nversion: 1\n", []string{`t.yaml:2: version: duplicate key "version" (first at line 1)`}},
		{"merge key used", "version: 1\nvpcs:\n  - &v {name: prod, cidr: 10.1.0.0/16}\n  - <<: *v\n    name: dev\n", []string{"t.yaml:4: vpcs[dev].<<: YAML merge keys (<<) are not supported"}},

		// Names.
		{"bad vpc name", "version: 1\nvpcs:\n  - name: Prod\n    cidr: 10.1.0.0/16\n", []string{`t.yaml:3: vpcs[0].name: "Prod" is not a valid name`}},
		{"dotted name", "version: 1\nvpcs:\n  - name: a.b\n    cidr: 10.1.0.0/16\n", []string{`vpcs[0].name: "a.b" is not a valid name`}},
		{"long name", "version: 1\nvpcs:\n  - name: " + strings.Repeat("a", 32) + "\n    cidr: 10.1.0.0/16\n", []string{`vpcs[0].name: "aaaa`}},
		{"leading dash", "version: 1\nvpcs:\n  - name: -a\n    cidr: 10.1.0.0/16\n", []string{`vpcs[0].name: "-a" is not a valid name`}},
		{"duplicate vpc", base + "  - {name: prod, cidr: 10.2.0.0/16}\n", []string{`t.yaml:7: vpcs[prod].name: duplicate VPC name "prod" (first at line 3)`}},
		{"duplicate subnet", base + "      - {name: a, cidr: 10.1.2.0/24}\n", []string{`t.yaml:7: vpcs[prod].subnets[a].name: duplicate subnet name "a" (first at line 6)`}},
		{"duplicate group", base + "    security_groups:\n      - name: g\n      - name: g\n", []string{`t.yaml:9: vpcs[prod].security_groups[g].name: duplicate security group name "g"`}},
		{"duplicate instance across vpcs", base + "    instances: [{name: i, subnet: a}]\n  - name: dev\n    cidr: 10.2.0.0/16\n    subnets: [{name: a, cidr: 10.2.1.0/24}]\n    instances: [{name: i, subnet: a}]\n",
			[]string{`t.yaml:11: vpcs[dev].instances[i].name: name "i" is already used by vpcs[prod].instances[i] (line 7)`}},
		{"instance named like a host", base + "    instances: [{name: internet, subnet: a}]\nexternal:\n  cidr: 203.0.113.0/24\n  gateway: 203.0.113.1\n  hosts: [{name: internet, ip: 203.0.113.100}]\n",
			[]string{`t.yaml:11: external.hosts[internet].name: name "internet" is already used by vpcs[prod].instances[internet] (line 7)`}},
		{"bridge too long", "version: 1\nbridge: br-much-too-long-x\n", []string{`t.yaml:2: bridge: "br-much-too-long-x" is not a usable bridge name`}},
		{"bridge with dot", "version: 1\nbridge: br.vpc\n", []string{`bridge: "br.vpc" is not a usable bridge name`}},
		{"bridge upper", "version: 1\nbridge: BR\n", []string{`bridge: "BR" is not a usable bridge name`}},

		// Enumerations.
		{"datapath", "version: 1\ndatapath: dpdk\n", []string{`t.yaml:2: datapath: "dpdk" is not one of: auto, system, netdev`}},
		{"attach", base + "    instances: [{name: i, subnet: a, attach: tap}]\n", []string{`t.yaml:7: vpcs[prod].instances[i].attach: "tap" is not one of: veth, internal`}},
		{"external attach", "version: 1\nexternal: {cidr: 203.0.113.0/24, gateway: 203.0.113.1, attach: bridge}\n", []string{`external.attach: "bridge" is not one of: isolated, host`}},
		{"source_dest_check string", base + "    instances: [{name: i, subnet: a, source_dest_check: \"no\"}]\n", []string{`vpcs[prod].instances[i].source_dest_check: expected true or false, got "no"`}},

		// CIDRs and addresses.
		{"non-canonical", "version: 1\nvpcs:\n  - name: prod\n    cidr: 10.1.0.0/16\n    subnets:\n      - name: db\n        cidr: 10.1.0.1/16\n",
			[]string{"t.yaml:7: vpcs[prod].subnets[db].cidr: 10.1.0.1/16 is not a canonical CIDR (did you mean 10.1.0.0/16?)"}},
		{"ipv6 cidr", "version: 1\nvpcs:\n  - {name: prod, cidr: \"fd00::/64\"}\n", []string{`vpcs[prod].cidr: "fd00::/64" is not an IPv4 CIDR`}},
		{"garbage cidr", "version: 1\nvpcs:\n  - {name: prod, cidr: ten}\n", []string{`vpcs[prod].cidr: "ten" is not an IPv4 CIDR`}},
		{"loopback vpc", "version: 1\nvpcs:\n  - {name: prod, cidr: 127.0.0.0/16}\n", []string{"vpcs[prod].cidr: 127.0.0.0/16 overlaps 127.0.0.0/8, the loopback range"}},
		{"tiny vpc", "version: 1\nvpcs:\n  - {name: prod, cidr: 10.0.0.0/30}\n", []string{"vpcs[prod].cidr: 10.0.0.0/30 is too small"}},
		{"subnet outside", base + "      - {name: b, cidr: 10.2.0.0/24}\n", []string{"t.yaml:7: vpcs[prod].subnets[b].cidr: 10.2.0.0/24 is outside the VPC's cidr 10.1.0.0/16"}},
		{"subnet overlap", base + "      - {name: b, cidr: 10.1.0.0/23}\n", []string{"t.yaml:7: vpcs[prod].subnets[b].cidr: 10.1.0.0/23 overlaps subnet a (10.1.1.0/24)"}},
		{"subnet overlap reported on the later one", "version: 1\nvpcs:\n  - name: prod\n    cidr: 10.1.0.0/16\n    subnets:\n      - {name: a, cidr: 10.1.0.0/23}\n      - {name: b, cidr: 10.1.1.0/24}\n      - {name: c, cidr: 10.1.1.0/24}\n",
			[]string{"t.yaml:7: vpcs[prod].subnets[b].cidr: 10.1.1.0/24 overlaps subnet a", "t.yaml:8: vpcs[prod].subnets[c].cidr: 10.1.1.0/24 overlaps subnet"}},
		{"subnet too small", base + "      - {name: b, cidr: 10.1.2.0/30}\n", []string{"vpcs[prod].subnets[b].cidr: 10.1.2.0/30 leaves no address for instances"}},
		{"instance ip router", base + "    instances: [{name: i, subnet: a, ip: 10.1.1.1}]\n", []string{"t.yaml:7: vpcs[prod].instances[i].ip: 10.1.1.1 is reserved in subnet a (the VPC router)"}},
		{"instance ip network", base + "    instances: [{name: i, subnet: a, ip: 10.1.1.0}]\n", []string{"(the network address)"}},
		{"instance ip .3", base + "    instances: [{name: i, subnet: a, ip: 10.1.1.3}]\n", []string{"10.1.1.3 is reserved in subnet a (reserved, as in AWS)"}},
		{"instance ip broadcast", base + "    instances: [{name: i, subnet: a, ip: 10.1.1.255}]\n", []string{"(the broadcast address)"}},
		{"instance ip outside", base + "    instances: [{name: i, subnet: a, ip: 10.1.2.5}]\n", []string{"vpcs[prod].instances[i].ip: 10.1.2.5 is outside subnet a (10.1.1.0/24)"}},
		{"instance ip garbage", base + "    instances: [{name: i, subnet: a, ip: 10.1.1.300}]\n", []string{`vpcs[prod].instances[i].ip: "10.1.1.300" is not an IPv4 address`}},
		{"instance ip duplicate", base + "    instances:\n      - {name: i, subnet: a, ip: 10.1.1.9}\n      - {name: j, subnet: a, ip: 10.1.1.9}\n",
			[]string{"t.yaml:9: vpcs[prod].instances[j].ip: 10.1.1.9 is already the address of instance i (line 8)"}},
		{"instance unknown subnet", base + "    instances: [{name: i, subnet: b}]\n", []string{`vpcs[prod].instances[i].subnet: subnet "b" does not exist in vpc prod`}},
		{"instance unknown group", base + "    instances:\n      - name: i\n        subnet: a\n        security_groups: [default, web]\n",
			[]string{`t.yaml:10: vpcs[prod].instances[i].security_groups[1]: security group "web" does not exist in vpc prod`}},
		{"instance group of other vpc", base + "    instances: [{name: i, subnet: a, security_groups: [x/default]}]\n", []string{"security_groups[0]: \"x/default\": an instance's security groups belong to its own VPC"}},
		{"subnet unknown table", base + "      - {name: b, cidr: 10.1.2.0/24, route_table: rt}\n", []string{`t.yaml:7: vpcs[prod].subnets[b].route_table: route table "rt" does not exist in vpc prod`}},
		{"source is an address", base + "    security_groups:\n      - name: g\n        ingress: [{protocol: all, source: 10.0.0.1}]\n",
			[]string{"t.yaml:9: vpcs[prod].security_groups[g].ingress[0].source: 10.0.0.1 is an address, not a CIDR (did you mean 10.0.0.1/32?)"}},

		// Ports and protocols.
		{"port zero", sg("{protocol: tcp, ports: \"0\", source: 0.0.0.0/0}"), []string{`vpcs[prod].security_groups[g].ingress[0].ports: "0" is not a port or a range`}},
		{"port too big", sg("{protocol: tcp, ports: \"65536\", source: 0.0.0.0/0}"), []string{`ingress[0].ports: "65536" is not a port`}},
		{"port range open", sg("{protocol: udp, ports: \"80-\", source: 0.0.0.0/0}"), []string{`ingress[0].ports: "80-" is not a port`}},
		{"port range backwards", sg("{protocol: tcp, ports: \"90-80\", source: 0.0.0.0/0}"), []string{`ingress[0].ports: range "90-80" runs backwards`}},
		{"port name", sg("{protocol: tcp, ports: http, source: 0.0.0.0/0}"), []string{`"http" is not a port`}},
		{"port negative", sg("{protocol: tcp, ports: -1, source: 0.0.0.0/0}"), []string{`"-1" is not a port`}},
		{"ports with icmp", sg("{protocol: icmp, ports: \"80\", source: 0.0.0.0/0}"), []string{"t.yaml:10: vpcs[prod].security_groups[g].ingress[0].ports: ports apply to tcp and udp only, not icmp"}},
		{"ports with all", sg("{protocol: all, ports: 80, source: 0.0.0.0/0}"), []string{"ports apply to tcp and udp only, not all"}},
		{"protocol", sg("{protocol: TCP, source: 0.0.0.0/0}"), []string{`ingress[0].protocol: "TCP" is not one of: tcp, udp, icmp, all`}},
		{"protocol missing", sg("{source: 0.0.0.0/0}"), []string{`ingress[0].protocol: missing required field`}},

		// Security group peers.
		{"source and group", sg("{protocol: all, source: 0.0.0.0/0, source_group: g}"), []string{"ingress[0].source_group: a rule has exactly one of source and source_group"}},
		{"no source", sg("{protocol: all}"), []string{"t.yaml:10: vpcs[prod].security_groups[g].ingress[0]: missing source or source_group"}},
		{"ingress destination", sg("{protocol: all, source: 0.0.0.0/0, destination: 0.0.0.0/0}"), []string{"ingress[0].destination: destination is not valid in an ingress rule"}},
		{"egress source", base + "    security_groups:\n      - name: g\n        egress: [{protocol: all, source_group: g}]\n",
			[]string{"vpcs[prod].security_groups[g].egress[0].source_group: source_group is not valid in an egress rule", "egress[0]: missing destination or destination_group"}},
		{"unknown group", sg("{protocol: all, source_group: web}"), []string{`ingress[0].source_group: security group "web" does not exist in vpc prod`}},
		{"bad group ref", sg("{protocol: all, source_group: a/b/c}"), []string{`"a/b/c" is not a group reference`}},
		{"group of unknown vpc", sg("{protocol: all, source_group: x/default}"), []string{`ingress[0].source_group: vpc "x" does not exist`}},
		{"group of unpeered vpc", sg("{protocol: all, source_group: dev/default}") + "  - {name: dev, cidr: 10.2.0.0/16}\n",
			[]string{"ingress[0].source_group: vpc dev is not peered with vpc prod"}},
		{"group missing in peered vpc", sg("{protocol: all, source_group: dev/web}") + "  - {name: dev, cidr: 10.2.0.0/16}\npeerings: [{name: p, vpcs: [prod, dev]}]\n",
			[]string{`ingress[0].source_group: security group "web" does not exist in vpc dev`}},

		// Network ACLs.
		{"acl rule zero", acl("{rule: 0, protocol: all, source: 0.0.0.0/0, action: allow}"), []string{"t.yaml:11: vpcs[prod].network_acls[n].ingress[0].rule: rule number 0 is outside 1-32766"}},
		{"acl rule too big", acl("{rule: 32767, protocol: all, source: 0.0.0.0/0, action: allow}"), []string{"network_acls[n].ingress[32767].rule: rule number 32767 is outside 1-32766"}},
		{"acl rule duplicate", acl("{rule: 10, protocol: all, source: 0.0.0.0/0, action: allow}", "{rule: 10, protocol: tcp, source: 0.0.0.0/0, action: deny}"),
			[]string{"t.yaml:12: vpcs[prod].network_acls[n].ingress[10].rule: duplicate ingress rule number 10 (first at line 11)"}},
		{"acl rule not a number", acl("{rule: ten, protocol: all, source: 0.0.0.0/0, action: allow}"), []string{`network_acls[n].ingress[0].rule: expected an integer, got "ten"`}},
		{"acl action", acl("{rule: 1, protocol: all, source: 0.0.0.0/0, action: permit}"), []string{`network_acls[n].ingress[1].action: "permit" is not one of: allow, deny`}},
		{"acl action missing", acl("{rule: 1, protocol: all, source: 0.0.0.0/0}"), []string{`network_acls[n].ingress[1].action: missing required field`}},
		{"acl source group", acl("{rule: 1, protocol: all, source_group: default, action: allow}"), []string{`ingress[1].source_group: unknown field "source_group"`}},
		{"acl no source", acl("{rule: 1, protocol: all, action: allow}"), []string{"network_acls[n].ingress[1]: missing source"}},
		{"acl ingress destination", acl("{rule: 1, protocol: all, source: 0.0.0.0/0, destination: 0.0.0.0/0, action: allow}"), []string{"ingress[1].destination: destination is not valid in an ingress rule"}},
		{"acl ports with icmp", acl("{rule: 1, protocol: icmp, ports: \"1-2\", source: 0.0.0.0/0, action: allow}"), []string{"ingress[1].ports: ports apply to tcp and udp only"}},
		{"acl unknown subnet", base + "    network_acls:\n      - {name: n, subnets: [a, b]}\n", []string{`t.yaml:8: vpcs[prod].network_acls[n].subnets[1]: subnet "b" does not exist in vpc prod`}},
		{"subnet in two acls", base + "    network_acls:\n      - {name: n, subnets: [a]}\n      - {name: m, subnets: [a]}\n",
			[]string{"t.yaml:9: vpcs[prod].network_acls[m].subnets[0]: subnet a is already in network ACL n (line 8)"}},
		{"subnet twice in an acl", base + "    network_acls:\n      - {name: n, subnets: [a, a]}\n", []string{"network_acls[n].subnets[1]: subnet a is listed twice"}},

		// Routes.
		{"route destination", rt("{destination: 10.2.0.1/16, via: internet-gateway}"), []string{"t.yaml:11: vpcs[prod].route_tables[main].routes[0].destination: 10.2.0.1/16 is not a canonical CIDR (did you mean 10.2.0.0/16?)"}},
		{"route duplicate destination", rt("{destination: 0.0.0.0/0, via: internet-gateway}", "{destination: 0.0.0.0/0, via: internet-gateway}"),
			[]string{"t.yaml:12: vpcs[prod].route_tables[main].routes[1].destination: duplicate destination 0.0.0.0/0 in route table main (first at line 11)"}},
		{"route local", rt("{destination: 10.1.0.0/16, via: internet-gateway}"), []string{"routes[0].destination: 10.1.0.0/16 is the VPC's own cidr"}},
		{"route via igw without igw", strings.Replace(rt("{destination: 0.0.0.0/0, via: internet-gateway}"), "internet_gateway: true", "internet_gateway: false", 1),
			[]string{"routes[0].via: vpc prod has no internet gateway; set internet_gateway: true"}},
		{"route via unknown nat", rt("{destination: 0.0.0.0/0, via: nat-gateway/nat9}"), []string{`routes[0].via: NAT gateway "nat9" does not exist in vpc prod`}},
		{"route via unknown peering", rt("{destination: 10.2.0.0/16, via: peering/p}"), []string{`routes[0].via: peering "p" does not exist`}},
		{"route via foreign peering", rt("{destination: 10.2.0.0/16, via: peering/p}") + "  - {name: dev, cidr: 10.2.0.0/16}\n  - {name: qa, cidr: 10.3.0.0/16}\npeerings: [{name: p, vpcs: [dev, qa]}]\n",
			[]string{"routes[0].via: peering p does not connect vpc prod"}},
		{"route via unknown instance", rt("{destination: 10.9.0.0/16, via: instance/fw}"), []string{`routes[0].via: instance "fw" does not exist in vpc prod`}},
		{"route via other vpc's instance", rt("{destination: 10.9.0.0/16, via: instance/fw}") + "  - name: dev\n    cidr: 10.2.0.0/16\n    subnets: [{name: a, cidr: 10.2.1.0/24}]\n    instances: [{name: fw, subnet: a}]\n",
			[]string{`routes[0].via: instance "fw" does not exist in vpc prod`}},
		{"route via garbage", rt("{destination: 0.0.0.0/0, via: igw}"), []string{`routes[0].via: "igw" is not a route target`}},
		{"route missing via", rt("{destination: 0.0.0.0/0}"), []string{`routes[0].via: missing required field`}},

		// NAT gateways and public IPs.
		{"nat in private subnet", ext + vpcsOnly + "    nat_gateways: [{name: nat1, subnet: a, public_ip: 203.0.113.10}]\n",
			[]string{"t.yaml:10: vpcs[prod].nat_gateways[nat1].subnet: subnet a uses route table main, which does not send 0.0.0.0/0 to internet-gateway"}},
		{"nat unknown subnet", ext + vpcsOnly + "    nat_gateways: [{name: nat1, subnet: b, public_ip: 203.0.113.10}]\n", []string{`nat_gateways[nat1].subnet: subnet "b" does not exist in vpc prod`}},
		{"nat without public ip", ext + vpcsOnly + "    nat_gateways: [{name: nat1, subnet: a}]\n", []string{`nat_gateways[nat1].public_ip: missing required field`}},
		{"nat without external", rt("{destination: 0.0.0.0/0, via: internet-gateway}") + "    nat_gateways: [{name: nat1, subnet: a, public_ip: 203.0.113.10}]\n",
			[]string{"vpcs[prod].nat_gateways[nat1].public_ip: public IPs come from the external network, and the file has no external: section"}},
		{"eip without external", base + "    instances: [{name: i, subnet: a, public_ip: 203.0.113.10}]\n", []string{"instances[i].public_ip: public IPs come from the external network"}},
		{"public ip outside", public("203.0.114.10"), []string{"t.yaml:14: vpcs[prod].instances[i].public_ip: 203.0.114.10 is outside external.cidr 203.0.113.0/24"}},
		{"public ip gateway", public("203.0.113.1"), []string{"instances[i].public_ip: 203.0.113.1 is external.gateway"}},
		{"public ip network", public("203.0.113.0"), []string{"instances[i].public_ip: 203.0.113.0 is the network address of external.cidr"}},
		{"public ip host", public("203.0.113.100"), []string{"instances[i].public_ip: 203.0.113.100 is the address of external host internet"}},
		{"public ip duplicate", public("203.0.113.10"), []string{"t.yaml:14: vpcs[prod].instances[i].public_ip: 203.0.113.10 is already the public IP of NAT gateway nat1 (line 13)"}},

		// External.
		{"external gateway outside", "version: 1\nexternal: {cidr: 203.0.113.0/24, gateway: 198.51.100.1}\n", []string{"external.gateway: 198.51.100.1 is outside external.cidr 203.0.113.0/24"}},
		{"external gateway broadcast", "version: 1\nexternal: {cidr: 203.0.113.0/24, gateway: 203.0.113.255}\n", []string{"external.gateway: 203.0.113.255 is the broadcast address"}},
		{"external gateway missing", "version: 1\nexternal: {cidr: 203.0.113.0/24}\n", []string{"t.yaml:2: external.gateway: missing required field"}},
		{"external host outside", ext + "  hosts: [{name: h, ip: 10.0.0.1}]\n", []string{"t.yaml:5: external.hosts[h].ip: 10.0.0.1 is outside external.cidr"}},
		{"external host on gateway", ext + "  hosts: [{name: h, ip: 203.0.113.1}]\n", []string{"external.hosts[h].ip: 203.0.113.1 is external.gateway"}},
		{"external hosts same ip", ext + "  hosts:\n    - {name: h, ip: 203.0.113.9}\n    - {name: k, ip: 203.0.113.9}\n", []string{"t.yaml:7: external.hosts[k].ip: 203.0.113.9 is already the address of external host h (line 6)"}},
		{"external overlaps igw vpc", "version: 1\nexternal: {cidr: 10.1.0.0/24, gateway: 10.1.0.1}\nvpcs:\n  - {name: prod, cidr: 10.1.0.0/16, internet_gateway: true}\n",
			[]string{"t.yaml:4: vpcs[prod].cidr: 10.1.0.0/16 overlaps external.cidr 10.1.0.0/24"}},

		// Peerings.
		{"peering overlap", base + "  - {name: dev, cidr: 10.1.0.0/16}\npeerings:\n  - name: p\n    vpcs: [prod, dev]\n",
			[]string{"t.yaml:10: peerings[p].vpcs: vpcs prod (10.1.0.0/16) and dev (10.1.0.0/16) overlap; peered VPCs must not"}},
		{"peering one vpc", base + "peerings: [{name: p, vpcs: [prod]}]\n", []string{"peerings[p].vpcs: a peering connects exactly two VPCs, not 1"}},
		{"peering empty", base + "peerings: [{name: p, vpcs: []}]\n", []string{"peerings[p].vpcs: must not be empty"}},
		{"peering missing vpcs", base + "peerings: [{name: p}]\n", []string{"peerings[p].vpcs: missing required field"}},
		{"peering unknown vpc", base + "peerings: [{name: p, vpcs: [prod, dev]}]\n", []string{`t.yaml:7: peerings[p].vpcs[1]: vpc "dev" does not exist`}},
		{"peering self", base + "peerings: [{name: p, vpcs: [prod, prod]}]\n", []string{"peerings[p].vpcs: a VPC cannot peer with itself"}},
		{"peering twice", base + "  - {name: dev, cidr: 10.2.0.0/16}\npeerings:\n  - {name: p, vpcs: [prod, dev]}\n  - {name: q, vpcs: [dev, prod]}\n",
			[]string{"t.yaml:10: peerings[q].vpcs: vpcs dev and prod are already peered by p (line 9)"}},
		{"peering duplicate name", base + "  - {name: dev, cidr: 10.2.0.0/16}\n  - {name: qa, cidr: 10.3.0.0/16}\npeerings:\n  - {name: p, vpcs: [prod, dev]}\n  - {name: p, vpcs: [qa, prod]}\n",
			[]string{`t.yaml:11: peerings[p].name: duplicate peering name "p" (first at line 10)`}},
	}
}

func TestErrors(t *testing.T) {
	for _, c := range errorCases() {
		t.Run(c.name, func(t *testing.T) {
			top, _, err := parse(t, c.src)
			if testing.Verbose() {
				t.Logf("\n%v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if top != nil {
				t.Error("an invalid file returned a topology")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

// sg is base with one security group g holding one ingress rule (line 10).
func sg(rule string) string {
	return base + "    security_groups:\n      - name: g\n        ingress:\n          - " + rule + "\n"
}

// acl is base with network ACL n holding ingress rules from line 11.
func acl(rules ...string) string {
	s := base + "    network_acls:\n      - name: n\n        subnets: [a]\n        ingress:\n"
	for _, r := range rules {
		s += "          - " + r + "\n"
	}
	return s
}

// rt is base, with an internet gateway, and a main table with routes from line 11.
func rt(routes ...string) string {
	s := base + "    internet_gateway: true\n    route_tables:\n      - name: main\n        routes:\n"
	for _, r := range routes {
		s += "          - " + r + "\n"
	}
	return s
}

// ext is an external network (lines 1-4 with the version); vpcsOnly
// follows it with base's VPC (lines 5-9).
const ext = "version: 1\nexternal:\n  cidr: 203.0.113.0/24\n  gateway: 203.0.113.1\n"

// public is a file with NAT gateway nat1 at 203.0.113.10 (line 13) and
// instance i with the given public IP (line 14).
func public(ip string) string {
	return ext + `  hosts: [{name: internet, ip: 203.0.113.100}]
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    internet_gateway: true
    subnets: [{name: a, cidr: 10.1.1.0/24}]
    route_tables:
      - {name: main, routes: [{destination: 0.0.0.0/0, via: internet-gateway}]}
    nat_gateways: [{name: nat1, subnet: a, public_ip: 203.0.113.10}]
    instances: [{name: i, subnet: a, public_ip: ` + ip + "}]\n"
}

// validCases are snippets that must load.
func validCases() []struct{ name, src string } {
	return []struct{ name, src string }{
		{"minimal", "version: 1\n"},
		{"base", base},
		{"ports as a number", sg("{protocol: tcp, ports: 80, source: 0.0.0.0/0}")},
		{"same names in two vpcs", base + "  - name: dev\n    cidr: 10.1.0.0/16\n    subnets: [{name: a, cidr: 10.1.1.0/24}]\n"},
		{"same rule number in both directions", acl("{rule: 10, protocol: all, source: 0.0.0.0/0, action: allow}") + "        egress: [{rule: 10, protocol: all, destination: 0.0.0.0/0, action: deny}]\n"},
		{"group of a peered vpc", sg("{protocol: all, source_group: dev/default}") + "  - {name: dev, cidr: 10.2.0.0/16}\npeerings: [{name: p, vpcs: [prod, dev]}]\n"},
		{"own vpc qualified group", sg("{protocol: all, source_group: prod/g}")},
		{"numeric name", "version: 1\nvpcs:\n  - {name: 42, cidr: 10.1.0.0/16}\n"},
		{"route inside the vpc via an appliance", base + "    route_tables: [{name: main, routes: [{destination: 10.1.2.0/24, via: instance/fw}]}]\n    instances: [{name: fw, subnet: a, source_dest_check: false}]\n"},
		{"aliases", "version: 1\nx: 1\n"[:11] + "vpcs:\n  - name: prod\n    cidr: 10.1.0.0/16\n    security_groups:\n      - {name: a, ingress: &r [{protocol: all, source: 10.0.0.0/8}]}\n      - {name: b, ingress: *r}\n"},
		{"explicit empty egress", base + "    security_groups: [{name: g, egress: []}]\n"},
		{"declared default group", base + "    security_groups: [{name: default}]\n    instances: [{name: i, subnet: a}]\n"},
		{"null optional sections", "version: 1\nexternal:\nvpcs:\npeerings:\n"},
	}
}

func TestValid(t *testing.T) {
	for _, c := range validCases() {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := parse(t, c.src); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLenientPorts(t *testing.T) {
	a, _, err := parse(t, sg("{protocol: tcp, ports: 80, source: 0.0.0.0/0}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := parse(t, sg(`{protocol: tcp, ports: "80", source: 0.0.0.0/0}`))
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := a.VPCs[0].SecurityGroup("g").Ingress[0], b.VPCs[0].SecurityGroup("g").Ingress[0]
	if ra.Ports != "80" || ra.PortRange != rb.PortRange || ra.PortRange != (PortRange{80, 80}) {
		t.Errorf("ports: 80 gave %q %+v; \"80\" gave %+v", ra.Ports, ra.PortRange, rb.PortRange)
	}
}

func TestScalarsAsWritten(t *testing.T) {
	// viper's weak typing would read 0x1f as 31; the file says 0x1f.
	_, _, err := parse(t, "version: 1\nvpcs:\n  - {name: 0x1f, cidr: 10.1.0.0/16}\n")
	if err != nil {
		t.Fatal(err)
	}
	top, _, _ := parse(t, "version: 1\nvpcs:\n  - {name: 0x1f, cidr: 10.1.0.0/16}\n")
	if top.VPCs[0].Name != "0x1f" {
		t.Errorf("name %q", top.VPCs[0].Name)
	}
	// A comma string is not a list (viper's default hook would split it).
	_, _, err = parse(t, base+"    instances: [{name: i, subnet: a, security_groups: \"default,default\"}]\n")
	if err == nil || !strings.Contains(err.Error(), "security_groups: expected a list") {
		t.Errorf("comma string: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		name, src string
		want      string
	}{
		{"unreachable elastic ip", ext + vpcsOnly + "    instances: [{name: i, subnet: a, public_ip: 203.0.113.20}]\n",
			"t.yaml:10: vpcs[prod].instances[i].public_ip: subnet a uses route table main, which does not send 0.0.0.0/0 to internet-gateway: this elastic IP is unreachable"},
		{"peering routed on one side", rt("{destination: 10.2.0.0/16, via: peering/p}") + "  - {name: dev, cidr: 10.2.0.0/16}\npeerings:\n  - {name: p, vpcs: [prod, dev]}\n",
			"t.yaml:14: peerings[p]: no route in vpc dev uses peering/p: traffic over a peering needs routes on both sides"},
		{"peering not routed", base + "  - {name: dev, cidr: 10.2.0.0/16}\npeerings: [{name: p, vpcs: [prod, dev]}]\n",
			"peerings[p]: no route in vpc prod or vpc dev uses peering/p"},
		{"appliance with source_dest_check", base + "    route_tables: [{name: main, routes: [{destination: 10.9.0.0/16, via: instance/fw}]}]\n    instances: [{name: fw, subnet: a}]\n",
			"t.yaml:7: vpcs[prod].route_tables[main].routes[0].via: instance fw has source_dest_check on"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top, warns, err := parse(t, c.src)
			if err != nil || top == nil {
				t.Fatalf("a warning is not an error: %v", err)
			}
			var all []string
			for _, w := range warns {
				all = append(all, w.String())
			}
			if !slices.ContainsFunc(all, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("missing warning %q in %q", c.want, all)
			}
		})
	}
}

func TestAllErrorsSortedByLine(t *testing.T) {
	src := `version: 1
datapath: fast
vpcs:
  - name: prod
    cidr: 10.1.0.1/16
    subnets:
      - {name: a, cidr: 10.1.1.0/24, colour: red}
      - {name: B, cidr: 10.1.2.0/24}
peerings: [{name: p, vpcs: [prod, nope]}]
`
	_, _, err := parse(t, src)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []int{2, 5, 7, 8, 9}
	var got []int
	for _, e := range errs {
		got = append(got, e.Line)
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v:\n%v", got, want, err)
	}
	if !errors.As(err, &Errors{}) {
		t.Error("errors.As(err, &Errors{}) fails")
	}
}

func TestAllocation(t *testing.T) {
	src := `version: 1
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    subnets:
      - {name: a, cidr: 10.1.1.0/29}
      - {name: b, cidr: 10.1.2.0/24}
    instances:
      - {name: i1, subnet: a}
      - {name: i2, subnet: b}
      - {name: i3, subnet: a, ip: 10.1.1.4}
      - {name: i4, subnet: a}
      - {name: i5, subnet: b}
  - name: dev
    cidr: 10.1.0.0/16
    subnets: [{name: a, cidr: 10.1.1.0/24}]
    instances: [{name: d1, subnet: a}]
`
	top, _, err := parse(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"i1": "10.1.1.5", "i2": "10.1.2.4", "i3": "10.1.1.4", "i4": "10.1.1.6", "i5": "10.1.2.5", "d1": "10.1.1.4"}
	for _, r := range top.Instances() {
		if got := r.Instance.Addr.String(); got != want[r.Instance.Name] {
			t.Errorf("%s: %s, want %s", r.Instance.Name, got, want[r.Instance.Name])
		}
	}
	// Deterministic: the same file gives the same addresses.
	again, _, _ := parse(t, src)
	for k, r := range again.Instances() {
		if r.Instance.Addr != top.Instances()[k].Instance.Addr {
			t.Errorf("%s moved", r.Instance.Name)
		}
	}
	// Stable: appending an instance moves nobody.
	more, _, err := parse(t, strings.Replace(src, "      - {name: i5, subnet: b}\n", "      - {name: i5, subnet: b}\n      - {name: i6, subnet: b}\n", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range top.Instances() {
		if m, _ := more.Instance(r.Instance.Name); m.Instance.Addr != r.Instance.Addr {
			t.Errorf("%s moved to %v", r.Instance.Name, m.Instance.Addr)
		}
	}
	// A /29 has .4-.6: a fourth instance does not fit.
	_, _, err = parse(t, strings.Replace(src, "      - {name: i5, subnet: b}\n", "      - {name: i5, subnet: a}\n", 1))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:13: vpcs[prod].instances[i5].subnet: subnet a (10.1.1.0/29) has no free address left") {
		t.Errorf("full subnet: %v", err)
	}
}

func TestRouterIP(t *testing.T) {
	if got := RouterIP(netip.MustParsePrefix("10.1.2.0/24")); got != netip.MustParseAddr("10.1.2.1") {
		t.Errorf("RouterIP %v", got)
	}
	if got := Broadcast(netip.MustParsePrefix("10.1.2.0/23")); got != netip.MustParseAddr("10.1.3.255") {
		t.Errorf("Broadcast %v", got)
	}
}

func TestLoad(t *testing.T) {
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || errors.As(err, &Errors{}) {
		t.Errorf("missing file: %v (must not be Errors: it is not invalid input)", err)
	}
	p := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(p, []byte("version: 1\nvpcs:\n  - {name: prod, cidr: 10.1.0.1/16}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":3: vpcs[prod].cidr: 10.1.0.1/16 is not a canonical CIDR (did you mean 10.1.0.0/16?)") {
		t.Errorf("Load: %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	// 300 VPCs of 300 groups of 300 rules: 27 million rules from 10 kB.
	var b strings.Builder
	b.WriteString("version: 1\nvpcs:\n  - &v\n    name: prod\n    cidr: 10.1.0.0/16\n    security_groups:\n" +
		"      - &g\n        name: g\n        ingress:\n          - &r {protocol: all, source: 0.0.0.0/0}\n")
	b.WriteString(strings.Repeat("          - *r\n", 299) + strings.Repeat("      - *g\n", 299) + strings.Repeat("  - *v\n", 299))
	start := time.Now()
	_, _, err := parse(t, b.String())
	if err == nil || !strings.Contains(err.Error(), "too many YAML nodes") {
		t.Fatalf("alias bomb: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("alias bomb took %v", d)
	}
	// Moderate reuse of anchors is fine, and repeated problems are reported once.
	_, _, err = parse(t, "version: 1\nvpcs:\n  - &v {name: prod, cidr: 10.1.0.0/16}\n  - *v\n  - *v\n")
	if err == nil || strings.Count(err.Error(), "duplicate VPC name") != 1 {
		t.Errorf("aliased duplicates: %v", err)
	}
}

package reach

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
)

func lab(t *testing.T, name string) *Model {
	t.Helper()
	topo, _, err := config.Load("../../labs/" + name + "/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return New(topo)
}

type reachCase struct {
	from, to string // endpoint, and an IP or endpoint
	proto    string
	port     uint16
	want     bool
	decider  string // substring of the deciding step's object
}

func check(t *testing.T, m *Model, cases []reachCase) {
	t.Helper()
	for _, c := range cases {
		from, ok := m.Endpoint(c.from)
		if !ok {
			t.Fatalf("no endpoint %s", c.from)
		}
		dst, err := netip.ParseAddr(c.to)
		if err != nil {
			e, ok := m.Endpoint(c.to)
			if !ok {
				t.Fatalf("no endpoint %s", c.to)
			}
			dst = e.IP()
			if from.Kind == "host" && e.Instance != nil && e.Instance.PublicAddr.IsValid() {
				dst = e.Instance.PublicAddr
			}
		}
		p := Packet{Proto: c.proto, Src: from.IP(), Dst: dst, SrcPort: 40000, DstPort: c.port}
		conn := m.Connect(from, p)
		d := conn.Decider()
		if conn.Reachable() != c.want || !strings.Contains(d.Object, c.decider) {
			var steps []string
			for _, s := range conn.Request.Steps {
				steps = append(steps, "  "+s.String())
			}
			if conn.Reply != nil {
				steps = append(steps, " reply:")
				for _, s := range conn.Reply.Steps {
					steps = append(steps, "  "+s.String())
				}
			}
			t.Errorf("%s -> %s %s/%d: reachable=%v decided by %q; want %v by %q\n%s",
				c.from, c.to, c.proto, c.port, conn.Reachable(), d.Object, c.want, c.decider, strings.Join(steps, "\n"))
		}
	}
}

func TestLab02Security(t *testing.T) {
	check(t, lab(t, "02-security"), []reachCase{
		{"client", "web1", "tcp", 8080, true, "instances[web1]"},
		{"client", "web1", "icmp", 0, true, "instances[web1]"},
		{"client", "web1", "tcp", 22, false, "instances[web1].security_groups"},
		{"web1", "db1", "tcp", 5432, true, "instances[db1]"},
		{"client", "db1", "tcp", 5432, false, "instances[db1].security_groups"},
		{"web1", "db1", "tcp", 22, false, "network_acls[private-acl]"},
		{"web1", "10.0.2.99", "tcp", 80, false, "local-route"},
		{"db1", "10.0.2.1", "icmp", 0, true, "subnets[private]"},
		{"web1", "8.8.8.8", "icmp", 0, false, "route_tables[main]"},
	})
}

func TestLab03Internet(t *testing.T) {
	check(t, lab(t, "03-internet"), []reachCase{
		{"app1", "internet", "tcp", 8080, true, "hosts[internet]"},
		{"web1", "internet", "tcp", 8080, true, "hosts[internet]"},
		{"internet", "web1", "tcp", 8080, true, "instances[web1]"},
		{"internet", "203.0.113.10", "tcp", 8080, false, "nat_gateways[nat1]"},
		{"internet", "app1", "tcp", 8080, false, "external"},
		{"internet", "203.0.113.1", "icmp", 0, true, "gateway"},
		{"app1", "203.0.113.20", "tcp", 8080, true, "instances[web1]"}, // hairpin through nat1 and web1's elastic IP
		{"web1", "203.0.113.20", "tcp", 8080, true, "instances[web1]"}, // its own elastic IP
		{"internet", "web1", "tcp", 22, false, "instances[web1].security_groups"},
	})
}

func TestLab04Peering(t *testing.T) {
	check(t, lab(t, "04-peering"), []reachCase{
		{"dev1", "registry", "tcp", 8080, true, "instances[registry]"},
		{"dev2", "registry", "tcp", 8080, false, "instances[registry].security_groups"}, // not in dev/app
		{"prod1", "registry", "tcp", 8080, true, "instances[registry]"},
		{"dev1", "prod1", "tcp", 8080, false, "route_tables[main]"}, // not transitive: no route
		{"registry", "dev1", "tcp", 8080, true, "instances[dev1]"},
		{"registry", "dev2", "tcp", 8080, false, "instances[dev2].security_groups"}, // default group: members only
		{"dev1", "10.20.1.99", "icmp", 0, false, "routes[0]"},
	})
}

// A route on one side only: the request gets there, the reply has no route back.
func TestPeeringOneSidedRoute(t *testing.T) {
	doc := `version: 1
vpcs:
  - name: a
    cidr: 10.1.0.0/16
    subnets: [{name: s, cidr: 10.1.1.0/24}]
    route_tables: [{name: main, routes: [{destination: 10.2.0.0/16, via: peering/ab}]}]
    security_groups: [{name: default, ingress: [{protocol: all, source: 0.0.0.0/0}]}]
    instances: [{name: a1, subnet: s}]
  - name: b
    cidr: 10.2.0.0/16
    subnets: [{name: s, cidr: 10.2.1.0/24}]
    security_groups: [{name: default, ingress: [{protocol: all, source: 0.0.0.0/0}]}]
    instances: [{name: b1, subnet: s}]
peerings: [{name: ab, vpcs: [a, b]}]
`
	topo, _, err := config.Parse([]byte(doc), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := New(topo)
	check(t, m, []reachCase{{"a1", "b1", "tcp", 80, false, "vpcs[b].route_tables[main]"}})
	from, _ := m.Endpoint("a1")
	b1, _ := m.Endpoint("b1")
	c := m.Connect(from, Packet{Proto: "tcp", Src: from.IP(), Dst: b1.IP(), SrcPort: 1, DstPort: 80})
	if !c.Request.Accepted || c.Reply == nil || c.Reply.Accepted {
		t.Errorf("want the request delivered and the reply dropped: %+v", c)
	}
}

package controller

import (
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
)

// compileYAML compiles a topology given as YAML, with the port numbers a
// fresh bridge would get, and returns its flows as text keyed by owner.
func compileYAML(t *testing.T, doc string) map[string][]string {
	t.Helper()
	topo, _, err := config.Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := compileFresh(t, topo)
	byOwner := map[string][]string{}
	for _, f := range set.Flows {
		byOwner[f.Owner] = append(byOwner[f.Owner], f.String())
	}
	return byOwner
}

// Removing one NAT gateway (and its route) must not rewrite another's flows:
// their RegGateway values are hashed from names, not list positions.
func TestNATGatewayIDsStable(t *testing.T) {
	const doc = `
version: 1
bridge: br-t
external: {cidr: 203.0.113.0/24, gateway: 203.0.113.1}
vpcs:
  - name: v
    cidr: 10.0.0.0/16
    internet_gateway: true
    subnets:
      - {name: pub, cidr: 10.0.1.0/24, route_table: rt-pub}
      - {name: a, cidr: 10.0.2.0/24, route_table: rt-a}
      - {name: b, cidr: 10.0.3.0/24, route_table: rt-b}
    route_tables:
      - {name: rt-pub, routes: [{destination: 0.0.0.0/0, via: internet-gateway}]}
      - {name: rt-a, routes: [{destination: 0.0.0.0/0, via: nat-gateway/nat-a}]}
      - {name: rt-b, routes: [{destination: 0.0.0.0/0, via: nat-gateway/nat-b}]}
    nat_gateways:
      - {name: nat-a, subnet: pub, public_ip: 203.0.113.10}
      - {name: nat-b, subnet: pub, public_ip: 203.0.113.11}
    instances:
      - {name: i1, subnet: b}
`
	before := compileYAML(t, doc)
	after := compileYAML(t, strings.NewReplacer(
		"      - {name: nat-a, subnet: pub, public_ip: 203.0.113.10}\n", "",
		"nat-gateway/nat-a", "internet-gateway").Replace(doc))
	checked := 0
	for owner, fs := range before {
		if !strings.Contains(owner, "nat-b") && !strings.Contains(owner, "rt-b") {
			continue
		}
		checked++
		if strings.Join(fs, "\n") != strings.Join(after[owner], "\n") {
			t.Errorf("flows of %s changed when nat-a was removed:\n%s\n->\n%s", owner,
				strings.Join(fs, "\n"), strings.Join(after[owner], "\n"))
		}
	}
	if checked < 2 {
		t.Fatalf("found flows of %d owners for nat-b and rt-b, want both; owners: %v", checked, keys(before))
	}
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

package controller

import (
	"testing"

	"github.com/vpcctl/vpcctl/config"
)

func cookieSet(t *testing.T, doc string) map[uint64]string {
	t.Helper()
	topo, _, err := config.Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]string{}
	for _, f := range compileFresh(t, topo).Flows {
		out[f.Cookie] = f.String()
	}
	return out
}

// Subnet ids come from names: reordering subnets changes no flow, and adding
// one in front changes none of the others' flows (it only adds its own).
func TestSubnetIDsStable(t *testing.T) {
	const head = "version: 1\nbridge: br-t\nvpcs:\n  - name: v\n    cidr: 10.0.0.0/16\n    subnets:\n"
	const a = "      - {name: a, cidr: 10.0.1.0/24}\n"
	const b = "      - {name: b, cidr: 10.0.2.0/24}\n"
	const z = "      - {name: z, cidr: 10.0.9.0/24}\n"
	const tail = `    network_acls:
      - name: acl
        subnets: [b]
        ingress: [{rule: 100, protocol: all, source: 0.0.0.0/0, action: allow}]
        egress: [{rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}]
    instances:
      - {name: i1, subnet: a}
      - {name: i2, subnet: b}
`
	base := cookieSet(t, head+a+b+tail)
	reordered := cookieSet(t, head+b+a+tail)
	if len(base) != len(reordered) {
		t.Fatalf("reordering subnets: %d flows, then %d", len(base), len(reordered))
	}
	for c, f := range base {
		if _, ok := reordered[c]; !ok {
			t.Errorf("reordering subnets changed flow %s", f)
		}
	}
	inserted := cookieSet(t, head+z+a+b+tail)
	for c, f := range base {
		if _, ok := inserted[c]; !ok {
			t.Errorf("adding subnet z in front changed flow %s", f)
		}
	}
	if len(inserted) <= len(base) {
		t.Errorf("adding a subnet added no flow")
	}
}

package config

import (
	"net/netip"
	"testing"
)

const reallocBase = `version: 1
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    subnets:
      - {name: a, cidr: 10.1.1.0/24}
      - {name: b, cidr: 10.1.2.0/24}
    instances:
`

func addrs(t *testing.T, src string, prior map[string]netip.Addr) map[string]string {
	t.Helper()
	topo, _, err := parse(t, reallocBase+src)
	if err != nil {
		t.Fatal(err)
	}
	if prior != nil {
		Reallocate(topo, func(vpc, inst, subnet string) (netip.Addr, bool) {
			a, ok := prior[vpc+"/"+inst+"/"+subnet]
			return a, ok
		})
	}
	out := map[string]string{}
	for _, v := range topo.VPCs {
		for _, i := range v.Instances {
			out[i.Name] = i.Addr.String()
		}
	}
	return out
}

func record(t *testing.T, src string) map[string]netip.Addr {
	t.Helper()
	topo, _, err := parse(t, reallocBase+src)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]netip.Addr{}
	for _, v := range topo.VPCs {
		for _, i := range v.Instances {
			m[v.Name+"/"+i.Name+"/"+i.Subnet] = i.Addr
		}
	}
	return m
}

// An instance keeps its allocated address whatever happens to the others;
// only what names it (its subnet, an explicit ip claiming its address) moves it.
func TestReallocateKeepsAddresses(t *testing.T) {
	first := "      - {name: web1, subnet: a}\n      - {name: db1, subnet: a}\n      - {name: app1, subnet: b}\n"
	prior := record(t, first)
	if got := addrs(t, first, prior); got["db1"] != "10.1.1.5" || got["web1"] != "10.1.1.4" {
		t.Fatalf("first allocation: %v", got)
	}
	cases := []struct {
		name, src string
		want      map[string]string
	}{
		{"insert before", "      - {name: new1, subnet: a}\n" + first,
			map[string]string{"new1": "10.1.1.6", "web1": "10.1.1.4", "db1": "10.1.1.5", "app1": "10.1.2.4"}},
		{"remove the first", "      - {name: db1, subnet: a}\n      - {name: app1, subnet: b}\n",
			map[string]string{"db1": "10.1.1.5", "app1": "10.1.2.4"}},
		{"reorder", "      - {name: app1, subnet: b}\n      - {name: db1, subnet: a}\n      - {name: web1, subnet: a}\n",
			map[string]string{"web1": "10.1.1.4", "db1": "10.1.1.5", "app1": "10.1.2.4"}},
		{"remove one, add one: the freed address is reused", "      - {name: db1, subnet: a}\n      - {name: new1, subnet: a}\n",
			map[string]string{"db1": "10.1.1.5", "new1": "10.1.1.4"}},
		{"moved to another subnet", "      - {name: web1, subnet: b}\n      - {name: db1, subnet: a}\n      - {name: app1, subnet: b}\n",
			map[string]string{"web1": "10.1.2.5", "db1": "10.1.1.5", "app1": "10.1.2.4"}},
		{"an explicit ip claims it", "      - {name: web1, subnet: a}\n      - {name: db1, subnet: a}\n      - {name: x, subnet: a, ip: 10.1.1.5}\n",
			map[string]string{"web1": "10.1.1.4", "db1": "10.1.1.6", "x": "10.1.1.5"}},
	}
	for _, c := range cases {
		got := addrs(t, c.src, prior)
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %s, want %s (all: %v)", c.name, k, got[k], v, got)
			}
		}
	}
	// A recorded address that is no longer usable (reserved, outside) is not kept.
	bad := map[string]netip.Addr{"prod/web1/a": netip.MustParseAddr("10.1.1.2"), "prod/db1/a": netip.MustParseAddr("10.1.9.9")}
	if got := addrs(t, first, bad); got["web1"] != "10.1.1.4" || got["db1"] != "10.1.1.5" {
		t.Errorf("unusable records: %v", got)
	}
}

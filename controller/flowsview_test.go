package controller

import (
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
)

// `vpcctl flows --instance` shows what decides for the instance: its own
// flows, its groups' rules, its subnet's NACL; not other groups' or subnets'.
func TestFlowsInstanceFilter(t *testing.T) {
	topo, _, err := config.Load("../labs/02-security/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := compileFresh(t, topo)
	shown := func(inst string) map[string]bool {
		f := FlowFilter{Instance: inst}
		owners := instanceOwners(topo, f)
		got := map[string]bool{}
		for _, fl := range set.Flows {
			if fl.Owner != "" && matchesFilter(fl.Owner, f, owners) {
				for _, o := range strings.Split(fl.Owner, ", ") {
					got[o] = true
				}
			}
		}
		return got
	}
	has := func(got map[string]bool, prefix string) bool {
		for o := range got {
			if strings.HasPrefix(o, prefix) {
				return true
			}
		}
		return false
	}
	web1, db1 := shown("web1"), shown("db1")
	for _, c := range []struct {
		got    map[string]bool
		prefix string
		want   bool
	}{
		{web1, "vpcs[shop].instances[web1]", true},
		{web1, "vpcs[shop].security_groups[web].ingress[", true},
		{web1, "vpcs[shop].security_groups[db].", false},
		{web1, "vpcs[shop].network_acls[private-acl]", false},
		{web1, "vpcs[shop].instances[db1]", false},
		{db1, "vpcs[shop].instances[db1]", true},
		{db1, "vpcs[shop].security_groups[db].ingress[", true},
		{db1, "vpcs[shop].network_acls[private-acl].egress[", true},
		{db1, "vpcs[shop].security_groups[web].", false},
	} {
		if has(c.got, c.prefix) != c.want {
			t.Errorf("flows --instance: shows %s* = %v, want %v (owners shown: %v)", c.prefix, !c.want, c.want, c.got)
		}
	}
}

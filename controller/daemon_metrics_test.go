package controller

import (
	"slices"
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/metrics"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
)

// TestRuleCookies: on lab 02, the flows that count for a rule are each
// security group rule's deciding flow (its conj_id flow, or the one flow of
// a one-field rule) and each network ACL rule's flows (one per port block);
// clause flows, the ACL's subnet-wide flows and everything else count for
// no rule.
func TestRuleCookies(t *testing.T) {
	topo, _, err := config.Load("../labs/02-security/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := compileFresh(t, topo)
	byRule := map[string][]*flows.Flow{}
	for cookie, rs := range ruleCookies(set) {
		for _, r := range rs {
			if r.VPC != "shop" {
				t.Errorf("%s: vpc %q", r.Path, r.VPC)
			}
			byRule[r.Kind+" "+r.Path] = append(byRule[r.Kind+" "+r.Path], set.Lookup(cookie))
		}
	}
	var got []string
	for k, fs := range byRule {
		got = append(got, k)
		for _, f := range fs {
			text := f.String()
			switch {
			case strings.HasPrefix(k, metrics.KindNetworkACL):
				if !strings.Contains(text, "NACL") || f.Owner != strings.Fields(k)[1] {
					t.Errorf("%s counts %s (%s)", k, text, f.Owner)
				}
			case strings.Contains(text, "conjunction("):
				t.Errorf("%s counts a clause flow: %s", k, text)
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"network_acl vpcs[shop].network_acls[private-acl].egress[100]",
		"network_acl vpcs[shop].network_acls[private-acl].ingress[100]",
		"security_group vpcs[shop].security_groups[db].egress[0]",
		"security_group vpcs[shop].security_groups[db].ingress[0]",
		"security_group vpcs[shop].security_groups[default].egress[0]",
		"security_group vpcs[shop].security_groups[default].ingress[0]",
		"security_group vpcs[shop].security_groups[web].egress[0]",
		"security_group vpcs[shop].security_groups[web].ingress[0]",
		"security_group vpcs[shop].security_groups[web].ingress[1]",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rules with counters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// egress[100] allows 1024-65535: six prefix-aligned port blocks, six flows.
	if n := len(byRule["network_acl vpcs[shop].network_acls[private-acl].egress[100]"]); n != 6 {
		t.Errorf("private-acl egress[100] has %d flows, want 6", n)
	}
	for k, fs := range byRule {
		if strings.HasPrefix(k, metrics.KindSecurityGroup) && len(fs) != 1 {
			t.Errorf("%s has %d deciding flows, want 1", k, len(fs))
		}
	}
}

// TestFlowRulesShared: a flow owned by two identical rules counts for both.
func TestFlowRulesShared(t *testing.T) {
	f := &flows.Flow{Table: flows.TIngressSG, Category: flows.CatSecurityGroup, Goto: flows.TCtCommit,
		Owner: "vpcs[a].security_groups[g].ingress[0], vpcs[a].security_groups[g].ingress[3]"}
	got := flowRules(f)
	want := []metrics.Rule{
		{VPC: "a", Kind: metrics.KindSecurityGroup, Path: "vpcs[a].security_groups[g].ingress[0]"},
		{VPC: "a", Kind: metrics.KindSecurityGroup, Path: "vpcs[a].security_groups[g].ingress[3]"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("flowRules = %v, want %v", got, want)
	}
	// A subnet-wide NACL flow is no rule's.
	f = &flows.Flow{Table: flows.TIngressNACL, Category: flows.CatNACL, Owner: "vpcs[a].subnets[s]"}
	if got := flowRules(f); got != nil {
		t.Fatalf("subnet NACL flow counts for %v", got)
	}
}

// TestFlowSamples: a dump is annotated with table names and rules by cookie.
func TestFlowSamples(t *testing.T) {
	r := metrics.Rule{VPC: "a", Kind: metrics.KindNetworkACL, Path: "vpcs[a].network_acls[n].ingress[100]"}
	got := flowSamples(map[uint64][]metrics.Rule{7: {r}}, []ofconn.FlowStat{
		{TableID: flows.TIngressNACL.ID, Cookie: 7, Packets: 3, Bytes: 300, DurationSec: 5},
		{TableID: flows.TClassifier.ID, Cookie: 8, Packets: 1, Bytes: 60},
	})
	if len(got) != 2 || got[0].Table != "IngressNACL" || got[0].Packets != 3 || got[0].Bytes != 300 ||
		got[0].Age.Seconds() != 5 || !slices.Equal(got[0].Rules, []metrics.Rule{r}) ||
		got[1].Table != "Classifier" || got[1].Rules != nil {
		t.Fatalf("flowSamples = %+v", got)
	}
}

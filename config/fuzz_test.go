package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that no input panics, that results are consistent, and
// that the same input always gives the same messages.
func FuzzParse(f *testing.F) {
	spec, err := os.ReadFile("testdata/spec-example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(spec)
	for _, s := range []string{
		"", "version: 1\n", base, sg("{protocol: tcp, ports: 80-90, source_group: prod/g}"),
		acl("{rule: 1, protocol: udp, ports: \"53\", source: 0.0.0.0/0, action: deny}"),
		rt("{destination: 0.0.0.0/0, via: internet-gateway}"), public("203.0.113.10"),
		"version: 1\nvpcs:\n  - &v {name: prod, cidr: 10.1.0.0/16}\n  - *v\n",
		"a: &a [*a]\n", "version: 1\nvpcs:\n  - <<: {name: x}\n",
	} {
		f.Add([]byte(s))
	}
	for _, c := range errorCases() {
		f.Add([]byte(c.src))
	}
	for _, c := range validCases() {
		f.Add([]byte(c.src))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top, warns, err := Parse(data, "f.yaml")
		_, _, err2 := Parse(data, "f.yaml")
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("non-deterministic:\n%v\n---\n%v", err, err2)
		}
		for _, w := range warns {
			_ = w.String()
		}
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 || top != nil {
				t.Fatalf("invalid input must give a nil topology and Errors, got %T %v", err, err)
			}
			for _, e := range errs {
				if e.Msg == "" {
					t.Fatalf("empty message: %+v", e)
				}
			}
			return
		}
		for _, r := range top.Instances() {
			if r.Subnet == nil || !r.Subnet.Prefix.Contains(r.Instance.Addr) || reserved(r.Subnet.Prefix, r.Instance.Addr) != "" {
				t.Fatalf("instance %s has address %v in subnet %+v", r.Instance.Name, r.Instance.Addr, r.Subnet)
			}
		}
		for _, v := range top.VPCs {
			if v.RouteTable(DefaultRouteTable) == nil || v.SecurityGroup(DefaultSecurityGroup) == nil || !v.Prefix.IsValid() {
				t.Fatalf("vpc %s incomplete", v.Name)
			}
			for _, s := range v.Subnets {
				if s.Table == nil {
					t.Fatalf("subnet %s has no table", s.Name)
				}
			}
			for _, rt := range v.RouteTables {
				for _, r := range rt.Routes {
					if r.Kind == ViaInvalid || !r.Dest.IsValid() {
						t.Fatalf("route %+v unparsed", r)
					}
				}
			}
		}
	})
}

package tests

import (
	"strings"
	"testing"
)

// Each invalid file must exit 2, name the field, and change nothing on the host.
func TestInvalidFilesChangeNothing(t *testing.T) {
	vpc := func(body string) string { return "vpcs:\n  - name: v1\n    cidr: 10.0.0.0/16\n" + body }
	cases := []struct {
		name, yaml, want string
	}{
		{"bad CIDR", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/33}\n"), "vpcs[v1].subnets[s1].cidr"},
		{"non-canonical CIDR", "vpcs:\n  - name: v1\n    cidr: 10.0.0.1/16\n", "vpcs[v1].cidr"},
		{"subnet outside VPC", vpc("    subnets:\n      - {name: s1, cidr: 10.9.1.0/24}\n"), "vpcs[v1].subnets[s1].cidr"},
		{"overlapping subnets", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24}\n      - {name: s2, cidr: 10.0.1.128/25}\n"), "vpcs[v1].subnets[s2].cidr"},
		{"duplicate subnet", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24}\n      - {name: s1, cidr: 10.0.2.0/24}\n"), "vpcs[v1].subnets[s1]"},
		{"duplicate instance", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24}\n    instances:\n      - {name: a, subnet: s1}\n      - {name: a, subnet: s1}\n"), "vpcs[v1].instances[a]"},
		{"IP outside subnet", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24}\n    instances:\n      - {name: a, subnet: s1, ip: 10.0.2.5}\n"), "vpcs[v1].instances[a].ip"},
		{"reserved IP", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24}\n    instances:\n      - {name: a, subnet: s1, ip: 10.0.1.1}\n"), "vpcs[v1].instances[a].ip"},
		{"unknown key", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24, colour: blue}\n"), "colour"},
		{"wrong type", vpc("    subnets: hello\n"), "vpcs[v1].subnets"},
		{"unknown subnet", vpc("    subnets:\n      - {name: s1, cidr: 10.0.1.0/24}\n    instances:\n      - {name: a, subnet: nope}\n"), "vpcs[v1].instances[a].subnet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br := uniqueBridge("tv")
			file := topology(t, br, c.yaml)
			for _, cmd := range []string{"validate", "apply"} {
				r := vpcctl(t, cmd, "-f", file)
				if r.Code != 2 {
					t.Fatalf("%s: exit %d, want 2\nstderr: %s", cmd, r.Code, r.Stderr)
				}
				if !strings.Contains(r.Stderr, c.want) {
					t.Errorf("%s: error does not name %s:\n%s", cmd, c.want, r.Stderr)
				}
				if !strings.Contains(r.Stderr, "topology.yaml:") {
					t.Errorf("%s: error does not give the file line:\n%s", cmd, r.Stderr)
				}
			}
			if r := sh(t, "ovs-vsctl br-exists "+br); r.Code == 0 {
				t.Errorf("an invalid file created bridge %s", br)
			}
			if r := sh(t, "ip netns list | grep -F 'vpcctl."+br+".' || true"); strings.TrimSpace(r.Stdout) != "" {
				t.Errorf("an invalid file created namespaces: %s", r.Stdout)
			}
		})
	}
}

// All errors of a file are reported at once, not only the first.
func TestAllErrorsAtOnce(t *testing.T) {
	br := uniqueBridge("tv")
	file := topology(t, br, "vpcs:\n  - name: v1\n    cidr: 10.0.0.0/33\n  - name: BAD\n    cidr: 10.1.0.0/16\n")
	r := vpcctl(t, "validate", "-f", file)
	if r.Code != 2 || !strings.Contains(r.Stderr, "vpcs[v1].cidr") || !strings.Contains(r.Stderr, "BAD") {
		t.Fatalf("want both errors and exit 2, got %d:\n%s", r.Code, r.Stderr)
	}
}

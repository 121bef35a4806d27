package config

import (
	"strings"
	"testing"
)

const expectBase = `version: 1
vpcs:
  - name: a
    cidr: 10.1.0.0/16
    subnets: [{name: s, cidr: 10.1.1.0/24}]
    security_groups: [{name: web, ingress: [{protocol: tcp, ports: "80", source: 0.0.0.0/0}]}]
    instances: [{name: a1, subnet: s, security_groups: [web]}, {name: a2, subnet: s}]
  - name: b
    cidr: 10.2.0.0/16
    subnets: [{name: s, cidr: 10.2.1.0/24}]
    security_groups: [{name: web}]
    instances: [{name: b1, subnet: s, security_groups: [web]}]
expect:
`

func TestExpectValid(t *testing.T) {
	topo, _, err := parse(t, expectBase+`  - {from: group/a/web, to: subnet/a/s, proto: tcp, port: 80, reach: yes}
  - {from: a1, to: b1, proto: icmp, reach: no}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := topo.Endpoints("group/a/web"); strings.Join(got, ",") != "a1" {
		t.Errorf("group/a/web = %v", got)
	}
	if got, _ := topo.Endpoints("subnet/a/s"); strings.Join(got, ",") != "a1,a2" {
		t.Errorf("subnet/a/s = %v", got)
	}
}

func TestExpectErrors(t *testing.T) {
	cases := map[string]string{
		"  - {from: nobody, to: a1, proto: tcp, port: 80, reach: yes}\n":     `expect[0].from: "nobody" is no instance or external host`,
		"  - {from: a1, to: group/web, proto: tcp, port: 80, reach: yes}\n":  "several VPCs have a group web",
		"  - {from: a1, to: subnet/b/x, proto: tcp, port: 80, reach: yes}\n": `expect[0].to: "subnet/b/x": no subnet x`,
		"  - {from: a1, to: b1, proto: sctp, port: 80, reach: yes}\n":        `expect[0].proto: "sctp" is not one of`,
		"  - {from: a1, to: b1, proto: tcp, reach: yes}\n":                   "expect[0].port: tcp needs a port",
		"  - {from: a1, to: b1, proto: icmp, port: 7, reach: yes}\n":         "expect[0].port: icmp has no port",
		"  - {from: a1, to: b1, proto: icmp, reach: maybe}\n":                `expect[0].reach: "maybe" is not one of: yes, no`,
		"  - {from: a1, to: b1, proto: icmp}\n":                              `expect[0].reach: missing required field`,
	}
	for src, want := range cases {
		_, _, err := parse(t, expectBase+src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", strings.TrimSpace(src), err, want)
		}
	}
}

package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// statusTopology has one object of every kind; the VPC "empty" has no instance.
const statusTopology = `external:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  hosts:
    - {name: st-inet, ip: 203.0.113.100}
vpcs:
  - name: prod
    cidr: 10.71.0.0/16
    internet_gateway: true
    subnets:
      - {name: public, cidr: 10.71.1.0/24, route_table: public-rt}
      - {name: private, cidr: 10.71.2.0/24}
    route_tables:
      - name: public-rt
        routes: [{destination: 0.0.0.0/0, via: internet-gateway}]
      - name: main
        routes:
          - {destination: 0.0.0.0/0, via: nat-gateway/nat1}
          - {destination: 10.72.0.0/16, via: peering/p1}
    nat_gateways: [{name: nat1, subnet: public, public_ip: 203.0.113.10}]
    security_groups:
      - name: web
        ingress: [{protocol: tcp, ports: "80", source: 0.0.0.0/0}]
    network_acls:
      - name: private-acl
        subnets: [private]
        ingress: [{rule: 100, protocol: all, source: 0.0.0.0/0, action: allow}]
        egress: [{rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}]
    instances:
      - {name: st-web, subnet: public, public_ip: 203.0.113.20, security_groups: [web]}
      - {name: st-db, subnet: private}
  - name: empty
    cidr: 10.72.0.0/16
    subnets: [{name: only, cidr: 10.72.1.0/24}]
    route_tables:
      - name: main
        routes: [{destination: 10.71.0.0/16, via: peering/p1}]
peerings:
  - {name: p1, vpcs: [prod, empty]}
`

// `vpcctl status` shows every object of the topology, including a VPC
// without instances; an unknown -o is an error (exit 2).
func TestStatusShowsEveryObject(t *testing.T) {
	br := uniqueBridge("ts")
	file := topology(t, br, statusTopology)
	mustVpcctl(t, "apply", "-f", file)

	var st struct {
		Bridges []struct {
			Name     string `json:"name"`
			Topology struct {
				VPCs []struct {
					Name, CIDR string
					Subnets    []struct {
						Name, CIDR string
						RouteTable string `json:"route_table"`
						NetworkACL string `json:"network_acl"`
						Instances  []string
					}
					RouteTables []struct {
						Name   string
						Routes []struct{ Destination, Via string }
					} `json:"route_tables"`
					NATGateways []struct {
						Name     string
						PublicIP string `json:"public_ip"`
					} `json:"nat_gateways"`
					ElasticIPs []struct {
						Instance  string
						PrivateIP string `json:"private_ip"`
						PublicIP  string `json:"public_ip"`
					} `json:"elastic_ips"`
					SecurityGroups []struct {
						Name    string
						Members []string
					} `json:"security_groups"`
				}
				Peerings []struct {
					Name   string
					Routed []string `json:"routed_from"`
				}
				External *struct {
					CIDR  string
					Hosts []struct{ Name, IP string }
				}
			}
		}
	}
	out := mustVpcctl(t, "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	var got string
	for _, b := range st.Bridges {
		if b.Name != br {
			continue
		}
		var parts []string
		for _, v := range b.Topology.VPCs {
			parts = append(parts, "vpc "+v.Name+" "+v.CIDR)
			for _, s := range v.Subnets {
				parts = append(parts, "subnet "+v.Name+"/"+s.Name+" "+s.CIDR+" rt="+s.RouteTable+" acl="+s.NetworkACL+" ["+strings.Join(s.Instances, ",")+"]")
			}
			for _, rt := range v.RouteTables {
				for _, r := range rt.Routes {
					parts = append(parts, "route "+v.Name+"/"+rt.Name+" "+r.Destination+" "+r.Via)
				}
			}
			for _, n := range v.NATGateways {
				parts = append(parts, "nat "+n.Name+" "+n.PublicIP)
			}
			for _, e := range v.ElasticIPs {
				parts = append(parts, "eip "+e.PublicIP+" "+e.Instance+" "+e.PrivateIP)
			}
			for _, g := range v.SecurityGroups {
				parts = append(parts, "group "+v.Name+"/"+g.Name+" ["+strings.Join(g.Members, ",")+"]")
			}
		}
		for _, p := range b.Topology.Peerings {
			parts = append(parts, "peering "+p.Name+" routed from "+strings.Join(p.Routed, ","))
		}
		if e := b.Topology.External; e != nil {
			parts = append(parts, "external "+e.CIDR)
			for _, h := range e.Hosts {
				parts = append(parts, "host "+h.Name+" "+h.IP)
			}
		}
		got = strings.Join(parts, "\n")
	}
	for _, want := range []string{
		"vpc prod 10.71.0.0/16",
		"vpc empty 10.72.0.0/16",
		"subnet prod/public 10.71.1.0/24 rt=public-rt acl= [st-web]",
		"subnet prod/private 10.71.2.0/24 rt=main acl=private-acl [st-db]",
		"subnet empty/only 10.72.1.0/24 rt=main acl= []",
		"route prod/public-rt 10.71.0.0/16 local",
		"route prod/public-rt 0.0.0.0/0 internet-gateway",
		"route prod/main 10.72.0.0/16 peering/p1",
		"route empty/main 10.71.0.0/16 peering/p1",
		"nat nat1 203.0.113.10",
		"eip 203.0.113.20 st-web 10.71.1.4",
		"group prod/web [st-web]",
		"group prod/default [st-db]",
		"peering p1 routed from prod,empty",
		"external 203.0.113.0/24",
		"host st-inet 203.0.113.100",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status -o json lacks %q; it shows:\n%s", want, got)
		}
	}
	table := mustVpcctl(t, "status", "--bridge", br)
	if strings.Contains(table, "\nbridge ") || !strings.HasPrefix(table, "bridge "+br+" ") {
		t.Errorf("status --bridge %s shows other bridges:\n%s", br, table)
	}
	for _, want := range []string{"empty", "10.72.0.0/16", "private-acl", "nat1", "203.0.113.20", "p1", "st-inet"} {
		if !strings.Contains(table, want) {
			t.Errorf("status table lacks %q:\n%s", want, table)
		}
	}
	// Edited but not applied: status says so.
	if strings.Contains(bridgeBlock(mustVpcctl(t, "status"), br), "changed since it was last applied") {
		t.Errorf("status says the file changed right after apply")
	}
	addToFile(t, file, "# edited\n")
	if !strings.Contains(bridgeBlock(mustVpcctl(t, "status"), br), "changed since it was last applied") {
		t.Errorf("status does not say the file changed since it was applied")
	}
	if r := vpcctl(t, "status", "-o", "yaml"); r.Code != 2 || !strings.Contains(r.Stderr, "table or json") {
		t.Errorf("status -o yaml: exit %d, %q; want exit 2 naming the formats", r.Code, r.Stderr)
	}
}

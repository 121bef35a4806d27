package labcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vpcctl/vpcctl/config"
)

// Labs are the tasks of labs/NN-NAME/README.md ("Tasks"), in lab order.
// Change a task here and in its README (and its solution/) together.
var Labs = []*Lab{
	{Number: 0, Dir: "00-hello", Tasks: []Task{
		{
			Name:   "alice-ip",
			Goal:   "write the address alice got as alice_ip",
			Answer: &Answer{Key: "alice_ip", Kind: ip, Truth: func(s *State) (string, error) { return statusOf(s, "alice", "ip") }},
			Hint:   "`bin/vpcctl status` (column IP) or `ip netns exec vpcctl.{bridge}.alice ip -4 addr`; write `alice_ip: ADDRESS` in {answers}",
		},
		{
			Name:   "alice-mac",
			Goal:   "write alice's MAC address as alice_mac",
			Answer: &Answer{Key: "alice_mac", Kind: mac, Truth: func(s *State) (string, error) { return statusOf(s, "alice", "mac") }},
			Hint:   "`ip netns exec vpcctl.{bridge}.alice ip link show eth0` (link/ether), `bin/vpcctl status` (column MAC), or the `dl_src=` of alice's PortSecurity flows; write `alice_mac: xx:xx:xx:xx:xx:xx` in {answers}",
		},
		{
			Name: "carol",
			Goal: "add instance carol (subnet lan, 10.0.1.30): bob pings her, she reaches alice's web server",
			Probes: []Probe{
				{From: "bob", To: "carol", Proto: config.ProtoICMP, Reach: true},
				{From: "carol", To: "alice", Proto: config.ProtoTCP, Port: 8080, Reach: true},
			},
			Check: instanceAt("carol", "hello", "10.0.1.30"),
			Hint:  "add carol under `instances:` in {file} (like bob, with `ip: 10.0.1.30`), then `bin/vpcctl apply -f {file}`; `bin/vpcctl status` lists her",
		},
	}},
	{Number: 1, Dir: "01-routing", Tasks: []Task{
		{
			Name:   "red-vpc-id",
			Goal:   "write the VPC id the Classifier loads into reg0 for red's ports as red_vpc_id",
			Answer: &Answer{Key: "red_vpc_id", Kind: number, Truth: func(s *State) (string, error) { return vpcID(s, "red") }},
			Hint:   "`ovs-ofctl -O OpenFlow13 --names dump-flows {bridge} table=Classifier`: the value red's ports load into NXM_NX_REG0 (`bin/vpcctl flows --vpc red` says which port is whose; section 3); write `red_vpc_id: 0x...` in {answers}",
		},
		{
			Name:   "forged-drop",
			Goal:   "write the table that drops red-web's packet sent to blue-app's MAC as forged_drop_table",
			Answer: &Answer{Key: "forged_drop_table", Kind: table, Truth: forgedDrop},
			Hint:   "run section 7's `ovs-appctl ofproto/trace` on {bridge} with red-web's port and MAC and blue-app's MAC from `bin/vpcctl status`: the last table it lists drops the packet; write `forged_drop_table: NAME` in {answers}",
		},
		{
			Name: "red-db",
			Goal: "give red a subnet db (10.0.3.0/24) with instance red-db (10.0.3.10): red-web pings it, blue-web does not",
			Probes: []Probe{
				{From: "red-web", To: "red-db", Proto: config.ProtoICMP, Reach: true},
				{From: "red-app", To: "red-db", Proto: config.ProtoICMP, Reach: true},
				{From: "blue-web", To: "red-db", Proto: config.ProtoICMP, Reach: false},
			},
			Check: instanceAt("red-db", "red", "10.0.3.10"),
			Hint:  "in {file}: a subnet `{name: db, cidr: 10.0.3.0/24}` under red's `subnets:` and an instance `{name: red-db, subnet: db, ip: 10.0.3.10}`, then `bin/vpcctl apply -f {file}`; `bin/vpcctl trace red-web red-db` shows the router's flows",
		},
	}},
	{Number: 2, Dir: "02-security", Tasks: []Task{
		{
			Name: "client-db",
			Goal: "client reaches db1 on tcp 5432 (and still not on 22), without changing any rule",
			Probes: []Probe{
				{From: "client", To: "db1", Proto: config.ProtoTCP, Port: 5432, Reach: true},
				{From: "client", To: "db1", Proto: config.ProtoTCP, Port: 22, Reach: false},
			},
			Check: dbRulesKept,
			Hint:  "`bin/vpcctl trace client db1 --tcp 5432` names what stops it; group db takes 5432 from the members of group web (section 2): change client's `security_groups:` in {file}, then apply",
		},
		{
			Name: "db-ping",
			Goal: "db1 pings web1 (and web1 still cannot reach db1 on tcp 22)",
			Probes: []Probe{
				{From: "db1", To: "web1", Proto: config.ProtoICMP, Reach: true},
				{From: "web1", To: "db1", Proto: config.ProtoTCP, Port: 22, Reach: false},
			},
			Hint: "`bin/vpcctl trace db1 web1 --icmp` names the network ACL that stops the request or its reply: private-acl is stateless (section 6), so the echo request needs an egress rule and the echo reply an ingress rule in {file}",
		},
		{
			Name:   "ssh-table",
			Goal:   "write the flow table that drops web1's tcp/22 connection to db1 as ssh_drop_table",
			Answer: &Answer{Key: "ssh_drop_table", Kind: table, Truth: sshDrop},
			Hint:   "`bin/vpcctl trace web1 db1 --tcp 22`: its dataplane half ends in the table that drops the packet (section 5); write `ssh_drop_table: NAME` in {answers}",
		},
	}},
	{Number: 3, Dir: "03-internet", Tasks: []Task{
		{
			Name: "app2",
			Goal: "add a subnet private2 (10.0.3.0/24) with app2 (10.0.3.10) that reaches the internet through nat1, and the internet not it",
			Probes: []Probe{
				{From: "app2", To: "internet", Proto: config.ProtoTCP, Port: 8080, Reach: true},
				{From: "internet", To: "app2", Proto: config.ProtoTCP, Port: 8080, Reach: false},
			},
			Check: func(s *State) error {
				if err := instanceAt("app2", "shop", "10.0.3.10")(s); err != nil {
					return err
				}
				if in, _ := s.Instance("app2"); in.Subnet != "private2" {
					return fmt.Errorf("app2 is in subnet %s, not private2", in.Subnet)
				}
				if ref, ok := s.Topo.Instance("app2"); ok && ref.Instance.PublicIP != "" {
					return fmt.Errorf("app2 has an elastic IP: it should go out through nat1")
				}
				return nil
			},
			Hint: "in {file}: a subnet `{name: private2, cidr: 10.0.3.0/24, route_table: ...}` whose route table sends 0.0.0.0/0 via nat-gateway/nat1 (private-rt does: sections 3 and 8), an instance app2 with `ip: 10.0.3.10` in it; apply; `bin/vpcctl trace app2 internet --tcp 8080` names what stops it",
		},
		{
			Name:   "seen-as",
			Goal:   "write the source address the internet host sees app1's connections come from as app1_seen_as",
			Answer: &Answer{Key: "app1_seen_as", Kind: ip, Truth: func(s *State) (string, error) { a, _, err := natFlow(s, "app1"); return a, err }},
			Hint:   "section 3: fetch the internet's page from app1 and read the address the internet host logged (its `run:` in {file} says where the log is); write `app1_seen_as: ADDRESS` in {answers}",
		},
		{
			Name:   "snat-table",
			Goal:   "write the flow table that rewrites app1's source address as snat_table",
			Answer: &Answer{Key: "snat_table", Kind: table, Truth: func(s *State) (string, error) { _, t, err := natFlow(s, "app1"); return t, err }},
			Hint:   "`bin/vpcctl flows --vpc shop | grep nat1`: the flow whose action has `nat(src=...)`, and its `table=` (section 6); write `snat_table: NAME` in {answers}",
		},
	}},
	{Number: 4, Dir: "04-peering", Tasks: []Task{
		{
			Name: "dev-prod",
			Goal: "dev1 and prod1 reach each other on tcp 8080 (dev2 still not registry)",
			Probes: []Probe{
				{From: "dev1", To: "prod1", Proto: config.ProtoTCP, Port: 8080, Reach: true},
				{From: "prod1", To: "dev1", Proto: config.ProtoTCP, Port: 8080, Reach: true},
				{From: "dev2", To: "registry", Proto: config.ProtoTCP, Port: 8080, Reach: false},
			},
			Hint: "peering is not transitive (section 6): peer dev and prod in {file} (`peerings:`) and route each one's CIDR through that peering, in both VPCs (section 7: a route on one side gets no answers); `bin/vpcctl trace dev1 prod1 --tcp 8080`",
		},
		{
			Name:   "peering-zone",
			Goal:   "write the conntrack zone of peering dev-shared as dev_shared_zone",
			Answer: &Answer{Key: "dev_shared_zone", Kind: number, Truth: peeringZone("dev", "dev-shared")},
			Hint:   "dev's route via peering/dev-shared delivers with the peering's zone in reg7 (NXM_NX_REG7): `bin/vpcctl flows --vpc dev | grep route_tables` (the route's path is in the comment), or `ovs-appctl dpctl/dump-conntrack | grep 8080` after a curl (zone=N); write `dev_shared_zone: N` in {answers}",
		},
		{
			Name:   "reply-drop",
			Goal:   "write the flow table that drops registry's answers when shared has no route back to dev as reply_drop_table",
			Answer: &Answer{Key: "reply_drop_table", Kind: table, Truth: noRouteTable("shared")},
			Hint:   "section 7: with shared's route to 10.10.0.0/16 removed, `bin/vpcctl trace dev1 registry --tcp 8080` shows where the REPLY ends (the VPC's no-route flow: `bin/vpcctl flows --vpc shared | grep no-route`); write `reply_drop_table: NAME` in {answers}",
		},
	}},
}

// Find is the lab named by arg: its number ("2", "02"), its directory
// ("02-security") or its name ("security").
func Find(arg string) (*Lab, error) {
	arg = strings.TrimSuffix(strings.TrimPrefix(arg, "labs/"), "/")
	for _, l := range Labs {
		name := l.Dir[strings.Index(l.Dir, "-")+1:]
		if n, err := strconv.Atoi(arg); (err == nil && n == l.Number) || arg == l.Dir || arg == name {
			return l, nil
		}
	}
	var names []string
	for _, l := range Labs {
		names = append(names, l.Dir)
	}
	return nil, fmt.Errorf("no lab %q: the labs are %s", arg, strings.Join(names, ", "))
}

// statusOf is a column of `vpcctl status` for an instance: ip or mac.
func statusOf(s *State, name, column string) (string, error) {
	in, err := s.Instance(name)
	if err != nil {
		return "", err
	}
	if column == "mac" {
		return in.MAC, nil
	}
	return in.IP, nil
}

// instanceAt checks that the bridge has the instance in vpc with address addr.
func instanceAt(name, vpc, addr string) func(*State) error {
	return func(s *State) error {
		in, err := s.Instance(name)
		if err != nil {
			return err
		}
		if in.VPC != vpc || in.IP != addr {
			return fmt.Errorf("%s is %s in VPC %s on the bridge, not %s in %s", name, in.IP, in.VPC, addr, vpc)
		}
		if in.State != "up" {
			return fmt.Errorf("%s is %s, not up", name, in.State)
		}
		return nil
	}
}

var (
	loadReg0 = regexp.MustCompile(`load:(0x[0-9a-f]+)->NXM_NX_REG0\[`)
	loadReg7 = regexp.MustCompile(`load:(0x[0-9a-f]+)->NXM_NX_REG7\[`)
	natSrc   = regexp.MustCompile(`nat\(src=([0-9.]+)\)`)
)

// vpcID is what the Classifier flows of the VPC's instances load into reg0.
func vpcID(s *State, vpc string) (string, error) {
	v := s.Topo.VPC(vpc)
	if v == nil {
		return "", fmt.Errorf("%s has no VPC %s", s.File, vpc)
	}
	for _, in := range v.Instances {
		rows, err := s.FlowsOf(in.Pos.Path(), "Classifier")
		if err != nil {
			return "", err
		}
		for _, r := range rows {
			if m := loadReg0.FindStringSubmatch(r.Flow); m != nil {
				return m[1], nil
			}
		}
	}
	return "", fmt.Errorf("no Classifier flow of VPC %s loads reg0", vpc)
}

// forgedDrop traces red-web's echo request sent straight to blue-app's MAC
// (lab 01, section 7) and names the table that drops it.
func forgedDrop(s *State) (string, error) {
	src, err := s.Instance("red-web")
	if err != nil {
		return "", err
	}
	dst, err := s.Instance("blue-app")
	if err != nil {
		return "", err
	}
	pkt := fmt.Sprintf("in_port=%d,dl_src=%s,dl_dst=%s,icmp,icmp_type=8,nw_src=%s,nw_dst=%s,nw_ttl=64", src.Ofport, src.MAC, dst.MAC, src.IP, dst.IP)
	t, err := s.DropTable(pkt)
	if err == nil && t == "" {
		err = fmt.Errorf("the packet %s is not dropped", pkt)
	}
	return t, err
}

// dbRulesKept checks that lab 02's group db still has its one rule (tcp
// 5432 from group web): the task is to give client access without a rule.
func dbRulesKept(s *State) error {
	v := s.Topo.VPC("shop")
	var sg *config.SecurityGroup
	if v != nil {
		sg = v.SecurityGroup("db")
	}
	if sg == nil {
		return fmt.Errorf("%s has no group db in VPC shop", s.File)
	}
	if len(sg.Ingress) != 1 {
		return fmt.Errorf("group db has %d ingress rules: keep its one rule and change something else", len(sg.Ingress))
	}
	r := sg.Ingress[0]
	if r.Protocol != config.ProtoTCP || r.PortRange != (config.PortRange{Lo: 5432, Hi: 5432}) || r.PeerGroup != "web" || r.PeerVPC != "shop" {
		return fmt.Errorf("group db's rule changed (%s): keep `{protocol: tcp, ports: \"5432\", source_group: web}` and change something else", r.Pos.Path())
	}
	return nil
}

// sshDrop is the table where web1's tcp/22 to db1 ends (lab 02).
func sshDrop(s *State) (string, error) {
	res, err := s.Trace("web1", "db1", config.ProtoTCP, 22)
	if err != nil {
		return "", err
	}
	var verdicts []string
	for _, h := range res.Hops {
		if strings.HasPrefix(h.DPVerdict, "drop") && len(h.Dataplane) > 0 {
			return h.Dataplane[len(h.Dataplane)-1].Name, nil
		}
		verdicts = append(verdicts, h.Direction+": "+h.DPVerdict)
	}
	return "", fmt.Errorf("web1 -> db1 tcp/22 is not dropped on the bridge (%s)", strings.Join(verdicts, "; "))
}

// natFlow finds the NAT gateway the instance's default route uses and its
// source-NAT flow on the bridge: the public address and the flow's table.
func natFlow(s *State, instance string) (addr, table string, err error) {
	ref, ok := s.Topo.Instance(instance)
	if !ok || ref.Subnet == nil || ref.Subnet.Table == nil {
		return "", "", fmt.Errorf("%s has no instance %s with a route table", s.File, instance)
	}
	for _, r := range ref.Subnet.Table.Routes {
		if r.Kind != config.ViaNATGateway || r.Dest.Bits() != 0 {
			continue
		}
		gw := ref.VPC.NATGateway(r.Target)
		if gw == nil {
			continue
		}
		rows, err := s.FlowsOf(gw.Pos.Path(), "")
		if err != nil {
			return "", "", err
		}
		for _, f := range rows {
			if m := natSrc.FindStringSubmatch(f.Flow); m != nil {
				return m[1], f.Table, nil
			}
		}
		return "", "", fmt.Errorf("no source NAT flow of %s is installed", gw.Pos.Path())
	}
	return "", "", fmt.Errorf("%s's route table %s has no default route via a NAT gateway", instance, ref.Subnet.Table.Name)
}

// peeringZone is the conntrack zone (reg7) the VPC's routes through the
// peering deliver with.
func peeringZone(vpc, peering string) func(*State) (string, error) {
	return func(s *State) (string, error) {
		v := s.Topo.VPC(vpc)
		if v == nil {
			return "", fmt.Errorf("%s has no VPC %s", s.File, vpc)
		}
		for _, rt := range v.RouteTables {
			for _, r := range rt.Routes {
				if r.Kind != config.ViaPeering || r.Target != peering {
					continue
				}
				rows, err := s.FlowsOf(r.Pos.Path(), "L3Forwarding")
				if err != nil {
					return "", err
				}
				for _, f := range rows {
					if m := loadReg7.FindStringSubmatch(f.Flow); m != nil {
						return m[1], nil
					}
				}
			}
		}
		return "", fmt.Errorf("no flow of a route of %s via peering/%s delivers to an instance", vpc, peering)
	}
}

// noRouteTable is the table of the VPC's "no route" drop flow.
func noRouteTable(vpc string) func(*State) (string, error) {
	return func(s *State) (string, error) {
		rows, err := s.FlowsOf("vpcs["+vpc+"].no-route", "")
		if err != nil {
			return "", err
		}
		if len(rows) == 0 {
			return "", fmt.Errorf("VPC %s has no no-route flow installed", vpc)
		}
		return rows[0].Table, nil
	}
}

package config

// applyDefaults fills what the file may omit (SPEC §1). It runs before
// validation because the implicit `main` table and `default` group must exist
// for references to them to resolve; defaults are valid by construction, so
// the order changes no message.
func applyDefaults(t *Topology) {
	if t.Bridge == "" {
		t.Bridge = DefaultBridge
	}
	if t.Datapath == "" {
		t.Datapath = DatapathAuto
	}
	if t.External != nil && t.External.Attach == "" {
		t.External.Attach = ExternalIsolated
	}
	for _, v := range t.VPCs {
		vpcDefaults(v)
	}
}

func vpcDefaults(v *VPC) {
	if v.RouteTable(DefaultRouteTable) == nil {
		v.RouteTables = append(v.RouteTables, &RouteTable{
			Name:     DefaultRouteTable,
			Implicit: true,
			Pos:      v.Pos.child("route_tables[" + DefaultRouteTable + "]"),
		})
	}
	if v.SecurityGroup(DefaultSecurityGroup) == nil {
		// As in AWS: members reach each other; everything may go out.
		sg := &SecurityGroup{Name: DefaultSecurityGroup, Implicit: true, Pos: v.Pos.child("security_groups[" + DefaultSecurityGroup + "]")}
		sg.Ingress = []*SGRule{{Protocol: ProtoAll, SourceGroup: DefaultSecurityGroup, Implicit: true, Pos: sg.Pos.child("ingress[0]")}}
		v.SecurityGroups = append(v.SecurityGroups, sg)
	}
	for _, sg := range v.SecurityGroups {
		// Omitted egress allows all, as in AWS; `egress: []` allows nothing.
		if sg.Egress == nil {
			sg.Egress = []*SGRule{{Protocol: ProtoAll, Destination: "0.0.0.0/0", Implicit: true, Pos: sg.Pos.child("egress[0]")}}
		}
	}
	for _, s := range v.Subnets {
		if s.RouteTable == "" {
			s.RouteTable = DefaultRouteTable
		}
	}
	for _, i := range v.Instances {
		if i.Attach == "" {
			i.Attach = AttachVeth
		}
		if i.SourceDestCheck == nil {
			yes := true
			i.SourceDestCheck = &yes
		}
		if len(i.SecurityGroups) == 0 {
			i.SecurityGroups = []string{DefaultSecurityGroup}
		}
	}
}

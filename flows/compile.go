package flows

// Compile turns a topology into the complete flow set of the bridge. It does
// no I/O: the same input always gives the same flows and cookies.
func Compile(t *Topology) (*Set, error) { return compile(t, nil) }

// compile is Compile with the tables numbered by ids (nil: Pipeline's order).
func compile(t *Topology, ids tableIDs) (*Set, error) {
	var fs []*Flow
	// The security groups (the largest part of a big topology) are compiled
	// beside the rest; both only read the topology.
	sgFlows := make(chan []*Flow, 1)
	go func() {
		sg := newSGCompiler(t)
		for vi := range t.VPCs {
			sg.addVPC(&t.VPCs[vi])
		}
		sgFlows <- sg.flows()
	}()
	fs = append(fs, pipelineFlows()...)
	if t.External != nil {
		fs = append(fs, externalFlows(t.External)...)
	}
	for vi := range t.VPCs {
		v := &t.VPCs[vi]
		fs = append(fs, localRouteFlow(v), noRouteFlow(v))
		fs = append(fs, gatewayFlows(v, t.External)...)
		for si := range v.Subnets {
			s := &v.Subnets[si]
			fs = append(fs, subnetFlows(v, s)...)
			fs = append(fs, routeFlows(t, v, s)...)
			for ii := range s.Instances {
				if i := &s.Instances[ii]; i.Remote.IsValid() {
					fs = append(fs, remoteFlows(t, v, s, i)...)
				} else {
					fs = append(fs, instanceFlows(v, s, i, t.Trunk)...)
				}
			}
			fs = append(fs, naclFlows(v, s)...)
		}
	}
	fs = append(fs, <-sgFlows...)
	fs = append(fs, flowLogFlows(t)...)
	fs = append(fs, trunkFlows(t)...)
	fs = append(fs, tunnelFlows(t)...)
	set, err := newSet(fs, ids)
	if err != nil {
		return nil, err
	}
	set.FlowLogPorts = flowLogPorts(t)
	return set, nil
}

// pipelineFlows are the fixed flows: a dropping table-miss in every table (so
// `ovs-ofctl dump-flows` counts what each stage dropped) and the stage
// defaults that do not depend on the topology.
func pipelineFlows() []*Flow {
	var fs []*Flow
	for _, t := range Pipeline {
		fs = append(fs, &Flow{Table: t, Priority: PrioMiss, Category: CatPipeline})
	}
	fs = append(fs,
		// 802.1Q-tagged frames never enter a VPC: OVS would match their inner
		// Ethernet type, so they must be stopped before any other check.
		&Flow{Table: TClassifier, Priority: PrioHighest, Match: Match{}.VLANTagged(), Category: CatPipeline},
		// IPv4 that passed port security goes on to the lookup; other ARP than
		// requests for known addresses, IPv6 and anything else hit the miss.
		&Flow{Table: TARPResponder, Priority: PrioLow, Match: Match{}.EthType(EthIPv4), Goto: TL3Forwarding, Category: CatPipeline},
		// Not addressed to the router: switched within the subnet.
		&Flow{Table: TL3Forwarding, Priority: PrioLow, Match: Match{}.EthType(EthIPv4), Goto: TL2Lookup, Category: CatPipeline},
		&Flow{Table: TOutput, Priority: PrioLow, Actions: []Action{OutputReg(RegDstPort)}, Category: CatPipeline},
		// Not from the external network: on to the router.
		&Flow{Table: TGatewayIn, Priority: PrioLow, Match: Match{}.EthType(EthIPv4), Goto: TL3Forwarding, Category: CatPipeline},
		// Staying inside the VPC: no translation.
		&Flow{Table: TGatewayOut, Priority: PrioLow, Match: Match{}.EthType(EthIPv4).Reg(RegGateway, 0), Goto: TOutput, Category: CatPipeline},
		&Flow{Table: TGatewayInSt, Priority: PrioHighest, Match: Match{}.EthType(EthIPv4).CtState(CtInv|CtTrk, 0), Category: CatPipeline},
	)
	fs = append(fs, own(CatPipeline, "", conntrackFlows())...)
	return fs
}

// own stamps the category and owner on flows that do not carry one yet.
func own(cat Category, owner string, fs []*Flow) []*Flow {
	for _, f := range fs {
		if f.Category == 0 {
			f.Category, f.Owner = cat, owner
		}
	}
	return fs
}

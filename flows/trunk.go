package flows

// trunkPortBase marks the port numbers that stand for trunk instances in
// RegSrcPort and RegDstPort (16 bits): TrunkPort(vid). vpcctl gives real
// ports the lowest free numbers, far below it.
const trunkPortBase = 0x8000

// TrunkPort is the port number a trunk instance with VLAN id vid has in the
// pipeline's registers.
func TrunkPort(vid uint16) uint32 { return trunkPortBase | uint32(vid) }

// trunkFlows are the flows of a bridge with a trunk that do not belong to
// one instance: a frame of a trunk instance keeps its tag through the
// pipeline (so ARP and ping answers sent back to IN_PORT keep it too), and
// loses it when it leaves through a port of its own.
func trunkFlows(t *Topology) []*Flow {
	if t.Trunk == 0 {
		return nil
	}
	return []*Flow{{Table: TOutput, Priority: PrioNormal, Match: Match{}.VLANTagged(),
		Actions: []Action{PopVLAN(), OutputReg(RegDstPort)}, Category: CatPipeline}}
}

// trunkOutput delivers to a trunk instance: its tag (replacing the sender's
// when the sender is a trunk instance too, else pushed: OVS refuses a tag
// action that the match does not say applies) and out the trunk. in_port
// is cleared first: the packet most often came in on the trunk itself.
func trunkOutput(trunk uint32, i *Instance) []*Flow {
	to := Match{}.Reg(RegDstPort, i.Port)
	return []*Flow{
		{Table: TOutput, Priority: PrioHighest, Match: to.VLANTagged(),
			Actions: []Action{SetVLANID(i.VLAN), ClearInPort(), Output(trunk)}},
		{Table: TOutput, Priority: PrioHigh, Match: to,
			Actions: []Action{PushVLAN(), SetVLANID(i.VLAN), ClearInPort(), Output(trunk)}},
	}
}

package flows

// Table is one OpenFlow table of the pipeline. Its numeric ID comes from its
// position in Pipeline, never written by hand in a flow.
type Table struct {
	ID   uint8
	Name string // shown by `ovs-ofctl dump-flows --names` (OVSDB Flow_Table.name)
	Doc  string // one line for learners: what this stage decides
	// Next lists the tables a flow of this table may go to; compiling a flow
	// that jumps elsewhere is a bug caught by the tests.
	Next []string
}

// The pipeline, in packet order. Every table ends with a table-miss flow that
// drops (the bridge runs fail_mode=secure: no NORMAL fallback anywhere).
var (
	TClassifier   = &Table{Name: "Classifier", Doc: "in_port -> VPC and source port registers (the tunnel: its key is the VPC); unknown ports and VLAN tags drop", Next: []string{"PortSecurity", "L2Lookup", "L3Forwarding"}}
	TPortSecurity = &Table{Name: "PortSecurity", Doc: "source MAC, IP and ARP sender must be the port's own", Next: []string{"ARPResponder"}}
	TARPResponder = &Table{Name: "ARPResponder", Doc: "ARP requests for known addresses answered here; no ARP is flooded", Next: []string{"GatewayIn", "L3Forwarding"}}
	TGatewayIn    = &Table{Name: "GatewayIn", Doc: "external network -> a public IP: NAT reversed (NAT gateway) or applied (elastic IP) in the owning VPC's NAT zone", Next: []string{"L3Forwarding"}}
	TGatewayInSt  = &Table{Name: "GatewayInState", Doc: "after inbound NAT: untranslated packets (a new connection to a NAT gateway) drop; the rest enter the VPC", Next: []string{"L3Forwarding"}}
	TL3Forwarding = &Table{Name: "L3Forwarding", Doc: "the VPC router: answers ping to each subnet's .1; local route, then the subnet's route table (longest prefix); MAC rewrite, TTL-1", Next: []string{"L2Lookup", "ConntrackLookup"}}
	TL2Lookup     = &Table{Name: "L2Lookup", Doc: "destination MAC in this VPC -> destination port and subnet registers", Next: []string{"ConntrackLookup"}}
	TCtLookup     = &Table{Name: "ConntrackLookup", Doc: "conntrack in the VPC's zone (reg0), then on to ConntrackState; the external network has no security stages", Next: []string{"ConntrackState", "Output"}}
	TCtState      = &Table{Name: "ConntrackState", Doc: "invalid packets (ct_state=+inv) drop; what came through the tunnel was decided on its host: on to the commit", Next: []string{"EgressNACL", "ConntrackCommit"}}
	TEgressNACL   = &Table{Name: "EgressNACL", Doc: "network ACL of the source subnet, when the packet leaves it (stateless)", Next: []string{"EgressSecurityGroup"}}
	TEgressSG     = &Table{Name: "EgressSecurityGroup", Doc: "security groups of the source instance (replies pass: stateful)", Next: []string{"IngressNACL"}}
	TIngressNACL  = &Table{Name: "IngressNACL", Doc: "network ACL of the destination subnet, when the packet enters it (stateless)", Next: []string{"IngressSecurityGroup"}}
	TIngressSG    = &Table{Name: "IngressSecurityGroup", Doc: "security groups of the destination instance (replies pass: stateful)", Next: []string{"ConntrackCommit"}}
	TCtCommit     = &Table{Name: "ConntrackCommit", Doc: "new connections allowed by both sides are committed, once", Next: []string{"GatewayOut"}}
	TGatewayOut   = &Table{Name: "GatewayOut", Doc: "leaving the VPC: source NAT to the NAT gateway's or the instance's elastic IP (no public IP: drop)", Next: []string{"ExternalForwarding", "Output"}}
	TExternalFwd  = &Table{Name: "ExternalForwarding", Doc: "on the external network: destination host's MAC and port; a public IP of this bridge goes back in through GatewayIn (hairpin); other addresses drop (or go to the host port)", Next: []string{"Output"}}
	TOutput       = &Table{Name: "Output", Doc: "send to the port chosen by the lookup stages"}
)

// Pipeline is every table in order; IDs are assigned from it in init.
var Pipeline = []*Table{
	TClassifier, TPortSecurity, TARPResponder, TGatewayIn, TGatewayInSt, TL3Forwarding, TL2Lookup,
	TCtLookup, TCtState, TEgressNACL, TEgressSG, TIngressNACL, TIngressSG, TCtCommit,
	TGatewayOut, TExternalFwd, TOutput,
}

func init() {
	for i, t := range Pipeline {
		t.ID = uint8(i)
	}
}

// tableIDs numbers the tables as some pipeline order does: ids[t.ID] is the
// number of table t (indexed by its number in Pipeline). nil is Pipeline's own
// order. Compiling with other numbers is how a test sees what a release that
// inserts a table would install, without touching the shared tables.
type tableIDs []uint8

func (ids tableIDs) of(t *Table) uint8 {
	if ids == nil || int(t.ID) >= len(ids) { // flow-log tables keep their numbers
		return t.ID
	}
	return ids[t.ID]
}

// numberTables numbers Pipeline's tables by their positions in order (which
// may hold tables of its own, that only take their places).
func numberTables(order []*Table) tableIDs {
	ids := make(tableIDs, len(Pipeline))
	for i, t := range order {
		for _, p := range Pipeline {
			if p == t {
				ids[t.ID] = uint8(i)
			}
		}
	}
	return ids
}

// TableByName finds a pipeline or flow-log table.
func TableByName(name string) *Table {
	for _, t := range Pipeline {
		if t.Name == name {
			return t
		}
	}
	for _, t := range FlowLogTables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TableByID finds a pipeline or flow-log table by number; nil when none.
func TableByID(id uint8) *Table {
	if int(id) < len(Pipeline) {
		return Pipeline[id]
	}
	if i := int(id) - len(Pipeline); i < len(FlowLogTables) {
		return FlowLogTables[i]
	}
	return nil
}

// TableNames maps table IDs to names, for OVSDB Flow_Table rows: the
// pipeline's and the flow-log tables'.
func TableNames() map[uint8]string {
	m := make(map[uint8]string, len(Pipeline)+len(FlowLogTables))
	for _, t := range Pipeline {
		m[t.ID] = t.Name
	}
	for _, t := range FlowLogTables {
		m[t.ID] = t.Name
	}
	return m
}

func (t *Table) mayGoTo(next *Table) bool {
	for _, n := range t.Next {
		if n == next.Name {
			return true
		}
	}
	return false
}

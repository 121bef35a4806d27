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
	TClassifier   = &Table{Name: "Classifier", Doc: "in_port -> VPC and source port registers; unknown ports and VLAN tags drop", Next: []string{"PortSecurity"}}
	TPortSecurity = &Table{Name: "PortSecurity", Doc: "source MAC, IP and ARP sender must be the port's own", Next: []string{"ARPResponder"}}
	TARPResponder = &Table{Name: "ARPResponder", Doc: "ARP requests for known addresses answered here; no ARP is flooded", Next: []string{"L3Forwarding"}}
	TL3Forwarding = &Table{Name: "L3Forwarding", Doc: "the VPC router: answers ping to each subnet's .1, routes between subnets (MAC rewrite, TTL-1)", Next: []string{"L2Lookup"}}
	TL2Lookup     = &Table{Name: "L2Lookup", Doc: "destination MAC in this VPC -> destination port register", Next: []string{"Output"}}
	TOutput       = &Table{Name: "Output", Doc: "send to the port chosen by the lookup stages"}
)

// Pipeline is every table in order; IDs are assigned from it in init.
var Pipeline = []*Table{TClassifier, TPortSecurity, TARPResponder, TL3Forwarding, TL2Lookup, TOutput}

func init() {
	for i, t := range Pipeline {
		t.ID = uint8(i)
	}
}

// TableByName finds a pipeline table.
func TableByName(name string) *Table {
	for _, t := range Pipeline {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TableNames maps table IDs to names, for OVSDB Flow_Table rows.
func TableNames() map[uint8]string {
	m := make(map[uint8]string, len(Pipeline))
	for _, t := range Pipeline {
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

package reach

import (
	"fmt"
	"net/netip"

	"github.com/vpcctl/vpcctl/config"
)

// Cell is one (from, to) pair of an expectation, evaluated on the model.
type Cell struct {
	Expect  *config.Expectation `json:"-"`
	Index   int                 `json:"expect"` // position in expect:
	Path    string              `json:"path"`
	From    string              `json:"from"`
	To      string              `json:"to"`
	Dst     netip.Addr          `json:"dst"`
	Proto   string              `json:"proto"`
	Port    uint16              `json:"port,omitempty"`
	Want    bool                `json:"want"`
	Model   bool                `json:"model"`
	Decider Step                `json:"decided_by"`
	Live    *bool               `json:"live,omitempty"` // nil: not probed
	LiveErr string              `json:"live_error,omitempty"`
}

// OK says whether the cell is as expected, on the model and (when probed) live.
func (c *Cell) OK() bool {
	return c.Model == c.Want && (c.Live == nil || *c.Live == c.Want)
}

// Label is "from -> to proto/port".
func (c *Cell) Label() string {
	if c.Proto == config.ProtoICMP {
		return fmt.Sprintf("%s -> %s icmp", c.From, c.To)
	}
	return fmt.Sprintf("%s -> %s %s/%d", c.From, c.To, c.Proto, c.Port)
}

// Check evaluates every expectation of the topology on the model: one cell
// per (from, to) pair of its endpoint sets (an endpoint never to itself).
func (m *Model) Check() []*Cell {
	var cells []*Cell
	for i, e := range m.t.Expect {
		froms, _ := m.t.Endpoints(e.From)
		tos, _ := m.t.Endpoints(e.To)
		for _, f := range froms {
			for _, t := range tos {
				if f == t {
					continue
				}
				cells = append(cells, m.cell(i, e, f, t))
			}
		}
	}
	return cells
}

func (m *Model) cell(i int, e *config.Expectation, from, to string) *Cell {
	c := &Cell{Expect: e, Index: i, Path: e.Pos.Path(), From: from, To: to, Proto: e.Proto, Want: e.Reach == "yes"}
	if e.Proto != config.ProtoICMP {
		c.Port = uint16(e.Port)
	}
	src, _ := m.Endpoint(from)
	dst, _ := m.Endpoint(to)
	c.Dst = Destination(src, dst)
	p := Packet{Proto: e.Proto, Src: src.IP(), Dst: c.Dst}
	if p.Proto != config.ProtoICMP {
		p.SrcPort, p.DstPort = 40000, c.Port
	}
	conn := m.Connect(src, p)
	c.Model, c.Decider = conn.Reachable(), conn.Decider()
	if got := conn.Request.To; c.Model && got != nil && got.Name != to {
		// Another endpoint with the same address answered (overlapping VPCs).
		c.Model = false
		c.Decider = Step{Stage: "delivery", Object: objectOf(got), Line: lineOf(got),
			Detail: fmt.Sprintf("%s reaches %s at %s, not %s", from, got.Name, c.Dst, to)}
	}
	return c
}

// Destination is the address from uses to reach to: its private IP, or,
// from an external host, its elastic IP when it has one.
func Destination(from, to *Endpoint) netip.Addr {
	if to.Instance != nil && from.Kind == "host" && to.Instance.PublicAddr.IsValid() {
		return to.Instance.PublicAddr
	}
	return to.IP()
}

package flows

import (
	"fmt"
	"sort"
	"strings"

	of "github.com/contiv/libOpenflow/openflow13"
)

// Flow is one flow of the pipeline, with where it came from.
type Flow struct {
	Table    *Table
	Priority uint16
	Match    Match
	Actions  []Action // applied in order
	Goto     *Table   // optional goto_table after the actions; nil and no actions = drop
	Category Category
	// Owner is the config object the flow implements, as a field path
	// (e.g. "vpcs[prod].instances[web1]"); "" for fixed pipeline flows.
	Owner string
	// Cookie is filled by Compile from the category and the text.
	Cookie uint64
}

// ActionsString is the action list in ovs-ofctl syntax ("drop" when empty).
func (f *Flow) ActionsString() string {
	parts := make([]string, 0, len(f.Actions)+1)
	for _, a := range f.Actions {
		parts = append(parts, a.text)
	}
	if f.Goto != nil {
		parts = append(parts, "goto_table:"+f.Goto.Name)
	}
	if len(parts) == 0 {
		return "drop"
	}
	return strings.Join(parts, ",")
}

// String is the flow in the syntax of `ovs-ofctl dump-flows --names` (without
// cookie and counters), which is also what its cookie hashes.
func (f *Flow) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table=%s, priority=%d", f.Table.Name, f.Priority)
	if m := f.Match.String(); m != "" {
		b.WriteString(",")
		b.WriteString(m)
	}
	b.WriteString(" actions=")
	b.WriteString(f.ActionsString())
	return b.String()
}

// FlowMod is the OFPFC_ADD message that installs the flow.
func (f *Flow) FlowMod() (*of.FlowMod, error) {
	fm := of.NewFlowMod()
	fm.TableId = f.Table.ID
	fm.Priority = f.Priority
	fm.Cookie = f.Cookie
	m, err := f.Match.ofMatch()
	if err != nil {
		return nil, fmt.Errorf("flow %q: %w", f, err)
	}
	fm.Match = m
	if len(f.Actions) > 0 {
		ia := of.NewInstrApplyActions()
		for _, a := range f.Actions {
			oa, err := a.build()
			if err != nil {
				return nil, fmt.Errorf("flow %q: action %s: %w", f, a.text, err)
			}
			_ = ia.AddAction(oa, false)
		}
		fm.AddInstruction(ia)
	}
	if f.Goto != nil {
		fm.AddInstruction(of.NewInstrGotoTable(f.Goto.ID))
	}
	return fm, nil
}

// identity is what a flow's cookie hashes: its text with the number of every
// table it names (its own, goto_table, resubmit, ct(table=)) beside the name.
// Table names alone would not do: a release that inserts a table renumbers
// the later ones, and a flow whose table (or jump target) moved must get a
// new cookie, or reconcile would leave it where the old pipeline put it.
func (f *Flow) identity(ids tableIDs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table=%d/%s, priority=%d", ids.of(f.Table), f.Table.Name, f.Priority)
	if m := f.Match.String(); m != "" {
		b.WriteString(",")
		b.WriteString(m)
	}
	b.WriteString(" actions=")
	for i, a := range f.Actions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.text)
		if a.table != nil {
			fmt.Fprintf(&b, "@%d", ids.of(a.table))
		}
	}
	if f.Goto != nil {
		if len(f.Actions) > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "goto_table:%d/%s", ids.of(f.Goto), f.Goto.Name)
	}
	return b.String()
}

// Set is a compiled flow set, sorted by table, then priority (high first), then text.
type Set struct {
	Flows    []*Flow
	byCookie map[uint64]*Flow
}

// NewSet checks and indexes flows: every goto must follow the pipeline's
// declared edges, no two flows may occupy the same slot, and cookies are made
// unique (a 48-bit hash collision is resolved deterministically). Each flow's
// text is built once here: it is the sort key and the slot key.
func NewSet(flows []*Flow) (*Set, error) { return newSet(flows, nil) }

// newSet is NewSet with the tables numbered by ids (nil: Pipeline's order).
func newSet(flows []*Flow, ids tableIDs) (*Set, error) {
	type entry struct {
		f          *Flow
		text, slot string
	}
	es := make([]entry, len(flows))
	for i, f := range flows {
		m := f.Match.String()
		es[i] = entry{f, f.String(), fmt.Sprintf("%d/%d/%s", f.Table.ID, f.Priority, m)}
	}
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i].f, es[j].f
		if a.Table.ID != b.Table.ID {
			return a.Table.ID < b.Table.ID
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return es[i].text < es[j].text
	})
	s := &Set{Flows: make([]*Flow, len(es)), byCookie: make(map[uint64]*Flow, len(es))}
	slots := make(map[string]*Flow, len(es))
	for i, e := range es {
		f := e.f
		s.Flows[i] = f
		if f.Goto != nil && !f.Table.mayGoTo(f.Goto) {
			return nil, fmt.Errorf("flow %q: table %s may not go to %s", e.text, f.Table.Name, f.Goto.Name)
		}
		if prev, dup := slots[e.slot]; dup {
			return nil, fmt.Errorf("two flows in one slot: %q (%s) and %q (%s)", prev, prev.Owner, e.text, f.Owner)
		}
		slots[e.slot] = f
		text := f.identity(ids)
		c := makeCookie(f.Category, text)
		for s.byCookie[c] != nil {
			text += "#"
			c = makeCookie(f.Category, text)
		}
		f.Cookie = c
		s.byCookie[c] = f
	}
	return s, nil
}

// Lookup finds the flow with a cookie.
func (s *Set) Lookup(cookie uint64) *Flow { return s.byCookie[cookie] }

// Text is the whole set, one flow per line, as golden files hold it.
func (s *Set) Text() string {
	var b strings.Builder
	for _, f := range s.Flows {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

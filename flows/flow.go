package flows

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	// matchText caches Match.String() when the compiler already made it.
	matchText string
}

// ActionsString is the action list in ovs-ofctl syntax ("drop" when empty).
func (f *Flow) ActionsString() string { return string(f.appendActions(nil, nil, false)) }

// String is the flow in the syntax of `ovs-ofctl dump-flows --names` (without
// cookie and counters); with its table numbers, it is what its cookie hashes.
func (f *Flow) String() string { return string(f.appendText(nil, nil, false)) }

// appendText appends the flow's text; with numbers, every table it names
// (its own, goto_table, resubmit, ct(table=)) is written "number/name".
func (f *Flow) appendText(b []byte, ids tableIDs, numbers bool) []byte {
	b = append(b, "table="...)
	b = appendTable(b, f.Table, ids, numbers)
	b = append(b, ", priority="...)
	b = strconv.AppendUint(b, uint64(f.Priority), 10)
	if len(f.Match.items) > 0 {
		b = append(b, ',')
		b = f.Match.appendText(b)
	}
	b = append(b, " actions="...)
	return f.appendActions(b, ids, numbers)
}

func (f *Flow) appendActions(b []byte, ids tableIDs, numbers bool) []byte {
	if len(f.Actions) == 0 && f.Goto == nil {
		if numbers {
			return b // the cookie's input: no "drop" (cookies stay as they were)
		}
		return append(b, "drop"...)
	}
	for i, a := range f.Actions {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.appendText(b)
		if numbers && a.table != nil {
			b = append(b, '@')
			b = strconv.AppendUint(b, uint64(ids.of(a.table)), 10)
		}
	}
	if f.Goto != nil {
		if len(f.Actions) > 0 {
			b = append(b, ',')
		}
		b = append(b, "goto_table:"...)
		b = appendTable(b, f.Goto, ids, numbers)
	}
	return b
}

func appendTable(b []byte, t *Table, ids tableIDs, numbers bool) []byte {
	if numbers {
		b = strconv.AppendUint(b, uint64(ids.of(t)), 10)
		b = append(b, '/')
	}
	return append(b, t.Name...)
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
			oa, err := a.wire()
			if err != nil {
				return nil, fmt.Errorf("flow %q: action %s: %w", f, a, err)
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

// Set is a compiled flow set, sorted by table, then priority (high first), then text.
type Set struct {
	Flows    []*Flow
	byCookie map[uint64]*Flow
	// FlowLogPorts are the instances with flow logs, by OpenFlow port (nil
	// when none): what the flow-log collector needs to name an interface.
	FlowLogPorts map[uint32]PortOwner
}

// NewSet checks and indexes flows: every goto must follow the pipeline's
// declared edges, no two flows may occupy the same slot, and cookies are made
// unique (a 48-bit hash collision is resolved deterministically). Each flow's
// text is built once here: it is the sort key and, up to its actions, the slot key.
// Flows may share one Actions slice (merged security group clauses): a Set's
// flows are not to be changed.
func NewSet(flows []*Flow) (*Set, error) { return newSet(flows, nil) }

// newSet is NewSet with the tables numbered by ids (nil: Pipeline's order).
//
// A flow's cookie hashes its text with the number of every table it names
// beside the name. Table names alone would not do: a release that inserts a
// table renumbers the later ones, and a flow whose table (or jump target)
// moved must get a new cookie, or reconcile would leave it where the old
// pipeline put it.
func newSet(flows []*Flow, ids tableIDs) (*Set, error) {
	es := make([]setEntry, len(flows))
	// Texts, then cookies, are made in parallel over chunks of the flows
	// (each chunk its own buffer and memo); nothing else is shared.
	inParallel(len(flows), func(lo, hi int) {
		memo := map[actsKey]actsText{}
		var buf []byte
		for i := lo; i < hi; i++ {
			es[i], buf = newSetEntry(flows[i], memo, buf)
		}
	})
	// Cookies are hashed while the entries are sorted.
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		inParallel(len(es), func(lo, hi int) {
			var buf []byte
			for i := lo; i < hi; i++ {
				buf = es[i].cookieInput(buf[:0], ids)
				es[i].cookie = makeCookie(es[i].f.Category, buf)
			}
		})
	}()
	// Sorted by index: swapping entries (pointers and strings) would cost
	// the garbage collector's write barriers.
	order := make([]int32, len(es))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		x, y := &es[i], &es[j]
		a, b := x.f, y.f
		if a.Table.ID != b.Table.ID {
			return cmp.Compare(a.Table.ID, b.Table.ID)
		}
		if a.Priority != b.Priority {
			return cmp.Compare(b.Priority, a.Priority)
		}
		if c := strings.Compare(x.match, y.match); c != 0 {
			return c
		}
		return strings.Compare(x.acts, y.acts)
	})
	<-hashed
	s := &Set{Flows: make([]*Flow, len(es)), byCookie: make(map[uint64]*Flow, len(es))}
	var buf []byte
	for i, oi := range order {
		e := &es[oi]
		f := e.f
		s.Flows[i] = f
		if f.Goto != nil && !f.Table.mayGoTo(f.Goto) {
			return nil, fmt.Errorf("flow %q: table %s may not go to %s", f, f.Table.Name, f.Goto.Name)
		}
		// Sorted, two flows of one slot are neighbours.
		if i > 0 {
			if p := &es[order[i-1]]; p.f.Table == f.Table && p.f.Priority == f.Priority && p.match == e.match {
				return nil, fmt.Errorf("two flows in one slot: %q (%s) and %q (%s)", p.f, p.f.Owner, f, f.Owner)
			}
		}
		c := e.cookie
		if s.byCookie[c] != nil {
			// A 48-bit collision: the input with '#' appended until free.
			buf = e.cookieInput(buf[:0], ids)
			for s.byCookie[c] != nil {
				buf = append(buf, '#')
				c = makeCookie(f.Category, buf)
			}
		}
		f.Cookie = c
		s.byCookie[c] = f
	}
	return s, nil
}

// setEntry is a flow being put in a set. Its text is its slot (table,
// priority, match) and its actions; sorting by match, then actions, is
// sorting by text.
type setEntry struct {
	f           *Flow
	match, acts string
	// long is the cookie's stand-in for a long shared action list:
	// "sha256:" and the digest of its text, hashed once.
	long   string
	cookie uint64 // before collisions are resolved
}

// actsKey is an action list shared by flows (merged security group
// clauses); its text is made once per memo.
type actsKey struct {
	first *Action
	n     int
}

type actsText struct{ text, long string }

func newSetEntry(f *Flow, memo map[actsKey]actsText, buf []byte) (setEntry, []byte) {
	e := setEntry{f: f, match: f.matchText}
	if e.match == "" && len(f.Match.items) > 0 {
		buf = f.Match.appendText(buf[:0])
		e.match = string(buf)
	}
	k := actsKey{}
	if len(f.Actions) >= 8 && f.Goto == nil {
		k = actsKey{&f.Actions[0], len(f.Actions)}
	}
	if t, ok := memo[k]; ok && k.first != nil {
		e.acts, e.long = t.text, t.long
		return e, buf
	}
	buf = f.appendActions(buf[:0], nil, false)
	e.acts = string(buf)
	if k.first != nil {
		if k.n >= longActions {
			sum := sha256.Sum256(buf)
			e.long = "sha256:" + hex.EncodeToString(sum[:])
		}
		memo[k] = actsText{e.acts, e.long}
	}
	return e, buf
}

// cookieInput appends what the flow's cookie hashes: its text with table
// numbers (see appendText), a long shared action list by its digest.
func (e *setEntry) cookieInput(buf []byte, ids tableIDs) []byte {
	f := e.f
	buf = append(buf, "table="...)
	buf = appendTable(buf, f.Table, ids, true)
	buf = append(buf, ", priority="...)
	buf = strconv.AppendUint(buf, uint64(f.Priority), 10)
	if e.match != "" {
		buf = append(buf, ',')
		buf = append(buf, e.match...)
	}
	buf = append(buf, " actions="...)
	switch {
	case f.Goto != nil || slices.ContainsFunc(f.Actions, func(a Action) bool { return a.table != nil }):
		buf = f.appendActions(buf, ids, true)
	case e.long != "":
		buf = append(buf, e.long...)
	case len(f.Actions) > 0:
		buf = append(buf, e.acts...) // no table named: the same text
	}
	return buf
}

// inParallel runs fn over [0, n) in one chunk per processor (one chunk when
// n is small).
func inParallel(n int, fn func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if p < 2 || n < 4096 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + p - 1) / p
	for lo := 0; lo < n; lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+step, n))
	}
	wg.Wait()
}

// longActions is the length from which a flow's action list (then made of
// conjunctions of many rules, shared by flows) enters its cookie by digest.
const longActions = 32

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

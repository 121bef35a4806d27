package flowlog

import (
	"cmp"
	"slices"
	"time"

	"github.com/vpcctl/vpcctl/config"
)

// window collects one flow log's records for its current aggregation
// interval; flushing writes them, one line each, and starts the next.
type window struct {
	log   *config.FlowLog
	path  string // the file, resolved
	w     *writer
	start time.Time
	recs  map[recKey]*Record
}

// recKey is what one record aggregates: an interface, a direction, a
// tuple, and the action.
type recKey struct {
	iface  string
	dir    string
	t      tuple
	action string
}

// add counts packets and bytes seen between from and to into the record of
// key, making it from proto (its fixed fields) the first time.
func (w *window) add(k recKey, proto *Record, packets, bytes uint64, from, to time.Time, flags uint8) {
	r := w.recs[k]
	if r == nil {
		c := *proto
		r = &c
		r.Start, r.End = from, to
		w.recs[k] = r
	}
	r.Packets += packets
	r.Bytes += bytes
	r.TCPFlags |= flags
	if from.Before(r.Start) {
		r.Start = from
	}
	if to.After(r.End) {
		r.End = to
	}
}

// due reports whether the window's interval has passed at now.
func (w *window) due(now time.Time) bool {
	return !now.Before(w.start.Add(time.Duration(w.log.Interval) * time.Second))
}

// take returns the window's records in a stable order (start, interface,
// direction, addresses, ports) and starts a new interval at now.
func (w *window) take(now time.Time) []*Record {
	out := make([]*Record, 0, len(w.recs))
	for _, r := range w.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Record) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.InterfaceID, b.InterfaceID), cmp.Compare(a.Direction, b.Direction),
			a.Src.Compare(b.Src), a.Dst.Compare(b.Dst), cmp.Compare(a.SrcPort, b.SrcPort), cmp.Compare(a.DstPort, b.DstPort),
			cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Action, b.Action))
	})
	w.recs = map[recKey]*Record{}
	w.start = now
	return out
}

// line formats a record for the window's format.
func (w *window) line(r *Record) []byte {
	if w.log.Format == config.FlowLogJSON {
		return r.JSON()
	}
	return []byte(r.Text())
}

// counts are the last packet and byte counts read of one learned counting
// flow, to turn cumulative counters into per-interval deltas.
type counts struct {
	packets, bytes uint64
	at             time.Time // when they were read
	rule           string    // the accepting rule, found once
}

// delta is what a flow counted since prev (all of it when its counters went
// back: the flow expired and OVS learned it again).
func delta(prev counts, packets, bytes uint64) (uint64, uint64) {
	if packets < prev.packets || bytes < prev.bytes {
		return packets, bytes
	}
	return packets - prev.packets, bytes - prev.bytes
}

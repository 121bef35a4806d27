package flows

import (
	"net"
	"net/netip"
	"strings"

	of "github.com/contiv/libOpenflow/openflow13"
)

// Conntrack state bits (NXM_NX_CT_STATE).
const (
	CtNew uint32 = 1 << 0
	CtEst uint32 = 1 << 1
	CtRel uint32 = 1 << 2
	CtRpl uint32 = 1 << 3
	CtInv uint32 = 1 << 4
	CtTrk uint32 = 1 << 5
)

var ctNames = []struct {
	bit  uint32
	name string
}{{CtNew, "new"}, {CtEst, "est"}, {CtRel, "rel"}, {CtRpl, "rpl"}, {CtInv, "inv"}, {CtTrk, "trk"}}

// CtState matches conntrack state flags: set are required on, clear required off.
func (m Match) CtState(set, clear uint32) Match {
	var b strings.Builder
	for _, n := range ctNames {
		switch {
		case set&n.bit != 0:
			b.WriteString("+" + n.name)
		case clear&n.bit != 0:
			b.WriteString("-" + n.name)
		}
	}
	return m.with(item(&fCtState, u32(set), u32(set|clear), "ct_state="+b.String()))
}

// ConjID matches the id of a conjunctive match that was satisfied.
func (m Match) ConjID(id uint32) Match {
	return m.with(item(&fConjID, u32(id), nil, "conj_id="+itoa(uint64(id))))
}

// CT sends the packet through conntrack in the zone held by a register field;
// with commit it records the connection, with table it recirculates there.
func CT(commit bool, zone RegField, table *Table) Action {
	return ctAction(commit, table, "zone="+zone.String(), "", func(ct *of.NXActionConnTrack) (of.Action, error) {
		mf, err := of.FindFieldHeaderByName(zone.nxm(), false)
		if err != nil {
			return nil, err
		}
		return ct.ZoneRange(mf, of.NewNXRange(zone.Lo, zone.Hi)), nil
	})
}

// ctAction builds a ct() action: the flags and table common to every use,
// the zone (and NAT) part set by the caller.
func ctAction(commit bool, table *Table, zoneText, natText string, finish func(*of.NXActionConnTrack) (of.Action, error)) Action {
	parts := []string{}
	if commit {
		parts = append(parts, "commit")
	}
	if table != nil {
		parts = append(parts, "table="+table.Name)
	}
	parts = append(parts, zoneText)
	if natText != "" {
		parts = append(parts, natText)
	}
	a := act("ct("+strings.Join(parts, ",")+")", func() (of.Action, error) {
		ct := of.NewNXActionConnTrack()
		if commit {
			ct = ct.Commit()
		}
		if table != nil {
			ct = ct.Table(table.ID)
		}
		return finish(ct)
	})
	a.table = table
	return a
}

// Conjunction marks clause k (1-based) of n of conjunctive match id (its
// text and wire form are made when needed, see Action.appendText and wire).
func Conjunction(id uint32, k, n uint8) Action {
	return Action{conj: conjRef{id, k, n}}
}

// NATKind is the address translation a CTNAT action asks of conntrack.
type NATKind int

const (
	// NATReverse applies the translation of an existing connection only
	// (`nat` without arguments): replies are un-NATed, new packets pass untouched.
	NATReverse NATKind = iota + 1
	// NATSrc and NATDst set up a source / destination translation to one
	// address for a new connection, and apply the existing one otherwise.
	NATSrc
	NATDst
)

// CTNAT sends the packet through conntrack in a fixed zone with address
// translation; with table it recirculates there (the translated packet).
func CTNAT(commit bool, zone uint16, table *Table, kind NATKind, addr netip.Addr) Action {
	natText := "nat"
	switch kind {
	case NATSrc:
		natText = "nat(src=" + addr.String() + ")"
	case NATDst:
		natText = "nat(dst=" + addr.String() + ")"
	}
	return ctAction(commit, table, "zone="+itoa(uint64(zone)), natText, func(ct *of.NXActionConnTrack) (of.Action, error) {
		nat := of.NewNXActionCTNAT()
		switch kind {
		case NATSrc, NATDst:
			if kind == NATSrc {
				_ = nat.SetSNAT()
			} else {
				_ = nat.SetDNAT()
			}
			ip := net.IP(addr.AsSlice())
			nat.SetRangeIPv4Min(ip)
			nat.SetRangeIPv4Max(ip)
		}
		// NXActionCTNAT.Len pads its length to 8 bytes; call it before the
		// conntrack action adds it up (AddAction reads Len).
		nat.Len()
		return ct.ZoneImm(zone).AddAction(nat), nil
	})
}

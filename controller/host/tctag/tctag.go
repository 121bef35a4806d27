// Package tctag attaches the tc eBPF program that carries trunk instances to
// and from their bridge's one trunk port, tagged with their VLAN id.
//
// Why: ovs-vswitchd's userspace datapath polls every port it has on one
// thread, so each veth port slows every other (routed TCP at 1,000 veth ports
// fell to 0.01-0.03x of its 2-port rate, scripts/bench-ports.sh). A trunk
// instance's veth host end is no OVS port: the program pushes the
// instance's tag and redirects the frame into the trunk device (the OVS
// internal port's tap: ovs-vswitchd reads what is sent through it); frames
// ovs-vswitchd writes to the trunk arrive on the same device's ingress,
// where the same program pops the tag and redirects them to the instance's
// host end. The tag is pushed outside the instance's namespace, so an
// instance cannot choose it: frames it sends already tagged drop.
//
// One program and one map per bridge. The map (u32 -> u32) holds
//
//	0            -> ifindex of the trunk device
//	host ifindex -> VLAN id   (instance host end: tag with it)
//	tagKey|vid   -> host ifindex (trunk: untag and deliver)
//
// The program is attached (tc ingress, direct action) to the trunk device
// and to every trunk instance's host end; the kernel keeps it and its map
// alive through those filters, so vpcctl finds them again from the trunk's
// filter (program id -> map id) after a restart. ovs-vswitchd makes its
// taps persistent: the trunk device and its filter outlive an ovs-vswitchd
// restart.
package tctag

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FilterName names vpcctl's tc filters; a release that changes the program
// changes the name, and Ensure then replaces program and map.
const FilterName = "vpcctl-trunk-v1"

const (
	tagKey    = 0x80000000 // untag entries: tagKey|vid (ifindexes are below 2^31)
	trunkKey  = 0
	mapSize   = 2*4096 + 16
	filterPri = 1
	filterHnd = 1

	// struct __sk_buff offsets (uapi/linux/bpf.h).
	offVlanPresent = 20
	offVlanTCI     = 24
	offIfindex     = 40

	actShot = 2 // TC_ACT_SHOT
)

// program is the bytecode: look the receiving device up; an instance host
// end tags and goes to the trunk, the trunk untags and goes to the instance.
func program(m *ebpf.Map) asm.Instructions {
	var p asm.Instructions
	add := func(is ...asm.Instruction) { p = append(p, is...) }
	// lookup: the value at key R2 into dst, or jump to miss.
	lookup := func(dst asm.Register, miss string) {
		add(asm.StoreMem(asm.RFP, -4, asm.R2, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, miss),
			asm.LoadMem(dst, asm.R0, 0, asm.Word))
	}
	// redirect: to the device in R, egress; the verdict is the helper's.
	redirect := func(r asm.Register) {
		add(asm.Mov.Reg(asm.R1, r), asm.Mov.Imm(asm.R2, 0), asm.FnRedirect.Call(), asm.Return())
	}
	add(asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, offIfindex, asm.Word))
	lookup(asm.R7, "from_trunk") // R7 = the host end's VLAN id
	// From an instance: already tagged drops; else push its VLAN id.
	add(asm.LoadMem(asm.R2, asm.R6, offVlanPresent, asm.Word),
		asm.JNE.Imm(asm.R2, 0, "drop"),
		asm.Mov.Imm(asm.R2, trunkKey))
	lookup(asm.R8, "drop") // R8 = the trunk device
	add(asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0x0081), // htons(ETH_P_8021Q)
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.FnSkbVlanPush.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"))
	redirect(asm.R8)
	// From the trunk: untagged drops; the tag names the instance.
	add(asm.LoadMem(asm.R2, asm.R6, offVlanPresent, asm.Word).WithSymbol("from_trunk"),
		asm.JEq.Imm(asm.R2, 0, "drop"),
		asm.LoadMem(asm.R2, asm.R6, offVlanTCI, asm.Word),
		asm.And.Imm(asm.R2, 0xfff),
		asm.Or.Imm(asm.R2, math.MinInt32)) // tagKey (sign-extended; stored as 32 bits)
	lookup(asm.R7, "drop") // R7 = the instance's host end
	add(asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSkbVlanPop.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"))
	redirect(asm.R7)
	add(asm.Mov.Imm(asm.R0, actShot).WithSymbol("drop"), asm.Return())
	return p
}

// Trunk is a bridge's loaded program and map.
type Trunk struct {
	nl    *netlink.Handle // one netlink socket for all the filter reads and writes
	prog  *ebpf.Program
	m     *ebpf.Map
	id    int // program id, as tc filters report it
	index int // trunk device ifindex
}

// Close releases vpcctl's handles (the filters keep program and map).
func (t *Trunk) Close() {
	if t == nil {
		return
	}
	t.prog.Close()
	t.m.Close()
	t.nl.Close()
}

// Ensure finds the program on the trunk device (index), or loads a
// new one with an empty map and attaches it there. changed reports a load.
func Ensure(index int) (*Trunk, bool, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, false, err
	}
	if t, err := find(nl, index); err != nil || t != nil {
		if t == nil {
			nl.Close()
		}
		return t, false, err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "vpcctl_trunk", Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: mapSize})
	if err != nil {
		nl.Close()
		return nil, false, fmt.Errorf("trunk map: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "vpcctl_trunk", Type: ebpf.SchedCLS, License: "Dual MIT/GPL", Instructions: program(m)})
	if err != nil {
		m.Close()
		nl.Close()
		return nil, false, fmt.Errorf("trunk program: %w", err)
	}
	info, err := prog.Info()
	if err != nil {
		prog.Close()
		m.Close()
		nl.Close()
		return nil, false, err
	}
	id, _ := info.ID()
	t := &Trunk{nl: nl, prog: prog, m: m, id: int(id), index: index}
	if err := m.Put(uint32(trunkKey), uint32(index)); err != nil {
		t.Close()
		return nil, false, err
	}
	if err := t.attach(index); err != nil {
		t.Close()
		return nil, false, err
	}
	return t, true, nil
}

// Open finds the program on the trunk device without loading one:
// nil when there is none.
func Open(index int) (*Trunk, error) {
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	t, err := find(nl, index)
	if t == nil {
		nl.Close()
	}
	return t, err
}

// find opens the program and map of the filter on the trunk device;
// nil when there is none of this release.
func find(nl *netlink.Handle, index int) (*Trunk, error) {
	id, err := filterProg(nl, index)
	if err != nil || id == 0 {
		return nil, err
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return nil, fmt.Errorf("trunk program %d: %w", id, err)
	}
	info, err := prog.Info()
	if err != nil {
		prog.Close()
		return nil, err
	}
	ids, ok := info.MapIDs()
	if !ok || len(ids) != 1 {
		prog.Close()
		return nil, fmt.Errorf("trunk program %d: want one map, kernel reports %v", id, ids)
	}
	m, err := ebpf.NewMapFromID(ids[0])
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("trunk map %d: %w", ids[0], err)
	}
	t := &Trunk{nl: nl, prog: prog, m: m, id: id, index: index}
	var have uint32
	if err := m.Lookup(uint32(trunkKey), &have); err != nil || int(have) != index {
		if err := m.Put(uint32(trunkKey), uint32(index)); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// filterProg is the program id of vpcctl's filter on link index's tc
// ingress (0: none of this release).
func filterProg(nl *netlink.Handle, index int) (int, error) {
	fs, err := nl.FilterList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: index}}, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) { // no clsact qdisc
			return 0, nil
		}
		return 0, fmt.Errorf("tc filters of ifindex %d: %w", index, err)
	}
	for _, f := range fs {
		if b, ok := f.(*netlink.BpfFilter); ok && b.Name == FilterName {
			return b.Id, nil
		}
	}
	return 0, nil
}

// attach puts the program on link index's tc ingress (clsact), replacing
// whatever filter vpcctl had there.
func (t *Trunk) attach(index int) error {
	q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := t.nl.QdiscReplace(q); err != nil {
		return fmt.Errorf("clsact qdisc on ifindex %d: %w", index, err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: index, Parent: netlink.HANDLE_MIN_INGRESS, Handle: filterHnd, Protocol: unix.ETH_P_ALL, Priority: filterPri},
		Fd:          t.prog.FD(), Name: FilterName, DirectAction: true,
	}
	if err := t.nl.FilterReplace(f); err != nil {
		return fmt.Errorf("tc filter on ifindex %d: %w", index, err)
	}
	return nil
}

// Attached reports whether an instance host end (index) carries this
// trunk's program and is tagged with vid.
func (t *Trunk) Attached(index int, vid uint16) bool {
	return t.mapped(index, vid) && t.filtered(index)
}

// filtered: the host end's tc ingress holds this trunk's program (one
// netlink dump: 60-100 us, which 1,000 instances make felt).
func (t *Trunk) filtered(index int) bool {
	id, err := filterProg(t.nl, index)
	return err == nil && id == t.id
}

// mapped: the map tags index with vid and untags vid to index.
func (t *Trunk) mapped(index int, vid uint16) bool {
	var have uint32
	if err := t.m.Lookup(uint32(index), &have); err != nil || have != uint32(vid) {
		return false
	}
	return t.m.Lookup(uint32(tagKey|uint32(vid)), &have) == nil && have == uint32(index)
}

// Plug tags the instance host end index with vid: map entries both ways,
// then the program on its ingress. changed is false when all was there.
// trusted skips reading the host end's filter when the map is right: the
// caller vouches that the host end is the device it plugged before (see
// host.VethSpec.Recorded), and a filter lives and dies with its device.
func (t *Trunk) Plug(index int, vid uint16, trusted bool) (bool, error) {
	if vid == 0 || vid > 4094 {
		return false, fmt.Errorf("VLAN id %d out of 1..4094", vid)
	}
	if t.mapped(index, vid) && (trusted || t.filtered(index)) {
		return false, nil
	}
	// The filter first: map entries are what a trusted host end is judged
	// by, so they must never be there without it (an apply killed in
	// between). Until its entry is in, the program drops what it sends.
	if err := t.attach(index); err != nil {
		return false, err
	}
	if err := t.m.Put(uint32(index), uint32(vid)); err != nil {
		return false, fmt.Errorf("trunk map: %w", err)
	}
	if err := t.m.Put(uint32(tagKey|uint32(vid)), uint32(index)); err != nil {
		return false, fmt.Errorf("trunk map: %w", err)
	}
	return true, nil
}

// Prune removes map entries of host ends not in keep (index -> vid), which
// were deleted or re-tagged. It returns how many entries went.
func (t *Trunk) Prune(keep map[int]uint16) (int, error) {
	keys, vals, err := t.entries()
	if err != nil {
		return 0, err
	}
	var del []uint32
	for i, k := range keys {
		v := vals[i]
		switch {
		case k == trunkKey:
		case k&tagKey != 0:
			if vid, ok := keep[int(v)]; !ok || uint32(vid) != k&^tagKey {
				del = append(del, k)
			}
		default:
			if vid, ok := keep[int(k)]; !ok || uint32(vid) != v {
				del = append(del, k)
			}
		}
	}
	for _, k := range del {
		if err := t.m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, fmt.Errorf("trunk map: %w", err)
		}
	}
	return len(del), nil
}

// entries reads the whole map: in one batch syscall (one per entry was
// 15 ms for 1,000 instances), or by iteration where batches are refused.
func (t *Trunk) entries() (keys, vals []uint32, err error) {
	keys, vals = make([]uint32, mapSize), make([]uint32, mapSize)
	var cursor ebpf.MapBatchCursor
	n, err := t.m.BatchLookup(&cursor, keys, vals, nil)
	if err == nil || errors.Is(err, ebpf.ErrKeyNotExist) {
		return keys[:n], vals[:n], nil
	}
	keys, vals = keys[:0], vals[:0]
	var k, v uint32
	it := t.m.Iterate()
	for it.Next(&k, &v) {
		keys, vals = append(keys, k), append(vals, v)
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("trunk map: %w", err)
	}
	return keys, vals, nil
}

// Unplug removes vpcctl's tc filter (and the clsact qdisc holding it) from
// a host end that is no longer a trunk instance's.
func Unplug(index int) error {
	q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("remove clsact qdisc of ifindex %d: %w", index, err)
	}
	return nil
}

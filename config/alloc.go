package config

import "net/netip"

// allocate gives every instance without an explicit IP the lowest free
// address of its subnet from .4 up. Explicit addresses are taken first and
// the rest go in file order, so the result depends only on the file, and
// appending an instance never moves the others.
func allocate(t *Topology, r *report) {
	for _, v := range t.VPCs {
		used := map[netip.Addr]bool{}
		for _, i := range v.Instances {
			if i.Addr.IsValid() {
				used[i.Addr] = true
			}
		}
		for _, i := range v.Instances {
			s := v.Subnet(i.Subnet)
			if i.IP != "" || s == nil || !s.Prefix.IsValid() || s.Prefix.Bits() > 29 {
				continue // explicit, or its subnet was reported
			}
			a, ok := lowestFree(s.Prefix, used)
			if !ok {
				r.errAt(i.Pos, "subnet", "subnet %s (%s) has no free address left", s.Name, s.Prefix)
				continue
			}
			used[a] = true
			i.Addr = a
		}
	}
}

// lowestFree is the lowest address of p from .4 below the broadcast that is not used.
func lowestFree(p netip.Prefix, used map[netip.Addr]bool) (netip.Addr, bool) {
	last := u32(Broadcast(p))
	// At most len(used) addresses are skipped, so this stays short even in a /8.
	for a := u32(p.Addr()) + 4; a < last; a++ {
		if addr := fromU32(a); !used[addr] {
			return addr, true
		}
	}
	return netip.Addr{}, false
}

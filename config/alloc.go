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

// Reallocate gives the instances without an explicit IP their addresses again,
// preferring the address each already had: prior says, for a VPC, instance
// and subnet, the address recorded on the host (false: none). An address
// stays while the instance stays in its subnet and no explicit `ip:` claims
// it, so inserting, removing or reordering other instances never moves it
// (in AWS a private IP lasts for the life of the instance). Instances
// without a usable prior address get the lowest free ones, in file order.
// It cannot run out of addresses where Parse did not: the same number of
// instances share the same subnets.
func Reallocate(t *Topology, prior func(vpc, instance, subnet string) (netip.Addr, bool)) {
	for _, v := range t.VPCs {
		used := map[netip.Addr]bool{}
		for _, i := range v.Instances {
			if i.IP != "" {
				used[i.Addr] = true
			}
		}
		var rest []*Instance
		for _, i := range v.Instances {
			if i.IP != "" {
				continue
			}
			s := v.Subnet(i.Subnet)
			a, ok := prior(v.Name, i.Name, i.Subnet)
			if ok && !used[a] && usable(s.Prefix, a) {
				used[a] = true
				i.Addr = a
				continue
			}
			rest = append(rest, i)
		}
		for _, i := range rest {
			if a, ok := lowestFree(v.Subnet(i.Subnet).Prefix, used); ok {
				used[a] = true
				i.Addr = a
			}
		}
	}
}

// usable says whether a is an instance address of subnet p: inside it and
// not one of the reserved .0-.3 or the broadcast.
func usable(p netip.Prefix, a netip.Addr) bool {
	if !p.Contains(a) {
		return false
	}
	n := u32(a)
	return n >= u32(p.Addr())+4 && n < u32(Broadcast(p))
}

package ovsdb

import (
	"maps"
	"slices"
	"strings"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
)

// Ownership marker put in external_ids of every row vpcctl creates.
const (
	OwnerKey   = "vpcctl-owner"
	OwnerValue = "vpcctl"
)

// owned reports whether external_ids carry vpcctl's marker.
func owned(ids map[string]string) bool {
	return ids[OwnerKey] == OwnerValue
}

// withOwner returns a copy of ids with the ownership marker added.
func withOwner(ids map[string]string) map[string]string {
	out := make(map[string]string, len(ids)+1)
	maps.Copy(out, ids)
	out[OwnerKey] = OwnerValue
	return out
}

// mapSetMutations returns the mutations that make every key of want have
// its value in the map column field, given its current content cur. Keys of
// cur that want does not mention are left alone, so others (an operator, an
// other part of vpcctl) may keep their own keys there. Nil when nothing
// differs.
func mapSetMutations(field *map[string]string, cur, want map[string]string) []model.Mutation {
	return mapSyncMutations(field, cur, want, "")
}

// mapSyncMutations is mapSetMutations that also deletes the keys of cur
// starting with prefix that want lacks ("" deletes none).
func mapSyncMutations(field *map[string]string, cur, want map[string]string, prefix string) []model.Mutation {
	var stale, gone []string
	if prefix != "" {
		for k := range cur {
			if _, ok := want[k]; !ok && strings.HasPrefix(k, prefix) {
				gone = append(gone, k)
			}
		}
	}
	changed := map[string]string{}
	for k, v := range want {
		old, ok := cur[k]
		if ok && old == v {
			continue
		}
		if ok {
			stale = append(stale, k)
		}
		changed[k] = v
	}
	stale = append(stale, gone...)
	if len(changed) == 0 && len(stale) == 0 {
		return nil
	}
	var muts []model.Mutation
	if len(stale) > 0 {
		slices.Sort(stale)
		// An insert into a map never replaces an existing key: delete first.
		muts = append(muts, model.Mutation{Field: field, Mutator: ovsdb.MutateOperationDelete, Value: stale})
	}
	if len(changed) == 0 {
		return muts
	}
	return append(muts, model.Mutation{Field: field, Mutator: ovsdb.MutateOperationInsert, Value: changed})
}

// sameSet reports whether a and b hold the same elements, ignoring order.
func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[T]int, len(a))
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

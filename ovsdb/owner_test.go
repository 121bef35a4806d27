package ovsdb

import (
	"reflect"
	"testing"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
)

func TestMapSetMutations(t *testing.T) {
	var f map[string]string
	cur := map[string]string{"a": "1", "b": "2", "other": "x"}
	if m := mapSetMutations(&f, cur, map[string]string{"a": "1"}); m != nil {
		t.Errorf("no change: got %v", m)
	}
	got := mapSetMutations(&f, cur, map[string]string{"a": "1", "b": "3", "c": "4"})
	want := []model.Mutation{
		{Field: &f, Mutator: ovsdb.MutateOperationDelete, Value: []string{"b"}},
		{Field: &f, Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{"b": "3", "c": "4"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSameSet(t *testing.T) {
	for _, tc := range []struct {
		a, b []string
		want bool
	}{
		{nil, []string{}, true},
		{[]string{"x", "y"}, []string{"y", "x"}, true},
		{[]string{"x", "x"}, []string{"x", "y"}, false},
		{[]string{"x"}, []string{"x", "y"}, false},
	} {
		if got := sameSet(tc.a, tc.b); got != tc.want {
			t.Errorf("sameSet(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

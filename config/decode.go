package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// aliasAllowance is how many nodes aliases may add beyond those the file
// spells out: enough for any real reuse of anchors, and it stops "billion
// laughs" files before the walk expands them.
const aliasAllowance = 1 << 16

// tooLarge reports whether root, with aliases expanded, has more than
// budget nodes. A file spells out at most one node per byte.
func tooLarge(root *yaml.Node, budget int) bool {
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if budget--; budget < 0 {
			return true
		}
		for _, c := range deref(n).Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(root)
}

// walker checks the YAML nodes against the Go types (unknown keys, wrong
// types, missing required keys), records positions in each element's Pos,
// and sets every value from the node, so the result is what the file says.
type walker struct {
	r *report
}

// field describes one YAML key of a struct.
type field struct {
	index    int
	key      string
	required bool
	label    bool // names list elements in paths
}

// typeFields caches each struct type's fields: a file of 1,000 instances
// would otherwise read the same struct tags 1,000 times (a third of parsing).
var typeFields sync.Map // reflect.Type -> *structFields

type structFields struct {
	list  []field
	byKey map[string]field
}

// fieldsOf lists the YAML keys of struct type t, in declaration order.
func fieldsOf(t reflect.Type) []field { return structOf(t).list }

// structOf is t's fields, read once per type.
func structOf(t reflect.Type) *structFields {
	if sf, ok := typeFields.Load(t); ok {
		return sf.(*structFields)
	}
	fs := readFields(t)
	sf := &structFields{list: fs, byKey: make(map[string]field, len(fs))}
	for _, f := range fs {
		sf.byKey[f.key] = f
	}
	typeFields.Store(t, sf)
	return sf
}

// readFields reads the fields' tags.
func readFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		key := sf.Tag.Get("mapstructure")
		if key == "" || key == "-" {
			continue
		}
		opts := strings.Split(sf.Tag.Get("cfg"), ",")
		fs = append(fs, field{index: i, key: key, required: slices.Contains(opts, "required"), label: slices.Contains(opts, "label")})
	}
	return fs
}

// mapping walks a mapping node into struct v and sets v's Pos.
func (w *walker) mapping(n *yaml.Node, v reflect.Value, path string) {
	st := structOf(v.Type())
	fs, byKey := st.list, st.byKey
	pos := Pos{path: path, line: n.Line, keys: map[string]int{}}
	seen := map[string]*yaml.Node{} // key → value node
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.r.errorf(path, k.Line, "keys must be plain names, not %s", describe(k))
			continue
		}
		kp := joinPath(path, k.Value)
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			w.r.errorf(kp, k.Line, "YAML merge keys (<<) are not supported; write the keys out")
			continue
		}
		if l, dup := firstLine[k.Value]; dup {
			w.r.errorf(kp, k.Line, "duplicate key %q (first at line %d)", k.Value, l)
			continue
		}
		firstLine[k.Value] = k.Line
		f, ok := byKey[k.Value]
		if !ok {
			w.r.errorf(kp, k.Line, "unknown field %q%s", k.Value, suggest(k.Value, fs))
			continue
		}
		seen[k.Value] = val
		if w.value(val, v.Field(f.index), kp, pos.keys, k.Value) {
			pos.keys[k.Value] = k.Line
		}
	}
	for _, f := range fs {
		val, ok := seen[f.key]
		if !ok {
			// Only what the file says: a field set before (a reused value) is cleared.
			v.Field(f.index).SetZero()
		}
		if !f.required {
			continue
		}
		switch {
		case !ok || isNull(deref(val)):
			w.r.errorf(joinPath(path, f.key), n.Line, "missing required field %q", f.key)
		case v.Field(f.index).Kind() == reflect.String && v.Field(f.index).String() == "" && pos.has(f.key):
			w.r.errorf(joinPath(path, f.key), pos.KeyLine(f.key), "must not be empty")
		case v.Field(f.index).Kind() == reflect.Slice && v.Field(f.index).Len() == 0 && pos.has(f.key):
			w.r.errorf(joinPath(path, f.key), pos.KeyLine(f.key), "must not be empty")
		}
	}
	v.FieldByName("Pos").Set(reflect.ValueOf(pos))
}

// value walks node n into v. keys/key record the lines of list items. It
// returns false, after reporting and zeroing v, when n does not fit v's type.
func (w *walker) value(n *yaml.Node, v reflect.Value, path string, keys map[string]int, key string) bool {
	n = deref(n)
	if isNull(n) {
		v.SetZero()
		return true
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return w.mismatch(n, v, path, "a mapping")
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		w.mapping(n, v.Elem(), path)
		return true
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			return w.mismatch(n, v, path, "true or false")
		}
		v.Set(reflect.ValueOf(&b))
		return true
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.mismatch(n, v, path, "a list")
		}
		w.list(n, v, path, keys, key)
		return true
	case t.Kind() == reflect.String:
		// Any scalar is its text as written: `ports: 80` is "80" (a weakly
		// typed decoder would turn `name: 0x1f` into "31").
		if n.Kind != yaml.ScalarNode {
			return w.mismatch(n, v, path, "a string")
		}
		v.SetString(n.Value)
		return true
	case t.Kind() == reflect.Int:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			return w.mismatch(n, v, path, "an integer")
		}
		v.SetInt(i)
		return true
	case t.Kind() == reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			return w.mismatch(n, v, path, "true or false")
		}
		v.SetBool(b)
		return true
	}
	panic(fmt.Sprintf("config: field type %s has no YAML decoding", t)) // a programming error in types.go
}

// list walks a sequence into slice v. Empty items are reported and dropped,
// so later code never meets a nil element.
func (w *walker) list(n *yaml.Node, v reflect.Value, path string, keys map[string]int, key string) {
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	elem := v.Type().Elem()
	for i, item := range n.Content {
		d := deref(item)
		var p string
		if elem.Kind() == reflect.String {
			p = fmt.Sprintf("%s[%d]", path, i)
		} else {
			p = path + "[" + labelOf(d, elem, i) + "]"
		}
		if isNull(d) {
			w.r.errorf(p, d.Line, "empty list item")
			continue
		}
		ev := reflect.New(elem).Elem()
		if i < v.Len() {
			ev.Set(v.Index(i)) // keep what is there; the walk overwrites what the node sets
		}
		if !w.value(item, ev, p, nil, "") {
			continue
		}
		if elem.Kind() == reflect.String {
			keys[fmt.Sprintf("%s[%d]", key, out.Len())] = d.Line
		}
		out = reflect.Append(out, ev)
	}
	v.Set(out)
}

// labelOf names list element n in paths: its label key (name, or rule
// number) when that is usable, else its index.
func labelOf(n *yaml.Node, elem reflect.Type, i int) string {
	if n.Kind != yaml.MappingNode || elem.Kind() != reflect.Pointer || elem.Elem().Kind() != reflect.Struct {
		return strconv.Itoa(i)
	}
	for _, f := range fieldsOf(elem.Elem()) {
		if !f.label {
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, val := deref(n.Content[j]), deref(n.Content[j+1])
			if k.Kind != yaml.ScalarNode || k.Value != f.key || val.Kind != yaml.ScalarNode {
				continue
			}
			if nameRE.MatchString(val.Value) && elem.Elem().Field(f.index).Type.Kind() == reflect.String {
				return val.Value
			}
			var num int64
			if val.ShortTag() == "!!int" && val.Decode(&num) == nil {
				return strconv.FormatInt(num, 10)
			}
		}
	}
	return strconv.Itoa(i)
}

// mismatch reports a node of the wrong type and zeroes v.
func (w *walker) mismatch(n *yaml.Node, v reflect.Value, path, want string) bool {
	w.r.errorf(path, n.Line, "expected %s, got %s", want, describe(n))
	v.SetZero()
	return false
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names a node's type and value for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return strconv.Quote(v)
		case "!!int", "!!float":
			return "the number " + v
		case "!!bool":
			return v
		case "!!null":
			return "nothing"
		}
		return strconv.Quote(v)
	}
	return "an alias"
}

// suggest proposes the closest known key for a misspelt one, or lists them.
func suggest(key string, fs []field) string {
	best, dist := "", 3
	for _, f := range fs {
		if d := editDistance(key, f.key); d < dist {
			best, dist = f.key, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return " (expected one of: " + strings.Join(keys, ", ") + ")"
}

// editDistance is the Levenshtein distance, for short keys.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Load reads and validates the topology file at path; see Parse.
func Load(path string) (*Topology, []Warning, error) {
	// Read once and parse the bytes: the daemon reloads on change and must
	// validate exactly the content it then applies.
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading topology: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes, completes and validates a topology file. filename only
// labels the messages. When the file is invalid the error is an Errors with
// every problem, sorted by line, and the Topology is nil. Warnings are
// returned in both cases.
//
// On success defaults are applied (bridge, datapath, attach modes, the
// implicit `default` security group and `main` route table per VPC), every
// parsed field is set, and every instance has an address.
func Parse(data []byte, filename string) (*Topology, []Warning, error) {
	r := &report{file: filename}
	root, ok := parseNode(data, r)
	if !ok {
		return nil, nil, r.errs
	}

	if tooLarge(root, len(data)+aliasAllowance) {
		r.errorf("", 0, "the file expands to too many YAML nodes through aliases")
		return nil, nil, r.errs
	}

	// A strict walk over the YAML nodes decodes: it rejects unknown keys and
	// bent types, records positions, and sets every value exactly as written.
	t := &Topology{}
	w := &walker{r: r}
	w.mapping(root, reflect.ValueOf(t).Elem(), "")

	applyDefaults(t)
	validate(t, r)
	allocate(t, r)

	sortByLine(r.warns, func(w Warning) FieldError { return FieldError(w) })
	r.warns = slices.Compact(r.warns)
	if len(r.errs) > 0 {
		sortByLine(r.errs, func(e FieldError) FieldError { return e })
		// Aliased content repeats its problems at the anchor's lines.
		return nil, r.warns, slices.Compact(r.errs)
	}
	return t, r.warns, nil
}

// yamlLine extracts the line from yaml.v3 syntax errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseNode parses data as exactly one YAML document holding a mapping.
func parseNode(data []byte, r *report) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.errorf("", 0, "the file is empty; a topology starts with \"version: 1\"")
		} else {
			syntaxError(err, r)
		}
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		syntaxError(err, r)
		return nil, false
	default:
		r.errorf("", next.Line, "the file holds several YAML documents; a topology is exactly one")
		return nil, false
	}

	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	switch {
	case root.Kind == yaml.DocumentNode || isNull(root):
		r.errorf("", 0, "the file is empty; a topology starts with \"version: 1\"")
		return nil, false
	case root.Kind != yaml.MappingNode:
		r.errorf("", root.Line, "the file must be a mapping of topology keys (version, vpcs, ...), not %s", describe(deref(root)))
		return nil, false
	}
	return root, true
}

// syntaxError reports a YAML parse error, with its line when yaml gives one.
func syntaxError(err error, r *report) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		r.errorf("", line, "invalid YAML: %s", m[2])
		return
	}
	r.errorf("", 0, "invalid YAML: %s", msg)
}

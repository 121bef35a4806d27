package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a topology file, located by field path and line.
type FieldError struct {
	File string // file name as given to Parse or Load; may be empty
	Path string // field path, e.g. vpcs[prod].subnets[db].cidr; empty for the whole file
	Line int    // 1-based line in File; 0 when unknown (implicit objects)
	Msg  string
}

// Error formats the problem as "file:line: path: message".
func (e FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file. Callers detect invalid input
// (exit code 2) with errors.As(err, &config.Errors{}).
type Errors []FieldError

// Error prints one problem per line, sorted by line.
func (es Errors) Error() string {
	if len(es) == 0 {
		return "no errors"
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Warning is a problem that does not stop the file from being applied
// (SPEC §1: e.g. an unreachable elastic IP, a peering routed on one side).
type Warning FieldError

// String formats the warning like a FieldError.
func (w Warning) String() string { return FieldError(w).Error() }

// sortByLine orders problems by line; those without a line (implicit objects)
// go last, since they have no place in the file.
func sortByLine[T any](s []T, fe func(T) FieldError) {
	key := func(l int) int {
		if l <= 0 {
			return int(^uint(0) >> 1)
		}
		return l
	}
	slices.SortStableFunc(s, func(x, y T) int {
		a, b := fe(x), fe(y)
		return cmp.Or(cmp.Compare(key(a.Line), key(b.Line)), strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
}

// report collects problems for one file.
type report struct {
	file  string
	errs  Errors
	warns []Warning
}

// errorf records an error at path/line.
func (r *report) errorf(path string, line int, format string, args ...any) {
	r.errs = append(r.errs, FieldError{File: r.file, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// errAt records an error on one key of an element ("" for the element itself).
func (r *report) errAt(p Pos, key, format string, args ...any) {
	path, line := p.field(key)
	r.errorf(path, line, format, args...)
}

// warnAt records a warning on one key of an element.
func (r *report) warnAt(p Pos, key, format string, args ...any) {
	path, line := p.field(key)
	r.warns = append(r.warns, Warning{File: r.file, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

package ovsdb

import (
	"fmt"
	"strings"
	"unicode"
)

// validIfName checks name as Linux checks a network device name (bridges and
// ports are both devices): 1 to 15 bytes, no '/', ':' or white space.
func validIfName(kind, name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%s name %q: %w", kind, name, ErrInvalid)
	case len(name) > 15:
		return fmt.Errorf("%s name %q longer than 15 bytes: %w", kind, name, ErrInvalid)
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) }):
		return fmt.Errorf("%s name %q has '/', ':' or space: %w", kind, name, ErrInvalid)
	}
	return nil
}

// validTableName accepts what ovs-ofctl can parse back as a table name:
// letters, digits, '_', '-' and '.', not starting with a digit.
func validTableName(id uint8, name string) error {
	ok := name != "" && !unicode.IsDigit(rune(name[0])) &&
		!strings.ContainsFunc(name, func(r rune) bool {
			return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.", r)))
		})
	if !ok {
		return fmt.Errorf("table %d name %q: %w", id, name, ErrInvalid)
	}
	return nil
}

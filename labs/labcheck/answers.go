package labcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/vpcctl/vpcctl/flows"
	"go.yaml.in/yaml/v3"
)

// readAnswers reads a flat YAML mapping of answers, each value as written
// (0x905d stays "0x905d": YAML would make it a number).
func readAnswers(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("there is no %s yet: write your answers there", path)
	}
	if err != nil {
		return nil, err
	}
	return parseAnswers(data, path)
}

func parseAnswers(data []byte, path string) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]string{}
	if len(doc.Content) == 0 {
		return out, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want lines of `key: answer`", path)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: %s: want a single value", path, v.Line, k.Value)
		}
		out[k.Value] = strings.TrimSpace(v.Value)
	}
	return out, nil
}

// unknownAnswers names the keys of the answers file that no task of the
// lab asks for (a typo would otherwise read as "no answer yet").
func (s *State) unknownAnswers(l *Lab) string {
	var asked, unknown []string
	known := map[string]bool{}
	for _, t := range l.Tasks {
		if t.Answer != nil {
			asked = append(asked, t.Answer.Key)
			known[t.Answer.Key] = true
		}
	}
	for k := range s.answers {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	sort.Strings(unknown)
	return fmt.Sprintf("%s: no task asks for %s (the tasks ask for %s)", s.AnswersFile, strings.Join(unknown, ", "), strings.Join(asked, ", "))
}

// Answer is what the learner wrote for key.
func (s *State) Answer(key string) (string, error) {
	if s.answersErr != nil {
		return "", s.answersErr
	}
	v, ok := s.answers[key]
	if !ok || v == "" {
		return "", fmt.Errorf("%s has no `%s:` answer yet", s.AnswersFile, key)
	}
	return v, nil
}

// Kind says how an answer is compared with the truth.
type Kind int

const (
	text   Kind = iota // case and surrounding space do not matter
	number             // 0x905d, 36957 and 0x905D are the same
	ip                 // an IPv4 address
	mac                // an Ethernet address, any case
	table              // a flow table's name (or its number)
)

// same compares an answer with the truth.
func same(k Kind, got, want string) bool {
	got, want = strings.TrimSpace(got), strings.TrimSpace(want)
	switch k {
	case number:
		g, err1 := strconv.ParseUint(strings.ToLower(got), 0, 64)
		w, err2 := strconv.ParseUint(strings.ToLower(want), 0, 64)
		return err1 == nil && err2 == nil && g == w
	case ip:
		g, err1 := netip.ParseAddr(got)
		w, err2 := netip.ParseAddr(want)
		return err1 == nil && err2 == nil && g == w
	case mac:
		g, err1 := net.ParseMAC(got)
		w, err2 := net.ParseMAC(want)
		return err1 == nil && err2 == nil && g.String() == w.String()
	case table:
		got = strings.TrimPrefix(strings.ToLower(got), "table=")
		return strings.EqualFold(got, want) || got == tableNumber(want)
	}
	return strings.EqualFold(got, want)
}

// Answer is a task's question: the learner writes Key in the answers file,
// Truth finds the same thing on the live host, Kind says how they compare.
type Answer struct {
	Key   string
	Kind  Kind
	Truth func(*State) (string, error)
}

// check compares the learner's answer with the truth. A wrong answer is not
// corrected: the task's hint says where to look.
func (a *Answer) check(s *State) error {
	got, err := s.Answer(a.Key)
	if err != nil {
		return err
	}
	want, err := a.Truth(s)
	if err != nil {
		return fmt.Errorf("%s: cannot tell from the host: %v", a.Key, err)
	}
	if !same(a.Kind, got, want) {
		return fmt.Errorf("%s: %q is not what the bridge shows", a.Key, got)
	}
	return nil
}

// tableNumber is a pipeline table's number as text ("" when name is none).
func tableNumber(name string) string {
	if t := flows.TableByName(name); t != nil {
		return strconv.Itoa(int(t.ID))
	}
	return ""
}

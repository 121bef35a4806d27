package metrics

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCatalog: the catalog is exactly the registry's vpcctl_ metrics, with
// their types and labels, and README.md documents each.
func TestCatalog(t *testing.T) {
	m := New()
	// Give every vector a child and the flow source a dump, so that every
	// family is gathered.
	m.ObserveApply("start", 1, nil)
	m.SetInstances(map[string]int{"v": 1})
	m.SetFlowSource(func(context.Context) (FlowDump, error) {
		return FlowDump{Flows: []FlowSample{{Table: "T", Cookie: 1, Rules: []Rule{ruleA}}}}, nil
	}, nil)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{} // index in fams
	for i, f := range fams {
		if strings.HasPrefix(f.GetName(), "vpcctl_") {
			got[f.GetName()] = i
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range Catalog {
		idx, ok := got[i.Name]
		if !ok {
			t.Errorf("%s is in the catalog, not in the registry", i.Name)
			continue
		}
		f := fams[idx]
		delete(got, i.Name)
		if typ := strings.ToLower(f.GetType().String()); typ != i.Type {
			t.Errorf("%s: type %s, catalog says %s", i.Name, typ, i.Type)
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		want := slices.Clone(i.Labels)
		slices.Sort(want)
		if !slices.Equal(labels, want) {
			t.Errorf("%s: labels %v, catalog says %v", i.Name, labels, i.Labels)
		}
		if !bytes.Contains(readme, []byte("`"+i.Name+"`")) {
			t.Errorf("README.md does not document %s", i.Name)
		}
	}
	for name := range got {
		t.Errorf("%s is registered but not in the catalog", name)
	}
}

// TestOVSDBLog: libovsdb's connection messages (at debug level, under an
// info logger) drive the OVSDB metrics, and are not printed; other records
// pass as the wrapped handler wants. The messages are the ones libovsdb
// v0.7.0 logs.
func TestOVSDBLog(t *testing.T) {
	m := New()
	var out bytes.Buffer
	log := slog.New(m.WatchOVSDB(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))).With("component", "libovsdb")
	m.OVSDBConnected(true, false)
	log.Debug(ovsdbLostMsg, "endpoint", "unix:/x")
	if v := gauge(t, m, "vpcctl_ovsdb_connected"); v != 0 {
		t.Errorf("connected = %v after %q", v, ovsdbLostMsg)
	}
	log.Debug(ovsdbReconnectedMsg)
	if v, n := gauge(t, m, "vpcctl_ovsdb_connected"), gauge(t, m, "vpcctl_ovsdb_reconnects_total"); v != 1 || n != 1 {
		t.Errorf("connected = %v, reconnects = %v after %q; want 1, 1", v, n, ovsdbReconnectedMsg)
	}
	log.Info("kept")
	if s := out.String(); strings.Contains(s, "reconnect") || !strings.Contains(s, "msg=kept component=libovsdb") {
		t.Errorf("printed:\n%s", s)
	}

	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/ovn-org/libovsdb").Output()
	if err != nil {
		t.Fatalf("finding libovsdb's source: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "client", "client.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{ovsdbLostMsg, ovsdbReconnectedMsg} {
		if !bytes.Contains(src, []byte(`Info("`+msg+`"`)) {
			t.Errorf("libovsdb no longer logs %q: vpcctl_ovsdb_connected would not follow", msg)
		}
	}
}

func gauge(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	return gather(t, m).value(name, nil)
}

// gathered is a registry's samples: family name -> one entry per series,
// its labels and value (a histogram's value is its sample count).
type gathered map[string][]series

type series struct {
	labels map[string]string
	value  float64
}

func gather(t *testing.T, m *Metrics) gathered {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := gathered{}
	for _, f := range fams {
		for _, mm := range f.GetMetric() {
			s := series{labels: map[string]string{}}
			for _, l := range mm.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case mm.GetGauge() != nil:
				s.value = mm.GetGauge().GetValue()
			case mm.GetCounter() != nil:
				s.value = mm.GetCounter().GetValue()
			case mm.GetHistogram() != nil:
				s.value = float64(mm.GetHistogram().GetSampleCount())
			}
			out[f.GetName()] = append(out[f.GetName()], s)
		}
	}
	return out
}

// value is the value of the series of name with these labels (-1: none).
func (g gathered) value(name string, labels map[string]string) float64 {
	for _, s := range g[name] {
		if len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && s.labels[k] == v
		}
		if match {
			return s.value
		}
	}
	return -1
}

func (g gathered) count(name string) int { return len(g[name]) }

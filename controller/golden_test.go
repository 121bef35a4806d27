package controller

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/flows"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenFlows compiles every lab's topology (and the SPEC example) with the
// port numbers a fresh bridge would get, and compares the sorted flows with
// testdata/<name>.flows. Regenerate with: go test ./controller -run Golden -update
func TestGoldenFlows(t *testing.T) {
	files, _ := filepath.Glob("../labs/*/topology.yaml")
	files = append(files, "../config/testdata/spec-example.yaml")
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file))
		if strings.HasSuffix(file, "spec-example.yaml") {
			name = "spec-example"
		}
		topo, _, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		// A topology across hosts compiles once per host (its bridge).
		locals := []string{""}
		if len(topo.Hosts) > 0 {
			locals = nil
			for _, h := range topo.Hosts {
				locals = append(locals, h.Name)
			}
		}
		for _, local := range locals {
			name := name
			if local != "" {
				name += "@" + local
			}
			goldenCase(t, file, name, local)
		}
	}
}

// goldenCase is one bridge of TestGoldenFlows: file compiled as host local.
func goldenCase(t *testing.T, file, name, local string) {
	t.Run(name, func(t *testing.T) {
		topo, _, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := setLocalHost(topo, local); err != nil {
			t.Fatal(err)
		}
		set := compileFresh(t, topo)
		var b strings.Builder
		for _, f := range set.Flows {
			b.WriteString(f.String())
			if f.Owner != "" {
				b.WriteString("  # " + f.Owner)
			}
			b.WriteByte('\n')
		}
		golden := filepath.Join("testdata", name+".flows")
		if *update {
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./controller -run Golden -update creates it)", err)
		}
		if string(want) != b.String() {
			t.Errorf("flows of %s differ from %s; if intended, run with -update\n--- got\n%s", file, golden, b.String())
		}
	})
}

// compileFresh compiles a topology with the port numbers a fresh bridge would get.
func compileFresh(t *testing.T, topo *config.Topology) *flows.Set {
	t.Helper()
	return compileOnPorts(t, topo, nil)
}

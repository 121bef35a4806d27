package tests

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

type planOut struct {
	NewBridge       bool     `json:"new_bridge"`
	AddInstances    []string `json:"add_instances"`
	RemoveInstances []string `json:"remove_instances"`
	AddFlows        []struct {
		Owner string `json:"owner"`
		Flows []struct {
			Cookie uint64 `json:"cookie"`
		} `json:"flows"`
	} `json:"add_flows"`
	DeleteFlows []struct {
		Owner string `json:"owner"`
		Flows []struct {
			Cookie uint64 `json:"cookie"`
		} `json:"flows"`
	} `json:"delete_flows"`
	Added   int `json:"flows_added"`
	Deleted int `json:"flows_deleted"`
}

func planJSON(t *testing.T, file string) planOut {
	t.Helper()
	out := mustVpcctl(t, "plan", "-o", "json", "-f", file)
	var p planOut
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	return p
}

// installedCookies is the set of vpcctl flows on the bridge, by ovs-ofctl.
func installedCookies(t *testing.T, br string) map[uint64]bool {
	t.Helper()
	m := map[uint64]bool{}
	for _, r := range flowRows(t, br) {
		m[r.Cookie] = true
	}
	return m
}

// `plan` changes nothing, says "nothing to change" for an applied file, and
// for an edited file lists exactly the flows and instances the next apply
// changes.
func TestPlanMatchesApply(t *testing.T) {
	br := uniqueBridge("tp")
	file := labTopology(t, "02-security", br)
	if p := planJSON(t, file); !p.NewBridge || len(p.AddInstances) != 3 || p.Added == 0 {
		t.Errorf("plan of a new bridge: %+v", p)
	}
	if sh(t, "ovs-vsctl br-exists "+br).Code == 0 {
		t.Fatal("plan created the bridge")
	}
	mustVpcctl(t, "apply", "-f", file)
	if out := mustVpcctl(t, "plan", "-f", file); !strings.Contains(out, "nothing to change") {
		t.Errorf("plan of the applied file:\n%s", out)
	}
	// Edit: a rule's port, one instance removed, one added.
	labSed(t, file,
		`s|ports: "8080", source: 0.0.0.0/0}|ports: "8081", source: 0.0.0.0/0}|`,
		`/name: client, subnet: public/d`,
		`/from: client,/d`) // its expectations go with it
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "    instances:\n", "    instances:\n      - {name: extra1, subnet: private}\n", 1)
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	before := installedCookies(t, br)
	p := planJSON(t, file)
	if after := installedCookies(t, br); len(after) != len(before) {
		t.Fatalf("plan changed the flows: %d -> %d", len(before), len(after))
	}
	if strings.Join(p.AddInstances, ",") != "extra1" || strings.Join(p.RemoveInstances, ",") != "client" {
		t.Errorf("plan: add %v remove %v, want extra1 and client", p.AddInstances, p.RemoveInstances)
	}
	planAdd, planDel := map[uint64]bool{}, map[uint64]bool{}
	for _, g := range p.AddFlows {
		for _, f := range g.Flows {
			planAdd[f.Cookie] = true
		}
	}
	for _, g := range p.DeleteFlows {
		for _, f := range g.Flows {
			planDel[f.Cookie] = true
		}
	}
	s := applyJSON(t, file)
	after := installedCookies(t, br)
	var added, deleted []uint64
	for c := range after {
		if !before[c] {
			added = append(added, c)
		}
	}
	for c := range before {
		if !after[c] {
			deleted = append(deleted, c)
		}
	}
	if s.FlowsAdded != p.Added || s.FlowsDeleted != p.Deleted || len(added) != len(planAdd) || len(deleted) != len(planDel) {
		t.Errorf("plan said +%d -%d; apply did +%d -%d; the bridge changed +%d -%d", p.Added, p.Deleted, s.FlowsAdded, s.FlowsDeleted, len(added), len(deleted))
	}
	sort.Slice(added, func(i, j int) bool { return added[i] < added[j] })
	for _, c := range added {
		if !planAdd[c] {
			t.Errorf("apply added flow %#x that plan did not list", c)
		}
	}
	for _, c := range deleted {
		if !planDel[c] {
			t.Errorf("apply deleted flow %#x that plan did not list", c)
		}
	}
	if out := mustVpcctl(t, "plan", "-f", file); !strings.Contains(out, "nothing to change") {
		t.Errorf("plan right after apply:\n%s", out)
	}
}

package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

type checkCell struct {
	Expect  int    `json:"expect"`
	From    string `json:"from"`
	To      string `json:"to"`
	Want    bool   `json:"want"`
	Model   bool   `json:"model"`
	Live    *bool  `json:"live"`
	LiveErr string `json:"live_error"`
	Decider struct {
		Stage  string `json:"stage"`
		Object string `json:"object"`
	} `json:"decided_by"`
}

func checkLive(t *testing.T, file string) ([]checkCell, int) {
	t.Helper()
	r := vpcctl(t, "check", "--live", "-o", "json", "-f", file)
	var cells []checkCell
	if err := json.Unmarshal([]byte(r.Stdout), &cells); err != nil {
		t.Fatalf("check --live: exit %d: %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	return cells, r.Code
}

// `check --live` on lab 02: every cell as expected on the model and by real
// probes; turning the NACL's return rule into a deny makes exactly the
// cells that need it fail, naming that rule.
func TestCheckLiveLab02(t *testing.T) {
	br := uniqueBridge("tk")
	file := labTopology(t, "02-security", br)
	mustVpcctl(t, "apply", "-f", file)
	waitTCP(t, br, "client", "10.0.1.10", 8080)
	cells, code := checkLive(t, file)
	if code != 0 || len(cells) < 8 {
		t.Fatalf("check --live: exit %d, %d cells: %+v", code, len(cells), cells)
	}
	for _, c := range cells {
		if c.Live == nil || *c.Live != c.Want || c.Model != c.Want || c.LiveErr != "" {
			t.Errorf("cell %s -> %s: want %v, model %v, live %v %s", c.From, c.To, c.Want, c.Model, c.Live, c.LiveErr)
		}
	}
	if out := mustVpcctl(t, "check", "-f", file); !strings.Contains(out, "as expected, 0 failed") {
		t.Errorf("check (model only) output:\n%s", out)
	}

	labSed(t, file, `s|{rule: 100, protocol: tcp, ports: "1024-65535", destination: 10.0.1.0/24, action: allow}|{rule: 100, protocol: tcp, ports: "1024-65535", destination: 10.0.1.0/24, action: deny}|`)
	mustVpcctl(t, "apply", "-f", file)
	cells, code = checkLive(t, file)
	if code != 1 {
		t.Errorf("check --live with the return rule denied: exit %d, want 1", code)
	}
	var failed []string
	for _, c := range cells {
		ok := c.Model == c.Want && c.Live != nil && *c.Live == c.Want
		if ok {
			continue
		}
		failed = append(failed, c.From+"->"+c.To)
		if c.Model || *c.Live || c.Decider.Object != "vpcs[shop].network_acls[private-acl].egress[100]" {
			t.Errorf("failed cell %s -> %s: model %v live %v, decided by %+v; want both no, by egress rule 100", c.From, c.To, c.Model, *c.Live, c.Decider)
		}
	}
	if strings.Join(failed, ",") != "web1->db1" {
		t.Errorf("failed cells %v, want exactly web1->db1 (the only allowed flow whose replies leave the private subnet)", failed)
	}
	if r := vpcctl(t, "validate", "-f", file); r.Code != 0 || !strings.Contains(r.Stderr, "expect[2]") || !strings.Contains(r.Stderr, "egress[100]") {
		t.Errorf("validate should warn about expect[2] and name egress rule 100: exit %d\n%s", r.Code, r.Stderr)
	}
}

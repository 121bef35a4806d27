package flows

import (
	"encoding/hex"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func handTopology() *Topology {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	return &Topology{VPCs: []VPC{{
		Name: "lab", ID: 7, CIDR: netip.MustParsePrefix("10.0.0.0/16"), RouterMAC: mac("02:00:00:00:00:01"),
		Subnets: []Subnet{{
			Name: "web", ID: 1, CIDR: netip.MustParsePrefix("10.0.1.0/24"), Router: netip.MustParseAddr("10.0.1.1"),
			Instances: []Instance{
				{Name: "a", Port: 1, MAC: mac("02:00:00:00:00:0a"), IP: netip.MustParseAddr("10.0.1.4")},
				{Name: "b", Port: 2, MAC: mac("02:00:00:00:00:0b"), IP: netip.MustParseAddr("10.0.1.5")},
			},
		}},
	}}}
}

// checkGolden compares text with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./flows -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("flows differ from %s (run with -update if intended):\n--- want\n%s--- got\n%s", path, want, got)
	}
}

func TestCompileGolden(t *testing.T) {
	set, err := Compile(handTopology())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "hand.flows", set.Text())
}

func TestEveryFlowEncodes(t *testing.T) {
	set, err := Compile(handTopology())
	if err != nil {
		t.Fatal(err)
	}
	checkEncodes(t, set)
}

// checkEncodes: every flow of set has a wire form carrying its cookie.
func checkEncodes(t *testing.T, set *Set) {
	t.Helper()
	for _, f := range set.Flows {
		fm, err := f.FlowMod()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fm.MarshalBinary(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !IsOurs(fm.Cookie) || CookieCategory(fm.Cookie) != f.Category {
			t.Errorf("%s: cookie %#x does not carry marker and category %v", f, fm.Cookie, f.Category)
		}
	}
}

func TestCompileIsDeterministicAndCookiesUnique(t *testing.T) {
	a, err := Compile(handTopology())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Compile(handTopology())
	if a.Text() != b.Text() {
		t.Fatal("two compilations differ")
	}
	seen := map[uint64]bool{}
	for i, f := range a.Flows {
		if f.Cookie != b.Flows[i].Cookie {
			t.Errorf("cookie of %s not stable", f)
		}
		if seen[f.Cookie] {
			t.Errorf("duplicate cookie %#x", f.Cookie)
		}
		seen[f.Cookie] = true
	}
}

func TestEveryTableDropsOnMiss(t *testing.T) {
	set, _ := Compile(&Topology{})
	for _, tb := range Pipeline {
		found := false
		for _, f := range set.Flows {
			if f.Table == tb && f.Priority == PrioMiss && f.Match.String() == "" && f.ActionsString() == "drop" {
				found = true
			}
		}
		if !found {
			t.Errorf("table %s has no dropping table-miss flow", tb.Name)
		}
	}
}

func TestBadGotoIsRejected(t *testing.T) {
	_, err := NewSet([]*Flow{{Table: TOutput, Priority: 1, Goto: TClassifier}})
	if err == nil || !strings.Contains(err.Error(), "may not go to") {
		t.Fatalf("want a pipeline-order error, got %v", err)
	}
}

func TestDuplicateSlotIsRejected(t *testing.T) {
	m := Match{}.InPort(1)
	_, err := NewSet([]*Flow{{Table: TClassifier, Priority: 5, Match: m}, {Table: TClassifier, Priority: 5, Match: m, Goto: TPortSecurity}})
	if err == nil {
		t.Fatal("two flows in the same slot were accepted")
	}
}

// ct_clear is built by hand (libOpenflow has no type for it): the bytes
// OVS expects, as ovs-ofctl encodes "actions=ct_clear".
func TestCtClearWire(t *testing.T) {
	a, err := CtClear().build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "ffff001000002320002b000000000000" // experimenter, len 16, Nicira, subtype 43, padding
	if got := hex.EncodeToString(b); got != want || a.Len() != 16 {
		t.Errorf("ct_clear = %s (len %d), want %s", got, a.Len(), want)
	}
}

package host

import (
	"strings"
	"testing"
)

// TestEnsureVeths: many instances at once, from nothing (namespaces made
// too); a second run changes nothing; drift inside one namespace is repaired
// for that one only; a broken pair is held when asked, then re-created;
// DeleteNamespaces removes namespaces and veths together.
func TestEnsureVeths(t *testing.T) {
	requireRoot(t)
	br := testBridge(t)
	specs := []VethSpec{instanceSpec(br, "a", 4), instanceSpec(br, "b", 5), instanceSpec(br, "c", 6)}
	nss := make([]string, len(specs))
	for i, s := range specs {
		nss[i] = s.Namespace
	}
	t.Cleanup(func() {
		if err := DeleteNamespaces(nss, 2); err != nil {
			t.Errorf("DeleteNamespaces: %v", err)
		}
	})
	ensure := func(hold func(int) bool) ([]VethReport, []bool) {
		t.Helper()
		reps, created, errs := EnsureVeths(specs, 2, hold)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", specs[i].Namespace, err)
			}
		}
		return reps, created
	}

	reps, created := ensure(nil)
	for i, s := range specs {
		if !created[i] || !reps[i].Changed || !reps[i].Recreated {
			t.Errorf("%s from nothing: created %v, %+v", s.Namespace, created[i], reps[i])
		}
		checkPlumbed(t, s)
	}
	reps, created = ensure(nil)
	for i, s := range specs {
		if created[i] || reps[i] != (VethReport{}) {
			t.Errorf("%s again: created %v, %+v; want nothing", s.Namespace, created[i], reps[i])
		}
	}

	// Drift in b: its address gone, its link down.
	tool(t, "ip", "-n", specs[1].Namespace, "addr", "flush", "dev", "eth0")
	tool(t, "ip", "-n", specs[1].Namespace, "link", "set", "eth0", "down")
	reps, _ = ensure(nil)
	for i, s := range specs {
		if want := i == 1; reps[i].Changed != want || reps[i].Recreated {
			t.Errorf("%s after drift in b: %+v", s.Namespace, reps[i])
		}
		checkPlumbed(t, s)
	}

	// c's pair broken (host end gone): held, then re-created.
	if err := DeleteVeth(specs[2].HostName); err != nil {
		t.Fatal(err)
	}
	reps, _ = ensure(func(i int) bool { return i == 2 })
	if !reps[2].Held || reps[2].Changed || reps[0].Held || reps[1].Held {
		t.Errorf("broken c, held: %+v", reps)
	}
	reps, _ = ensure(func(int) bool { return false })
	if !reps[2].Recreated || reps[0].Changed || reps[1].Changed {
		t.Errorf("broken c, not held: %+v", reps)
	}
	checkPlumbed(t, specs[2])

	if err := DeleteNamespaces(nss, 2); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if NamespaceExists(s.Namespace) {
			t.Errorf("%s still there", s.Namespace)
		}
		if out := tool(t, "ip", "-o", "link"); strings.Contains(out, " "+s.HostName+"@") || strings.Contains(out, " "+s.HostName+":") {
			t.Errorf("host veth %s still there", s.HostName)
		}
	}
}

package host

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestNamespaceLifecycle(t *testing.T) {
	requireRoot(t)
	br := testBridge(t)
	a, b := NamespaceName(br, "a"), NamespaceName(br, "b")
	t.Cleanup(func() { DeleteNamespace(a); DeleteNamespace(b) })

	for _, ns := range []string{a, b} {
		created, err := EnsureNamespace(ns)
		if err != nil || !created {
			t.Fatalf("EnsureNamespace(%s) = %v, %v", ns, created, err)
		}
	}
	if !NamespaceExists(a) || NamespaceExists(NamespaceName(br, "zz")) {
		t.Fatal("NamespaceExists is wrong")
	}
	if created, err := EnsureNamespace(a); err != nil || created {
		t.Fatalf("second EnsureNamespace = %v, %v; want no change", created, err)
	}
	if out := tool(t, "ip", "netns", "list"); !strings.Contains(out, a) || !strings.Contains(out, b) {
		t.Fatalf("ip netns list does not show them:\n%s", out)
	}
	// The namespace is a real, separate one: only lo inside.
	if out := tool(t, "ip", "-n", a, "-o", "link"); strings.Count(out, "\n") != 0 || !strings.Contains(out, "lo:") {
		t.Errorf("links in new namespace: %s", out)
	}
	got, err := ListNamespaces(br)
	if err != nil || !slices.Equal(got, []string{a, b}) {
		t.Fatalf("ListNamespaces(%s) = %v, %v", br, got, err)
	}
	all, err := ListNamespaces("")
	if err != nil || !slices.Contains(all, a) {
		t.Fatalf("ListNamespaces(\"\") = %v, %v", all, err)
	}
	if other, _ := ListNamespaces(br + "x"); len(other) != 0 {
		t.Errorf("ListNamespaces of another bridge = %v", other)
	}

	// A stale plain file (interrupted run) is replaced, not mistaken for a namespace.
	stale := NamespaceName(br, "c")
	if err := os.WriteFile(namespacePath(stale), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if created, err := EnsureNamespace(stale); err != nil || !created {
		t.Fatalf("EnsureNamespace over stale file = %v, %v", created, err)
	}
	t.Cleanup(func() { DeleteNamespace(stale) })

	for _, ns := range []string{a, b, stale} {
		if err := DeleteNamespace(ns); err != nil {
			t.Fatal(err)
		}
		if err := DeleteNamespace(ns); err != nil {
			t.Fatalf("second DeleteNamespace: %v", err)
		}
	}
	if got, _ := ListNamespaces(br); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
	if _, err := EnsureNamespace("bad/name"); err == nil {
		t.Error("accepted a name with a slash")
	}
}

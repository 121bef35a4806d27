package host

import (
	"testing"

	"github.com/vishvananda/netlink"
)

// TestDeleteFormerVeths: an instance's veth host end goes (and its peer,
// the namespace's eth0, with it); a device of such a name that is no veth
// (an internal port in the host namespace) and a missing name are left.
func TestDeleteFormerVeths(t *testing.T) {
	requireRoot(t)
	br := testBridge(t)
	spec := instanceSpec(br, "a", 4)
	newNamespace(t, br, "a")
	if _, err := EnsureVeth(spec); err != nil {
		t.Fatal(err)
	}
	// A persistent tap, as ovs-vswitchd makes an internal port.
	other := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: HostVethName(br, "b")}, Mode: netlink.TUNTAP_MODE_TAP}
	if err := netlink.LinkAdd(other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(other) })

	names := []string{spec.HostName, other.Name, HostVethName(br, "c")}
	deleted, errs := DeleteFormerVeths(names)
	for i, want := range []bool{true, false, false} {
		if errs[i] != nil || deleted[i] != want {
			t.Errorf("%s: deleted %v, error %v; want deleted %v", names[i], deleted[i], errs[i], want)
		}
	}
	if _, err := netlink.LinkByName(spec.HostName); err == nil {
		t.Errorf("host end %s still there", spec.HostName)
	}
	if _, err := netlink.LinkByName(other.Name); err != nil {
		t.Errorf("%s (a tap) was deleted: %v", other.Name, err)
	}
	nsh, fd, err := nsHandles(spec.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	defer nsh.Close()
	if l, _ := linkIfExists(nsh, "eth0"); l != nil {
		t.Errorf("eth0 still in %s", spec.Namespace)
	}
	// Nothing left to delete: a second call changes nothing.
	if deleted, errs := DeleteFormerVeths(names); deleted[0] || errs[0] != nil {
		t.Errorf("second call: deleted %v, error %v", deleted[0], errs[0])
	}
}

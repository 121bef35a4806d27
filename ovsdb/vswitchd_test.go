package ovsdb

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWithVswitchd runs ovs-vswitchd (userspace datapath) on the test
// database: ofport assignment, ofport_request, a failed port, and the
// table names as ovs-ofctl shows them.
func TestWithVswitchd(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	o.startVswitchd(t)

	br := name("tb")
	spec := BridgeSpec{Name: br, DatapathType: "netdev", TableNames: map[uint8]string{0: "classifier", 1: "ingress_acl"}}
	if err := c.EnsureBridge(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got, err := c.WaitOfport(ctx, br); err != nil || got != 65534 {
		t.Fatalf("WaitOfport(local port) = %d, %v; want 65534", got, err)
	}
	dts, err := c.DatapathTypes(ctx)
	if err != nil || !slices.Contains(dts, "netdev") {
		t.Errorf("DatapathTypes = %v, %v; want netdev among them", dts, err)
	}
	t.Logf("datapath_types with no openvswitch kernel module: %v", dts)

	internal := PortSpec{Name: name("ip"), Type: "internal", OfportRequest: 7}
	if err := c.EnsurePort(ctx, br, internal); err != nil {
		t.Fatal(err)
	}
	if got, err := c.WaitOfport(ctx, internal.Name); err != nil || got != 7 {
		t.Errorf("WaitOfport(internal, ofport_request 7) = %d, %v; want 7", got, err)
	}
	ports, err := c.ListPorts(ctx, br)
	if err != nil || len(ports) != 1 || ports[0].Ofport != 7 {
		t.Errorf("ListPorts = %+v, %v; want ofport 7", ports, err)
	}

	missing := PortSpec{Name: name("nd"), OfportRequest: 8} // no such network device
	if err := c.EnsurePort(ctx, br, missing); err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitOfport(ctx, missing.Name)
	if !errors.Is(err, ErrPortFailed) || !strings.Contains(err.Error(), "No such device") {
		t.Errorf("WaitOfport(missing device) = %v; want ErrPortFailed with Interface.error", err)
	}

	// Table names, as ovs-ofctl sees them through the bridge's mgmt socket.
	mgmt := "unix:" + filepath.Join(o.dir, br+".mgmt")
	ofctl := mustLook(t, "ovs-ofctl")
	for _, flow := range []string{"table=classifier,priority=1,actions=goto_table:ingress_acl", "table=ingress_acl,priority=1,actions=drop"} {
		if out, err := exec.Command(ofctl, "-O", "OpenFlow13", "add-flow", mgmt, flow).CombinedOutput(); err != nil {
			t.Fatalf("ovs-ofctl add-flow with a table name: %v: %s", err, out)
		}
	}
	out, err := exec.Command(ofctl, "-O", "OpenFlow13", "--names", "dump-flows", mgmt).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl dump-flows: %v: %s", err, out)
	}
	t.Logf("dump-flows --names:\n%s", out)
	// ovs-ofctl quotes names that have characters other than letters and digits.
	if !strings.Contains(string(out), "table=classifier") || !strings.Contains(string(out), `table="ingress_acl"`) {
		t.Errorf("dump-flows --names does not show the table name:\n%s", out)
	}

	// An interface that is not there at all is not worth waiting for.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.WaitOfport(short, "nosuchport"); !errors.Is(err, ErrNotFound) {
		t.Errorf("WaitOfport(no such interface) = %v, want ErrNotFound", err)
	}
}

// TestWaitOfportWithoutVswitchd: nothing assigns ofports, the wait ends
// with the deadline and says why.
func TestWaitOfportWithoutVswitchd(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	br := name("tb")
	if err := c.EnsureBridge(ctx, BridgeSpec{Name: br, DatapathType: "netdev"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err := c.WaitOfport(short, br)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "is it running") {
		t.Errorf("WaitOfport without ovs-vswitchd = %v", err)
	}
}

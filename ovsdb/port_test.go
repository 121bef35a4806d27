package ovsdb

import (
	"errors"
	"testing"
)

func TestPortAddListDelete(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	br := name("tb")
	if err := c.EnsureBridge(ctx, BridgeSpec{Name: br, DatapathType: "netdev"}); err != nil {
		t.Fatal(err)
	}
	p := PortSpec{Name: name("vp"), ExternalIDs: map[string]string{"vpcctl-instance": "web1", "vpcctl-vpc": "prod"}, OfportRequest: 10}
	oneWrite(t, c, "EnsurePort", func() error { return c.EnsurePort(ctx, br, p) })
	noWrites(t, c, "EnsurePort again", func() error { return c.EnsurePort(ctx, br, p) })
	c2 := o.connect(t)
	noWrites(t, c2, "EnsurePort from a new client", func() error { return c2.EnsurePort(ctx, br, p) })

	if got := o.vsctl(t, "list-ports", br); got != p.Name {
		t.Errorf("list-ports = %q", got)
	}
	for col, want := range map[string]string{"ofport_request": "10", "type": `""`, "external_ids:vpcctl-instance": "web1", "external_ids:vpcctl-owner": "vpcctl"} {
		if got := o.vsctl(t, "get", "Interface", p.Name, col); got != want {
			t.Errorf("Interface %s = %s, want %s", col, got, want)
		}
	}
	if got := o.vsctl(t, "get", "Port", p.Name, "external_ids:vpcctl-vpc"); got != "prod" {
		t.Errorf("Port vpcctl-vpc = %s", got)
	}

	// A foreign port on vpcctl's bridge is neither listed nor touched.
	foreign := name("fp")
	o.vsctl(t, "add-port", br, foreign, "--", "set", "Interface", foreign, "type=internal")
	seen(t, "the foreign port", func() bool { _, err := c.port(ctx, foreign); return err == nil })
	ports, err := c.ListPorts(ctx, br)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 || ports[0].Name != p.Name || ports[0].OfportRequest != 10 ||
		ports[0].Ofport != 0 || ports[0].ExternalIDs["vpcctl-instance"] != "web1" {
		t.Errorf("ListPorts = %+v", ports)
	}
	if err := c.EnsurePort(ctx, br, PortSpec{Name: foreign, Type: "internal"}); !errors.Is(err, ErrNotOwned) {
		t.Errorf("EnsurePort on a foreign port: %v, want ErrNotOwned", err)
	}
	if err := c.DeletePort(ctx, br, foreign); !errors.Is(err, ErrNotOwned) {
		t.Errorf("DeletePort on a foreign port: %v, want ErrNotOwned", err)
	}

	// Changes: one write, only what differs.
	p.ExternalIDs = map[string]string{"vpcctl-instance": "web2"}
	p.OfportRequest = 11
	p.Type = "internal"
	oneWrite(t, c, "EnsurePort changed", func() error { return c.EnsurePort(ctx, br, p) })
	if got := o.vsctl(t, "get", "Interface", p.Name, "ofport_request", "type", "external_ids:vpcctl-instance", "external_ids:vpcctl-vpc"); got != "11\ninternal\nweb2\nprod" {
		t.Errorf("Interface after change = %q", got)
	}
	// OfportRequest 0 keeps the number asked for earlier.
	p.OfportRequest = 0
	noWrites(t, c, "EnsurePort with no ofport preference", func() error { return c.EnsurePort(ctx, br, p) })

	// The same name on another vpcctl bridge is a conflict.
	other := name("tb")
	if err := c.EnsureBridge(ctx, BridgeSpec{Name: other, DatapathType: "netdev"}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsurePort(ctx, other, p); !errors.Is(err, ErrConflict) {
		t.Errorf("EnsurePort on another bridge: %v, want ErrConflict", err)
	}
	if err := c.EnsurePort(ctx, br, PortSpec{Name: br}); !errors.Is(err, ErrInvalid) {
		t.Errorf("EnsurePort of the local port: %v, want ErrInvalid", err)
	}
	if err := c.EnsurePort(ctx, "nosuchbr", p); !errors.Is(err, ErrNotFound) {
		t.Errorf("EnsurePort on a missing bridge: %v, want ErrNotFound", err)
	}

	oneWrite(t, c, "DeletePort", func() error { return c.DeletePort(ctx, br, p.Name) })
	noWrites(t, c, "DeletePort again", func() error { return c.DeletePort(ctx, br, p.Name) })
	if got := o.vsctl(t, "list-ports", br); got != foreign {
		t.Errorf("list-ports after delete = %q, want only the foreign port", got)
	}
	if got := o.vsctl(t, "--columns=name", "--format=csv", "--no-headings", "find", "Interface", "name="+p.Name); got != "" {
		t.Errorf("Interface row left after DeletePort: %q", got)
	}
	if ports, err := c.ListPorts(ctx, br); err != nil || len(ports) != 0 {
		t.Errorf("ListPorts after delete = %v, %v", ports, err)
	}
}

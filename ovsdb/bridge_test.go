package ovsdb

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func testSpec(br string) BridgeSpec {
	return BridgeSpec{
		Name:         br,
		DatapathType: "netdev",
		ExternalIDs:  map[string]string{"vpcctl-file": "/etc/vpcctl/lab.yaml"},
		TableNames:   map[uint8]string{0: "classifier", 10: "routing", 20: "egress"},
		Controller:   "punix:/run/vpcctl/" + br + ".sock",
	}
}

func TestEnsureBridgeCreatesOnceThenNoWrites(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	br := name("tb")
	spec := testSpec(br)

	// Fresh database: one write creates the Open_vSwitch row, one the bridge.
	if err := c.EnsureBridge(ctx, spec); err != nil {
		t.Fatalf("EnsureBridge: %v", err)
	}
	if n := c.Writes(); n != 2 {
		t.Errorf("first EnsureBridge: %d writes, want 2 (init + bridge)", n)
	}
	noWrites(t, c, "second EnsureBridge", func() error { return c.EnsureBridge(ctx, spec) })

	// A new client (a new vpcctl run) sees the same: nothing to do.
	c2 := o.connect(t)
	noWrites(t, c2, "EnsureBridge from a new client", func() error { return c2.EnsureBridge(ctx, spec) })

	// What ovs-vsctl sees.
	for col, want := range map[string]string{
		"fail_mode":                    "secure",
		"datapath_type":                "netdev",
		"protocols":                    "[OpenFlow13, OpenFlow14, OpenFlow15]",
		"external_ids:vpcctl-owner":    "vpcctl",
		"external_ids:vpcctl-file":     `"/etc/vpcctl/lab.yaml"`,
		"other_config:disable-in-band": `"true"`,
	} {
		if got := o.vsctl(t, "get", "Bridge", br, col); got != want {
			t.Errorf("Bridge %s = %s, want %s", col, got, want)
		}
	}
	if got := o.vsctl(t, "get-controller", br); got != spec.Controller {
		t.Errorf("controller = %q, want %q", got, spec.Controller)
	}
	if got := o.vsctl(t, "get", "Interface", br, "type"); got != "internal" {
		t.Errorf("local interface type = %s, want internal", got)
	}
	for _, tbl := range []string{"Port", "Interface"} {
		if got := o.vsctl(t, "get", tbl, br, "external_ids:vpcctl-owner"); got != "vpcctl" {
			t.Errorf("%s owner = %s", tbl, got)
		}
	}
	if got := o.vsctl(t, "--columns=name", "--format=csv", "--no-headings", "list", "Flow_Table"); !sameSet(strings.Fields(got), []string{"classifier", "routing", "egress"}) {
		t.Errorf("Flow_Table names = %q", got)
	}
	if got := o.vsctl(t, "get", "Bridge", br, "flow_tables:10"); got == "" {
		t.Errorf("flow_tables:10 not set")
	}

	list, err := c.ListBridges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != br || list[0].FailMode != "secure" ||
		!maps.Equal(list[0].TableNames, spec.TableNames) ||
		!slices.Equal(list[0].Controllers, []string{spec.Controller}) ||
		list[0].ExternalIDs["vpcctl-file"] != "/etc/vpcctl/lab.yaml" {
		t.Errorf("ListBridges = %+v", list)
	}
	if ports, err := c.ListPorts(ctx, br); err != nil || len(ports) != 0 {
		t.Errorf("ListPorts of a new bridge = %v, %v; want none (the local port is not listed)", ports, err)
	}
}

func TestEnsureBridgeUpdatesOnlyWhatDiffers(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	br := name("tb")
	spec := testSpec(br)
	if err := c.EnsureBridge(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// Someone else's external id key on the bridge is left alone.
	o.vsctl(t, "br-set-external-id", br, "operator-note", "hello")
	seen(t, "the operator's external id", func() bool {
		b, err := c.bridge(ctx, br)
		return err == nil && b.ExternalIDs["operator-note"] == "hello"
	})

	spec.ExternalIDs = map[string]string{"vpcctl-file": "/srv/other.yaml"}
	spec.TableNames = map[uint8]string{0: "classifier", 10: "route", 30: "output"} // rename 10, drop 20, add 30
	spec.Protocols = []string{"OpenFlow13", "OpenFlow15"}
	spec.Controller = "tcp:127.0.0.1:6653"
	oneWrite(t, c, "changed EnsureBridge", func() error { return c.EnsureBridge(ctx, spec) })
	noWrites(t, c, "same EnsureBridge", func() error { return c.EnsureBridge(ctx, spec) })

	if got := o.vsctl(t, "br-get-external-id", br, "operator-note"); got != "hello" {
		t.Errorf("foreign external id = %q, want kept", got)
	}
	if got := o.vsctl(t, "br-get-external-id", br, "vpcctl-file"); got != "/srv/other.yaml" {
		t.Errorf("vpcctl-file = %q", got)
	}
	if got := o.vsctl(t, "get-controller", br); got != "tcp:127.0.0.1:6653" {
		t.Errorf("controller = %q", got)
	}
	if got := o.vsctl(t, "--columns=target", "--bare", "list", "Controller"); got != "tcp:127.0.0.1:6653" {
		t.Errorf("Controller rows = %q, want only the new one", got)
	}
	if got := o.vsctl(t, "--columns=name", "--format=csv", "--no-headings", "list", "Flow_Table"); !sameSet(strings.Fields(got), []string{"classifier", "route", "output"}) {
		t.Errorf("Flow_Table names = %q", got)
	}
	if got := o.vsctl(t, "get", "Bridge", br, "protocols"); got != "[OpenFlow13, OpenFlow15]" {
		t.Errorf("protocols = %s", got)
	}

	// fail_mode changed behind vpcctl's back is set back to secure.
	o.vsctl(t, "set-fail-mode", br, "standalone")
	seen(t, "fail_mode standalone", func() bool {
		b, err := c.bridge(ctx, br)
		return err == nil && b.FailMode != nil && *b.FailMode == "standalone"
	})
	oneWrite(t, c, "EnsureBridge after fail_mode change", func() error { return c.EnsureBridge(ctx, spec) })
	if got := o.vsctl(t, "get-fail-mode", br); got != "secure" {
		t.Errorf("fail_mode = %s", got)
	}

	// The bridge's own port removed behind vpcctl's back is put back.
	o.vsctl(t, "--", "--id=@p", "get", "Port", br, "--", "remove", "Bridge", br, "ports", "@p")
	seen(t, "the local port removed", func() bool {
		b, err := c.bridge(ctx, br)
		return err == nil && len(b.Ports) == 0
	})
	oneWrite(t, c, "EnsureBridge after local port removal", func() error { return c.EnsureBridge(ctx, spec) })
	if got := o.vsctl(t, "get", "Interface", br, "type"); got != "internal" {
		t.Errorf("local interface type = %s", got)
	}

	// SetController, then nothing to do.
	oneWrite(t, c, "SetController", func() error { return c.SetController(ctx, br, "punix:/tmp/x.sock") })
	noWrites(t, c, "same SetController", func() error { return c.SetController(ctx, br, "punix:/tmp/x.sock") })
	oneWrite(t, c, "SetController none", func() error { return c.SetController(ctx, br, "") })
	if got := o.vsctl(t, "get-controller", br); got != "" {
		t.Errorf("controller = %q, want none", got)
	}
}

func TestForeignBridgeIsRefused(t *testing.T) {
	o := startOVSDB(t)
	foreign := name("fb")
	o.vsctl(t, "init")
	o.vsctl(t, "add-br", foreign, "--", "set", "Bridge", foreign, "datapath_type=netdev")
	before := o.vsctl(t, "list", "Bridge", foreign)
	c := o.connect(t)
	ctx := ctxT(t)

	for what, fn := range map[string]func() error{
		"EnsureBridge":  func() error { return c.EnsureBridge(ctx, BridgeSpec{Name: foreign, DatapathType: "netdev"}) },
		"DeleteBridge":  func() error { return c.DeleteBridge(ctx, foreign) },
		"EnsurePort":    func() error { return c.EnsurePort(ctx, foreign, PortSpec{Name: "p1", Type: "internal"}) },
		"DeletePort":    func() error { return c.DeletePort(ctx, foreign, "p1") },
		"SetController": func() error { return c.SetController(ctx, foreign, "tcp:127.0.0.1:6653") },
	} {
		_, err := c.ListPorts(ctx, foreign)
		if !errors.Is(err, ErrNotOwned) {
			t.Errorf("ListPorts: err = %v, want ErrNotOwned", err)
		}
		if err := fn(); !errors.Is(err, ErrNotOwned) {
			t.Errorf("%s on a foreign bridge: err = %v, want ErrNotOwned", what, err)
		}
	}
	if n := c.Writes(); n != 0 {
		t.Errorf("%d writes on a foreign bridge, want 0", n)
	}
	if after := o.vsctl(t, "list", "Bridge", foreign); after != before {
		t.Errorf("foreign bridge changed:\n%s\n->\n%s", before, after)
	}
	if list, err := c.ListBridges(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListBridges = %v, %v; want no vpcctl bridge", list, err)
	}
}

func TestDeleteBridgeRemovesEverything(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	br, keep := name("tb"), name("tk")
	if err := c.EnsureBridge(ctx, testSpec(br)); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureBridge(ctx, BridgeSpec{Name: keep, DatapathType: "netdev", TableNames: map[uint8]string{0: "keep"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsurePort(ctx, br, PortSpec{Name: br + "p", Type: "internal", OfportRequest: 5}); err != nil {
		t.Fatal(err)
	}
	oneWrite(t, c, "DeleteBridge", func() error { return c.DeleteBridge(ctx, br) })
	noWrites(t, c, "DeleteBridge again", func() error { return c.DeleteBridge(ctx, br) })

	if got := o.vsctl(t, "list-br"); got != keep {
		t.Errorf("bridges = %q, want only %s", got, keep)
	}
	for tbl, want := range map[string]string{"Port": keep, "Interface": keep, "Flow_Table": "keep", "Controller": ""} {
		if got := o.vsctl(t, "--columns="+map[bool]string{true: "target", false: "name"}[tbl == "Controller"],
			"--bare", "list", tbl); got != want {
			t.Errorf("%s rows after DeleteBridge = %q, want %q", tbl, got, want)
		}
	}
	if _, err := c.ListPorts(ctx, br); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListPorts of a deleted bridge: %v, want ErrNotFound", err)
	}
}

func TestSetOpenvSwitchOtherConfig(t *testing.T) {
	o := startOVSDB(t)
	o.vsctl(t, "init")
	o.vsctl(t, "set", "Open_vSwitch", ".", "other_config:foreign=1")
	c := o.connect(t)
	ctx := ctxT(t)
	oneWrite(t, c, "set", func() error { return c.SetOpenvSwitchOtherConfig(ctx, "userspace-tso-enable", "true") })
	noWrites(t, c, "same set", func() error { return c.SetOpenvSwitchOtherConfig(ctx, "userspace-tso-enable", "true") })
	oneWrite(t, c, "change", func() error { return c.SetOpenvSwitchOtherConfig(ctx, "userspace-tso-enable", "false") })
	if got := o.vsctl(t, "get", "Open_vSwitch", ".", "other_config"); got != `{foreign="1", userspace-tso-enable="false"}` {
		t.Errorf("other_config = %s", got)
	}
	if dts, err := c.DatapathTypes(ctx); err != nil || len(dts) != 0 {
		t.Errorf("DatapathTypes without ovs-vswitchd = %v, %v; want none", dts, err)
	}
}

func TestBridgeSpecValidation(t *testing.T) {
	o := startOVSDB(t)
	c := o.connect(t)
	ctx := ctxT(t)
	for _, spec := range []BridgeSpec{
		{Name: ""},
		{Name: "this-name-is-too-long"},
		{Name: "br/0"},
		{Name: "br0", DatapathType: "auto"},
		{Name: "br0", TableNames: map[uint8]string{255: "x"}},
		{Name: "br0", TableNames: map[uint8]string{1: "9lives"}},
		{Name: "br0", TableNames: map[uint8]string{1: "a b"}},
		{Name: "br0", Protocols: []string{"OpenFlow16"}},
	} {
		if err := c.EnsureBridge(ctx, spec); !errors.Is(err, ErrInvalid) {
			t.Errorf("EnsureBridge(%+v) = %v, want ErrInvalid", spec, err)
		}
	}
	if n := c.Writes(); n != 0 {
		t.Errorf("%d writes for invalid specs", n)
	}
}

package config

import (
	"strings"
	"testing"
)

// Pinned, the file says the addresses the topology gave (also ones the
// allocator would not choose now), and parses to the same addresses.
func TestPinAddresses(t *testing.T) {
	src := hostsBase + "      - {name: web, subnet: a, host: h1}  # the web server\n      - {name: db, subnet: a, host: h2, ip: 10.1.1.50}\n"
	top, _, err := parse(t, src)
	if err != nil {
		t.Fatal(err)
	}
	top.VPC("prod").Instance("web").Addr = top.VPC("prod").Instance("web").Addr.Next().Next() // as a cluster recorded it
	want := top.VPC("prod").Instance("web").Addr.String()
	out, err := PinAddresses([]byte(src), top)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "# the web server") {
		t.Errorf("comment lost:\n%s", out)
	}
	again, _, err := Parse(out, "pinned.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := again.VPC("prod").Instance("web").Addr.String(); got != want {
		t.Errorf("web: %s, want %s\n%s", got, want, out)
	}
	if got := again.VPC("prod").Instance("db").Addr.String(); got != "10.1.1.50" {
		t.Errorf("db: %s", got)
	}
}

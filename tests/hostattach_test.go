package tests

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Addresses of TestExternalAttachHost.
const (
	hostNATIP = "203.0.113.10" // the NAT gateway of private
	hostEIP   = "203.0.113.20" // web1's elastic IP
	hostPort  = "18080"        // the host's own server, on external.gateway only
)

// hostAttachTopology: external.attach: host and no internet host: the host
// namespace itself is the only thing on the external network.
func hostAttachTopology(script, dir string) string {
	run := func(name string) string { return inetServe(script, dir, name) }
	return `external:
  cidr: ` + extCIDR + `
  gateway: ` + extGateway + `
  attach: host
vpcs:
` + twoTierVPC("edge", "10.70", hostNATIP, `      - {name: web1, subnet: public, ip: 10.70.1.10, public_ip: `+hostEIP+`, security_groups: [web], run: `+run("web1")+`}
      - {name: app1, subnet: private, ip: 10.70.2.10, security_groups: [web], run: `+run("app1")+`}
`)
}

// TestExternalAttachHost checks SPEC's `external.attach: host`: an internal
// port in the host namespace holds external.gateway; the host reaches an
// elastic IP through it, an instance behind the NAT gateway reaches a server
// of the host at the gateway address, packets for other addresses stop at
// the host (vpcctl never turns on forwarding), nothing reaches the uplink,
// and destroy removes the port and its route.
func TestExternalAttachHost(t *testing.T) {
	e := startInetTest(t, "th", hostAttachTopology, "web1", "app1")
	br, dir, script, file, capture := e.br, e.dir, e.script, e.file, e.capture

	gw := instances(t, br)["external-gateway"]
	if gw.Attach != "host" || gw.Port == "" || gw.Namespace != "" || gw.State != "up" || gw.IP != extGateway {
		t.Fatalf("status: external-gateway = %+v, want an attachment of kind host, up, in the host namespace, holding %s", gw, extGateway)
	}
	if out := bridgeBlock(mustVpcctl(t, "status"), br); !regexp.MustCompile(`(?m)^external-gateway\s+-\s+external\s+` + regexp.QuoteMeta(extGateway) + `\s+\S+\s+\(host\)\s`).MatchString(out) {
		t.Errorf("status does not show the gateway port in the host namespace:\n%s", out)
	}
	port := gw.Port
	// Everything the host sends below is bound to the port (SO_BINDTODEVICE):
	// even if the route were wrong, nothing could go to the uplink.
	if r := sh(t, "ip -4 -o addr show dev "+port); !strings.Contains(r.Stdout, extGateway+"/24") {
		t.Fatalf("%s does not hold %s/24: %s%s", port, extGateway, r.Stdout, r.Stderr)
	}
	if r := sh(t, "ip -4 route get "+hostEIP); !strings.Contains(r.Stdout, "dev "+port) {
		t.Errorf("the host's route to %s is not through %s: %s", hostEIP, port, r.Stdout)
	}

	t.Run("host reaches an elastic IP", func(t *testing.T) {
		var out string
		ok := false
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(300 * time.Millisecond) {
			r := run(t, 10*time.Second, "curl", "-s", "-S", "--max-time", "3", "--interface", port, "http://"+hostEIP+":8080/")
			out, ok = strings.TrimSpace(r.Stdout), r.Code == 0
		}
		if out != "client="+extGateway {
			t.Errorf("host: curl %s through %s: %q, want web1 to see client=%s", hostEIP, port, out, extGateway)
		}
		if r := run(t, 10*time.Second, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", "-I", port, hostEIP); r.Code != 0 {
			t.Errorf("host: ping %s through %s: %s", hostEIP, port, r.Stdout)
		}
	})

	t.Run("NAT gateway reaches the host", func(t *testing.T) {
		// The host's own server listens on external.gateway only.
		srv := exec.Command("python3", script, "serve", hostPort, filepath.Join(dir, "host.log"), filepath.Join(dir, "host.ready"), "120", extGateway)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
		waitReady(t, dir, "host")
		fetchAs(t, br, "app1", "http://"+extGateway+":"+hostPort+"/", hostNATIP)
		fetchAs(t, br, "web1", "http://"+extGateway+":"+hostPort+"/", hostEIP)
	})

	t.Run("other addresses stop at the host", func(t *testing.T) {
		// Routed to the host (the gateway), which does not forward.
		mustFail(t, br, []attempt{
			{"app1", "http://198.51.100.7:80/", "the host does not forward"},
			{"web1", "http://192.0.2.50:80/", "the host does not forward"},
		})
	})

	t.Run("nothing reached the uplink", func(t *testing.T) {
		capture.check(t)
	})

	t.Run("destroy removes the host port", func(t *testing.T) {
		mustVpcctl(t, "destroy", "-f", file)
		if r := sh(t, "ip link show "+port); r.Code == 0 {
			t.Errorf("destroy left the host port %s", port)
		}
		if r := sh(t, "ip -4 route show "+extCIDR); strings.TrimSpace(r.Stdout) != "" {
			t.Errorf("destroy left a host route to %s: %s", extCIDR, r.Stdout)
		}
	})
}

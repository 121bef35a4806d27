package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSimHosts checks the simulated hypervisors of scripts/sim-hosts.sh: each
// runs its own OVS, they reach each other over the underlay, a Geneve tunnel
// with remote_ip=flow between two of them carries traffic, and `down` leaves
// nothing behind.
func TestSimHosts(t *testing.T) {
	hosts := startSimHosts(t, 3)
	prefix := hosts[0].prefix()

	t.Run("ovs", func(t *testing.T) {
		for _, h := range hosts {
			if out := h.mustVsctl(t, "show"); !strings.Contains(out, `Bridge ul0`) {
				t.Errorf("%s: no underlay bridge ul0 in ovs-vsctl show:\n%s", h.Name, out)
			}
			// ovs-vsctl waits for ovs-vswitchd to apply the change: a port
			// number means ovs-vswitchd made the bridge.
			h.mustVsctl(t, "add-br", "probe0", "--", "set", "bridge", "probe0", "datapath_type=netdev")
			if out := h.mustVsctl(t, "show"); !strings.Contains(out, `Bridge probe0`) {
				t.Errorf("%s: probe0 not in ovs-vsctl show:\n%s", h.Name, out)
			}
			if of := strings.TrimSpace(h.mustVsctl(t, "get", "interface", "probe0", "ofport")); of != "65534" {
				t.Errorf("%s: probe0's local port: ofport %s, want 65534 (ovs-vswitchd did not make it)", h.Name, of)
			}
			h.mustVsctl(t, "del-br", "probe0")
			if out := h.mustVsctl(t, "show"); strings.Contains(out, `Bridge probe0`) {
				t.Errorf("%s: probe0 still there after del-br", h.Name)
			}
		}
	})

	t.Run("underlay", func(t *testing.T) {
		for _, to := range hosts[1:] {
			if r := hosts[0].exec(t, 10*time.Second, "ping", "-c1", "-W2", to.TunnelIP); r.Code != 0 {
				t.Errorf("%s -> %s (%s): no reply:\n%s", hosts[0].Name, to.Name, to.TunnelIP, r.Stdout)
			}
		}
		// Room for Geneve: a 1500-byte frame plus 50 bytes fits unfragmented.
		if r := hosts[0].exec(t, 10*time.Second, "ping", "-c1", "-W2", "-M", "do", "-s", "1522", hosts[1].TunnelIP); r.Code != 0 {
			t.Errorf("underlay does not carry 1550-byte packets:\n%s%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("geneve", func(t *testing.T) {
		a, b := hosts[0], hosts[1]
		geneveEnd(t, a, "10.77.0.1/24", b.TunnelIP)
		geneveEnd(t, b, "10.77.0.2/24", a.TunnelIP)
		r := a.exec(t, 20*time.Second, "ping", "-c5", "-i0.2", "-W2", "10.77.0.2")
		if r.Code != 0 {
			t.Fatalf("ping over Geneve %s -> %s: no reply:\n%s", a.Name, b.Name, r.Stdout)
		}
		if m := regexp.MustCompile(`rtt [^=]*= ([0-9./]+) ms`).FindStringSubmatch(r.Stdout); m != nil {
			t.Logf("ping over Geneve, min/avg/max/mdev ms: %s", m[1])
		}
		// A full-size inner packet (1500 bytes, DF) crosses: the underlay's
		// mtu (9000 by default) holds the 50 bytes of Geneve.
		if r := a.exec(t, 10*time.Second, "ping", "-c2", "-i0.2", "-W2", "-M", "do", "-s", "1472", "10.77.0.2"); r.Code != 0 {
			t.Errorf("1500-byte ping over Geneve: no reply:\n%s%s", r.Stdout, r.Stderr)
		}
		// TCP: OVS 3.1 has no TSO over tunnels, so tx offload is off on the
		// tunnelled interfaces (done in geneveEnd). Bounded: 4 MB, 20 s.
		srv := b.background(t, "timeout", "30", "iperf3", "-s", "-1", "-B", "10.77.0.2")
		defer srv.stop()
		var out iperfResult
		var c result
		for i := 0; i < 20; i++ { // until the server listens: at most 20 tries
			c = a.exec(t, 25*time.Second, "timeout", "20", "iperf3", "-c", "10.77.0.2", "-J", "--connect-timeout", "1000", "-n", "4M")
			out = iperfResult{}
			if err := json.Unmarshal([]byte(c.Stdout), &out); err != nil {
				out.Error = "unreadable JSON: " + err.Error()
			}
			if c.Code == 0 && out.Error == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		// (With -n the server stops counting when the client has written
		// the last byte, so bytes still in flight at that moment are missing
		// from its count: a loaded machine showed 2.4 of 4 MB. A connection
		// stalled by TSO packets the tunnel drops gets nothing but its first
		// few segments through.)
		if c.Code != 0 || out.Error != "" || out.End.SumReceived.Bytes < 1e6 {
			t.Errorf("TCP over Geneve (iperf3 -n 4M): exit %d, %s, %.0f bytes received\n%s\nserver: %s",
				c.Code, out.Error, out.End.SumReceived.Bytes, c.Stderr, srv.out.String())
		} else {
			t.Logf("TCP over Geneve: %.2f Gbit/s (4 MB)", out.End.SumReceived.BitsPerSecond/1e9)
		}
	})

	// Down removes everything: namespaces, daemons, run directories.
	if out, err := simHostsCmd(2*time.Minute, "down", prefix); err != nil {
		t.Fatalf("sim-hosts.sh down %s: %v\n%s", prefix, err, out)
	}
	if ns := netnsWithPrefix(t, prefix+"-"); len(ns) > 0 {
		t.Errorf("after down: namespaces left: %v", ns)
	}
	for _, h := range hosts {
		if pids := ovsPidsIn(h.RunDir); len(pids) > 0 {
			t.Errorf("after down: OVS daemons of %s still running: pids %v", h.Name, pids)
		}
		if _, err := os.Stat(h.RunDir); !os.IsNotExist(err) {
			t.Errorf("after down: %s still there (%v)", h.RunDir, err)
		}
	}
	if left, _ := filepath.Glob("/run/vpcctl-sim/" + prefix + "-*"); len(left) > 0 {
		t.Errorf("after down: left %v", left)
	}
	// Down again: idempotent.
	if out, err := simHostsCmd(time.Minute, "down", prefix); err != nil {
		t.Errorf("second sim-hosts.sh down %s: %v\n%s", prefix, err, out)
	}
	if out, err := simHostsCmd(time.Minute, "list", prefix); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("list after down: %v %q", err, out)
	}
}

// geneveEnd makes, in host h, a bridge t0 (userspace datapath, no flows but
// ours) with a Geneve port (remote_ip=flow, key=flow) and an internal port i0
// holding addr; its flows send everything from i0 to remote with VNI 77 and
// deliver VNI 77 from the tunnel to i0.
func geneveEnd(t *testing.T, h simHost, addr, remote string) {
	t.Helper()
	h.mustVsctl(t, "add-br", "t0",
		"--", "set", "bridge", "t0", "datapath_type=netdev", "fail_mode=secure",
		"--", "add-port", "t0", "gnv0",
		"--", "set", "interface", "gnv0", "type=geneve", "options:remote_ip=flow", "options:key=flow", "ofport_request=1",
		"--", "add-port", "t0", "i0",
		"--", "set", "interface", "i0", "type=internal", "ofport_request=2")
	for _, argv := range [][]string{
		{"ip", "addr", "add", addr, "dev", "i0"},
		{"ip", "link", "set", "i0", "up"},
		{"ethtool", "-K", "i0", "tx", "off"},
	} {
		if r := h.exec(t, 10*time.Second, argv...); r.Code != 0 {
			t.Fatalf("%s: %s: %s", h.Name, strings.Join(argv, " "), r.Stderr)
		}
	}
	h.mustOfctl(t, "add-flow", "t0", "in_port=2,actions=set_field:"+remote+"->tun_dst,set_field:77->tun_id,output:1")
	h.mustOfctl(t, "add-flow", "t0", "in_port=1,tun_id=77,actions=output:2")
}

package tests

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The spoofing topology: one VPC; the attackers, the victim and a third
// instance share a subnet, far sits behind the VPC router. mallory is a veth,
// trudy an internal port, eve a trunk instance (identified by the VLAN tag
// pushed outside its namespace): each attack is made from every kind of
// port. tina is a second trunk instance whose identity (MAC, IP, VLAN id)
// the attackers try to steal.
const spoofTopology = `vpcs:
  - name: sp
    cidr: 10.5.0.0/16
    subnets:
      - {name: lan, cidr: 10.5.1.0/24}
      - {name: app, cidr: 10.5.2.0/24}
    instances:
      - {name: mallory, subnet: lan, ip: 10.5.1.10}
      - {name: trudy, subnet: lan, ip: 10.5.1.11, attach: internal}
      - {name: victim, subnet: lan, ip: 10.5.1.20, run: "exec python3 -m http.server 8080"}
      - {name: third, subnet: lan, ip: 10.5.1.30, attach: internal}
      - {name: far, subnet: app, ip: 10.5.2.40}
      - {name: eve, subnet: lan, ip: 10.5.1.12, attach: trunk}
      - {name: tina, subnet: lan, ip: 10.5.1.13, attach: trunk}
`

// TestAntiSpoofing checks SPEC §2: an instance sends only from its own MAC and
// IP; forged ARP and VLAN-tagged frames are dropped. Each attack runs while the
// victim captures every frame it receives; the attacker ends each attack with
// one legitimate frame (a control) that the capture must see, so an empty
// capture means "dropped", never "not listening".
func TestAntiSpoofing(t *testing.T) {
	br := uniqueBridge("ts")
	file := topology(t, br, spoofTopology)
	mustVpcctl(t, "apply", "-f", file)
	in := instances(t, br)
	victim, third := in["victim"], in["third"]

	// The victim talks to the third instance and, through the router, to far:
	// its neighbour table now holds third's MAC and the router's.
	victimTrafficWorks(t, br)
	thirdMAC := neighMAC(t, br, "victim", third.IP)
	routerMAC := neighMAC(t, br, "victim", "10.5.1.1")
	if !strings.EqualFold(thirdMAC, third.MAC) || routerMAC == "" {
		t.Fatalf("victim's neighbours before any attack: third=%q (want %s), router=%q", thirdMAC, third.MAC, routerMAC)
	}

	tina := in["tina"]
	tinaVID, ok := trunkVIDs(t, br)["tina"]
	if !ok {
		t.Fatalf("no Classifier flow matches the trunk instance tina by dl_vlan")
	}

	for _, name := range []string{"mallory", "trudy", "eve"} {
		atk := in[name]
		t.Run(name+"/"+atk.Attach, func(t *testing.T) {
			// Legitimate traffic first: whatever fails below fails because of the forgery.
			if !ping(t, br, name, victim.IP) {
				t.Fatalf("%s cannot ping the victim with its own addresses", name)
			}
			waitHTTP(t, br, name, "http://"+victim.IP+":8080/", "200")
			// Pin the victim's MAC so that the forged packets below are really
			// sent (without it the attacker's kernel would first need an ARP
			// answer, and its forged ARP request is all that would be tested).
			nsMust(t, br, name, "ip neigh replace "+victim.IP+" lladdr "+victim.MAC+" dev "+atk.iface()+" nud permanent")

			t.Run("foreign source IP", func(t *testing.T) {
				// An unused address, and the address of another instance.
				for _, spoofed := range []string{"10.5.1.99", third.IP} {
					spoofWith(t, br, atk, spoofed, func() {
						drops := flowPackets(t, br, "PortSecurity", "priority=0 ")
						frames := attackVictim(t, br, atk, victim, func() {
							if r := inNS(t, br, name, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", spoofed, victim.IP); r.Code == 0 {
								t.Errorf("ping from %s with source %s got a reply:\n%s", name, spoofed, r.Stdout)
							}
							if r := inNS(t, br, name, 10*time.Second, "curl", "-s", "-m", "2", "--interface", spoofed, "http://"+victim.IP+":8080/"); r.Code == 0 {
								t.Errorf("curl from %s with source %s connected", name, spoofed)
							}
						})
						forgedSrc := func(f frame) bool {
							return f.ipSrc.String() == spoofed || (f.isARP && f.arpSpa.String() == spoofed && f.arpSha == atk.MAC)
						}
						if bad := offending(frames, forgedSrc); len(bad) > 0 {
							t.Errorf("the victim received frames with the forged source %s:\n%s", spoofed, strings.Join(bad, "\n"))
						}
						waitFlowPackets(t, br, "PortSecurity", drops+4, "priority=0 ") // 3 pings and at least one SYN
					})
				}
				victimTrafficWorks(t, br)
			})

			t.Run("foreign source MAC", func(t *testing.T) {
				forged := "02:00:00:5e:00:99"
				// A new MAC flushes the neighbour table, permanent entries too: pin the victim again.
				nsMust(t, br, name, "ip link set dev "+atk.iface()+" address "+forged+
					" && ip neigh replace "+victim.IP+" lladdr "+victim.MAC+" dev "+atk.iface()+" nud permanent")
				restored := false
				restore := func() {
					if !restored {
						restored = true
						nsMust(t, br, name, "ip link set dev "+atk.iface()+" address "+atk.MAC)
					}
				}
				defer restore() // also when the test stops early: later attacks need the real MAC
				drops := flowPackets(t, br, "PortSecurity", "priority=0 ")
				frames := attackVictim(t, br, atk, victim, func() {
					if r := inNS(t, br, name, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "1", victim.IP); r.Code == 0 {
						t.Errorf("ping from %s with MAC %s got a reply:\n%s", name, forged, r.Stdout)
					}
				})
				restore()
				if bad := offending(frames, func(f frame) bool { return f.src == forged || f.arpSha == forged }); len(bad) > 0 {
					t.Errorf("the victim received frames from the forged MAC %s:\n%s", forged, strings.Join(bad, "\n"))
				}
				waitFlowPackets(t, br, "PortSecurity", drops+3, "priority=0 ")
				if !ping(t, br, name, victim.IP) {
					t.Errorf("%s cannot ping the victim after getting its own MAC back", name)
				}
				victimTrafficWorks(t, br)
			})

			t.Run("gratuitous ARP", func(t *testing.T) {
				// Claims on third's address and on the router's .1, as requests
				// and as replies, broadcast and sent straight to the victim's
				// MAC. Linux lets a gratuitous ARP override an existing entry,
				// so any of them reaching the victim would show in `ip neigh`.
				own := mustMAC(atk.MAC)
				var forged [][]byte
				for _, claim := range []string{third.IP, "10.5.1.1"} {
					ip := netip.MustParseAddr(claim)
					for _, dst := range []net.HardwareAddr{broadcastMAC, mustMAC(victim.MAC)} {
						forged = append(forged,
							ethFrame(dst, own, 0x0806, arpPacket(1, own, ip, zeroMAC, ip)),
							ethFrame(dst, own, 0x0806, arpPacket(2, own, ip, dst, ip)))
					}
				}
				drops := flowPackets(t, br, "PortSecurity", "priority=0 ")
				frames := attackVictim(t, br, atk, victim, func() { sendFrames(t, br, name, forged...) })
				poison := func(f frame) bool {
					return f.isARP && (f.arpSpa.String() == third.IP && f.arpSha != third.MAC ||
						f.arpSpa.String() == "10.5.1.1" && f.arpSha != routerMAC)
				}
				if bad := offending(frames, poison); len(bad) > 0 {
					t.Errorf("the victim received forged ARP:\n%s", strings.Join(bad, "\n"))
				}
				waitFlowPackets(t, br, "PortSecurity", drops+len(forged), "priority=0 ")
				if got := neighMAC(t, br, "victim", third.IP); !strings.EqualFold(got, third.MAC) {
					t.Errorf("victim's neighbour entry for %s is %q after the forged ARP, want %s", third.IP, got, third.MAC)
				}
				if got := neighMAC(t, br, "victim", "10.5.1.1"); !strings.EqualFold(got, routerMAC) {
					t.Errorf("victim's neighbour entry for the router 10.5.1.1 is %q after the forged ARP, want %s", got, routerMAC)
				}
				victimTrafficWorks(t, br)
			})

			t.Run("802.1Q tag", func(t *testing.T) {
				// An echo request from the attacker's own MAC and IP, which would
				// pass port security untagged: OVS matches the inner Ethernet
				// type, so only the Classifier's vlan_tci flow stops it.
				marker := randomMarker()
				echo := icmpEcho(netip.MustParseAddr(atk.IP), netip.MustParseAddr(victim.IP), marker)
				own, dst := mustMAC(atk.MAC), mustMAC(victim.MAC)
				tagged := [][]byte{
					vlanFrame(dst, own, 0x8100, 0, 100, 0x0800, echo), // VLAN 100
					vlanFrame(dst, own, 0x8100, 3, 0, 0x0800, echo),   // priority tag (VLAN 0)
					vlanFrame(dst, own, 0x88a8, 0, 100, 0x0800, echo), // 802.1ad service tag
				}
				tags := flowPackets(t, br, "Classifier", "vlan_tci=0x1000/0x1000")
				frames := attackVictim(t, br, atk, victim, func() { sendFrames(t, br, name, tagged...) })
				if bad := offending(frames, containing(marker)); len(bad) > 0 {
					t.Errorf("the victim received the tagged frames:\n%s", strings.Join(bad, "\n"))
				}
				// A trunk instance's tagged frames are dropped by the program
				// on its host veth, before OVS: no flow counts them.
				if atk.Attach != "trunk" {
					waitFlowPackets(t, br, "Classifier", tags+len(tagged), "vlan_tci=0x1000/0x1000")
				}
				victimTrafficWorks(t, br)
			})

			t.Run("identity of a trunk instance", func(t *testing.T) {
				// tina's MAC and IP, untagged (for a trunk attacker, its own
				// VLAN tag is pushed on them outside its namespace) and
				// tagged with tina's VLAN id (what the trunk would carry for
				// tina herself), twice tagged, and as ARP claims.
				marker := randomMarker()
				tm, tip := mustMAC(tina.MAC), netip.MustParseAddr(tina.IP)
				dst, vip := mustMAC(victim.MAC), netip.MustParseAddr(victim.IP)
				echo := icmpEcho(tip, vip, marker)
				tagged := vlanFrame(dst, tm, 0x8100, 0, uint16(tinaVID), 0x0800, echo)
				forged := [][]byte{
					ethFrame(dst, tm, 0x0800, echo),
					tagged,
					vlanFrame(dst, tm, 0x8100, 0, uint16(tinaVID), 0x8100, tagged[14:]), // tina's vid inside tina's vid
					vlanFrame(dst, mustMAC(atk.MAC), 0x8100, 0, uint16(tinaVID), 0x0800, icmpEcho(netip.MustParseAddr(atk.IP), vip, marker)),
					ethFrame(dst, tm, 0x0806, append(arpPacket(2, tm, tip, dst, vip), marker...)),
					ethFrame(broadcastMAC, tm, 0x0806, append(arpPacket(1, tm, tip, zeroMAC, vip), marker...)),
					vlanFrame(broadcastMAC, tm, 0x8100, 0, uint16(tinaVID), 0x0806, append(arpPacket(1, tm, tip, zeroMAC, vip), marker...)),
				}
				frames := attackVictim(t, br, atk, victim, func() { sendFrames(t, br, name, forged...) })
				// Every forged frame carries the marker (tina herself may answer the victim's ARP).
				if bad := offending(frames, containing(marker)); len(bad) > 0 {
					t.Errorf("the victim received frames with tina's identity from %s:\n%s", name, strings.Join(bad, "\n"))
				}
				// The other way: the victim's identity sent to tina, a trunk
				// instance, untagged and with tina's own VLAN id.
				marker2 := randomMarker()
				echo2 := icmpEcho(vip, tip, marker2)
				frames = attackVictim(t, br, atk, tina, func() {
					sendFrames(t, br, name,
						ethFrame(tm, dst, 0x0800, echo2),
						vlanFrame(tm, dst, 0x8100, 0, uint16(tinaVID), 0x0800, echo2),
						vlanFrame(tm, mustMAC(atk.MAC), 0x8100, 0, uint16(tinaVID), 0x0800, icmpEcho(netip.MustParseAddr(atk.IP), tip, marker2)))
				})
				if bad := offending(frames, containing(marker2)); len(bad) > 0 {
					t.Errorf("tina received forged frames from %s:\n%s", name, strings.Join(bad, "\n"))
				}
				if !ping(t, br, "victim", tina.IP) || !ping(t, br, "tina", victim.IP) {
					t.Errorf("the victim and tina cannot ping each other after the attack")
				}
				victimTrafficWorks(t, br)
			})
		})
	}
}

// spoofWith adds a foreign address to the attacker's interface for the
// duration of f, and removes it even when f stops the test.
func spoofWith(t *testing.T, br string, atk instance, ip string, f func()) {
	t.Helper()
	nsMust(t, br, atk.Name, "ip addr add "+ip+"/32 dev "+atk.iface())
	defer nsMust(t, br, atk.Name, "ip addr del "+ip+"/32 dev "+atk.iface())
	f()
}

// victimTrafficWorks checks that the victim still reaches the third instance
// in its subnet and far behind the router.
func victimTrafficWorks(t *testing.T, br string) {
	t.Helper()
	for _, ip := range []string{"10.5.1.30", "10.5.2.40"} {
		if !ping(t, br, "victim", ip) {
			t.Errorf("the victim cannot ping %s", ip)
		}
	}
}

// attackVictim runs attack while the victim captures, then sends a legitimate
// control frame from the attacker and returns everything else the victim received.
func attackVictim(t *testing.T, br string, atk, victim instance, attack func()) [][]byte {
	t.Helper()
	control := randomMarker()
	c := startCapture(t, br, victim.Name, 15*time.Second, control)
	attack()
	sendFrames(t, br, atk.Name, ethFrame(mustMAC(victim.MAC), mustMAC(atk.MAC), 0x0800,
		icmpEcho(netip.MustParseAddr(atk.IP), netip.MustParseAddr(victim.IP), control)))
	var frames [][]byte
	seen := false
	for _, f := range c.wait(t) {
		if bytes.Contains(f, control) {
			seen = true
		} else {
			frames = append(frames, f)
		}
	}
	if !seen {
		t.Fatalf("the victim's capture missed the attacker's legitimate control frame (%d frames captured)", len(frames))
	}
	return frames
}

// instance is one row of `vpcctl status -o json`.
type instance struct {
	Name, VPC, Subnet, IP, MAC, Attach, Namespace, Port, State string
}

// iface is the instance's interface inside its namespace: internal ports keep their OVS name.
func (i instance) iface() string {
	if i.Attach == "internal" {
		return i.Port
	}
	return "eth0"
}

// instances reads the bridge's instances from `vpcctl status -o json`.
func instances(t *testing.T, br string) map[string]instance {
	t.Helper()
	var st struct {
		Bridges []struct {
			Name      string     `json:"name"`
			Instances []instance `json:"instances"`
		} `json:"bridges"`
	}
	out := mustVpcctl(t, "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	m := map[string]instance{}
	for _, b := range st.Bridges {
		if b.Name == br {
			for _, i := range b.Instances {
				m[i.Name] = i
			}
		}
	}
	if len(m) == 0 {
		t.Fatalf("status shows no instances on %s:\n%s", br, out)
	}
	return m
}

// nsMust runs a shell command in an instance's namespace and fails the test if it fails.
func nsMust(t *testing.T, br, inst, script string) string {
	t.Helper()
	r := run(t, 30*time.Second, "ip", "netns", "exec", "vpcctl."+br+"."+inst, "sh", "-c", script)
	if r.Code != 0 {
		t.Fatalf("in %s: %s: exit %d\n%s%s", inst, script, r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

var lladdrRE = regexp.MustCompile(`lladdr ([0-9a-f:]{17})`)

// neighMAC is the MAC an instance's neighbour table holds for ip ("" if none).
func neighMAC(t *testing.T, br, inst, ip string) string {
	t.Helper()
	m := lladdrRE.FindStringSubmatch(nsMust(t, br, inst, "ip neigh show "+ip))
	if m == nil {
		return ""
	}
	return m[1]
}

// waitHTTP fetches url from an instance until it answers want (the body, or
// the status code when want is "200"), for at most about 15 s: workloads
// need a moment to listen.
func waitHTTP(t *testing.T, br, from, url, want string) {
	t.Helper()
	args := []string{"curl", "-s", "-m", "2", url}
	if want == "200" {
		args = []string{"curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", url}
	}
	var r result
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		r = inNS(t, br, from, 10*time.Second, args...)
		if strings.TrimSpace(r.Stdout) == want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: curl %s: got %q (exit %d), want %q", from, url, r.Stdout, r.Code, want)
}

// Flow counters.

var nPacketsRE = regexp.MustCompile(`n_packets=(\d+)`)

// flowPackets sums n_packets over the flows of a table whose text contains every one of match.
func flowPackets(t *testing.T, br, table string, match ...string) int {
	t.Helper()
	r := run(t, 30*time.Second, "ovs-ofctl", "-O", "OpenFlow13", "--names", "dump-flows", br, "table="+table)
	if r.Code != 0 {
		t.Fatalf("ovs-ofctl dump-flows %s table=%s: %s", br, table, r.Stderr)
	}
	sum, found := 0, false
	for _, line := range strings.Split(r.Stdout, "\n") {
		ok := strings.Contains(line, "n_packets=")
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(nPacketsRE.FindStringSubmatch(line)[1])
		sum, found = sum+n, true
	}
	if !found {
		t.Fatalf("no flow in table %s matches %q:\n%s", table, match, r.Stdout)
	}
	return sum
}

// waitFlowPackets waits (at most 10 s: OVS folds datapath counters into its
// flows a moment later) until those flows counted at least want packets.
func waitFlowPackets(t *testing.T, br, table string, want int, match ...string) {
	t.Helper()
	var n int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if n = flowPackets(t, br, table, match...); n >= want {
			return
		}
	}
	t.Errorf("table %s, flows %q: n_packets=%d, want at least %d", table, match, n, want)
}

// Raw frames, sent and captured by rawframe.py inside the namespaces.

// rawframeScript is the helper's absolute path (tests run in their package directory).
func rawframeScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("rawframe.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sendFrames sends raw frames from an instance's interface.
func sendFrames(t *testing.T, br, inst string, frames ...[]byte) {
	t.Helper()
	argv := []string{"python3", rawframeScript(t), "send"}
	for _, f := range frames {
		argv = append(argv, hex.EncodeToString(f))
	}
	if r := inNS(t, br, inst, 30*time.Second, argv...); r.Code != 0 {
		t.Fatalf("sending raw frames from %s: exit %d: %s", inst, r.Code, r.Stderr)
	}
}

// capture is a running rawframe.py capture.
type capture struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	max    time.Duration
}

// startCapture starts capturing on an instance's interface and returns once
// it listens. It stops by itself after max, or shortly after a frame
// containing stop arrived.
func startCapture(t *testing.T, br, inst string, max time.Duration, stop []byte) *capture {
	t.Helper()
	c := &capture{lines: make(chan string, 1024), max: max}
	c.cmd = exec.Command(vpcctlBin, "exec", "--bridge", br, inst, "--", "python3", rawframeScript(t),
		"capture", strconv.Itoa(int(max/time.Second)), hex.EncodeToString(stop))
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	select {
	case l, ok := <-c.lines:
		if !ok || l != "ready" {
			t.Fatalf("capture in %s did not start: %q %s", inst, l, c.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("capture in %s: not listening after 15 s", inst)
	}
	return c
}

// wait collects the captured frames once the capture has stopped.
func (c *capture) wait(t *testing.T) [][]byte {
	t.Helper()
	var frames [][]byte
	timeout := time.After(c.max + 10*time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				_ = c.cmd.Wait()
				return frames
			}
			f, err := hex.DecodeString(l)
			if err != nil {
				t.Fatalf("capture printed %q: %v", l, err)
			}
			frames = append(frames, f)
		case <-timeout:
			t.Fatalf("capture still running after %v", c.max+10*time.Second)
		}
	}
}

// frame is a captured frame, decoded as far as the checks need.
type frame struct {
	raw      []byte
	src      string     // Ethernet source
	etype    uint16     // after any VLAN tags
	ipSrc    netip.Addr // IPv4 source
	arpSha   string     // ARP sender MAC
	arpSpa   netip.Addr // ARP sender IP
	isARP    bool
	isTagged bool
}

func decode(f []byte) frame {
	d := frame{raw: f}
	if len(f) < 14 {
		return d
	}
	d.src = net.HardwareAddr(f[6:12]).String()
	d.etype, f = binary.BigEndian.Uint16(f[12:]), f[14:]
	for (d.etype == 0x8100 || d.etype == 0x88a8) && len(f) >= 4 {
		d.isTagged = true
		d.etype, f = binary.BigEndian.Uint16(f[2:]), f[4:]
	}
	switch {
	case d.etype == 0x0800 && len(f) >= 20:
		d.ipSrc = netip.AddrFrom4([4]byte(f[12:16]))
	case d.etype == 0x0806 && len(f) >= 28:
		d.isARP = true
		d.arpSha = net.HardwareAddr(f[8:14]).String()
		d.arpSpa = netip.AddrFrom4([4]byte(f[14:18]))
	}
	return d
}

// offending lists (in hex) the frames for which bad is true.
func offending(frames [][]byte, bad func(frame) bool) []string {
	var out []string
	for _, f := range frames {
		if bad(decode(f)) {
			out = append(out, hex.EncodeToString(f))
		}
	}
	return out
}

// containing is a check for frames that carry marker.
func containing(marker []byte) func(frame) bool {
	return func(f frame) bool { return bytes.Contains(f.raw, marker) }
}

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroMAC      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// randomMarker is 16 random bytes to recognise a frame in a capture.
func randomMarker() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

func ethFrame(dst, src net.HardwareAddr, etype uint16, payload []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	f = binary.BigEndian.AppendUint16(f, etype)
	return append(f, payload...)
}

// vlanFrame is an Ethernet frame with one tag (tpid 0x8100 or 0x88a8).
func vlanFrame(dst, src net.HardwareAddr, tpid uint16, pcp, vid uint16, etype uint16, payload []byte) []byte {
	tag := binary.BigEndian.AppendUint16(nil, pcp<<13|vid)
	tag = binary.BigEndian.AppendUint16(tag, etype)
	return ethFrame(dst, src, tpid, append(tag, payload...))
}

func arpPacket(op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	p := []byte{0, 1, 8, 0, 6, 4}
	p = binary.BigEndian.AppendUint16(p, op)
	p = append(p, sha...)
	p = append(p, spa.AsSlice()...)
	p = append(p, tha...)
	return append(p, tpa.AsSlice()...)
}

// icmpEcho is an IPv4 ICMP echo request (TTL 64) carrying data.
func icmpEcho(src, dst netip.Addr, data []byte) []byte {
	icmp := append([]byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}, data...)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(icmp)))
	ip = append(append(ip, src.AsSlice()...), dst.AsSlice()...)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	return append(ip, icmp...)
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line with the same line (the workload of db1).
const echoServer = `import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", 9000), H).serve_forever()
`

// echoClient keeps ONE TCP connection to host:9000 and sends a line every
// 50 ms until the stop file appears (at most 120 s); any failure ends it with
// exit 1. It prints how many lines came back.
const echoClient = `import socket, sys, os, time
host, stop = sys.argv[1], sys.argv[2]
s = socket.create_connection((host, 9000), timeout=5)
s.settimeout(3)
f = s.makefile("rwb")
n = 0
end = time.time() + 120
while not os.path.exists(stop) and time.time() < end:
    f.write(b"%d\n" % n); f.flush()
    if f.readline() != b"%d\n" % n:
        print("bad echo after", n); sys.exit(1)
    n += 1
    time.sleep(0.05)
print("echoed", n)
`

// echoFiles writes the echo server and client into a test directory and
// returns their paths and the path whose creation stops the client.
func echoFiles(t *testing.T) (server, client, stop string) {
	t.Helper()
	dir := t.TempDir()
	server, client, stop = filepath.Join(dir, "echo_server.py"), filepath.Join(dir, "echo_client.py"), filepath.Join(dir, "stop")
	for path, body := range map[string]string{server: echoServer, client: echoClient} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return server, client, stop
}

// An instance keeps its allocated IP and MAC across every edit that does not
// name it (instances inserted before it, removed, reordered; a subnet added
// in front; the file checked out afresh elsewhere), a TCP connection to it
// survives them all, and none of its flows is replaced.
func TestAddressesStayAcrossEdits(t *testing.T) {
	br := uniqueBridge("ti")
	server, client, stop := echoFiles(t)
	head := "vpcs:\n  - name: v\n    cidr: 10.61.0.0/16\n    subnets:\n"
	subA := "      - {name: a, cidr: 10.61.1.0/24}\n"
	subZ := "      - {name: z, cidr: 10.61.9.0/24}\n"
	web := "      - {name: web1, subnet: a}\n"
	db := fmt.Sprintf("      - {name: db1, subnet: a, run: \"exec python3 %s\"}\n", server)
	inst := func(names ...string) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "      - {name: %s, subnet: a}\n", n)
		}
		return b.String()
	}
	body := func(subnets string, instances ...string) string {
		return head + subnets + "    instances:\n" + strings.Join(instances, "")
	}
	file := topology(t, br, body(subA, web, db))
	mustVpcctl(t, "apply", "-f", file)
	before := instances(t, br)["db1"]
	if before.IP != "10.61.1.5" {
		t.Fatalf("db1 allocated %s, want 10.61.1.5 (web1 .4, db1 .5)", before.IP)
	}
	dbFlows := map[uint64]string{}
	for _, r := range flowRows(t, br) {
		if strings.Contains(r.Owner, "instances[db1]") {
			dbFlows[r.Cookie] = r.Flow
		}
	}
	if len(dbFlows) == 0 {
		t.Fatal("no flows owned by db1")
	}

	// One connection from web1 to db1, kept open through every edit.
	var up bool
	for i := 0; i < 30 && !up; i++ {
		up = inNS(t, br, "web1", 5*time.Second, "python3", "-c",
			"import socket; socket.create_connection(('10.61.1.5', 9000), timeout=1)").Code == 0
		if !up {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !up {
		t.Fatal("db1's echo server does not answer")
	}
	conn := inNSBackground(t, br, "web1", "python3", client, "10.61.1.5", stop)

	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte("version: 1\nbridge: "+br+"\n"+content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edits := []struct{ name, content string }{
		{"insert two instances before db1", body(subA, web, inst("new1", "new2"), db)},
		{"remove one of them", body(subA, web, inst("new2"), db)},
		{"reorder the instances", body(subA, db, inst("new2"), web)},
		{"add a subnet in front, with an instance", body(subZ+subA, "      - {name: z1, subnet: z}\n", db, inst("new2", "new3"), web)},
	}
	for _, e := range edits {
		write(e.content)
		s := applyJSON(t, file)
		t.Logf("%s: %+v", e.name, s)
		// Reordering changes nothing but the bridge's record of the file's hash.
		if e.name == "reorder the instances" && (s.FlowMods != 0 || s.OVSDBWrites > 1 || s.HostChanges != 0) {
			t.Errorf("%s: want no flow-mod, no host change and at most the file hash written, got %+v", e.name, s)
		}
		checkStays(t, br, e.name, before, dbFlows)
		select {
		case <-conn.done:
			t.Fatalf("%s: the connection to db1 ended:\n%s", e.name, conn.out.String())
		default:
		}
	}
	// A fresh checkout of the same file somewhere else finds the addresses
	// on the host (the ports' records), not in the file.
	moved := filepath.Join(t.TempDir(), "checkout.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if s := applyJSON(t, moved); s.FlowMods != 0 || s.HostChanges != 0 {
		t.Errorf("fresh checkout: want no flow-mod and no host change, got %+v", s)
	}
	checkStays(t, br, "fresh checkout", before, dbFlows)
	// The others kept theirs too: web1 .4, new2 .7; new1's .6 was freed and new3 got it.
	got := instances(t, br)
	for name, want := range map[string]string{"web1": "10.61.1.4", "new2": "10.61.1.7", "new3": "10.61.1.6", "z1": "10.61.9.4"} {
		if got[name].IP != want {
			t.Errorf("%s: %s, want %s", name, got[name].IP, want)
		}
	}

	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.done:
	case <-time.After(10 * time.Second):
		t.Fatal("echo client did not stop")
	}
	out := conn.out.String()
	if conn.cmd.ProcessState.ExitCode() != 0 || !strings.Contains(out, "echoed") {
		t.Fatalf("the TCP connection to db1 did not survive the edits: %s", out)
	}
	t.Logf("one TCP connection through all edits: %s", strings.TrimSpace(out))
}

// checkStays checks db1's IP and MAC (as status shows them and inside its
// namespace) and that every flow it had is still installed, unchanged.
func checkStays(t *testing.T, br, step string, want instance, flows map[uint64]string) {
	t.Helper()
	got := instances(t, br)["db1"]
	if got.IP != want.IP || got.MAC != want.MAC {
		t.Errorf("%s: db1 is %s %s, was %s %s", step, got.IP, got.MAC, want.IP, want.MAC)
	}
	addr := nsMust(t, br, "db1", "ip -4 -o addr show dev eth0; cat /sys/class/net/eth0/address")
	if !strings.Contains(addr, want.IP+"/24") || !strings.Contains(addr, want.MAC) {
		t.Errorf("%s: inside db1: %s", step, addr)
	}
	have := map[uint64]bool{}
	for _, r := range flowRows(t, br) {
		have[r.Cookie] = true
	}
	for c, f := range flows {
		if !have[c] {
			t.Errorf("%s: db1's flow was replaced: %s", step, f)
		}
	}
}

// An apply on a fresh bridge whose VPCs have no instances used to dial the
// bridge's management socket before ovs-vswitchd had made it.
func TestApplyFreshBridgeNoInstances(t *testing.T) {
	for i := 0; i < 30; i++ {
		br := uniqueBridge("te")
		file := topology(t, br, "vpcs:\n  - name: v\n    cidr: 10.62.0.0/16\n    subnets:\n      - {name: a, cidr: 10.62.1.0/24}\n")
		if r := vpcctl(t, "apply", "-f", file); r.Code != 0 {
			t.Fatalf("apply %d of 30 on a fresh bridge: exit %d: %s", i+1, r.Code, r.Stderr)
		}
		mustVpcctl(t, "destroy", "-f", file)
	}
}

// Two applies of one file at once: the second waits for the first (a lock
// per bridge), both succeed, and the host ends up exactly as the file says.
func TestConcurrentApplies(t *testing.T) {
	br := uniqueBridge("tc")
	file := topology(t, br, `vpcs:
  - name: v
    cidr: 10.63.0.0/16
    subnets:
      - {name: a, cidr: 10.63.1.0/24}
    instances:
      - {name: c1, subnet: a}
      - {name: c2, subnet: a}
      - {name: c3, subnet: a, attach: internal}
      - {name: c4, subnet: a}
      - {name: c5, subnet: a}
      - {name: c6, subnet: a}
`)
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() { results <- runNoFatal(vpcctlBin, "apply", "-f", file) }()
	}
	for i := 0; i < 2; i++ {
		if r := <-results; r.Code != 0 {
			t.Errorf("concurrent apply: exit %d: %s", r.Code, r.Stderr)
		}
	}
	if s := applyJSON(t, file); s.FlowMods != 0 || s.OVSDBWrites != 0 || s.HostChanges != 0 {
		t.Errorf("after two concurrent applies the host is not converged: %+v", s)
	}
	if n := strings.Count(sh(t, "ip netns list").Stdout, "vpcctl."+br+"."); n != 6 {
		t.Errorf("%d namespaces, want 6", n)
	}
	if n := len(strings.Fields(sh(t, "ovs-vsctl list-ports "+br).Stdout)); n != 6 {
		t.Errorf("%d ports, want 6", n)
	}
	if !ping(t, br, "c1", "10.63.1.6") {
		t.Error("c1 cannot reach c3")
	}
}

// runNoFatal runs a command with a time bound, from any goroutine.
func runNoFatal(name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
	}
	return result{so.String(), se.String(), code}
}

// Changing `bridge:` in the file moves the whole topology: the old bridge,
// its ports, veths and namespaces go.
func TestBridgeRenamed(t *testing.T) {
	old, next := uniqueBridge("to"), uniqueBridge("tn")
	body := `vpcs:
  - name: v
    cidr: 10.64.0.0/16
    subnets:
      - {name: a, cidr: 10.64.1.0/24}
    instances:
      - {name: r1, subnet: a}
      - {name: r2, subnet: a, attach: internal}
`
	file := topology(t, old, body)
	t.Cleanup(func() { sh(t, "ovs-vsctl --if-exists del-br "+old) })
	mustVpcctl(t, "apply", "-f", file)
	oldPorts := strings.Fields(sh(t, "ovs-vsctl list-ports "+old).Stdout)
	if len(oldPorts) != 2 {
		t.Fatalf("ports on %s: %v", old, oldPorts)
	}
	if err := os.WriteFile(file, []byte("version: 1\nbridge: "+next+"\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	mustVpcctl(t, "apply", "-f", file)
	if sh(t, "ovs-vsctl br-exists "+old).Code == 0 {
		t.Errorf("the old bridge %s is still there", old)
	}
	if ns := sh(t, "ip netns list").Stdout; strings.Contains(ns, "vpcctl."+old+".") {
		t.Errorf("namespaces of the old bridge left:\n%s", ns)
	}
	for _, p := range oldPorts {
		if sh(t, "ip link show "+p).Code == 0 {
			t.Errorf("link %s of the old bridge left in the host", p)
		}
	}
	if !ping(t, next, "r1", "10.64.1.5") {
		t.Error("r1 cannot reach r2 on the new bridge")
	}
}

// A bridge left by the previous release (its flows, cookies computed without
// the table number and subnet ids from list positions) converges on the next
// apply: only the new pipeline's flows remain and traffic passes.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	br := uniqueBridge("tu")
	file := labTopology(t, "02-security", br)
	mustVpcctl(t, "apply", "-f", file)
	// Put the bridge back to what the previous release installed for this lab.
	if r := sh(t, "ovs-ofctl -O OpenFlow13 del-flows "+br+" cookie=0xa500000000000000/0xff00000000000000 && "+
		"ovs-ofctl -O OpenFlow13 add-flows "+br+" testdata/upgrade-02-security.prev.flows"); r.Code != 0 {
		t.Fatalf("installing the previous release's flows: %s", r.Stderr)
	}
	prev := map[string]bool{}
	for _, l := range strings.Split(sh(t, "ovs-ofctl -O OpenFlow13 dump-flows "+br+" | grep -o 'cookie=0x[0-9a-f]*'").Stdout, "\n") {
		if l != "" {
			prev[l] = true
		}
	}
	s := applyJSON(t, file)
	t.Logf("upgrade apply: %+v", s)
	if s.FlowsAdded == 0 || s.FlowsDeleted == 0 {
		t.Errorf("the upgrade changed no flow: %+v", s)
	}
	if again := applyJSON(t, file); again.FlowMods != 0 {
		t.Errorf("not converged after the upgrade: %+v", again)
	}
	rows := flowRows(t, br)
	installed := sh(t, "ovs-ofctl -O OpenFlow13 dump-flows "+br+" | grep -c 'cookie=0xa5'").Stdout
	if strings.TrimSpace(installed) != fmt.Sprint(s.Flows) || len(rows) != s.Flows {
		t.Errorf("%s vpcctl flows installed, %d known to vpcctl, %d desired", strings.TrimSpace(installed), len(rows), s.Flows)
	}
	kept := 0
	for _, r := range rows {
		if r.Owner == "" && !strings.Contains(r.Flow, "priority=0") {
			t.Errorf("installed flow vpcctl does not know: %+v", r)
		}
		if prev[fmt.Sprintf("cookie=%#x", r.Cookie)] {
			kept++
		}
	}
	t.Logf("%d of %d flows kept their cookie across the upgrade", kept, len(rows))
	// Traffic through the new pipeline: the lab's allowed paths.
	var code string
	for i := 0; i < 20 && code != "200"; i++ {
		code = inNS(t, br, "client", 10*time.Second, "curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", "http://10.0.1.10:8080/name").Stdout
		if code != "200" {
			time.Sleep(300 * time.Millisecond)
		}
	}
	if code != "200" {
		t.Fatalf("client cannot fetch web1's page after the upgrade (%q)", code)
	}
}

// bridgeBlock is the part of `vpcctl status` (table) about one bridge.
func bridgeBlock(status, br string) string {
	i := strings.Index(status, "bridge "+br+" ")
	if i < 0 {
		return ""
	}
	rest := status[i:]
	if j := strings.Index(rest[1:], "\nbridge "); j >= 0 {
		rest = rest[:j+1]
	}
	return rest
}

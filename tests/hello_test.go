package tests

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// labTopology reads a lab's topology and gives it a bridge of its own.
func labTopology(t *testing.T, lab, bridge string) string {
	t.Helper()
	data, err := os.ReadFile("../labs/" + lab + "/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^bridge:.*$`)
	return topologyFile(t, re.ReplaceAllString(string(data), "bridge: "+bridge))
}

func TestHelloLabPingAndTCP(t *testing.T) {
	br := uniqueBridge("th")
	file := labTopology(t, "00-hello", br)
	mustVpcctl(t, "apply", "-f", file)

	// alice is a veth (10.0.1.4, allocated), bob an internal port (10.0.1.20).
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatal("alice (veth) cannot ping bob (internal port)")
	}
	if !ping(t, br, "bob", "10.0.1.4") {
		t.Fatal("bob (internal port) cannot ping alice (veth)")
	}
	// A TCP stream both ways: bob fetches from alice's workload (python http.server),
	// then iperf3 pushes a bounded amount of data.
	var r result
	for i := 0; i < 20; i++ { // the workload needs a moment to listen
		r = inNS(t, br, "bob", 10*time.Second, "curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", "http://10.0.1.4:8080/")
		if r.Stdout == "200" {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r.Stdout != "200" {
		t.Fatalf("bob could not fetch a page from alice's workload: %q %s", r.Stdout, r.Stderr)
	}
	iperf(t, br, "bob", "alice", "10.0.1.20")
}

// iperfResult is what the tests read of `iperf3 -J`.
type iperfResult struct {
	Error string `json:"error"`
	End   struct {
		SumReceived struct {
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

// iperfTransfer runs an iperf3 server in server's namespace and the client
// (iperf3 -c serverIP -J --connect-timeout 1000 with args, bounded by
// timeout) in client's until it connects (the server may not listen yet),
// and fails the test if it never does. iperf3 -J exits 0 even when it could
// not connect: its "error" is read.
func iperfTransfer(t *testing.T, br, server, client, serverIP string, timeout time.Duration, args ...string) (iperfResult, string) {
	t.Helper()
	srv := inNSBackground(t, br, server, "timeout", "60", "iperf3", "-s", "-1", "-B", serverIP)
	defer srv.stop()
	argv := append([]string{"timeout", strconv.Itoa(int(timeout.Seconds())), "iperf3", "-c", serverIP, "-J", "--connect-timeout", "1000"}, args...)
	var out iperfResult
	var r result
	for i := 0; i < 20; i++ {
		r = inNS(t, br, client, timeout+10*time.Second, argv...)
		out = iperfResult{}
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			out.Error = "unreadable JSON: " + err.Error()
		}
		if r.Code == 0 && out.Error == "" {
			return out, r.Stdout
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv.stop()
	t.Fatalf("iperf3 %s -> %s failed: exit %d %s %s\nserver: %s", client, server, r.Code, out.Error, r.Stderr, srv.out.String())
	return out, r.Stdout
}

// iperf runs a bounded iperf3 TCP transfer from client to server and checks
// that data arrived.
func iperf(t *testing.T, br, server, client, serverIP string) {
	t.Helper()
	out, stdout := iperfTransfer(t, br, server, client, serverIP, 20*time.Second, "-n", "20M")
	// The receiver's count can trail the 20 MiB sent by what was in flight.
	if out.End.SumReceived.Bytes < 16e6 {
		t.Fatalf("iperf3 received %.0f bytes of 20 MiB sent:\n%s", out.End.SumReceived.Bytes, stdout)
	}
}

func TestSecondApplyChangesNothing(t *testing.T) {
	br := uniqueBridge("ti")
	file := labTopology(t, "00-hello", br)
	mustVpcctl(t, "apply", "-f", file)
	if !ping(t, br, "alice", "10.0.1.20") {
		t.Fatal("no connectivity after the first apply")
	}
	// OVS folds datapath counters into its flows' counters a moment later:
	// wait until they settle so that only a re-added flow can change them.
	before := snapshot(t, br)
	for i := 0; i < 20; i++ {
		time.Sleep(500 * time.Millisecond)
		next := snapshot(t, br)
		if next == before {
			break
		}
		before = next
	}

	out := mustVpcctl(t, "apply", "-o", "json", "-f", file)
	var sum struct {
		FlowMods    int `json:"flow_mods"`
		OVSDBWrites int `json:"ovsdb_writes"`
		HostChanges int `json:"host_changes"`
		Flows       int `json:"flows"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("apply -o json: %v: %s", err, out)
	}
	if sum.FlowMods != 0 || sum.OVSDBWrites != 0 || sum.HostChanges != 0 {
		t.Errorf("second apply changed things: %+v", sum)
	}
	if sum.Flows == 0 {
		t.Errorf("summary counts no flows: %+v", sum)
	}
	// Independent of vpcctl's own counting: OVSDB rows keep their _version and
	// the flows keep their packet counters (a re-added flow would reset them).
	after := snapshot(t, br)
	if before.rows != after.rows {
		t.Errorf("OVSDB rows changed:\nbefore %s\nafter  %s", before.rows, after.rows)
	}
	if before.flows != after.flows {
		t.Errorf("flows or their counters changed:\nbefore %s\nafter  %s", before.flows, after.flows)
	}
}

// state is what the second apply must leave exactly as it was.
type state struct{ rows, flows string }

func snapshot(t *testing.T, br string) state {
	t.Helper()
	// next_cfg grows with every write made the way ovs-vsctl and vpcctl write;
	// the rows' uuids and settings show any re-creation or change.
	rows := sh(t, "ovs-vsctl get Open_vSwitch . next_cfg; ovs-vsctl --columns=_uuid,fail_mode,protocols,external_ids,flow_tables list bridge "+br+
		"; for p in $(ovs-vsctl list-ports "+br+"); do ovs-vsctl --columns=_uuid,external_ids list port $p; ovs-vsctl --columns=_uuid,type,ofport_request,external_ids list interface $p; done")
	if rows.Code != 0 {
		t.Fatalf("ovs-vsctl: %s", rows.Stderr)
	}
	// Counters and cookies, without durations (they grow by themselves).
	fl := sh(t, "ovs-ofctl --names dump-flows "+br+" | sed -e 's/duration=[^,]*, //' -e 's/idle_age=[^,]*, //' -e 's/hard_age=[^,]*, //' | sort")
	if fl.Code != 0 {
		t.Fatalf("ovs-ofctl: %s", fl.Stderr)
	}
	return state{rows.Stdout, fl.Stdout}
}

func TestDestroyLeavesNothing(t *testing.T) {
	br := uniqueBridge("td")
	file := labTopology(t, "00-hello", br)
	mustVpcctl(t, "apply", "-f", file)
	st := sh(t, "ip netns pids vpcctl."+br+".alice")
	if strings.TrimSpace(st.Stdout) == "" {
		t.Fatal("alice's workload is not running after apply")
	}
	ports := sh(t, "ovs-vsctl list-ports "+br).Stdout

	mustVpcctl(t, "destroy", "-f", file)

	if r := sh(t, "ip netns list | grep -F 'vpcctl."+br+".' || true"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("namespaces left: %s", r.Stdout)
	}
	if r := sh(t, "ovs-vsctl br-exists "+br); r.Code == 0 {
		t.Errorf("bridge %s still exists", br)
	}
	for _, p := range strings.Fields(ports) {
		if r := sh(t, "ip link show "+p); r.Code == 0 {
			t.Errorf("link %s still exists", p)
		}
	}
	for _, pid := range strings.Fields(st.Stdout) {
		// A zombie waiting for its reaper counts as gone.
		if r := sh(t, "ps -o stat= -p "+pid+" | grep -qv Z"); r.Code == 0 {
			t.Errorf("workload process %s still running", pid)
		}
	}
	// A second destroy of the same file is a no-op, not an error.
	mustVpcctl(t, "destroy", "-f", file)
}

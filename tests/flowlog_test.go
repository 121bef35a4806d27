package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// synflood.py sends N TCP SYNs from a raw socket (the kernel adds the IP
// header): bounded in count, as fast as Python goes. Source ports run from
// SPORT upward, wrapping after WRAP ports (WRAP 1: always SPORT).
const synfloodPy = `import socket, struct, sys
src, dst, dport, n, sport0, wrap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
ps, pd = socket.inet_aton(src), socket.inet_aton(dst)
for i in range(n):
    sport = sport0 + i % wrap
    h = struct.pack("!HHIIBBHHH", sport, dport, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)
    c = csum(ps + pd + struct.pack("!BBH", 0, 6, len(h)) + h)
    s.sendto(h[:16] + struct.pack("!H", c) + h[18:], (dst, 0))
print("sent", n)
`

// flowLogTopology: web1 (public) may open tcp/5201 on db1 (private); db1's
// NACL denies ssh. db1 has two flow logs (text and JSON, 5 s), web1 one of
// accepted traffic with a relative destination; p1 and p2 are bystanders
// whose ping must not suffer from a SYN flood.
func flowLogTopology(dir string) string {
	return fmt.Sprintf(`vpcs:
  - name: shop
    cidr: 10.40.0.0/16
    subnets:
      - {name: public, cidr: 10.40.1.0/24}
      - {name: private, cidr: 10.40.2.0/24}
    security_groups:
      - name: web
        ingress: [{protocol: all, source: 10.40.0.0/16}]
      - name: db
        ingress:
          - {protocol: tcp, ports: "5201", source_group: web}
    network_acls:
      - name: private-acl
        subnets: [private]
        ingress:
          - {rule: 100, protocol: tcp, ports: "22", source: 0.0.0.0/0, action: deny}
          - {rule: 200, protocol: all, source: 0.0.0.0/0, action: allow}
        egress:
          - {rule: 100, protocol: all, destination: 0.0.0.0/0, action: allow}
    instances:
      - name: web1
        subnet: public
        ip: 10.40.1.10
        security_groups: [web]
        flow_logs: [{traffic: accept, destination: web1.log, aggregation_interval: 5}]
      - name: db1
        subnet: private
        ip: 10.40.2.10
        security_groups: [db]
        flow_logs:
          - {destination: %[1]s/db1.log, aggregation_interval: 5}
          - {destination: %[1]s/db1.json, format: json, aggregation_interval: 5}
      - {name: p1, subnet: public, ip: 10.40.1.21, security_groups: [web]}
      - {name: p2, subnet: public, ip: 10.40.1.22, security_groups: [web]}
`, dir)
}

// awsRecord is a version-2 record as both formats give it, with the JSON
// format's extra fields.
type awsRecord struct {
	Version   int    `json:"version"`
	Account   string `json:"account-id"`
	Iface     string `json:"interface-id"`
	Src       string `json:"srcaddr"`
	Dst       string `json:"dstaddr"`
	SrcPort   int    `json:"srcport"`
	DstPort   int    `json:"dstport"`
	Proto     int    `json:"protocol"`
	Packets   int64  `json:"packets"`
	Bytes     int64  `json:"bytes"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
	Action    string `json:"action"`
	Status    string `json:"log-status"`
	VPC       string `json:"vpc-id"`
	Subnet    string `json:"subnet-id"`
	Direction string `json:"flow-direction"`
	TCPFlags  int    `json:"tcp-flags"`
	PktSrc    string `json:"pkt-srcaddr"`
	Rule      string `json:"rule"`
}

// readFlowLog parses a flow log file of either format (missing: none yet).
func readFlowLog(t *testing.T, path string) []awsRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []awsRecord
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var r awsRecord
		if strings.HasPrefix(l, "{") {
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%s: %q: %v", path, l, err)
			}
		} else {
			f := strings.Fields(l)
			if len(f) != 14 {
				t.Fatalf("%s: %q: %d fields, want 14 (AWS version 2)", path, l, len(f))
			}
			n := func(i int) int64 {
				v, err := strconv.ParseInt(f[i], 10, 64)
				if err != nil {
					t.Fatalf("%s: field %d of %q", path, i, l)
				}
				return v
			}
			r = awsRecord{Version: int(n(0)), Account: f[1], Iface: f[2], Src: f[3], Dst: f[4], SrcPort: int(n(5)), DstPort: int(n(6)),
				Proto: int(n(7)), Packets: n(8), Bytes: n(9), Start: n(10), End: n(11), Action: f[12], Status: f[13]}
		}
		out = append(out, r)
	}
	return out
}

// flowSum adds up the records of one flow (a flow spans intervals).
func flowSum(recs []awsRecord, action, src, dst string, sport, dport int) (awsRecord, int) {
	var sum awsRecord
	n := 0
	for _, r := range recs {
		if r.Action == action && r.Src == src && r.Dst == dst && (sport == 0 || r.SrcPort == sport) && r.DstPort == dport {
			if n == 0 {
				sum = r
			} else {
				sum.Packets += r.Packets
				sum.Bytes += r.Bytes
				sum.Start = min(sum.Start, r.Start)
				sum.End = max(sum.End, r.End)
			}
			n++
		}
	}
	return sum, n
}

// waitFlow waits until the flow's records count at least packets (limit: the
// aggregation interval plus the collector's polling and slack).
func waitFlow(t *testing.T, path string, limit time.Duration, action, src, dst string, sport, dport int, packets int64) (awsRecord, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		sum, n := flowSum(readFlowLog(t, path), action, src, dst, sport, dport)
		if n > 0 && sum.Packets >= packets {
			return sum, time.Since(start)
		}
		if time.Since(start) > limit {
			b, _ := os.ReadFile(path)
			t.Fatalf("%s: no %s record %s:%d -> %s:%d with %d packets after %v (have %d records, %d packets):\n%s",
				path, action, src, sport, dst, dport, packets, limit, n, sum.Packets, b)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// startFlowLogDaemon runs `vpcctl daemon -f file` with --flow-log-dir and a
// metrics address (port picked by the kernel, read from its log) until the
// end of the test; it returns once the daemon applied the file.
func startFlowLogDaemon(t *testing.T, file, dir string) (*daemonProc, string) {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(vpcctlBin, "daemon", "-f", file, "--flow-log-dir", dir, "--metrics-addr", "127.0.0.1:0"), done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon: %v\nlog:\n%s", err, d.log.String())
		}
	})
	d.waitApplied(1)
	m := regexp.MustCompile(`event=metrics_listening addr=(\S+)`).FindStringSubmatch(d.log.String())
	if m == nil {
		t.Fatalf("the daemon logs no metrics address:\n%s", d.log.String())
	}
	return d, m[1]
}

func portName(bridge, instance string) string {
	sum := sha256.Sum256([]byte(bridge + "/" + instance))
	return "v" + hex.EncodeToString(sum[:])[:10]
}

func TestFlowLogs(t *testing.T) {
	br := uniqueBridge("tfl")
	dir := t.TempDir()
	file := topology(t, br, flowLogTopology(dir))
	relDir := t.TempDir() // --flow-log-dir: where web1.log goes
	d, metricsAddr := startFlowLogDaemon(t, file, relDir)
	script := filepath.Join(dir, "synflood.py")
	if err := os.WriteFile(script, []byte(synfloodPy), 0o644); err != nil {
		t.Fatal(err)
	}
	text, js := filepath.Join(dir, "db1.log"), filepath.Join(dir, "db1.json")
	db1Port := portName(br, "db1")
	const interval = 5 * time.Second
	limit := interval + 5*time.Second // the interval, the collector's polling (2.5 s), slack

	// Flow logs cost only where they are on: flows match db1's and web1's ports only.
	flows := sh(t, "ovs-ofctl -O OpenFlow13 --names dump-flows "+br+" | grep -c 'table=FlowLog'").Stdout
	if n, _ := strconv.Atoi(strings.TrimSpace(flows)); n != 14 {
		t.Errorf("%s flows in the flow-log tables, want 14 (3 learning flows per table for db1 and web1, 2 misses)", strings.TrimSpace(flows))
	}
	if !pingUntil(t, br, "web1", "10.40.1.21", 10*time.Second) {
		t.Fatal("web1 cannot ping p1")
	}

	t.Run("accepted tcp", func(t *testing.T) {
		// iperf3 (2 s at 200 Mbit/s) from web1 to db1, with tcpdump in db1
		// counting the data connection's packets as the instance sees them.
		srv := inNSBackground(t, br, "db1", "iperf3", "-s", "-1", "-p", "5201")
		cap := filepath.Join(dir, "db1.pcap")
		// tcpdump stops by itself (SIGINT after 8 s, writing its file out):
		// a killed `vpcctl exec` would leave it running.
		dump := inNSBackground(t, br, "db1", "timeout", "-s", "INT", "8", "tcpdump", "-i", "eth0", "-n", "-s", "96", "-w", cap, "tcp port 5201")
		time.Sleep(time.Second)
		r := inNS(t, br, "web1", 30*time.Second, "iperf3", "-c", "10.40.2.10", "-p", "5201", "-t", "2", "-b", "200M", "-J")
		if r.Code != 0 {
			t.Fatalf("iperf3: %s %s\nserver: %s", r.Stdout, r.Stderr, srv.out.String())
		}
		var res struct {
			Start struct {
				Connected []struct {
					LocalPort int `json:"local_port"`
				} `json:"connected"`
			} `json:"start"`
			End struct {
				SumSent struct {
					Bytes int64 `json:"bytes"`
				} `json:"sum_sent"`
				SumReceived struct {
					Bytes int64 `json:"bytes"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || len(res.Start.Connected) != 1 {
			t.Fatalf("iperf3 JSON: %v\n%s", err, r.Stdout)
		}
		ended := time.Now()
		sport, sent := res.Start.Connected[0].LocalPort, res.End.SumReceived.Bytes
		// The first record of the flow comes within the aggregation interval.
		_, after := waitFlow(t, text, limit, "ACCEPT", "10.40.1.10", "10.40.2.10", sport, 5201, 1)
		select {
		case <-dump.done:
		case <-time.After(15 * time.Second):
			t.Fatal("tcpdump did not stop")
		}
		// Frames and their bytes (Ethernet, as OVS counts them) from web1's side of the data connection.
		pcap := sh(t, fmt.Sprintf("tcpdump -n -e -r %s 'src host 10.40.1.10 and src port %d and dst port 5201' 2>/dev/null | "+
			`awk '{for(i=1;i<=NF;i++) if($i=="length"){sub(":","",$(i+1)); s+=$(i+1); break}} END{print NR, s+0}'`, cap, sport))
		var seen, seenBytes int64
		if _, err := fmt.Sscan(pcap.Stdout, &seen, &seenBytes); err != nil || seen == 0 {
			t.Fatalf("tcpdump count: %q %v", pcap.Stdout, err)
		}
		// The totals, once the flow's last interval is written too.
		time.Sleep(limit - time.Since(ended))
		rec, _ := flowSum(readFlowLog(t, text), "ACCEPT", "10.40.1.10", "10.40.2.10", sport, 5201)
		t.Logf("iperf3 delivered %d bytes; tcpdump in db1 saw %d packets, %d bytes; text log: %d packets, %d bytes; first record %v after iperf3 ended",
			sent, seen, seenBytes, rec.Packets, rec.Bytes, after.Round(time.Millisecond))
		if rec.Version != 2 || rec.Account != br || rec.Iface != db1Port || rec.Proto != 6 || rec.Status != "OK" {
			t.Errorf("record fields: %+v (want version 2, account %s, interface %s, protocol 6, OK)", rec, br, db1Port)
		}
		if math.Abs(float64(rec.Bytes-seenBytes)) > 0.05*float64(seenBytes) || rec.Bytes < sent {
			t.Errorf("bytes %d, tcpdump in db1 saw %d: more than 5%% apart (or fewer than iperf3's payload, %d)", rec.Bytes, seenBytes, sent)
		}
		if math.Abs(float64(rec.Packets-seen)) > 0.05*float64(seen) {
			t.Errorf("packets %d, tcpdump in db1 saw %d: more than 5%% apart", rec.Packets, seen)
		}
		if rec.Start > rec.End || rec.End > time.Now().Unix() || rec.Start < ended.Add(-30*time.Second).Unix() {
			t.Errorf("start %d end %d", rec.Start, rec.End)
		}
		// The same flow in JSON, with the extra fields and the rule; the reply direction too.
		jrec, _ := flowSum(readFlowLog(t, js), "ACCEPT", "10.40.1.10", "10.40.2.10", sport, 5201)
		if jrec.Direction != "ingress" || jrec.VPC != "shop" || jrec.Subnet != "private" || jrec.PktSrc != "10.40.1.10" ||
			jrec.Rule != "vpcs[shop].security_groups[db].ingress[0]" || jrec.Packets != rec.Packets || jrec.Bytes != rec.Bytes {
			t.Errorf("JSON record %+v, text %+v", jrec, rec)
		}
		back, _ := waitFlow(t, js, limit, "ACCEPT", "10.40.2.10", "10.40.1.10", 5201, sport, 1)
		if back.Direction != "egress" || back.Rule != "vpcs[shop].security_groups[db].ingress[0]" {
			t.Errorf("reply record %+v", back)
		}
	})

	t.Run("accepted http, exact counts", func(t *testing.T) {
		// A short connection (curl, a dozen packets): every packet counts,
		// the first one too (counted by the learning flow, given to the
		// flow it made), both ways, as tcpdump in db1 sees them.
		inNSBackground(t, br, "db1", "timeout", "60", "python3", "-m", "http.server", "5201")
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(inNS(t, br, "db1", 10*time.Second, "ss", "-ltn").Stdout, ":5201 "); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the http server in db1 does not listen")
			}
		}
		cap := filepath.Join(dir, "http.pcap")
		dump := inNSBackground(t, br, "db1", "timeout", "-s", "INT", "6", "tcpdump", "-i", "eth0", "-n", "-s", "96", "-w", cap, "tcp port 5201")
		time.Sleep(time.Second)
		r := inNS(t, br, "web1", 20*time.Second, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{local_port}", "http://10.40.2.10:5201/")
		var code, sport int
		if _, err := fmt.Sscan(r.Stdout, &code, &sport); err != nil || code != 200 {
			t.Fatalf("curl: %q %s", r.Stdout, r.Stderr)
		}
		ended := time.Now()
		select {
		case <-dump.done:
		case <-time.After(15 * time.Second):
			t.Fatal("tcpdump did not stop")
		}
		frames := func(filter string) (n, bytes int64) {
			out := sh(t, fmt.Sprintf("tcpdump -n -e -r %s '%s' 2>/dev/null | "+
				`awk '{for(i=1;i<=NF;i++) if($i=="length"){sub(":","",$(i+1)); s+=$(i+1); break}} END{print NR, s+0}'`, cap, filter)).Stdout
			fmt.Sscan(out, &n, &bytes)
			return n, bytes
		}
		time.Sleep(limit - time.Since(ended))
		recs := readFlowLog(t, text)
		for _, c := range []struct {
			src, dst     string
			sport, dport int
			filter       string
		}{
			{"10.40.1.10", "10.40.2.10", sport, 5201, fmt.Sprintf("src host 10.40.1.10 and src port %d", sport)},
			{"10.40.2.10", "10.40.1.10", 5201, sport, fmt.Sprintf("src host 10.40.2.10 and dst port %d", sport)},
		} {
			rec, _ := flowSum(recs, "ACCEPT", c.src, c.dst, c.sport, c.dport)
			n, b := frames(c.filter)
			t.Logf("%s:%d -> %s:%d: log %d packets %d bytes, tcpdump %d frames %d bytes", c.src, c.sport, c.dst, c.dport, rec.Packets, rec.Bytes, n, b)
			if n == 0 || rec.Packets != n || rec.Bytes != b {
				t.Errorf("%s:%d -> %s:%d: log %d packets %d bytes, tcpdump in db1 %d frames %d bytes", c.src, c.sport, c.dst, c.dport, rec.Packets, rec.Bytes, n, b)
			}
		}
	})

	reject := func(t *testing.T, port int, sport int, rule string) {
		r := inNS(t, br, "web1", 20*time.Second, "python3", script, "10.40.1.10", "10.40.2.10", strconv.Itoa(port), "3", strconv.Itoa(sport), "1")
		if r.Code != 0 {
			t.Fatalf("synflood: %s %s", r.Stdout, r.Stderr)
		}
		rec, after := waitFlow(t, js, limit, "REJECT", "10.40.1.10", "10.40.2.10", sport, port, 3)
		t.Logf("REJECT record %v after the SYNs: %+v", after, rec)
		if rec.Packets != 3 || rec.Bytes != 3*54 || rec.Direction != "ingress" || rec.Rule != rule || rec.TCPFlags != 2 || rec.Iface != db1Port {
			t.Errorf("record %+v: want 3 packets, 162 bytes (54-byte SYN frames), ingress, SYN flag, rule %s", rec, rule)
		}
		if tr, _ := waitFlow(t, text, limit, "REJECT", "10.40.1.10", "10.40.2.10", sport, port, 3); tr.Packets != 3 {
			t.Errorf("text record %+v", tr)
		}
	}
	t.Run("rejected by the security group", func(t *testing.T) {
		reject(t, 5432, 41000, "vpcs[shop].instances[db1].security_groups")
	})
	t.Run("rejected by the network ACL", func(t *testing.T) {
		reject(t, 22, 42000, "vpcs[shop].network_acls[private-acl].ingress[100]")
	})

	t.Run("SYN flood", func(t *testing.T) {
		// 10,000 rejected SYNs (1,000 source ports) while p1 pings p2:
		// the controller meter bounds what reaches the daemon, and the
		// ping loses nothing.
		before := readFlowLog(t, js)
		pinger := inNSBackground(t, br, "p1", "ping", "-n", "-c", "300", "-i", "0.01", "-W", "1", "10.40.1.22")
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		r := inNS(t, br, "web1", 60*time.Second, "python3", script, "10.40.1.10", "10.40.2.10", "5432", "10000", "20000", "1000")
		floodTime := time.Since(start)
		if r.Code != 0 {
			t.Fatalf("synflood: %s %s", r.Stdout, r.Stderr)
		}
		select {
		case <-pinger.done:
		case <-time.After(30 * time.Second):
			t.Fatal("ping did not finish")
		}
		m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinger.out.String())
		if m == nil || m[1] != m[2] || m[1] != "300" {
			t.Errorf("ping between p1 and p2 during the flood lost packets: %s", pinger.out.String())
		}
		time.Sleep(limit)
		var logged int64
		for _, rec := range readFlowLog(t, js)[len(before):] {
			if rec.Action == "REJECT" && rec.DstPort == 5432 && rec.SrcPort >= 20000 && rec.SrcPort < 21000 {
				logged += rec.Packets
			}
		}
		meter := sh(t, "ovs-ofctl -O OpenFlow13 meter-stats "+br).Stdout
		dropFlow := sh(t, "ovs-ofctl -O OpenFlow13 --names dump-flows "+br+" table=IngressSecurityGroup | grep 'priority=1,' | grep -o 'n_packets=[0-9]*'").Stdout
		t.Logf("flood of 10000 SYNs took %v; the reject flow matched %s; %d logged; ping: %s; meter: %s",
			floodTime.Round(time.Millisecond), strings.TrimSpace(dropFlow), logged,
			strings.TrimSpace(lastLine(pinger.out.String())), strings.Join(strings.Fields(meter), " "))
		// 200 packet-ins per second, burst 200, while the flood lasted.
		max := int64(200 + 200*floodTime.Seconds() + 200)
		if logged == 0 || logged > max {
			t.Errorf("%d rejected SYNs logged, want 1..%d (rate-limited)", logged, max)
		}
		if !strings.Contains(meter, "meter:controller") {
			t.Errorf("no controller meter: %s", meter)
		}
		if !d.running() {
			t.Fatalf("daemon died:\n%s", d.log.String())
		}
	})

	t.Run("relative destination and metrics", func(t *testing.T) {
		// web1's flow log (accept only) is under --flow-log-dir: the iperf3
		// connection from its side (egress), no REJECT record.
		recs := readFlowLog(t, filepath.Join(relDir, "web1.log"))
		egress := 0
		for _, r := range recs {
			if r.Action != "ACCEPT" || r.Iface != portName(br, "web1") {
				t.Errorf("web1.log: %+v", r)
			}
			if r.Src == "10.40.1.10" && r.Dst == "10.40.2.10" && r.DstPort == 5201 {
				egress++
			}
		}
		if egress == 0 {
			t.Errorf("web1.log has no record of the iperf3 connection: %+v", recs)
		}
		// Every line written is counted: vpcctl_flow_log_records_total{result="written"}.
		lines := 0
		for _, f := range []string{filepath.Join(dir, "db1.log"), filepath.Join(dir, "db1.json"), filepath.Join(relDir, "web1.log")} {
			lines += len(readFlowLog(t, f))
		}
		re := regexp.MustCompile(`(?m)^vpcctl_flow_log_records_total\{result="written"\} (\S+)$`)
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			r := run(t, 10*time.Second, "curl", "-s", "http://"+metricsAddr+"/metrics")
			if m := re.FindStringSubmatch(r.Stdout); m != nil {
				if got = m[1]; got == strconv.Itoa(lines) {
					return
				}
			}
		}
		t.Errorf("records written: metrics say %q, the files hold %d", got, lines)
	})

	t.Run("apply and flows", func(t *testing.T) {
		// The flows OVS learned are not vpcctl's: an apply of the same file
		// changes nothing, and `vpcctl flows` names the flow-log flows.
		if s := applyJSON(t, file); s.FlowMods != 0 || s.FlowsAdded != 0 || s.FlowsDeleted != 0 {
			t.Errorf("apply of the unchanged file: %+v, want no flow-mods", s)
		}
		found := map[string]bool{}
		for _, r := range flowRows(t, br) {
			if r.Owner == "vpcs[shop].instances[db1].flow_logs" {
				found[r.Table] = true
			}
		}
		if !found["FlowLogEgress"] || !found["FlowLogIngress"] || !found["ConntrackCommit"] {
			t.Errorf("flow-log flows by table: %v", found)
		}
		// trace follows packets through the flow-log flows: model and dataplane agree.
		for _, c := range [][]string{{"web1", "db1", "--tcp", "5201"}, {"web1", "db1", "--tcp", "5432"}, {"web1", "db1", "--tcp", "22"}} {
			r := vpcctl(t, append([]string{"trace", "--bridge", br}, c...)...)
			if !strings.Contains(r.Stdout, "model and dataplane agree") {
				t.Errorf("trace %v: exit %d\n%s%s", c, r.Code, r.Stdout, r.Stderr)
			}
		}
	})
}

package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricsTopo has one security group and one network ACL whose rules the
// test's traffic goes through: client (subnet app) pings and connects to
// db1 (subnet data, group db).
const metricsTopo = `vpcs:
  - name: shop
    cidr: 10.0.0.0/16
    subnets:
      - {name: app, cidr: 10.0.1.0/24}
      - {name: data, cidr: 10.0.2.0/24}
    security_groups:
      - name: db
        ingress:
          - {protocol: icmp, source: %s}
          - {protocol: tcp, ports: "5432", source: 10.0.1.0/24}
          - {protocol: udp, ports: "53", source: 10.0.1.0/24}
    network_acls:
      - name: data-acl
        subnets: [data]
        ingress:
          - {rule: 100, protocol: icmp, source: 10.0.1.0/24, action: allow}
          - {rule: 200, protocol: tcp, ports: "5432", source: 10.0.1.0/24, action: allow}
        egress:
          - {rule: 100, protocol: icmp, destination: 10.0.1.0/24, action: allow}
          - {rule: 200, protocol: tcp, ports: "1024-65535", destination: 10.0.1.0/24, action: allow}
    instances:
      - {name: client, subnet: app, ip: 10.0.1.10}
      - {name: db1, subnet: data, ip: 10.0.2.10, security_groups: [db]}
`

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is one GET of /metrics, parsed.
type scrape struct {
	samples []sample
	types   map[string]string // metric family -> counter|gauge|histogram|...
	text    string
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func getMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	return getMetricsAs(t, addr, "")
}

// getMetricsAs is getMetrics with an Accept header ("": none, the text
// format); the OpenMetrics format carries counters' _created samples.
func getMetricsAs(t *testing.T, addr, accept string) scrape {
	t.Helper()
	c := http.Client{Timeout: 15 * time.Second}
	req, err := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v\n%s", resp.Status, err, body)
	}
	s := scrape{types: map[string]string{}, text: string(body)}
	sc := bufio.NewScanner(strings.NewReader(s.text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			s.types[f[2]] = f[3]
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		smp := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, lp := range labelPair.FindAllStringSubmatch(m[2], -1) {
			smp.labels[lp[1]] = lp[2]
		}
		s.samples = append(s.samples, smp)
	}
	return s
}

// value is the sample of name whose labels include want; ok is false when
// there is none.
func (s scrape) value(name string, want map[string]string) (float64, bool) {
	for _, smp := range s.samples {
		if smp.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if smp.labels[k] != v {
				match = false
			}
		}
		if match {
			return smp.value, true
		}
	}
	return 0, false
}

func (s scrape) must(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := s.value(name, labels)
	if !ok {
		t.Fatalf("no %s%v in the metrics:\n%s", name, labels, s.grep("vpcctl_"))
	}
	return v
}

// grep is the lines of the scrape that contain substr, for failure messages.
func (s scrape) grep(substr string) string {
	var out []string
	for _, l := range strings.Split(s.text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func rule(kind, path string) map[string]string {
	return map[string]string{"vpc": "shop", "kind": kind, "rule": path}
}

// startDaemonMetrics is startDaemon with --metrics-addr on a free port; it
// returns the daemon and the address it serves metrics on.
func startDaemonMetrics(t *testing.T, file string) (*daemonProc, string) {
	t.Helper()
	d, addr := startDaemonArgs(t, "daemon", "-f", file, "--metrics-addr", "127.0.0.1:0")
	d.waitApplied(1)
	return d, addr
}

// startDaemonArgs runs vpcctl with args (a daemon serving metrics) until
// the end of the test and returns once it serves metrics, with their address.
func startDaemonArgs(t *testing.T, args ...string) (*daemonProc, string) {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(vpcctlBin, args...), done: make(chan struct{})}
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
	listening := regexp.MustCompile(`event=metrics_listening addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(d.log.String()); m != nil {
			return d, m[1]
		}
		if !d.running() || time.Now().After(deadline) {
			t.Fatalf("the daemon logs no metrics address:\n%s", d.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrapeUntil scrapes until ok says the scrape is right (at most limit).
func scrapeUntil(t *testing.T, addr string, limit time.Duration, ok func(scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := getMetrics(t, addr)
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// installedPerTable counts the vpcctl flows on the bridge by table name, as
// ovs-ofctl sees them.
func installedPerTable(t *testing.T, bridge string) map[string]int {
	t.Helper()
	r := sh(t, "ovs-ofctl -O OpenFlow13 --names --no-stats dump-flows "+bridge+" cookie=0xa500000000000000/0xff00000000000000")
	if r.Code != 0 {
		t.Fatalf("ovs-ofctl dump-flows: %s", r.Stderr)
	}
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s*cookie=0x[0-9a-f]+, table=([A-Za-z0-9]+),`).FindAllStringSubmatch(r.Stdout, -1) {
		out[m[1]]++
	}
	return out
}

// TestMetrics runs the daemon with --metrics-addr on a topology with a
// security group and a network ACL, sends a known number of packets
// through their rules and reads the counters back over HTTP; then deletes a
// rule's flow (the daemon's drift repair puts it back: the counter keeps
// counting) and edits the rule (its counter starts again).
func TestMetrics(t *testing.T) {
	br := uniqueBridge("tmx")
	file := topology(t, br, fmt.Sprintf(metricsTopo, "10.0.1.0/24"))
	d, addr := startDaemonMetrics(t, file)

	// Every metric of the contract is there (histograms by their TYPE line).
	s := scrapeUntil(t, addr, 10*time.Second, func(s scrape) bool {
		v, _ := s.value("vpcctl_openflow_connected", nil)
		return v == 1
	})
	for name, typ := range map[string]string{
		"vpcctl_apply_duration_seconds": "histogram", "vpcctl_apply_errors_total": "counter",
		"vpcctl_last_apply_success_timestamp_seconds": "gauge", "vpcctl_topology_invalid_total": "counter",
		"vpcctl_drift_check_duration_seconds": "histogram", "vpcctl_drift_checks_total": "counter",
		"vpcctl_openflow_connected": "gauge", "vpcctl_openflow_reconnects_total": "counter",
		"vpcctl_ovsdb_connected": "gauge", "vpcctl_ovsdb_reconnects_total": "counter",
		"vpcctl_instances": "gauge", "vpcctl_flows_installed": "gauge",
		"vpcctl_rule_packets_total": "counter", "vpcctl_rule_bytes_total": "counter",
		"vpcctl_flow_dump_success": "gauge", "vpcctl_flow_dump_duration_seconds": "gauge",
		"vpcctl_flow_log_records_total": "counter",
	} {
		if s.types[name] != typ {
			t.Errorf("%s: TYPE %q, want %q", name, s.types[name], typ)
		}
	}
	if t.Failed() {
		t.Fatalf("metrics:\n%s", s.grep("vpcctl_"))
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vpcctl_openflow_connected", nil, 1},
		{"vpcctl_ovsdb_connected", nil, 1},
		{"vpcctl_instances", map[string]string{"vpc": "shop"}, 2},
		{"vpcctl_apply_duration_seconds_count", map[string]string{"reason": "start"}, 1},
		{"vpcctl_apply_errors_total", map[string]string{"reason": "start"}, 0},
		{"vpcctl_flow_dump_success", nil, 1},
		{"vpcctl_flow_log_records_total", map[string]string{"result": "dropped"}, 0},
	} {
		if got := s.must(t, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Flows per table: what ovs-ofctl counts on the bridge.
	want := installedPerTable(t, br)
	for table, n := range want {
		if got := s.must(t, "vpcctl_flows_installed", map[string]string{"table": table}); got != float64(n) {
			t.Errorf("vpcctl_flows_installed{table=%s} = %v, ovs-ofctl counts %d", table, got, n)
		}
	}
	if got := s.must(t, "vpcctl_flows_installed", map[string]string{"table": "IngressSecurityGroup"}); got < 5 {
		t.Errorf("IngressSecurityGroup holds %v vpcctl flows, want the group's rules there", got)
	}

	sgICMP := rule("security_group", "vpcs[shop].security_groups[db].ingress[0]")
	sgTCP := rule("security_group", "vpcs[shop].security_groups[db].ingress[1]")
	sgUDP := rule("security_group", "vpcs[shop].security_groups[db].ingress[2]")
	sgOut := rule("security_group", "vpcs[shop].security_groups[default].egress[0]")
	aclInICMP := rule("network_acl", "vpcs[shop].network_acls[data-acl].ingress[100]")
	aclInTCP := rule("network_acl", "vpcs[shop].network_acls[data-acl].ingress[200]")
	aclOutICMP := rule("network_acl", "vpcs[shop].network_acls[data-acl].egress[100]")
	aclOutTCP := rule("network_acl", "vpcs[shop].network_acls[data-acl].egress[200]")
	all := []map[string]string{sgICMP, sgTCP, sgUDP, sgOut, aclInICMP, aclInTCP, aclOutICMP, aclOutTCP}
	before := map[string]float64{}
	for _, r := range all {
		before[r["rule"]] = s.must(t, "vpcctl_rule_packets_total", r)
	}
	icmpBytes := s.must(t, "vpcctl_rule_bytes_total", sgICMP)

	// 10 pings (each request counts once on the group's icmp rule and the
	// ACL's inbound rule 100; each reply on the ACL's outbound rule 100,
	// and not on the group: replies of a tracked connection pass without a
	// rule) and 5 refused TCP connects (one SYN in, one RST out each).
	const pings, connects = 10, 5
	if r := inNS(t, br, "client", 30*time.Second, "ping", "-c", strconv.Itoa(pings), "-i", "0.2", "-W", "2", "10.0.2.10"); r.Code != 0 ||
		!strings.Contains(r.Stdout, fmt.Sprintf("%d received", pings)) {
		t.Fatalf("ping: exit %d\n%s%s\n%s", r.Code, r.Stdout, r.Stderr, d.log.String())
	}
	connect := fmt.Sprintf(`for i in $(seq %d); do (echo > /dev/tcp/10.0.2.10/5432) 2>/dev/null && echo connected; done; true`, connects)
	if r := inNS(t, br, "client", 30*time.Second, "bash", "-c", connect); strings.Contains(r.Stdout, "connected") {
		t.Fatalf("a connection to 5432 succeeded; nothing listens there:\n%s", r.Stdout)
	}
	expect := []struct {
		r    map[string]string
		want float64
	}{
		{sgICMP, pings}, {sgTCP, connects}, {sgUDP, 0}, {sgOut, pings + connects},
		{aclInICMP, pings}, {aclOutICMP, pings}, {aclInTCP, connects}, {aclOutTCP, connects},
	}
	// ovs-vswitchd adds the datapath's packet counts to its OpenFlow flows
	// periodically (its revalidators, about every 0.5 s): wait until the
	// counters reach the packets sent, then a little more in case they go
	// past them.
	reached := func(s scrape) bool {
		for _, c := range expect {
			if v, _ := s.value("vpcctl_rule_packets_total", c.r); v-before[c.r["rule"]] < c.want {
				return false
			}
		}
		return true
	}
	waited := time.Now()
	s = scrapeUntil(t, addr, 10*time.Second, reached)
	t.Logf("rule counters reached the packets sent %v after the traffic", time.Since(waited).Round(10*time.Millisecond))
	time.Sleep(time.Second)
	s = getMetrics(t, addr)
	for _, c := range expect {
		if got := s.must(t, "vpcctl_rule_packets_total", c.r) - before[c.r["rule"]]; got != c.want {
			t.Errorf("%s: %v more packets, want %v", c.r["rule"], got, c.want)
		}
	}
	// An echo request of ping's default 56 data bytes is a 98-byte frame.
	if got := s.must(t, "vpcctl_rule_bytes_total", sgICMP) - icmpBytes; got != pings*98 {
		t.Errorf("%s: %v more bytes, want %d", sgICMP["rule"], got, pings*98)
	}
	if t.Failed() {
		t.Fatalf("rule counters:\n%s\ndaemon log:\n%s", s.grep("vpcctl_rule_packets_total"), d.log.String())
	}
	icmpTotal := s.must(t, "vpcctl_rule_packets_total", sgICMP)
	tcpTotal := s.must(t, "vpcctl_rule_packets_total", sgTCP)

	// Someone deletes the rule's deciding flow (its conj_id flow); the
	// daemon's drift check (every 10 s) puts it back, with counters at 0.
	// The rule's counter keeps what it had and adds what the new flow counts.
	cookie := ruleCookie(t, br, sgICMP["rule"])
	applied := d.applied()
	if r := sh(t, fmt.Sprintf("ovs-ofctl -O OpenFlow13 del-flows %s cookie=%s/-1", br, cookie)); r.Code != 0 {
		t.Fatalf("del-flows: %s", r.Stderr)
	}
	d.waitApplied(applied + 1)
	const more = 4
	if r := inNS(t, br, "client", 30*time.Second, "ping", "-c", strconv.Itoa(more), "-i", "0.2", "-W", "2", "10.0.2.10"); r.Code != 0 {
		t.Fatalf("ping after the drift repair: exit %d\n%s\n%s", r.Code, r.Stdout, d.log.String())
	}
	s = scrapeUntil(t, addr, 10*time.Second, func(s scrape) bool {
		v, _ := s.value("vpcctl_rule_packets_total", sgICMP)
		return v >= icmpTotal+more
	})
	if got := s.must(t, "vpcctl_rule_packets_total", sgICMP); got != icmpTotal+more {
		t.Errorf("after the flow was reinstalled: %s = %v, want %v (kept %v, plus %d)", sgICMP["rule"], got, icmpTotal+more, icmpTotal, more)
	}
	if got := s.must(t, "vpcctl_drift_checks_total", map[string]string{"result": "drift"}); got < 1 {
		t.Errorf("vpcctl_drift_checks_total{result=drift} = %v after a repaired drift", got)
	}
	if got := s.must(t, "vpcctl_apply_duration_seconds_count", map[string]string{"reason": "drift"}); got < 1 {
		t.Errorf("vpcctl_apply_duration_seconds_count{reason=drift} = %v after a repair", got)
	}

	// An invalid file is counted and changes nothing.
	applied = d.applied()
	rewrite(t, file, "version: 1\nbridge: "+br+"\nvpcs: [{name: shop}]\n")
	s = scrapeUntil(t, addr, 10*time.Second, func(s scrape) bool {
		v, _ := s.value("vpcctl_topology_invalid_total", nil)
		return v == 1
	})
	if got := s.must(t, "vpcctl_topology_invalid_total", nil); got != 1 {
		t.Fatalf("vpcctl_topology_invalid_total = %v after an invalid file, want 1\n%s", got, d.log.String())
	}

	// Editing the rule (a narrower source) gives it another conj_id flow:
	// its path names another rule now, and its counter starts again (with
	// a new created timestamp, in OpenMetrics). The other rules keep theirs.
	const openMetrics = "application/openmetrics-text; version=1.0.0"
	om := getMetricsAs(t, addr, openMetrics)
	icmpCreated := om.must(t, "vpcctl_rule_packets_created", sgICMP)
	tcpCreated := om.must(t, "vpcctl_rule_packets_created", sgTCP)
	edited := time.Now()
	rewrite(t, file, "version: 1\nbridge: "+br+"\n"+fmt.Sprintf(metricsTopo, "10.0.1.0/25"))
	d.waitApplied(applied + 1)
	if newCookie := ruleCookie(t, br, sgICMP["rule"]); newCookie == cookie {
		t.Fatalf("the edited rule kept its flow %s", cookie)
	}
	const after = 3
	if r := inNS(t, br, "client", 30*time.Second, "ping", "-c", strconv.Itoa(after), "-i", "0.2", "-W", "2", "10.0.2.10"); r.Code != 0 {
		t.Fatalf("ping after the edit: exit %d\n%s\n%s", r.Code, r.Stdout, d.log.String())
	}
	s = scrapeUntil(t, addr, 10*time.Second, func(s scrape) bool {
		v, _ := s.value("vpcctl_rule_packets_total", sgICMP)
		return v >= after
	})
	if got := s.must(t, "vpcctl_rule_packets_total", sgICMP); got != after {
		t.Errorf("edited rule %s = %v, want %d (a new counter)", sgICMP["rule"], got, after)
	}
	if got := s.must(t, "vpcctl_rule_packets_total", sgTCP); got != tcpTotal {
		t.Errorf("untouched rule %s = %v, want %v as before", sgTCP["rule"], got, tcpTotal)
	}
	om = getMetricsAs(t, addr, openMetrics)
	if c := om.must(t, "vpcctl_rule_packets_created", sgICMP); c <= icmpCreated || c < float64(edited.Unix()-2) {
		t.Errorf("edited rule: created %v, was %v, edited at %d", c, icmpCreated, edited.Unix())
	}
	if c := om.must(t, "vpcctl_rule_packets_created", sgTCP); c != tcpCreated {
		t.Errorf("untouched rule: created %v, was %v", c, tcpCreated)
	}
	if got := s.must(t, "vpcctl_apply_duration_seconds_count", map[string]string{"reason": "file_changed"}); got != 1 {
		t.Errorf("vpcctl_apply_duration_seconds_count{reason=file_changed} = %v, want 1", got)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s\ndaemon log:\n%s", s.grep("vpcctl_"), d.log.String())
	}
}

// ruleCookie is the cookie of a security group rule's conj_id flow, found
// through `vpcctl flows` (the owner is not on the bridge).
func ruleCookie(t *testing.T, bridge, path string) string {
	t.Helper()
	var rows []struct {
		Cookie uint64 `json:"cookie"`
		Flow   string `json:"flow"`
		Owner  string `json:"owner"`
	}
	out := mustVpcctl(t, "flows", "--bridge", bridge, "-o", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("vpcctl flows -o json: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r.Owner == path && strings.Contains(r.Flow, "conj_id=") {
			return fmt.Sprintf("%#x", r.Cookie)
		}
	}
	t.Fatalf("no conj_id flow of %s in vpcctl flows:\n%s", path, out)
	return ""
}

// TestMetricsOpenFlowReconnect: when ovs-vswitchd's controller connection
// drops (here: someone points the bridge at another controller; the
// daemon's repair sets its own back), vpcctl_openflow_connected goes to 0
// and back to 1, and the reconnect is counted.
func TestMetricsOpenFlowReconnect(t *testing.T) {
	br := uniqueBridge("tmy")
	file := topology(t, br, daemonHello)
	d, addr := startDaemonMetrics(t, file)
	up := func(s scrape) bool {
		v, _ := s.value("vpcctl_openflow_connected", nil)
		return v == 1
	}
	s := scrapeUntil(t, addr, 15*time.Second, up)
	if !up(s) || s.must(t, "vpcctl_openflow_reconnects_total", nil) != 0 {
		t.Fatalf("at start: %s\n%s", s.grep("vpcctl_openflow"), d.log.String())
	}
	elsewhere := "unix:" + t.TempDir() + "/nobody.sock"
	if r := sh(t, "ovs-vsctl set-controller "+br+" "+elsewhere); r.Code != 0 {
		t.Fatalf("set-controller: %s", r.Stderr)
	}
	s = scrapeUntil(t, addr, 10*time.Second, func(s scrape) bool { return !up(s) })
	if up(s) {
		t.Fatalf("vpcctl_openflow_connected stayed 1 after the controller connection dropped\n%s", d.log.String())
	}
	s = scrapeUntil(t, addr, 20*time.Second, func(s scrape) bool {
		n, _ := s.value("vpcctl_openflow_reconnects_total", nil)
		return up(s) && n == 1
	})
	if !up(s) || s.must(t, "vpcctl_openflow_reconnects_total", nil) != 1 {
		t.Fatalf("after the repair: %s\n%s", s.grep("vpcctl_openflow"), d.log.String())
	}
	if !pingUntil(t, br, "alice", "10.0.1.30", 10*time.Second) {
		t.Fatalf("no connectivity after the repair\n%s", d.log.String())
	}
}

// TestMetricsAddrInvalid: a --metrics-addr that is no address is a usage
// error (exit 2), one that is taken a runtime failure (exit 1), both named,
// before the daemon touches anything.
func TestMetricsAddrInvalid(t *testing.T) {
	br := uniqueBridge("tmz")
	file := topology(t, br, daemonHello)
	r := vpcctl(t, "daemon", "-f", file, "--metrics-addr", "9475")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--metrics-addr") {
		t.Errorf("--metrics-addr 9475: exit %d, want 2 naming the flag\n%s", r.Code, r.Stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r = vpcctl(t, "daemon", "-f", file, "--metrics-addr", ln.Addr().String())
	if r.Code != 1 || !strings.Contains(r.Stderr, "--metrics-addr "+ln.Addr().String()) {
		t.Errorf("--metrics-addr %s (taken): exit %d, want 1 naming it\n%s", ln.Addr(), r.Code, r.Stderr)
	}
	if sh(t, "ovs-vsctl br-exists "+br).Code == 0 || nsExists(br, "alice") {
		t.Errorf("a daemon that could not serve metrics made bridge %s", br)
	}
}

// TestMetricsOVSDBReconnect: the daemon's OVSDB client loses its server
// (killed) and reconnects (restarted on the same database):
// vpcctl_ovsdb_connected goes to 0 and back to 1, and the reconnect is
// counted. The server is one of the test's own, with no ovs-vswitchd (the
// daemon's applies fail and retry, and touch nothing of the host: the
// topology has no instances).
func TestMetricsOVSDBReconnect(t *testing.T) {
	p := &privateOVSDB{t: t, dir: t.TempDir()}
	p.create()
	p.start()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.kill9()
		}
	})
	br := uniqueBridge("tmo")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	body := "version: 1\nbridge: " + br + "\nvpcs:\n  - {name: v, cidr: 10.0.0.0/16, subnets: [{name: s, cidr: 10.0.1.0/24}]}\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d, addr := startDaemonArgs(t, "--ovsdb", "unix:"+p.sock(), "daemon", "-f", file, "--metrics-addr", "127.0.0.1:0")
	state := func(s scrape) (connected, reconnects float64) {
		connected, _ = s.value("vpcctl_ovsdb_connected", nil)
		reconnects, _ = s.value("vpcctl_ovsdb_reconnects_total", nil)
		return
	}
	s := scrapeUntil(t, addr, 15*time.Second, func(s scrape) bool { c, _ := state(s); return c == 1 })
	if c, n := state(s); c != 1 || n != 0 {
		t.Fatalf("at start: connected %v, reconnects %v\n%s", c, n, d.log.String())
	}
	p.kill9()
	s = scrapeUntil(t, addr, 15*time.Second, func(s scrape) bool { c, _ := state(s); return c == 0 })
	if c, _ := state(s); c != 0 {
		t.Fatalf("vpcctl_ovsdb_connected = %v with ovsdb-server killed\n%s", c, d.log.String())
	}
	p.start()
	s = scrapeUntil(t, addr, 20*time.Second, func(s scrape) bool { c, n := state(s); return c == 1 && n == 1 })
	if c, n := state(s); c != 1 || n != 1 {
		t.Fatalf("after the restart: connected %v, reconnects %v, want 1, 1\n%s", c, n, d.log.String())
	}
}

package flowlog

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordText(t *testing.T) {
	r := &Record{AccountID: "br-vpc", InterfaceID: "v1a2b3c4d5e", Src: netip.MustParseAddr("10.0.1.20"), Dst: netip.MustParseAddr("10.0.2.10"),
		SrcPort: 40000, DstPort: 5432, Protocol: 6, Packets: 20, Bytes: 4249,
		Start: time.Unix(1418530010, 0), End: time.Unix(1418530070, 0), Action: Accept}
	want := "2 br-vpc v1a2b3c4d5e 10.0.1.20 10.0.2.10 40000 5432 6 20 4249 1418530010 1418530070 ACCEPT OK"
	if got := r.Text(); got != want {
		t.Errorf("text\n%s\nwant\n%s", got, want)
	}
	if got := (&Record{Action: Reject, Protocol: 1}).Text(); !strings.HasPrefix(got, "2 - - - - 0 0 1 0 0 ") || !strings.HasSuffix(got, " REJECT OK") {
		t.Errorf("empty record: %q", got)
	}
}

func TestRecordJSON(t *testing.T) {
	r := &Record{AccountID: "br", InterfaceID: "vabc", Src: netip.MustParseAddr("10.0.1.20"), Dst: netip.MustParseAddr("10.0.2.10"),
		SrcPort: 40000, DstPort: 5432, Protocol: 6, Packets: 3, Bytes: 222, Start: time.Unix(100, 0), End: time.Unix(101, 0),
		Action: Reject, VPC: "shop", Subnet: "private", Instance: "db1", Direction: Ingress, TCPFlags: 2,
		Rule: "vpcs[shop].instances[db1].security_groups"}
	var m map[string]any
	if err := json.Unmarshal(r.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": 2.0, "account-id": "br", "interface-id": "vabc", "srcaddr": "10.0.1.20", "dstaddr": "10.0.2.10",
		"srcport": 40000.0, "dstport": 5432.0, "protocol": 6.0, "packets": 3.0, "bytes": 222.0, "start": 100.0, "end": 101.0,
		"action": "REJECT", "log-status": "OK", "vpc-id": "shop", "subnet-id": "private", "instance-id": "db1",
		"flow-direction": "ingress", "tcp-flags": 2.0, "pkt-srcaddr": "10.0.1.20", "pkt-dstaddr": "10.0.2.10",
		"rule": "vpcs[shop].instances[db1].security_groups"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("fields %v", m)
	}
}

// A TCP SYN in an Ethernet frame, as a packet-in carries it.
func synFrame() []byte {
	f := make([]byte, 14+20+20)
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0] = 0x45
	ip[9] = 6
	copy(ip[12:16], []byte{10, 0, 1, 20})
	copy(ip[16:20], []byte{10, 0, 2, 10})
	tcp := ip[20:]
	tcp[0], tcp[1] = 0x9c, 0x40 // 40000
	tcp[2], tcp[3] = 0x15, 0x38 // 5432
	tcp[13] = 0x02
	return f
}

func TestParseFrame(t *testing.T) {
	tu, flags, ok := parseFrame(synFrame())
	want := tuple{proto: 6, src: netip.MustParseAddr("10.0.1.20"), dst: netip.MustParseAddr("10.0.2.10"), sport: 40000, dport: 5432}
	if !ok || tu != want || flags != 2 {
		t.Errorf("got %+v flags %d ok %v", tu, flags, ok)
	}
	arp := synFrame()
	arp[12], arp[13] = 0x08, 0x06
	if _, _, ok := parseFrame(arp); ok {
		t.Error("ARP parsed as IPv4")
	}
	if _, _, ok := parseFrame(synFrame()[:30]); ok {
		t.Error("a truncated IP header parsed")
	}
}

func TestWriterRotatesAndNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "flows.log")
	var errs []error
	w := newWriter(path, 100, func(err error) { errs = append(errs, err) })
	for i := 0; i < 10; i++ {
		w.Put([]byte(strings.Repeat("x", 39))) // 40 bytes a line: two lines a file
	}
	w.Close()
	if len(errs) > 0 || w.written.Load() != 10 {
		t.Fatalf("written %d, errors %v", w.written.Load(), errs)
	}
	for _, name := range []string{path, path + ".1", path + ".2", path + ".3"} {
		b, err := os.ReadFile(name)
		if err != nil || len(b) != 80 {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
	}
	if _, err := os.Stat(path + ".4"); err == nil {
		t.Error("more backups than Backups")
	}
	// A writer whose goroutine does not drain (a stalled disk): Put drops.
	stalled := &writer{queue: make(chan []byte, 2)}
	ok := 0
	for i := 0; i < 5; i++ {
		if stalled.Put([]byte("r")) {
			ok++
		}
	}
	if ok != 2 || stalled.dropped.Load() != 3 {
		t.Errorf("queued %d, dropped %d; want 2 and 3", ok, stalled.dropped.Load())
	}
}

// HandleAsync never blocks: past the queue, messages are dropped and counted.
func TestHandleAsyncNeverBlocks(t *testing.T) {
	c := New(Options{})
	frame := []byte{4, 10, 0, 8, 0, 0, 0, 0}
	for i := 0; i < eventQueue+5; i++ {
		c.HandleAsync(10, frame)
	}
	c.HandleAsync(12, frame) // port status: not ours
	if len(c.events) != eventQueue || c.lostEvents != 5 {
		t.Errorf("queued %d, lost %d; want %d and 5", len(c.events), c.lostEvents, eventQueue)
	}
}

package ofconn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHandshake(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	want, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(o.vsctl("get", "bridge", o.br, "datapath_id")), `"`), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	if c.DatapathID() != want {
		t.Errorf("DatapathID = %016x, ovs-vsctl says %016x", c.DatapathID(), want)
	}
	if c.NumTables() != 254 {
		t.Errorf("NumTables = %d, want 254", c.NumTables())
	}
	if err := c.Barrier(testCtx(t)); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	if c.Err() != nil {
		t.Fatalf("Err on a live connection: %v", c.Err())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err after Close = %v", c.Err())
	}
	if err := c.Barrier(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Barrier after Close = %v, want ErrClosed", err)
	}
}

// TestErrorsByXid sends good and bad messages unbundled and checks that each
// error comes back named and attributed to the message that caused it.
func TestErrorsByXid(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	ctx := testCtx(t)

	noPrereq := openflow13.NewFlowMod() // nw_src without eth_type=ip
	noPrereq.Match.AddField(*openflow13.NewIpv4SrcField(net.IPv4(10, 0, 0, 1).To4(), nil))
	badGoto := testFlow(1, 5, testMarker|1)
	badGoto.Instructions[1] = openflow13.NewInstrGotoTable(2)
	badConj := conjunctionFlows(testMarker)[0].(*openflow13.FlowMod)
	badConj.Instructions[0].(*openflow13.InstrActions).Actions[0] = openflow13.NewNXActionConjunction(2, 2, 7)

	err := c.Exec(ctx, testFlow(0, 0, testMarker), noPrereq, badGoto, badConj, testFlow(2, 0, testMarker|2))
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Exec = %v, want *BatchError", err)
	}
	want := map[int]string{
		1: "OFPET_BAD_MATCH/OFPBMC_BAD_PREREQ",
		2: "OFPET_BAD_INSTRUCTION/OFPBIC_BAD_TABLE_ID",
		3: "OFPET_EXPERIMENTER(NX)/NXBAC_BAD_CONJUNCTION",
	}
	if len(be.Failed) != len(want) {
		t.Fatalf("failed messages = %v, want indexes 1,2,3", be.Failed)
	}
	for _, f := range be.Failed {
		if f.Err.Name() != want[f.Index] {
			t.Errorf("message %d: %s, want %s", f.Index, f.Err.Name(), want[f.Index])
		}
		if f.Err.Data[1] != typeFlowMod {
			t.Errorf("message %d: error data is not the flow-mod: % x", f.Index, f.Err.Data)
		}
	}
	var ofe *OFError
	if !errors.As(err, &ofe) || !errors.Is(err, &OFError{Type: 4, Code: 9}) {
		t.Errorf("errors.As/Is do not reach the *OFError: %v", err)
	}
	t.Logf("error text: %v", err)
	// Exec is not atomic: the two good flows are in.
	if got := o.installedCookies(); len(got) != 2 {
		t.Errorf("installed %d flows, want 2: %v", len(got), got)
	}
}

func TestDetectsVswitchdDeath(t *testing.T) {
	o := startOVS(t)
	c := dialTest(t, o)
	if err := c.Barrier(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := syscall.Kill(o.vsPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection did not notice ovs-vswitchd's death in 10 s")
	}
	t.Logf("noticed after %v: %v", time.Since(start).Round(time.Millisecond), c.Err())
	if c.Err() == nil || errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err = %v, want a read error", c.Err())
	}
	if err := c.Barrier(testCtx(t)); err == nil {
		t.Error("Barrier on a dead connection succeeded")
	}
	if _, err := c.Send(openflow13.NewFlowMod()); err == nil {
		t.Error("Send on a dead connection succeeded")
	}
}

// TestListenAccept makes us the bridge's controller: OVS connects to us.
func TestListenAccept(t *testing.T) {
	o := startOVS(t)
	// Short keepalives: OVS must answer our probes or we drop it. (OVS
	// itself never probes a unix: controller, stream-unix.c needs_probes is
	// false, and never more often than every 5 s, connmgr.c; our answers to
	// its probes are tested with a fake switch in TestEchoTimeoutAndReply.)
	keep := WithKeepalive(300*time.Millisecond, 1500*time.Millisecond)
	ln, err := Listen("punix:"+o.path("ctl.sock"), keep)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o.vsctl("set-controller", o.br, "unix:"+o.path("ctl.sock"))
	c, err := ln.Accept(testCtx(t))
	if err != nil {
		t.Fatalf("Accept: %v\n%s", err, o.logs())
	}
	defer c.Close()
	mgmt := dialTest(t, o, keep)
	if c.DatapathID() != mgmt.DatapathID() {
		t.Errorf("controller dpid %016x != mgmt dpid %016x", c.DatapathID(), mgmt.DatapathID())
	}
	if err := c.Bundle(testCtx(t), testFlows(10, testMarker)); err != nil {
		t.Fatalf("Bundle over the controller connection: %v", err)
	}
	if n := len(o.installedCookies()); n != 10 {
		t.Errorf("%d flows installed, want 10", n)
	}
	// Idle for several keepalive timeouts: still connected.
	time.Sleep(4 * time.Second)
	for name, conn := range map[string]*Conn{"controller": c, "mgmt": mgmt} {
		if err := conn.Err(); err != nil {
			t.Fatalf("idle %s connection died: %v\n%s", name, err, o.logs())
		}
		if err := conn.Barrier(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ln.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept with nobody connecting = %v, want deadline exceeded", err)
	}
}

// fakeSwitch plays the switch side of a handshake on a pipe and returns
// the switch end for the test to drive.
func fakeSwitch(t *testing.T, opts ...Option) (*Conn, net.Conn) {
	t.Helper()
	ours, theirs := net.Pipe()
	// net.Pipe is unbuffered and both sides start with HELLO.
	go theirs.Write(helloFrame(1))
	go func() {
		buf := make([]byte, 1<<16)
		for {
			f, err := readFrameConn(theirs, buf)
			if err != nil {
				return
			}
			if f[1] == typeFeaturesRq {
				r := make([]byte, 32)
				putHeader(r, typeFeaturesRp, 32, frameXid(f))
				binary.BigEndian.PutUint64(r[8:16], 0x1234)
				r[20] = 7
				theirs.Write(r)
				return
			}
		}
	}()
	c, err := New(testCtx(t), ours, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, theirs
}

func readFrameConn(c net.Conn, buf []byte) ([]byte, error) {
	if _, err := ioReadFull(c, buf[:8]); err != nil {
		return nil, err
	}
	l := int(binary.BigEndian.Uint16(buf[2:4]))
	if _, err := ioReadFull(c, buf[8:l]); err != nil {
		return nil, err
	}
	return buf[:l], nil
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestEchoTimeoutAndReply(t *testing.T) {
	c, sw := fakeSwitch(t, WithKeepalive(50*time.Millisecond, 300*time.Millisecond))
	if c.DatapathID() != 0x1234 || c.NumTables() != 7 {
		t.Fatalf("features: dpid %x tables %d", c.DatapathID(), c.NumTables())
	}
	// The switch probes us: the reply must carry its xid and payload.
	req := make([]byte, 11)
	putHeader(req, typeEchoRq, len(req), 77)
	copy(req[8:], "abc")
	go sw.Write(req)
	buf := make([]byte, 1<<16)
	sawReply, sawProbe := false, false
	for !sawReply || !sawProbe {
		sw.SetReadDeadline(time.Now().Add(2 * time.Second))
		f, err := readFrameConn(sw, buf)
		if err != nil {
			t.Fatalf("reading from Conn: %v (reply %v, probe %v)", err, sawReply, sawProbe)
		}
		switch f[1] {
		case typeEchoRp:
			if frameXid(f) != 77 || !bytes.Equal(f[8:], []byte("abc")) {
				t.Errorf("echo reply % x", f)
			}
			sawReply = true
		case typeEchoRq:
			sawProbe = true // our keepalive; the fake switch never answers
		}
	}
	// Keep draining so writes do not block, but never answer.
	go func() {
		for {
			if _, err := readFrameConn(sw, make([]byte, 1<<16)); err != nil {
				return
			}
		}
	}()
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("no echo timeout")
	}
	if !errors.Is(c.Err(), ErrEchoTimeout) {
		t.Errorf("Err = %v, want ErrEchoTimeout", c.Err())
	}
}

// TestRepliesInOrder has the fake switch answer a multipart request in
// several parts interleaved with an error for another request, and checks
// both callers get exactly their own answers.
func TestRepliesInOrder(t *testing.T) {
	c, sw := fakeSwitch(t, WithKeepalive(0, 0))
	go func() {
		buf := make([]byte, 1<<16)
		var dumpXid, barrierXid uint32
		for dumpXid == 0 || barrierXid == 0 {
			f, err := readFrameConn(sw, buf)
			if err != nil {
				return
			}
			switch f[1] {
			case typeMultipartRq:
				dumpXid = frameXid(f)
			case typeBarrierRq:
				barrierXid = frameXid(f)
			}
		}
		for part := 0; part < 5; part++ {
			var body []byte
			for i := 0; i < 3; i++ {
				e := make([]byte, 56)
				binary.BigEndian.PutUint16(e[0:2], 56)
				binary.BigEndian.PutUint64(e[24:32], uint64(part*3+i))
				body = append(body, e...)
			}
			r := make([]byte, 16, 16+len(body))
			putHeader(r, typeMultipartRp, 16+len(body), dumpXid)
			binary.BigEndian.PutUint16(r[8:10], openflow13.MultipartType_Flow)
			if part < 4 {
				binary.BigEndian.PutUint16(r[10:12], multipartReplyMore)
			}
			sw.Write(append(r, body...))
			if part == 2 {
				e := make([]byte, 12)
				putHeader(e, typeError, 12, barrierXid)
				binary.BigEndian.PutUint16(e[8:10], 1)
				binary.BigEndian.PutUint16(e[10:12], 1)
				sw.Write(e)
			}
		}
	}()
	barrierErr := make(chan error, 1)
	go func() { barrierErr <- c.Barrier(testCtx(t)) }()
	fs, err := c.DumpFlows(testCtx(t), FlowFilter{TableID: TableAll})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 15 {
		t.Fatalf("got %d flows, want 15", len(fs))
	}
	for i, f := range fs {
		if f.Cookie != uint64(i) {
			t.Fatalf("flow %d has cookie %d: parts out of order", i, f.Cookie)
		}
	}
	err = <-barrierErr
	var ofe *OFError
	if !errors.As(err, &ofe) || ofe.Name() != "OFPET_BAD_REQUEST/OFPBRC_BAD_TYPE" {
		t.Errorf("barrier error = %v", err)
	}
}

func TestOFErrorNames(t *testing.T) {
	for _, tc := range []struct {
		e    OFError
		want string
	}{
		{OFError{Type: 4, Code: 6}, "OFPET_BAD_MATCH/OFPBMC_BAD_FIELD"},
		{OFError{Type: 3, Code: 2}, "OFPET_BAD_INSTRUCTION/OFPBIC_BAD_TABLE_ID"},
		{OFError{Type: 0xffff, Code: 2313, Experimenter: ExperimenterONF}, "OFPET_EXPERIMENTER(ONF)/OFPBFC_MSG_FAILED"},
		{OFError{Type: 0xffff, Code: 15, Experimenter: ExperimenterNicira}, "OFPET_EXPERIMENTER(NX)/NXBAC_BAD_CONJUNCTION"},
		{OFError{Type: 0xffff, Code: 9, Experimenter: 0x1234}, "OFPET_EXPERIMENTER(0x00001234)/9"},
		{OFError{Type: 5, Code: 99}, "OFPET_FLOW_MOD_FAILED/99"},
		{OFError{Type: 77, Code: 1}, "OFPET_77/1"},
	} {
		if got := tc.e.Name(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		target    string
		passive   bool
		net, addr string
	}{
		{"unix:/var/run/openvswitch/br-vpc.mgmt", false, "unix", "/var/run/openvswitch/br-vpc.mgmt"},
		{"tcp:127.0.0.1:6633", false, "tcp", "127.0.0.1:6633"},
		{"tcp:127.0.0.1", false, "tcp", "127.0.0.1:6653"},
		{"tcp:[::1]", false, "tcp", "[::1]:6653"},
		{"punix:/tmp/x", true, "unix", "/tmp/x"},
		{"ptcp:6654:127.0.0.1", true, "tcp", "127.0.0.1:6654"},
		{"ptcp:", true, "tcp", ":6653"},
	} {
		n, a, err := parseTarget(tc.target, tc.passive)
		if err != nil || n != tc.net || a != tc.addr {
			t.Errorf("%s: %s %s %v, want %s %s", tc.target, n, a, err, tc.net, tc.addr)
		}
	}
	for _, bad := range []string{"br-vpc", "ssl:1.2.3.4", "punix:/x"} {
		if _, _, err := parseTarget(bad, false); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestMarshalRepairsLibOpenflow(t *testing.T) {
	fm := DeleteByCookie(0xA5<<56, 0xff<<56)
	fm.OutPort = 7 // libOpenflow would put this in out_group as well
	b, err := marshal(fm, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(b[36:40]); got != 7 {
		t.Errorf("out_port = %d", got)
	}
	if got := binary.BigEndian.Uint32(b[40:44]); got != openflow13.OFPG_ANY {
		t.Errorf("out_group = %#x, want OFPG_ANY", got)
	}
	if frameXid(b) != 42 || b[25] != openflow13.FC_DELETE || b[24] != openflow13.OFPTT_ALL {
		t.Errorf("bad encoding % x", b[:48])
	}
	// A DELETE that carries instructions has a wrong header length in
	// libOpenflow: refused, not sent.
	fm.AddInstruction(openflow13.NewInstrGotoTable(3))
	if _, err := marshal(fm, 43); !errors.Is(err, ErrBadMessage) {
		t.Errorf("marshal of inconsistent DELETE = %v", err)
	}
	if _, err := marshal(nil, 1); !errors.Is(err, ErrBadMessage) {
		t.Errorf("marshal(nil) = %v", err)
	}
}

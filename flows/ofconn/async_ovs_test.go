package ofconn

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Against a real OVS: the controller meter is added, then changed; a packet
// a flow sends to the controller arrives as a packet-in with the flow's
// cookie, its registers and the frame.
func TestMeterAndPacketInOVS(t *testing.T) {
	o := startOVS(t)
	frames := make(chan []byte, 16)
	c := dialTest(t, o, WithAsyncHandler(func(typ uint8, f []byte) {
		if typ == TypePacketIn {
			frames <- f
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, rate := range []uint32{200, 50} {
		if err := c.SetMeter(ctx, MeterController, rate, 100); err != nil {
			t.Fatalf("SetMeter %d: %v", rate, err)
		}
		if got := o.ofctl("dump-meters", o.mgmt()); !strings.Contains(got, "meter=controller pktps burst stats bands=") || !strings.Contains(got, "rate="+itoa(rate)) {
			t.Fatalf("meters after SetMeter %d:\n%s", rate, got)
		}
	}
	// A service connection (the management socket) gets no packet-ins
	// unless it asks (OFPT_SET_ASYNC); the bridge's controller gets them by default.
	async := make([]byte, 32)
	putHeader(async, 28, len(async), 0)
	copy(async[8:], []byte{0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 15})
	if err := c.Exec(ctx, rawMessage(async)); err != nil {
		t.Fatal(err)
	}
	o.ofctl("add-flow", o.mgmt(), "cookie=0xa5000000000000aa,table=0,priority=1,ip,actions=load:7->NXM_NX_REG2[0..15],CONTROLLER:64")
	// An IPv4/UDP frame of 100 bytes, injected as if it came in on a port.
	frame := "02000000000202000000000108004500005600000000401100000a0000010a0000020035003500420000" + strings.Repeat("ab", 58)
	o.ofctl("packet-out", o.mgmt(), "in_port=controller packet="+frame+" actions=resubmit(,0)")
	select {
	case f := <-frames:
		p, err := ParsePacketIn(f)
		if err != nil {
			t.Fatal(err)
		}
		if p.Cookie != 0xa5000000000000aa || p.TableID != 0 || p.Reason != 1 || p.TotalLen != 100 || p.Match.Regs[2] != 7 {
			t.Errorf("packet-in %+v", p)
		}
		// OVS 3.1 sends the whole frame despite max_len 64 (it keeps no
		// packet buffers): the headers are there either way.
		if got := hex.EncodeToString(p.Data); len(p.Data) < 42 || !strings.HasPrefix(frame, got) {
			t.Errorf("data %s (%d bytes), want a prefix of the frame", got, len(p.Data))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no packet-in")
	}
}

func itoa(v uint32) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		if v /= 10; v == 0 {
			return string(b)
		}
	}
}

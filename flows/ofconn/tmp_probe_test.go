package ofconn

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestTmpProbe(t *testing.T) {
	o := startOVS(t)
	ln, _ := net.Listen("unix", o.path("ctl.sock"))
	o.vsctl("set-controller", o.br, "unix:"+o.path("ctl.sock"), "--", "set", "controller", o.br, "inactivity_probe=1000")
	nc, _ := ln.Accept()
	nc.Write(helloFrame(1))
	br := bufio.NewReader(nc)
	start := time.Now()
	for {
		f, err := readFrame(br)
		if err != nil {
			t.Logf("after %v: %v", time.Since(start), err)
			return
		}
		t.Logf("%v %s", time.Since(start).Round(time.Millisecond), msgTypeName(f[1]))
	}
}

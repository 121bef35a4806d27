package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Probes send one real packet exchange from inside a namespace, for
// `vpcctl check --live`. Each says whether an answer came back within
// timeout. Sockets are made inside the namespace (on a thread switched into
// it) and stay there.

// ProbeTCP connects from namespace ns to dst:port. An accepted connection
// and a refused one (a RST came back: the path works, nobody listens) both
// count as reachable; a timeout does not.
func ProbeTCP(ns string, dst netip.Addr, port uint16, timeout time.Duration) (bool, error) {
	ok := false
	err := inNamespace(ns, func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(dst, port).String(), timeout)
		switch {
		case err == nil:
			c.Close()
			ok = true
		case errors.Is(err, syscall.ECONNREFUSED):
			ok = true
		}
		return nil
	})
	return ok, err
}

// ProbeUDP sends a datagram from namespace ns to dst:port and waits for the
// echo. When dstNS is given, an echo responder is bound there for the
// duration of the probe (unless something listens on the port already).
func ProbeUDP(ns, dstNS string, dst netip.Addr, port uint16, timeout time.Duration) (bool, error) {
	if dstNS != "" {
		var ln net.PacketConn
		err := inNamespace(dstNS, func() error {
			var err error
			ln, err = net.ListenPacket("udp4", netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
			return err
		})
		if err != nil && !errors.Is(err, syscall.EADDRINUSE) {
			return false, fmt.Errorf("udp echo responder in %s: %w", dstNS, err)
		}
		if ln != nil {
			defer ln.Close()
			go func() {
				buf := make([]byte, 512)
				for {
					n, from, err := ln.ReadFrom(buf)
					if err != nil {
						return
					}
					ln.WriteTo(buf[:n], from)
				}
			}()
		}
	}
	ok := false
	err := inNamespace(ns, func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(dst, port).String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		msg := []byte("vpcctl-probe")
		if _, err := c.Write(msg); err != nil {
			return nil
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		ok = err == nil && string(buf[:n]) == string(msg)
		return nil
	})
	return ok, err
}

// ProbeICMP sends one echo request from namespace ns to dst and waits for
// its reply (a raw ICMP socket: root).
func ProbeICMP(ns string, dst netip.Addr, timeout time.Duration) (bool, error) {
	ok := false
	err := inNamespace(ns, func() error {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		id := uint16(os.Getpid())
		seq := uint16(time.Now().UnixNano())
		req := echoRequest(id, seq)
		if _, err := c.WriteTo(req, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return nil
		}
		deadline := time.Now().Add(timeout)
		c.SetDeadline(deadline)
		buf := make([]byte, 1500)
		for time.Now().Before(deadline) {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return nil
			}
			ip, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			// An echo reply (type 0) from dst with our id and sequence.
			if n >= 8 && buf[0] == 0 && ip.Unmap() == dst &&
				binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
				ok = true
				return nil
			}
		}
		return nil
	})
	return ok, err
}

// echoRequest is an ICMP echo request with a payload and its checksum.
func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 8, 8+16)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, []byte("vpcctl-probe-icm")...)
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	return b
}

package ofconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Listener accepts connections from switches that have us as their
// controller (ovs-vsctl set-controller BR unix:PATH or tcp:IP:PORT).
type Listener struct {
	ln   net.Listener
	opts []Option
}

// Listen listens on "unix:PATH" (or OVS's "punix:PATH"), "tcp:HOST:PORT" or
// "ptcp:PORT[:IP]". A stale unix socket file left by a dead process is
// replaced; a live one is not.
func Listen(target string, opts ...Option) (*Listener, error) {
	network, addr, err := parseTarget(target, true)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		removeStaleSocket(addr)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("ofconn: listen %s: %w", target, err)
	}
	return &Listener{ln: ln, opts: opts}, nil
}

// Accept waits for a switch to connect and performs the handshake.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	dl, canDeadline := l.ln.(interface{ SetDeadline(time.Time) error })
	if canDeadline {
		stop := context.AfterFunc(ctx, func() { dl.SetDeadline(time.Now()) })
		defer func() {
			stop()
			dl.SetDeadline(time.Time{})
		}()
	}
	nc, err := l.ln.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ofconn: accept: %w", err)
	}
	return New(ctx, nc, l.opts...)
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening (and removes the unix socket file).
func (l *Listener) Close() error { return l.ln.Close() }

// parseTarget understands OVS's connection syntax.
func parseTarget(target string, passive bool) (network, addr string, err error) {
	kind, rest, ok := strings.Cut(target, ":")
	if !ok || rest == "" && !(passive && kind == "ptcp") {
		return "", "", fmt.Errorf("ofconn: target %q: want unix:PATH or tcp:HOST:PORT", target)
	}
	switch {
	case kind == "unix" || (passive && kind == "punix"):
		return "unix", rest, nil
	case kind == "tcp":
		if _, _, err := net.SplitHostPort(rest); err != nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), "6653")
		}
		return "tcp", rest, nil
	case passive && kind == "ptcp":
		// ptcp:[PORT][:IP], IP possibly in brackets.
		port, ip, _ := strings.Cut(rest, ":")
		if port == "" {
			port = "6653"
		}
		return "tcp", net.JoinHostPort(strings.Trim(ip, "[]"), port), nil
	}
	return "", "", fmt.Errorf("ofconn: target %q: unknown kind %q", target, kind)
}

func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		os.Remove(path)
	}
}

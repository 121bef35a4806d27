// Package ofconn is an OpenFlow 1.3 session to one Open vSwitch bridge:
// handshake, echo keepalive, barrier, error routing by xid, flow dumps and
// ONF bundles (the OpenFlow 1.3 bundle extension that OVS implements).
//
// It frames the byte stream itself, with a single reader goroutine, instead
// of using libOpenflow's util.MessageStream: that parses inbound messages on
// 25 goroutines (util/stream.go:12,71-73), so replies can be delivered
// out of order, which breaks multipart replies and "errors arrive before the
// barrier reply" reasoning, and it logs through logrus. libOpenflow is used
// for message types (FlowMod, matches, actions) and their encoding.
package ofconn

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contiv/libOpenflow/util"
)

// Defaults for the keepalive: OVS's own controller inactivity probe is 5 s.
const (
	DefaultEchoInterval = 5 * time.Second
	DefaultEchoTimeout  = 15 * time.Second
)

// Option configures a Conn.
type Option func(*options)

type options struct {
	echoInterval time.Duration
	echoTimeout  time.Duration
	logger       *slog.Logger
	async        func(msgType uint8, frame []byte)
}

// WithKeepalive sets how long the connection may be idle before we send an
// echo request, and how long without hearing anything from the peer the
// connection is declared dead (Err then wraps ErrEchoTimeout). Zero turns
// our keepalive off; we still answer the peer's echo requests.
func WithKeepalive(interval, timeout time.Duration) Option {
	return func(o *options) { o.echoInterval, o.echoTimeout = interval, timeout }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAsyncHandler receives every message that is not a reply to one of our
// requests: PACKET_IN, PORT_STATUS, FLOW_REMOVED, and errors for messages sent
// with Send. It runs on the reader goroutine, so it must not block; frame is
// the whole message and belongs to the handler. Without a handler such
// messages are logged at debug level (errors at warn).
func WithAsyncHandler(h func(msgType uint8, frame []byte)) Option {
	return func(o *options) { o.async = h }
}

// Conn is an OpenFlow 1.3 session. Its methods are safe for concurrent use.
type Conn struct {
	nc   net.Conn
	br   *bufio.Reader
	opts options
	log  *slog.Logger

	dpid    uint64
	nTables uint8

	xid      atomic.Uint32
	bundleID atomic.Uint32

	// wmu serialises writers; a message is always written whole under it,
	// so concurrent callers interleave only at message boundaries.
	wmu sync.Mutex
	bw  *bufio.Writer

	mu      sync.Mutex
	pending map[uint32]*waiter // requests waiting for their reply, by xid
	batches []*batch           // xid ranges of pipelined messages (bundle adds, Exec)

	lastRx   atomic.Int64 // unix nanoseconds of the last message received
	out      chan []byte  // frames for the background writer (echo traffic)
	done     chan struct{}
	failOnce sync.Once
	err      error // set before done is closed
	wg       sync.WaitGroup

	nFlowMods   atomic.Uint64
	nMessages   atomic.Uint64
	nCommitted  atomic.Uint64
	nBundleFail atomic.Uint64
}

// Stats are counters since the connection was made.
type Stats struct {
	FlowModsSent     uint64 // flow-mods written, alone or inside bundles
	MessagesSent     uint64 // all messages written, bundle adds counted once each
	BundlesCommitted uint64
	BundlesFailed    uint64
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		FlowModsSent:     c.nFlowMods.Load(),
		MessagesSent:     c.nMessages.Load(),
		BundlesCommitted: c.nCommitted.Load(),
		BundlesFailed:    c.nBundleFail.Load(),
	}
}

// waiter collects the reply (all parts of a multipart reply) to one request.
// The reader fills it under Conn.mu and closes done; the requester reads it
// only after done is closed.
type waiter struct {
	replies [][]byte
	err     error
	done    chan struct{}
}

// add records a frame and reports whether the request is complete.
func (w *waiter) add(f []byte) bool {
	switch {
	case f[1] == typeError:
		if e, err := parseError(f); err != nil {
			w.err = err
		} else {
			w.err = e
		}
		return true
	case f[1] == typeMultipartRp && len(f) >= 12:
		w.replies = append(w.replies, f)
		return binary.BigEndian.Uint16(f[10:12])&multipartReplyMore == 0
	default:
		w.replies = append(w.replies, f)
		return true
	}
}

// batch collects the errors for a contiguous range of xids: messages that
// are streamed without waiting and normally get no reply at all.
type batch struct {
	lo   uint32
	n    uint32
	errs []MessageError
}

func (b *batch) contains(xid uint32) bool { return xid-b.lo < b.n }

// Dial connects to target, "unix:/var/run/openvswitch/BRIDGE.mgmt" or
// "tcp:HOST:PORT" (port 6653 if left out), and performs the handshake.
func Dial(ctx context.Context, target string, opts ...Option) (*Conn, error) {
	network, addr, err := parseTarget(target, false)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("ofconn: dial %s: %w", target, err)
	}
	return New(ctx, nc, opts...)
}

// New performs the handshake on an established connection (dialed by us, or
// accepted from a switch whose controller we are) and starts the session.
// On failure nc is closed. ctx bounds the handshake only.
func New(ctx context.Context, nc net.Conn, opts ...Option) (*Conn, error) {
	c := &Conn{
		nc:      nc,
		br:      bufio.NewReaderSize(nc, 256<<10),
		bw:      bufio.NewWriterSize(nc, 256<<10),
		pending: make(map[uint32]*waiter),
		out:     make(chan []byte, 64),
		done:    make(chan struct{}),
		opts:    options{echoInterval: DefaultEchoInterval, echoTimeout: DefaultEchoTimeout},
	}
	for _, o := range opts {
		o(&c.opts)
	}
	c.log = c.opts.logger
	if c.log == nil {
		c.log = slog.Default()
	}
	if err := c.hello(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	c.lastRx.Store(time.Now().UnixNano())
	c.wg.Add(3)
	go c.readLoop()
	go c.writeLoop()
	go c.keepalive()

	if err := c.features(ctx); err != nil {
		c.fail(err)
		c.wg.Wait()
		return nil, err
	}
	return c, nil
}

// hello exchanges HELLO messages before the reader goroutine exists.
func (c *Conn) hello(ctx context.Context) error {
	// A cancelled ctx unblocks the reads and writes below through a deadline.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	}
	err := c.helloLocked()
	if !stop() {
		// The deadline may have been set after our read completed.
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("ofconn: handshake: %w", err)
	}
	c.nc.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("ofconn: handshake: %w", err)
	}
	return nil
}

func (c *Conn) helloLocked() error {
	if _, err := c.nc.Write(helloFrame(c.nextXid(1))); err != nil {
		return err
	}
	f, err := readFrame(c.br)
	if err != nil {
		return err
	}
	switch f[1] {
	case typeHello:
	case typeError:
		if e, perr := parseError(f); perr == nil {
			return e
		}
		return fmt.Errorf("%w: malformed error instead of hello", ErrProtocol)
	default:
		return fmt.Errorf("%w: first message is %s, not HELLO", ErrProtocol, msgTypeName(f[1]))
	}
	ok, err := helloSupports13(f)
	if err != nil {
		return err
	}
	if !ok {
		c.nc.Write(helloFailedFrame(frameXid(f)))
		return fmt.Errorf("%w (peer hello version %#x)", ErrNoOpenFlow13, f[0])
	}
	return nil
}

func (c *Conn) features(ctx context.Context) error {
	w, err := c.roundTrip(ctx, simpleFrame(typeFeaturesRq, c.nextXid(1)))
	if err != nil {
		return fmt.Errorf("ofconn: features request: %w", err)
	}
	f := w.replies[0]
	if f[1] != typeFeaturesRp || len(f) < 32 {
		return fmt.Errorf("%w: bad features reply (%s, %d bytes)", ErrProtocol, msgTypeName(f[1]), len(f))
	}
	// ofp_switch_features: datapath_id at 8, n_buffers at 16, n_tables at 20.
	c.dpid = binary.BigEndian.Uint64(f[8:16])
	c.nTables = f[20]
	return nil
}

// DatapathID is the switch's datapath ID from the FEATURES_REPLY.
func (c *Conn) DatapathID() uint64 { return c.dpid }

// NumTables is the number of flow tables the switch reported.
func (c *Conn) NumTables() uint8 { return c.nTables }

// Done is closed when the connection is dead: peer closed it (e.g.
// ovs-vswitchd restarted), echo timeout, I/O error or Close.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is alive and then says why it died.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the session and waits for its goroutines. Bundles still open
// on the switch are discarded by OVS when the connection goes.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

func (c *Conn) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.done)
		c.nc.Close()
	})
}

// nextXid reserves n consecutive xids and returns the first. Xid 0 is never
// used (OVS sends asynchronous messages with xid 0) and a range never wraps,
// so range checks stay simple.
func (c *Conn) nextXid(n int) uint32 {
	for {
		cur := c.xid.Load()
		first := cur + 1
		if first == 0 || uint64(first)+uint64(n) > 1<<32 {
			first = 1
		}
		if c.xid.CompareAndSwap(cur, first+uint32(n)-1) {
			return first
		}
	}
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	l := int(binary.BigEndian.Uint16(h[2:4]))
	if l < headerLen {
		return nil, fmt.Errorf("%w: message length %d", ErrProtocol, l)
	}
	f := make([]byte, l)
	copy(f, h[:])
	if _, err := io.ReadFull(r, f[headerLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return f, nil
}

// readLoop is the only reader: messages are handled strictly in the order
// the switch sent them.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	for {
		f, err := readFrame(c.br)
		if err != nil {
			select {
			case <-c.done: // we closed it
			default:
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("peer closed the connection: %w", err)
				}
				c.fail(fmt.Errorf("ofconn: read: %w", err))
			}
			return
		}
		c.lastRx.Store(time.Now().UnixNano())
		c.dispatch(f)
	}
}

func (c *Conn) dispatch(f []byte) {
	switch f[1] {
	case typeEchoRq:
		// Same xid and payload, as the spec requires. Sent by the writer
		// goroutine so the reader never blocks behind a long write.
		f[1] = typeEchoRp
		c.enqueue(f)
		return
	case typeEchoRp:
		return // lastRx already records that the peer is alive
	}
	xid := frameXid(f)
	c.mu.Lock()
	if w := c.pending[xid]; w != nil {
		complete := w.add(f)
		if complete {
			delete(c.pending, xid)
		}
		c.mu.Unlock()
		if complete {
			close(w.done)
		}
		return
	}
	if f[1] == typeError {
		for _, b := range c.batches {
			if b.contains(xid) {
				e, err := parseError(f)
				if err == nil {
					b.errs = append(b.errs, MessageError{Index: int(xid - b.lo), Err: e})
				}
				c.mu.Unlock()
				return
			}
		}
	}
	c.mu.Unlock()
	c.unsolicited(f)
}

func (c *Conn) unsolicited(f []byte) {
	if c.opts.async != nil {
		c.opts.async(f[1], f)
		return
	}
	if f[1] == typeError {
		if e, err := parseError(f); err == nil {
			c.log.Warn("ofconn: error for a message nobody waits for", "err", e)
			return
		}
	}
	c.log.Debug("ofconn: unsolicited message", "type", msgTypeName(f[1]), "xid", frameXid(f), "len", len(f))
}

func (c *Conn) enqueue(f []byte) {
	select {
	case c.out <- f:
	default:
		// The writer is stuck behind a long write; the peer will probe again.
		c.log.Debug("ofconn: dropping echo traffic, writer busy")
	}
}

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case f := <-c.out:
			c.write(f)
		case <-c.done:
			return
		}
	}
}

// keepalive sends an echo request when nothing was received for
// echoInterval and declares the connection dead when nothing at all (reply,
// echo, anything) was received for echoTimeout.
func (c *Conn) keepalive() {
	defer c.wg.Done()
	iv, to := c.opts.echoInterval, c.opts.echoTimeout
	if iv <= 0 || to <= 0 {
		return
	}
	t := time.NewTicker(min(iv, to) / 4)
	defer t.Stop()
	var lastProbe time.Time
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			idle := now.Sub(time.Unix(0, c.lastRx.Load()))
			if idle >= to {
				c.fail(fmt.Errorf("%w: nothing received for %v", ErrEchoTimeout, idle.Round(time.Millisecond)))
				return
			}
			if idle >= iv && now.Sub(lastProbe) >= iv {
				lastProbe = now
				c.enqueue(simpleFrame(typeEchoRq, c.nextXid(1)))
			}
		}
	}
}

// write sends whole frames and flushes. A failed write leaves the stream
// torn mid-message, so it kills the connection.
func (c *Conn) write(frames ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
	}
	for _, f := range frames {
		if _, err := c.bw.Write(f); err != nil {
			c.fail(fmt.Errorf("ofconn: write: %w", err))
			return c.err
		}
	}
	if err := c.bw.Flush(); err != nil {
		c.fail(fmt.Errorf("ofconn: write: %w", err))
		return c.err
	}
	c.nMessages.Add(uint64(len(frames)))
	return nil
}

// register makes the reader keep the reply to xid for us.
func (c *Conn) register(xid uint32) *waiter {
	w := &waiter{done: make(chan struct{})}
	c.mu.Lock()
	c.pending[xid] = w
	c.mu.Unlock()
	return w
}

func (c *Conn) forget(xid uint32) {
	c.mu.Lock()
	delete(c.pending, xid)
	c.mu.Unlock()
}

// wait blocks until the reply to xid is complete. An OpenFlow error reply
// is returned as *OFError.
func (c *Conn) wait(ctx context.Context, xid uint32, w *waiter) error {
	select {
	case <-w.done:
	case <-c.done:
		select {
		case <-w.done:
		default:
			return c.err
		}
	case <-ctx.Done():
		c.forget(xid)
		select {
		case <-w.done:
		default:
			return ctx.Err()
		}
	}
	return w.err
}

// roundTrip sends one request frame and waits for its whole reply.
func (c *Conn) roundTrip(ctx context.Context, frame []byte) (*waiter, error) {
	xid := frameXid(frame)
	w := c.register(xid)
	if err := c.write(frame); err != nil {
		c.forget(xid)
		return nil, err
	}
	if err := c.wait(ctx, xid, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Barrier returns once the switch has finished processing every message
// sent before it.
func (c *Conn) Barrier(ctx context.Context) error {
	_, err := c.roundTrip(ctx, simpleFrame(typeBarrierRq, c.nextXid(1)))
	return err
}

// Send writes one message (e.g. a packet-out) without waiting for anything
// and returns the xid it was given. Errors the switch reports for it go to
// the async handler (see WithAsyncHandler). Use Exec to learn the outcome.
func (c *Conn) Send(msg util.Message) (uint32, error) {
	xid := c.nextXid(1)
	b, err := marshal(msg, xid)
	if err != nil {
		return 0, err
	}
	if err := c.write(b); err != nil {
		return 0, err
	}
	if b[1] == typeFlowMod {
		c.nFlowMods.Add(1)
	}
	return xid, nil
}

// Exec sends msgs back to back (not atomically; see Bundle for that),
// followed by a barrier, and reports the ones the switch rejected as a
// *BatchError whose entries wrap *OFError.
func (c *Conn) Exec(ctx context.Context, msgs ...util.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	first := c.nextXid(len(msgs) + 1)
	frames := make([][]byte, 0, len(msgs)+1)
	var flowMods uint64
	for i, m := range msgs {
		b, err := marshal(m, first+uint32(i))
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if b[1] == typeFlowMod {
			flowMods++
		}
		frames = append(frames, b)
	}
	barrierXid := first + uint32(len(msgs))
	frames = append(frames, simpleFrame(typeBarrierRq, barrierXid))

	b := c.addBatch(first, len(msgs))
	defer c.removeBatch(b)
	w := c.register(barrierXid)
	if err := c.write(frames...); err != nil {
		c.forget(barrierXid)
		return err
	}
	c.nFlowMods.Add(flowMods)
	if err := c.wait(ctx, barrierXid, w); err != nil {
		return err
	}
	if errs := c.batchErrors(b); len(errs) > 0 {
		return &BatchError{Failed: errs}
	}
	return nil
}

func (c *Conn) addBatch(first uint32, n int) *batch {
	b := &batch{lo: first, n: uint32(n)}
	c.mu.Lock()
	c.batches = append(c.batches, b)
	c.mu.Unlock()
	return b
}

func (c *Conn) removeBatch(b *batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.batches {
		if x == b {
			c.batches = append(c.batches[:i], c.batches[i+1:]...)
			return
		}
	}
}

// batchErrors returns a copy of the errors collected so far for b.
func (c *Conn) batchErrors(b *batch) []MessageError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]MessageError(nil), b.errs...)
}

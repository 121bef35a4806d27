package ovsdb

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"

	"github.com/vpcctl/vpcctl/ovsdb/vswitchd"
)

// DefaultEndpoint is where a packaged ovsdb-server listens.
const DefaultEndpoint = "unix:/var/run/openvswitch/db.sock"

// defaultWait bounds waits (cache catching up, ofport) when ctx has no deadline.
const defaultWait = 10 * time.Second

// Client is a connection to the Open_vSwitch database with a monitor on the
// tables vpcctl uses. Its methods are safe for concurrent use.
type Client struct {
	cli     client.Client
	writes  atomic.Int64
	changed Notifier
	rootMu  sync.Mutex // serializes creating the Open_vSwitch row
	lastCfg atomic.Int64
	// rootUUID is the Open_vSwitch row last seen in the cache. A long-lived
	// client may reconnect to a database made afresh (a new row, next_cfg
	// counting from 0 again): then lastCfg, a count of the old database,
	// is forgotten, or WaitApplied would wait for a cur_cfg that never comes.
	rootUUID atomic.Value // string
}

// ConnectOption configures Connect.
type ConnectOption func(*connectOptions)

type connectOptions struct{ log *slog.Logger }

// WithLogger sends libovsdb's messages (reconnect attempts among them) to l
// instead of slog.Default().
func WithLogger(l *slog.Logger) ConnectOption {
	return func(o *connectOptions) { o.log = l }
}

// Connect connects to ovsdb-server at endpoint ("unix:/path" or
// "tcp:host:port"; "" means DefaultEndpoint) and starts monitoring the
// Open_vSwitch, Bridge, Port, Interface, Controller and Flow_Table tables.
// It returns once the cache holds their current content. The client
// reconnects by itself if the server goes away (retrying every few seconds
// at most, for ever), and libovsdb then restores the monitor and brings the
// cache up to date, so one Client can serve a long-running daemon.
func Connect(ctx context.Context, endpoint string, opts ...ConnectOption) (*Client, error) {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	co := connectOptions{log: slog.Default()}
	for _, o := range opts {
		o(&co)
	}
	dbModel, err := vswitchd.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("ovsdb model: %w", err)
	}
	// libovsdb v0.7.0 panics when the reconnect backoff gives up: never give up.
	bo := backoff.NewExponentialBackOff()
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = 0
	logger := newLogger(co.log)
	cli, err := client.NewOVSDBClient(dbModel,
		client.WithEndpoint(endpoint),
		client.WithReconnect(defaultWait, bo),
		client.WithLogger(&logger))
	if err != nil {
		return nil, fmt.Errorf("ovsdb client for %s: %w", endpoint, err)
	}
	if err := cli.Connect(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	c := &Client{cli: cli}
	c.changed.Init()
	wake := func(_ string, m model.Model) {
		if r, ok := m.(*vswitchd.OpenvSwitch); ok {
			c.seeRoot(r.UUID)
		}
		c.changed.Broadcast()
	}
	cli.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(table string, _, m model.Model) { wake(table, m) },
		DeleteFunc: wake,
	})
	if _, err := cli.Monitor(ctx, newMonitor(cli)); err != nil {
		cli.Close()
		return nil, fmt.Errorf("monitor %s: %w", endpoint, err)
	}
	return c, nil
}

// newMonitor watches the tables vpcctl reads. Port and Interface are
// restricted to the columns used here: their statistics columns change every
// few seconds and would churn the cache for nothing.
func newMonitor(cli client.Client) *client.Monitor {
	port := &vswitchd.Port{}
	iface := &vswitchd.Interface{}
	ctl := &vswitchd.Controller{}
	return cli.NewMonitor(
		client.WithTable(&vswitchd.OpenvSwitch{}),
		client.WithTable(&vswitchd.Bridge{}),
		client.WithTable(port, &port.Name, &port.Interfaces, &port.ExternalIDs),
		client.WithTable(iface, &iface.Name, &iface.Type, &iface.ExternalIDs,
			&iface.Ofport, &iface.OfportRequest, &iface.Error, &iface.Options),
		client.WithTable(ctl, &ctl.Target, &ctl.ExternalIDs, &ctl.IsConnected),
		client.WithTable(&vswitchd.FlowTable{}),
	)
}

// seeRoot notes the Open_vSwitch row's UUID; a different one than before
// means another database: its next_cfg is not comparable with lastCfg.
func (c *Client) seeRoot(uuid string) {
	if old, _ := c.rootUUID.Swap(uuid).(string); old != "" && old != uuid {
		c.lastCfg.Store(0)
	}
}

// Close ends the connection. The Client must not be used afterwards.
func (c *Client) Close() {
	c.cli.Close()
}

// Changed returns a channel that is closed at the next change of the
// cache: any monitored row, of any bridge, this client's writes included.
func (c *Client) Changed() <-chan struct{} {
	return c.changed.Wait()
}

// Writes is the number of write transactions this client has sent.
func (c *Client) Writes() int64 {
	return c.writes.Load()
}

// Notifier wakes waiters at every change of a libovsdb cache (a client's
// event handler calls Broadcast). The zero value needs Init.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Init makes the first channel.
func (n *Notifier) Init() { n.ch = make(chan struct{}) }

// Wait returns a channel closed at the next change.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// Broadcast wakes every waiter.
func (n *Notifier) Broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// waitUntil calls done after every cache change until it reports true or
// fails, or ctx ends (defaultWait when ctx has no deadline). libovsdb drops
// cache events when its queue is full, so it also looks every 250 ms.
func (c *Client) waitUntil(ctx context.Context, done func() (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		changed := c.changed.Wait()
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

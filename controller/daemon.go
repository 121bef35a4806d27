package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller/flowlog"
	"github.com/vpcctl/vpcctl/controller/metrics"
	"github.com/vpcctl/vpcctl/flows"
	"github.com/vpcctl/vpcctl/flows/ofconn"
	"github.com/vpcctl/vpcctl/ovsdb"
)

// DaemonOptions configure RunDaemon.
type DaemonOptions struct {
	File string // the topology file
	// Reload asks for a re-read and re-apply of the file (SIGHUP); nil = never.
	Reload <-chan struct{}
	// Debounce is how long the file must be quiet after a change before it
	// is read again; 0 = 200 ms.
	Debounce time.Duration
	// CheckInterval is how often the daemon checks that its flows are still
	// installed; 0 = 10 s.
	CheckInterval time.Duration
	// Metrics receives the daemon's metrics; nil = none.
	Metrics *metrics.Metrics
	// FlowLogDir is where flow logs with a relative destination are
	// written; "" = the topology file's directory.
	FlowLogDir string
	// OnApplied, when set, hears the outcome of every apply, with the file
	// content applied (the agent reports it to the cluster). It runs on
	// the daemon's loop: it must not block.
	OnApplied func(raw []byte, sum *Summary, err error)
}

const (
	applyTimeout   = 2 * time.Minute
	maxRetryDelay  = 30 * time.Second
	reconnectGrace = time.Second // after losing OVS, before the first repair attempt
	portCheckDelay = 200 * time.Millisecond
	// replacedSettle is the debounce after a file was created or renamed
	// over the old one: short, as the change is whole, but long enough for
	// the first write of a file created in place (cp) to reset it.
	replacedSettle = 20 * time.Millisecond
	dbCheckDelay   = 500 * time.Millisecond // after an OVSDB change, before looking at the ports
)

// DaemonSocket is the unix socket where the daemon of a bridge listens for
// ovs-vswitchd: <OVS run directory>/vpcctl-<bridge>.sock.
func DaemonSocket(o Options, bridge string) string {
	o = o.withDefaults()
	return filepath.Join(o.RunDir, "vpcctl-"+bridge+".sock")
}

// DaemonTarget is the Bridge.controller target the daemon sets: OVS
// connects actively ("unix:") to the socket the daemon listens on.
func DaemonTarget(o Options, bridge string) string {
	return "unix:" + DaemonSocket(o, bridge)
}

// daemon is the state of one `vpcctl daemon`. Everything but the watcher
// goroutines runs in the main loop (run), so it needs no locks.
type daemon struct {
	o       Options
	log     *slog.Logger // the daemon's own lines: bridge and file attached
	file    string       // absolute path of the topology file
	bridge  string
	flowLog *flowlog.Collector // writes the flow logs; nil outside RunDaemon

	onApplied func(raw []byte, sum *Summary, err error)

	topo     *config.Topology // desired state: the last valid file
	raw      []byte           // its content
	internal []string         // its OVS internal ports
	ports    []string         // all its OVS ports
	// trunkLinks are its trunk instances' host ends (no OVS ports: a
	// deleted one shows only in the host's links).
	trunkLinks []string
	// verifyTrunk: the next apply reads every trunk instance's filter.
	verifyTrunk bool

	applied  bool       // the desired state was applied and nothing has disturbed it since
	flows    *flows.Set // the flows the last successful apply installed
	failures int        // consecutive failed applies
	lost     bool       // the controller connection dropped since the last apply
	invalid  bool       // the file on disk was invalid when last read

	// flowsOn is the connection over which the bridge is known to hold
	// exactly d.flows: an edit then sends its diff without a dump of every
	// flow. Any doubt (an apply under way or failed, drift, a lost
	// connection) makes it nil.
	flowsOn *ofconn.Conn

	// db is the daemon's one OVSDB client, for its whole life: libovsdb
	// keeps its cache current through the monitor and reconnects by itself
	// when ovsdb-server restarts. nil until the first connect succeeds.
	db    *ovsdb.Client
	conn  *ofconn.Conn // OVS's connection to us; nil when it is not connected
	retry *time.Timer  // the next repair attempt, nil when none is due
	// dbRepaired is when an OVSDB change last made the daemon repair ports.
	dbRepaired time.Time

	metrics *metrics.Metrics // nil: none
	mflows  *daemonFlows     // what metrics scrapes read flows through
}

// session is what apply borrows from a long-running caller instead of
// opening its own for one run: the daemon's OVSDB client and the OpenFlow
// connection ovs-vswitchd opened to it (it is the bridge's controller, so
// flow dumps and bundles go over that one). apply records in Flows the set
// it made the bridge hold.
type session struct {
	Daemon bool          // make the daemon's socket the bridge's controller
	DB     *ovsdb.Client // nil: apply connects, and disconnects at the end
	Conn   *ofconn.Conn  // nil: apply dials the bridge's management socket
	Flows  *flows.Set    // set by apply once the flows are installed
	// Installed, when not nil, is the set Conn's bridge holds (the last
	// one this caller installed over Conn, nothing having disturbed it
	// since): apply sends its diff without dumping the bridge's flows.
	Installed *flows.Set
}

// RunDaemon is `vpcctl daemon`: it applies the file, becomes the bridge's
// OpenFlow controller, and keeps the host matching the file until ctx ends:
// it re-applies when the file changes or Reload fires, and when
// ovs-vswitchd restarted (the controller connection drops and comes back),
// an internal port fell back into the host namespace, or its flows are not
// all there (checked every CheckInterval). An invalid new file is logged
// and changes nothing. Failures (OVS unavailable) are retried with backoff.
//
// On return the flows stay installed and so does the controller target:
// fail_mode=secure keeps the dataplane running without a controller, and
// OVS flushes a bridge's flows when its only controller is removed. OVS
// retries the connection (every few seconds) until a daemon listens again.
//
// It fails at once when the initial file is invalid (config.Errors), when
// another daemon serves the bridge, or when the bridge is not vpcctl's.
func RunDaemon(ctx context.Context, o Options, do DaemonOptions) error {
	o = o.withDefaults()
	if do.Debounce <= 0 {
		do.Debounce = 200 * time.Millisecond
	}
	if do.CheckInterval <= 0 {
		do.CheckInterval = 10 * time.Second
	}
	abs, err := filepath.Abs(do.File)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		return fmt.Errorf("reading topology: %w", err)
	}
	topo, warns, err := config.Parse(raw, do.File)
	if err != nil {
		return err
	}
	o.File = abs
	d := &daemon{o: o, file: abs, bridge: topo.Bridge, onApplied: do.OnApplied}
	d.setTopology(topo, raw)
	d.log = o.Log.With("bridge", d.bridge, "file", d.file)
	// Apply logs its own "applied" line; the daemon writes a richer one.
	d.o.Log = slog.New(dropMessage{o.Log.Handler(), "applied"})
	d.logWarnings(warns)
	d.startMetrics(do.Metrics)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Flow logs: packet-ins and flow-removed messages go to the collector.
	flDir := do.FlowLogDir
	if flDir == "" {
		flDir = filepath.Dir(abs)
	}
	d.flowLog = flowlog.New(flowlog.Options{Bridge: d.bridge, Dir: flDir, Log: d.log, Metrics: do.Metrics})
	flDone := make(chan struct{})
	go func() { defer close(flDone); d.flowLog.Run(ctx) }()
	defer func() { cancel(); <-flDone }() // the last records are written before RunDaemon returns
	sock := DaemonSocket(o, d.bridge)
	ln, err := ofconn.Listen("punix:"+sock, ofconn.WithLogger(o.Log), ofconn.WithAsyncHandler(d.flowLog.HandleAsync))
	if err != nil {
		return fmt.Errorf("listen for ovs-vswitchd on %s (does another vpcctl daemon serve bridge %s?): %w", sock, d.bridge, err)
	}
	conns := acceptLoop(ctx, ln, d.log)
	files, err := watchFile(ctx, abs, d.log)
	if err != nil {
		ln.Close()
		return err
	}
	links := watchLinks(ctx, d.log)
	d.log.Info("daemon started", "event", "start", "socket", sock, "target", DaemonTarget(o, d.bridge))

	if err := d.apply(ctx, "start"); err != nil && permanent(err) {
		ln.Close()
		if d.db != nil {
			d.db.Close()
		}
		return err
	}
	d.run(ctx, do, conns, files, links)

	ln.Close()
	if d.conn != nil {
		d.conn.Close()
	}
	if d.db != nil {
		d.db.Close()
	}
	d.stop()
	return nil
}

// run is the main loop; it returns when ctx ends.
func (d *daemon) run(ctx context.Context, do DaemonOptions, conns <-chan *ofconn.Conn, files <-chan bool, links <-chan linkEvent) {
	check := time.NewTicker(do.CheckInterval)
	defer check.Stop()
	var debounce, portCheck, dbCheck, trunkCheck <-chan time.Time
	for {
		var connDone <-chan struct{}
		if d.conn != nil {
			connDone = d.conn.Done()
		}
		var retry <-chan time.Time
		if d.retry != nil {
			retry = d.retry.C
		}
		var dbChanged <-chan struct{}
		if d.db != nil && dbCheck == nil {
			dbChanged = d.db.Changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-do.Reload:
			d.log.Info("reload requested", "event", "sighup")
			d.reload(ctx, "sighup", true)
		case replaced := <-files:
			// A file renamed over the old one is complete at once (editors,
			// config managers and `mv` replace files so); one written in
			// place must be quiet for do.Debounce first.
			wait := do.Debounce
			if replaced {
				wait = min(wait, replacedSettle)
			}
			debounce = time.After(wait)
		case <-debounce:
			debounce = nil
			d.reload(ctx, "file_changed", false)
		case c := <-conns:
			if d.conn != nil {
				d.conn.Close()
			}
			d.conn = c
			d.metricsConn(c)
			d.flowLog.SetConn(c)
			d.log.Info("ovs-vswitchd connected", "event", "controller_connected", "dpid", fmt.Sprintf("%016x", c.DatapathID()))
			if d.lost || !d.applied {
				// ovs-vswitchd came back (restarted: no flows, internal
				// ports recreated in the host namespace): repair now.
				d.apply(ctx, "controller_reconnected")
			} else if dr := d.timedCheck(ctx); dr.reason != "" && !dr.unread {
				// A first connection to this daemon (it was restarted, or
				// ovs-vswitchd restarted before connecting to it): OVS may
				// have lost the flows in between. (A connection that died
				// already shows as Done next.)
				d.log.Warn("dataplane differs from the file", "event", "drift", "reason", dr.reason)
				d.repair(ctx, dr)
			}
		case <-connDone:
			d.log.Warn("ovs-vswitchd disconnected", "event", "controller_disconnected", "err", d.conn.Err())
			d.conn = nil
			d.metricsConn(nil)
			d.flowLog.SetConn(nil)
			d.lost, d.flowsOn = true, nil
			d.schedule(reconnectGrace)
		case ev := <-links:
			if !ev.gone && d.isInternalPort(ev.name) && portCheck == nil {
				portCheck = time.After(portCheckDelay)
			}
			if ev.gone && d.applied && d.isTrunkLink(ev.name) && trunkCheck == nil {
				trunkCheck = time.After(portCheckDelay)
			}
		case <-trunkCheck:
			trunkCheck = nil
			d.log.Warn("a trunk instance's link was deleted", "event", "drift")
			d.verifyTrunk = true
			d.apply(ctx, "trunk_link_gone")
		case <-dbChanged:
			// libovsdb's cache changed (anything, any bridge's): look at
			// this bridge's ports, in the cache, a little later.
			dbCheck = time.After(dbCheckDelay)
		case <-dbCheck:
			dbCheck = nil
			// At most once per check interval: a port that cannot be
			// repaired is left to the periodic check, not retried at
			// every database change.
			if d.applied && d.retry == nil && time.Since(d.dbRepaired) >= do.CheckInterval {
				if reason := d.portsDrift(ctx); reason != "" {
					d.log.Warn("dataplane differs from the file", "event", "drift", "reason", reason)
					d.dbRepaired = time.Now()
					d.apply(ctx, "drift")
				}
			}
		case <-portCheck:
			portCheck = nil
			if p := d.internalPortsInHost(); len(p) > 0 {
				d.log.Warn("internal port back in the host namespace", "event", "drift", "ports", p)
				d.apply(ctx, "internal_port_moved")
			}
		case <-retry:
			d.retry = nil
			d.apply(ctx, "retry")
		case <-check.C:
			if d.retry != nil {
				continue // a repair is due anyway
			}
			if dr := d.timedCheck(ctx); dr.reason != "" {
				d.log.Warn("dataplane differs from the file", "event", "drift", "reason", dr.reason)
				d.repair(ctx, dr)
			}
		}
	}
}

// reload reads the file again and applies it when it is valid. An invalid
// file is logged and changes nothing: the running network stays as it is.
// Unless force is set, an unchanged file is not applied again.
func (d *daemon) reload(ctx context.Context, why string, force bool) {
	raw, err := os.ReadFile(d.file)
	if err != nil {
		d.log.Error("cannot read the topology; keeping the running network", "event", "invalid_file", "err", err)
		return
	}
	if !force && bytes.Equal(raw, d.raw) {
		if d.invalid {
			d.log.Info("file is valid again, and the same as the running topology", "event", why)
		}
		d.invalid = false
		return
	}
	topo, warns, err := config.Parse(raw, d.file)
	if err != nil {
		d.invalid = true
		d.metrics.TopologyInvalid()
		d.logInvalid(err)
		return
	}
	d.logWarnings(warns)
	if topo.Bridge != d.bridge {
		d.invalid = true
		d.log.Error("invalid topology; keeping the running network", "event", "invalid_file",
			"err", fmt.Sprintf("bridge: %q -> %q: a daemon serves one bridge; stop it to change the bridge", d.bridge, topo.Bridge))
		return
	}
	d.log.Info("topology changed", "event", why)
	d.setTopology(topo, raw)
	d.invalid = false
	d.applied = false
	d.apply(ctx, why)
}

// apply makes the host match d.topo. A failure schedules another attempt
// with exponential backoff.
func (d *daemon) apply(ctx context.Context, why string) error {
	if d.retry != nil {
		d.retry.Stop()
		d.retry = nil
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	s := &session{Daemon: true, Conn: d.liveConn()}
	o := d.o
	o.verifyTrunk, d.verifyTrunk = d.verifyTrunk, false
	if s.Conn != nil && s.Conn == d.flowsOn {
		s.Installed = d.flows
	}
	d.flowsOn = nil // until this apply succeeds
	var sum *Summary
	err := d.connectOVSDB(actx)
	if err == nil {
		s.DB = d.db
		sum, err = apply(actx, o, d.topo, s)
	}
	cancel()
	dur := time.Since(start).Round(time.Millisecond)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		d.metricsApplied(why, start, err)
		if d.onApplied != nil {
			d.onApplied(d.raw, nil, err)
		}
		d.failures++
		d.applied = false
		delay := retryDelay(d.failures)
		d.log.Error("apply failed", "event", "apply_failed", "reason", why, "err", err,
			"attempt", d.failures, "retry_in", delay, "duration", dur)
		d.schedule(delay)
		return err
	}
	if d.failures > 0 {
		d.log.Info("recovered", "event", "recovered", "failed_attempts", d.failures)
	}
	d.failures, d.applied, d.lost, d.flows = 0, true, false, s.Flows
	d.flowLog.Update(d.topo, s.Flows)
	d.flowsOn = s.Conn
	d.metricsApplied(why, start, nil)
	if d.onApplied != nil {
		d.onApplied(d.raw, sum, nil)
	}
	via := "controller connection"
	if s.Conn == nil {
		via = "management socket"
	}
	d.log.Info("applied", "event", "applied", "reason", why, "openflow", via,
		"instances", sum.Instances, "flows", sum.Flows,
		"flows_added", sum.FlowsAdded, "flows_deleted", sum.FlowsDeleted,
		"ovsdb_writes", sum.OVSDBWrites, "host_changes", sum.HostChanges,
		"instances_removed", sum.Removed, "duration", dur)
	return nil
}

// connectOVSDB makes the daemon's one OVSDB client, unless it has it
// already. Once connected, libovsdb reconnects it by itself (and restores
// its monitor and cache) whenever ovsdb-server goes away and comes back;
// its attempts show in the daemon's log (component=libovsdb).
func (d *daemon) connectOVSDB(ctx context.Context) error {
	if d.db != nil {
		return nil
	}
	db, err := ovsdb.Connect(ctx, d.o.OVSDB, ovsdb.WithLogger(d.ovsdbLogger()))
	if err != nil {
		return fmt.Errorf("OVSDB at %s does not answer (is OVS running? try `vpcctl ovs up`): %w", d.o.OVSDB, err)
	}
	d.db = db
	d.metrics.OVSDBConnected(true, false)
	d.log.Info("connected to OVSDB", "event", "ovsdb_connected", "endpoint", d.o.OVSDB)
	return nil
}

// liveConn is ovs-vswitchd's connection to the daemon while it is alive,
// else nil (apply then dials the bridge's management socket: at start,
// before OVS has connected, and after ovs-vswitchd restarted until it
// connects again).
func (d *daemon) liveConn() *ofconn.Conn {
	if d.conn == nil || d.conn.Err() != nil {
		return nil
	}
	return d.conn
}

// schedule makes the next repair attempt due after delay (or earlier, if
// one already is).
func (d *daemon) schedule(delay time.Duration) {
	if d.retry != nil {
		return
	}
	d.retry = time.NewTimer(delay)
}

// retryDelay is 500 ms, doubling per consecutive failure, at most 30 s.
func retryDelay(failures int) time.Duration {
	delay := 500 * time.Millisecond
	for i := 1; i < failures && delay < maxRetryDelay; i++ {
		delay *= 2
	}
	return min(delay, maxRetryDelay)
}

// permanent says whether an apply error at start cannot go away by
// waiting (the bridge belongs to someone else, the datapath is impossible).
func permanent(err error) bool {
	return errors.Is(err, ovsdb.ErrNotOwned) || errors.Is(err, ovsdb.ErrInvalid) ||
		errors.Is(err, ovsdb.ErrConflict)
}

// stop logs the end. The controller target stays set and the flows stay
// installed: with fail_mode=secure the bridge keeps forwarding by them
// while no controller is connected. Removing the target instead would cost
// the network: OVS 3.1 flushes every flow of a bridge when its last
// controller is removed (and when its first one is set), measured.
func (d *daemon) stop() {
	d.log.Info("daemon stopped; the network keeps running on the installed flows", "event", "stop")
}

func (d *daemon) logInvalid(err error) {
	var cerrs config.Errors
	if !errors.As(err, &cerrs) {
		d.log.Error("invalid topology; keeping the running network", "event", "invalid_file", "err", err)
		return
	}
	d.log.Error("invalid topology; keeping the running network", "event", "invalid_file", "errors", len(cerrs))
	for _, e := range cerrs {
		d.log.Error("invalid topology", "event", "invalid_file", "err", e.Error())
	}
}

func (d *daemon) logWarnings(warns []config.Warning) {
	for _, w := range warns {
		d.log.Warn("topology warning", "event", "warning", "err", w.String())
	}
}

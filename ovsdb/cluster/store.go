// Package cluster is vpcctl's desired state for several hosts: a Raft
// cluster of ovsdb-server members (procs.go starts one on the loopback)
// holding the VPCctl database (vpcctl.ovsschema), and Store, the client that
// `vpcctl apply --cluster` publishes through and every host's agent watches.
//
// Raft gives every member the same committed log, so a topology published
// once is what every host sees, in the same order, and survives the loss of
// any minority of members.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	libmodel "github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	vovsdb "github.com/vpcctl/vpcctl/ovsdb"
	"github.com/vpcctl/vpcctl/ovsdb/cluster/model"
)

const (
	// defaultTimeout bounds Dial, Publish and Report when ctx has no
	// deadline: without a quorum a write would otherwise wait for ever.
	defaultTimeout = 30 * time.Second
	// reconnectTimeout bounds one attempt to reach a member.
	reconnectTimeout = 5 * time.Second
	// cacheWait bounds how long Publish waits, after its commit, for the
	// cache to show it (read-your-writes for Topology and Addresses).
	cacheWait = 2 * time.Second
	// attemptTimeout bounds one try of a write: a commit takes
	// milliseconds, an election about a second.
	attemptTimeout = 3 * time.Second
)

// Snapshot is one published version of a topology, as Watch delivers it.
type Snapshot struct {
	YAML       string
	Generation int
}

// ChassisStatus is what an agent last applied on its host (one Chassis
// row): which generation of which topology, with how many flows, and the
// error if the apply failed.
type ChassisStatus struct {
	Name              string    `json:"name"`               // the host (chassis) name
	Topology          string    `json:"topology"`           // the topology the agent applies
	AppliedGeneration int       `json:"applied_generation"` // the generation last applied (whether or not it failed)
	Error             string    `json:"error,omitempty"`    // "" when that apply succeeded
	Flows             int       `json:"flows"`              // flows installed
	Updated           time.Time `json:"updated"`            // when; Report sets now when zero (stored in unix ms)
}

// Store is a client of the clustered VPCctl database: writes go to the Raft
// leader, reads come from a local cache kept current by a monitor of every
// table. It is safe for concurrent use.
type Store struct {
	cli client.Client
	log *slog.Logger

	changed vovsdb.Notifier // any change of the cache

	mu       sync.Mutex
	watchers map[*watcher]struct{}
	closed   bool
}

// Dial connects to the cluster at endpoints (each "unix:PATH" or
// "tcp:HOST:PORT"; an element may itself be a comma-separated list, as
// Up returns and --cluster takes) and returns once the cache holds the
// database's content.
//
// The client only ever talks to the leader (libovsdb's leader-only mode
// treats followers as down and drops a member that loses the leadership),
// so a write is never sent to a member that cannot commit it and the cache
// is never older than the cluster's commit. When the leader goes away the
// client reconnects by itself, trying the members in turn with an
// exponential backoff (100 ms up to 2 s, for ever); libovsdb then restores
// the monitor, and the cache, and so Watch, catch up. Dial itself retries
// until ctx ends (30 s without a deadline), so that it works during an
// election too.
func Dial(ctx context.Context, endpoints []string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	var eps []string
	for _, e := range endpoints {
		for _, p := range strings.Split(e, ",") {
			if p = strings.TrimSpace(p); p != "" {
				eps = append(eps, p)
			}
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("cluster: no endpoint")
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	dbModel, err := model.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("cluster: model: %w", err)
	}
	// libovsdb v0.7.0 panics when the reconnect backoff gives up: never give up.
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = 2 * time.Second
	bo.MaxElapsedTime = 0
	logger := vovsdb.NewLogger(log, slog.LevelWarn)
	opts := []client.Option{
		client.WithLeaderOnly(true),
		client.WithReconnect(reconnectTimeout, bo),
		client.WithLogger(&logger),
	}
	for _, e := range eps {
		opts = append(opts, client.WithEndpoint(e))
	}
	cli, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: client for %s: %w", strings.Join(eps, ","), err)
	}
	// The first connection is not retried by libovsdb: with no leader (an
	// election under way) it fails at once.
	connect := backoff.NewExponentialBackOff()
	connect.InitialInterval = 100 * time.Millisecond
	connect.MaxInterval = time.Second
	connect.MaxElapsedTime = 0
	err = backoff.Retry(func() error { return cli.Connect(ctx) }, backoff.WithContext(connect, ctx))
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("cluster: connect to the leader of %s: %w", strings.Join(eps, ","), err)
	}
	s := &Store{cli: cli, log: log, watchers: map[*watcher]struct{}{}}
	s.changed.Init()
	cli.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(table string, m libmodel.Model) { s.onChange(table, m) },
		UpdateFunc: func(table string, _, m libmodel.Model) { s.onChange(table, m) },
		DeleteFunc: func(table string, m libmodel.Model) { s.onChange(table, m) },
	})
	mon := cli.NewMonitor(
		client.WithTable(&model.Topology{}),
		client.WithTable(&model.Address{}),
		client.WithTable(&model.Chassis{}),
	)
	if _, err := cli.Monitor(ctx, mon); err != nil {
		cli.Close()
		return nil, fmt.Errorf("cluster: monitor: %w", err)
	}
	return s, nil
}

// Close ends the connection and closes every Watch channel. The Store must
// not be used afterwards (a second Close does nothing).
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ws := slices.Collect(maps.Keys(s.watchers))
	clear(s.watchers)
	s.mu.Unlock()
	for _, w := range ws {
		w.close()
	}
	s.cli.Close()
}

// onChange runs on libovsdb's cache event goroutine for every row added,
// changed or removed: it wakes Publish/Report waiters and, for a topology,
// its watchers. It must not block.
func (s *Store) onChange(table string, m libmodel.Model) {
	s.changed.Broadcast()
	t, ok := m.(*model.Topology)
	if table != model.TopologyTable || !ok {
		return
	}
	s.mu.Lock()
	var ws []*watcher
	for w := range s.watchers {
		if w.name == t.Name {
			ws = append(ws, w)
		}
	}
	s.mu.Unlock()
	for _, w := range ws {
		s.refresh(w)
	}
}

// refresh hands w the topology as the cache has it now. The event is only a
// trigger: the cache is read afresh, so that events handled late can never
// make a watcher go back to an older version.
func (s *Store) refresh(w *watcher) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if yaml, gen, ok := s.Topology(w.name); ok {
		w.offer(Snapshot{YAML: yaml, Generation: gen})
	}
}

// Topology is the topology name as last seen from the cluster (from the
// cache: no round trip, and it answers while the cluster has no quorum).
func (s *Store) Topology(name string) (yaml string, generation int, ok bool) {
	t, ok := s.topologyRow(name)
	if !ok {
		return "", 0, false
	}
	return t.Yaml, t.Generation, true
}

func (s *Store) topologyRow(name string) (model.Topology, bool) {
	var ts []model.Topology
	err := s.cli.WhereCache(func(t *model.Topology) bool { return t.Name == name }).List(context.Background(), &ts)
	if err != nil || len(ts) == 0 {
		return model.Topology{}, false
	}
	return ts[0], true
}

// Addresses are the addresses allocated to the instances of topology name,
// by "VPC/INSTANCE", from the cache.
func (s *Store) Addresses(name string) map[string]string {
	out := map[string]string{}
	for _, a := range s.addressRows(name) {
		out[a.Key] = a.IP
	}
	return out
}

func (s *Store) addressRows(name string) []model.Address {
	var as []model.Address
	_ = s.cli.WhereCache(func(a *model.Address) bool { return a.Topology == name }).List(context.Background(), &as)
	return as
}

// Chassis is what every host applying topology name last reported, sorted
// by host name, from the cache.
func (s *Store) Chassis(topology string) []ChassisStatus {
	var cs []model.Chassis
	_ = s.cli.WhereCache(func(c *model.Chassis) bool { return c.Topology == topology }).List(context.Background(), &cs)
	out := make([]ChassisStatus, 0, len(cs))
	for _, c := range cs {
		out = append(out, ChassisStatus{
			Name: c.Name, Topology: c.Topology, AppliedGeneration: c.AppliedGeneration,
			Error: c.Error, Flows: c.Flows, Updated: time.UnixMilli(int64(c.Updated)),
		})
	}
	slices.SortFunc(out, func(a, b ChassisStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Topologies names the topologies the cluster holds, sorted.
func (s *Store) Topologies() []string {
	var ts []model.Topology
	_ = s.cli.List(context.Background(), &ts)
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Name)
	}
	slices.Sort(out)
	return out
}

// Digest is the sha256 of a topology file in hex, as the Topology row keeps it.
func Digest(yaml string) string {
	sum := sha256.Sum256([]byte(yaml))
	return hex.EncodeToString(sum[:])
}

// Publish makes the cluster hold yaml as topology name and exactly addrs
// ("VPC/INSTANCE" -> IP) as its addresses, in one transaction, so that no
// host ever sees a topology without its addresses. The generation goes up
// by one only when the yaml changed (changed reports that), so agents
// re-apply only for a real change; a publish of the same file can still fix
// the addresses.
//
// The transaction is built from the cache and guarded by wait operations
// on what it read (the topology's digest and generation, the topology's
// address rows): if another publisher, or a cache behind the leader, made
// that stale, nothing is written and Publish tries again once the cache has
// moved. A connection lost to a failover is retried the same way, on the
// new leader. Publish fails when ctx ends first (30 s without a deadline):
// with no quorum, nothing commits. On success, the cache already shows the
// write.
func (s *Store) Publish(ctx context.Context, name, yaml string, addrs map[string]string) (generation int, changed bool, err error) {
	if name == "" {
		return 0, false, errors.New("cluster: publish: no topology name")
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	digest := Digest(yaml)
	first := -1 // the generation before this publish, as first seen
	var gen int
	err = s.retry(ctx, "publish "+name, func(ctx context.Context) error {
		cur, exists := s.topologyRow(name)
		if first < 0 {
			first = cur.Generation
		}
		var ops []ovsdb.Operation
		ops, gen = s.publishOps(name, yaml, digest, addrs, cur, exists)
		return s.transact(ctx, ops)
	})
	if err != nil {
		return 0, false, err
	}
	s.waitCache(ctx, func() bool {
		t, ok := s.topologyRow(name)
		return ok && t.Digest == digest && t.Generation == gen
	})
	return gen, gen != first, nil
}

// publishOps builds Publish's transaction from the cache's view: cur is the
// topology's row if exists. It returns the generation the row will have.
func (s *Store) publishOps(name, yaml, digest string, addrs map[string]string, cur model.Topology, exists bool) ([]ovsdb.Operation, int) {
	byName := []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, name)}
	var ops []ovsdb.Operation
	gen := cur.Generation
	switch {
	case !exists:
		// No guard needed: the name index aborts a second insert.
		gen = 1
		ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationInsert, Table: model.TopologyTable,
			Row: ovsdb.Row{"name": name, "yaml": yaml, "digest": digest, "generation": gen}})
	case cur.Digest != digest:
		gen = cur.Generation + 1
		ops = append(ops, waitOp(model.TopologyTable, byName,
			ovsdb.Row{"digest": cur.Digest, "generation": cur.Generation}),
			ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: model.TopologyTable, Where: byName,
				Row: ovsdb.Row{"yaml": yaml, "digest": digest, "generation": gen}})
	default:
		ops = append(ops, waitOp(model.TopologyTable, byName,
			ovsdb.Row{"digest": cur.Digest, "generation": cur.Generation}))
	}

	have := s.addressRows(name)
	byTopo := ovsdb.NewCondition("topology", ovsdb.ConditionEqual, name)
	if len(have) == 0 {
		// A wait cannot say "no rows" (libovsdb drops an empty rows list):
		// delete whatever the cache may not know of yet instead.
		ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationDelete, Table: model.AddressTable,
			Where: []ovsdb.Condition{byTopo}})
	} else {
		var rows []ovsdb.Row
		for _, a := range have {
			rows = append(rows, ovsdb.Row{"key": a.Key, "ip": a.IP})
		}
		ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationWait, Table: model.AddressTable,
			Where: []ovsdb.Condition{byTopo}, Columns: []string{"key", "ip"},
			Until: string(ovsdb.WaitConditionEqual), Rows: rows, Timeout: new(int)})
	}
	seen := map[string]bool{}
	for _, a := range have {
		seen[a.Key] = true
		where := []ovsdb.Condition{byTopo, ovsdb.NewCondition("key", ovsdb.ConditionEqual, a.Key)}
		ip, keep := addrs[a.Key]
		switch {
		case !keep:
			ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationDelete, Table: model.AddressTable, Where: where})
		case ip != a.IP:
			ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: model.AddressTable,
				Where: where, Row: ovsdb.Row{"ip": ip}})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(addrs)) {
		if !seen[k] {
			ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationInsert, Table: model.AddressTable,
				Row: ovsdb.Row{"key": k, "topology": name, "ip": addrs[k]}})
		}
	}
	return ops, gen
}

// waitOp is a guard: the transaction aborts unless the one row where
// matches has exactly the values of row.
func waitOp(table string, where []ovsdb.Condition, row ovsdb.Row) ovsdb.Operation {
	cols := slices.Sorted(maps.Keys(row))
	return ovsdb.Operation{Op: ovsdb.OperationWait, Table: table, Where: where,
		Columns: cols, Until: string(ovsdb.WaitConditionEqual), Rows: []ovsdb.Row{row}, Timeout: new(int)}
}

// Report records what the agent on host st.Name applied for st.Topology
// (one row per host and topology, inserted or updated). Like Publish it
// goes to the leader and fails when ctx ends without a quorum.
func (s *Store) Report(ctx context.Context, st ChassisStatus) error {
	if st.Name == "" {
		return errors.New("cluster: report: no chassis name")
	}
	if st.Updated.IsZero() {
		st.Updated = time.Now()
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	row := ovsdb.Row{"applied_generation": st.AppliedGeneration, "error": st.Error,
		"flows": st.Flows, "updated": int(st.Updated.UnixMilli())}
	where := []ovsdb.Condition{
		ovsdb.NewCondition("name", ovsdb.ConditionEqual, st.Name),
		ovsdb.NewCondition("topology", ovsdb.ConditionEqual, st.Topology),
	}
	return s.retry(ctx, "report "+st.Name, func(ctx context.Context) error {
		var cs []model.Chassis
		_ = s.cli.WhereCache(func(c *model.Chassis) bool {
			return c.Name == st.Name && c.Topology == st.Topology
		}).List(ctx, &cs)
		if len(cs) == 0 {
			ins := maps.Clone(row)
			ins["name"], ins["topology"] = st.Name, st.Topology
			// A row the cache does not know yet makes the index abort this.
			return s.transact(ctx, []ovsdb.Operation{{Op: ovsdb.OperationInsert, Table: model.ChassisTable, Row: ins}})
		}
		return s.transact(ctx, []ovsdb.Operation{
			waitOp(model.ChassisTable, where, ovsdb.Row{"_uuid": ovsdb.UUID{GoUUID: cs[0].UUID}}),
			{Op: ovsdb.OperationUpdate, Table: model.ChassisTable, Where: where, Row: row},
		})
	})
}

// errConflict: a guard failed or an index refused an insert; the cache was
// behind. Trying again after it moves resolves it.
var errConflict = errors.New("conflict")

// transact sends ops to the leader and sorts the failures: errConflict for
// a stale view, the error itself otherwise.
func (s *Store) transact(ctx context.Context, ops []ovsdb.Operation) error {
	res, err := s.cli.Transact(ctx, ops...)
	if err != nil {
		return err
	}
	opErrs, err := ovsdb.CheckOperationResults(res, ops)
	if err == nil {
		return nil
	}
	// An operation's error is in opErrs; a failed commit (an index
	// violated) is err itself.
	all := append(asErrors(opErrs), err)
	for _, e := range all {
		var timedOut *ovsdb.TimedOut
		var constraint *ovsdb.ConstraintViolation
		if errors.As(e, &timedOut) || errors.As(e, &constraint) {
			return fmt.Errorf("%w: %v", errConflict, e)
		}
	}
	return errors.Join(all...)
}

func asErrors(es []ovsdb.OperationError) []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// retry runs attempt until it succeeds or ctx ends. Conflicts and lost
// connections (a failover) are retried, after the cache changes or a short
// pause; other errors are returned at once.
//
// Each attempt has attemptTimeout: a call that hangs on a connection that
// is still open (a member that lost its quorum and then the leadership
// while our transaction waited in its log) makes the client reconnect,
// which finds the current leader. The guards make a retry safe even if the
// hung transaction commits after all.
func (s *Store) retry(ctx context.Context, what string, attempt func(context.Context) error) error {
	pause := 50 * time.Millisecond
	for {
		changed := s.changed.Wait()
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := attempt(actx)
		hung := err != nil && actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: %s: %w (last error: %v)", what, ctx.Err(), err)
		}
		switch {
		case hung:
			if !strings.Contains(err.Error(), "awaiting reconnection") {
				s.log.Warn("cluster: no answer from the member, reconnecting", "what", what, "err", err)
				s.cli.Disconnect()
			}
		case !errors.Is(err, errConflict) && !retriable(err):
			return fmt.Errorf("cluster: %s: %w", what, err)
		}
		s.log.Debug("cluster: retrying", "what", what, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster: %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		pause = min(2*pause, time.Second)
	}
}

// retriable: the connection went away under the call (the member died or
// lost the leadership); libovsdb reconnects to the new leader by itself.
func retriable(err error) bool {
	if errors.Is(err, client.ErrNotConnected) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"shut down", "connection is shut down", "EOF", "broken pipe",
		"connection reset", "not leader", "not connected"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// waitCache waits until cond holds on the cache, at most cacheWait or
// until ctx ends: the commit is done either way.
func (s *Store) waitCache(ctx context.Context, cond func() bool) {
	ctx, cancel := context.WithTimeout(ctx, cacheWait)
	defer cancel()
	for {
		changed := s.changed.Wait()
		if cond() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// Watch delivers topology name: the current version at once (if the
// cluster has one) and then each new one, until ctx ends or the Store
// closes (the channel is then closed). It is driven by the cache's events,
// not by polling, and keeps only the latest: a reader that falls behind
// gets the newest version, never a backlog of stale ones (an agent only
// ever wants to converge on the newest). A version is delivered once, even
// when a reconnect replays it.
func (s *Store) Watch(ctx context.Context, name string) <-chan Snapshot {
	w := &watcher{name: name, ch: make(chan Snapshot, 1)}
	// Hold w.mu while registering and reading the current version, so an
	// event handled meanwhile delivers after it, never before.
	w.mu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.mu.Unlock()
		w.close()
		return w.ch
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	if yaml, gen, ok := s.Topology(name); ok {
		w.offer(Snapshot{YAML: yaml, Generation: gen})
	}
	w.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		_, mine := s.watchers[w]
		delete(s.watchers, w)
		s.mu.Unlock()
		if mine {
			w.close()
		}
	}()
	return w.ch
}

// watcher is one Watch: a channel holding at most the latest snapshot.
type watcher struct {
	name   string
	mu     sync.Mutex // serializes offers and close
	ch     chan Snapshot
	last   Snapshot
	sent   bool
	closed bool
}

// offer replaces what the reader has not taken yet with snap. Called with
// w.mu held; this is the channel's only sender, so it never blocks.
func (w *watcher) offer(snap Snapshot) {
	if w.closed || (w.sent && w.last == snap) {
		return
	}
	w.last, w.sent = snap, true
	select {
	case <-w.ch:
	default:
	}
	w.ch <- snap
}

func (w *watcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

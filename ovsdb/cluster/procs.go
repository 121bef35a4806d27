package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpcctl/vpcctl/controller/ovsproc"
)

// Options say where a cluster's members live. Every file of a member N is
// DIR/mN.* (database, pidfile, control socket, client socket, log), so that
// the directory alone identifies a cluster: status and down need only Dir.
type Options struct {
	Dir      string // holds every member's files; created by Up
	Members  int    // members created by Up (default 3)
	BasePort int    // member N's Raft address is tcp:127.0.0.1:BasePort+N-1 (default 6641)
}

// MemberStatus is one member as Status sees it.
type MemberStatus struct {
	Member   int    `json:"member"`
	PID      int    `json:"pid"`      // 0: not running
	Endpoint string `json:"endpoint"` // client endpoint, unix:DIR/mN.sock
	Address  string `json:"address"`  // Raft address, tcp:127.0.0.1:PORT
	Status   string `json:"status"`   // "cluster member", "joining cluster", ...
	Role     string `json:"role"`     // leader, follower, candidate; "" when down
	Term     int    `json:"term"`
	Err      string `json:"error,omitempty"` // why cluster/status did not answer
}

const (
	defaultMembers  = 3
	defaultBasePort = 6641
	// defaultUpTimeout bounds Up when ctx has no deadline: creating a
	// cluster and electing a leader takes one or two seconds.
	defaultUpTimeout = 30 * time.Second
	schemaFile       = "vpcctl.ovsschema"
	probeName        = "vpcctl-cluster-probe"
)

// ErrNoLeader is returned by Leader when no running member leads.
var ErrNoLeader = errors.New("no member of the cluster is leader")

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("cluster: no directory")
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, err
	}
	o.Dir = abs
	if o.Members <= 0 {
		o.Members = defaultMembers
	}
	if o.BasePort <= 0 {
		o.BasePort = defaultBasePort
	}
	if o.BasePort+o.Members-1 > 65535 {
		return o, fmt.Errorf("cluster: base port %d leaves no room for %d members", o.BasePort, o.Members)
	}
	return o, nil
}

func (o Options) file(m int, ext string) string {
	return filepath.Join(o.Dir, fmt.Sprintf("m%d.%s", m, ext))
}

func (o Options) raftAddr(m int) string {
	return fmt.Sprintf("tcp:127.0.0.1:%d", o.BasePort+m-1)
}

// Endpoints is the client endpoint list of the cluster's members, in the
// form Dial takes: "unix:DIR/m1.sock,unix:DIR/m2.sock,...". It lists the
// members whose database exists, or, before Up, the ones Up would create.
func (o Options) Endpoints() string {
	o, err := o.withDefaults()
	if err != nil {
		return ""
	}
	var eps []string
	for _, m := range o.members() {
		eps = append(eps, "unix:"+o.file(m, "sock"))
	}
	return strings.Join(eps, ",")
}

// members are the member numbers with a database file in Dir, or 1..Members
// when there is none yet.
func (o Options) members() []int {
	if ms := o.existing(); len(ms) > 0 {
		return ms
	}
	ms := make([]int, o.Members)
	for i := range ms {
		ms[i] = i + 1
	}
	return ms
}

var memberDB = regexp.MustCompile(`^m([0-9]+)\.db$`)

// existing lists the members whose database file is in Dir, in order.
func (o Options) existing() []int {
	ents, _ := os.ReadDir(o.Dir)
	var ms []int
	for _, e := range ents {
		if sub := memberDB.FindStringSubmatch(e.Name()); sub != nil {
			if n, err := strconv.Atoi(sub[1]); err == nil && n > 0 {
				ms = append(ms, n)
			}
		}
	}
	slices.Sort(ms)
	return ms
}

// Up starts a Raft cluster of the VPCctl database on the loopback: it
// creates the members' databases that do not exist yet (member 1 founds the
// cluster, the others join it; a later Up with the files present only
// restarts members that are down) and starts every member's ovsdb-server,
// which serves clients on its unix socket only (the Raft traffic is the only
// TCP, on 127.0.0.1). It returns the client endpoints once every member has
// joined, one leads, and a write commits. Without a deadline in ctx it
// gives up after 30 s.
func Up(ctx context.Context, opts Options) (string, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultUpTimeout)
		defer cancel()
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", err
	}
	// ovsdb-tool reads the schema from a file: write the embedded one.
	schemaPath := filepath.Join(o.Dir, schemaFile)
	if err := os.WriteFile(schemaPath, []byte(Schema), 0o644); err != nil {
		return "", err
	}
	if err := o.create(ctx, schemaPath); err != nil {
		return "", err
	}
	for _, m := range o.members() {
		if err := o.Start(ctx, m); err != nil {
			return "", err
		}
	}
	if err := o.waitReady(ctx); err != nil {
		return "", err
	}
	return o.Endpoints(), nil
}

// create makes the database files that are missing: with none at all, the
// first member founds the cluster; every other missing member joins the
// members that exist (at their recorded Raft addresses).
func (o Options) create(ctx context.Context, schemaPath string) error {
	have := o.existing()
	var remotes []string
	for _, m := range have {
		out, err := tool(ctx, "ovsdb-tool", "db-local-address", o.file(m, "db"))
		if err != nil {
			return err
		}
		remotes = append(remotes, strings.TrimSpace(out))
	}
	var missing []int
	for m := 1; m <= o.Members; m++ {
		if !slices.Contains(have, m) {
			if err := portFree(o.BasePort + m - 1); err != nil {
				return err
			}
			missing = append(missing, m)
		}
	}
	for _, m := range missing {
		var err error
		if len(remotes) == 0 {
			_, err = tool(ctx, "ovsdb-tool", "create-cluster", o.file(m, "db"), schemaPath, o.raftAddr(m))
		} else {
			args := append([]string{"join-cluster", o.file(m, "db"), DatabaseName, o.raftAddr(m)}, remotes...)
			_, err = tool(ctx, "ovsdb-tool", args...)
		}
		if err != nil {
			return err
		}
		remotes = append(remotes, o.raftAddr(m))
	}
	return nil
}

// portFree fails if something listens on 127.0.0.1:port already: the
// member would start and then never reach its peers.
func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("cluster: Raft port 127.0.0.1:%d is taken: %w", port, err)
	}
	return l.Close()
}

// Start starts member m's ovsdb-server unless it runs (after Kill, or after a
// reboot). It returns once the server serves its socket; catching up with
// the cluster goes on in the background.
func (o Options) Start(ctx context.Context, m int) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	if o.pid(m) != 0 {
		return nil
	}
	if _, err := os.Stat(o.file(m, "db")); err != nil {
		return fmt.Errorf("cluster: member %d: %w", m, err)
	}
	_, err = tool(ctx, "ovsdb-server", "--detach", "--no-chdir",
		"--pidfile="+o.file(m, "pid"),
		"--unixctl="+o.file(m, "ctl"),
		"--remote=punix:"+o.file(m, "sock"),
		"--log-file="+o.file(m, "log"),
		"-vconsole:emer", "-vsyslog:off", "-vfile:info",
		o.file(m, "db"))
	if err != nil {
		return err
	}
	return ovsproc.WaitFor(ctx, fmt.Sprintf("member %d to run", m), func() bool { return o.pid(m) != 0 })
}

// Kill SIGKILLs member m (a crash, for tests) and waits until it is gone. Its
// pidfile and sockets stay behind, as after a real crash; Start copes.
func (o Options) Kill(m int) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	pid := o.pid(m)
	if pid == 0 {
		return fmt.Errorf("cluster: member %d is not running", m)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("cluster: kill member %d (pid %d): %w", m, pid, err)
	}
	if !ovsproc.WaitDuration(func() bool { return !running(pid) }, 2*time.Second) {
		return fmt.Errorf("cluster: member %d (pid %d) survived SIGKILL", m, pid)
	}
	return nil
}

// Down stops every member (SIGTERM, then SIGKILL after 5 s) and removes the
// cluster's files from Dir: its data is gone. Other files in Dir, and Dir
// itself, stay. Nothing running is not an error.
func Down(ctx context.Context, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var errs []error
	ms := o.existing()
	for _, m := range o.pidfiles() {
		if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	for _, m := range ms {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		if err := o.stop(m); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // keep the files of what still runs
	}
	for _, m := range ms {
		for _, f := range []string{
			o.file(m, "db"), filepath.Join(o.Dir, fmt.Sprintf(".m%d.db.~lock~", m)),
			o.file(m, "pid"), o.file(m, "ctl"), o.file(m, "sock"), o.file(m, "log"),
		} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := os.Remove(filepath.Join(o.Dir, schemaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pidfiles lists the members with a pidfile (a member may run whose
// database was removed by hand).
func (o Options) pidfiles() []int {
	ents, _ := os.ReadDir(o.Dir)
	var ms []int
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "m%d.pid", &n); err == nil && e.Name() == fmt.Sprintf("m%d.pid", n) {
			ms = append(ms, n)
		}
	}
	return ms
}

func (o Options) stop(m int) error {
	pid := o.pid(m)
	if pid == 0 {
		return nil
	}
	gone := func() bool { return !running(pid) }
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if ovsproc.WaitDuration(gone, 5*time.Second) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !ovsproc.WaitDuration(gone, 2*time.Second) {
		return fmt.Errorf("cluster: member %d (pid %d) survived SIGKILL", m, pid)
	}
	return nil
}

// PIDs are the running members' process ids, by member.
func (o Options) PIDs() map[int]int {
	o, err := o.withDefaults()
	if err != nil {
		return nil
	}
	pids := map[int]int{}
	for _, m := range append(o.existing(), o.pidfiles()...) {
		if pid := o.pid(m); pid != 0 {
			pids[m] = pid
		}
	}
	return pids
}

// pid is member m's pid from its pidfile if that process runs and is this
// member's ovsdb-server (a stale pidfile's pid may have been reused), else 0.
func (o Options) pid(m int) int {
	b, err := os.ReadFile(o.file(m, "pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !o.isMember(pid, m) {
		return 0
	}
	return pid
}

// isMember: pid is a running ovsdb-server serving member m's database file.
func (o Options) isMember(pid, m int) bool {
	if !running(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), o.file(m, "db"))
}

// running: pid is an ovsdb-server that has not exited (not a zombie). After
// a signal, this, not isMember, says when it is gone: an exiting process
// loses its command line before it closes its files (sockets, locks).
func running(pid int) bool { return ovsproc.IsDaemon(pid, "ovsdb-server") }

// Status asks every member (ovs-appctl cluster/status) how it sees the
// cluster. A member that is down or does not answer has Err set.
func (o Options) Status(ctx context.Context) ([]MemberStatus, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var out []MemberStatus
	for _, m := range o.members() {
		st := MemberStatus{Member: m, Endpoint: "unix:" + o.file(m, "sock"), PID: o.pid(m)}
		if b, err := tool(ctx, "ovsdb-tool", "db-local-address", o.file(m, "db")); err == nil {
			st.Address = strings.TrimSpace(b)
		}
		if st.PID == 0 {
			st.Err = "not running"
			out = append(out, st)
			continue
		}
		text, err := tool(ctx, "ovs-appctl", "--timeout=3", "-t", o.file(m, "ctl"), "cluster/status", DatabaseName)
		if err != nil {
			st.Err = err.Error()
		} else {
			st.Status, st.Role, st.Term = parseClusterStatus(text)
		}
		out = append(out, st)
	}
	return out, nil
}

// parseClusterStatus reads the Status, Role and Term lines of
// `ovs-appctl cluster/status DB`.
func parseClusterStatus(text string) (status, role string, term int) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Status":
			status = v
		case "Role":
			role = v
		case "Term":
			term, _ = strconv.Atoi(v)
		}
	}
	return status, role, term
}

// Leader is the member that leads now (by cluster/status). Two members can
// both say leader for a moment after a partition: the higher term wins.
func (o Options) Leader(ctx context.Context) (int, error) {
	sts, err := o.Status(ctx)
	if err != nil {
		return 0, err
	}
	leader, term := 0, -1
	for _, st := range sts {
		if st.Role == "leader" && st.Term > term {
			leader, term = st.Member, st.Term
		}
	}
	if leader == 0 {
		return 0, ErrNoLeader
	}
	return leader, nil
}

// waitReady waits until every member has joined, one leads, and a write
// through the leader commits (so a quorum really answers).
func (o Options) waitReady(ctx context.Context) error {
	var last error
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		last = o.ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for the cluster in %s: %w (last: %v)", o.Dir, ctx.Err(), last)
		case <-t.C:
		}
	}
}

func (o Options) ready(ctx context.Context) error {
	sts, err := o.Status(ctx)
	if err != nil {
		return err
	}
	for _, st := range sts {
		if st.Err != "" {
			return fmt.Errorf("member %d: %s", st.Member, st.Err)
		}
		if st.Status != "cluster member" {
			return fmt.Errorf("member %d: %s", st.Member, st.Status)
		}
	}
	leader, err := o.Leader(ctx)
	if err != nil {
		return err
	}
	return probeWrite(ctx, strings.TrimPrefix(sts[slices.IndexFunc(sts, func(s MemberStatus) bool {
		return s.Member == leader
	})].Endpoint, "unix:"))
}

// probeWrite inserts and deletes a Chassis row through the socket: two
// commits through Raft, leaving nothing behind.
func probeWrite(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	enc, dec := json.NewEncoder(conn), json.NewDecoder(conn)
	transact := func(id int, op map[string]any) error {
		if err := enc.Encode(map[string]any{"id": id, "method": "transact", "params": []any{DatabaseName, op}}); err != nil {
			return err
		}
		for {
			var msg struct {
				ID     any               `json:"id"`
				Method string            `json:"method"`
				Result []json.RawMessage `json:"result"`
				Error  any               `json:"error"`
			}
			if err := dec.Decode(&msg); err != nil {
				return err
			}
			if msg.Method != "" || fmt.Sprint(msg.ID) != strconv.Itoa(id) {
				continue // a request from the server (echo) or something else
			}
			if msg.Error != nil {
				return fmt.Errorf("transact: %v", msg.Error)
			}
			for _, r := range msg.Result {
				var res struct {
					Error   string `json:"error"`
					Details string `json:"details"`
				}
				if json.Unmarshal(r, &res) == nil && res.Error != "" {
					return fmt.Errorf("transact: %s: %s", res.Error, res.Details)
				}
			}
			return nil
		}
	}
	if err := transact(1, map[string]any{"op": "insert", "table": "Chassis",
		"row": map[string]any{"name": probeName, "topology": probeName}}); err != nil {
		return err
	}
	return transact(2, map[string]any{"op": "delete", "table": "Chassis",
		"where": []any{[]any{"name", "==", probeName}}})
}

// tool runs an OVS program with the OVS run, log and db directories in the
// temporary directory: the members' files are all named on the command line,
// and nothing may fall back on the machine's own OVS.
func tool(ctx context.Context, name string, args ...string) (string, error) {
	return ovsproc.Run(ctx, os.TempDir(), name, args...)
}

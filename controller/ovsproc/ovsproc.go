package ovsproc

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Up starts a local Open vSwitch unless one runs. It is idempotent: with
// both daemons running it changes nothing and reports AlreadyRunning (even
// if userspace TSO is off there: see Status.UserspaceTSO). Otherwise it
// starts what is missing: ovsdb-server (creating or upgrading conf.db first),
// then, after making sure the database has its Open_vSwitch row with
// other_config:userspace-tso-enable=true (read by ovs-vswitchd only at
// start, and needed for TCP through veth ports with the userspace datapath),
// ovs-vswitchd.
func Up(ctx context.Context, opts Options) (Status, error) {
	o := opts.withDefaults()
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	st := Status{DBEndpoint: o.DBEndpoint()}

	dbPid := runningPid(o, ovsdbServer)
	dbUp := dbPid != 0 || dbAnswers(ctx, o)
	vsPid := runningPid(o, ovsVswitchd)
	if dbUp && vsPid != 0 {
		st.AlreadyRunning, st.OVSDBPid, st.VswitchdPid = true, dbPid, vsPid
		st.UserspaceTSO, _ = readTSO(ctx, o)
		return st, nil
	}
	for _, dir := range []string{o.RunDir, o.LogDir, o.DBDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return st, err
		}
	}
	m := readMarker(o)
	if !dbUp {
		pid, err := startOVSDB(ctx, o)
		if pid != 0 {
			m[ovsdbServer] = pid
			st.Started = append(st.Started, ovsdbServer)
		}
		if err := errors.Join(err, m.write(o)); err != nil {
			return st, err
		}
		dbPid = pid
	}
	st.OVSDBPid = dbPid
	if vsPid == 0 {
		if err := ensureTSO(ctx, o); err != nil {
			return st, fmt.Errorf("initialize %s: %w", o.dbPath(), err)
		}
		pid, err := startVswitchd(ctx, o)
		if pid != 0 {
			m[ovsVswitchd] = pid
			st.Started = append(st.Started, ovsVswitchd)
		}
		if err := errors.Join(err, m.write(o)); err != nil {
			return st, err
		}
		vsPid = pid
	}
	st.VswitchdPid = vsPid
	tso, err := readTSO(ctx, o)
	st.UserspaceTSO = tso
	return st, err
}

func startOVSDB(ctx context.Context, o Options) (int, error) {
	if err := ensureDBFile(ctx, o); err != nil {
		return 0, err
	}
	_, err := runOVS(ctx, o, ovsdbServer, o.dbPath(),
		"--remote=punix:"+o.socketPath(),
		"--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
		"--pidfile="+o.pidfile(ovsdbServer), "--detach", "--no-chdir",
		"--log-file="+o.LogDir+"/"+ovsdbServer+".log",
		"-vconsole:emer", "-vsyslog:err", "-vfile:info")
	if err != nil {
		return runningPid(o, ovsdbServer), err
	}
	err = waitFor(ctx, "ovsdb-server on "+o.socketPath(), func() bool {
		return runningPid(o, ovsdbServer) != 0 && dbAnswers(ctx, o)
	})
	return runningPid(o, ovsdbServer), err
}

func startVswitchd(ctx context.Context, o Options) (int, error) {
	_, err := runOVS(ctx, o, ovsVswitchd, "unix:"+o.socketPath(),
		"--pidfile="+o.pidfile(ovsVswitchd), "--detach", "--no-chdir",
		"--log-file="+o.LogDir+"/"+ovsVswitchd+".log",
		"-vconsole:emer", "-vsyslog:err", "-vfile:info")
	if err != nil {
		return runningPid(o, ovsVswitchd), err
	}
	err = waitFor(ctx, "ovs-vswitchd control socket", func() bool {
		pid := runningPid(o, ovsVswitchd)
		if pid == 0 {
			return false
		}
		_, err := unixctlVersion(ctx, o.ctlPath(ovsVswitchd, pid))
		return err == nil
	})
	return runningPid(o, ovsVswitchd), err
}

// Down stops the daemons that Up started (recorded by pid in the run
// directory): ovs-vswitchd first, then ovsdb-server; SIGTERM, then SIGKILL
// after a grace period. Daemons it did not start are left running and listed
// in Status.NotOurs. Nothing running is not an error.
func Down(ctx context.Context, opts Options) (Status, error) {
	o := opts.withDefaults()
	st := Status{DBEndpoint: o.DBEndpoint()}
	m := readMarker(o)
	var errs []error
	for _, d := range []string{ovsVswitchd, ovsdbServer} {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		pid := runningPid(o, d)
		switch {
		case pid == 0:
			delete(m, d)
		case m[d] != pid:
			st.NotOurs = append(st.NotOurs, d)
		default:
			if err := stopDaemon(o, d, pid); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(m, d)
			st.Stopped = append(st.Stopped, d)
		}
	}
	errs = append(errs, m.write(o))
	st.OVSDBPid, st.VswitchdPid = runningPid(o, ovsdbServer), runningPid(o, ovsVswitchd)
	return st, errors.Join(errs...)
}

// Running reports which daemons run (per their pidfiles in RunDir) and,
// when ovsdb-server answers, whether userspace TSO is configured.
func Running(opts Options) Status {
	o := opts.withDefaults()
	ctx, cancel := withDefaultTimeout(context.Background())
	defer cancel()
	st := Status{
		DBEndpoint:  o.DBEndpoint(),
		OVSDBPid:    runningPid(o, ovsdbServer),
		VswitchdPid: runningPid(o, ovsVswitchd),
	}
	if st.OVSDBPid != 0 || dbAnswers(ctx, o) {
		st.UserspaceTSO, _ = readTSO(ctx, o)
	}
	return st
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

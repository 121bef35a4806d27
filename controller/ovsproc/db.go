package ovsproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

const (
	dbName = "Open_vSwitch"
	tsoKey = "userspace-tso-enable"
)

// ensureDBFile creates conf.db from the schema, or upgrades an old one (as
// ovs-ctl does). Only while ovsdb-server is not running.
func ensureDBFile(ctx context.Context, o Options) error {
	_, err := os.Stat(o.dbPath())
	if errors.Is(err, fs.ErrNotExist) {
		_, err = runOVS(ctx, o, "ovsdb-tool", "create", o.dbPath(), o.Schema)
		return err
	}
	if err != nil {
		return err
	}
	out, err := runOVS(ctx, o, "ovsdb-tool", "needs-conversion", o.dbPath(), o.Schema)
	if err != nil || strings.TrimSpace(out) != "yes" {
		return err
	}
	_, err = runOVS(ctx, o, "ovsdb-tool", "convert", o.dbPath(), o.Schema)
	return err
}

// dbAnswers: the OVSDB socket accepts a connection and answers list_dbs.
func dbAnswers(ctx context.Context, o Options) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := dialRPC(ctx, o.socketPath())
	if err != nil {
		return false
	}
	defer c.Close()
	var dbs []string
	return c.call("list_dbs", []any{}, &dbs) == nil
}

// ensureTSO makes sure the database has its one Open_vSwitch row (an empty
// database has none, and ovs-vswitchd needs it) with
// other_config:userspace-tso-enable=true. ovs-vswitchd reads that key only
// at start, so this runs before ovs-vswitchd starts.
func ensureTSO(ctx context.Context, o Options) error {
	c, err := dialRPC(ctx, o.socketPath())
	if err != nil {
		return err
	}
	defer c.Close()
	var lastErr error
	for range 3 { // bounded: another client may insert the row between our steps
		rows, err := selectRoot(c)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			// Insert only while the table is still empty (the wait makes it atomic).
			_, err := c.transact(dbName,
				map[string]any{"op": "wait", "table": "Open_vSwitch", "where": []any{},
					"columns": []string{"_uuid"}, "until": "==", "rows": []any{}, "timeout": 0},
				map[string]any{"op": "insert", "table": "Open_vSwitch",
					"row": map[string]any{"other_config": ovsMap(map[string]string{tsoKey: "true"})}})
			if err == nil {
				return nil
			}
			lastErr = err
			continue
		}
		if otherConfig(rows[0])[tsoKey] == "true" {
			return nil
		}
		_, err = c.transact(dbName, map[string]any{
			"op": "mutate", "table": "Open_vSwitch", "where": []any{},
			"mutations": []any{
				[]any{"other_config", "delete", []any{"set", []string{tsoKey}}},
				[]any{"other_config", "insert", ovsMap(map[string]string{tsoKey: "true"})},
			}})
		return err
	}
	return fmt.Errorf("create the Open_vSwitch row: %w", lastErr)
}

// readTSO reports whether userspace TSO is configured.
func readTSO(ctx context.Context, o Options) (bool, error) {
	c, err := dialRPC(ctx, o.socketPath())
	if err != nil {
		return false, err
	}
	defer c.Close()
	rows, err := selectRoot(c)
	if err != nil || len(rows) == 0 {
		return false, err
	}
	return otherConfig(rows[0])[tsoKey] == "true", nil
}

func selectRoot(c *rpcConn) ([]map[string]json.RawMessage, error) {
	res, err := c.transact(dbName, map[string]any{
		"op": "select", "table": "Open_vSwitch", "where": []any{},
		"columns": []string{"_uuid", "other_config"}})
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, errors.New("empty transact reply")
	}
	return res[0].Rows, nil
}

// ovsMap encodes a string map in OVSDB's JSON form: ["map", [[k, v], ...]].
func ovsMap(m map[string]string) []any {
	pairs := []any{}
	for k, v := range m {
		pairs = append(pairs, []string{k, v})
	}
	return []any{"map", pairs}
}

// otherConfig decodes a row's other_config column.
func otherConfig(row map[string]json.RawMessage) map[string]string {
	var enc []json.RawMessage
	if json.Unmarshal(row["other_config"], &enc) != nil || len(enc) != 2 {
		return nil
	}
	var pairs [][2]string
	if json.Unmarshal(enc[1], &pairs) != nil {
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p[0]] = p[1]
	}
	return out
}

// unixctlVersion asks a daemon's control socket for its version: the daemon
// is up and serving.
func unixctlVersion(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := dialRPC(ctx, path)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var v string
	if err := c.call("version", []any{}, &v); err != nil {
		return "", fmt.Errorf("unixctl version: %w", err)
	}
	return strings.TrimSpace(v), nil
}

// Unixctl runs one command on ovs-vswitchd's control socket (what
// `ovs-appctl CMD ARGS...` does) and returns its text output. rundir holds
// ovs-vswitchd.pid and the socket.
func Unixctl(ctx context.Context, rundir, command string, args ...string) (string, error) {
	o := Options{RunDir: rundir}.withDefaults()
	pid := runningPid(o, ovsVswitchd)
	if pid == 0 {
		return "", fmt.Errorf("ovs-vswitchd is not running (no live pid in %s)", o.pidfile(ovsVswitchd))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialRPC(ctx, o.ctlPath(ovsVswitchd, pid))
	if err != nil {
		return "", err
	}
	defer c.Close()
	params := make([]any, len(args))
	for i, a := range args {
		params[i] = a
	}
	var out string
	if err := c.call(command, params, &out); err != nil {
		return "", err
	}
	return out, nil
}

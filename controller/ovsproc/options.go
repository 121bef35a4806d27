// Package ovsproc starts and stops a local Open vSwitch (ovsdb-server and
// ovs-vswitchd) for labs and tests: `vpcctl ovs up|down`. It only runs the
// OVS daemons and ovsdb-tool; configuration goes over the OVSDB protocol.
package ovsproc

import (
	"path/filepath"
	"time"
)

// Debian's locations (openvswitch-switch 3.1).
const (
	DefaultRunDir = "/var/run/openvswitch"
	DefaultDBDir  = "/etc/openvswitch"
	DefaultLogDir = "/var/log/openvswitch"
	DefaultSchema = "/usr/share/openvswitch/vswitch.ovsschema"
)

// defaultTimeout bounds each wait when the context has no deadline.
const defaultTimeout = 15 * time.Second

// Options says where the daemons keep their files. Zero values take the
// Debian defaults, so Options{} is the system's own OVS.
type Options struct {
	RunDir string // sockets, pidfiles, bridges' .mgmt sockets
	DBDir  string // conf.db
	LogDir string
	Schema string // vswitch.ovsschema, to create or upgrade conf.db
}

func (o Options) withDefaults() Options {
	if o.RunDir == "" {
		o.RunDir = DefaultRunDir
	}
	if o.DBDir == "" {
		o.DBDir = DefaultDBDir
	}
	if o.LogDir == "" {
		o.LogDir = DefaultLogDir
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	return o
}

func (o Options) dbPath() string     { return filepath.Join(o.DBDir, "conf.db") }
func (o Options) socketPath() string { return filepath.Join(o.RunDir, "db.sock") }
func (o Options) markerPath() string { return filepath.Join(o.RunDir, "vpcctl-ovsproc.json") }

// DBEndpoint is the OVSDB endpoint of the ovsdb-server these options run,
// e.g. "unix:/var/run/openvswitch/db.sock".
func (o Options) DBEndpoint() string { return "unix:" + o.withDefaults().socketPath() }

// Status describes the local OVS after Up, Down or Running.
type Status struct {
	AlreadyRunning bool     // Up found both daemons running and left them as they were
	Started        []string // daemons this call started
	Stopped        []string // daemons this call stopped
	NotOurs        []string // running daemons Down left alone: vpcctl did not start them
	OVSDBPid       int      // 0: not running
	VswitchdPid    int      // 0: not running
	DBEndpoint     string
	UserspaceTSO   bool // other_config:userspace-tso-enable=true (read when ovsdb-server answers)
}

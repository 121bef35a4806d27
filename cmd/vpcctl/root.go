package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vpcctl/vpcctl/controller"
)

func init() {
	// Run the root's settings hook even under a command with its own
	// persistent hook.
	cobra.EnableTraverseRunHooks = true
}

// globals are the flags every command shares.
type globals struct {
	ovsdb     string
	rundir    string
	host      string
	cluster   string
	output    string
	verbose   bool
	logLevel  string
	logFormat string
	config    string

	defaultConfig string    // the config file read unless --config or VPCCTL_CONFIG names one
	settings      *settings // where each setting came from, once loaded
}

func (g *globals) options() controller.Options {
	return controller.Options{OVSDB: g.ovsdb, RunDir: g.rundir, Host: g.host, Log: g.logger(slog.LevelWarn)}
}

// logLevels are the values of --log-level.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// logger logs on stderr at --log-level (-v: debug), or at def, the command's
// own default, when no level is set; in --log-format.
func (g *globals) logger(def slog.Level) *slog.Logger {
	level := def
	if l, ok := logLevels[g.logLevel]; ok {
		level = l
	}
	if g.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// settingsHelp is the part of `vpcctl --help` that says where settings come from.
const settingsHelp = `Settings. vpcctl's own settings (not the topology) are the global flags
--ovsdb, --ovs-rundir, --host, --cluster, --log-level, --log-format, and every flag of
"vpcctl daemon" except -f (e.g. --metrics-addr). Each is taken from, highest
first:
  1. the command line (--ovsdb tcp:127.0.0.1:6640);
  2. the environment: VPCCTL_ + the flag's name in upper case with - as _
     (VPCCTL_OVSDB, VPCCTL_LOG_LEVEL, VPCCTL_METRICS_ADDR);
  3. the config file, /etc/vpcctl/config.yaml or the one --config or
     VPCCTL_CONFIG names: a YAML mapping whose keys are the flags' names
     ("ovsdb: tcp:127.0.0.1:6640", "log-level: debug"). The default file may
     be missing; a named file must exist. An unknown key is an error;
  4. the built-in default.
Other flags (-f, -o, -v, --config, --tcp, --live, --bridge, ...) are read
from the command line only. -v is --log-level debug.`

func newRoot() *cobra.Command {
	return newRootWith(&globals{defaultConfig: defaultConfigFile})
}

// newRootWith builds the command tree around g (tests choose its defaultConfig).
func newRootWith(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "vpcctl",
		Short:         "AWS-style Virtual Private Clouds on Open vSwitch",
		Long:          "vpcctl builds AWS-style Virtual Private Clouds on Open vSwitch from a YAML topology.\n\n" + settingsHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		// -v and --log-level on one command line would contradict each other;
		// -v beats a level from the environment or the file.
		if cmd.Flags().Changed("verbose") && cmd.Flags().Changed("log-level") && g.logLevel != "debug" {
			return usageError{fmt.Errorf("-v is --log-level debug: it contradicts --log-level %s", g.logLevel)}
		}
		s, err := loadSettings(cmd, g.defaultConfig)
		if err != nil {
			return usageError{err}
		}
		g.settings = s
		return g.check()
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.ovsdb, "ovsdb", controller.DefaultOVSDB, "OVSDB endpoint (unix:PATH or tcp:HOST:PORT)")
	pf.StringVar(&g.rundir, "ovs-rundir", "", "OVS run directory holding BRIDGE.mgmt (default: the directory of a unix --ovsdb socket)")
	pf.StringVar(&g.host, "host", "", "which of the topology's hosts: this is (topologies that span hosts)")
	pf.StringVar(&g.cluster, "cluster", "", "VPCctl cluster endpoints (unix:PATH,...; see vpcctl cluster up): apply publishes there, agents read there")
	pf.StringVarP(&g.output, "output", "o", "table", "output format of read commands: table|json")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logs on stderr (--log-level debug)")
	pf.StringVar(&g.logLevel, "log-level", "", "log level on stderr: debug|info|warn|error (default: warn; the daemon: info)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text|json (log/slog)")
	pf.StringVar(&g.config, configFlag, defaultConfigFile, "settings file (YAML); also VPCCTL_CONFIG; \"\" = none")
	root.AddCommand(
		newValidateCmd(g),
		newApplyCmd(g),
		newAgentCmd(g),
		newDestroyCmd(g),
		newStatusCmd(g),
		newExecCmd(g),
		newFlowsCmd(g),
		newTraceCmd(g),
		newCheckCmd(g),
		newPlanCmd(g),
		newOVSCmd(g),
		newDaemonCmd(g),
		newLabCmd(g),
		newClusterCmd(g),
	)
	showEnv(root)
	return root
}

// check rejects settings with bad values, naming where each came from.
func (g *globals) check() error {
	s := g.settings
	if g.output != "table" && g.output != "json" {
		return usageError{fmt.Errorf("-o %q: the output format is table or json", g.output)}
	}
	if _, ok := logLevels[g.logLevel]; g.logLevel != "" && !ok {
		return usageError{fmt.Errorf("%s: the log level is debug, info, warn or error", s.describe("log-level", g.logLevel))}
	}
	if g.logFormat != "text" && g.logFormat != "json" {
		return usageError{fmt.Errorf("%s: the log format is text or json", s.describe("log-format", g.logFormat))}
	}
	if !validEndpoint(g.ovsdb) {
		return usageError{fmt.Errorf("%s: an OVSDB endpoint is unix:PATH or tcp:HOST:PORT", s.describe("ovsdb", g.ovsdb))}
	}
	return nil
}

// validEndpoint accepts what vpcctl can dial: unix:PATH or tcp:HOST:PORT.
func validEndpoint(e string) bool {
	if p, ok := strings.CutPrefix(e, "unix:"); ok {
		return p != ""
	}
	if hp, ok := strings.CutPrefix(e, "tcp:"); ok {
		_, port, err := net.SplitHostPort(hp)
		return err == nil && port != ""
	}
	return false
}

// showEnv appends each setting's environment variable to its flag's help.
func showEnv(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if isSetting(c, f) && !strings.Contains(f.Usage, envPrefix) {
				f.Usage += " [$" + envName(f.Name) + "]"
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

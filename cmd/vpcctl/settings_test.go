package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// harness builds the real command tree, with a settings flag of the kind
// other engineers add to the daemon (declared here, as they would, with no
// settings code), and with every command's work replaced by recording the
// flags it would run with.
type harness struct {
	g        *globals
	root     *cobra.Command
	interval *time.Duration // a daemon flag added with no settings code
	targets  *[]string      // a daemon string-slice flag
	ran      *cobra.Command // the command that ran
}

func newHarness(t *testing.T, defaultConfig string) *harness {
	t.Helper()
	// Nothing from the test's own environment.
	for _, e := range []string{"VPCCTL_CONFIG", "VPCCTL_OVSDB", "VPCCTL_OVS_RUNDIR", "VPCCTL_LOG_LEVEL", "VPCCTL_LOG_FORMAT",
		"VPCCTL_OUTPUT", "VPCCTL_FILE", "VPCCTL_BRIDGE", "VPCCTL_VERBOSE", "VPCCTL_TEST_INTERVAL", "VPCCTL_TEST_TARGETS"} {
		t.Setenv(e, "")
	}
	h := &harness{g: &globals{defaultConfig: defaultConfig}}
	h.root = newRootWith(h.g)
	daemon, _, err := h.root.Find([]string{"daemon"})
	if err != nil {
		t.Fatal(err)
	}
	h.interval = daemon.Flags().Duration("test-interval", time.Second, "a daemon flag")
	h.targets = daemon.Flags().StringSlice("test-targets", nil, "a daemon list flag")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.RunE != nil || c.Run != nil {
			c.Run, c.RunE = nil, func(c *cobra.Command, _ []string) error { h.ran = c; return nil }
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(h.root)
	return h
}

func (h *harness) exec(args ...string) error {
	h.root.SetArgs(args)
	h.root.SetOut(&bytes.Buffer{})
	h.root.SetErr(&bytes.Buffer{})
	return h.root.Execute()
}

func (h *harness) mustExec(t *testing.T, args ...string) {
	t.Helper()
	if err := h.exec(args...); err != nil {
		t.Fatalf("vpcctl %s: %v", strings.Join(args, " "), err)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func noFile(t *testing.T) string { return filepath.Join(t.TempDir(), "absent.yaml") }

func TestSettingsAreRootFlagsAndDaemonFlags(t *testing.T) {
	h := newHarness(t, noFile(t))
	keys := settingKeys(h.root)
	want := []string{"log-format", "log-level", "ovs-rundir", "ovsdb", "test-interval", "test-targets"}
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("settings %v lack %s", keys, k)
		}
	}
	for _, k := range []string{"file", "output", "verbose", "config", "help", "bridge", "live", "tcp", "rundir"} {
		if slices.Contains(keys, k) {
			t.Errorf("%s is a setting (%v); it must be read from the command line only", k, keys)
		}
	}
	if envName("ovs-rundir") != "VPCCTL_OVS_RUNDIR" {
		t.Errorf("envName(ovs-rundir) = %s", envName("ovs-rundir"))
	}
}

// Flag beats environment beats file beats default, for a global setting and
// for a flag added to the daemon with no settings code.
func TestSettingsPrecedence(t *testing.T) {
	file := writeFile(t, "ovsdb: tcp:127.0.0.1:3\ntest-interval: 3s\nlog-level: error\n")
	cases := []struct {
		name           string
		env            map[string]string
		args           []string
		ovsdb          string
		interval       time.Duration
		ovsdbSource    string
		intervalSource string
	}{
		{"default", nil, nil, "unix:/var/run/openvswitch/db.sock", time.Second, "", ""},
		{"file", map[string]string{"VPCCTL_CONFIG": file}, nil, "tcp:127.0.0.1:3", 3 * time.Second, file + ": key ovsdb", file + ": key test-interval"},
		{"env beats file", map[string]string{"VPCCTL_CONFIG": file, "VPCCTL_OVSDB": "tcp:127.0.0.1:2", "VPCCTL_TEST_INTERVAL": "2s"}, nil,
			"tcp:127.0.0.1:2", 2 * time.Second, "VPCCTL_OVSDB", "VPCCTL_TEST_INTERVAL"},
		{"flag beats env", map[string]string{"VPCCTL_CONFIG": file, "VPCCTL_OVSDB": "tcp:127.0.0.1:2", "VPCCTL_TEST_INTERVAL": "2s"},
			[]string{"--ovsdb", "tcp:127.0.0.1:1", "--test-interval", "1m"}, "tcp:127.0.0.1:1", time.Minute, "--ovsdb", "--test-interval"},
		{"--config beats VPCCTL_CONFIG", map[string]string{"VPCCTL_CONFIG": noFile(t)}, []string{"--config", file},
			"tcp:127.0.0.1:3", 3 * time.Second, file + ": key ovsdb", file + ": key test-interval"},
		{"env without file", map[string]string{"VPCCTL_OVSDB": "unix:/x.sock"}, nil, "unix:/x.sock", time.Second, "VPCCTL_OVSDB", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, noFile(t))
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			h.mustExec(t, append([]string{"daemon", "-f", "x.yaml"}, c.args...)...)
			if h.ran == nil || h.ran.Name() != "daemon" {
				t.Fatalf("ran %v, want daemon", h.ran)
			}
			if h.g.ovsdb != c.ovsdb || *h.interval != c.interval {
				t.Errorf("ovsdb %s, interval %v; want %s, %v", h.g.ovsdb, *h.interval, c.ovsdb, c.interval)
			}
			if got := h.g.settings.source["ovsdb"]; got != c.ovsdbSource {
				t.Errorf("ovsdb from %q, want %q", got, c.ovsdbSource)
			}
			if got := h.g.settings.source["test-interval"]; got != c.intervalSource {
				t.Errorf("test-interval from %q, want %q", got, c.intervalSource)
			}
		})
	}
}

// The default file is read when it exists; a YAML list fills a list flag.
func TestSettingsDefaultFile(t *testing.T) {
	h := newHarness(t, writeFile(t, "log-format: json\ntest-targets: [a, b]\n"))
	h.mustExec(t, "daemon", "-f", "x.yaml")
	if h.g.logFormat != "json" || !slices.Equal(*h.targets, []string{"a", "b"}) {
		t.Errorf("log-format %q, test-targets %q; want json, [a b] from the default file", h.g.logFormat, *h.targets)
	}
	// --config "" reads no file, not even the default.
	h = newHarness(t, writeFile(t, "log-format: json\n"))
	h.mustExec(t, "--config", "", "status")
	if h.g.logFormat != "text" {
		t.Errorf("--config \"\": log-format %q, want text", h.g.logFormat)
	}
}

// Per-command flags that are not settings ignore VPCCTL_* variables, and a
// config file cannot set them.
func TestSettingsLeaveCommandFlagsAlone(t *testing.T) {
	h := newHarness(t, noFile(t))
	t.Setenv("VPCCTL_OUTPUT", "json")
	t.Setenv("VPCCTL_FILE", "/etc/passwd")
	t.Setenv("VPCCTL_BRIDGE", "br-env")
	t.Setenv("VPCCTL_VERBOSE", "true")
	h.mustExec(t, "status")
	status := h.ran
	if b, _ := status.Flags().GetString("bridge"); b != "" {
		t.Errorf("status --bridge = %q from the environment", b)
	}
	if h.g.output != "table" || h.g.verbose {
		t.Errorf("-o %q, -v %v from the environment", h.g.output, h.g.verbose)
	}
	h = newHarness(t, noFile(t))
	t.Setenv("VPCCTL_FILE", "/etc/passwd")
	h.mustExec(t, "daemon")
	if f, _ := h.ran.Flags().GetString("file"); f != "" {
		t.Errorf("daemon -f = %q from the environment", f)
	}

	for _, key := range []string{"file", "output", "bridge", "verbose"} {
		h = newHarness(t, noFile(t))
		path := writeFile(t, "ovsdb: unix:/x.sock\n"+key+": x\n")
		err := h.exec("--config", path, "status")
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `unknown key "`+key+`"`) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("config with %s: got %v, want an error naming %s, line 2 and the key", key, err, path)
		}
	}
}

func TestSettingsFileErrors(t *testing.T) {
	cases := []struct {
		name, body string
		args       []string
		want       []string // each in the error
	}{
		{"unknown key", "ovsdb: unix:/x.sock\novsbd: unix:/y.sock\n", nil, []string{"line 2", `unknown key "ovsbd"`, "ovsdb"}},
		{"case matters", "OVSDB: unix:/x.sock\n", nil, []string{"line 1", `unknown key "OVSDB"`}},
		{"nested", "daemon:\n  test-interval: 1s\n", nil, []string{"line 1", `unknown key "daemon"`}},
		{"twice", "ovsdb: unix:/x.sock\novsdb: unix:/y.sock\n", nil, []string{"line 2", "ovsdb given twice"}},
		{"mapping value", "log-level: {a: 1}\n", nil, []string{"line 1", "key log-level: want a value"}},
		{"empty value", "ovsdb:\n", nil, []string{"line 1", "key ovsdb: want a value"}},
		{"not a mapping", "- ovsdb\n", nil, []string{"line 1", "want a mapping of settings"}},
		{"malformed", "ovsdb: [\n", nil, []string{"invalid YAML"}},
		{"bad duration", "test-interval: soon\n", []string{"daemon", "-f", "x"}, []string{"key test-interval", `"soon" is not a valid --test-interval`}},
		{"bad log level", "log-level: loud\n", nil, []string{"key log-level", `--log-level "loud"`, "debug, info, warn or error"}},
		{"bad endpoint", "ovsdb: db.sock\n", nil, []string{"key ovsdb", `--ovsdb "db.sock"`, "unix:PATH or tcp:HOST:PORT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, noFile(t))
			path := writeFile(t, c.body)
			args := c.args
			if args == nil {
				args = []string{"status"}
			}
			err := h.exec(append([]string{"--config", path}, args...)...)
			if err == nil {
				t.Fatalf("no error for %q", c.body)
			}
			if _, ok := err.(usageError); !ok {
				t.Errorf("%v is not a usage error (exit 2)", err)
			}
			for _, w := range append(c.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if h.ran != nil {
				t.Errorf("%s ran despite the error", h.ran.Name())
			}
		})
	}
}

// A missing default file is fine; a missing named file is an error naming it
// and who named it.
func TestSettingsMissingFile(t *testing.T) {
	h := newHarness(t, noFile(t))
	h.mustExec(t, "status")
	missing := noFile(t)
	for _, c := range []struct {
		args []string
		env  string
		from string
	}{
		{[]string{"--config", missing, "status"}, "", "--config"},
		{[]string{"status"}, missing, "VPCCTL_CONFIG"},
	} {
		h := newHarness(t, noFile(t))
		t.Setenv("VPCCTL_CONFIG", c.env)
		err := h.exec(c.args...)
		if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), c.from) {
			t.Errorf("%v VPCCTL_CONFIG=%q: got %v, want an error naming %s and %s", c.args, c.env, err, missing, c.from)
		}
	}
}

// Bad values from the environment name the variable.
func TestSettingsEnvErrors(t *testing.T) {
	h := newHarness(t, noFile(t))
	t.Setenv("VPCCTL_OVSDB", "bogus")
	err := h.exec("status")
	if err == nil || !strings.Contains(err.Error(), `--ovsdb "bogus" (from VPCCTL_OVSDB)`) {
		t.Errorf("got %v", err)
	}
	h = newHarness(t, noFile(t))
	t.Setenv("VPCCTL_OVSDB", "")
	t.Setenv("VPCCTL_TEST_INTERVAL", "soon")
	err = h.exec("daemon")
	if err == nil || !strings.Contains(err.Error(), `VPCCTL_TEST_INTERVAL: "soon" is not a valid --test-interval`) {
		t.Errorf("got %v", err)
	}
}

// -v is --log-level debug: it beats a level from the environment, and
// contradicts another level on the same command line.
func TestSettingsVerbose(t *testing.T) {
	h := newHarness(t, noFile(t))
	t.Setenv("VPCCTL_LOG_LEVEL", "error")
	h.mustExec(t, "-v", "status")
	if l := h.g.logger(slog.LevelWarn); !l.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("-v with VPCCTL_LOG_LEVEL=error: debug is off")
	}
	h = newHarness(t, noFile(t))
	h.mustExec(t, "status")
	if l := h.g.logger(slog.LevelInfo); l.Enabled(t.Context(), slog.LevelInfo-1) || !l.Enabled(t.Context(), slog.LevelInfo) {
		t.Error("no level set: the command's default (info) is not the level")
	}
	h = newHarness(t, noFile(t))
	t.Setenv("VPCCTL_LOG_LEVEL", "error")
	h.mustExec(t, "status")
	if l := h.g.logger(slog.LevelInfo); l.Enabled(t.Context(), slog.LevelWarn) {
		t.Error("VPCCTL_LOG_LEVEL=error: warn is on")
	}
	h = newHarness(t, noFile(t))
	if err := h.exec("-v", "--log-level", "warn", "status"); err == nil {
		t.Error("-v --log-level warn: no error")
	}
	h = newHarness(t, noFile(t))
	h.mustExec(t, "-v", "--log-level", "debug", "status")
}

// --log-format json writes one JSON object per line.
func TestSettingsLogFormat(t *testing.T) {
	h := newHarness(t, noFile(t))
	t.Setenv("VPCCTL_LOG_FORMAT", "json")
	h.mustExec(t, "status")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	h.g.logger(slog.LevelInfo).Info("hello", "k", 1)
	os.Stderr = stderr
	w.Close()
	var line map[string]any
	if err := json.NewDecoder(r).Decode(&line); err != nil || line["msg"] != "hello" || line["level"] != "INFO" {
		t.Errorf("json log line: %v, %v", line, err)
	}
	h = newHarness(t, noFile(t))
	t.Setenv("VPCCTL_LOG_FORMAT", "xml")
	if err := h.exec("status"); err == nil || !strings.Contains(err.Error(), "VPCCTL_LOG_FORMAT") {
		t.Errorf("VPCCTL_LOG_FORMAT=xml: %v", err)
	}
}

// Help shows each setting's environment variable, and only settings have one.
func TestSettingsHelp(t *testing.T) {
	h := newHarness(t, noFile(t))
	var out bytes.Buffer
	h.root.SetOut(&out)
	h.root.SetArgs([]string{"daemon", "--help"})
	if err := h.root.Execute(); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, w := range []string{"[$VPCCTL_OVSDB]", "[$VPCCTL_LOG_LEVEL]"} {
		if !strings.Contains(help, w) {
			t.Errorf("daemon --help lacks %s:\n%s", w, help)
		}
	}
	if strings.Contains(help, "VPCCTL_FILE") || strings.Contains(help, "VPCCTL_OUTPUT") {
		t.Errorf("daemon --help offers env for a non-setting:\n%s", help)
	}
	if !strings.Contains(h.root.Long, "flag > environment") && !strings.Contains(h.root.Long, "highest") {
		t.Errorf("vpcctl --help does not document the precedence")
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller"
	"github.com/vpcctl/vpcctl/controller/metrics"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var file string
	var metricsAddr string
	var flowLogDir string
	c := &cobra.Command{
		Use:   "daemon -f FILE",
		Short: "the long-running controller: applies, re-applies on file change or SIGHUP, restores state when OVS restarts",
		Long: `daemon applies FILE, then keeps the host matching it until SIGINT or SIGTERM:
it re-applies when FILE changes (its directory is watched) or on SIGHUP, and
repairs the bridge after an ovs-vswitchd restart. It is the bridge's OpenFlow
controller (target unix:OVS_RUNDIR/vpcctl-BRIDGE.sock). An invalid new FILE is
logged and the running network is kept. On exit the flows and the controller
target stay (fail_mode=secure: the bridge forwards by the installed flows).
Logs (log/slog) go to stderr.` + metricsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{fmt.Errorf("-f FILE is required")}
			}
			// Catch SIGHUP before anything else: its default action kills.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}()
			ctx, cancel := signalContext()
			defer cancel()
			opts := g.options()
			opts.Log = g.logger(slog.LevelInfo) // --log-level/--log-format, else info
			do := controller.DaemonOptions{File: file, Reload: reload, FlowLogDir: flowLogDir}
			m, err := serveMetrics(ctx, metricsAddr, opts.Log)
			if err != nil {
				return err
			}
			do.Metrics = m
			return controller.RunDaemon(ctx, opts, do)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file")
	c.Flags().StringVar(&flowLogDir, "flow-log-dir", "", "where flow logs with a relative destination are written (\"\" = the topology file's directory)")
	c.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. :9475; port 0 picks one; \"\" = off)")
	return c
}

// metricsHelp is the metrics part of `vpcctl daemon --help`.
var metricsHelp = `

Metrics. With --metrics-addr, the daemon serves Prometheus metrics at
/metrics (text, or OpenMetrics when asked). The rule counters and flows per
table are read from the bridge at scrape time (one flow dump, at most 5 s;
the daemon's loop never waits for it). A rule's counter keeps counting when
its flows are reinstalled (an ovs-vswitchd restart); when the rule is edited
or another rule takes its path, it starts again from 0 (a counter reset).
Besides the Go and process collectors:
` + metrics.Table()

// serveMetrics starts the metrics server when addr is set (nil, nil when
// not); it serves until ctx ends.
func serveMetrics(ctx context.Context, addr string, log *slog.Logger) (*metrics.Metrics, error) {
	if addr == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError{fmt.Errorf("--metrics-addr %q: want HOST:PORT or :PORT (%v)", addr, err)}
	}
	m := metrics.New()
	at, err := m.Serve(ctx, addr, log)
	if err != nil {
		return nil, err
	}
	log.Info("serving metrics", "event", "metrics_listening", "addr", at.String(), "path", "/metrics")
	return m, nil
}

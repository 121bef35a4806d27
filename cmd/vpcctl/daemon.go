package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "daemon -f FILE",
		Short: "the long-running controller: applies, re-applies on file change or SIGHUP, restores state when OVS restarts",
		Long: `daemon applies FILE, then keeps the host matching it until SIGINT or SIGTERM:
it re-applies when FILE changes (its directory is watched) or on SIGHUP, and
repairs the bridge after an ovs-vswitchd restart. It is the bridge's OpenFlow
controller (target unix:OVS_RUNDIR/vpcctl-BRIDGE.sock). An invalid new FILE is
logged and the running network is kept. On exit the flows stay installed and
the controller target is removed. Logs (log/slog text) go to stderr.`,
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
			level := slog.LevelInfo
			if g.verbose {
				level = slog.LevelDebug
			}
			opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return controller.RunDaemon(ctx, opts, controller.DaemonOptions{File: file, Reload: reload})
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file")
	return c
}

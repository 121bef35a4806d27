package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller/ovsproc"
)

func newOVSCmd(g *globals) *cobra.Command {
	var opts ovsproc.Options
	c := &cobra.Command{Use: "ovs", Short: "start or stop a local Open vSwitch for labs"}
	up := &cobra.Command{
		Use:   "up",
		Short: "start ovsdb-server and ovs-vswitchd (userspace TSO on) unless one runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			st, err := ovsproc.Up(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), st)
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "stop the Open vSwitch that `vpcctl ovs up` started",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			st, err := ovsproc.Down(ctx, opts)
			if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), st)
			}
			return err
		},
	}
	for _, sub := range []*cobra.Command{up, down} {
		sub.Flags().StringVar(&opts.RunDir, "rundir", "", "run directory (sockets, pidfiles)")
		sub.Flags().StringVar(&opts.DBDir, "dbdir", "", "database directory")
		sub.Flags().StringVar(&opts.LogDir, "logdir", "", "log directory")
	}
	c.AddCommand(up, down)
	return c
}

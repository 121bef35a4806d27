package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller"
)

// globals are the flags every command shares.
type globals struct {
	ovsdb   string
	rundir  string
	output  string
	verbose bool
}

func (g *globals) options() controller.Options {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return controller.Options{OVSDB: g.ovsdb, RunDir: g.rundir, Log: log}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "vpcctl",
		Short:         "AWS-style Virtual Private Clouds on Open vSwitch",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.output != "table" && g.output != "json" {
			return usageError{fmt.Errorf("-o %q: the output format is table or json", g.output)}
		}
		return nil
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.ovsdb, "ovsdb", controller.DefaultOVSDB, "OVSDB endpoint (unix:PATH or tcp:HOST:PORT)")
	pf.StringVar(&g.rundir, "ovs-rundir", "", "OVS run directory holding BRIDGE.mgmt (default: the directory of a unix --ovsdb socket)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format of read commands: table|json")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logs on stderr")
	root.AddCommand(
		newValidateCmd(g),
		newApplyCmd(g),
		newDestroyCmd(g),
		newStatusCmd(g),
		newExecCmd(g),
		newFlowsCmd(g),
		newTraceCmd(g),
		newCheckCmd(g),
		newPlanCmd(g),
		newOVSCmd(g),
		newDaemonCmd(g),
	)
	return root
}

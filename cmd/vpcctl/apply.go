package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
	"github.com/vpcctl/vpcctl/controller/reach"
)

// loadFile loads and validates a topology, printing warnings to stderr.
func loadFile(path string) (*config.Topology, error) {
	if path == "" {
		return nil, usageError{fmt.Errorf("-f FILE is required")}
	}
	topo, warns, err := config.Load(path)
	for _, w := range warns {
		fmt.Fprintf(os.Stderr, "warning: %v\n", w)
	}
	return topo, err
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newValidateCmd(g *globals) *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "check a topology file and the host prerequisites; touches nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			topo, err := loadFile(file)
			if err != nil {
				return err
			}
			if g.host != "" { // a --host must be one of the file's hosts
				if err := controller.SetLocalHost(topo, g.host); err != nil {
					return err
				}
			}
			ctx, cancel := signalContext()
			defer cancel()
			if err := controller.CheckHost(ctx, g.options(), topo); err != nil {
				return fmt.Errorf("host: %w", err)
			}
			// Expectations that fail on the model already: a warning, as the
			// file itself is valid (`vpcctl check` fails on them).
			for _, c := range reach.New(topo).Check() {
				if !c.OK() {
					fmt.Fprintf(os.Stderr, "warning: %s: %s: expected reach %s, the model says %s (%s %s: %s)\n",
						c.Path, c.Label(), yesNo(c.Want), yesNo(c.Model), c.Decider.Stage, c.Decider.Object, c.Decider.Detail)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%s)\n", file, summary(topo))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file")
	return c
}

func summary(t *config.Topology) string {
	n := 0
	for _, v := range t.VPCs {
		n += len(v.Instances)
	}
	return fmt.Sprintf("%d VPCs, %d instances, bridge %s", len(t.VPCs), n, t.Bridge)
}

func newApplyCmd(g *globals) *cobra.Command {
	var file string
	var verify bool
	c := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "make the host match the file, then exit (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			topo, err := loadFile(file)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			opts := g.options()
			if g.cluster != "" {
				// Across hosts: the agents apply it, each on its host.
				raw, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				gen, changed, err := controller.Publish(ctx, opts, []string{g.cluster}, raw, topo)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "topology %s: generation %d in the cluster (%s)\n", topo.Bridge, gen, map[bool]string{true: "published", false: "unchanged"}[changed])
				return nil
			}
			opts.File = file
			opts.Verify = verify
			sum, err := controller.Apply(ctx, opts, topo)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file")
	c.Flags().BoolVar(&verify, "verify", false, "look inside every instance's namespace (address, routes, MAC), also those recorded as plumbed whose host end is intact")
	return c
}

func newDestroyCmd(g *globals) *cobra.Command {
	var file string
	var all bool
	c := &cobra.Command{
		Use:   "destroy -f FILE | --all",
		Short: "remove everything vpcctl created for a file, or on this host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			switch {
			case all && file != "":
				return usageError{fmt.Errorf("give -f FILE or --all, not both")}
			case all:
				return controller.DestroyAll(ctx, g.options())
			default:
				topo, err := loadFile(file)
				if err != nil {
					return err
				}
				return controller.DestroyTopology(ctx, g.options(), topo)
			}
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file")
	c.Flags().BoolVar(&all, "all", false, "remove every bridge, port and namespace vpcctl made on this host")
	return c
}

package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newFlowsCmd(g *globals) *cobra.Command {
	var bridge, vpc, instance string
	c := &cobra.Command{
		Use:   "flows [--vpc V] [--instance I]",
		Short: "the installed flows, each annotated with the config object it came from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			rows, err := controller.GetFlows(ctx, g.options(), controller.FlowFilter{Bridge: bridge, VPC: vpc, Instance: instance})
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			for _, r := range rows {
				fmt.Fprintf(cmd.OutOrStdout(), "%s cookie=%#x n_packets=%d  # %s\n", r.Flow, r.Cookie, r.Packets, r.Owner)
			}
			return nil
		},
	}
	c.Flags().StringVar(&bridge, "bridge", "", "bridge (default: every vpcctl bridge)")
	c.Flags().StringVar(&vpc, "vpc", "", "only flows of this VPC")
	c.Flags().StringVar(&instance, "instance", "", "only flows that decide for this instance: its own, its security groups' rules, its subnet's network ACL and route table")
	return c
}

func newExecCmd(g *globals) *cobra.Command {
	var bridge string
	c := &cobra.Command{
		Use:   "exec NAME -- CMD [ARGS...]",
		Short: "run CMD in the namespace of an instance or external host; its exit code is vpcctl's",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return usageError{fmt.Errorf("usage: vpcctl exec NAME -- CMD [ARGS...]")}
			}
			ns, err := controller.NamespaceOf(bridge, args[0])
			if err != nil {
				return err
			}
			code, err := controller.Exec(ns, args[1:])
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCodeError(code)
			}
			return nil
		},
	}
	c.Flags().StringVar(&bridge, "bridge", "", "bridge, when several vpcctl bridges have an instance of that name")
	return c
}

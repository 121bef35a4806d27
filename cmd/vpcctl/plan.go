package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller"
)

func newPlanCmd(g *globals) *cobra.Command {
	var file string
	var full bool
	c := &cobra.Command{
		Use:   "plan -f FILE",
		Short: "what `apply -f FILE` would change (instances, and flows by config object), changing nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := loadFile(file)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			o := g.options()
			o.File = file
			p, err := controller.MakePlan(ctx, o, t)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), p)
			}
			printPlan(cmd.OutOrStdout(), p, full)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file (required)")
	c.Flags().BoolVar(&full, "flows", false, "list every flow, not only the count per object")
	_ = c.MarkFlagRequired("file")
	return c
}

func printPlan(w io.Writer, p *controller.Plan, full bool) {
	if p.Empty() {
		fmt.Fprintf(w, "bridge %s: nothing to change\n", p.Bridge)
		return
	}
	fmt.Fprintf(w, "bridge %s:\n", p.Bridge)
	if p.NewBridge {
		fmt.Fprintln(w, "  + bridge (new)")
	}
	for _, b := range p.RemoveBridges {
		fmt.Fprintf(w, "  - bridge %s (the file's previous bridge) and everything on it\n", b)
	}
	for _, n := range p.AddInstances {
		fmt.Fprintf(w, "  + instance %s (namespace, link, port)\n", n)
	}
	for _, n := range p.RemoveInstances {
		fmt.Fprintf(w, "  - instance %s (namespace, link, port)\n", n)
	}
	fmt.Fprintf(w, "  flows: +%d -%d (one atomic bundle)\n", p.Added, p.Deleted)
	groups := func(sign string, gs []controller.PlanFlows) {
		for _, g := range gs {
			owner := g.Owner
			if owner == "" {
				owner = "(pipeline, or not in the recorded file)"
			}
			fmt.Fprintf(w, "    %s %-60s %d flows\n", sign, owner, len(g.Flows))
			if full {
				for _, f := range g.Flows {
					fmt.Fprintf(w, "        %s\n", f.Flow)
				}
			}
		}
	}
	groups("-", p.DeleteFlows)
	groups("+", p.AddFlows)
}

package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
	"github.com/vpcctl/vpcctl/controller/reach"
)

func newCheckCmd(g *globals) *cobra.Command {
	var file string
	var live bool
	c := &cobra.Command{
		Use:   "check -f FILE [--live]",
		Short: "evaluate the file's expect: reachability matrix on the model (no host needed); --live also sends real probes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := loadFile(file)
			if err != nil {
				return err
			}
			if len(t.Expect) == 0 {
				return usageError{fmt.Errorf("%s has no expect: section", file)}
			}
			ctx, cancel := signalContext()
			defer cancel()
			o := g.options()
			o.File = file
			cells, err := controller.Check(ctx, o, t, live)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if err := printJSON(cmd.OutOrStdout(), cells); err != nil {
					return err
				}
			} else {
				printCells(cmd.OutOrStdout(), cells, live)
			}
			for _, c := range cells {
				if !c.OK() {
					return exitCodeError(1)
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "topology file (required)")
	c.Flags().BoolVar(&live, "live", false, "also probe for real between the applied namespaces (TCP connect, UDP echo, ping)")
	_ = c.MarkFlagRequired("file")
	return c
}

func printCells(w io.Writer, cells []*reach.Cell, live bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "EXPECT\tFROM\tTO\tPACKET\tWANT\tMODEL"
	if live {
		head += "\tLIVE"
	}
	fmt.Fprintln(tw, head+"\tRESULT\tDECIDED BY")
	failed := 0
	for _, c := range cells {
		pkt := c.Proto
		if c.Proto != config.ProtoICMP {
			pkt = fmt.Sprintf("%s/%d", c.Proto, c.Port)
		}
		row := fmt.Sprintf("%d\t%s\t%s (%s)\t%s\t%s\t%s", c.Index, c.From, c.To, c.Dst, pkt, yesNo(c.Want), yesNo(c.Model))
		if live {
			l := "-"
			if c.Live != nil {
				l = yesNo(*c.Live)
			}
			if c.LiveErr != "" {
				l = "error: " + c.LiveErr
			}
			row += "\t" + l
		}
		res := "ok"
		if !c.OK() {
			res = "FAIL"
			failed++
		}
		obj := c.Decider.Object
		if c.Decider.Line > 0 {
			obj += fmt.Sprintf(" (line %d)", c.Decider.Line)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\n", row, res, c.Decider.Stage, obj)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d cells, %d as expected, %d failed\n", len(cells), len(cells)-failed, failed)
}

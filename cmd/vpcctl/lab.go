package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/labs/labcheck"
)

func newLabCmd(g *globals) *cobra.Command {
	lab := &cobra.Command{
		Use:   "lab",
		Short: "the labs of labs/: check your tasks",
	}
	lab.AddCommand(newLabCheckCmd(g))
	return lab
}

func newLabCheckCmd(g *globals) *cobra.Command {
	var file, answers string
	c := &cobra.Command{
		Use:   "check N [-f FILE] [--answers FILE]",
		Short: "check the Tasks of lab N on the live host: each PASS or FAIL with where to look; exit 0 only when all pass",
		Long: `lab check N checks the tasks of labs/NN-NAME/README.md ("Tasks") against the live
host: real probes from inside the namespaces for the tasks that change the topology,
the bridge's flows, ofproto/trace and ports for the ones that ask you to find something
(your answers file). You work on a copy of the lab's topology: -f defaults to
/tmp/labNN.yaml, --answers to /tmp/labNN-answers.yaml.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := labcheck.Find(args[0])
			if err != nil {
				return usageError{err}
			}
			if file == "" {
				file = l.DefaultFile()
			}
			if answers == "" {
				answers = l.DefaultAnswers()
			}
			ctx, cancel := signalContext()
			defer cancel()
			rep, err := labcheck.Run(ctx, g.options(), l, file, answers)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printLabReport(cmd.OutOrStdout(), rep)
			}
			if !rep.Passed() {
				return exitCodeError(1)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "your copy of the lab's topology (default /tmp/labNN.yaml)")
	c.Flags().StringVar(&answers, "answers", "", "your answers (default /tmp/labNN-answers.yaml)")
	return c
}

func printLabReport(w io.Writer, r *labcheck.Report) {
	fmt.Fprintf(w, "lab %s: %s on bridge %s, answers %s\n", r.Lab, r.File, r.Bridge, r.Answers)
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	fmt.Fprintln(w)
	passed := 0
	for _, x := range r.Results {
		verdict := "FAIL"
		if x.Pass {
			verdict = "PASS"
			passed++
		}
		fmt.Fprintf(w, "%s  %d %-13s %s\n", verdict, x.N, x.Name, x.Goal)
		for _, d := range x.Details {
			fmt.Fprintf(w, "        %s\n", d)
		}
		if x.Hint != "" {
			fmt.Fprintf(w, "        hint: %s\n", x.Hint)
		}
	}
	fmt.Fprintf(w, "\n%d of %d tasks pass", passed, len(r.Results))
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(w, "; to do: %s", strings.Join(failed, ", "))
	}
	fmt.Fprintln(w)
}

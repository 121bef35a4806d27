package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/ovsdb/cluster"
)

// newClusterCmd runs the Raft cluster of vpcctl's desired-state database
// (ovsdb/cluster) on this machine's loopback: for labs and tests of the
// multi-host mode, where `apply --cluster` publishes and agents watch.
func newClusterCmd(g *globals) *cobra.Command {
	var opts cluster.Options
	c := &cobra.Command{
		Use:   "cluster",
		Short: "start, stop or inspect a local Raft cluster of the VPCctl database",
		Long: "vpcctl cluster runs the 3-member (--members) Raft cluster of ovsdb-server holding vpcctl's\n" +
			"desired state for several hosts. Every member keeps its files in --dir (mN.db, mN.sock,\n" +
			"mN.ctl, mN.pid, mN.log), talks Raft on tcp:127.0.0.1:BASE+N-1 and serves clients only on\n" +
			"unix:DIR/mN.sock; `up` prints those endpoints, the value of --cluster.",
	}
	up := &cobra.Command{
		Use:   "up --dir DIR",
		Short: "create the cluster unless it exists, start its members, wait for a leader; print the endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			eps, err := cluster.Up(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), eps)
			return nil
		},
	}
	up.Flags().IntVar(&opts.Members, "members", 3, "members of a new cluster")
	up.Flags().IntVar(&opts.BasePort, "base-port", 6641, "Raft port of member 1 on 127.0.0.1 (member N: BASE+N-1)")
	down := &cobra.Command{
		Use:   "down --dir DIR",
		Short: "stop the members and remove the cluster's files (its data) from DIR",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			return cluster.Down(ctx, opts)
		},
	}
	status := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "show the members, their role and who leads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			sts, err := opts.Status(ctx)
			if err != nil {
				return err
			}
			if len(sts) == 0 {
				return fmt.Errorf("no cluster in %s", opts.Dir)
			}
			leader, lerr := opts.Leader(ctx)
			if lerr != nil && !errors.Is(lerr, cluster.ErrNoLeader) {
				return lerr
			}
			var tops []topologyStatus
			if leader != 0 {
				tops = clusterTopologies(ctx, opts.Endpoints())
			}
			if g.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Endpoints  string                 `json:"endpoints"`
					Leader     int                    `json:"leader"` // 0: none
					Members    []cluster.MemberStatus `json:"members"`
					Topologies []topologyStatus       `json:"topologies"`
				}{opts.Endpoints(), leader, sts, tops})
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "MEMBER\tPID\tROLE\tTERM\tSTATUS\tRAFT\tENDPOINT")
			for _, st := range sts {
				role, state, pid, term := st.Role, st.Status, fmt.Sprint(st.PID), fmt.Sprint(st.Term)
				if st.PID == 0 {
					pid = "-"
				}
				if st.Err != "" {
					role, state, term = "-", firstLine(st.Err), "-"
				}
				fmt.Fprintf(w, "m%d\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Member, pid, role, term, state, st.Address, st.Endpoint)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if leader == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "leader: none (no quorum, or an election under way)")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "leader: m%d\n", leader)
			}
			if len(tops) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				printTopologies(cmd.OutOrStdout(), tops)
			}
			return nil
		},
	}
	for _, sub := range []*cobra.Command{up, down, status} {
		sub.Flags().StringVar(&opts.Dir, "dir", "", "directory of the members' files (required)")
		_ = sub.MarkFlagRequired("dir")
	}
	c.AddCommand(up, down, status)
	return c
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// topologyStatus is one topology in the cluster: its generation and what
// each host's agent last applied.
type topologyStatus struct {
	Name       string                  `json:"name"`
	Generation int                     `json:"generation"`
	Hosts      []cluster.ChassisStatus `json:"hosts"`
}

// clusterTopologies reads the cluster's topologies and agents' reports (none
// when the cluster does not answer within a few seconds).
func clusterTopologies(ctx context.Context, endpoints string) []topologyStatus {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cluster.Dial(ctx, []string{endpoints}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil
	}
	defer st.Close()
	var out []topologyStatus
	for _, name := range st.Topologies() {
		_, gen, _ := st.Topology(name)
		out = append(out, topologyStatus{Name: name, Generation: gen, Hosts: st.Chassis(name)})
	}
	return out
}

func printTopologies(w io.Writer, tops []topologyStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPOLOGY\tGENERATION\tHOST\tAPPLIED\tFLOWS\tREPORTED\tERROR")
	for _, t := range tops {
		if len(t.Hosts) == 0 {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\tno agent has reported\n", t.Name, t.Generation)
		}
		for _, h := range t.Hosts {
			applied := fmt.Sprint(h.AppliedGeneration)
			if h.AppliedGeneration < t.Generation {
				applied += " (behind)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s ago\t%s\n", t.Name, t.Generation, h.Name, applied, h.Flows,
				time.Since(h.Updated).Round(time.Second), orDash(h.Error))
		}
	}
	tw.Flush()
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

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
			if g.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Endpoints string                 `json:"endpoints"`
					Leader    int                    `json:"leader"` // 0: none
					Members   []cluster.MemberStatus `json:"members"`
				}{opts.Endpoints(), leader, sts})
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

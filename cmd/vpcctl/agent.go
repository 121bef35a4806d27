package main

import (
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
)

// newAgentCmd is `vpcctl agent`: one per host of a topology that spans
// hosts, applying what `vpcctl apply --cluster` published.
func newAgentCmd(g *globals) *cobra.Command {
	var topology string
	c := &cobra.Command{
		Use:   "agent --cluster ENDPOINTS --host NAME",
		Short: "apply the cluster's topology to this host's bridge whenever it changes (runs until stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.cluster == "" {
				return usageError{errNoCluster}
			}
			ctx, cancel := signalContext()
			defer cancel()
			o := g.options()
			o.Log = g.logger(slog.LevelInfo)
			return controller.RunAgent(ctx, o, []string{g.cluster}, topology)
		},
	}
	c.Flags().StringVar(&topology, "topology", config.DefaultBridge, "the topology in the cluster (its bridge name)")
	return c
}

type clusterError string

func (e clusterError) Error() string { return string(e) }

const errNoCluster = clusterError("--cluster ENDPOINTS is required (the VPCctl cluster: see vpcctl cluster up)")

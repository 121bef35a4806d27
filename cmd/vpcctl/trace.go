package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
)

func newTraceCmd(g *globals) *cobra.Command {
	var req controller.TraceRequest
	var tcp, udp uint16
	var icmp bool
	c := &cobra.Command{
		Use:   "trace SRC DST [--tcp P|--udp P|--icmp] [--from-port P] [--state new|established|reply]",
		Short: "where a packet from SRC (instance or external host) to DST goes: the AWS decision (route, NACL and SG rules, NAT) and the bridge's real flows, side by side",
		Long: `trace follows one packet twice: through the topology model (each AWS decision in
order, naming the route, network ACL rule or security group rule that decided, with
its field path and line) and through the bridge's installed flows (ovs-vswitchd's
ofproto/trace, table by table, each flow with the config object it came from). It
follows the reply too. It exits 1 when the two halves disagree (a vpcctl bug).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.From, req.To = args[0], args[1]
			n := 0
			req.Proto = config.ProtoICMP
			if tcp > 0 {
				req.Proto, req.Port = config.ProtoTCP, tcp
				n++
			}
			if udp > 0 {
				req.Proto, req.Port = config.ProtoUDP, udp
				n++
			}
			if icmp {
				n++
			}
			if n > 1 {
				return usageError{fmt.Errorf("give one of --tcp, --udp, --icmp")}
			}
			switch req.State {
			case "", "new", "established", "reply":
			default:
				return usageError{fmt.Errorf("--state %q: new, established or reply", req.State)}
			}
			ctx, cancel := signalContext()
			defer cancel()
			res, err := controller.Trace(ctx, g.options(), req)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if err := printJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else {
				printTrace(cmd.OutOrStdout(), res)
			}
			if !res.Agree {
				return exitCodeError(1)
			}
			return nil
		},
	}
	f := c.Flags()
	f.Uint16Var(&tcp, "tcp", 0, "TCP to this destination port")
	f.Uint16Var(&udp, "udp", 0, "UDP to this destination port")
	f.BoolVar(&icmp, "icmp", false, "ICMP echo (the default)")
	f.Uint16Var(&req.SrcPort, "from-port", 0, "source port (default 40000)")
	f.StringVar(&req.State, "state", "new", "conntrack state of the packet: new, established (a later packet of an allowed connection), reply")
	f.StringVar(&req.Bridge, "bridge", "", "bridge (default: the one whose topology has SRC)")
	return c
}

func printTrace(w io.Writer, r *controller.TraceResult) {
	fmt.Fprintf(w, "trace %s -> %s: %s (bridge %s)\n", r.From, r.To, r.Packet, r.Bridge)
	if r.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", r.Warning)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "note: %s\n", r.Note)
	}
	for _, h := range r.Hops {
		fmt.Fprintf(w, "\n%s  %s\n  model:\n", strings.ToUpper(h.Direction), h.Model.Packet)
		for _, s := range h.Model.Steps {
			fmt.Fprintf(w, "    %s\n", s)
		}
		fmt.Fprintf(w, "    => %s (%s)\n", h.Verdict, h.Decider.Object)
		fmt.Fprintf(w, "  dataplane: ofproto/trace %s --ct-next %s\n", h.Flow, h.CtNext)
		for _, s := range h.Dataplane {
			fmt.Fprintf(w, "    %2d %-21s prio %-5d %s\n", s.Table, s.Name, s.Priority, ownerText(s.Owner))
		}
		fmt.Fprintf(w, "    => %s\n", h.DPVerdict)
		if h.Agree {
			fmt.Fprintf(w, "  agree")
		} else {
			fmt.Fprintf(w, "  DISAGREE")
		}
		if h.Why != "" {
			fmt.Fprintf(w, " (%s)", h.Why)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	d := r.Decider
	if r.Reachable {
		fmt.Fprintf(w, "REACHABLE: delivered and answered (%s)\n", d.Object)
	} else {
		obj := d.Object
		if d.Line > 0 {
			obj += fmt.Sprintf(" (line %d)", d.Line)
		}
		fmt.Fprintf(w, "NOT REACHABLE: %s %s: %s\n", d.Stage, obj, d.Detail)
	}
	if r.Agree {
		fmt.Fprintln(w, "model and dataplane agree")
	} else {
		fmt.Fprintln(w, "MODEL AND DATAPLANE DISAGREE: this is a vpcctl bug")
	}
}

func ownerText(o string) string {
	if o == "" {
		return "(pipeline)"
	}
	return o
}

package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/vpcctl/vpcctl/controller"
)

func newStatusCmd(g *globals) *cobra.Command {
	var bridge string
	c := &cobra.Command{
		Use:   "status",
		Short: "every object on this host: VPCs, subnets, route tables, groups, ACLs, gateways, peerings, external hosts, instances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			st, err := controller.GetStatus(ctx, g.options())
			if err != nil {
				return err
			}
			if bridge != "" {
				var keep []controller.BridgeStatus
				for _, b := range st.Bridges {
					if b.Name == bridge {
						keep = append(keep, b)
					}
				}
				if keep == nil {
					return fmt.Errorf("no vpcctl bridge %s on this host", bridge)
				}
				st.Bridges = keep
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), st)
			}
			return printStatus(cmd.OutOrStdout(), st)
		},
	}
	c.Flags().StringVar(&bridge, "bridge", "", "only this bridge")
	return c
}

// printStatus writes one block per bridge: its objects by kind, then its instances.
func printStatus(w io.Writer, st *controller.Status) error {
	for n, b := range st.Bridges {
		if n > 0 {
			fmt.Fprintln(w)
		}
		if b.Host != "" {
			fmt.Fprintf(w, "bridge %s on host %s (datapath %s, file %s)\n", b.Name, b.Host, b.Datapath, orDash(b.File))
		} else {
			fmt.Fprintf(w, "bridge %s (datapath %s, file %s)\n", b.Name, b.Datapath, orDash(b.File))
		}
		if b.FileChanged {
			fmt.Fprintln(w, "  the file changed since it was last applied: the objects below are the file's, not yet the running network's")
		}
		if b.FileError != "" {
			fmt.Fprintf(w, "  the file cannot be read: %s\n", b.FileError)
		}
		if t := b.Topology; t != nil {
			printObjects(w, t)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tVPC\tSUBNET\tIP\tMAC\tNAMESPACE\tPORT\tOFPORT\tSTATE")
		for _, i := range b.Instances {
			ns := i.Namespace
			if ns == "" {
				ns = "(host)"
			}
			if i.State == "remote" { // on another host, through the tunnel
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t-\t-\t-\tremote (host %s)\n", i.Name, i.VPC, i.Subnet, i.IP, i.MAC, i.Host)
				continue
			}
			ofport := strconv.Itoa(i.Ofport)
			if i.VLAN != 0 { // attach: trunk: the trunk's port, with its tag
				ofport += ",vlan=" + strconv.Itoa(i.VLAN)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				i.Name, orDash(i.VPC), i.Subnet, i.IP, i.MAC, ns, i.Port, ofport, i.State)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func printObjects(w io.Writer, t *controller.TopologyStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(header string) {
		tw.Flush()
		fmt.Fprintln(w)
		fmt.Fprintln(tw, header)
	}
	section("VPC\tCIDR\tINTERNET-GATEWAY\tSUBNETS\tINSTANCES")
	for _, v := range t.VPCs {
		n := 0
		for _, s := range v.Subnets {
			n += len(s.Instances)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", v.Name, v.CIDR, yesNo(v.InternetGateway), len(v.Subnets), n)
	}
	section("SUBNET\tVPC\tCIDR\tROUTE-TABLE\tNETWORK-ACL\tINSTANCES")
	for _, v := range t.VPCs {
		for _, s := range v.Subnets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, v.Name, s.CIDR, s.RouteTable, orDash(s.NetworkACL), list(s.Instances))
		}
	}
	section("ROUTE-TABLE\tVPC\tSUBNETS\tDESTINATION\tVIA")
	for _, v := range t.VPCs {
		for _, rt := range v.RouteTables {
			for i, r := range rt.Routes {
				name, subnets := rt.Name, list(rt.Subnets)
				if i > 0 {
					name, subnets = "", ""
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, v.Name, subnets, r.Destination, r.Via)
			}
		}
	}
	section("SECURITY-GROUP\tVPC\tINGRESS-RULES\tEGRESS-RULES\tMEMBERS")
	for _, v := range t.VPCs {
		for _, g := range v.SecurityGroups {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", g.Name, v.Name, g.Ingress, g.Egress, list(g.Members))
		}
	}
	var acls, nats, eips int
	for _, v := range t.VPCs {
		acls += len(v.NetworkACLs)
		nats += len(v.NATGateways)
		eips += len(v.ElasticIPs)
	}
	if acls > 0 {
		section("NETWORK-ACL\tVPC\tSUBNETS\tINGRESS-RULES\tEGRESS-RULES")
		for _, v := range t.VPCs {
			for _, a := range v.NetworkACLs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", a.Name, v.Name, list(a.Subnets), a.Ingress, a.Egress)
			}
		}
	}
	if nats > 0 {
		section("NAT-GATEWAY\tVPC\tSUBNET\tPUBLIC-IP")
		for _, v := range t.VPCs {
			for _, n := range v.NATGateways {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, v.Name, n.Subnet, n.PublicIP)
			}
		}
	}
	if eips > 0 {
		section("ELASTIC-IP\tVPC\tINSTANCE\tPRIVATE-IP")
		for _, v := range t.VPCs {
			for _, e := range v.ElasticIPs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.PublicIP, v.Name, e.Instance, e.PrivateIP)
			}
		}
	}
	if len(t.Peerings) > 0 {
		section("PEERING\tVPCS\tROUTED-FROM")
		for _, p := range t.Peerings {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, list(p.VPCs), list(p.Routed))
		}
	}
	if e := t.External; e != nil {
		section("EXTERNAL\tCIDR\tGATEWAY\tATTACH")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", "external", e.CIDR, e.Gateway, e.Attach)
		for _, h := range e.Hosts {
			fmt.Fprintf(tw, "  host %s\t%s\t\t\n", h.Name, h.IP)
		}
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

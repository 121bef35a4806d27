package metrics

import (
	"fmt"
	"strings"
)

// Info documents one metric: the source of its help text, of the table in
// `vpcctl daemon --help` and of the one in README.md (a test keeps the three
// and the registry in step).
type Info struct {
	Name    string
	Type    string // counter, gauge or histogram
	Labels  []string
	Meaning string
}

// Catalog is every vpcctl_ metric the daemon exports.
var Catalog = []Info{
	{"vpcctl_apply_duration_seconds", "histogram", []string{"reason"},
		"time of each apply, successful or not; reason: start, file_changed, sighup, controller_reconnected (ovs-vswitchd restarted), drift, internal_port_moved, retry"},
	{"vpcctl_apply_errors_total", "counter", []string{"reason"},
		"failed applies (retried with backoff), by the same reasons"},
	{"vpcctl_last_apply_success_timestamp_seconds", "gauge", nil,
		"Unix time of the last successful apply"},
	{"vpcctl_topology_invalid_total", "counter", nil,
		"changed topology files that failed validation (the running network was kept)"},
	{"vpcctl_drift_check_duration_seconds", "histogram", nil,
		"time of each drift check (installed flows and ports against the last apply)"},
	{"vpcctl_drift_checks_total", "counter", []string{"result"},
		"drift checks: ok, drift (a repair followed) or error (flows unreadable, nothing applied yet)"},
	{"vpcctl_openflow_connected", "gauge", nil,
		"1 while ovs-vswitchd's OpenFlow connection to the daemon (its controller) is up"},
	{"vpcctl_openflow_reconnects_total", "counter", nil,
		"times ovs-vswitchd connected again after the first connection (an ovs-vswitchd restart, a lost connection)"},
	{"vpcctl_ovsdb_connected", "gauge", nil,
		"1 while the daemon's OVSDB client is connected to ovsdb-server"},
	{"vpcctl_ovsdb_reconnects_total", "counter", nil,
		"times the OVSDB client reconnected after losing ovsdb-server"},
	{"vpcctl_instances", "gauge", []string{"vpc"},
		"instances of each VPC in the topology last applied"},
	{"vpcctl_flows_installed", "gauge", []string{"table"},
		"vpcctl flows installed in each pipeline table, read from the bridge at scrape time"},
	{"vpcctl_rule_packets_total", "counter", []string{"vpc", "kind", "rule"},
		"packets that a security-group rule allowed or a network-ACL rule decided (kind: security_group, network_acl; rule: its field path), from OpenFlow flow statistics at scrape time"},
	{"vpcctl_rule_bytes_total", "counter", []string{"vpc", "kind", "rule"},
		"bytes of those packets (Ethernet frames as the bridge saw them)"},
	{"vpcctl_flow_dump_success", "gauge", nil,
		"1 if this scrape read the bridge's flows (0: OVS away or the dump timed out; rule counters then keep their last values)"},
	{"vpcctl_flow_dump_duration_seconds", "gauge", nil,
		"time this scrape took to read the bridge's flows"},
	{"vpcctl_flow_log_records_total", "counter", []string{"result"},
		"flow-log records written to the destination, or dropped (a slow or failing writer, a full queue)"},
}

// help is the help text of a metric of the catalog.
func help(name string) string {
	for _, i := range Catalog {
		if i.Name == name {
			return i.Meaning
		}
	}
	panic("metrics: " + name + " is not in the catalog")
}

// Table is the catalog as a plain-text table, for `vpcctl daemon --help`.
func Table() string {
	var b strings.Builder
	for _, i := range Catalog {
		name := i.Name
		if len(i.Labels) > 0 {
			name += "{" + strings.Join(i.Labels, ",") + "}"
		}
		fmt.Fprintf(&b, "  %s (%s)\n", name, i.Type)
		line := "     "
		for _, w := range strings.Fields(i.Meaning) {
			if len(line)+1+len(w) > 78 {
				b.WriteString(line + "\n")
				line = "     "
			}
			line += " " + w
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// Markdown is the catalog as a Markdown table, for README.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| name | type | labels | meaning |\n| --- | --- | --- | --- |\n")
	for _, i := range Catalog {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", i.Name, i.Type, strings.Join(i.Labels, ", "), i.Meaning)
	}
	return b.String()
}

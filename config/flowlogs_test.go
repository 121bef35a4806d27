package config

import (
	"errors"
	"strings"
	"testing"
)

// withFlowLogs is base with flow logs on the VPC (line 6 on), the subnet and
// an instance.
const withFlowLogs = `version: 1
vpcs:
  - name: prod
    cidr: 10.1.0.0/16
    flow_logs:
      - {destination: prod.log}
    subnets:
      - name: a
        cidr: 10.1.1.0/24
        flow_logs: [{traffic: reject, destination: /var/log/a.json, format: json, aggregation_interval: 5}]
    instances:
      - name: i
        subnet: a
        flow_logs: [{traffic: accept, destination: i.log, aggregation_interval: 60}]
      - {name: j, subnet: a}
`

func TestFlowLogs(t *testing.T) {
	top, _, err := parse(t, withFlowLogs)
	if err != nil {
		t.Fatal(err)
	}
	v := top.VPC("prod")
	f := v.FlowLogs[0]
	if f.Traffic != TrafficAll || f.Format != FlowLogText || f.Interval != DefaultFlowLogInterval || !f.Accepts() || !f.Rejects() {
		t.Errorf("defaults: %+v", f)
	}
	if got := f.Pos.Path(); got != "vpcs[prod].flow_logs[0]" {
		t.Errorf("path %q", got)
	}
	var i, j *Instance
	for _, in := range v.Instances {
		switch in.Name {
		case "i":
			i = in
		case "j":
			j = in
		}
	}
	got := v.FlowLogsOf(i)
	if len(got) != 3 || got[0] != f || got[1].Destination != "/var/log/a.json" || got[2].Destination != "i.log" {
		t.Fatalf("flow logs of i: %+v", got)
	}
	if s := got[1]; s.Accepts() || !s.Rejects() || s.Format != FlowLogJSON || s.Interval != 5 {
		t.Errorf("subnet's flow log: %+v", s)
	}
	if s := got[2]; !s.Accepts() || s.Rejects() || s.Interval != 60 {
		t.Errorf("instance's flow log: %+v", s)
	}
	if len(v.FlowLogsOf(j)) != 2 {
		t.Errorf("flow logs of j: %+v", v.FlowLogsOf(j))
	}
}

func TestFlowLogErrors(t *testing.T) {
	for _, c := range []errorCase{
		{"unknown traffic", base + "    flow_logs: [{traffic: accepted, destination: x.log}]\n",
			[]string{`t.yaml:7: vpcs[prod].flow_logs[0].traffic: "accepted" is not one of: accept, reject, all`}},
		{"unknown format", base + "    flow_logs: [{format: csv, destination: x.log}]\n",
			[]string{`vpcs[prod].flow_logs[0].format: "csv" is not one of: text, json`}},
		{"missing destination", base + "    flow_logs: [{traffic: all}]\n",
			[]string{`vpcs[prod].flow_logs[0].destination: missing required field "destination"`}},
		{"interval too long", base + "    flow_logs: [{destination: x.log, aggregation_interval: 3600}]\n",
			[]string{`vpcs[prod].flow_logs[0].aggregation_interval: 3600 is not an interval in seconds of 1..600`}},
		{"interval zero", base + "    flow_logs: [{destination: x.log, aggregation_interval: 0}]\n",
			[]string{`vpcs[prod].flow_logs[0].aggregation_interval: 0 is not`}},
		{"interval as text", base + "    flow_logs: [{destination: x.log, aggregation_interval: 5s}]\n",
			[]string{`vpcs[prod].flow_logs[0].aggregation_interval: expected an integer, got "5s"`}},
		{"misspelt key", base + "    flow_logs: [{destination: x.log, intervall: 5}]\n",
			[]string{`vpcs[prod].flow_logs[0].intervall: unknown field "intervall"`}},
		{"directory as destination", base + "    flow_logs: [{destination: logs/}]\n",
			[]string{`vpcs[prod].flow_logs[0].destination: "logs/" is not a file name`}},
		{"shared destination", strings.Replace(withFlowLogs, "destination: i.log", "destination: ./prod.log", 1),
			[]string{`t.yaml:14: vpcs[prod].instances[i].flow_logs[0].destination: "./prod.log" is already the destination of vpcs[prod].flow_logs[0] (line 6)`}},
		{"not a list", base + "    flow_logs: {destination: x.log}\n",
			[]string{`vpcs[prod].flow_logs: expected a list, got a mapping`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			top, _, err := parse(t, c.src)
			var errs Errors
			if !errors.As(err, &errs) || top != nil {
				t.Fatalf("want Errors and no topology, got %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

package config

import (
	"path/filepath"
	"strings"
)

// flowLogs checks every flow_logs entry of the file: known traffic type and
// format, an interval of 1..600 s, and a destination file that no other
// flow log writes (two writers would interleave and rotate each other's file).
func (c *checker) flowLogs() {
	dests := map[string]Pos{}
	each := func(fs []*FlowLog) {
		flowLogDefaults(fs)
		for _, f := range fs {
			c.oneOf(f.Pos, "traffic", f.Traffic, TrafficAccept, TrafficReject, TrafficAll)
			c.oneOf(f.Pos, "format", f.Format, FlowLogText, FlowLogJSON)
			if f.Interval < 1 || f.Interval > MaxFlowLogInterval {
				c.errAt(f.Pos, "aggregation_interval", "%d is not an interval in seconds of 1..%d (AWS offers 60 and 600)", f.Interval, MaxFlowLogInterval)
			}
			if f.Destination == "" {
				continue // reported as missing
			}
			if strings.ContainsRune(f.Destination, 0) || strings.HasSuffix(f.Destination, "/") || filepath.Base(filepath.Clean(f.Destination)) == ".." {
				c.errAt(f.Pos, "destination", "%q is not a file name", f.Destination)
				continue
			}
			key := filepath.Clean(f.Destination)
			if first, dup := dests[key]; dup {
				c.errAt(f.Pos, "destination", "%q is already the destination of %s (%s): each flow log writes a file of its own", f.Destination, first.path, where(first))
				continue
			}
			dests[key] = f.Pos
		}
	}
	for _, v := range c.t.VPCs {
		each(v.FlowLogs)
		for _, s := range v.Subnets {
			each(s.FlowLogs)
		}
		for _, i := range v.Instances {
			each(i.FlowLogs)
		}
	}
}

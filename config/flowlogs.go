package config

// Flow log enumerations and limits (AWS VPC Flow Logs: traffic type,
// maximum aggregation interval of 60 or 600 s; shorter ones are allowed
// here so that labs and tests need not wait a minute).
const (
	TrafficAccept = "accept"
	TrafficReject = "reject"
	TrafficAll    = "all"

	FlowLogText = "text" // AWS default format, version 2, space-separated
	FlowLogJSON = "json" // one JSON object per line, with later versions' fields

	DefaultFlowLogInterval = 600 // seconds, as AWS
	MaxFlowLogInterval     = 600
)

// FlowLog records the traffic of the interfaces of a VPC, a subnet or an
// instance, one record per flow and aggregation interval, into a file.
type FlowLog struct {
	// Traffic is accept, reject or all (default all).
	Traffic string `mapstructure:"traffic"`
	// Destination is the file the records go to; a relative path is taken
	// under the daemon's flow-log directory.
	Destination string `mapstructure:"destination" cfg:"required"`
	// Format is text (AWS version 2, the default) or json.
	Format string `mapstructure:"format"`
	// Interval is the aggregation interval in seconds, 1..600 (default 600).
	Interval int `mapstructure:"aggregation_interval"`

	Pos Pos `mapstructure:"-"`
}

// Accepts reports whether the flow log records accepted traffic.
func (f *FlowLog) Accepts() bool { return f.Traffic != TrafficReject }

// Rejects reports whether the flow log records rejected traffic.
func (f *FlowLog) Rejects() bool { return f.Traffic != TrafficAccept }

// FlowLogsOf lists the flow logs that cover an instance: its VPC's, its
// subnet's and its own, in that order.
func (v *VPC) FlowLogsOf(i *Instance) []*FlowLog {
	out := append([]*FlowLog(nil), v.FlowLogs...)
	if s := v.Subnet(i.Subnet); s != nil {
		out = append(out, s.FlowLogs...)
	}
	return append(out, i.FlowLogs...)
}

// flowLogDefaults fills what a flow log may omit.
func flowLogDefaults(fs []*FlowLog) {
	for _, f := range fs {
		if f.Traffic == "" {
			f.Traffic = TrafficAll
		}
		if f.Format == "" {
			f.Format = FlowLogText
		}
		if !f.Pos.has("aggregation_interval") && f.Interval == 0 {
			f.Interval = DefaultFlowLogInterval
		}
	}
}

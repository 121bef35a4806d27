// Package metrics holds the daemon's Prometheus metrics: one registry per
// daemon, served by promhttp on --metrics-addr.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is one daemon's set of metrics. A nil *Metrics is valid and
// records nothing, so code that runs with and without a daemon (apply, the
// flow-log collector in tests) needs no checks.
type Metrics struct {
	Registry *prometheus.Registry

	flowLogRecords *prometheus.CounterVec
}

// New makes the metrics and registers them (with the Go and process
// collectors) in a registry of their own.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.flowLogRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcctl_flow_log_records_total",
		Help: "Flow-log records, by result: written to the destination, or dropped (a slow or failing writer, a full queue).",
	}, []string{"result"})
	m.Registry.MustRegister(
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		m.flowLogRecords,
	)
	return m
}

// FlowLogRecords counts n flow-log records with result "written" or "dropped".
func (m *Metrics) FlowLogRecords(result string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.flowLogRecords.WithLabelValues(result).Add(float64(n))
}

// Package metrics holds the daemon's Prometheus metrics: one registry per
// daemon, served by promhttp on --metrics-addr.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is one daemon's set of metrics. A nil *Metrics is valid and
// records nothing, so code that runs with and without a daemon (apply, the
// flow-log collector in tests) needs no checks.
type Metrics struct {
	Registry *prometheus.Registry

	flowLogRecords  *prometheus.CounterVec
	applyDuration   *prometheus.HistogramVec
	applyErrors     *prometheus.CounterVec
	lastApplied     prometheus.Gauge
	invalidFiles    prometheus.Counter
	checkDuration   prometheus.Histogram
	checks          *prometheus.CounterVec
	ofConnected     prometheus.Gauge
	ofReconnects    prometheus.Counter
	ofConnectedOnce bool
	ovsdbConnected  prometheus.Gauge
	ovsdbReconnects prometheus.Counter
	instances       *prometheus.GaugeVec
	flowStats       *flowStatsCollector
}

// ApplyReasons are the daemon's reasons to apply (the `reason` of its
// "applied" and "apply_failed" log lines); their error counters exist from
// the start, at 0.
var ApplyReasons = []string{
	"start", "file_changed", "sighup", "controller_reconnected", "drift", "internal_port_moved", "retry",
}

// Check results, the label of vpcctl_drift_checks_total.
const (
	CheckOK    = "ok"    // the dataplane is what the last apply made
	CheckDrift = "drift" // it is not: a repair follows
	CheckError = "error" // the flows could not be read, or nothing is applied yet
)

// New makes the metrics and registers them (with the Go and process
// collectors) in a registry of their own.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.flowLogRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcctl_flow_log_records_total", Help: help("vpcctl_flow_log_records_total"),
	}, []string{"result"})
	m.applyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vpcctl_apply_duration_seconds", Help: help("vpcctl_apply_duration_seconds"),
		// From an unchanged file (milliseconds) to 1,000 instances from
		// nothing (seconds), up to the apply timeout (2 minutes).
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"reason"})
	m.applyErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcctl_apply_errors_total", Help: help("vpcctl_apply_errors_total"),
	}, []string{"reason"})
	m.lastApplied = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vpcctl_last_apply_success_timestamp_seconds", Help: help("vpcctl_last_apply_success_timestamp_seconds"),
	})
	m.invalidFiles = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpcctl_topology_invalid_total", Help: help("vpcctl_topology_invalid_total"),
	})
	m.checkDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vpcctl_drift_check_duration_seconds", Help: help("vpcctl_drift_check_duration_seconds"),
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcctl_drift_checks_total", Help: help("vpcctl_drift_checks_total"),
	}, []string{"result"})
	m.ofConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vpcctl_openflow_connected", Help: help("vpcctl_openflow_connected"),
	})
	m.ofReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpcctl_openflow_reconnects_total", Help: help("vpcctl_openflow_reconnects_total"),
	})
	m.ovsdbConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vpcctl_ovsdb_connected", Help: help("vpcctl_ovsdb_connected"),
	})
	m.ovsdbReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpcctl_ovsdb_reconnects_total", Help: help("vpcctl_ovsdb_reconnects_total"),
	})
	m.instances = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpcctl_instances", Help: help("vpcctl_instances"),
	}, []string{"vpc"})
	m.flowStats = newFlowStatsCollector()

	// Series that exist from the start at 0: an absent series cannot be
	// told from a daemon that does not export it.
	for _, r := range []string{"written", "dropped"} {
		m.flowLogRecords.WithLabelValues(r)
	}
	for _, r := range ApplyReasons {
		m.applyErrors.WithLabelValues(r)
	}
	for _, r := range []string{CheckOK, CheckDrift, CheckError} {
		m.checks.WithLabelValues(r)
	}
	m.Registry.MustRegister(
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		m.flowLogRecords, m.applyDuration, m.applyErrors, m.lastApplied, m.invalidFiles,
		m.checkDuration, m.checks, m.ofConnected, m.ofReconnects, m.ovsdbConnected,
		m.ovsdbReconnects, m.instances, m.flowStats,
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

// ObserveApply records one apply attempt: its duration, and err when it
// failed. reason is why the daemon applied (see ApplyReasons).
func (m *Metrics) ObserveApply(reason string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.applyDuration.WithLabelValues(reason).Observe(d.Seconds())
	if err != nil {
		m.applyErrors.WithLabelValues(reason).Inc()
		return
	}
	m.lastApplied.SetToCurrentTime()
}

// TopologyInvalid counts a changed topology file that failed validation
// (the running network was kept).
func (m *Metrics) TopologyInvalid() {
	if m == nil {
		return
	}
	m.invalidFiles.Inc()
}

// ObserveCheck records one drift check: its duration and result (CheckOK,
// CheckDrift or CheckError).
func (m *Metrics) ObserveCheck(d time.Duration, result string) {
	if m == nil {
		return
	}
	m.checkDuration.Observe(d.Seconds())
	m.checks.WithLabelValues(result).Inc()
}

// OpenFlowConnected records that ovs-vswitchd's controller connection to
// the daemon came up (true) or went down (false). Every connection after
// the first counts as a reconnect. Called from one goroutine only.
func (m *Metrics) OpenFlowConnected(up bool) {
	if m == nil {
		return
	}
	if !up {
		m.ofConnected.Set(0)
		return
	}
	if m.ofConnectedOnce {
		m.ofReconnects.Inc()
	}
	m.ofConnectedOnce = true
	m.ofConnected.Set(1)
}

// OVSDBConnected records the state of the daemon's OVSDB client; reconnect
// is set when it came back after losing the server.
func (m *Metrics) OVSDBConnected(up, reconnect bool) {
	if m == nil {
		return
	}
	if up {
		m.ovsdbConnected.Set(1)
		if reconnect {
			m.ovsdbReconnects.Inc()
		}
		return
	}
	m.ovsdbConnected.Set(0)
}

// SetInstances replaces the instance counts by VPC (of the topology the
// daemon last applied).
func (m *Metrics) SetInstances(perVPC map[string]int) {
	if m == nil {
		return
	}
	m.instances.Reset()
	for vpc, n := range perVPC {
		m.instances.WithLabelValues(vpc).Set(float64(n))
	}
}

// SetFlowSource makes scrapes read the installed flows through src (see
// FlowSource); tables are every pipeline table's name, so that an empty
// table shows as 0. Until it is called, no flow metrics are exported.
func (m *Metrics) SetFlowSource(src FlowSource, tables []string) {
	if m == nil {
		return
	}
	m.flowStats.setSource(src, tables)
}

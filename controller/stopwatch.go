package controller

import (
	"log/slog"
	"time"
)

// stopwatch logs (at debug level, `-v`) how long each phase of a reconcile
// took: where the time of an apply goes is the first question at scale.
type stopwatch struct {
	log    *slog.Logger
	bridge string
	what   string
	start  time.Time
}

func newStopwatch(log *slog.Logger, what, bridge string) *stopwatch {
	return &stopwatch{log: log, bridge: bridge, what: what, start: time.Now()}
}

// lap logs the time since the previous lap under phase's name.
func (s *stopwatch) lap(phase string) {
	now := time.Now()
	s.log.Debug(s.what, "bridge", s.bridge, "phase", phase, "took", now.Sub(s.start).Round(time.Microsecond))
	s.start = now
}

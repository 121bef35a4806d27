package cluster

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
)

// slogSink passes libovsdb's logr output to log/slog. libovsdb's own default
// logger writes to stderr at verbosity 5 (every transaction); here its V(0)
// messages become Info, V(1)-V(4) Debug, and V(5) and above are dropped;
// its errors become warnings.
type slogSink struct {
	l    *slog.Logger
	name string
}

func newLogger(l *slog.Logger) logr.Logger {
	return logr.New(&slogSink{l: l.With("component", "libovsdb")})
}

func (s *slogSink) Init(logr.RuntimeInfo) {}

func (s *slogSink) level(v int) slog.Level {
	if v <= 0 {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (s *slogSink) Enabled(v int) bool {
	return v < 5 && s.l.Enabled(context.Background(), s.level(v))
}

func (s *slogSink) Info(v int, msg string, kv ...any) {
	s.l.Log(context.Background(), s.level(v), s.name+msg, kv...)
}

// Error logs at Warn: in a cluster, libovsdb's errors are mostly failed
// reconnects while a new leader is elected, which it retries by itself.
func (s *slogSink) Error(err error, msg string, kv ...any) {
	s.l.Warn(s.name+msg, append(kv, "err", err)...)
}

func (s *slogSink) WithValues(kv ...any) logr.LogSink {
	return &slogSink{l: s.l.With(kv...), name: s.name}
}

func (s *slogSink) WithName(name string) logr.LogSink {
	return &slogSink{l: s.l, name: s.name + name + ": "}
}

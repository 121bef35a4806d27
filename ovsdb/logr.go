package ovsdb

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
)

// slogSink passes libovsdb's logr output to log/slog. libovsdb's own default
// logger writes to stderr at verbosity 5 (every transaction); here its V(0)
// messages become Info, V(1)-V(4) Debug, and V(5) and above are dropped.
type slogSink struct {
	l        *slog.Logger
	name     string
	errLevel slog.Level
}

func newLogger(l *slog.Logger) logr.Logger { return NewLogger(l, slog.LevelError) }

// NewLogger is libovsdb's logger writing to l, its errors at errLevel (a
// client of a Raft cluster logs each failed reconnect of an election as an
// error, which it retries by itself: Warn there).
func NewLogger(l *slog.Logger, errLevel slog.Level) logr.Logger {
	return logr.New(&slogSink{l: l.With("component", "libovsdb"), errLevel: errLevel})
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

func (s *slogSink) Error(err error, msg string, kv ...any) {
	s.l.Log(context.Background(), s.errLevel, s.name+msg, append(kv, "err", err)...)
}

func (s *slogSink) WithValues(kv ...any) logr.LogSink {
	return &slogSink{l: s.l.With(kv...), name: s.name, errLevel: s.errLevel}
}

func (s *slogSink) WithName(name string) logr.LogSink {
	return &slogSink{l: s.l, name: s.name + name + ": ", errLevel: s.errLevel}
}

package metrics

import (
	"context"
	"log/slog"
	"strings"
)

// libovsdb (v0.7.0, client/client.go) logs these when its connection to
// ovsdb-server drops and when it is back with its monitors restored. Its
// client is wrapped by package ovsdb without a state accessor, so the
// daemon's OVSDB state is read from these lines; TestOVSDBLog pins them.
const (
	ovsdbLostMsg        = "connection lost, reconnecting"
	ovsdbReconnectedMsg = "reconnected - restarting monitors"
)

// WatchOVSDB wraps the handler of the logger given to the daemon's OVSDB
// client: libovsdb's connection messages set vpcctl_ovsdb_connected and
// count reconnects. libovsdb logs them at debug level (logr V(3)), so the
// wrapper lets debug records through to itself and passes on only those
// the wrapped handler wants. With a nil Metrics it returns h.
func (m *Metrics) WatchOVSDB(h slog.Handler) slog.Handler {
	if m == nil {
		return h
	}
	return ovsdbWatch{h, m}
}

type ovsdbWatch struct {
	slog.Handler
	m *Metrics
}

func (w ovsdbWatch) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug || w.Handler.Enabled(ctx, l)
}

func (w ovsdbWatch) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case strings.HasSuffix(r.Message, ovsdbLostMsg):
		w.m.OVSDBConnected(false, false)
	case strings.HasSuffix(r.Message, ovsdbReconnectedMsg):
		w.m.OVSDBConnected(true, true)
	}
	if !w.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return w.Handler.Handle(ctx, r)
}

func (w ovsdbWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return ovsdbWatch{w.Handler.WithAttrs(as), w.m}
}

func (w ovsdbWatch) WithGroup(name string) slog.Handler {
	return ovsdbWatch{w.Handler.WithGroup(name), w.m}
}

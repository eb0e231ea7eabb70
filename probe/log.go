package probe

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// logBuffer collects one probe's own log lines for the status page.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// logCut ends a probe's log that reached maxProbeLog.
const logCut = "[the rest of this probe's log is cut]\n"

// Write keeps the first maxProbeLog bytes of the probe's log: what a
// server sends is cut where it is read, and this bounds the rest.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := maxProbeLog - b.buf.Len()
	switch {
	case room <= 0:
	case len(p) <= room:
		b.buf.Write(p)
	default:
		b.buf.Write(p[:room])
		b.buf.WriteString("\n" + logCut)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// teeHandler sends every record to the process log and to the probe's own
// buffer, which records debug lines whatever the process log level is.
type teeHandler struct {
	main, probe slog.Handler
}

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.main.Enabled(ctx, l) || h.probe.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.main.Enabled(ctx, r.Level) {
		if err := h.main.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return h.probe.Handle(ctx, r)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.main.WithAttrs(as), h.probe.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.main.WithGroup(name), h.probe.WithGroup(name)}
}

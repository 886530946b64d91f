// Package logbuf owns how metrod's log lines reach stderr: routine lines
// are gathered and written together, at most Interval after the first of
// them, instead of one write(2) each; a line at or above the urgent level
// (warnings, errors) is written at once, after everything before it, so
// nothing that matters waits and the order of lines is kept.
//
// A busy responder logs one line per IKE SA it sets up; written one by
// one, those writes cost about as much as a tenth of the handshake's
// cryptography. The price is that routine lines of the last Interval are
// lost if the process is killed (SIGKILL, OOM); a Go panic prints through
// the runtime, not through this buffer, and metrod flushes on exit.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Interval is the longest a routine line waits in the buffer.
const Interval = 50 * time.Millisecond

// maxBuffered makes a write flush at once when this much is waiting.
const maxBuffered = 64 << 10

// Writer buffers whole lines for w. It is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer // pending flush, nil when the buffer is empty
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write queues p (one log record, as slog handlers write them) and
// arranges for it to be written within Interval.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= maxBuffered {
		return len(p), b.flushLocked()
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(Interval, func() { _ = b.Flush() })
	}
	return len(p), nil
}

// Flush writes what is buffered now. A failed write drops that batch and
// is returned; later lines are written as usual (a daemon must not go
// silent for good because its stderr failed once, say on a full disk).
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *Writer) flushLocked() error {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0] // kept for the next batch (at most 2*maxBuffered)
	if cap(b.buf) > 2*maxBuffered {
		b.buf = nil // an unusually long record grew it: let it go
	}
	return err
}

// Handler wraps a handler that writes to a Writer: records at or above
// urgent are flushed at once.
type Handler struct {
	inner  slog.Handler
	w      *Writer
	urgent slog.Level
}

// NewHandler returns a Handler around inner, which must write to w.
func NewHandler(inner slog.Handler, w *Writer, urgent slog.Level) *Handler {
	return &Handler{inner: inner, w: w, urgent: urgent}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.inner.Handle(ctx, r)
	if r.Level >= h.urgent {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), w: h.w, urgent: h.urgent}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), w: h.w, urgent: h.urgent}
}

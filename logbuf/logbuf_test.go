package logbuf

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder counts write calls and keeps what was written.
type recorder struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) state() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes, r.buf.String()
}

func newLogger(rec *recorder) (*slog.Logger, *Writer) {
	w := NewWriter(rec)
	text := slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
	return slog.New(NewHandler(text, w, slog.LevelWarn)), w
}

func TestRoutineLinesBatchedWithinInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		log, _ := newLogger(rec)
		for i := range 100 {
			log.Info("IKE SA established", "n", i)
		}
		if n, _ := rec.state(); n != 0 {
			t.Fatalf("%d writes before the interval, want 0", n)
		}
		time.Sleep(Interval)
		synctest.Wait()
		n, out := rec.state()
		if n != 1 {
			t.Fatalf("%d writes after the interval, want 1 for 100 lines", n)
		}
		if lines := strings.Count(out, "\n"); lines != 100 || !strings.Contains(out, "n=0\n") || !strings.HasSuffix(out, "n=99\n") {
			t.Fatalf("%d lines, in order? %q...", lines, out[:80])
		}
		// Nothing left: no further write.
		time.Sleep(10 * Interval)
		synctest.Wait()
		if n, _ := rec.state(); n != 1 {
			t.Fatalf("%d writes once idle, want still 1", n)
		}
	})
}

func TestWarningFlushesAtOnceInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		log, _ := newLogger(rec)
		log.Info("first")
		log.Warn("authentication failed", "peer", "192.0.2.1")
		n, out := rec.state()
		if n != 1 || out != "level=INFO msg=first\nlevel=WARN msg=\"authentication failed\" peer=192.0.2.1\n" {
			t.Fatalf("after a warning: %d writes, %q", n, out)
		}
		log.Info("after")
		log.Error("boom")
		if _, out := rec.state(); !strings.HasSuffix(out, "msg=after\nlevel=ERROR msg=boom\n") {
			t.Fatalf("error not written at once after the line before it: %q", out)
		}
	})
}

func TestFlushAndLargeBurst(t *testing.T) {
	rec := &recorder{}
	log, w := newLogger(rec)
	log.Info("pending")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, out := rec.state(); n != 1 || out != "level=INFO msg=pending\n" {
		t.Fatalf("Flush: %d writes, %q", n, out)
	}
	big := strings.Repeat("x", 1000)
	for range 100 { // 100 KB: past maxBuffered, written without waiting
		log.Info(big)
	}
	if n, _ := rec.state(); n < 2 {
		t.Fatalf("a 100 KB burst waited for the timer (%d writes)", n)
	}
	_ = w.Flush()
	if _, out := rec.state(); strings.Count(out, "\n") != 101 {
		t.Fatalf("lines lost in the burst: %d", strings.Count(out, "\n"))
	}
}

func TestWriteErrorIsReported(t *testing.T) {
	rec := &recorder{err: errors.New("stderr closed")}
	w := NewWriter(rec)
	if _, err := w.Write([]byte("a\n")); err != nil {
		t.Fatalf("buffered write failed early: %v", err)
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "stderr closed") {
		t.Fatalf("Flush error %v", err)
	}
	// The failed batch is dropped; the writer does not give up for good
	// (a full disk frees up, say): later lines, warnings and errors
	// included, are written once stderr takes them again.
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	if _, err := w.Write([]byte("b\n")); err != nil {
		t.Fatalf("write after a failed flush: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush once stderr works again: %v", err)
	}
	if _, out := rec.state(); out != "b\n" {
		t.Fatalf("after the error: %q written, want only the new line", out)
	}
}

func TestWithAttrsKeepsUrgentFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		log, _ := newLogger(rec)
		peerLog := log.With("peer", "192.0.2.7").WithGroup("g")
		peerLog.Warn("dead peer")
		if _, out := rec.state(); out != "level=WARN msg=\"dead peer\" peer=192.0.2.7\n" {
			t.Fatalf("warning through With/WithGroup not flushed: %q", out)
		}
	})
}

package xfrm

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// logBuffer collects log output so tests can check what was (not) logged.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testLogger logs at debug level through t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// gcmSA is a valid inbound AES-GCM state from src to dst.
func gcmSA(src, dst netip.Addr, spi uint32) SA {
	return SA{
		Src: src, Dst: dst, SPI: spi, Reqid: ReqidBase + 1,
		AEAD:         &Algo{Name: "rfc4106(gcm(aes))", Key: bytes.Repeat([]byte{0xa5}, 20), ICVBits: 128},
		ReplayWindow: 64,
	}
}

// cbcSA is a valid AES-CBC + HMAC-SHA256 state.
func cbcSA(src, dst netip.Addr, spi uint32) SA {
	return SA{
		Src: src, Dst: dst, SPI: spi, Reqid: ReqidBase + 2,
		Crypt: &Algo{Name: "cbc(aes)", Key: bytes.Repeat([]byte{0x11}, 16)},
		Auth:  &Algo{Name: "hmac(sha256)", Key: bytes.Repeat([]byte{0x22}, 32), TruncBits: 128},
	}
}

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitFor polls cond every 50 ms until it holds, failing the test after
// timeout with a message naming what was awaited.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("e2e: timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// socket states in /proc/net/{tcp,udp}[6].
const (
	tcpListen = "0A"
	udpClose  = "07" // an unconnected bound UDP socket
)

// Listening reports whether a socket in the host's namespace listens on
// port: a TCP socket in LISTEN state, or a bound UDP socket (proto "udp").
func (h *Host) Listening(t testing.TB, proto string, port int) bool {
	t.Helper()
	state := tcpListen
	if proto == "udp" {
		state = udpClose
	}
	out, err := h.TryRun(t, "cat", "/proc/net/"+proto, "/proc/net/"+proto+"6")
	if err != nil {
		t.Fatalf("e2e: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != state {
			continue
		}
		_, p, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(p, 16, 16); err == nil && int(n) == port {
			return true
		}
	}
	return false
}

// WaitListen waits up to 30 s until Listening(proto, port) holds.
func (h *Host) WaitListen(t testing.TB, proto string, port int) {
	t.Helper()
	WaitFor(t, 30*time.Second, fmt.Sprintf("%s port %d to listen in %s", proto, port, h.Name),
		func() bool { return h.Listening(t, proto, port) })
}

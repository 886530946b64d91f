package e2e

import (
	"net/netip"
	"strconv"
	"testing"
)

// Ping sends count echo requests from the host to dst with busybox ping
// (there is no other ping on the bed) and returns its output; it fails
// unless every request was answered.
func (h *Host) Ping(t testing.TB, dst netip.Addr, count int) (string, error) {
	t.Helper()
	return h.TryRun(t, "busybox", "ping", "-c", strconv.Itoa(count), "-i", "0.2",
		"-W", "2", "-w", strconv.Itoa(count+5), "-q", dst.String())
}

// MustPing is Ping that fails the test on error.
func (h *Host) MustPing(t testing.TB, dst netip.Addr, count int) {
	t.Helper()
	if out, err := h.Ping(t, dst, count); err != nil {
		t.Fatalf("e2e: ping %s -> %s: %v\n%s", h.Name, dst, err, out)
	}
}

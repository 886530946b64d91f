package e2e

import (
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// ListenUDP opens a UDP socket on port inside the host's namespace (busybox
// nc has no UDP mode). It is closed at cleanup.
func (h *Host) ListenUDP(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	type result struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread stays in the namespace and dies with
		// this goroutine; the socket keeps the namespace it was made in.
		runtime.LockOSThread()
		ns, err := netns.GetFromName(h.Name)
		if err != nil {
			ch <- result{err: fmt.Errorf("netns %s: %w", h.Name, err)}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			ch <- result{err: fmt.Errorf("entering netns %s: %w", h.Name, err)}
			return
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("e2e: UDP socket in %s: %v", h.Name, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

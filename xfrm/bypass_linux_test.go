//go:build linux

package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// udpSocket binds a UDP socket to addr, bypassed if asked.
func udpSocket(t *testing.T, addr netip.Addr, bypass bool) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if bypass {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		if err := BypassSocket(rc, addr.Is6()); err != nil {
			t.Fatalf("BypassSocket(%v): %v", addr, err)
		}
	}
	return c
}

// delivered sends a datagram from one socket to the other and reports
// whether it arrived.
func delivered(t *testing.T, from, to *net.UDPConn) bool {
	t.Helper()
	msg := fmt.Appendf(nil, "probe %d", time.Now().UnixNano())
	_, _ = from.WriteToUDPAddrPort(msg, to.LocalAddr().(*net.UDPAddr).AddrPort()) // a drop may or may not be an error
	buf := make([]byte, 64)
	to.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		n, _, err := to.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false
			}
			t.Fatal(err)
		}
		if string(buf[:n]) == string(msg) {
			return true
		}
	}
}

// TestBypassSocket checks that socket bypass policies exempt a socket's
// traffic from the protecting policies in both directions, while other
// sockets' traffic between the same hosts is held back (no ESP state).
func TestBypassSocket(t *testing.T) {
	inFreshNetns(t)
	n := newTestNetlink(t)
	for _, pair := range [][2]netip.Addr{{testV4a, testV4b}, {testV6a, testV6b}} {
		// No t.Run: a subtest runs on another goroutine, outside the
		// namespace this thread is locked into.
		a, b := pair[0], pair[1]
		{
			// Both hosts share this stack: a's Out policy catches a->b on
			// output, b's In policy on input.
			for _, p := range append(ProtectPolicies(a, b, ReqidBase+1), ProtectPolicies(b, a, ReqidBase+1)...) {
				if err := n.SetPolicy(p); err != nil {
					t.Fatal(err)
				}
			}
			sendBypass, recvBypass := udpSocket(t, a, true), udpSocket(t, b, true)
			sendPlain, recvPlain := udpSocket(t, a, false), udpSocket(t, b, false)
			if delivered(t, sendPlain, recvPlain) {
				t.Errorf("%v: plain -> plain: delivered in clear despite the policies", a)
			}
			if !delivered(t, sendBypass, recvBypass) {
				t.Errorf("%v: bypassed -> bypassed: not delivered", a)
			}
			if delivered(t, sendPlain, recvBypass) {
				t.Errorf("%v: plain -> bypassed: delivered in clear despite the Out policy", a)
			}
			if delivered(t, sendBypass, recvPlain) {
				t.Errorf("%v: bypassed -> plain: delivered in clear despite the In policy", a)
			}
		}
	}
}

func TestBypassSocketWrongFamily(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skip(err)
	}
	defer c.Close()
	rc, _ := c.SyscallConn()
	if err := BypassSocket(rc, true); err == nil {
		t.Error("IPV6_XFRM_POLICY on an IPv4 socket succeeded")
	}
}

// TestMonitorAcquire sends traffic that matches a protecting policy with
// no state and expects the kernel's ACQUIRE, parsed, on the channel.
func TestMonitorAcquire(t *testing.T) {
	ns := inFreshNetns(t)
	n := newTestNetlink(t)
	cases := []struct {
		a, b  netip.Addr
		reqid uint32
	}{{testV4a, testV4b, ReqidBase + 5}, {testV6a, testV6b, ReqidBase + 6}}
	for _, c := range cases {
		for _, p := range ProtectPolicies(c.a, c.b, c.reqid) {
			if err := n.SetPolicy(p); err != nil {
				t.Fatal(err)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 64)
	done := make(chan error, 1)
	go func() {
		if err := joinNetns(ns); err != nil {
			done <- err
			return
		}
		done <- Monitor(ctx, testLogger(t), events)
	}()

	for _, c := range cases {
		// The monitor subscribes asynchronously, and the kernel sends one
		// ACQUIRE per flow: send to new ports until one is reported.
		s := udpSocket(t, c.a, false)
		got := false
		deadline := time.Now().Add(5 * time.Second)
		for port := uint16(40000); !got && time.Now().Before(deadline); port++ {
			_, _ = s.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(c.b, port))
			select {
			case ev := <-events:
				want := Event{Kind: Acquire, Src: c.a, Dst: c.b, Reqid: c.reqid}
				if ev != want {
					t.Fatalf("event %+v, want %+v", ev, want)
				}
				got = true
			case err := <-done:
				t.Fatalf("Monitor returned early: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		if !got {
			t.Fatalf("no ACQUIRE for %v->%v", c.a, c.b)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Monitor after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Monitor did not return after cancel")
	}
}

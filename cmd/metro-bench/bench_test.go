package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"metro/auth"
	"metro/ike"
	"metro/xfrm"
)

// responderConn is a one-socket ike.Transport for an in-process responder.
type responderConn struct{ c *net.UDPConn }

func (r responderConn) Send(b []byte, _, remote netip.AddrPort) error {
	_, err := r.c.WriteToUDPAddrPort(b, remote)
	return err
}

// startResponder runs an ike.Node on 127.0.1.9 (below the initiators, so crossed initiations go their way) with the given peers and
// returns its address.
func startResponder(t *testing.T, ctx context.Context, peers []netip.Addr, key string) (netip.AddrPort, *xfrm.Memory) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.1.9:0")))
	if err != nil {
		t.Skipf("cannot bind 127.0.1.9: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	la := c.LocalAddr().(*net.UDPAddr).AddrPort()
	la = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	k := xfrm.NewMemory(nil)
	node := ike.NewNode(ike.Config{Kernel: k, Transport: responderConn{c}, Port: la.Port()})
	t.Cleanup(func() { node.Close(context.Background()) })
	for i, p := range peers {
		if err := node.AddPeer(ctx, ike.PeerConfig{Local: la.Addr(), Remote: p, PSK: auth.Secret(key), Reqid: xfrm.ReqidBase + 1 + uint32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Error(err)
				}
				return
			}
			node.Receive(append([]byte(nil), buf[:n]...), la, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
		}
	}()
	return la, k
}

func TestRunAgainstMetroResponder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 24
	src := netip.MustParseAddr("127.0.2.1")
	var peers []netip.Addr
	for a, i := src, 0; i < n; a, i = a.Next(), i+1 {
		peers = append(peers, a)
	}
	target, kernel := startResponder(t, ctx, peers, "correct horse battery staple")
	res, err := run(ctx, options{
		Target: target, LocalPort: target.Port(), Src: src, N: n, C: 6,
		PSK: auth.Secret("correct horse battery staple"), Timeout: 20 * time.Second, Deadline: 50 * time.Second,
		PID: 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Established != n || res.Failed != 0 {
		t.Fatalf("established %d, failed %d (%+v), want %d established", res.Established, res.Failed, res.Failures, n)
	}
	if res.SetupsPerSec <= 0 || res.P50MS <= 0 || res.P99MS < res.P50MS || res.MaxMS < res.P99MS {
		t.Errorf("implausible figures: %+v", res)
	}
	t.Logf("%+v", res)
	// The generator closed its SAs (DELETE): the responder drops their states.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if sas, _ := kernel.SAs(); len(sas) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	sas, _ := kernel.SAs()
	t.Errorf("responder still has %d ESP states after the generator closed its SAs", len(sas))
}

func TestRunCountsFailuresByReason(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := netip.MustParseAddr("127.0.3.1")
	target, _ := startResponder(t, ctx, []netip.Addr{src, src.Next()}, "the responder's key")
	res, err := run(ctx, options{
		Target: target, LocalPort: target.Port(), Src: src, N: 2, C: 2,
		PSK: auth.Secret("another key"), Timeout: 20 * time.Second, Deadline: 50 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Established != 0 || res.Failed != 2 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reason, "AUTHENTICATION_FAILED") && !strings.Contains(res.Failures[0].Reason, "authentication") {
		t.Fatalf("got %+v, want 2 authentication failures", res)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	_, err := run(context.Background(), options{Target: netip.MustParseAddrPort("192.0.2.1:500"), Src: netip.MustParseAddr("127.0.2.1"), N: 1, C: 1})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v, want a refusal of non-loopback addresses", err)
	}
}

func TestPercentileAndVmRSS(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p90, p99, pmax := latencySummary(lat)
	if p50 != 50*time.Millisecond || p90 != 90*time.Millisecond || p99 != 99*time.Millisecond || pmax != 100*time.Millisecond {
		t.Errorf("percentiles %v %v %v %v, want 50/90/99/100 ms", p50, p90, p99, pmax)
	}
	rss, err := parseVmRSS([]byte("Name:\tx\nVmRSS:\t   2048 kB\nVmSwap: 0 kB\n"))
	if err != nil || rss != 2048*1024 {
		t.Errorf("parseVmRSS = %d, %v", rss, err)
	}
	s, err := sampleProc(1)
	if err != nil || s.RSS <= 0 {
		t.Errorf("sampleProc(1) = %+v, %v", s, err)
	}
}

package ike

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"metro/auth"
	"metro/xfrm"
)

// BenchmarkSetup is one complete IKE SA + CHILD_SA setup between two nodes
// in this process (memory kernels, datagrams handed over in memory, info
// logging to a discarding handler), the initiator's and the responder's
// work together. Each iteration configures a new initiator address, so
// every setup has its own peer, SPIs and nonces, as in metro-bench. Its
// allocations per op are those of both sides of a handshake; compare
// with BenchmarkResponderHandshakeCrypto (times two, roughly) for the
// share of the cryptography.
func BenchmarkSetup(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	net := &benchNet{nodes: map[netip.Addr]*Node{}}
	done := make(chan PeerEvent, 1)
	resp := NewNode(Config{Log: log, Kernel: xfrm.NewMemory(log), Transport: net, OnDemand: true,
		OnPeerEvent: func(ev PeerEvent) { done <- ev }})
	init := NewNode(Config{Log: log, Kernel: xfrm.NewMemory(log), Transport: net})
	respAddr := netip.MustParseAddr("10.1.0.1")
	net.nodes[respAddr] = resp
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := netip.MustParseAddr("10.2.0.1")
	psk := auth.Secret("a pre-shared key of reasonable length")
	reqid := xfrm.ReqidBase + 1
	for b.Loop() {
		b.StopTimer()
		a := addr
		addr = addr.Next()
		reqid++
		net.mu.Lock()
		net.nodes[a] = init
		net.mu.Unlock()
		if err := resp.AddPeer(ctx, PeerConfig{Local: respAddr, Remote: a, PSK: psk, Reqid: reqid}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := init.AddPeer(ctx, PeerConfig{Local: a, Remote: respAddr, PSK: psk, Reqid: reqid}); err != nil {
			b.Fatal(err)
		}
		select {
		case ev := <-done:
			if !ev.Established {
				b.Fatalf("setup with %s failed: %s", a, ev.Err)
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("no setup with %s within 10 s", a)
		}
	}
}

// benchNet hands each datagram to the destination node on a goroutine of
// its own, as a socket's read loop would, copying it as the read loop does
// (memNet also records every datagram, which a benchmark must not).
type benchNet struct {
	mu    sync.Mutex
	nodes map[netip.Addr]*Node
}

func (n *benchNet) Send(b []byte, local, remote netip.AddrPort) error {
	n.mu.Lock()
	dst := n.nodes[remote.Addr()]
	n.mu.Unlock()
	if dst == nil {
		return nil
	}
	c := append([]byte(nil), b...)
	go dst.Receive(c, remote, local)
	return nil
}

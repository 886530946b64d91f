package ike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"metro/auth"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"metro/ike/wire"
	"metro/xfrm"
)

// nullTransport loses every datagram: a peer's exchanges never get an
// answer and run through their retransmissions.
type nullTransport struct{}

func (nullTransport) Send([]byte, netip.AddrPort, netip.AddrPort) error { return nil }

// collected reports whether the object behind w is gone after a few
// garbage collections.
func collected[T any](w weak.Pointer[T]) bool {
	for range 5 {
		runtime.GC()
		if w.Value() == nil {
			return true
		}
	}
	return false
}

// TestRemovedPeerIsCollected: a peer that RemovePeer or Close stopped is
// garbage once the node forgets it, even while the context given to
// AddPeer lives on (the daemon's runCtx lives as long as the process; a
// reload removes and re-adds peers with it). The context.AfterFunc that
// posts evClose must not keep it.
func TestRemovedPeerIsCollected(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	local, remote := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	n := NewNode(Config{Kernel: xfrm.NewMemory(nil), Transport: nullTransport{}, OnDemand: true})
	if err := n.AddPeer(ctx, PeerConfig{Local: local, Remote: remote, Reqid: xfrm.ReqidBase + 1}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	w := weak.Make(n.peers[pairKey{local, remote}])
	n.mu.Unlock()
	if err := n.RemovePeer(ctx, local, remote, true); err != nil {
		t.Fatal(err)
	}
	if !collected(w) {
		t.Errorf("RemovePeer: the removed peer is still reachable while the AddPeer context lives")
	}

	// Close: the node is dropped by its user, the context lives on.
	n = NewNode(Config{Kernel: xfrm.NewMemory(nil), Transport: nullTransport{}, OnDemand: true})
	if err := n.AddPeer(ctx, PeerConfig{Local: local, Remote: remote, Reqid: xfrm.ReqidBase + 1}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	w = weak.Make(n.peers[pairKey{local, remote}])
	n.mu.Unlock()
	n.Close(ctx)
	n = nil
	if !collected(w) {
		t.Errorf("Close: the closed node's peer is still reachable while the AddPeer context lives")
	}
}

// unknownSARecorder is a slog handler that records the "request for an
// unknown IKE SA" lines a peer logs, by their SPIs.
type unknownSARecorder struct {
	mu      *sync.Mutex
	seen    *[][2]uint64   // spi_i, spi_r in the order handled
	count   map[uint64]int // handled, by spi_i
	retrans *int           // "retransmitting" lines: exchanges ran
	cond    *sync.Cond
}

func (h unknownSARecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h unknownSARecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h unknownSARecorder) WithGroup(string) slog.Handler            { return h }
func (h unknownSARecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "retransmitting" {
		h.mu.Lock()
		*h.retrans++
		h.mu.Unlock()
	}
	if r.Message != "request for an unknown IKE SA" {
		return nil
	}
	var spis [2]uint64
	r.Attrs(func(a slog.Attr) bool {
		var i int
		switch a.Key {
		case "spi_i":
			i = 0
		case "spi_r":
			i = 1
		default:
			return true
		}
		v, err := strconv.ParseUint(a.Value.String(), 16, 64)
		if err != nil {
			panic(fmt.Sprintf("log attribute %s=%q: %v", a.Key, a.Value, err))
		}
		spis[i] = v
		return true
	})
	h.mu.Lock()
	*h.seen = append(*h.seen, spis)
	h.count[spis[0]]++
	h.mu.Unlock()
	h.cond.Broadcast()
	return nil
}

// TestPostHammer posts events to one peer from many goroutines while the
// peer runs exchanges (IKE_SA_INIT retransmitted to a host that never
// answers, failure, retry, again) and goes idle between them (its
// goroutine ends and a post starts another). Every datagram must be
// handled exactly once, each poster's in the order posted. Run with -race:
// two goroutines handling the peer at once would be a data race.
func TestPostHammer(t *testing.T) {
	const (
		posters = 16
		each    = 1500
		window  = 3 // datagrams a poster has in the queue at most (16*3 < maxQueuedDatagrams)
	)
	var (
		mu      sync.Mutex
		seen    [][2]uint64
		retrans int
	)
	rec := unknownSARecorder{mu: &mu, seen: &seen, count: map[uint64]int{}, retrans: &retrans, cond: sync.NewCond(&mu)}
	n := NewNode(Config{
		Log:             slog.New(rec),
		Kernel:          xfrm.NewMemory(nil),
		Transport:       nullTransport{},
		RetransmitBase:  200 * time.Microsecond,
		RetransmitTries: 3,
		RetryMin:        100 * time.Microsecond,
		RetryMax:        time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := addOnePeer(t, ctx, n)

	// handled[i] is how many of poster i's datagrams the peer has handled.
	handled := func(i int) int { return rec.count[uint64(i+1)<<32] }
	var wg sync.WaitGroup
	for i := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range each {
				// Keep at most window datagrams queued, so none is
				// dropped for a full queue.
				mu.Lock()
				for seq-handled(i) >= window {
					rec.cond.Wait()
				}
				mu.Unlock()
				// A request on an IKE SA the peer does not have: logged
				// with its SPIs, which name the poster and the sequence.
				m := &wire.Message{Header: wire.Header{
					SPIi: uint64(i+1) << 32, SPIr: uint64(seq + 1), Version: 0x20,
					Exchange: wire.INFORMATIONAL, Flags: wire.FlagInitiator, MessageID: 1,
				}}
				p.post(evPacket{msg: m, from: netip.AddrPortFrom(p.cfg.Remote, 500), to: netip.AddrPortFrom(p.cfg.Local, 500)})
				// Timer and kernel events, which are never dropped, in
				// between: stale timers, and soft expiries of no SA.
				switch seq % 3 {
				case 0:
					p.post(evTimer{})
				case 1:
					p.post(evKernel{ev: xfrm.Event{Kind: xfrm.SoftExpire, Src: p.cfg.Local, Dst: p.cfg.Remote, SPI: uint32(seq)}})
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		got := len(seen)
		rec.cond.Broadcast()
		mu.Unlock()
		t.Fatalf("posters stuck: %d of %d datagrams handled (an event was lost or a wake-up missed)", got, posters*each)
	}
	// Wait for the last datagrams.
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got >= posters*each || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
	defer ccancel()
	n.Close(cctx)
	select {
	case <-p.done:
	default:
		t.Fatal("Close returned before the peer finished")
	}

	mu.Lock()
	defer mu.Unlock()
	next := make([]int, posters)
	for _, s := range seen {
		i := int(s[0]>>32) - 1
		if i < 0 || i >= posters || s[0]&0xffffffff != 0 {
			t.Fatalf("handled a datagram nobody posted: spi_i %016x", s[0])
		}
		if got := int(s[1]) - 1; got != next[i] {
			t.Fatalf("poster %d: handled datagram %d, want %d (lost, repeated or reordered)", i, got, next[i])
		}
		next[i]++
	}
	for i, c := range next {
		if c != each {
			t.Errorf("poster %d: %d of %d datagrams handled", i, c, each)
		}
	}
	if retrans == 0 {
		t.Error("the peer ran no exchange while the datagrams came (no retransmission logged)")
	}
}

// TestPostWakesPeer: an event posted while the peer waits inside an
// exchange is handled at once (not at the next retransmission timer), and
// one posted to an idle peer, which has no goroutine, starts one that
// handles it and then ends. Time stands still in the bubble: only a
// wake-up can get the datagram handled.
func TestPostWakesPeer(t *testing.T) {
	for _, onDemand := range []bool{false, true} {
		t.Run(fmt.Sprintf("onDemand=%v", onDemand), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var (
					mu      sync.Mutex
					seen    [][2]uint64
					retrans int
				)
				rec := unknownSARecorder{mu: &mu, seen: &seen, count: map[uint64]int{}, retrans: &retrans, cond: sync.NewCond(&mu)}
				n := NewNode(Config{Log: slog.New(rec), Kernel: xfrm.NewMemory(nil), Transport: nullTransport{},
					RetransmitBase: time.Hour, OnDemand: onDemand})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				p := addOnePeer(t, ctx, n)
				synctest.Wait() // in IKE_SA_INIT (connect), or idle (on demand)
				p.qmu.Lock()
				running := p.running
				p.qmu.Unlock()
				if running != !onDemand {
					t.Fatalf("before the datagram: peer goroutine running %v, want %v", running, !onDemand)
				}
				start := time.Now()
				for seq := range 3 {
					m := &wire.Message{Header: wire.Header{SPIi: 1 << 32, SPIr: uint64(seq + 1), Version: 0x20,
						Exchange: wire.INFORMATIONAL, Flags: wire.FlagInitiator, MessageID: 1}}
					p.post(evPacket{msg: m, from: netip.AddrPortFrom(p.cfg.Remote, 500), to: netip.AddrPortFrom(p.cfg.Local, 500)})
					synctest.Wait()
					mu.Lock()
					got := len(seen)
					mu.Unlock()
					if got != seq+1 {
						t.Fatalf("datagram %d posted: %d handled, want %d (lost wake-up)", seq, got, seq+1)
					}
				}
				if !time.Now().Equal(start) {
					t.Fatalf("time moved by %v", time.Since(start))
				}
				p.qmu.Lock()
				running = p.running
				p.qmu.Unlock()
				if running != !onDemand {
					t.Fatalf("after the datagrams: peer goroutine running %v, want %v (still in the exchange / gone when idle)", running, !onDemand)
				}
				cancel()
				synctest.Wait()
				select {
				case <-p.done:
				default:
					t.Fatal("the context ended, the peer did not finish")
				}
			})
		})
	}
}

// TestRemovePeerAfterClose: metro-bench removes peers while the node is
// closing; RemovePeer must not trip over the AfterFunc stops Close took.
func TestRemovePeerAfterClose(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	n := NewNode(Config{Log: log, Kernel: xfrm.NewMemory(log), Transport: &memNet{}, OnDemand: true})
	local, remote := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	if err := n.AddPeer(context.Background(), PeerConfig{Local: local, Remote: remote, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
		t.Fatal(err)
	}
	n.Close(context.Background())
	if err := n.RemovePeer(context.Background(), local, remote, true); err != nil {
		t.Fatalf("RemovePeer after Close: %v", err)
	}
}

// blockingKernel holds DeleteSA until release is closed.
type blockingKernel struct {
	*xfrm.Memory
	release chan struct{}
}

func (k blockingKernel) DeleteSA(dst netip.Addr, spi uint32) error {
	<-k.release
	return k.Memory.DeleteSA(dst, spi)
}

// TestCloseWaitsForLeavingPeer: a peer whose RemovePeer gave up waiting (its
// shutdown is stuck in a kernel call) is still waited for by Close, and
// leaves the node's books once it finished.
func TestCloseWaitsForLeavingPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{})
		connect(t, ctx, a, b, "k", "k")
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		release := make(chan struct{})
		a.node.cfg.Kernel = blockingKernel{a.kernel, release}

		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		err := a.node.RemovePeer(rctx, a.addr, b.addr, false)
		rcancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RemovePeer with a stuck kernel: %v, want the deadline", err)
		}
		closed := make(chan struct{})
		go func() {
			a.node.Close(ctx)
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a removed peer was still shutting down")
		default:
		}
		close(release)
		synctest.Wait()
		select {
		case <-closed:
		default:
			t.Fatal("Close did not return once the peer finished")
		}
		a.node.mu.Lock()
		left := len(a.node.leaving)
		a.node.mu.Unlock()
		if left != 0 {
			t.Errorf("%d peers still leaving after they finished", left)
		}
		b.node.Close(ctx)
	})
}

// addOnePeer adds the pair 10.0.0.1-10.0.0.2 to n and returns its peer.
func addOnePeer(t *testing.T, ctx context.Context, n *Node) *peer {
	t.Helper()
	local, remote := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	if err := n.AddPeer(ctx, PeerConfig{Local: local, Remote: remote, Reqid: xfrm.ReqidBase + 1}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[pairKey{local, remote}]
}

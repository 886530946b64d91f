package ike

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"metro/auth"
	"metro/ike/wire"
	"metro/xfrm"
)

// requestsFrom counts the IKE requests of exchange ex that from sent since
// message number since of net's log.
func requestsFrom(net *memNet, since int, from netip.Addr, ex wire.ExchangeType) int {
	n := 0
	for _, m := range net.messages()[since:] {
		h, err := wire.ParseHeader(m.b)
		if err == nil && m.from.Addr() == from && !h.IsResponse() && h.Exchange == ex {
			n++
		}
	}
	return n
}

// acquire raises a kernel ACQUIRE on h for traffic to remote, as the
// daemon's kernel monitor does when a packet meets the pair's policy
// without a state.
func acquire(h *testHost, remote netip.Addr) {
	h.node.KernelEvent(xfrm.Event{Kind: xfrm.Acquire, Src: h.addr, Dst: remote, Reqid: xfrm.ReqidBase + 1})
}

// onDemandPair starts on-demand hosts a (10.0.0.1, key "k") and b
// (10.0.0.2, key keyB) as each other's peers; stop ends them.
func onDemandPair(t *testing.T, keyB string) (ctx context.Context, net *memNet, a, b *testHost, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	net = &memNet{}
	a = newHost(t, net, "10.0.0.1", Config{OnDemand: true})
	b = newHost(t, net, "10.0.0.2", Config{OnDemand: true})
	connect(t, ctx, a, b, "k", keyB)
	return ctx, net, a, b, func() { finish(cancel, a, b) }
}

// TestOnDemandWaitsForAcquire: on-demand hosts install their policies and
// send nothing until traffic waits for an SA; the ACQUIRE then sets up the
// pair, the other on-demand host answering.
func TestOnDemandWaitsForAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, net, a, b, stop := onDemandPair(t, "k")
		defer stop()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if msgs := net.messages(); len(msgs) != 0 {
			t.Fatalf("on-demand hosts sent %d datagrams before any traffic", len(msgs))
		}
		for _, h := range []*testHost{a, b} {
			if pols, _ := h.kernel.Policies(); len(pols) != 2 {
				t.Errorf("host %s has %d policies before negotiating, want 2 (traffic blocked)", h.addr, len(pols))
			}
			if sas, _ := h.kernel.SAs(); len(sas) != 0 {
				t.Errorf("host %s has %d states before negotiating", h.addr, len(sas))
			}
			if ps := h.node.Peers(); len(ps) != 1 || ps[0].State != StateIdle || ps[0].IKE != nil || ps[0].LastError != "" {
				t.Errorf("host %s peers before negotiating: %+v", h.addr, ps)
			}
		}

		acquire(a, b.addr)
		pa := waitState(t, a, StateEstablished)
		pb := waitState(t, b, StateEstablished)
		checkPaired(t, a, b)
		if pa.IKE == nil || !pa.IKE.Initiator || pb.IKE == nil || pb.IKE.Initiator {
			t.Errorf("a should have initiated on its ACQUIRE and b answered: a %+v, b %+v", pa.IKE, pb.IKE)
		}
		if n := requestsFrom(net, 0, b.addr, wire.IKE_SA_INIT); n != 0 {
			t.Errorf("on-demand responder b sent %d IKE_SA_INIT requests", n)
		}
	})
}

// TestStartModeAfterPeerDelete: when the peer deletes the IKE SA, a
// connect host negotiates again by itself; an on-demand host stays quiet
// until the next ACQUIRE.
func TestStartModeAfterPeerDelete(t *testing.T) {
	for _, onDemand := range []bool{false, true} {
		name := "connect"
		if onDemand {
			name = "on-demand"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				net := &memNet{}
				a := newHost(t, net, "10.0.0.1", Config{OnDemand: onDemand})
				b := newHost(t, net, "10.0.0.2", Config{OnDemand: true})
				defer finish(cancel, a, b)
				connect(t, ctx, a, b, "k", "k")
				if onDemand {
					acquire(a, b.addr)
				}
				waitState(t, a, StateEstablished)
				waitState(t, b, StateEstablished)

				// b deletes the IKE SA and forgets a (its DELETE goes out).
				mark := len(net.messages())
				if err := b.node.RemovePeer(ctx, b.addr, a.addr, false); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				if !strings.Contains(a.log(), "peer deleted the IKE SA") {
					t.Fatalf("a never saw b's DELETE:\n%s", a.log())
				}
				if sas, _ := a.kernel.SAs(); len(sas) != 0 {
					t.Errorf("a kept %d states after the peer's DELETE", len(sas))
				}
				inits := requestsFrom(net, mark, a.addr, wire.IKE_SA_INIT)
				if !onDemand {
					// Connect: a retries on its own (b no longer knows
					// it, so each attempt fails and backs off).
					if inits == 0 {
						t.Fatalf("connect host a did not negotiate again after the peer's DELETE:\n%s", a.log())
					}
					if st := a.node.Peers()[0].State; st != StateConnecting && st != StateFailed {
						t.Errorf("connect host a's state after the DELETE: %q, want connecting or failed", st)
					}
					return
				}
				if inits != 0 {
					t.Fatalf("on-demand host a sent %d IKE_SA_INIT after the peer's DELETE, without traffic:\n%s", inits, a.log())
				}
				// A clean DELETE: idle again, no error to report.
				if ps := a.node.Peers(); ps[0].State != StateIdle || ps[0].LastError != "" || ps[0].IKE != nil {
					t.Errorf("a after the DELETE: %+v, want idle without an error", ps[0])
				}

				// b knows a again; the next packet a sends sets up the pair.
				if err := b.node.AddPeer(ctx, PeerConfig{Local: b.addr, Remote: a.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 7}); err != nil {
					t.Fatal(err)
				}
				acquire(a, b.addr)
				waitState(t, a, StateEstablished)
				waitState(t, b, StateEstablished)
				checkPaired(t, a, b)
				if n := requestsFrom(net, mark, a.addr, wire.IKE_SA_INIT); n != 1 {
					t.Errorf("a sent %d IKE_SA_INIT after the DELETE, want exactly the ACQUIRE's one", n)
				}
			})
		})
	}
}

// TestOnDemandNoRetryAfterFailureOrExpiry: a failed negotiation and a hard
// expiry are not followed by an attempt of an on-demand host's own; the
// next ACQUIRE starts one at once.
func TestOnDemandNoRetryAfterFailureOrExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Wrong key: the ACQUIRE's negotiation fails.
		ctx, net, a, b, stop := onDemandPair(t, "other")
		defer stop()
		acquire(a, b.addr)
		waitState(t, a, StateFailed)
		mark := len(net.messages())
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if n := requestsFrom(net, mark, a.addr, wire.IKE_SA_INIT) + requestsFrom(net, mark, b.addr, wire.IKE_SA_INIT); n != 0 {
			t.Fatalf("%d IKE_SA_INIT after a failed on-demand negotiation, without traffic:\n%s", n, a.log())
		}
		if ps := a.node.Peers(); ps[0].State != StateFailed || !strings.Contains(ps[0].LastError, "authentication failed") {
			t.Errorf("a after the failure: %+v", ps[0])
		}

		// The same key on both sides now; the next ACQUIRE negotiates.
		if err := b.node.RemovePeer(ctx, b.addr, a.addr, false); err != nil {
			t.Fatal(err)
		}
		if err := b.node.AddPeer(ctx, PeerConfig{Local: b.addr, Remote: a.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 7}); err != nil {
			t.Fatal(err)
		}
		acquire(a, b.addr)
		pa := waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)

		// Hard expiry of the CHILD_SA: a deletes the IKE SA, and neither
		// host negotiates again until traffic asks for it.
		mark = len(net.messages())
		a.node.KernelEvent(xfrm.Event{Kind: xfrm.HardExpire, Src: b.addr, Dst: a.addr, SPI: pa.Children[0].SPIIn, Reqid: xfrm.ReqidBase + 1})
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if sas, _ := b.kernel.SAs(); len(sas) != 0 {
			t.Errorf("b kept %d states after a deleted the expired SA", len(sas))
		}
		if n := requestsFrom(net, mark, a.addr, wire.IKE_SA_INIT) + requestsFrom(net, mark, b.addr, wire.IKE_SA_INIT); n != 0 {
			t.Fatalf("%d IKE_SA_INIT after a hard expiry, without traffic:\n%s", n, a.log())
		}
		if n := requestsFrom(net, mark, a.addr, wire.INFORMATIONAL); n != 1 {
			t.Errorf("a sent %d INFORMATIONAL requests after the hard expiry, want its one DELETE", n)
		}
		if ps := a.node.Peers(); ps[0].State != StateIdle || ps[0].LastError != "CHILD_SA expired" || ps[0].IKE != nil {
			t.Errorf("a after the hard expiry: %+v, want idle with the expiry as reason", ps[0])
		}
		if ps := b.node.Peers(); ps[0].State != StateIdle || ps[0].LastError != "" {
			t.Errorf("b after a's DELETE: %+v, want idle without an error", ps[0])
		}
		acquire(b, a.addr)
		pb := waitState(t, b, StateEstablished)
		waitState(t, a, StateEstablished)
		checkPaired(t, a, b)
		if pb.IKE == nil || !pb.IKE.Initiator {
			t.Errorf("b should have initiated on its ACQUIRE: %+v", pb.IKE)
		}
	})
}

// TestOnDemandStates follows an on-demand peer's state through a dead
// peer and a failed negotiation: idle with the reason once its SA is
// gone, connecting while the ACQUIRE's negotiation runs, failed with the
// reason afterwards, and it stays so (no attempt of its own).
func TestOnDemandStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		net := &memNet{}
		a := newHost(t, net, "10.0.0.1", Config{OnDemand: true, DPDInterval: 30 * time.Second})
		b := newHost(t, net, "10.0.0.2", Config{OnDemand: true})
		defer finish(cancel, a, b)
		connect(t, ctx, a, b, "k", "k")
		acquire(a, b.addr)
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)

		// b goes silent: a's liveness check gets no answer and a drops
		// the SA, then waits for traffic.
		net.mu.Lock()
		net.drop = func(_ []byte, from, _ netip.AddrPort) bool { return from.Addr() == b.addr }
		net.mu.Unlock()
		mark := len(net.messages())
		pa := waitState(t, a, StateIdle)
		if !strings.Contains(pa.LastError, "liveness") || pa.IKE != nil || len(pa.Children) != 0 {
			t.Errorf("a after its peer stopped answering: %+v, want idle, no SA, the liveness failure as reason", pa)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := requestsFrom(net, mark, a.addr, wire.IKE_SA_INIT); n != 0 {
			t.Fatalf("on-demand host a sent %d IKE_SA_INIT after a dead peer, without traffic", n)
		}
		if ps := a.node.Peers(); ps[0].State != StateIdle {
			t.Errorf("a 10 minutes after the dead peer: %+v, want idle", ps[0])
		}

		// Traffic: the ACQUIRE's negotiation shows as connecting while
		// it retransmits to the silent peer, then as failed with the
		// reason, which stays.
		acquire(a, b.addr)
		time.Sleep(2 * time.Second)
		if ps := a.node.Peers(); ps[0].State != StateConnecting {
			t.Errorf("a while negotiating on an ACQUIRE: %+v, want connecting", ps[0])
		}
		pa = waitState(t, a, StateFailed)
		if pa.LastError == "" {
			t.Errorf("a failed without a reason: %+v", pa)
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if ps := a.node.Peers(); ps[0].State != StateFailed || ps[0].LastError != pa.LastError || !ps[0].Since.Equal(pa.Since) {
			t.Errorf("a 30 minutes after the failure: %+v, want still failed since %v (%s)", ps[0], pa.Since, pa.LastError)
		}
	})
}

// TestConnectModeNeverIdle: a connect host starts connecting and is never
// idle, even after it loses its SA.
func TestConnectModeNeverIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		net := &memNet{}
		a := newHost(t, net, "10.0.0.1", Config{DPDInterval: 30 * time.Second})
		b := newHost(t, net, "10.0.0.2", Config{})
		defer finish(cancel, a, b)
		release := net.hold()
		if err := a.node.AddPeer(ctx, PeerConfig{Local: a.addr, Remote: b.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
			t.Fatal(err)
		}
		if ps := a.node.Peers(); ps[0].State != StateConnecting {
			t.Errorf("connect host a right after AddPeer: %q, want connecting", ps[0].State)
		}
		if err := b.node.AddPeer(ctx, PeerConfig{Local: b.addr, Remote: a.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 7}); err != nil {
			t.Fatal(err)
		}
		release()
		waitState(t, a, StateEstablished)
		net.mu.Lock()
		net.drop = func(_ []byte, from, _ netip.AddrPort) bool { return from.Addr() == b.addr }
		net.mu.Unlock()
		deadline := time.Now().Add(10 * time.Minute)
		lost := false
		for time.Now().Before(deadline) {
			ps := a.node.Peers()[0]
			if ps.State == StateIdle {
				t.Fatalf("connect host a became idle: %+v", ps)
			}
			lost = lost || ps.State != StateEstablished
			time.Sleep(500 * time.Millisecond)
		}
		if !lost {
			t.Fatalf("a never noticed its peer was dead:\n%s", a.log())
		}
	})
}

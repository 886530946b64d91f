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

// peerOf returns h's snapshot of its peer remote.
func peerOf(t *testing.T, h *testHost, remote netip.Addr) PeerInfo {
	t.Helper()
	for _, p := range h.node.Peers() {
		if p.Remote == remote {
			return p
		}
	}
	t.Fatalf("host %s has no peer %s", h.addr, remote)
	return PeerInfo{}
}

// waitPeer waits until h's peer remote satisfies ok.
func waitPeer(t *testing.T, h *testHost, remote netip.Addr, what string, ok func(PeerInfo) bool) PeerInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if p := peerOf(t, h, remote); ok(p) {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("host %s, peer %s: never %s: %+v\nlog:\n%s", h.addr, remote, what, peerOf(t, h, remote), h.log())
	return PeerInfo{}
}

// exchangedBetween counts the datagrams between x and y since mark.
func exchangedBetween(net *memNet, mark int, x, y netip.Addr) int {
	n := 0
	for _, m := range net.messages()[mark:] {
		f, to := m.from.Addr(), m.to.Addr()
		if f == x && to == y || f == y && to == x {
			n++
		}
	}
	return n
}

func established(p PeerInfo) bool { return p.State == StateEstablished && len(p.Children) == 1 }

// TestResyncRenegotiatesMissingChild: after lost kernel notifications, a
// connect-mode host whose CHILD_SA lost a kernel state (its hard expiry
// was not seen) deletes that IKE SA and negotiates a new one; the healthy
// CHILD_SA with another peer is untouched. The inbound state goes first,
// then the outbound one of the other peer.
func TestResyncRenegotiatesMissingChild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		net := &memNet{}
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{})
		c := newHost(t, net, "10.0.0.3", Config{})
		defer finish(cancel, a, b, c)
		release := net.hold()
		for _, pc := range []struct {
			h, o  *testHost
			reqid uint32
		}{{a, b, 1}, {a, c, 2}, {b, a, 1}, {c, a, 1}} {
			if err := pc.h.node.AddPeer(ctx, PeerConfig{Local: pc.h.addr, Remote: pc.o.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + pc.reqid}); err != nil {
				t.Fatal(err)
			}
		}
		release()
		ab := waitPeer(t, a, b.addr, "established", established)
		ac := waitPeer(t, a, c.addr, "established", established)
		waitState(t, b, StateEstablished)
		waitState(t, c, StateEstablished)

		// The inbound state of a's CHILD_SA with b goes behind metro's
		// back; the notification is lost.
		if err := a.kernel.DeleteSA(a.addr, ab.Children[0].SPIIn); err != nil {
			t.Fatal(err)
		}
		mark := len(net.messages())
		res := a.node.Resync(ctx)
		if want := (ResyncResult{Peers: 2, Checked: 2, Missing: 1}); res != want {
			t.Errorf("Resync: %+v, want %+v", res, want)
		}
		ab2 := waitPeer(t, a, b.addr, "established again", func(p PeerInfo) bool {
			return established(p) && p.Children[0].SPIIn != ab.Children[0].SPIIn
		})
		waitPeer(t, b, a.addr, "established again", func(p PeerInfo) bool {
			return established(p) && p.Children[0].SPIOut == ab2.Children[0].SPIIn
		})
		if n := requestsFrom(net, mark, a.addr, wire.INFORMATIONAL); n != 1 {
			t.Errorf("a sent %d INFORMATIONAL requests, want the DELETE of the broken IKE SA", n)
		}
		if _, ok := a.kernel.State(b.addr, ab.Children[0].SPIOut); ok {
			t.Errorf("the broken CHILD_SA's outbound state %08x stayed in a's kernel", ab.Children[0].SPIOut)
		}
		if _, ok := b.kernel.State(a.addr, ab.Children[0].SPIOut); ok {
			t.Errorf("b kept the inbound state %08x of the deleted CHILD_SA", ab.Children[0].SPIOut)
		}
		synctest.Wait()
		if ac2 := peerOf(t, a, c.addr); !established(ac2) || ac2.Children[0] != ac.Children[0] || ac2.IKE.SPIi != ac.IKE.SPIi {
			t.Errorf("the healthy CHILD_SA with c changed: %+v, was %+v", ac2, ac)
		}
		if n := exchangedBetween(net, mark, a.addr, c.addr); n != 0 {
			t.Errorf("%d datagrams between a and c after the resync, want none", n)
		}
		log := a.log()
		if want := "kernel notifications were lost (socket overflow): checked 2 CHILD_SAs against the kernel, 1 missing: renegotiating"; !strings.Contains(log, want) {
			t.Errorf("a's log lacks %q:\n%s", want, log)
		}
		if n := strings.Count(log, "level=WARN"); n != 1 {
			t.Errorf("%d warnings in a's log, want the one about the resync:\n%s", n, log)
		}

		// Now the outbound state of the CHILD_SA with c goes.
		if err := a.kernel.DeleteSA(c.addr, ac.Children[0].SPIOut); err != nil {
			t.Fatal(err)
		}
		mark = len(net.messages())
		if res := a.node.Resync(ctx); res.Checked != 2 || res.Missing != 1 || res.Busy != 0 {
			t.Errorf("second Resync: %+v, want 2 checked, 1 missing", res)
		}
		waitPeer(t, a, c.addr, "established again", func(p PeerInfo) bool {
			return established(p) && p.Children[0].SPIOut != ac.Children[0].SPIOut
		})
		synctest.Wait()
		if p := peerOf(t, a, b.addr); !established(p) || p.Children[0] != ab2.Children[0] {
			t.Errorf("the healthy CHILD_SA with b changed: %+v, was %+v", p, ab2)
		}
		if n := exchangedBetween(net, mark, a.addr, b.addr); n != 0 {
			t.Errorf("%d datagrams between a and b after the second resync, want none", n)
		}

		// Nothing missing: nothing done, and the warning says so.
		mark = len(net.messages())
		if res := a.node.Resync(ctx); res.Checked != 2 || res.Missing != 0 {
			t.Errorf("third Resync: %+v, want 2 checked, none missing", res)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(net.messages()) - mark; n != 0 {
			t.Errorf("%d datagrams after a resync that found nothing missing", n)
		}
		if want := "checked 2 CHILD_SAs against the kernel, none missing"; !strings.Contains(a.log(), want) {
			t.Errorf("a's log lacks %q", want)
		}
	})
}

// TestResyncOnDemand: on demand, a CHILD_SA found without its kernel
// state is removed as on a hard expiry and the peer goes idle, without
// negotiating until traffic (an ACQUIRE) asks for it.
func TestResyncOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, net, a, b, stop := onDemandPair(t, "k")
		defer stop()

		// No SA: nothing to check, nothing done (a lost ACQUIRE is
		// raised again by the kernel).
		mark := len(net.messages())
		if res := a.node.Resync(ctx); res != (ResyncResult{Peers: 1}) {
			t.Errorf("Resync without SA: %+v", res)
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if n := len(net.messages()) - mark; n != 0 {
			t.Fatalf("%d datagrams after a resync of an idle on-demand host", n)
		}
		if !strings.Contains(a.log(), "a lost ACQUIRE is raised again by the kernel") {
			t.Errorf("the resync warning does not say what happens to lost ACQUIREs:\n%s", a.log())
		}

		acquire(a, b.addr)
		pa := waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)

		if err := a.kernel.DeleteSA(b.addr, pa.Children[0].SPIOut); err != nil {
			t.Fatal(err)
		}
		mark = len(net.messages())
		if res := a.node.Resync(ctx); res != (ResyncResult{Peers: 1, Checked: 1, Missing: 1}) {
			t.Errorf("Resync: %+v", res)
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if n := requestsFrom(net, mark, a.addr, wire.IKE_SA_INIT) + requestsFrom(net, mark, b.addr, wire.IKE_SA_INIT); n != 0 {
			t.Fatalf("%d IKE_SA_INIT after the resync, without traffic:\n%s", n, a.log())
		}
		if n := requestsFrom(net, mark, a.addr, wire.INFORMATIONAL); n != 1 {
			t.Errorf("a sent %d INFORMATIONAL requests, want its one DELETE", n)
		}
		if p := peerOf(t, a, b.addr); p.State != StateIdle || p.LastError != "CHILD_SA state missing from the kernel" || p.IKE != nil {
			t.Errorf("a after the resync: %+v, want idle with the missing state as reason", p)
		}
		if p := peerOf(t, b, a.addr); p.State != StateIdle {
			t.Errorf("b after a's DELETE: %+v, want idle", p)
		}
		if sas, _ := a.kernel.SAs(); len(sas) != 0 {
			t.Errorf("a kept %d states", len(sas))
		}
		if want := "checked 1 CHILD_SAs against the kernel, 1 missing: removed, idle until traffic"; !strings.Contains(a.log(), want) {
			t.Errorf("a's log lacks %q:\n%s", want, a.log())
		}

		// Traffic sets the pair up again.
		acquire(a, b.addr)
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		checkPaired(t, a, b)
	})
}

// TestResyncStaleListing: a state absent from the listing (a CHILD_SA
// installed after it was taken) but present in the kernel is left alone.
func TestResyncStaleListing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{}
		ctx, cancel, a, b := establishedPair(t, net, Config{}, Config{})
		defer finish(cancel, a, b)
		_ = ctx
		before := peerOf(t, a, b.addr)
		a.node.mu.Lock()
		p := a.node.peers[pairKey{a.addr, b.addr}]
		a.node.mu.Unlock()
		r := &resyncRun{states: map[stateID]struct{}{}, reports: make(chan resyncReport, 1)}
		mark := len(net.messages())
		p.post(evKernel{ev: xfrm.Event{Kind: xfrm.Resync}, resync: r})
		if rep := <-r.reports; rep != (resyncReport{checked: 1}) {
			t.Errorf("report %+v, want 1 checked, none missing", rep)
		}
		synctest.Wait()
		if after := peerOf(t, a, b.addr); !established(after) || after.Children[0] != before.Children[0] {
			t.Errorf("CHILD_SA changed: %+v, was %+v", after, before)
		}
		if n := len(net.messages()) - mark; n != 0 {
			t.Errorf("%d datagrams after a check against a stale listing", n)
		}
	})
}

// TestResyncBusyPeer: a peer in the middle of an exchange checks when the
// exchange ends; Resync does not wait for it longer than resyncWait and
// says so.
func TestResyncBusyPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		net := &memNet{drop: func([]byte, netip.AddrPort, netip.AddrPort) bool { return true }}
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{})
		defer finish(cancel, a, b)
		connect(t, ctx, a, b, "k", "k")
		time.Sleep(100 * time.Millisecond) // a's IKE_SA_INIT waits for an answer
		start := time.Now()
		res := a.node.Resync(ctx)
		if want := (ResyncResult{Peers: 1, Busy: 1}); res != want {
			t.Errorf("Resync: %+v, want %+v", res, want)
		}
		if d := time.Since(start); d != resyncWait {
			t.Errorf("Resync waited %v for the busy peer, want %v", d, resyncWait)
		}
		if want := "checked 0 CHILD_SAs against the kernel, none missing; 1 peers busy in an exchange check when it ends"; !strings.Contains(a.log(), want) {
			t.Errorf("a's log lacks %q:\n%s", want, a.log())
		}
	})
}

// TestResyncSkipsFinishedPeers: a peer that already finished (here: the
// node closed) is not waited for; Resync returns at once.
func TestResyncSkipsFinishedPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{}
		a := newHost(t, net, "10.0.0.1", Config{OnDemand: true})
		if err := a.node.AddPeer(context.Background(), PeerConfig{Local: a.addr, Remote: netip.MustParseAddr("10.0.0.2"),
			PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
			t.Fatal(err)
		}
		a.node.Close(context.Background())
		start := time.Now()
		res := a.node.Resync(context.Background())
		if waited := time.Since(start); waited != 0 || res.Busy != 0 || res.Peers != 0 {
			t.Fatalf("Resync after Close: %+v after %v, want nothing asked and no wait", res, waited)
		}
	})
}

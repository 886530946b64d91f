package ike

import (
	"bytes"
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"metro/auth"
	"metro/ike/ikecrypto"
	"metro/ike/wire"
	"metro/xfrm"
)

// memNet delivers datagrams between nodes in memory. drop, when set,
// decides per datagram whether it is lost.
type memNet struct {
	mu    sync.Mutex
	nodes map[netip.Addr]*Node
	drop  func(b []byte, from, to netip.AddrPort) bool
	delay func() time.Duration
	held  []func() // datagrams held while paused
	pause bool
	// nat, when set, rewrites a datagram's addresses; ok false drops it.
	nat  func(from, to netip.AddrPort) (f, t netip.AddrPort, ok bool)
	sent []sentMsg
}

type sentMsg struct {
	from, to netip.AddrPort
	b        []byte
}

func (n *memNet) Send(b []byte, local, remote netip.AddrPort) error {
	if n.nat != nil {
		var ok bool
		if local, remote, ok = n.nat(local, remote); !ok {
			return nil
		}
	}
	n.mu.Lock()
	dst := n.nodes[remote.Addr()]
	drop := n.drop != nil && n.drop(b, local, remote)
	var delay time.Duration
	if n.delay != nil {
		delay = n.delay()
	}
	n.sent = append(n.sent, sentMsg{local, remote, append([]byte(nil), b...)})
	paused := n.pause
	n.mu.Unlock()
	if dst == nil || drop {
		return nil
	}
	c := append([]byte(nil), b...)
	if paused {
		n.mu.Lock()
		n.held = append(n.held, func() { go dst.Receive(c, remote, local) })
		n.mu.Unlock()
		return nil
	}
	go func() {
		if delay > 0 {
			time.Sleep(delay)
		}
		dst.Receive(c, remote, local)
	}()
	return nil
}

// hold keeps datagrams back until the returned function releases them.
func (n *memNet) hold() (release func()) {
	n.mu.Lock()
	n.pause = true
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		n.pause = false
		held := n.held
		n.held = nil
		n.mu.Unlock()
		for _, f := range held {
			f()
		}
	}
}

func (n *memNet) messages() []sentMsg {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sentMsg(nil), n.sent...)
}

type testHost struct {
	addr   netip.Addr
	node   *Node
	kernel *xfrm.Memory
	logs   *bytes.Buffer
	mu     *sync.Mutex
}

func (h *testHost) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newHost(t *testing.T, net *memNet, addr string, cfg Config) *testHost {
	t.Helper()
	h := &testHost{addr: netip.MustParseAddr(addr), logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	log := slog.New(slog.NewTextHandler(lockedWriter{h.mu, h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.kernel = xfrm.NewMemory(log)
	cfg.Log = log.With("host", addr)
	cfg.Kernel = h.kernel
	cfg.Transport = net
	h.node = NewNode(cfg)
	net.mu.Lock()
	if net.nodes == nil {
		net.nodes = map[netip.Addr]*Node{}
	}
	net.nodes[h.addr] = h.node
	net.mu.Unlock()
	return h
}

// connect configures a and b as each other's peers. Datagrams are held
// until both know each other, as when two configured daemons start.
func connect(t *testing.T, ctx context.Context, a, b *testHost, keyA, keyB string) {
	t.Helper()
	defer a.node.cfg.Transport.(*memNet).hold()()
	if err := a.node.AddPeer(ctx, PeerConfig{Local: a.addr, Remote: b.addr, PSK: auth.Secret(keyA), Reqid: xfrm.ReqidBase + 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.node.AddPeer(ctx, PeerConfig{Local: b.addr, Remote: a.addr, PSK: auth.Secret(keyB), Reqid: xfrm.ReqidBase + 7}); err != nil {
		t.Fatal(err)
	}
}

// checkPaired asserts that every outbound state of one host has the
// matching inbound state, with the same key, on the other.
func checkPaired(t *testing.T, a, b *testHost) {
	t.Helper()
	as, _ := a.kernel.SAs()
	bs, _ := b.kernel.SAs()
	if len(as) == 0 || len(as) != len(bs) {
		t.Fatalf("host a has %d states, host b %d", len(as), len(bs))
	}
	for _, x := range as {
		found := false
		for _, y := range bs {
			if x.SPI == y.SPI && x.Src == y.Src && x.Dst == y.Dst {
				found = true
				if x.AEAD == nil || y.AEAD == nil || !bytes.Equal(x.AEAD.Key, y.AEAD.Key) || x.AEAD.Name != y.AEAD.Name {
					t.Errorf("state %08x %s->%s: keys or algorithms differ between the hosts", x.SPI, x.Src, x.Dst)
				}
				in := x
				if x.Dst == b.addr {
					in = y
				}
				if in.ReplayWindow == 0 {
					t.Errorf("inbound state %08x has no replay window", in.SPI)
				}
			}
		}
		if !found {
			t.Errorf("state %08x %s->%s of host a has no counterpart on host b", x.SPI, x.Src, x.Dst)
		}
	}
}

// establishedPair starts hosts 10.0.0.1 (a) and 10.0.0.2 (b) on net, makes
// them peers with one key, and waits until both are established.
func establishedPair(t *testing.T, net *memNet, cfgA, cfgB Config) (context.Context, context.CancelFunc, *testHost, *testHost) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := newHost(t, net, "10.0.0.1", cfgA)
	b := newHost(t, net, "10.0.0.2", cfgB)
	connect(t, ctx, a, b, "k", "k")
	waitState(t, a, StateEstablished)
	waitState(t, b, StateEstablished)
	return ctx, cancel, a, b
}

// finish stops the hosts and lets datagrams still in flight drain, so the
// synctest bubble ends with no goroutine left.
func finish(cancel context.CancelFunc, hosts ...*testHost) {
	cancel()
	for _, h := range hosts {
		h.node.Close(context.Background())
	}
	time.Sleep(time.Second)
	synctest.Wait()
}

func waitState(t *testing.T, h *testHost, want string) PeerInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ps := h.node.Peers()
		if len(ps) == 1 && ps[0].State == want {
			return ps[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	ps := h.node.Peers()
	t.Fatalf("host %s: peer never reached %q: %+v\nlog:\n%s", h.addr, want, ps, h.log())
	return PeerInfo{}
}

func TestEstablishIPv4AndIPv6(t *testing.T) {
	for _, pair := range [][2]string{{"10.0.0.1", "10.0.0.2"}, {"fd00::1", "fd00::2"}} {
		t.Run(pair[0], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				net := &memNet{}
				a := newHost(t, net, pair[0], Config{})
				b := newHost(t, net, pair[1], Config{})
				connect(t, ctx, a, b, "secret", "secret")
				waitState(t, a, StateEstablished)
				waitState(t, b, StateEstablished)
				time.Sleep(5 * time.Second)
				synctest.Wait()
				pa, pb := a.node.Peers()[0], b.node.Peers()[0]
				checkPaired(t, a, b)
				if pa.IKE == nil || pb.IKE == nil || pa.IKE.SPIi != pb.IKE.SPIi || pa.IKE.SPIr != pb.IKE.SPIr {
					t.Fatalf("IKE SAs differ: %+v / %+v", pa.IKE, pb.IKE)
				}
				if pa.IKE.KE != "x25519" || !strings.Contains(pa.IKE.Encr, "gcm") {
					t.Errorf("negotiated %s/%s, want AES-GCM with x25519 by default", pa.IKE.Encr, pa.IKE.KE)
				}
				if len(pa.Children) != 1 || pa.Children[0].SPIIn != pb.Children[0].SPIOut {
					t.Fatalf("children do not match: %+v / %+v", pa.Children, pb.Children)
				}
				pols, _ := a.kernel.Policies()
				wantPols := 2
				if a.addr.Is6() {
					wantPols += 10 // ND bypass, 5 types in two directions
				}
				if len(pols) != wantPols {
					t.Errorf("host a has %d policies, want %d: %+v", len(pols), wantPols, pols)
				}
				// Orderly stop: states go, policies stay (fail closed).
				stop, c2 := context.WithTimeout(context.Background(), 10*time.Second)
				defer c2()
				a.node.Close(stop)
				synctest.Wait()
				if as, _ := a.kernel.SAs(); len(as) != 0 {
					t.Errorf("after Close host a still has %d states", len(as))
				}
				if pols, _ := a.kernel.Policies(); len(pols) != wantPols {
					t.Errorf("after Close host a has %d policies, want %d kept", len(pols), wantPols)
				}
				// b got the DELETE and removed its states too.
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					if bs, _ := b.kernel.SAs(); len(bs) == 0 {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if bs, _ := b.kernel.SAs(); len(bs) != 0 {
					t.Errorf("host b kept %d states after the peer's DELETE", len(bs))
				}
				cancel()
				b.node.Close(stop)
			})
		})
	}
}

func TestWrongKeyFailsOnBothSides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{})
		connect(t, ctx, a, b, "secret-a", "secret-b")
		pa := waitState(t, a, StateFailed)
		pb := waitState(t, b, StateFailed)
		for _, p := range []PeerInfo{pa, pb} {
			if !strings.Contains(p.LastError, "authentication failed") {
				t.Errorf("peer %s: last error %q, want authentication failed", p.Remote, p.LastError)
			}
		}
		for _, h := range []*testHost{a, b} {
			if sas, _ := h.kernel.SAs(); len(sas) != 0 {
				t.Errorf("host %s installed %d states with a wrong key", h.addr, len(sas))
			}
			if !strings.Contains(h.log(), "authentication failed") {
				t.Errorf("host %s log does not say authentication failed:\n%s", h.addr, h.log())
			}
			if strings.Contains(h.log(), "secret-a") || strings.Contains(h.log(), "secret-b") {
				t.Errorf("host %s logged a key", h.addr)
			}
		}
		finish(cancel, a, b)
	})
}

func TestRetransmissionAndResponseCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		// Lose the first response of each exchange: the initiator must
		// retransmit and the responder answer from its cache (IKE_AUTH)
		// or anew (IKE_SA_INIT) with the same result.
		lost := map[wire.ExchangeType]bool{}
		net.drop = func(b []byte, from, to netip.AddrPort) bool {
			h, err := wire.ParseHeader(b)
			if err != nil || !h.IsResponse() || lost[h.Exchange] {
				return false
			}
			lost[h.Exchange] = true
			return true
		}
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{})
		connect(t, ctx, a, b, "k", "k")
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		if !lost[wire.IKE_SA_INIT] || !lost[wire.IKE_AUTH] {
			t.Fatalf("test did not lose both responses: %v", lost)
		}
		logs := a.log() + b.log()
		if !strings.Contains(logs, "retransmitting") {
			t.Errorf("initiator did not retransmit:\n%s", logs)
		}
		if !strings.Contains(logs, "resending cached response") {
			t.Errorf("responder did not answer from its cache:\n%s", logs)
		}
		synctest.Wait()
		checkPaired(t, a, b)
		finish(cancel, a, b)
	})
}

func TestInvalidKEPayloadRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		onlyModp, err := ikecrypto.ParseProposals("aes256gcm16-prfsha256-modp2048", false)
		if err != nil {
			t.Fatal(err)
		}
		// a has the higher address, so its initiation wins the crossing
		// and meets b's narrower choice.
		a := newHost(t, net, "10.0.0.2", Config{})
		b := newHost(t, net, "10.0.0.1", Config{IKEProposals: onlyModp})
		connect(t, ctx, a, b, "k", "k")
		pa := waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		if pa.IKE.KE != "modp2048" {
			t.Errorf("negotiated %s, want modp2048", pa.IKE.KE)
		}
		if !strings.Contains(b.log(), "INVALID_KE_PAYLOAD") || !strings.Contains(a.log(), "retrying") {
			t.Errorf("no INVALID_KE_PAYLOAD round trip in the logs")
		}
		checkPaired(t, a, b)
		finish(cancel, a, b)
	})
}

func TestNoProposalChosen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		p1, _ := ikecrypto.ParseProposals("aes256gcm16-prfsha256-x25519", false)
		p2, _ := ikecrypto.ParseProposals("aes128gcm16-prfsha512-ecp256", false)
		a := newHost(t, net, "10.0.0.1", Config{IKEProposals: p1})
		b := newHost(t, net, "10.0.0.2", Config{IKEProposals: p2})
		connect(t, ctx, a, b, "k", "k")
		for _, h := range []*testHost{a, b} {
			p := waitState(t, h, StateFailed)
			if !strings.Contains(p.LastError, "NO_PROPOSAL_CHOSEN") {
				t.Errorf("host %s: last error %q, want NO_PROPOSAL_CHOSEN", h.addr, p.LastError)
			}
		}
		// Whichever host responded logs both sides' proposals.
		logs := a.log() + b.log()
		if !strings.Contains(logs, "peer offered [aes") || !strings.Contains(logs, "aes256gcm16") || !strings.Contains(logs, "aes128gcm16") {
			t.Errorf("responder log does not show both sides' proposals:\n%s", logs)
		}
		finish(cancel, a, b)
	})
}

func TestUnknownPeerGetsNoState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{}) // b knows no peers
		if err := a.node.AddPeer(ctx, PeerConfig{Local: a.addr, Remote: b.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
			t.Fatal(err)
		}
		pa := waitState(t, a, StateFailed)
		if !strings.Contains(pa.LastError, "NO_PROPOSAL_CHOSEN") {
			t.Errorf("last error %q", pa.LastError)
		}
		if n := strings.Count(b.log(), "not a configured peer"); n != 1 {
			t.Errorf("unknown peer logged %d times, want once:\n%s", n, b.log())
		}
		if len(b.node.Peers()) != 0 {
			t.Errorf("b keeps peer state for an unknown address")
		}
		finish(cancel, a, b)
	})
}

// TestCrossedInitiation starts both hosts at nearly the same moment, many
// times with small random offsets: each time exactly one IKE SA and one
// ESP pair must remain, the same on both sides.
func TestCrossedInitiation(t *testing.T) {
	for i := range 30 {
		offset := time.Duration(mrand.IntN(3000)) * time.Microsecond
		if i%2 == 1 {
			offset = -offset
		}
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			net := &memNet{}
			// Random network delay per datagram, so that messages cross.
			net.delay = func() time.Duration { return time.Duration(mrand.IntN(2000)) * time.Microsecond }
			a := newHost(t, net, "10.0.0.1", Config{})
			b := newHost(t, net, "10.0.0.2", Config{})
			first, second := a, b
			if offset < 0 {
				first, second, offset = b, a, -offset
			}
			if err := first.node.AddPeer(ctx, PeerConfig{Local: first.addr, Remote: second.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(offset)
			if err := second.node.AddPeer(ctx, PeerConfig{Local: second.addr, Remote: first.addr, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
				t.Fatal(err)
			}
			pa := waitState(t, a, StateEstablished)
			pb := waitState(t, b, StateEstablished)
			time.Sleep(10 * time.Second) // let any loser be deleted
			synctest.Wait()
			pa, pb = a.node.Peers()[0], b.node.Peers()[0]
			if pa.IKE == nil || pb.IKE == nil || pa.IKE.SPIi != pb.IKE.SPIi || pa.IKE.SPIr != pb.IKE.SPIr {
				t.Fatalf("run %d (offset %v): hosts chose different IKE SAs: %+v / %+v", i, offset, pa.IKE, pb.IKE)
			}
			as, _ := a.kernel.SAs()
			bs, _ := b.kernel.SAs()
			if len(as) != 2 || len(bs) != 2 {
				t.Fatalf("run %d (offset %v): %d states on a, %d on b, want one pair each", i, offset, len(as), len(bs))
			}
			checkPaired(t, a, b)
			finish(cancel, a, b)
		})
	}
}

// TestMalformedEncryptedRequest: an authentic request (ICV fine) whose
// inner payloads are malformed is answered with INVALID_SYNTAX, and the SA
// survives.
func TestMalformedEncryptedRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{}
		_, cancel, a, b := establishedPair(t, net, Config{}, Config{})
		defer cancel()
		time.Sleep(5 * time.Second)
		synctest.Wait()

		// Build, with a's keys, an INFORMATIONAL whose Notify claims more
		// bytes than it has. The peer goroutine is idle: synctest.Wait.
		pa := a.node.peers[pairKey{a.addr, b.addr}]
		sa := pa.current
		inner := []byte{0, 0, 0, 40, 0, 0, 0, 0} // Notify header says 40 bytes, 8 present
		h := sa.header(wire.INFORMATIONAL, sa.nextID, false)
		h.NextPayload = wire.PayloadSK
		h.Length = uint32(wire.HeaderLen + 4 + sa.out.SealedLen(len(inner)))
		msg := h.AppendTo(nil)
		msg = append(msg, byte(wire.PayloadNotify), 0, byte((4+sa.out.SealedLen(len(inner)))>>8), byte(4+sa.out.SealedLen(len(inner))))
		msg = sa.out.Seal(msg, msg, inner)
		sa.nextID++
		net.Send(msg, pa.local, pa.remote)
		time.Sleep(time.Second)
		synctest.Wait()
		if !strings.Contains(b.log(), "answering INVALID_SYNTAX") {
			t.Fatalf("b did not answer INVALID_SYNTAX:\n%s", b.log())
		}
		if pb := b.node.Peers()[0]; pb.State != StateEstablished {
			t.Errorf("b's peer state %q after a malformed request, want established", pb.State)
		}
		finish(cancel, a, b)
	})
}

// TestRekeyUnderTraffic runs three minutes (synthetic time) of traffic both
// ways at 200 packets/s with a 30 s CHILD_SA and a 70 s IKE SA lifetime.
// Each packet goes out on the state the kernel would pick (the newest of
// the pair) and must find its inbound state on the other host: zero loss
// through every CHILD_SA and IKE SA rekey, and never more than two pairs.
func TestRekeyUnderTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{delay: func() time.Duration { return time.Duration(mrand.IntN(3000)) * time.Microsecond }}
		cfg := Config{ChildLifetime: 30 * time.Second, IKELifetime: 70 * time.Second}
		a := newHost(t, net, "10.0.0.1", cfg)
		b := newHost(t, net, "10.0.0.2", cfg)
		connect(t, ctx, a, b, "k", "k")
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		time.Sleep(time.Second)
		reqid := map[*testHost]uint32{a: xfrm.ReqidBase + 1, b: xfrm.ReqidBase + 7}
		sent, lost, maxStates := 0, 0, 0
		outSPIs := map[*testHost]map[uint32]bool{a: {}, b: {}}
		ikeSPIs := map[uint64]bool{}
		end := time.Now().Add(3 * time.Minute)
		for time.Now().Before(end) {
			time.Sleep(5 * time.Millisecond)
			for _, d := range [][2]*testHost{{a, b}, {b, a}} {
				x, y := d[0], d[1]
				sent++
				out, ok := x.kernel.Outbound(x.addr, y.addr, reqid[x])
				if !ok {
					lost++
					continue
				}
				outSPIs[x][out.SPI] = true
				in, ok := y.kernel.State(y.addr, out.SPI)
				if !ok || !bytes.Equal(in.AEAD.Key, out.AEAD.Key) {
					lost++
				}
				if n, _, _ := x.kernel.Counts(); n > maxStates {
					maxStates = n
				}
			}
			if p := a.node.Peers(); len(p) == 1 && p[0].IKE != nil {
				ikeSPIs[p[0].IKE.SPIi] = true
			}
		}
		t.Logf("%d packets, %d lost; outbound SPIs used: a %d, b %d; IKE SAs %d; at most %d states on a host",
			sent, lost, len(outSPIs[a]), len(outSPIs[b]), len(ikeSPIs), maxStates)
		if lost != 0 {
			t.Errorf("%d of %d packets found no state", lost, sent)
		}
		for h, spis := range outSPIs {
			if len(spis) < 6 {
				t.Errorf("host %s used %d outbound SPIs in 3 minutes, want at least 6 (five rekeys)\n%s", h.addr, len(spis), h.log())
			}
		}
		if len(ikeSPIs) < 3 {
			t.Errorf("%d IKE SAs in 3 minutes, want at least 3 (two IKE rekeys)", len(ikeSPIs))
		}
		if maxStates > 4 {
			t.Errorf("up to %d states on a host, want at most two pairs", maxStates)
		}
		for _, h := range []*testHost{a, b} {
			if strings.Contains(h.log(), "rekey failed") {
				t.Errorf("host %s: a rekey failed:\n%s", h.addr, h.log())
			}
		}
		finish(cancel, a, b)
	})
}

// TestRemovePeer: removing a peer deletes its SAs on both hosts; with
// dropPolicies its policies go too.
func TestRemovePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{}
		ctx, cancel, a, b := establishedPair(t, net, Config{}, Config{})
		defer cancel()
		if err := a.node.RemovePeer(ctx, a.addr, b.addr, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n, pols, _ := a.kernel.Counts(); n != 0 || pols != 2 {
			t.Errorf("after RemovePeer a has %d states and %d policies, want 0 and 2", n, pols)
		}
		if n, _, _ := b.kernel.Counts(); n != 0 {
			t.Errorf("b kept %d states after a's DELETE", n)
		}
		if len(a.node.Peers()) != 0 {
			t.Errorf("a still lists the peer")
		}
		if err := a.node.RemovePeer(ctx, a.addr, b.addr, true); err == nil {
			t.Errorf("removing an unknown peer succeeded")
		}
		if err := b.node.RemovePeer(ctx, b.addr, a.addr, true); err != nil {
			t.Fatal(err)
		}
		if _, pols, _ := b.kernel.Counts(); pols != 0 {
			t.Errorf("b has %d policies after RemovePeer with dropPolicies", pols)
		}
		finish(cancel, a, b)
	})
}

// TestRekeyPFSAndInvalidKE: with PFS in the ESP proposals the CHILD_SA
// rekey carries a key exchange; when the responder takes only another
// group it answers INVALID_KE_PAYLOAD and the initiator retries with it.
func TestRekeyPFSAndInvalidKE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		espA, err := ikecrypto.ParseProposals("aes256gcm16-x25519-ecp256", true)
		if err != nil {
			t.Fatal(err)
		}
		espB, err := ikecrypto.ParseProposals("aes256gcm16-ecp256", true)
		if err != nil {
			t.Fatal(err)
		}
		// Only the original initiator rekeys before 92% of the lifetime;
		// b (higher address) wins the crossing and initiates, so give b
		// the proposal that starts with the group a does not take first.
		a := newHost(t, net, "10.0.0.1", Config{ESPProposals: espB, ChildLifetime: 30 * time.Second})
		b := newHost(t, net, "10.0.0.2", Config{ESPProposals: espA, ChildLifetime: 30 * time.Second})
		connect(t, ctx, a, b, "k", "k")
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		first := b.node.Peers()[0].Children[0].SPIIn
		time.Sleep(40 * time.Second)
		synctest.Wait()
		pb := b.node.Peers()[0]
		if len(pb.Children) != 1 || pb.Children[0].SPIIn == first {
			t.Fatalf("no CHILD_SA rekey in 40 s: %+v", pb.Children)
		}
		if pb.Children[0].KE != "ecp256" {
			t.Errorf("rekeyed CHILD_SA uses PFS group %q, want ecp256", pb.Children[0].KE)
		}
		logs := a.log() + b.log()
		if !strings.Contains(logs, "answering INVALID_KE_PAYLOAD to a CHILD_SA rekey") || !strings.Contains(logs, "another PFS group") {
			t.Errorf("no INVALID_KE_PAYLOAD round trip in CREATE_CHILD_SA:\n%s", logs)
		}
		checkPaired(t, a, b)
		finish(cancel, a, b)
	})
}

// TestRekeyCollision: both hosts start rekeying the same CHILD_SA at the
// same moment. Exactly one new pair must result, the same on both sides.
func TestRekeyCollision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{delay: func() time.Duration { return 2 * time.Millisecond }}
		_, cancel, a, b := establishedPair(t, net, Config{}, Config{})
		defer cancel()
		time.Sleep(time.Second)
		synctest.Wait()
		pa := a.node.peers[pairKey{a.addr, b.addr}]
		pb := b.node.peers[pairKey{b.addr, a.addr}]
		old := pa.current.child.spiIn
		pa.post(evRekeyChild{pa.current.child})
		pb.post(evRekeyChild{pb.current.child})
		time.Sleep(20 * time.Second)
		synctest.Wait()
		ia, ib := a.node.Peers()[0], b.node.Peers()[0]
		if len(ia.Children) != 1 || len(ib.Children) != 1 {
			t.Fatalf("children after the collision: %+v / %+v", ia.Children, ib.Children)
		}
		if ia.Children[0].SPIIn == old {
			t.Errorf("the CHILD_SA was not rekeyed")
		}
		if ia.Children[0].SPIIn != ib.Children[0].SPIOut || ia.Children[0].SPIOut != ib.Children[0].SPIIn {
			t.Errorf("hosts disagree after the collision: %+v / %+v", ia.Children, ib.Children)
		}
		if !strings.Contains(a.log()+b.log(), "TEMPORARY_FAILURE") {
			t.Errorf("the collision was not resolved with TEMPORARY_FAILURE")
		}
		if n, _, _ := a.kernel.Counts(); n != 2 {
			t.Errorf("a has %d states after the collision, want one pair", n)
		}
		checkPaired(t, a, b)
		finish(cancel, a, b)
	})
}

// TestRepliesGoToSourcePort: a host answers to the address and port a
// request came from (RFC 7296 2.11), not to the port it would use itself:
// what an alternative-port redirect or a NAT needs. a sends from port 600,
// b from 500 (memNet delivers by address).
func TestRepliesGoToSourcePort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{}
		_, cancel, a, b := establishedPair(t, net, Config{Port: 600}, Config{Port: 500})
		defer cancel()
		responses := 0
		for _, m := range net.messages() {
			h, err := wire.ParseHeader(m.b)
			if err != nil || !h.IsResponse() {
				continue
			}
			responses++
			want := uint16(600) // requests from a come from port 600
			if m.from.Addr() == a.addr {
				want = 500
			}
			if m.to.Port() != want {
				t.Errorf("%s response from %s went to port %d, want %d (the request's source port)", h.Exchange, m.from, m.to.Port(), want)
			}
		}
		if responses == 0 {
			t.Fatal("no responses seen")
		}
		finish(cancel, a, b)
	})
}

// TestCrossedInitiationOneWayReachability: the higher host's requests never
// reach the lower one (as after a port change on one side). The higher
// host stops ignoring the lower one's IKE_SA_INIT once its own went
// unanswered for a few seconds, so the SA comes up without waiting for its
// whole retransmission schedule.
func TestCrossedInitiationOneWayReachability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		net.drop = func(b []byte, from, to netip.AddrPort) bool {
			h, err := wire.ParseHeader(b)
			return err == nil && from.Addr() == netip.MustParseAddr("10.0.0.2") && !h.IsResponse()
		}
		a := newHost(t, net, "10.0.0.1", Config{})
		b := newHost(t, net, "10.0.0.2", Config{})
		start := time.Now()
		connect(t, ctx, a, b, "k", "k")
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("established after %v, want within a few seconds", took)
		}
		finish(cancel, a, b)
	})
}

// TestNATTraversal: a is behind a NAT (10.1.0.2, seen as 10.2.0.1 with
// other ports). Both hosts detect it, the IKE SA moves to the NAT-T port,
// the ESP states are UDP-encapsulated on the mapped ports, and a sends
// keepalives.
func TestNATTraversal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		private, public, server := netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.2.0.2")
		net := &memNet{}
		net.nat = func(from, to netip.AddrPort) (netip.AddrPort, netip.AddrPort, bool) {
			switch {
			case from.Addr() == private: // outbound through the NAT
				return netip.AddrPortFrom(public, 30000+from.Port()), to, true
			case to.Addr() == public && to.Port() > 30000: // a mapped reply
				return from, netip.AddrPortFrom(private, to.Port()-30000), true
			case to.Addr() == public: // unsolicited: dropped
				return from, to, false
			}
			return from, to, true
		}
		a := newHost(t, net, "10.1.0.2", Config{})
		b := newHost(t, net, "10.2.0.2", Config{})
		if err := a.node.AddPeer(ctx, PeerConfig{Local: private, Remote: server, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.node.AddPeer(ctx, PeerConfig{Local: server, Remote: public, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
			t.Fatal(err)
		}
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		as, _ := a.kernel.SAs()
		bs, _ := b.kernel.SAs()
		if len(as) != 2 || len(bs) != 2 {
			t.Fatalf("states: a %d, b %d", len(as), len(bs))
		}
		for _, x := range as {
			if x.Encap == nil || x.Encap.SrcPort != 4500 && x.Encap.DstPort != 4500 {
				t.Errorf("a's state %08x is not encapsulated on 4500: %+v", x.SPI, x.Encap)
			}
			found := false
			for _, y := range bs {
				if y.SPI != x.SPI {
					continue
				}
				found = true
				if !bytes.Equal(x.AEAD.Key, y.AEAD.Key) {
					t.Errorf("state %08x: keys differ", x.SPI)
				}
				// b sees a at the NAT's mapping of port 4500.
				if y.Encap == nil || (y.Dst == server && y.Encap.SrcPort != 34500) || (y.Src == server && y.Encap.DstPort != 34500) {
					t.Errorf("b's state %08x encapsulation %+v, want the mapped port 34500", y.SPI, y.Encap)
				}
			}
			if !found {
				t.Errorf("a's state %08x has no counterpart on b", x.SPI)
			}
		}
		keepalives := 0
		for _, m := range net.messages() {
			if len(m.b) == 1 && m.b[0] == 0xff && m.to.Port() == 4500 {
				keepalives++
			}
		}
		if keepalives == 0 {
			t.Errorf("a behind the NAT sent no keepalives")
		}
		if !strings.Contains(a.log(), "NAT detected") || !strings.Contains(b.log(), "NAT detected") {
			t.Errorf("NAT not reported in both logs")
		}
		finish(cancel, a, b)
	})
}

// TestRekeyCollisionNonceRule: like other implementations, both hosts
// answer the colliding rekey as usual; both rekeys complete, and the pair
// created with the lowest nonce is deleted by its creator (RFC 7296
// 2.8.1). One pair remains, the same on both sides.
func TestRekeyCollisionNonceRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &memNet{delay: func() time.Duration { return 2 * time.Millisecond }}
		_, cancel, a, b := establishedPair(t, net, Config{answerRekeyCollisions: true}, Config{answerRekeyCollisions: true})
		defer cancel()
		time.Sleep(time.Second)
		synctest.Wait()
		pa := a.node.peers[pairKey{a.addr, b.addr}]
		pb := b.node.peers[pairKey{b.addr, a.addr}]
		pa.post(evRekeyChild{pa.current.child})
		pb.post(evRekeyChild{pb.current.child})
		time.Sleep(20 * time.Second)
		synctest.Wait()
		logs := a.log() + b.log()
		if strings.Count(logs, "simultaneous CHILD_SA rekey") != 2 {
			t.Errorf("want both hosts to apply the nonce rule:\n%s", logs)
		}
		ia, ib := a.node.Peers()[0], b.node.Peers()[0]
		if len(ia.Children) != 1 || len(ib.Children) != 1 ||
			ia.Children[0].SPIIn != ib.Children[0].SPIOut || ia.Children[0].SPIOut != ib.Children[0].SPIIn {
			t.Fatalf("hosts disagree after the collision: %+v / %+v", ia.Children, ib.Children)
		}
		for _, h := range []*testHost{a, b} {
			if n, _, _ := h.kernel.Counts(); n != 2 {
				t.Errorf("%s has %d states after the collision, want one pair", h.addr, n)
			}
		}
		reqid := map[*testHost]uint32{a: xfrm.ReqidBase + 1, b: xfrm.ReqidBase + 7}
		for _, d := range [][2]*testHost{{a, b}, {b, a}} {
			out, ok := d[0].kernel.Outbound(d[0].addr, d[1].addr, reqid[d[0]])
			if _, found := d[1].kernel.State(d[1].addr, out.SPI); !ok || !found {
				t.Errorf("%s sends on %08x, which %s does not have", d[0].addr, out.SPI, d[1].addr)
			}
		}
		finish(cancel, a, b)
	})
}

// TestUnauthenticatedSAAcceptsOnlyIKEAuth: after IKE_SA_INIT alone (no
// AUTH yet) the responder must not act on any other request on that SA:
// here an INFORMATIONAL saying AUTHENTICATION_FAILED and an IKE SA rekey.
func TestUnauthenticatedSAAcceptsOnlyIKEAuth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		// a's IKE_AUTH never arrives at b.
		net.drop = func(b []byte, from, to netip.AddrPort) bool {
			h, err := wire.ParseHeader(b)
			return err == nil && h.Exchange == wire.IKE_AUTH && !h.IsResponse()
		}
		a := newHost(t, net, "10.0.0.2", Config{}) // higher: its initiation wins
		b := newHost(t, net, "10.0.0.1", Config{})
		connect(t, ctx, a, b, "k", "k")
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		pa := a.node.peers[pairKey{a.addr, b.addr}]
		var sa *ikeSA
		for _, s := range pa.sas {
			if s.initiator && s.out != nil {
				sa = s
			}
		}
		if sa == nil {
			t.Fatal("a has no IKE SA past IKE_SA_INIT")
		}
		for _, ps := range [][]wire.Payload{
			{&wire.Notify{NotifyType: wire.AUTHENTICATION_FAILED}},
			{offer(ikecrypto.DefaultIKEProposals(), wire.ProtoIKE, []byte{1, 2, 3, 4, 5, 6, 7, 8}),
				&wire.Nonce{Data: bytes.Repeat([]byte{7}, 32)}},
		} {
			ex := wire.INFORMATIONAL
			if len(ps) == 2 {
				ex = wire.CREATE_CHILD_SA
			}
			net.Send(wire.Seal(sa.header(ex, 1, false), ps, sa.out), pa.local, pa.remote)
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if n := strings.Count(b.log(), "not authenticated yet"); n != 2 {
			t.Errorf("b acted on %d of 2 requests on an unauthenticated SA:\n%s", 2-n, b.log())
		}
		if strings.Contains(b.log(), "IKE SA rekeyed") || b.node.Peers()[0].State == StateFailed {
			t.Errorf("b changed state on an unauthenticated request:\n%s", b.log())
		}
		finish(cancel, a, b)
	})
}

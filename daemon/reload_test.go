package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"metro/auth"
	"metro/firewall"
	"metro/ike"
	"metro/policy"
	"metro/xfrm"
)

// testNet delivers IKE datagrams between the nodes of test daemons in
// memory (ike.Transport).
type testNet struct {
	mu    sync.Mutex
	nodes map[netip.Addr]*ike.Node
}

func (n *testNet) Send(b []byte, local, remote netip.AddrPort) error {
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

// testHost is a daemon with an in-memory kernel whose configuration is
// whatever the test sets with configure.
type testHost struct {
	d        *daemon
	kernel   *xfrm.Memory
	next     *setup
	nextErr  error
	listened []netip.Addr
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func pskFile(path, key string, addrs ...netip.Addr) *auth.PSKFile {
	return &auth.PSKFile{Path: path, Addrs: addrs, Key: auth.Secret(key)}
}

func peerSetup(locals []netip.Addr, cfg *policy.Config, files ...*auth.PSKFile) *setup {
	if cfg == nil {
		cfg = &policy.Config{IKEPort: 500}
	}
	return &setup{cfg: cfg, locals: locals, peers: policy.PSKPeers(locals, &auth.PSKSet{Files: files})}
}

func newTestHost(t *testing.T, n *testNet, s *setup) *testHost {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h := &testHost{kernel: xfrm.NewMemory(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{
		log: log, since: time.Now(), backend: "memory", kernel: h.kernel, stop: newStopper(),
		setup: s, runCtx: ctx, listening: map[netip.Addr]bool{}, reqids: newReqidTable(),
	}
	d.node = ike.NewNode(ike.Config{
		Log: log, Kernel: h.kernel, Transport: n,
		RetransmitBase: 100 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond,
	})
	d.listen = func(l netip.Addr) error {
		h.listened = append(h.listened, l)
		return nil
	}
	d.loadFn = func() (*setup, error) { return h.next, h.nextErr }
	n.mu.Lock()
	for _, a := range s.locals {
		n.nodes[a] = d.node
	}
	n.mu.Unlock()
	for _, l := range localsOf(s.peers) {
		d.listening[l] = true
	}
	for _, p := range s.peers {
		if err := d.addPeer(p); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		sctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
		defer stop()
		d.node.Close(sctx)
		cancel()
	})
	h.d = d
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// reload makes s the host's configuration and reloads.
func (h *testHost) reload(t *testing.T, s *setup) (string, error) {
	t.Helper()
	h.next, h.nextErr = s, nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.d.reload(ctx)
}

// waitEstablished waits until the host has exactly the given remotes, all
// established with a child SA, and returns them by remote.
func (h *testHost) waitEstablished(t *testing.T, remotes ...netip.Addr) map[netip.Addr]ike.PeerInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []ike.PeerInfo
	for time.Now().Before(deadline) {
		last = h.d.node.Peers()
		got := map[netip.Addr]ike.PeerInfo{}
		for _, p := range last {
			if p.State == ike.StateEstablished && p.IKE != nil && len(p.Children) > 0 {
				got[p.Remote] = p
			}
		}
		if len(last) == len(remotes) && len(got) == len(remotes) {
			ok := true
			for _, r := range remotes {
				if _, found := got[r]; !found {
					ok = false
				}
			}
			if ok {
				return got
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("peers %v not established; last: %+v", remotes, last)
	return nil
}

// policiesWith counts the host's protecting policies between its
// addresses and remote.
func (h *testHost) policiesWith(t *testing.T, remote netip.Addr) (n int, reqids map[uint32]bool) {
	t.Helper()
	pols, err := h.kernel.Policies()
	if err != nil {
		t.Fatal(err)
	}
	reqids = map[uint32]bool{}
	for _, p := range pols {
		if p.Bypass || (p.Src.Addr() != remote && p.Dst.Addr() != remote) {
			continue
		}
		n++
		reqids[p.Reqid] = true
	}
	return n, reqids
}

func (h *testHost) statesWith(t *testing.T, remote netip.Addr) int {
	t.Helper()
	sas, err := h.kernel.SAs()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sa := range sas {
		if sa.Src == remote || sa.Dst == remote {
			n++
		}
	}
	return n
}

func sameSAs(a, b ike.PeerInfo) bool {
	if a.IKE == nil || b.IKE == nil || a.IKE.SPIi != b.IKE.SPIi || a.IKE.SPIr != b.IKE.SPIr || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if a.Children[i].SPIIn != b.Children[i].SPIIn || a.Children[i].SPIOut != b.Children[i].SPIOut {
			return false
		}
	}
	return true
}

// TestReloadPeers walks one pair of hosts (plus a third host that never
// changes) through reloads that add a peer, remove one and change a key,
// checking that unaffected SAs are never touched and reqids stay per pair.
func TestReloadPeers(t *testing.T) {
	var (
		a4, a6 = addr("10.0.0.1"), addr("fd00::1")
		b4, b6 = addr("10.0.0.2"), addr("fd00::2")
		c4     = addr("10.0.0.3")
	)
	n := &testNet{nodes: map[netip.Addr]*ike.Node{}}
	aLocals, bLocals := []netip.Addr{a4, a6}, []netip.Addr{b4, b6}
	v4 := pskFile("v4.psk", "key-v4", a4, b4)
	v6 := pskFile("v6.psk", "key-v6", a6, b6)
	ac := pskFile("ac.psk", "key-ac", a4, c4)

	a := newTestHost(t, n, peerSetup(aLocals, nil, v4, ac))
	b := newTestHost(t, n, peerSetup(bLocals, nil, v4))
	c := newTestHost(t, n, peerSetup([]netip.Addr{c4}, nil, ac))
	c.waitEstablished(t, a4)
	b.waitEstablished(t, a4)
	start := a.waitEstablished(t, b4, c4)
	_, acReqids := a.policiesWith(t, c4)
	_, v4Reqids := a.policiesWith(t, b4)

	// unaffected checks that the A-C pair and, when given, the listed
	// pairs of A kept their SAs.
	unaffected := func(t *testing.T, before map[netip.Addr]ike.PeerInfo, remotes ...netip.Addr) {
		t.Helper()
		now := a.d.node.Peers()
		for _, r := range append(remotes, c4) {
			found := false
			for _, p := range now {
				if p.Remote == r {
					found = true
					if !sameSAs(before[r], p) {
						t.Errorf("SAs with unaffected peer %s changed: %+v -> %+v", r, before[r].IKE, p.IKE)
					}
				}
			}
			if !found {
				t.Errorf("unaffected peer %s is gone", r)
			}
		}
		if _, r := a.policiesWith(t, c4); fmt.Sprint(r) != fmt.Sprint(acReqids) {
			t.Errorf("A-C reqids changed: %v -> %v", acReqids, r)
		}
	}

	t.Run("same-config-is-a-no-op", func(t *testing.T) {
		out, err := a.reload(t, peerSetup(aLocals, nil, v4, ac))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "0 peers added, 0 removed, 0 re-keyed, 2 unchanged") {
			t.Errorf("summary %q", out)
		}
		unaffected(t, start, b4)
	})

	t.Run("add", func(t *testing.T) {
		out, err := a.reload(t, peerSetup(aLocals, nil, v4, v6, ac))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "1 peer added (fd00::2)") {
			t.Errorf("summary %q", out)
		}
		if len(a.listened) != 1 || a.listened[0] != a6 {
			t.Errorf("sockets opened for %v, want [%v] (the new local address only)", a.listened, a6)
		}
		if _, err := b.reload(t, peerSetup(bLocals, nil, v4, v6)); err != nil {
			t.Fatal(err)
		}
		got := a.waitEstablished(t, b4, b6, c4)
		b.waitEstablished(t, a4, a6)
		unaffected(t, start, b4)
		_, r6 := a.policiesWith(t, b6)
		if len(r6) != 1 || fmt.Sprint(r6) == fmt.Sprint(v4Reqids) || fmt.Sprint(r6) == fmt.Sprint(acReqids) {
			t.Errorf("new pair got reqids %v (v4 pair %v, A-C %v): want one fresh reqid", r6, v4Reqids, acReqids)
		}
		start = got
	})

	t.Run("remove", func(t *testing.T) {
		out, err := a.reload(t, peerSetup(aLocals, nil, v6, ac))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "1 removed (10.0.0.2)") {
			t.Errorf("summary %q", out)
		}
		if k, _ := a.policiesWith(t, b4); k != 0 {
			t.Errorf("%d policies left with the removed peer: it must talk in clear", k)
		}
		if k := a.statesWith(t, b4); k != 0 {
			t.Errorf("%d states left with the removed peer", k)
		}
		if _, err := b.reload(t, peerSetup(bLocals, nil, v6)); err != nil {
			t.Fatal(err)
		}
		b.waitEstablished(t, a6)
		a.waitEstablished(t, b6, c4)
		unaffected(t, start, b6)
	})

	t.Run("rekey", func(t *testing.T) {
		_, r6 := a.policiesWith(t, b6)
		v6b := pskFile("v6.psk", "key-v6-new", a6, b6)
		out, err := a.reload(t, peerSetup(aLocals, nil, v6b, ac))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "1 re-keyed (fd00::2)") {
			t.Errorf("summary %q", out)
		}
		// Until b has the key too, the pair is blocked, never in clear.
		if k, _ := a.policiesWith(t, b6); k == 0 {
			t.Errorf("the re-keyed pair lost its policies")
		}
		if _, err := b.reload(t, peerSetup(bLocals, nil, v6b)); err != nil {
			t.Fatal(err)
		}
		b.waitEstablished(t, a6)
		got := a.waitEstablished(t, b6, c4)
		if sameSAs(start[b6], got[b6]) {
			t.Errorf("re-keyed peer kept its old SAs")
		}
		if _, r := a.policiesWith(t, b6); fmt.Sprint(r) != fmt.Sprint(r6) {
			t.Errorf("re-keyed pair's reqid changed: %v -> %v", r6, r)
		}
		unaffected(t, start)
		start = got
	})

	t.Run("broken-config-rejected", func(t *testing.T) {
		a.next, a.nextErr = nil, &ConfigError{errors.New("creds/v6.psk:2: key is empty")}
		_, err := a.d.reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), "v6.psk:2") || !strings.Contains(err.Error(), "running one stays") {
			t.Fatalf("err %v", err)
		}
		unaffected(t, start, b6)
	})

	t.Run("restart-only-change-rejected", func(t *testing.T) {
		cfg := &policy.Config{IKEPort: 4501, IKEProposals: "aes128gcm16-prfsha256-x25519", Start: policy.StartOnDemand}
		// The new config would also drop the v6 pair: nothing of it may apply.
		_, err := a.reload(t, peerSetup(aLocals, cfg, ac))
		if err == nil || !strings.Contains(err.Error(), "restart metrod to change METRO_ISAKMP_IKE_PORT, METRO_IKE_PROPOSALS, METRO_START") {
			t.Fatalf("err %v", err)
		}
		unaffected(t, start, b6)
		if a.d.current().cfg.IKEPort != 500 {
			t.Errorf("running config replaced")
		}
	})

	t.Run("stopping", func(t *testing.T) {
		a.d.requestDown(false)
		if _, err := a.reload(t, peerSetup(aLocals, nil, ac)); !errors.Is(err, ErrStopping) {
			t.Fatalf("reload while stopping: %v", err)
		}
		unaffected(t, start, b6)
	})
}

func TestDiffPeers(t *testing.T) {
	locals := []netip.Addr{addr("10.0.0.1")}
	x := pskFile("x.psk", "k1", addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3"))
	y := pskFile("y.psk", "k1", addr("10.0.0.1"), addr("10.0.0.2")) // same key, another file
	z := pskFile("z.psk", "k2", addr("10.0.0.1"), addr("10.0.0.3"), addr("10.0.0.4"))
	old := peerSetup(locals, nil, x).peers
	// a.psk sorts first: 10.0.0.2 keeps key k1 from y; 10.0.0.3 now gets k2; 10.0.0.4 is new.
	y.Path = "a.psk"
	z.Path = "b.psk"
	plan := diffPeers(old, peerSetup(locals, nil, y, z, x).peers)
	if got, want := plan.String(), "1 peer added (10.0.0.4), 0 removed, 1 re-keyed (10.0.0.3), 1 unchanged"; got != want {
		t.Errorf("plan %q, want %q", got, want)
	}
	plan = diffPeers(old, nil)
	if got, want := plan.String(), "0 peers added, 2 removed (10.0.0.2, 10.0.0.3), 0 re-keyed, 0 unchanged"; got != want {
		t.Errorf("plan %q, want %q", got, want)
	}
	if !diffPeers(old, old).empty() {
		t.Errorf("same peers give a non-empty plan")
	}
}

func TestReqidsStablePerPair(t *testing.T) {
	tb := newReqidTable()
	k1 := pairKey{addr("10.0.0.1"), addr("10.0.0.2")}
	k2 := pairKey{addr("10.0.0.1"), addr("10.0.0.3")}
	r1, _ := tb.get(k1)
	r2, _ := tb.get(k2)
	if again, _ := tb.get(k1); again != r1 || r1 == r2 || !xfrm.OwnedReqid(r1) || !xfrm.OwnedReqid(r2) {
		t.Fatalf("reqids %#x %#x %#x", r1, again, r2)
	}
	tb.release(k1)
	if r3, _ := tb.get(k1); r3 == r1 || r3 == r2 {
		t.Errorf("a re-added pair got an old reqid %#x", r3)
	}
	// Wrap-around skips reqids in use.
	tb.next = xfrm.ReqidSpan - 1
	k9 := pairKey{addr("10.0.0.9"), addr("10.0.0.8")}
	tb.byPair[k9], tb.used[xfrm.ReqidBase+1] = xfrm.ReqidBase+1, true
	r4, err := tb.get(pairKey{addr("10.0.0.1"), addr("10.0.0.4")})
	if err != nil || r4 == xfrm.ReqidBase+1 || !xfrm.OwnedReqid(r4) {
		t.Errorf("after wrap-around: %#x %v", r4, err)
	}
	// A released reqid is free again once the range comes round.
	tb.release(k9)
	if tb.used[xfrm.ReqidBase+1] {
		t.Errorf("released reqid still marked used")
	}
}

func TestDownCommand(t *testing.T) {
	k := xfrm.NewMemory(nil)
	for _, p := range xfrm.ProtectPolicies(addr("10.0.0.1"), addr("10.0.0.2"), xfrm.ReqidBase+1) {
		if err := k.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range xfrm.NDBypassPolicies(addr("fd00::1"), addr("fd00::2")) {
		if err := k.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := k.Policies()
	d := &daemon{stop: newStopper(), kernel: k}
	if _, err := d.Command(context.Background(), CmdDown, map[string]string{"bogus": "1"}); err == nil {
		t.Error("unknown argument accepted")
	}
	if _, err := d.Command(context.Background(), CmdDown, map[string]string{ArgClearText: "maybe"}); err == nil {
		t.Error("bad boolean accepted")
	}
	if d.isStopping() {
		t.Fatal("a rejected down stopped metrod")
	}
	out, err := d.Command(context.Background(), CmdDown, nil)
	if err != nil || !strings.Contains(out, "policies stay") || !d.isStopping() || d.clearTextRequested() {
		t.Fatalf("down: %q %v stopping=%v clear=%v", out, err, d.isStopping(), d.clearTextRequested())
	}
	out, err = d.Command(context.Background(), CmdDown, map[string]string{ArgClearText: "true"})
	if err != nil || !strings.Contains(out, "in clear") || !d.clearTextRequested() {
		t.Fatalf("down --enable-clear-text: %q %v", out, err)
	}
	removed, err := removePolicies(k)
	if err != nil || len(removed) != len(before) || len(before) == 0 {
		t.Fatalf("removed %d of %d policies: %v", len(removed), len(before), err)
	}
	if left, _ := k.Policies(); len(left) != 0 {
		t.Errorf("%d policies left", len(left))
	}
	if _, err := d.Command(context.Background(), "frobnicate", nil); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	var h Handle
	if _, err := h.Reload(context.Background()); !errors.Is(err, ErrNotReady) {
		t.Errorf("Handle.Reload before Run: %v", err)
	}
}

// TestReloadUpdatesFirewall: metro's nftables table follows the peers and
// METRO_MSS on reload.
func TestReloadUpdatesFirewall(t *testing.T) {
	a4, b4, c4 := addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3")
	n := &testNet{nodes: map[netip.Addr]*ike.Node{}}
	locals := []netip.Addr{a4}
	h := newTestHost(t, n, peerSetup(locals, nil, pskFile("ab.psk", "k", a4, b4)))
	fw := firewall.NewMemory()
	h.d.fw = fw
	cfg := &policy.Config{IKEPort: 500, MSS: 1300}
	if _, err := h.reload(t, peerSetup(locals, cfg, pskFile("ab.psk", "k", a4, b4, c4))); err != nil {
		t.Fatal(err)
	}
	r, ok := fw.Current()
	if !ok || r.MSS != 1300 || fmt.Sprint(r.Peers) != fmt.Sprint([]netip.Addr{b4, c4}) {
		t.Fatalf("table after reload: %+v (installed %v)", r, ok)
	}
	if _, err := h.reload(t, peerSetup(locals, &policy.Config{IKEPort: 500}, pskFile("ab.psk", "k", a4, b4, c4))); err != nil {
		t.Fatal(err)
	}
	if _, ok := fw.Current(); ok {
		t.Errorf("table still installed after METRO_MSS was unset")
	}
}

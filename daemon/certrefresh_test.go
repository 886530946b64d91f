package daemon

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"metro/auth/testca"
	"metro/ike"
	"metro/policy"
)

// switchResolver is a resolver whose answers the test changes.
type switchResolver struct {
	mu sync.Mutex
	m  map[string][]netip.Addr
}

func (r *switchResolver) set(host string, addrs ...netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[host] = addrs
}

func (r *switchResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.m[host]; ok && len(a) > 0 {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// TestCertPeersFollowDNS: a certificate server whose name moves to another
// address is re-peered by the periodic resolution (old pair's policies gone,
// new pair's installed); a name that stops resolving drops its peer, and
// comes back when it resolves again.
func TestCertPeersFollowDNS(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	a := ca.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, KeyIndex: 1})
	b := ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2})
	dir := t.TempDir()
	testca.WriteFile(dir, "ca.crt", testca.CertPEM(ca.Root()))
	a.WriteServer(dir, "a.example.com")
	testca.WriteFile(dir, "b.example.com.crt", b.ChainPEM())

	local, old, moved := addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3")
	res := &switchResolver{m: map[string][]netip.Addr{"a.example.com": {local}, "b.example.com": {old}}}
	o := Options{Backend: "memory", Resolver: res, ResolveInterval: 50 * time.Millisecond}
	s := &setup{cfg: &policy.Config{IKEPort: 500, CredsDir: dir, ParentHostname: "a", CACert: filepath.Join(dir, "ca.crt")},
		locals: []netip.Addr{local}}
	h := newTestHost(t, &testNet{nodes: map[netip.Addr]*ike.Node{}}, &setup{cfg: s.cfg, locals: s.locals})
	if err := loadCertPeers(context.Background(), s, o, h.d.log); err != nil {
		t.Fatal(err)
	}
	h.d.opts = o
	h.d.reloadMu.Lock()
	if _, err := h.d.apply(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	h.d.reloadMu.Unlock()
	if n, _ := h.policiesWith(t, old); n == 0 {
		t.Fatalf("no policies with b at %s after start", old)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.d.refreshCertPeers(ctx)

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	peersTo := func(remote netip.Addr) int {
		n := 0
		for _, p := range h.d.current().peers {
			if p.Remote == remote {
				n++
			}
		}
		return n
	}

	res.set("b.example.com", moved)
	waitFor("b re-peered at its new address", func() bool { return peersTo(moved) == 1 && peersTo(old) == 0 })
	if n, _ := h.policiesWith(t, old); n != 0 {
		t.Errorf("%d policies left with b's old address %s", n, old)
	}
	if n, _ := h.policiesWith(t, moved); n == 0 {
		t.Errorf("no policies with b's new address %s", moved)
	}

	res.set("b.example.com")
	waitFor("b dropped while its name does not resolve", func() bool { return peersTo(moved) == 0 })
	res.set("b.example.com", moved)
	waitFor("b back once its name resolves again", func() bool { return peersTo(moved) == 1 })
}

package daemon

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"metro/ike"
	"metro/policy"
	"metro/xfrm"
)

// removeTimeout bounds tearing down one peer during a reload.
const removeTimeout = 10 * time.Second

// pairKey names a protected host pair from this host's side.
type pairKey struct{ local, remote netip.Addr }

// reloadPlan is what a new configuration changes in the peers.
type reloadPlan struct {
	add       []policy.Peer // new pairs
	remove    []policy.Peer // pairs no longer configured (the old entries)
	rekey     []policy.Peer // pairs whose key changed (the new entries)
	unchanged int
}

// diffPeers compares the running peers with the new ones. A pair whose key
// is the same stays untouched even if the key now comes from another file.
func diffPeers(old, new []policy.Peer) reloadPlan {
	var plan reloadPlan
	before := make(map[pairKey]policy.Peer, len(old))
	for _, p := range old {
		before[pairKey{p.Local, p.Remote}] = p
	}
	seen := make(map[pairKey]bool, len(new))
	for _, p := range new {
		k := pairKey{p.Local, p.Remote}
		seen[k] = true
		o, ok := before[k]
		switch {
		case !ok:
			plan.add = append(plan.add, p)
		case !sameKey(o, p):
			plan.rekey = append(plan.rekey, p)
		default:
			plan.unchanged++
		}
	}
	for _, p := range old {
		if !seen[pairKey{p.Local, p.Remote}] {
			plan.remove = append(plan.remove, p)
		}
	}
	return plan
}

func sameKey(a, b policy.Peer) bool {
	if a.Cert != nil || b.Cert != nil {
		return a.Cert != nil && b.Cert != nil && sameCert(a.Cert, b.Cert)
	}
	if a.PSK == nil || b.PSK == nil {
		return a.PSK == b.PSK
	}
	return subtle.ConstantTimeCompare(a.PSK.Key, b.PSK.Key) == 1
}

func (p reloadPlan) empty() bool {
	return len(p.add) == 0 && len(p.remove) == 0 && len(p.rekey) == 0
}

// String summarises the plan, e.g. "1 peer added (10.0.0.3), 1 removed
// (10.0.0.4), 0 re-keyed, 2 unchanged".
func (p reloadPlan) String() string {
	list := func(ps []policy.Peer) string {
		if len(ps) == 0 {
			return ""
		}
		ss := make([]string, len(ps))
		for i, x := range ps {
			ss[i] = x.Remote.String()
		}
		return " (" + strings.Join(ss, ", ") + ")"
	}
	noun := "peers"
	if len(p.add) == 1 {
		noun = "peer"
	}
	return fmt.Sprintf("%d %s added%s, %d removed%s, %d re-keyed%s, %d unchanged",
		len(p.add), noun, list(p.add), len(p.remove), list(p.remove), len(p.rekey), list(p.rekey), p.unchanged)
}

// restartOnly lists what metrod applies only at start: a new configuration
// that changes any of these is rejected as a whole.
var restartOnly = []struct {
	name string
	same func(a, b *policy.Config) bool
}{
	{"METRO_ISAKMP_IKE_PORT", func(a, b *policy.Config) bool { return a.IKEPort == b.IKEPort }},
	{"METRO_IPSEC_NAT_TRAVERSAL_PORT", func(a, b *policy.Config) bool { return a.NATTPort == b.NATTPort }},
	{"METRO_IKE_PROPOSALS", func(a, b *policy.Config) bool { return a.IKEProposals == b.IKEProposals }},
	{"METRO_ESP_PROPOSALS", func(a, b *policy.Config) bool { return a.ESPProposals == b.ESPProposals }},
	{"METRO_IKE_LIFETIME", func(a, b *policy.Config) bool { return a.IKELifetime == b.IKELifetime }},
	{"METRO_CHILD_LIFETIME", func(a, b *policy.Config) bool { return a.ChildLifetime == b.ChildLifetime }},
	{"METRO_CHILD_LIFETIME_BYTES", func(a, b *policy.Config) bool { return a.ChildLifetimeBytes == b.ChildLifetimeBytes }},
	{"METRO_CHILD_LIFETIME_PACKETS", func(a, b *policy.Config) bool { return a.ChildLifetimePackets == b.ChildLifetimePackets }},
	{"METRO_DPD_INTERVAL", func(a, b *policy.Config) bool { return a.DPDInterval == b.DPDInterval }},
	{"METRO_START", func(a, b *policy.Config) bool { return a.Start == b.Start }},
	{"METRO_KEYLOG", func(a, b *policy.Config) bool { return a.KeyLog == b.KeyLog }},
	{"METRO_IKE_FRAGMENT_SIZE", func(a, b *policy.Config) bool { return a.IKEFragmentSize == b.IKEFragmentSize }},
}

// checkRestartOnly returns an error naming every restart-only variable
// that differs between the running and the new configuration.
func checkRestartOnly(running, next *policy.Config) error {
	var changed []string
	for _, v := range restartOnly {
		if !v.same(running, next) {
			changed = append(changed, v.name)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return &ConfigError{fmt.Errorf("restart metrod to change %s (a reload cannot apply it)", strings.Join(changed, ", "))}
}

// ErrStopping is returned by a reload while metrod is stopping.
var ErrStopping = errors.New("metrod is stopping")

// reload re-reads the configuration and credentials and applies them. A
// configuration with errors is rejected as a whole and the running one
// stays.
func (d *daemon) reload(ctx context.Context) (string, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.isStopping() {
		return "", ErrStopping
	}
	d.log.Info("reloading the configuration and credentials")
	s, err := d.loadSetup()
	if err != nil {
		err = fmt.Errorf("new configuration rejected, the running one stays: %w", err)
		d.log.Error("reload failed", "err", err)
		return "", err
	}
	out, err := d.apply(ctx, s)
	if err != nil {
		d.log.Error("reload failed", "err", err)
		return out, err
	}
	d.log.Info("reloaded", "result", out)
	return out, nil
}

// loadSetup reads the configuration (daemon.load, or a test's stand-in).
func (d *daemon) loadSetup() (*setup, error) {
	if d.loadFn != nil {
		return d.loadFn()
	}
	return load(d.opts, d.log)
}

// apply makes the running peers those of s: new pairs are added, pairs no
// longer configured are removed with their policies (the hosts talk in
// clear, as before metro), pairs whose key changed are re-authenticated
// under their old reqid (their policies stay: blocked, never clear).
// Peers that did not change are not touched. d.reloadMu must be held.
func (d *daemon) apply(ctx context.Context, s *setup) (string, error) {
	running := d.current()
	if err := checkRestartOnly(running.cfg, s.cfg); err != nil {
		return "", fmt.Errorf("new configuration rejected, the running one stays: %w", err)
	}
	plan := diffPeers(running.peers, s.peers)

	// Sockets first: if a new local address cannot be listened on, the
	// new configuration is rejected before anything changes.
	for _, p := range plan.add {
		if d.listening[p.Local] {
			continue
		}
		if err := d.listen(p.Local); err != nil {
			return "", fmt.Errorf("new configuration rejected, the running one stays: %w", err)
		}
		d.listening[p.Local] = true
	}

	var errs []error
	for _, p := range plan.remove {
		rctx, cancel := context.WithTimeout(ctx, removeTimeout)
		if err := d.node.RemovePeer(rctx, p.Local, p.Remote, true); err != nil {
			errs = append(errs, fmt.Errorf("removing peer %s (from %s): %w", p.Remote, p.Local, err))
		}
		cancel()
		d.reqids.release(pairKey{p.Local, p.Remote})
		d.log.Info("peer removed: traffic with it is no longer protected", "peer", p.Remote, "local", p.Local)
	}
	for _, p := range plan.rekey {
		rctx, cancel := context.WithTimeout(ctx, removeTimeout)
		err := d.node.RemovePeer(rctx, p.Local, p.Remote, false)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("re-keying peer %s (from %s): %w", p.Remote, p.Local, err))
		}
		if err := d.addPeer(p); err != nil {
			errs = append(errs, err)
			continue
		}
		d.log.Info("peer key changed: re-authenticating", "peer", p.Remote, "local", p.Local, "auth", p.Source())
	}
	for _, p := range plan.add {
		if err := d.addPeer(p); err != nil {
			errs = append(errs, err)
			continue
		}
		d.log.Info("peer added", "peer", p.Remote, "local", p.Local, "auth", p.Source())
	}
	d.setSetup(s)
	if d.fw != nil {
		if err := applyFirewall(d.fw, s, d.opts.IgnoreAltPorts, d.log); err != nil {
			errs = append(errs, fmt.Errorf("updating metro's nftables table: %w", err))
		}
	}
	out := "reloaded: " + plan.String()
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("reload applied with errors: %w", err)
	}
	return out, nil
}

// addPeer starts protecting a pair under its reqid (kept across reloads,
// fresh for a new pair).
func (d *daemon) addPeer(p policy.Peer) error {
	reqid, err := d.reqids.get(pairKey{p.Local, p.Remote})
	if err != nil {
		return err
	}
	pc := ike.PeerConfig{Local: p.Local, Remote: p.Remote, Reqid: reqid}
	if p.Cert != nil {
		pc.Cert = certPeerConfig(p)
	} else {
		pc.PSK, pc.PSKSource = p.PSK.Key, p.PSK.Path
	}
	if err := d.node.AddPeer(d.runCtx, pc); err != nil {
		return fmt.Errorf("adding peer %s (from %s): %w", p.Remote, p.Local, err)
	}
	return nil
}

// reqidTable hands out reqids from metro's range, one per pair, stable
// while the pair stays configured. It keeps the reverse set so that a new
// pair costs O(1), not a scan of every configured pair (a 10000-peer
// start-up was quadratic).
type reqidTable struct {
	byPair map[pairKey]uint32
	used   map[uint32]bool
	next   uint32 // last reqid handed out, relative to xfrm.ReqidBase
}

func newReqidTable() *reqidTable {
	return &reqidTable{byPair: map[pairKey]uint32{}, used: map[uint32]bool{}}
}

// get returns the pair's reqid, allocating the next free one in metro's
// range for a new pair.
func (t *reqidTable) get(k pairKey) (uint32, error) {
	if r, ok := t.byPair[k]; ok {
		return r, nil
	}
	for range xfrm.ReqidSpan {
		t.next++
		if t.next >= xfrm.ReqidSpan {
			t.next = 1
		}
		r := xfrm.ReqidBase + t.next
		if !t.used[r] {
			t.byPair[k] = r
			t.used[r] = true
			return r, nil
		}
	}
	return 0, fmt.Errorf("peer %s (from %s): no free reqid left in metro's range", k.remote, k.local)
}

// release frees the pair's reqid (the pair was removed).
func (t *reqidTable) release(k pairKey) {
	if r, ok := t.byPair[k]; ok {
		delete(t.used, r)
		delete(t.byPair, k)
	}
}

// locals returns the distinct local addresses of peers, in order.
func localsOf(peers []policy.Peer) []netip.Addr {
	var out []netip.Addr
	for _, p := range peers {
		if !slices.Contains(out, p.Local) {
			out = append(out, p.Local)
		}
	}
	return out
}

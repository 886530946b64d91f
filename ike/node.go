package ike

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"metro/auth"
	"metro/ike/ikecrypto"
	"metro/ike/wire"
	"metro/xfrm"
)

// Transport sends IKE datagrams. The daemon implements it with UDP sockets,
// tests with an in-memory network.
type Transport interface {
	Send(b []byte, local, remote netip.AddrPort) error
}

// Config is what a Node needs; zero durations take the defaults.
type Config struct {
	Log       *slog.Logger
	Kernel    xfrm.Kernel
	Transport Transport
	Port      uint16 // IKE port, ours and the peers'
	NATTPort  uint16 // NAT-traversal port, ours and the peers' (default 4500)

	// FragmentSize is the largest encrypted message sent whole when both
	// hosts support IKE fragmentation (RFC 7383); 0 means
	// DefaultFragmentSize, negative turns fragmentation off.
	FragmentSize int

	IKEProposals []ikecrypto.Proposal // nil: ikecrypto.DefaultIKEProposals()
	ESPProposals []ikecrypto.Proposal // nil: ikecrypto.DefaultESPProposals()

	Rand io.Reader // nil: crypto/rand

	RetransmitBase  time.Duration // first retransmission timeout (default 1s), doubled each time
	RetransmitTries int           // retransmissions before giving up (default 5)
	RetryMin        time.Duration // first re-initiation delay after a failure (default 2s)
	RetryMax        time.Duration // longest re-initiation delay (default 60s)
	ReplayWindow    uint32        // inbound ESP replay window (default 128)

	// KeyLog, when set, receives every IKE and ESP SA's keys (debugging
	// only: see KeyLogger).
	KeyLog KeyLogger

	// Lifetimes; zero means no rekeying. The host that initiated an SA
	// rekeys it first, at 80-88% of its lifetime (random jitter, so that
	// peers do not rekey in lockstep); the other host only as a fallback,
	// at 92-96%. ESP states get kernel limits too: soft at 97%, hard at
	// 100% (states go, policies stay: traffic is blocked, never clear).
	IKELifetime   time.Duration
	ChildLifetime time.Duration

	// Volume limits of a CHILD_SA's states, bytes and packets; zero means
	// none. They are kernel limits: the hard limit at the value, the soft
	// one, whose expiry event starts a rekey, where the time-based rekey
	// would be (80-88% on the host that created the SA, 92-96% on the
	// other, random within the range).
	ChildLifetimeBytes   uint64
	ChildLifetimePackets uint64

	// DPDInterval is the idle time after which a peer is probed with an
	// empty INFORMATIONAL (0: never).
	DPDInterval time.Duration

	// OnDemand makes negotiation wait for traffic (METRO_START=on-demand,
	// strongSwan's start_action=trap): a peer is not negotiated with when
	// it is added, nor again by itself after its SAs are lost (failed
	// negotiation, the peer's DELETE, dead peer, hard expiry); a kernel
	// ACQUIRE starts a negotiation, and the peer's own are answered.
	// Rekeying is the same either way.
	OnDemand bool

	// OnPeerEvent, when set, is called each time a peer's IKE SA and
	// CHILD_SA are established and each time a negotiation fails. It runs
	// on the peer's goroutine, so it must return quickly and must not call
	// the Node (load generators and tests use it to count setups).
	OnPeerEvent func(PeerEvent)

	// answerRekeyCollisions makes the original initiator answer a
	// colliding CHILD_SA rekey as usual instead of with TEMPORARY_FAILURE,
	// as other implementations do; tests use it for the nonce rule.
	answerRekeyCollisions bool

	// BenchAcceptTunnel, for load generators only, lets an initiator keep
	// a CHILD_SA that the responder set up in tunnel mode in answer to
	// our transport-mode request (strongSwan's kernel-libipsec has no
	// transport mode). metrod never sets it: it protects in transport mode
	// only.
	BenchAcceptTunnel bool
}

// PeerConfig describes one protected host pair.
type PeerConfig struct {
	Local, Remote netip.Addr
	PSK           auth.Secret
	PSKSource     string // file the key came from, for logs
	Reqid         uint32
	Cert          *CertPeer // certificate authentication instead of the PSK (authn.go)
}

// Node runs the IKE SAs of one host with all of its peers.
type Node struct {
	cfg   Config
	log   *slog.Logger
	start time.Time

	mu        sync.Mutex
	peers     map[pairKey]*peer
	unknown   map[netip.Addr]bool // unknown senders already logged
	closed    bool
	firstSent map[netip.Addr]bool // INITIAL_CONTACT bookkeeping, by remote
	// unwatch undoes a peer's context.AfterFunc (AddPeer): the context
	// holds the peer until then, and outlives peers that RemovePeer or
	// Close stopped (the daemon's lives as long as the process).
	unwatch map[*peer]func() bool
	// leaving are peers RemovePeer took out that may still be shutting
	// down (its caller can give up waiting); Close waits for them too.
	leaving map[*peer]bool
}

type pairKey struct{ local, remote netip.Addr }

// NewNode returns a node with no peers.
func NewNode(cfg Config) *Node {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.IKEProposals == nil {
		cfg.IKEProposals = ikecrypto.DefaultIKEProposals()
	}
	if cfg.ESPProposals == nil {
		cfg.ESPProposals = ikecrypto.DefaultESPProposals()
	}
	if cfg.RetransmitBase == 0 {
		cfg.RetransmitBase = time.Second
	}
	if cfg.RetransmitTries == 0 {
		cfg.RetransmitTries = 5
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 2 * time.Second
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 60 * time.Second
	}
	if cfg.ReplayWindow == 0 {
		cfg.ReplayWindow = 128
	}
	if cfg.Port == 0 {
		cfg.Port = 500
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = 4500
	}
	return &Node{
		cfg:       cfg,
		log:       cfg.Log,
		start:     time.Now(),
		peers:     map[pairKey]*peer{},
		unknown:   map[netip.Addr]bool{},
		firstSent: map[netip.Addr]bool{},
		unwatch:   map[*peer]func() bool{},
		leaving:   map[*peer]bool{},
	}
}

// AddPeer installs the pair's policies (traffic between the two addresses
// is blocked from now on unless protected) and starts negotiating, or,
// with Config.OnDemand, waits for traffic or for the peer.
func (n *Node) AddPeer(ctx context.Context, pc PeerConfig) error {
	for _, p := range xfrm.NDBypassPolicies(pc.Local, pc.Remote) {
		if err := n.cfg.Kernel.SetPolicy(p); err != nil {
			return fmt.Errorf("peer %s: installing neighbour-discovery bypass: %w", pc.Remote, err)
		}
	}
	for _, p := range xfrm.ProtectPolicies(pc.Local, pc.Remote, pc.Reqid) {
		if err := n.cfg.Kernel.SetPolicy(p); err != nil {
			return fmt.Errorf("peer %s: installing policy: %w", pc.Remote, err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("node closed")
	}
	k := pairKey{pc.Local, pc.Remote}
	if _, ok := n.peers[k]; ok {
		return fmt.Errorf("peer %s from %s added twice", pc.Remote, pc.Local)
	}
	p := newPeer(ctx, n, pc)
	n.peers[k] = p
	// The peer has no goroutine until an event comes (peer.post); the
	// node's context ending is one.
	n.unwatch[p] = context.AfterFunc(ctx, func() { p.post(evClose{}) })
	if !n.cfg.OnDemand {
		p.post(evInitiate{})
	}
	return nil
}

// RemovePeer stops negotiating with a pair: its IKE SAs are deleted (a
// DELETE goes to the peer) and its ESP states removed. With dropPolicies
// its policies go too, so traffic between the two addresses flows in clear
// (as for a host that is no longer a peer); otherwise they stay and block it.
func (n *Node) RemovePeer(ctx context.Context, local, remote netip.Addr, dropPolicies bool) error {
	k := pairKey{local, remote}
	n.mu.Lock()
	p := n.peers[k]
	delete(n.peers, k)
	unwatch := n.unwatch[p]
	delete(n.unwatch, p)
	if p != nil {
		n.leaving[p] = true
	}
	n.mu.Unlock()
	if p == nil {
		return fmt.Errorf("no peer %s from %s", remote, local)
	}
	defer func() {
		select {
		case <-p.done:
			n.mu.Lock()
			delete(n.leaving, p)
			n.mu.Unlock()
		default: // still going: Close waits for it, and it leaves the set when done
			go func() {
				<-p.done
				n.mu.Lock()
				delete(n.leaving, p)
				n.mu.Unlock()
			}()
		}
	}()
	if unwatch != nil { // nil once Close took them all
		unwatch()
	}
	p.post(evClose{})
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !dropPolicies {
		return nil
	}
	var errs []error
	for _, pol := range append(xfrm.ProtectPolicies(local, remote, p.cfg.Reqid), xfrm.NDBypassPolicies(local, remote)...) {
		if err := n.cfg.Kernel.DeletePolicy(pol); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Receive hands a datagram that arrived on local from remote to the IKE SA
// it belongs to. It never blocks for long: a peer whose queue is full drops.
func (n *Node) Receive(b []byte, local, remote netip.AddrPort) {
	m, err := wire.ParseMessage(b)
	if err != nil {
		n.log.Debug("dropping unparsable IKE datagram", "peer", remote.Addr(), "err", err)
		return
	}
	if m.Header.Version>>4 != 2 {
		n.log.Debug("dropping IKE datagram with another major version", "peer", remote.Addr(), "version", m.Header.Version)
		return
	}
	n.mu.Lock()
	p := n.peers[pairKey{local.Addr().Unmap(), remote.Addr().Unmap()}]
	n.mu.Unlock()
	if p == nil {
		n.rejectUnknown(m, local, remote)
		return
	}
	p.post(evPacket{msg: m, from: remote, to: local})
}

// rejectUnknown answers a request from an address that is no configured
// peer without keeping state: an IKE_SA_INIT request gets
// NO_PROPOSAL_CHOSEN (RFC 7296 2.21.1), anything else is dropped.
func (n *Node) rejectUnknown(m *wire.Message, local, remote netip.AddrPort) {
	n.mu.Lock()
	logged := n.unknown[remote.Addr()]
	if !logged && len(n.unknown) < 4096 {
		n.unknown[remote.Addr()] = true
	}
	n.mu.Unlock()
	if !logged {
		n.log.Warn("IKE message from an address that is not a configured peer; ignoring it (logged once per address)",
			"peer", remote.Addr(), "local", local.Addr(), "exchange", m.Header.Exchange)
	}
	h := m.Header
	if h.Exchange != wire.IKE_SA_INIT || h.IsResponse() || h.SPIr != 0 || h.MessageID != 0 {
		return
	}
	resp := &wire.Message{
		Header: wire.Header{SPIi: h.SPIi, Version: 0x20, Exchange: wire.IKE_SA_INIT, Flags: wire.FlagResponse},
		Payloads: []wire.Payload{
			&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN},
		},
	}
	_ = n.cfg.Transport.Send(resp.Marshal(), local, remote)
}

// Close deletes every IKE SA (DELETE sent to the peer, states removed from
// the kernel) and stops the peers. Policies stay, so traffic between the
// hosts stays blocked, never in clear.
func (n *Node) Close(ctx context.Context) {
	n.mu.Lock()
	n.closed = true
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		peers = append(peers, p)
	}
	for p := range n.leaving {
		peers = append(peers, p)
	}
	unwatch := n.unwatch
	n.unwatch = map[*peer]func() bool{}
	n.mu.Unlock()
	for _, stop := range unwatch {
		stop()
	}
	for _, p := range peers {
		p.post(evClose{})
	}
	for _, p := range peers {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}

// Peers returns a snapshot of every peer, sorted by remote then local address.
func (n *Node) Peers() []PeerInfo {
	n.mu.Lock()
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		peers = append(peers, p)
	}
	n.mu.Unlock()
	out := make([]PeerInfo, 0, len(peers))
	for _, p := range peers {
		out = append(out, p.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Remote.Compare(out[j].Remote); c != 0 {
			return c < 0
		}
		return out[i].Local.Less(out[j].Local)
	})
	return out
}

// randomBytes fills a fresh slice from the node's random source.
func (n *Node) randomBytes(k int) []byte {
	b := make([]byte, k)
	if _, err := io.ReadFull(n.cfg.Rand, b); err != nil {
		panic("ike: random source failed: " + err.Error())
	}
	return b
}

// initialContact reports whether this is the first IKE SA this process sets
// up with remote, and records that it is no longer.
func (n *Node) initialContact(remote netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.firstSent[remote] {
		return false
	}
	n.firstSent[remote] = true
	return true
}

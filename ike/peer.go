package ike

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"metro/ike/wire"
	"metro/xfrm"
)

// Peer states as shown by metroctl status.
const (
	StateConnecting  = "connecting"
	StateEstablished = "established"
	StateFailed      = "failed"
	// StateIdle: start on demand (Config.OnDemand), no SA and no
	// negotiation under way; the pair's policies block its traffic until
	// a packet to the peer (kernel ACQUIRE) or the peer's own initiation
	// sets one up. Never used in connect mode.
	StateIdle = "idle"
)

// Events in a peer's queue. Everything that touches a peer's SAs goes
// through this one queue, so two messages of one SA are never handled at
// the same time.
type (
	evPacket struct {
		msg      *wire.Message
		from, to netip.AddrPort // the peer's address and ours
	}
	evTimer struct {
		sa  *ikeSA
		gen uint64
	}
	evInitiate struct{}
	evClose    struct{}
)

var (
	errClosing    = errors.New("shutting down")
	errSuperseded = errors.New("the peer's simultaneous initiation takes precedence")
)

// peer owns the IKE SAs with one remote address.
type peer struct {
	n      *Node
	cfg    PeerConfig
	auth   authenticator // from cfg, see authn
	log    *slog.Logger
	local  netip.AddrPort
	remote netip.AddrPort
	ctx    context.Context // the node's: cancelled, the peer shuts down
	done   chan struct{}   // closed when the peer finished

	// The event queue (see post). qmu guards the fields up to wake.
	qmu           sync.Mutex
	queue         []any
	queuedPackets int
	running       bool // a goroutine is handling the queue
	finished      bool
	wake          chan struct{} // capacity 1: an event arrived during an exchange

	sas     map[uint64]*ikeSA // by our SPI
	current *ikeSA            // the established SA whose child carries traffic

	timerGen   uint64
	failures   int
	retry      *time.Timer
	closing    bool
	initiating bool
	superseded bool // a crossed IKE_SA_INIT from the peer replaces our initiation
	initTries  int  // retransmissions of our pending IKE_SA_INIT

	rekeyingChild *childSA  // our CHILD_SA rekey in progress
	rekeyingIKE   *ikeSA    // our IKE SA rekey in progress
	deferred      []any     // events that arrived during an exchange
	lastRecv      time.Time // last authentic message from the peer
	dpdTimer      *time.Timer
	espSeen       uint64    // inbound ESP bytes at the last liveness check
	espAlive      time.Time // when they last grew // a crossed IKE_SA_INIT from the peer replaces our initiation

	mu   sync.Mutex // guards snap
	snap PeerInfo
}

func newPeer(ctx context.Context, n *Node, pc PeerConfig) *peer {
	p := &peer{
		n:      n,
		cfg:    pc,
		log:    n.log.With("peer", pc.Remote.String()),
		local:  netip.AddrPortFrom(pc.Local, n.cfg.Port),
		remote: netip.AddrPortFrom(pc.Remote, n.cfg.Port),
		ctx:    ctx,
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
		sas:    map[uint64]*ikeSA{},
	}
	state := StateConnecting
	if n.cfg.OnDemand {
		state = StateIdle
	}
	p.snap = PeerInfo{Local: pc.Local, Remote: pc.Remote, State: state, Since: time.Now()}
	return p
}

// maxQueuedDatagrams bounds the datagrams waiting for a peer's goroutine.
const maxQueuedDatagrams = 64

// post queues an event and makes sure a goroutine handles it. A peer has
// no goroutine while it has nothing to do: an idle peer (most of them,
// most of the time, in a large mesh) costs no stack and nothing for the
// garbage collector to scan; the first event starts one, which returns
// once the queue is empty outside an exchange. Datagrams are dropped when
// too many wait (the peer retransmits); timer and control events are
// never dropped, since they fire once. Events after the peer finished are
// dropped.
func (p *peer) post(ev any) {
	p.tryPost(ev)
}

// tryPost is post, reporting whether the event was queued (false: the
// peer finished, or a datagram found the queue full).
func (p *peer) tryPost(ev any) bool {
	p.qmu.Lock()
	if p.finished {
		p.qmu.Unlock()
		return false
	}
	if _, ok := ev.(evPacket); ok && p.queuedPackets >= maxQueuedDatagrams {
		p.qmu.Unlock()
		p.log.Debug("event queue full, dropping a datagram")
		return false
	}
	if _, ok := ev.(evPacket); ok {
		p.queuedPackets++
	}
	p.queue = append(p.queue, ev)
	start := !p.running
	p.running = true
	p.qmu.Unlock()
	if start {
		go p.run()
		return true
	}
	// The goroutine may be waiting inside an exchange.
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes the oldest queued event; ok is false when there is none.
// With idle set, an empty queue also ends the goroutine's turn (running
// is cleared under the same lock post checks, so an event queued right
// after starts a new goroutine).
func (p *peer) take(idle bool) (ev any, ok bool) {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if len(p.queue) == 0 {
		if idle {
			p.running = false
		}
		return nil, false
	}
	ev = p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	if _, isPacket := ev.(evPacket); isPacket {
		p.queuedPackets--
	}
	return ev, true
}

// run handles queued events until there are none; it is started by post.
func (p *peer) run() {
	for {
		var ev any
		if len(p.deferred) > 0 {
			ev = p.deferred[0]
			p.deferred = p.deferred[1:]
			if len(p.deferred) == 0 {
				p.deferred = nil
			}
		} else {
			var ok bool
			if ev, ok = p.take(true); !ok {
				return
			}
		}
		if p.dispatch(p.ctx, ev) {
			p.finish()
			return
		}
	}
}

// finish marks the peer stopped: later events are dropped, done closes.
func (p *peer) finish() {
	p.stopRetry()
	p.qmu.Lock()
	p.finished, p.running = true, false
	p.queue, p.queuedPackets = nil, 0
	p.qmu.Unlock()
	close(p.done)
}

// dispatch handles one event outside an exchange; it returns true when the
// peer is finished.
func (p *peer) dispatch(ctx context.Context, ev any) bool {
	switch ev := ev.(type) {
	case evClose:
		p.shutdown()
		return true
	case evInitiate:
		if p.current != nil || p.closing {
			return false
		}
		if p.halfOpen() {
			// The peer is setting up an SA with us right now; give it
			// time before starting a second one.
			p.scheduleInitiate(p.n.cfg.RetransmitBase * 2)
			return false
		}
		err := p.initiate(ctx)
		if errors.Is(err, errClosing) {
			p.shutdown()
			return true
		}
		if errors.Is(err, errSuperseded) {
			p.log.Debug("crossed initiation: continuing as responder")
			// Should the peer's attempt not complete, start over.
			p.scheduleInitiate(halfOpenTimeout)
			return false
		}
		if err != nil {
			p.fail(err)
		}
	case evPacket:
		p.handlePacket(ev)
	case evTimer:
		// A stale retransmission timer of an exchange that finished.
	case evRekeyChild:
		if errors.Is(p.onRekeyChild(ctx, ev.c), errClosing) {
			p.shutdown()
			return true
		}
	case evRekeyIKE:
		if errors.Is(p.onRekeyIKE(ctx, ev.sa), errClosing) {
			p.shutdown()
			return true
		}
	case evDPD:
		if errors.Is(p.onDPD(ctx), errClosing) {
			p.shutdown()
			return true
		}
	case evKernel:
		p.onKernelEvent(ev)
	default:
		p.handleSimple(ev)
	}
	return false
}

// handleSimple handles events that need no exchange; they may run in the
// middle of one.
func (p *peer) handleSimple(ev any) {
	switch ev := ev.(type) {
	case evHalfOpen:
		p.expireHalfOpen(ev.sa)
	case evRemoveIn:
		p.removeRetired(ev.c)
	case evRemoveIKE:
		if !ev.sa.deleted {
			p.removeSA(ev.sa, "replaced by a rekey; its DELETE never came")
		}
	case evFinishRekey:
		p.finishRekey(ev.sa, ev.old, ev.new)
	case evKeepalive:
		p.keepalive(ev.sa)
	}
}

// halfOpen reports whether the peer has an IKE SA with us in progress: a
// responder SA whose IKE_AUTH has not come yet, answered less than
// 4*RetransmitBase ago. An IKE_AUTH lost on the way is retransmitted
// after RetransmitBase; one that has not come by then most likely never
// will (the peer abandoned that attempt, say after a crossed initiation),
// and waiting for the half-open timeout (30 s) would keep us from
// initiating ourselves: in a 200-node mesh started at once, such pairs
// came up 30 s after all others.
func (p *peer) halfOpen() bool {
	fresh := time.Now().Add(-4 * p.n.cfg.RetransmitBase)
	for _, sa := range p.sas {
		if !sa.initiator && sa.established.IsZero() && !sa.deleted && sa.created.After(fresh) {
			return true
		}
	}
	return false
}

// expireHalfOpen removes a responder SA whose IKE_AUTH never came.
func (p *peer) expireHalfOpen(sa *ikeSA) {
	if sa.established.IsZero() && !sa.deleted && p.sas[sa.ourSPI()] == sa {
		p.log.Debug("half-open IKE SA timed out", "spi_i", hex64(sa.spiI))
		p.removeSA(sa, "half-open timeout")
		if p.current == nil && !p.closing {
			p.reinitiate(0)
		}
	}
}

// fail records a failed negotiation and schedules another attempt with
// exponential backoff (on demand: the next ACQUIRE starts it).
func (p *peer) fail(err error) {
	p.failures++
	if p.n.cfg.OnDemand {
		p.log.Warn("negotiation failed; the next packet to the peer starts another (start on demand)", "err", err)
		p.setState(StateFailed, err.Error())
		return
	}
	d := p.n.cfg.RetryMin << min(p.failures-1, 10)
	if d > p.n.cfg.RetryMax || d <= 0 {
		d = p.n.cfg.RetryMax
	}
	p.log.Warn("negotiation failed", "err", err, "retry_in", d)
	p.setState(StateFailed, err.Error())
	p.scheduleInitiate(d)
}

// reinitiate schedules a negotiation in d after the peer's SAs were lost.
// On demand it schedules none: the next packet to the peer (kernel
// ACQUIRE) starts one.
func (p *peer) reinitiate(d time.Duration) {
	if !p.onDemand() {
		p.scheduleInitiate(d)
	}
}

// onDemand reports whether lost SAs wait for traffic to be negotiated
// again, and says so in the log.
func (p *peer) onDemand() bool {
	if p.n.cfg.OnDemand {
		p.log.Info("start on demand: negotiating again once traffic to the peer waits for an SA")
	}
	return p.n.cfg.OnDemand
}

func (p *peer) scheduleInitiate(d time.Duration) {
	p.stopRetry()
	p.retry = time.AfterFunc(d, func() { p.post(evInitiate{}) })
}

func (p *peer) stopRetry() {
	if p.retry != nil {
		p.retry.Stop()
		p.retry = nil
	}
}

// transmit sends a datagram. Requests go to the SA's remote endpoint;
// responses go back to the address and port the request came from, from
// the one it arrived at (RFC 7296 2.11): behind a NAT or an
// alternative-port redirect these differ from the configured ports.
func (p *peer) transmit(b []byte, from, to netip.AddrPort) {
	if !from.IsValid() {
		from = p.local
	}
	if !to.IsValid() {
		to = p.remote
	}
	for _, d := range p.datagrams(b) {
		if err := p.n.cfg.Transport.Send(d, from, to); err != nil {
			p.log.Debug("send failed", "err", err)
		}
	}
}

// sendReq sends a request of sa.
func (p *peer) sendReq(sa *ikeSA, b []byte) { p.transmit(b, sa.local, sa.remote) }

// exchange sends a request and waits for its response, retransmitting with
// exponential backoff (RFC 7296 2.1). Requests the peer sends meanwhile are
// answered. The returned message is decrypted when the SA has keys; its
// payloads are the inner ones.
func (p *peer) exchange(ctx context.Context, sa *ikeSA, req []byte, ex wire.ExchangeType) (_ []wire.Payload, _ *wire.Message, retErr error) {
	id := sa.nextID
	timeout, tries := p.n.cfg.RetransmitBase, 0
	var (
		gen uint64
		t   *time.Timer
	)
	// transmit sends the request and arms the timer for the next try.
	transmit := func() {
		p.sendReq(sa, req)
		p.timerGen++
		g := p.timerGen
		gen = g
		if t != nil {
			t.Stop()
		}
		t = time.AfterFunc(timeout, func() { p.post(evTimer{sa: sa, gen: g}) })
	}
	transmit()
	defer func() { t.Stop() }()
	defer func() {
		// A request given up (shutdown, supersession, no answer) keeps its
		// message ID: the next request must not reuse it, or the peer
		// would take it for a retransmission.
		if retErr != nil && sa.in != nil && sa.nextID == id {
			sa.nextID++
		}
	}()
	for {
		ev, ok := p.take(false)
		if !ok {
			select {
			case <-ctx.Done():
				return nil, nil, errClosing
			case <-p.wake:
			}
			continue
		}
		switch ev := ev.(type) {
		case evClose:
			p.closing = true
			return nil, nil, errClosing
		case evKernel:
			if ev.ev.Kind == xfrm.Acquire && ex == wire.IKE_SA_INIT && tries > 0 {
				// Traffic is waiting and the peer has not answered yet:
				// try now rather than at the next backoff step.
				p.log.Info("traffic to the peer is waiting for an SA (kernel ACQUIRE): retransmitting IKE_SA_INIT now")
				tries, timeout = 0, p.n.cfg.RetransmitBase
				transmit()
				continue
			}
			p.deferred = append(p.deferred, ev)
		case evInitiate, evRekeyChild, evRekeyIKE, evDPD:
			// Handled once this exchange is over.
			p.deferred = append(p.deferred, ev)
		case evHalfOpen, evRemoveIn, evRemoveIKE, evFinishRekey, evKeepalive:
			p.handleSimple(ev)
		case evTimer:
			if ev.sa != sa || ev.gen != gen {
				continue
			}
			if tries >= p.n.cfg.RetransmitTries {
				return nil, nil, fmt.Errorf("no answer to %s after %d retransmissions", exchangeName(ex), tries)
			}
			tries++
			if ex == wire.IKE_SA_INIT {
				p.initTries = tries
			}
			timeout *= 2
			p.log.Debug("retransmitting", "exchange", exchangeName(ex), "try", tries)
			transmit()
		case evPacket:
			h := ev.msg.Header
			if !h.IsResponse() {
				p.handlePacket(ev)
				if p.superseded && sa.in == nil {
					return nil, nil, errSuperseded
				}
				continue
			}
			if h.SPIi != sa.spiI || h.MessageID != id || h.Exchange != ex || h.IsInitiator() == sa.initiator {
				p.handlePacket(ev)
				continue
			}
			sa.respFrom = ev.from
			if sa.in == nil {
				return ev.msg.Payloads, ev.msg, nil
			}
			inner, err := p.open(sa, ev.msg)
			if err != nil {
				if !errors.Is(err, errFragmentPending) {
					p.log.Debug("dropping response that does not decrypt", "err", err)
				}
				continue
			}
			p.lastRecv = time.Now()
			sa.nextID++
			return inner, ev.msg, nil
		}
	}
}

// open decrypts a protected message of sa and checks its payloads.
func (p *peer) open(sa *ikeSA, m *wire.Message) ([]wire.Payload, error) {
	if len(m.Payloads) == 0 {
		return nil, errors.New("no encrypted payload")
	}
	switch m.Payloads[len(m.Payloads)-1].(type) {
	case *wire.Encrypted:
	case *wire.EncryptedFragment:
		return p.reassemble(sa, m)
	default:
		return nil, errors.New("message is not encrypted")
	}
	return m.Open(sa.in)
}

// handlePacket handles a datagram outside of (or interleaved with) our own
// exchanges: requests from the peer, and stray responses.
func (p *peer) handlePacket(ev evPacket) {
	h := ev.msg.Header
	if h.IsResponse() {
		p.log.Debug("dropping unexpected response", "exchange", exchangeName(h.Exchange), "msgid", h.MessageID)
		return
	}
	if h.Exchange == wire.IKE_SA_INIT {
		p.respondInit(ev)
		return
	}
	// The initiator flag names the original initiator: when the sender is
	// it, our SPI is SPIr, else SPIi.
	our := h.SPIi
	if h.IsInitiator() {
		our = h.SPIr
	}
	sa := p.sas[our]
	if sa == nil || sa.spiI != h.SPIi || sa.spiR != h.SPIr || sa.initiator == h.IsInitiator() {
		p.log.Debug("request for an unknown IKE SA", "exchange", exchangeName(h.Exchange),
			"spi_i", hex64(h.SPIi), "spi_r", hex64(h.SPIr))
		return
	}
	switch {
	case h.MessageID+1 == sa.expectID && sa.lastResp != nil && !laterFragment(ev.msg):
		p.log.Debug("retransmitted request, resending cached response", "msgid", h.MessageID)
		p.transmit(sa.lastResp, ev.to, ev.from)
		return
	case h.MessageID != sa.expectID:
		p.log.Debug("request with unexpected message ID", "msgid", h.MessageID, "want", sa.expectID)
		return
	}
	if sa.in == nil {
		return
	}
	inner, err := p.open(sa, ev.msg)
	if err != nil {
		var se *wire.SyntaxError
		if errors.As(err, &se) {
			// Authentic (the ICV matched) but malformed: say so (RFC 7296 2.21.4).
			p.log.Warn("malformed request from the peer; answering INVALID_SYNTAX", "exchange", exchangeName(h.Exchange), "err", err)
			p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
			return
		}
		if !errors.Is(err, errFragmentPending) {
			p.log.Debug("dropping request that does not decrypt", "err", err)
		}
		return
	}
	p.lastRecv = time.Now()
	sa.replyTo, sa.replyFrom = ev.from, ev.to
	// Behind a NAT, follow the peer to where it sends from now (its
	// mapping may change, RFC 7296 2.23).
	if sa.nat {
		sa.local, sa.remote = ev.to, ev.from
	}
	if unsupportedCritical(inner) != nil {
		p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: wire.UNSUPPORTED_CRITICAL_PAYLOAD,
			Data: []byte{byte(unsupportedCritical(inner).PayloadType)}}})
		return
	}
	if sa.established.IsZero() && (h.Exchange != wire.IKE_AUTH || sa.initiator) {
		// Nothing but IKE_AUTH is accepted before the peer has
		// authenticated (RFC 7296 2.2 and 1.2).
		p.log.Debug("dropping request on an IKE SA that is not authenticated yet", "exchange", exchangeName(h.Exchange))
		return
	}
	switch h.Exchange {
	case wire.IKE_AUTH:
		p.respondAuth(sa, ev, inner)
	case wire.INFORMATIONAL:
		p.respondInformational(sa, h, inner)
	case wire.CREATE_CHILD_SA:
		p.respondCreateChild(sa, h, inner)
	default:
		p.log.Debug("ignoring request of unknown exchange type", "exchange", h.Exchange)
	}
}

// reply sends an encrypted response to request h of sa and caches it for
// retransmitted requests.
func (p *peer) reply(sa *ikeSA, h wire.Header, payloads []wire.Payload) {
	b := p.seal(sa, sa.header(h.Exchange, h.MessageID, true), payloads)
	sa.lastResp = b
	sa.expectID = h.MessageID + 1
	p.transmit(b, sa.replyFrom, sa.replyTo)
}

// unsupportedCritical returns the first payload we do not understand whose
// critical bit is set (RFC 7296 2.5).
func unsupportedCritical(ps []wire.Payload) *wire.Unknown {
	for _, pl := range ps {
		if u, ok := pl.(*wire.Unknown); ok && u.Critical {
			return u
		}
	}
	return nil
}

// shutdown deletes every IKE SA: a DELETE goes to the peer (one try, no
// waiting for the answer) and the child states leave the kernel. Policies
// stay.
func (p *peer) shutdown() {
	p.closing = true
	p.stopRetry()
	if p.dpdTimer != nil {
		p.dpdTimer.Stop()
	}
	for _, sa := range p.sas {
		if sa.out != nil && !sa.deleted && !sa.established.IsZero() {
			req := p.seal(sa, sa.header(wire.INFORMATIONAL, sa.nextID, false),
				[]wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}})
			sa.nextID++
			p.sendReq(sa, req)
		}
		p.removeSA(sa, "shutting down")
	}
	p.setState(StateConnecting, "")
}

// removeSA forgets an IKE SA and removes its child states from the kernel.
func (p *peer) removeSA(sa *ikeSA, why string) {
	sa.deleted = true
	if sa.halfOpen != nil {
		sa.halfOpen.Stop()
		sa.halfOpen = nil
	}
	if sa.rekeyTimer != nil {
		sa.rekeyTimer.Stop()
	}
	if sa.child != nil {
		p.stopChildTimer(sa.child)
		p.removeChild(sa.child)
		sa.child = nil
	}
	for _, c := range sa.retired {
		p.removeChild(c)
	}
	sa.retired = nil
	delete(p.sas, sa.ourSPI())
	if p.current == sa {
		p.current = nil
		p.log.Info("IKE SA removed", "reason", why, "spi_i", hex64(sa.spiI), "spi_r", hex64(sa.spiR))
		// Another established SA may take over.
		for _, o := range p.sas {
			if !o.established.IsZero() && o.child != nil {
				p.current = o
				break
			}
		}
	}
	p.publish()
}

// newSPI returns a fresh non-zero IKE SPI not in use with this peer.
func (p *peer) newSPI() uint64 {
	for {
		s := binary.BigEndian.Uint64(p.n.randomBytes(8))
		if s != 0 && p.sas[s] == nil {
			return s
		}
	}
}

func exchangeName(ex wire.ExchangeType) string {
	switch ex {
	case wire.IKE_SA_INIT:
		return "IKE_SA_INIT"
	case wire.IKE_AUTH:
		return "IKE_AUTH"
	case wire.CREATE_CHILD_SA:
		return "CREATE_CHILD_SA"
	case wire.INFORMATIONAL:
		return "INFORMATIONAL"
	}
	return fmt.Sprintf("exchange %d", ex)
}

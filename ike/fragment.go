package ike

import (
	"errors"
	"fmt"
	"time"

	"metro/ike/wire"
)

// IKE fragmentation (RFC 7383).
const (
	// DefaultFragmentSize is the largest IKE message sent unfragmented
	// once both hosts announced fragmentation: an IPv6 minimum-MTU packet
	// (1280) less the IPv6 and UDP headers. It suits IPv4 paths with
	// ordinary MTUs too.
	DefaultFragmentSize = 1280 - 40 - 8
	// maxFragments bounds the fragments of one message we reassemble.
	maxFragments = 64
	// reassemblyTimeout is how long an incomplete message is kept.
	reassemblyTimeout = 30 * time.Second
	// nonESPMarker is the prefix of IKE messages on the NAT-T port.
	nonESPMarker = 4
)

// errFragmentPending reports an authentic fragment that was buffered; the
// message is not complete yet.
var errFragmentPending = errors.New("fragment buffered, message incomplete")

// saExt is the state of an IKE SA that authentication and fragmentation
// keep: what the peer announced in IKE_SA_INIT, who it proved to be, and
// fragments sent and being received.
type saExt struct {
	peerHashes []uint16 // SIGNATURE_HASH_ALGORITHMS of the peer; nil: not announced
	peerFrag   bool     // the peer announced IKEV2_FRAGMENTATION_SUPPORTED
	identity   *peerIdentity

	sentReq, sentResp fragOut // fragments of our last request and response
	inReq, inResp     *fragIn // reassembly of the peer's request and response
}

// fragOut is a sealed message sent as fragments: key identifies the
// unfragmented form the exchange code holds (its first byte's address),
// frags are what goes on the wire in its place.
type fragOut struct {
	key   *byte
	frags [][]byte
}

// fragIn collects the fragments of one message.
type fragIn struct {
	msgID   uint32
	total   uint16
	first   wire.PayloadType
	chunks  [][]byte
	got     int
	started time.Time
}

// noteInit records what the peer announced in its IKE_SA_INIT message.
func (sa *ikeSA) noteInit(ps []wire.Payload) {
	sa.ext.peerFrag = findNotify(ps, wire.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	if n := findNotify(ps, wire.SIGNATURE_HASH_ALGORITHMS); n != nil {
		sa.ext.peerHashes = parseSignatureHashes(n)
	}
}

// initNotifies are the payloads we add to our IKE_SA_INIT request or
// response: IKEV2_FRAGMENTATION_SUPPORTED (unless fragmentation is off)
// and those of the authentication method.
func (p *peer) initNotifies(response bool) []wire.Payload {
	var ps []wire.Payload
	if p.n.cfg.FragmentSize >= 0 {
		ps = append(ps, &wire.Notify{NotifyType: wire.IKEV2_FRAGMENTATION_SUPPORTED})
	}
	return append(ps, p.authn().initPayloads(response)...)
}

// fragSize is the largest message of sa we send unfragmented.
func (p *peer) fragSize(sa *ikeSA) int {
	n := p.n.cfg.FragmentSize
	if n <= 0 {
		n = DefaultFragmentSize
	}
	if sa.nat {
		n -= nonESPMarker
	}
	return max(n, 256)
}

// seal builds an encrypted message of sa. When both hosts support
// fragmentation and the message is longer than the fragment size, its
// fragments are recorded: transmit sends them in its place, the first time
// and on every retransmission (the response cache keeps them as well).
func (p *peer) seal(sa *ikeSA, h wire.Header, payloads []wire.Payload) []byte {
	b := wire.Seal(h, payloads, sa.out)
	size := p.fragSize(sa)
	if !sa.ext.peerFrag || p.n.cfg.FragmentSize < 0 || len(b) <= size {
		return b
	}
	frags := wire.SealFragments(h, payloads, sa.out, size)
	slot := &sa.ext.sentReq
	if h.IsResponse() {
		slot = &sa.ext.sentResp
	}
	*slot = fragOut{key: &b[0], frags: frags}
	p.log.Debug("message fragmented", "exchange", exchangeName(h.Exchange), "msgid", h.MessageID,
		"length", len(b), "fragments", len(frags), "fragment_size", size)
	return b
}

// datagrams returns what to send for the message b: the fragments seal
// recorded for it, or b itself.
func (p *peer) datagrams(b []byte) [][]byte {
	if len(b) == 0 {
		return [][]byte{b}
	}
	for _, sa := range p.sas {
		for _, s := range []*fragOut{&sa.ext.sentReq, &sa.ext.sentResp} {
			if s.key == &b[0] {
				return s.frags
			}
		}
	}
	return [][]byte{b}
}

// reassemble decrypts one Encrypted Fragment message of sa (so that only
// authentic fragments are buffered) and returns the inner payloads once
// all fragments are in. Duplicates and any order are accepted; while
// fragments are missing it returns errFragmentPending. A message whose
// fragments do not all arrive within reassemblyTimeout is forgotten.
func (p *peer) reassemble(sa *ikeSA, m *wire.Message) ([]wire.Payload, error) {
	num, total, next, pt, err := m.OpenFragment(sa.in)
	if err != nil {
		return nil, err
	}
	h := m.Header
	if total > maxFragments {
		return nil, fmt.Errorf("message in %d fragments, more than the %d we reassemble", total, maxFragments)
	}
	slot := &sa.ext.inReq
	if h.IsResponse() {
		slot = &sa.ext.inResp
	}
	st := *slot
	now := time.Now()
	if st != nil && (st.msgID != h.MessageID || now.Sub(st.started) > reassemblyTimeout) {
		st = nil
	}
	if st != nil && total != st.total {
		if total < st.total {
			return nil, fmt.Errorf("fragment %d of %d of a message already arriving in %d fragments", num, total, st.total)
		}
		st = nil // the sender re-fragmented smaller (RFC 7383 2.6.2)
	}
	if st == nil {
		st = &fragIn{msgID: h.MessageID, total: total, chunks: make([][]byte, total), started: now}
		*slot = st
	}
	if st.chunks[num-1] != nil {
		return nil, errFragmentPending
	}
	st.chunks[num-1] = pt
	st.got++
	if num == 1 {
		st.first = next
	}
	if st.got < int(st.total) {
		return nil, errFragmentPending
	}
	*slot = nil
	p.log.Debug("message reassembled", "exchange", exchangeName(h.Exchange), "msgid", h.MessageID, "fragments", total)
	return wire.JoinFragments(st.first, st.chunks)
}

// laterFragment reports whether m is a fragment other than the first: a
// retransmitted fragmented request is answered (with all fragments of the
// cached response) once, on its first fragment (RFC 7383 2.6.1).
func laterFragment(m *wire.Message) bool {
	if len(m.Payloads) == 0 {
		return false
	}
	f, ok := m.Payloads[len(m.Payloads)-1].(*wire.EncryptedFragment)
	return ok && f.Number != 1
}

// inherit carries over to a rekeyed IKE SA what the peer announced and
// proved with the old one (RFC 7383 2.3: fragmentation support applies to
// the rekeyed SA too).
func (e *saExt) inherit(old *saExt) {
	e.peerHashes, e.peerFrag, e.identity = old.peerHashes, old.peerFrag, old.identity
}

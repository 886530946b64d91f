package ike

import (
	"encoding/binary"
	"net/netip"
	"time"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
	"metro/xfrm"
)

// ikeSA is one IKE SA with a peer. It is touched only by its peer's goroutine.
type ikeSA struct {
	initiator  bool
	spiI, spiR uint64
	suite      suite
	keys       ikecrypto.IKEKeys
	ni, nr     []byte

	// Ciphers for the SK payload: out protects what we send, in what we receive.
	out, in wire.Cipher

	// Message IDs (RFC 7296 2.2): nextID is our next request, expectID the
	// peer's next request. lastResp caches our answer to expectID-1.
	nextID    uint32
	expectID  uint32
	lastResp  []byte
	replyTo   netip.AddrPort // source of the peer's last request
	replyFrom netip.AddrPort // where it arrived
	respFrom  netip.AddrPort // source of the last response to our request

	// Where our requests go from and to: the IKE ports, or the NAT-T
	// ports once a NAT was detected.
	local, remote netip.AddrPort
	nat           bool // a NAT is between the hosts
	usBehindNAT   bool // we are behind it: keepalives

	// The IKE_SA_INIT messages, signed in AUTH (RFC 7296 2.15).
	initReq, initResp []byte

	created     time.Time   // responder: when we answered the IKE_SA_INIT
	halfOpen    *time.Timer // responder: drops the SA if IKE_AUTH never comes
	established time.Time
	child       *childSA   // the CHILD_SA carrying traffic
	retired     []*childSA // replaced by a rekey, states on their way out
	deleted     bool
	rekeyed     bool // replaced by a rekey; waiting for its DELETE
	rekeyTimer  *time.Timer
	rekeyAt     time.Time

	ext saExt // authentication and fragmentation state (authn.go, fragment.go)
}

// ourSPI is the SPI this side chose.
func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

// header returns a header for a message of this SA; response sets the
// response flag, the initiator flag follows our role.
func (sa *ikeSA) header(ex wire.ExchangeType, id uint32, response bool) wire.Header {
	h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Version: 0x20, Exchange: ex, MessageID: id}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	return h
}

// deriveKeys computes SKEYSEED and the IKE SA keys (RFC 7296 2.14) and
// sets up the SK ciphers.
func (sa *ikeSA) deriveKeys(gir []byte) error {
	s := sa.suite
	sa.keys = ikecrypto.DeriveIKEKeys(s.PRF, s.Encr, s.Integ, sa.ni, sa.nr, gir, sa.spiI, sa.spiR)
	return sa.setCiphers()
}

// setCiphers sets up the SK ciphers for our role from sa.keys.
func (sa *ikeSA) setCiphers() error {
	s := sa.suite
	ci, err := s.Encr.NewIKECipher(sa.keys.SKei, s.Integ, sa.keys.SKai)
	if err != nil {
		return err
	}
	cr, err := s.Encr.NewIKECipher(sa.keys.SKer, s.Integ, sa.keys.SKar)
	if err != nil {
		return err
	}
	if sa.initiator {
		sa.out, sa.in = ci, cr
	} else {
		sa.out, sa.in = cr, ci
	}
	return nil
}

// childSA is the ESP SA pair of an IKE SA, in transport mode between the
// two host addresses.
type childSA struct {
	spiIn, spiOut uint32
	suite         suite
	reqid         uint32
	established   time.Time
	installed     bool     // inbound state in the kernel
	outRemoved    bool     // outbound state removed (or never installed)
	pendingOut    *xfrm.SA // outbound state waiting for make-before-break
	rekeyTimer    *time.Timer
	rekeyAt       time.Time
	ni, nr        []byte // nonces of the exchange that created it
}

// peerPort is the peer's UDP port for this SA's encapsulated ESP: where
// its requests come from when it is the initiator (possibly a NAT's
// mapping), where ours go otherwise.
func (sa *ikeSA) peerPort() uint16 {
	if !sa.initiator && sa.replyTo.IsValid() {
		return sa.replyTo.Port()
	}
	return sa.remote.Port()
}

// idFor returns the ID payload naming an IP address (the PSK identity).
func idFor(kind wire.PayloadType, a netip.Addr) *wire.ID {
	if a.Is4() {
		b := a.As4()
		return &wire.ID{Kind: kind, IDType: wire.ID_IPV4_ADDR, Data: b[:]}
	}
	b := a.As16()
	return &wire.ID{Kind: kind, IDType: wire.ID_IPV6_ADDR, Data: b[:]}
}

// idAddr returns the address an ID payload names, if it names one.
func idAddr(id *wire.ID) (netip.Addr, bool) {
	switch id.IDType {
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		a, ok := netip.AddrFromSlice(id.Data)
		return a.Unmap(), ok
	}
	return netip.Addr{}, false
}

// hostSelector is a traffic selector covering exactly one address, all
// protocols and ports.
func hostSelector(a netip.Addr) wire.Selector {
	t := wire.TS_IPV4_ADDR_RANGE
	if a.Is6() {
		t = wire.TS_IPV6_ADDR_RANGE
	}
	return wire.Selector{Type: t, StartPort: 0, EndPort: 0xffff, Start: a, End: a}
}

// hostPairTS checks a CHILD_SA's traffic selectors: tsLocal must cover
// all traffic of our address, tsRemote of the peer's. Across a NAT each
// host names its own address, which the other side does not see (RFC 7296
// 2.23.1); there only their presence is checked, and the kernel policies,
// which metro sets from its configuration, decide what is protected.
func (p *peer) hostPairTS(sa *ikeSA, tsLocal, tsRemote *wire.TS) bool {
	if tsLocal == nil || tsRemote == nil {
		return false
	}
	if sa.nat {
		return true
	}
	return coversHost(tsLocal, p.cfg.Local) && coversHost(tsRemote, p.cfg.Remote)
}

// coversHost reports whether one of the selectors covers all traffic of
// address a (the host pair is what we protect; narrower selectors would
// leave traffic between the hosts unprotected by this SA).
func coversHost(ts *wire.TS, a netip.Addr) bool {
	for _, s := range ts.Selectors {
		if s.IPProto != 0 || s.StartPort != 0 || s.EndPort != 0xffff {
			continue
		}
		if s.Start.Unmap().Compare(a) <= 0 && a.Compare(s.End.Unmap()) <= 0 && s.Start.Is4() == a.Is4() {
			return true
		}
	}
	return false
}

func spiBytes(spi uint32) []byte { return binary.BigEndian.AppendUint32(nil, spi) }

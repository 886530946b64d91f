package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"metro/ike/wire"
)

// halfOpenTimeout is how long a responder keeps an IKE SA whose IKE_AUTH
// has not arrived.
const halfOpenTimeout = 30 * time.Second

type evHalfOpen struct{ sa *ikeSA }

// respondInit answers an IKE_SA_INIT request:
// HDR, SAi1, KEi, Ni  -->  <-- HDR, SAr1, KEr, Nr
func (p *peer) respondInit(ev evPacket) {
	h := ev.msg.Header
	if h.SPIr != 0 || h.MessageID != 0 {
		p.log.Debug("IKE_SA_INIT request with SPIr or message ID set; dropping")
		return
	}
	if p.closing {
		return
	}
	// A retransmitted request gets the same answer.
	for _, sa := range p.sas {
		if !sa.initiator && sa.spiI == h.SPIi {
			if bytes.Equal(sa.initReq, ev.msg.Raw) {
				p.transmit(sa.initResp, ev.to, ev.from)
			}
			return
		}
	}
	// Crossed initiation (both hosts start at once): the host with the
	// higher address keeps its own initiation and ignores the peer's; the
	// lower one answers and abandons its own. Both reach the same decision
	// independently, so exactly one IKE SA results. Should our request have
	// gone unanswered for a while (the peer does not hear us, say on
	// another port), we answer the peer's anyway; if both attempts then
	// complete, established() keeps one.
	crossed := false
	if p.initiating {
		// Across a NAT the two hosts see different address pairs, so the
		// address rule is not symmetric there: the host behind the NAT
		// keeps its attempt (the peer's requests may not even reach it
		// later), the public one answers.
		_, peerBehind, usBehind := detectNAT(ev.msg.Payloads, h.SPIi, 0, ev.from, ev.to)
		keepOurs := !p.cfg.Local.Less(p.cfg.Remote)
		if usBehind != peerBehind {
			keepOurs = usBehind
		}
		if keepOurs && p.initTries < 2 {
			p.log.Debug("crossed IKE_SA_INIT: ignoring the peer's, ours takes precedence (higher address)")
			return
		}
		crossed = true
	}
	plain := func(ps ...wire.Payload) {
		m := &wire.Message{
			Header:   wire.Header{SPIi: h.SPIi, Version: 0x20, Exchange: wire.IKE_SA_INIT, Flags: wire.FlagResponse},
			Payloads: ps,
		}
		p.transmit(m.Marshal(), ev.to, ev.from)
	}
	ps := ev.msg.Payloads
	if u := unsupportedCritical(ps); u != nil {
		plain(&wire.Notify{NotifyType: wire.UNSUPPORTED_CRITICAL_PAYLOAD, Data: []byte{byte(u.PayloadType)}})
		return
	}
	saI, _ := find[*wire.SA](ps)
	keI, _ := find[*wire.KE](ps)
	nonceI, _ := find[*wire.Nonce](ps)
	if saI == nil || keI == nil || nonceI == nil || len(nonceI.Data) < 16 || len(nonceI.Data) > 256 {
		p.log.Warn("IKE_SA_INIT request is missing SA, KE or a valid Nonce; answering INVALID_SYNTAX")
		plain(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	ours := p.n.cfg.IKEProposals
	c, err := choose(ours, saI, wire.ProtoIKE)
	if err != nil {
		p.log.Warn("answering NO_PROPOSAL_CHOSEN", "reason", err)
		p.setState(StateFailed, "answered NO_PROPOSAL_CHOSEN: "+err.Error())
		plain(&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN})
		return
	}
	if keI.Group != c.KE.ID {
		// Take the group the initiator sent if the chosen proposals both
		// allow it; otherwise ask for ours (RFC 7296 1.2).
		if k := proposedGroup(ours, keI.Group); k != nil && proposedKEs(saI, wire.ProtoIKE)[k.ID] {
			c.KE = k
		} else {
			p.log.Info("initiator sent a key share for a group we do not take; answering INVALID_KE_PAYLOAD",
				"sent", keI.Group, "want", c.KE.Name)
			plain(&wire.Notify{NotifyType: wire.INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, c.KE.ID)})
			return
		}
	}
	share, err := c.KE.Generate(p.n.cfg.Rand)
	if err != nil {
		p.log.Error("generating key share", "group", c.KE.Name, "err", err)
		return
	}
	gir, err := share.Shared(keI.Data)
	if err != nil {
		p.log.Warn("initiator key share is invalid; answering INVALID_SYNTAX", "err", err)
		plain(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	sa := &ikeSA{initiator: false, spiI: h.SPIi, spiR: p.newSPI(), suite: c.suite, local: ev.to, remote: ev.from}
	natSupported, peerBehind, usBehind := detectNAT(ps, h.SPIi, 0, ev.from, ev.to)
	sa.nat, sa.usBehindNAT = peerBehind || usBehind, usBehind
	sa.ni = nonceI.Data
	sa.nr = p.n.randomBytes(32)
	if err := sa.deriveKeys(gir); err != nil {
		p.log.Error("deriving keys", "err", err)
		return
	}
	p.logIKEKeys(sa)
	resp := &wire.Message{
		Header: sa.header(wire.IKE_SA_INIT, 0, true),
		Payloads: []wire.Payload{
			accepted(c.suite, c.number, wire.ProtoIKE, nil),
			&wire.KE{Group: c.KE.ID, Data: share.Public()},
			&wire.Nonce{Data: sa.nr},
		},
	}
	if natSupported {
		resp.Payloads = append(resp.Payloads, natNotifies(sa.spiI, sa.spiR, ev.to, ev.from)...)
	}
	if sa.nat {
		p.log.Info("NAT detected between the hosts", "peer_behind_nat", peerBehind, "we_behind_nat", usBehind, "peer_seen_at", ev.from)
	}
	resp.Payloads = append(resp.Payloads, p.initNotifies(true)...)
	sa.noteInit(ps)
	sa.initReq = ev.msg.Raw
	sa.initResp = resp.Marshal()
	sa.expectID = 1
	sa.created = time.Now()
	p.sas[sa.spiR] = sa
	if crossed {
		p.superseded = true
	}
	p.log.Debug("IKE_SA_INIT answered", "suite", c.suite.String())
	sa.replyTo, sa.replyFrom = ev.from, ev.to
	p.transmit(sa.initResp, ev.to, ev.from)
	if sa.usBehindNAT {
		// The initiator moves to the NAT-traversal port for IKE_AUTH; our
		// NAT has no mapping for that port yet. A keepalive from it to the
		// initiator opens one (most NATs keep the port, as masquerading
		// does), so IKE_AUTH can reach us.
		p.transmit(Keepalive, netip.AddrPortFrom(ev.to.Addr(), p.n.cfg.NATTPort),
			netip.AddrPortFrom(ev.from.Addr(), p.n.cfg.NATTPort))
	}
	sa.halfOpen = time.AfterFunc(halfOpenTimeout, func() { p.post(evHalfOpen{sa: sa}) })
}

// respondAuth answers an IKE_AUTH request:
// HDR, SK {IDi, AUTH, SAi2, TSi, TSr}  -->  <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
func (p *peer) respondAuth(sa *ikeSA, ev evPacket, inner []wire.Payload) {
	h := ev.msg.Header
	if sa.initiator || !sa.established.IsZero() {
		p.log.Debug("IKE_AUTH request on an SA that is already authenticated; dropping")
		return
	}
	idi, _ := find[*wire.ID](inner)
	authI, _ := find[*wire.Auth](inner)
	if idi == nil || authI == nil {
		p.log.Warn("IKE_AUTH request lacks IDi or AUTH; answering INVALID_SYNTAX")
		p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
		p.removeSA(sa, "invalid IKE_AUTH")
		return
	}
	ident, err := p.authn().verify(sa, inner)
	if err == nil {
		var out []wire.Payload
		if out, err = p.authn().prove(sa); err == nil {
			p.authenticated(sa, ident)
			p.respondAuthChild(sa, h, inner, out)
			return
		}
		p.log.Error("cannot prove our identity", "err", err)
	}
	p.log.Warn("authentication failed; answering AUTHENTICATION_FAILED", p.authFailedAttrs(err)...)
	p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: wire.AUTHENTICATION_FAILED}})
	p.removeSA(sa, "authentication failed")
	p.setState(StateFailed, "authentication failed: "+err.Error())
}

// respondAuthChild completes an authenticated IKE_AUTH request: out are
// our identification payloads (IDr, CERT, AUTH).
func (p *peer) respondAuthChild(sa *ikeSA, h wire.Header, inner, out []wire.Payload) {
	sa.established = time.Now()
	if findNotify(inner, wire.INITIAL_CONTACT) != nil {
		p.dropOtherSAs(sa)
	}

	child, childPayloads, notify, err := p.acceptChildRequest(sa, inner)
	if err != nil {
		p.logEstablished(sa, "responder")
		p.log.Warn("refusing the CHILD_SA", "reason", err, "answer", notifyName(notify))
		p.reply(sa, h, append(out, &wire.Notify{NotifyType: notify}))
		p.setState(StateFailed, "CHILD_SA refused: "+err.Error())
		p.publish()
		return
	}
	if err := p.installChild(sa, child, childKeys{ni: sa.ni, nr: sa.nr, auth: true}, false); err != nil {
		p.logEstablished(sa, "responder")
		p.log.Error("installing the CHILD_SA", "err", err)
		p.reply(sa, h, append(out, &wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN}))
		p.setState(StateFailed, "installing CHILD_SA: "+err.Error())
		return
	}
	sa.child = child
	p.reply(sa, h, append(out, childPayloads...))
	p.logEstablished(sa, "responder")
	p.established(sa)
}

// acceptChildRequest chooses the CHILD_SA of an IKE_AUTH request. On
// failure it returns the error notification to answer with.
func (p *peer) acceptChildRequest(sa *ikeSA, inner []wire.Payload) (*childSA, []wire.Payload, wire.NotifyType, error) {
	saI, _ := find[*wire.SA](inner)
	tsi, tsr := findTS(inner)
	if saI == nil || tsi == nil || tsr == nil {
		return nil, nil, wire.INVALID_SYNTAX, fmt.Errorf("request lacks SA or traffic selectors")
	}
	if findNotify(inner, wire.USE_TRANSPORT_MODE) == nil {
		return nil, nil, wire.NO_PROPOSAL_CHOSEN, fmt.Errorf("peer asks for tunnel mode; metro protects host pairs in transport mode only")
	}
	props := espProposalsNoPFS(p.n.cfg.ESPProposals)
	c, err := choose(props, saI, wire.ProtoESP)
	if err != nil {
		return nil, nil, wire.NO_PROPOSAL_CHOSEN, err
	}
	if len(c.spi) != 4 {
		return nil, nil, wire.INVALID_SYNTAX, fmt.Errorf("ESP SPI has %d bytes, want 4", len(c.spi))
	}
	if !p.hostPairTS(sa, tsr, tsi) {
		return nil, nil, wire.TS_UNACCEPTABLE, fmt.Errorf("traffic selectors do not cover all traffic between %s and %s", p.cfg.Remote, p.cfg.Local)
	}
	spiIn, err := p.n.cfg.Kernel.AllocSPI(p.cfg.Remote, p.cfg.Local, p.cfg.Reqid)
	if err != nil {
		return nil, nil, wire.TEMPORARY_FAILURE, fmt.Errorf("allocating an inbound SPI: %w", err)
	}
	child := &childSA{spiIn: spiIn, spiOut: beUint32(c.spi), suite: c.suite, reqid: p.cfg.Reqid}
	payloads := []wire.Payload{
		&wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE},
		&wire.Notify{NotifyType: wire.ESP_TFC_PADDING_NOT_SUPPORTED},
		accepted(c.suite, c.number, wire.ProtoESP, spiBytes(spiIn)),
		&wire.TS{Kind: wire.PayloadTSi, Selectors: []wire.Selector{hostSelector(p.cfg.Remote)}},
		&wire.TS{Kind: wire.PayloadTSr, Selectors: []wire.Selector{hostSelector(p.cfg.Local)}},
	}
	return child, payloads, 0, nil
}

// dropOtherSAs removes every IKE SA with the peer but keep: the peer said
// INITIAL_CONTACT, so it has forgotten them (RFC 7296 2.4).
func (p *peer) dropOtherSAs(keep *ikeSA) {
	for _, o := range p.sas {
		if o != keep && !o.established.IsZero() {
			p.log.Info("peer restarted (INITIAL_CONTACT): removing its old IKE SA",
				"spi_i", hex64(o.spiI), "spi_r", hex64(o.spiR))
			p.removeSA(o, "peer sent INITIAL_CONTACT")
		}
	}
}

package ike

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// maxCookieRetries bounds how often a responder may ask for a cookie.
const maxCookieRetries = 2

// initiate sets up an IKE SA and its CHILD_SA with the peer, as the
// original initiator, in protocol order: IKE_SA_INIT, then IKE_AUTH.
func (p *peer) initiate(ctx context.Context) error {
	p.initiating, p.superseded, p.initTries = true, false, 0
	defer func() { p.initiating, p.superseded = false, false }()
	p.setState(StateConnecting, "")
	sa := &ikeSA{initiator: true, spiI: p.newSPI(), local: p.local, remote: p.remote}
	p.sas[sa.spiI] = sa
	ok := false
	defer func() {
		if !ok {
			p.removeSA(sa, "negotiation failed")
		}
	}()

	props := p.n.cfg.IKEProposals
	ke := props[0].KE[0]
	var cookie []byte
	retriedKE, cookies, lateInvalidKE := false, 0, 0

	// IKE_SA_INIT: HDR, SAi1, KEi, Ni  -->  <-- HDR, SAr1, KEr, Nr
	var (
		share   ikecrypto.KeyShare
		resp    []wire.Payload
		respMsg *wire.Message
	)
	for {
		var err error
		share, err = ke.Generate(p.n.cfg.Rand)
		if err != nil {
			return fmt.Errorf("generating %s key share: %w", ke.Name, err)
		}
		sa.ni = p.n.randomBytes(32)
		req := &wire.Message{Header: sa.header(wire.IKE_SA_INIT, 0, false)}
		if cookie != nil {
			req.Payloads = append(req.Payloads, &wire.Notify{NotifyType: wire.COOKIE, Data: cookie})
		}
		req.Payloads = append(req.Payloads,
			offer(props, wire.ProtoIKE, nil),
			&wire.KE{Group: ke.ID, Data: share.Public()},
			&wire.Nonce{Data: sa.ni},
		)
		req.Payloads = append(req.Payloads, natNotifies(sa.spiI, 0, sa.local, sa.remote)...)
		req.Payloads = append(req.Payloads, p.initNotifies(false)...)
		sa.initReq = req.Marshal()
		resp, respMsg, err = p.exchange(ctx, sa, sa.initReq, wire.IKE_SA_INIT)
		if err != nil {
			return err
		}
		if n := findNotify(resp, wire.COOKIE); n != nil && cookies < maxCookieRetries {
			cookies++
			cookie = n.Data
			continue
		}
		if n := findNotify(resp, wire.INVALID_KE_PAYLOAD); n != nil {
			want := notifyGroup(n)
			next := proposedGroup(props, want)
			switch {
			case next == nil:
				return fmt.Errorf("peer answered INVALID_KE_PAYLOAD asking for group %d, which we did not propose", want)
			case want == ke.ID && retriedKE && lateInvalidKE < 2:
				// A late answer to our first, retransmitted request,
				// naming the group we now use: send this one again.
				lateInvalidKE++
				continue
			case want == ke.ID:
				// Retrying with the same share cannot help: the peer
				// cannot use the group it asks for (strongSwan does this
				// when it lacks the plugin).
				return fmt.Errorf("peer answered INVALID_KE_PAYLOAD asking for group %s, the one we sent a key share for; the peer cannot use it", ke.Name)
			case retriedKE:
				return fmt.Errorf("peer answered INVALID_KE_PAYLOAD again, asking for group %s after we retried once", next.Name)
			}
			p.log.Info("peer asks for another key exchange group; retrying", "group", next.Name)
			retriedKE, ke = true, next
			continue
		}
		if err := errorNotify(resp); err != nil {
			return err
		}
		break
	}

	saR, _ := find[*wire.SA](resp)
	keR, _ := find[*wire.KE](resp)
	nonceR, _ := find[*wire.Nonce](resp)
	if saR == nil || keR == nil || nonceR == nil {
		return errors.New("IKE_SA_INIT response lacks SA, KE or Nonce payload")
	}
	c, err := single(props, saR, wire.ProtoIKE)
	if err != nil {
		return err
	}
	if c.KE.ID != ke.ID || keR.Group != ke.ID {
		return fmt.Errorf("responder chose group %d, but we sent a key share for %s", keR.Group, ke.Name)
	}
	if len(nonceR.Data) < 16 || len(nonceR.Data) > 256 {
		return fmt.Errorf("responder nonce has %d bytes, want 16..256", len(nonceR.Data))
	}
	sa.suite = c.suite
	sa.nr = nonceR.Data
	sa.spiR = respMsg.Header.SPIr
	if sa.spiR == 0 {
		return errors.New("responder SPI is zero")
	}
	sa.initResp = respMsg.Raw
	sa.noteInit(resp)
	if _, peerBehind, usBehind := detectNAT(resp, sa.spiI, sa.spiR, sa.respFrom, sa.local); peerBehind || usBehind {
		// Move to the NAT-traversal port from IKE_AUTH on (RFC 7296 2.23).
		sa.nat, sa.usBehindNAT = true, usBehind
		sa.local = netip.AddrPortFrom(sa.local.Addr(), p.n.cfg.NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), p.n.cfg.NATTPort)
		p.log.Info("NAT detected between the hosts: moving to the NAT-traversal port", "we_behind_nat", usBehind,
			"peer_behind_nat", peerBehind, "port", p.n.cfg.NATTPort)
	}
	gir, err := share.Shared(keR.Data)
	if err != nil {
		return fmt.Errorf("responder key share: %w", err)
	}
	if err := sa.deriveKeys(gir); err != nil {
		return err
	}
	p.logIKEKeys(sa)
	sa.nextID = 1

	// IKE_AUTH: HDR, SK {IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr}  -->
	spiIn, err := p.n.cfg.Kernel.AllocSPI(p.cfg.Remote, p.cfg.Local, p.cfg.Reqid)
	if err != nil {
		return fmt.Errorf("allocating an inbound SPI: %w", err)
	}
	child := &childSA{spiIn: spiIn, reqid: p.cfg.Reqid}
	payloads, err := p.authn().prove(sa) // IDi, [CERT...], [CERTREQ], AUTH
	if err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn)
		return err
	}
	if len(p.sas) == 1 && p.n.initialContact(p.cfg.Remote) {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.INITIAL_CONTACT})
	}
	payloads = append(payloads,
		&wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE},
		&wire.Notify{NotifyType: wire.ESP_TFC_PADDING_NOT_SUPPORTED},
		offer(espProposalsNoPFS(p.n.cfg.ESPProposals), wire.ProtoESP, spiBytes(spiIn)),
		&wire.TS{Kind: wire.PayloadTSi, Selectors: []wire.Selector{hostSelector(p.cfg.Local)}},
		&wire.TS{Kind: wire.PayloadTSr, Selectors: []wire.Selector{hostSelector(p.cfg.Remote)}},
	)
	req := p.seal(sa, sa.header(wire.IKE_AUTH, sa.nextID, false), payloads)
	resp, _, err = p.exchange(ctx, sa, req, wire.IKE_AUTH)
	if err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn)
		return err
	}

	// <-- HDR, SK {IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr}
	if err := errorNotify(resp); err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn)
		return err
	}
	ident, err := p.authn().verify(sa, resp)
	if err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn)
		p.log.Warn("authentication failed", p.authFailedAttrs(err)...)
		p.sendAuthFailedInfo(sa)
		return fmt.Errorf("authentication failed: %w", err)
	}
	p.authenticated(sa, ident)
	sa.established = time.Now()
	ok = true
	if err := p.acceptChild(sa, child, resp); err != nil {
		p.logEstablished(sa, "initiator")
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn)
		// The IKE SA stands without a child; delete it, we have no use for it.
		p.deleteIKESA(sa)
		return fmt.Errorf("CHILD_SA: %w", err)
	}
	p.logEstablished(sa, "initiator")
	p.established(sa)
	return nil
}

// acceptChild checks the responder's CHILD_SA answer and installs the pair.
func (p *peer) acceptChild(sa *ikeSA, child *childSA, resp []wire.Payload) error {
	saR, _ := find[*wire.SA](resp)
	if saR == nil {
		return errors.New("IKE_AUTH response lacks an SA payload")
	}
	if findNotify(resp, wire.USE_TRANSPORT_MODE) == nil && !p.n.cfg.BenchAcceptTunnel {
		return errors.New("responder did not accept transport mode")
	}
	c, err := single(espProposalsNoPFS(p.n.cfg.ESPProposals), saR, wire.ProtoESP)
	if err != nil {
		return err
	}
	if len(c.spi) != 4 {
		return fmt.Errorf("responder ESP SPI has %d bytes, want 4", len(c.spi))
	}
	tsi, tsr := findTS(resp)
	if !p.hostPairTS(sa, tsi, tsr) {
		return errors.New("responder narrowed the traffic selectors below the host pair")
	}
	child.spiOut = beUint32(c.spi)
	child.suite = c.suite
	if err := p.installChild(sa, child, childKeys{ni: sa.ni, nr: sa.nr, initiator: true, auth: true}, false); err != nil {
		return err
	}
	sa.child = child
	return nil
}

// sendAuthFailedInfo tells the responder why we drop the SA (RFC 7296
// 2.21.2: an initiator that fails authentication of the responder sends
// AUTHENTICATION_FAILED in an INFORMATIONAL request; no answer is awaited).
func (p *peer) sendAuthFailedInfo(sa *ikeSA) {
	req := p.seal(sa, sa.header(wire.INFORMATIONAL, sa.nextID, false),
		[]wire.Payload{&wire.Notify{NotifyType: wire.AUTHENTICATION_FAILED}})
	sa.nextID++
	p.sendReq(sa, req)
}

// established makes sa the peer's current SA. Should another IKE SA with
// children exist (both hosts initiated at the same moment and both
// attempts completed), one must go: the one with the lowest nonce loses
// (the rule RFC 7296 2.8.1 gives for simultaneous rekeying), and its
// initiator deletes it. Both hosts know all four nonces, so they agree.
func (p *peer) established(sa *ikeSA) {
	// The IKE_SA_INIT messages were signed in AUTH and are not needed
	// again (a late copy of the request is ignored): an IKE SA lives for
	// hours, and these are half a kilobyte of it.
	sa.initReq, sa.initResp = nil, nil
	if sa.halfOpen != nil {
		sa.halfOpen.Stop() // it would hold the SA for 30 s for nothing
		sa.halfOpen = nil
	}
	winner := sa
	for _, o := range p.sas {
		if o == sa || o.established.IsZero() || o.child == nil || o.deleted {
			continue
		}
		loser := o
		if bytes.Compare(lowest(sa.ni, sa.nr), lowest(o.ni, o.nr)) < 0 {
			loser, winner = sa, o
		}
		p.log.Info("two IKE SAs with the peer after a crossed initiation; the one with the lowest nonce goes",
			"removed_spi_i", hex64(loser.spiI), "we_initiated_it", loser.initiator)
		if loser.initiator {
			p.deleteIKESA(loser)
		}
	}
	p.current = winner
	p.failures = 0
	p.stopRetry()
	p.lastRecv = time.Now()
	if winner == sa {
		p.armKeepalive(sa)
		p.armIKERekey(sa, sa.initiator)
		if sa.child != nil {
			p.armChildRekey(sa.child, sa.initiator)
		}
	}
	p.armDPD()
	p.setState(StateEstablished, "")
}

// deleteIKESA sends a DELETE for sa (no answer awaited) and removes it.
func (p *peer) deleteIKESA(sa *ikeSA) {
	req := p.seal(sa, sa.header(wire.INFORMATIONAL, sa.nextID, false),
		[]wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}})
	sa.nextID++
	p.sendReq(sa, req)
	p.removeSA(sa, "deleted")
}

// proposedGroup returns the KE method with the given ID if we proposed it.
func proposedGroup(props []ikecrypto.Proposal, id uint16) *ikecrypto.KE {
	for _, pr := range props {
		for _, k := range pr.KE {
			if k.ID == id {
				return k
			}
		}
	}
	return nil
}

// espProposalsNoPFS drops key exchange methods from ESP proposals: the
// CHILD_SA of IKE_AUTH takes its keys from the IKE SA (RFC 7296 1.2); PFS
// applies to CHILD_SAs made by CREATE_CHILD_SA.
func espProposalsNoPFS(props []ikecrypto.Proposal) []ikecrypto.Proposal {
	out := make([]ikecrypto.Proposal, len(props))
	for i, p := range props {
		p.KE = nil
		out[i] = p
	}
	return out
}

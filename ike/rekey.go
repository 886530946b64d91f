package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// Rekeying (RFC 7296 1.3.2, 1.3.3, 2.8) and the timers that drive it.
//
// Collisions: when both hosts rekey the same SA at once, the host that is
// the original initiator of the IKE SA answers the other's request with
// TEMPORARY_FAILURE and completes its own; the other host answers normally
// and drops its attempt when it gets TEMPORARY_FAILURE. Both reach this
// independently, so exactly one new SA results. Jittered timers make
// collisions rare in the first place.

type (
	evRekeyChild  struct{ c *childSA }
	evRekeyIKE    struct{ sa *ikeSA }
	evRemoveIn    struct{ c *childSA } // delayed removal of a replaced inbound state
	evRemoveIKE   struct{ sa *ikeSA }  // a replaced IKE SA whose DELETE never came
	evFinishRekey struct {
		sa       *ikeSA
		old, new *childSA
	}
)

// retiredGrace is how long a replaced inbound state stays, for packets the
// peer sent on it before it switched.
const retiredGrace = 2 * time.Second

// rekeyDelay returns when to rekey an SA of the given lifetime: the host
// that created the SA first, the other as a fallback, both with jitter.
func rekeyDelay(life time.Duration, first bool) time.Duration {
	lo, hi := rekeyShare(first)
	base := time.Duration(int64(life) * lo / 100)
	span := int64(life) * (hi - lo) / 100
	return base + time.Duration(mrand.Int64N(span+1))
}

// rekeyShare is the range, in percent of a lifetime, in which an SA is
// rekeyed: early on the host that created it, late on the other.
func rekeyShare(first bool) (lo, hi int64) {
	if first {
		return 80, 88
	}
	return 92, 96
}

// retransmitBudget is how long an exchange may take before the
// initiator gives up: every retransmission timeout added up.
func (p *peer) retransmitBudget() time.Duration {
	return p.n.cfg.RetransmitBase * time.Duration(1<<(p.n.cfg.RetransmitTries+1)-1)
}

// retryDelay is a short random delay after TEMPORARY_FAILURE.
func retryDelay() time.Duration {
	return time.Second + time.Duration(mrand.Int64N(int64(2*time.Second)))
}

func (p *peer) armChildRekey(c *childSA, first bool) {
	if p.n.cfg.ChildLifetime <= 0 {
		return
	}
	p.armChildRekeyIn(c, rekeyDelay(p.n.cfg.ChildLifetime, first))
}

func (p *peer) armChildRekeyIn(c *childSA, d time.Duration) {
	if c.rekeyTimer != nil {
		c.rekeyTimer.Stop()
	}
	c.rekeyAt = time.Now().Add(d)
	c.rekeyTimer = time.AfterFunc(d, func() { p.post(evRekeyChild{c}) })
}

func (p *peer) armIKERekey(sa *ikeSA, first bool) {
	if p.n.cfg.IKELifetime <= 0 {
		return
	}
	p.armIKERekeyIn(sa, rekeyDelay(p.n.cfg.IKELifetime, first))
}

func (p *peer) armIKERekeyIn(sa *ikeSA, d time.Duration) {
	if sa.rekeyTimer != nil {
		sa.rekeyTimer.Stop()
	}
	sa.rekeyAt = time.Now().Add(d)
	sa.rekeyTimer = time.AfterFunc(d, func() { p.post(evRekeyIKE{sa}) })
}

// onRekeyChild runs a CHILD_SA rekey when c is still the current child.
func (p *peer) onRekeyChild(ctx context.Context, c *childSA) error {
	sa := p.current
	if sa == nil || sa.child != c || p.closing {
		return nil
	}
	err := p.rekeyChild(ctx, sa, c)
	switch {
	case err == nil, errors.Is(err, errClosing):
		return err
	case isNotify(err, wire.TEMPORARY_FAILURE):
		p.log.Debug("CHILD_SA rekey collided with the peer's; retrying shortly if still needed")
		p.armChildRekeyIn(c, retryDelay())
	case isNotify(err, wire.CHILD_SA_NOT_FOUND):
		// The peer no longer has this pair: our SAs are out of step.
		p.log.Warn("peer does not know our CHILD_SA any more; negotiating again")
		p.deleteIKESA(sa)
		p.setState(StateConnecting, "CHILD_SA unknown to the peer")
		p.reinitiate(0)
	default:
		p.log.Warn("CHILD_SA rekey failed; retrying", "err", err)
		p.armChildRekeyIn(c, 5*time.Second)
	}
	return nil
}

// rekeyChild replaces CHILD_SA old of sa:
// HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}  -->
// <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
// then deletes the old pair with an INFORMATIONAL exchange.
func (p *peer) rekeyChild(ctx context.Context, sa *ikeSA, old *childSA) error {
	p.rekeyingChild = old
	defer func() { p.rekeyingChild = nil }()
	props := p.n.cfg.ESPProposals
	var ke *ikecrypto.KE
	if len(props[0].KE) > 0 {
		ke = props[0].KE[0]
	}
	spiIn, err := p.n.cfg.Kernel.AllocSPI(p.cfg.Remote, p.cfg.Local, old.reqid)
	if err != nil {
		return fmt.Errorf("allocating an inbound SPI: %w", err)
	}
	release := func() { _ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn) }
	ni := p.n.randomBytes(32)
	var (
		share ikecrypto.KeyShare
		resp  []wire.Payload
	)
	for retried := false; ; retried = true {
		payloads := []wire.Payload{
			&wire.Notify{Protocol: wire.ProtoESP, SPI: spiBytes(old.spiIn), NotifyType: wire.REKEY_SA},
			&wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE},
			&wire.Notify{NotifyType: wire.ESP_TFC_PADDING_NOT_SUPPORTED},
			offer(props, wire.ProtoESP, spiBytes(spiIn)),
			&wire.Nonce{Data: ni},
		}
		if ke != nil {
			if share, err = ke.Generate(p.n.cfg.Rand); err != nil {
				release()
				return err
			}
			payloads = append(payloads, &wire.KE{Group: ke.ID, Data: share.Public()})
		}
		payloads = append(payloads,
			&wire.TS{Kind: wire.PayloadTSi, Selectors: []wire.Selector{hostSelector(p.cfg.Local)}},
			&wire.TS{Kind: wire.PayloadTSr, Selectors: []wire.Selector{hostSelector(p.cfg.Remote)}})
		req := p.seal(sa, sa.header(wire.CREATE_CHILD_SA, sa.nextID, false), payloads)
		resp, _, err = p.exchange(ctx, sa, req, wire.CREATE_CHILD_SA)
		if err != nil {
			release()
			return err
		}
		if n := findNotify(resp, wire.INVALID_KE_PAYLOAD); n != nil && !retried {
			if next := proposedGroup(props, notifyGroup(n)); next != nil {
				p.log.Info("peer asks for another PFS group for the CHILD_SA; retrying", "group", next.Name)
				ke = next
				continue
			}
		}
		break
	}
	if err := errorNotify(resp); err != nil {
		release()
		return err
	}
	c, nr, gir, err := p.childAnswer(sa, props, resp, share)
	if err != nil {
		release()
		return err
	}
	child := &childSA{spiIn: spiIn, spiOut: beUint32(c.spi), suite: c.suite, reqid: old.reqid}
	if err := p.installChild(sa, child, childKeys{ni: ni, nr: nr, gir: gir, initiator: true}, false); err != nil {
		release()
		return err
	}
	child.ni, child.nr = ni, nr
	if theirs := sa.child; theirs != old {
		// The peer rekeyed the same CHILD_SA while our request was out,
		// and we answered it as usual: two new pairs (RFC 7296 2.8.1). The
		// one created with the lowest of the four nonces is redundant, and
		// its creator deletes it; the peer reaches the same verdict.
		if bytes.Compare(lowest(ni, nr), lowest(theirs.ni, theirs.nr)) < 0 {
			p.log.Info("simultaneous CHILD_SA rekey: ours has the lowest nonce and goes", "spi_in", hex32(spiIn))
			sa.retired = append(sa.retired, child)
			p.removeChildOut(child)
			req := p.seal(sa, sa.header(wire.INFORMATIONAL, sa.nextID, false),
				[]wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPISize: 4, SPIs: [][]byte{spiBytes(spiIn)}}})
			_, _, derr := p.exchange(ctx, sa, req, wire.INFORMATIONAL)
			p.retireChild(sa, child)
			return derr
		}
		p.log.Info("simultaneous CHILD_SA rekey: the peer's has the lowest nonce; it deletes it", "spi_in", hex32(theirs.spiIn))
		theirs.pendingOut = nil // never send on it
		p.stopChildTimer(theirs)
		sa.retired = append(sa.retired, theirs)
	} else {
		sa.retired = append(sa.retired, old)
	}
	// The new pair carries traffic now (the kernel sends on the newest
	// state); the old one goes.
	sa.child = child
	p.stopChildTimer(old)
	p.armChildRekey(child, true)
	p.publish()
	p.log.Info("CHILD_SA rekeyed", "old_spi_in", hex32(old.spiIn), "new_spi_in", hex32(spiIn))
	req := p.seal(sa, sa.header(wire.INFORMATIONAL, sa.nextID, false),
		[]wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPISize: 4, SPIs: [][]byte{spiBytes(old.spiIn)}}})
	_, _, derr := p.exchange(ctx, sa, req, wire.INFORMATIONAL)
	p.retireChild(sa, old)
	if errors.Is(derr, errClosing) {
		return derr
	}
	return nil
}

// childAnswer checks a responder's CREATE_CHILD_SA answer for a CHILD_SA.
func (p *peer) childAnswer(sa *ikeSA, props []ikecrypto.Proposal, resp []wire.Payload, share ikecrypto.KeyShare) (choice, []byte, []byte, error) {
	saR, _ := find[*wire.SA](resp)
	nonceR, _ := find[*wire.Nonce](resp)
	if saR == nil || nonceR == nil {
		return choice{}, nil, nil, errors.New("CREATE_CHILD_SA response lacks SA or Nonce")
	}
	if findNotify(resp, wire.USE_TRANSPORT_MODE) == nil {
		return choice{}, nil, nil, errors.New("responder did not accept transport mode")
	}
	c, err := single(props, saR, wire.ProtoESP)
	if err != nil {
		return choice{}, nil, nil, err
	}
	if len(c.spi) != 4 {
		return choice{}, nil, nil, fmt.Errorf("responder ESP SPI has %d bytes, want 4", len(c.spi))
	}
	tsi, tsr := findTS(resp)
	if !p.hostPairTS(sa, tsi, tsr) {
		return choice{}, nil, nil, errors.New("responder narrowed the traffic selectors below the host pair")
	}
	var gir []byte
	if c.KE != nil {
		keR, _ := find[*wire.KE](resp)
		if share == nil || keR == nil || keR.Group != share.Group() || c.KE.ID != share.Group() {
			return choice{}, nil, nil, errors.New("responder's PFS key exchange does not match ours")
		}
		if gir, err = share.Shared(keR.Data); err != nil {
			return choice{}, nil, nil, fmt.Errorf("responder key share: %w", err)
		}
	}
	return c, nonceR.Data, gir, nil
}

// retireChild removes a replaced CHILD_SA: the outbound state at once, the
// inbound one after a grace period for packets still in flight.
func (p *peer) retireChild(sa *ikeSA, old *childSA) {
	p.removeChildOut(old)
	time.AfterFunc(retiredGrace, func() { p.post(evRemoveIn{old}) })
}

// removeRetired removes the inbound state of a replaced CHILD_SA.
func (p *peer) removeRetired(c *childSA) {
	p.removeChildIn(c)
	for _, sa := range p.sas {
		for i, r := range sa.retired {
			if r == c {
				sa.retired = append(sa.retired[:i], sa.retired[i+1:]...)
				break
			}
		}
	}
}

func (p *peer) stopChildTimer(c *childSA) {
	if c.rekeyTimer != nil {
		c.rekeyTimer.Stop()
		c.rekeyTimer = nil
	}
}

// respondCreateChild answers a CREATE_CHILD_SA request: a CHILD_SA rekey
// or an IKE SA rekey. metro keeps one CHILD_SA per peer, so a request for
// an additional one is refused with NO_ADDITIONAL_SAS.
func (p *peer) respondCreateChild(sa *ikeSA, h wire.Header, inner []wire.Payload) {
	saI, _ := find[*wire.SA](inner)
	nonceI, _ := find[*wire.Nonce](inner)
	if saI == nil || nonceI == nil || len(saI.Proposals) == 0 || len(nonceI.Data) < 16 || len(nonceI.Data) > 256 {
		p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
		return
	}
	if saI.Proposals[0].Protocol == wire.ProtoIKE {
		p.respondRekeyIKE(sa, h, inner, saI, nonceI.Data)
		return
	}
	refuse := func(t wire.NotifyType, why string) {
		p.log.Info("refusing CREATE_CHILD_SA", "answer", notifyName(t), "reason", why)
		p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: t}})
	}
	rekey := findNotify(inner, wire.REKEY_SA)
	if rekey == nil {
		refuse(wire.NO_ADDITIONAL_SAS, "metro keeps one CHILD_SA per host pair")
		return
	}
	old := sa.child
	if old == nil || len(rekey.SPI) != 4 || beUint32(rekey.SPI) != old.spiOut {
		refuse(wire.CHILD_SA_NOT_FOUND, "no CHILD_SA with that SPI")
		return
	}
	if p.rekeyingIKE != nil || (p.rekeyingChild == old && sa.initiator && !p.n.cfg.answerRekeyCollisions) {
		refuse(wire.TEMPORARY_FAILURE, "we are rekeying ourselves and take precedence")
		return
	}
	if findNotify(inner, wire.USE_TRANSPORT_MODE) == nil {
		refuse(wire.NO_PROPOSAL_CHOSEN, "peer asks for tunnel mode")
		return
	}
	props := p.n.cfg.ESPProposals
	c, err := choose(props, saI, wire.ProtoESP)
	if err != nil {
		refuse(wire.NO_PROPOSAL_CHOSEN, err.Error())
		return
	}
	if len(c.spi) != 4 {
		refuse(wire.INVALID_SYNTAX, "ESP SPI is not 4 bytes")
		return
	}
	var out []wire.Payload
	var gir []byte
	nr := p.n.randomBytes(32)
	if c.KE != nil {
		keI, _ := find[*wire.KE](inner)
		if keI == nil || keI.Group != c.KE.ID {
			if k := proposedGroup(props, groupOf(keI)); keI != nil && k != nil && proposedKEs(saI, wire.ProtoESP)[k.ID] {
				c.KE = k
			} else {
				p.log.Info("answering INVALID_KE_PAYLOAD to a CHILD_SA rekey", "want", c.KE.Name)
				p.reply(sa, h, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, c.KE.ID)}})
				return
			}
		}
		share, err := c.KE.Generate(p.n.cfg.Rand)
		if err == nil {
			gir, err = share.Shared(keI.Data)
		}
		if err != nil {
			refuse(wire.INVALID_SYNTAX, "key exchange: "+err.Error())
			return
		}
		out = append(out, &wire.KE{Group: c.KE.ID, Data: share.Public()})
	}
	tsi, tsr := findTS(inner)
	if !p.hostPairTS(sa, tsr, tsi) {
		refuse(wire.TS_UNACCEPTABLE, "traffic selectors do not cover the host pair")
		return
	}
	spiIn, err := p.n.cfg.Kernel.AllocSPI(p.cfg.Remote, p.cfg.Local, old.reqid)
	if err != nil {
		refuse(wire.TEMPORARY_FAILURE, err.Error())
		return
	}
	child := &childSA{spiIn: spiIn, spiOut: beUint32(c.spi), suite: c.suite, reqid: old.reqid, ni: nonceI.Data, nr: nr}
	if err := p.installChild(sa, child, childKeys{ni: nonceI.Data, nr: nr, gir: gir}, true); err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, spiIn)
		refuse(wire.TEMPORARY_FAILURE, err.Error())
		return
	}
	resp := []wire.Payload{
		&wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE},
		&wire.Notify{NotifyType: wire.ESP_TFC_PADDING_NOT_SUPPORTED},
		accepted(c.suite, c.number, wire.ProtoESP, spiBytes(spiIn)),
		&wire.Nonce{Data: nr},
	}
	resp = append(resp, out...)
	resp = append(resp,
		&wire.TS{Kind: wire.PayloadTSi, Selectors: []wire.Selector{hostSelector(p.cfg.Remote)}},
		&wire.TS{Kind: wire.PayloadTSr, Selectors: []wire.Selector{hostSelector(p.cfg.Local)}})
	p.reply(sa, h, resp)
	sa.child = child
	sa.retired = append(sa.retired, old)
	p.stopChildTimer(old)
	p.armChildRekey(child, false)
	p.publish()
	// Should the initiator's DELETE of the old pair never come, switch
	// anyway, once the initiator has surely had our answer or given up
	// (its whole retransmission schedule).
	time.AfterFunc(p.retransmitBudget()+5*time.Second, func() { p.post(evFinishRekey{sa: sa, old: old, new: child}) })
	p.log.Info("CHILD_SA rekeyed by the peer", "old_spi_in", hex32(old.spiIn), "new_spi_in", hex32(spiIn))
}

// finishRekey switches a rekey responder's outbound traffic to the new
// CHILD_SA and retires the old one.
func (p *peer) finishRekey(sa *ikeSA, old, new *childSA) {
	p.installPendingOut(new)
	if !old.outRemoved {
		p.retireChild(sa, old)
	}
}

func groupOf(ke *wire.KE) uint16 {
	if ke == nil {
		return 0
	}
	return ke.Group
}

// onRekeyIKE runs an IKE SA rekey when sa is still current.
func (p *peer) onRekeyIKE(ctx context.Context, sa *ikeSA) error {
	if p.current != sa || sa.deleted || p.closing {
		return nil
	}
	err := p.rekeyIKE(ctx, sa)
	switch {
	case err == nil, errors.Is(err, errClosing):
		return err
	case isNotify(err, wire.TEMPORARY_FAILURE):
		p.log.Debug("IKE SA rekey collided with another exchange; retrying shortly")
		p.armIKERekeyIn(sa, retryDelay())
	default:
		p.log.Warn("IKE SA rekey failed; retrying", "err", err)
		p.armIKERekeyIn(sa, 10*time.Second)
	}
	return nil
}

// rekeyIKE replaces IKE SA old (RFC 7296 1.3.2):
// HDR, SK {SA, Ni, KEi}  -->  <-- HDR, SK {SA, Nr, KEr}
// The CHILD_SA moves to the new IKE SA; the old one is deleted.
func (p *peer) rekeyIKE(ctx context.Context, old *ikeSA) error {
	p.rekeyingIKE = old
	defer func() { p.rekeyingIKE = nil }()
	props := p.n.cfg.IKEProposals
	ke := old.suite.KE
	spi := p.newSPI()
	ni := p.n.randomBytes(32)
	var (
		share ikecrypto.KeyShare
		resp  []wire.Payload
		err   error
	)
	for retried := false; ; retried = true {
		if share, err = ke.Generate(p.n.cfg.Rand); err != nil {
			return err
		}
		req := p.seal(old, old.header(wire.CREATE_CHILD_SA, old.nextID, false), []wire.Payload{
			offer(props, wire.ProtoIKE, binary.BigEndian.AppendUint64(nil, spi)),
			&wire.Nonce{Data: ni},
			&wire.KE{Group: ke.ID, Data: share.Public()},
		})
		resp, _, err = p.exchange(ctx, old, req, wire.CREATE_CHILD_SA)
		if err != nil {
			return err
		}
		if n := findNotify(resp, wire.INVALID_KE_PAYLOAD); n != nil && !retried {
			if next := proposedGroup(props, notifyGroup(n)); next != nil {
				ke = next
				continue
			}
		}
		break
	}
	if err := errorNotify(resp); err != nil {
		return err
	}
	saR, _ := find[*wire.SA](resp)
	nonceR, _ := find[*wire.Nonce](resp)
	keR, _ := find[*wire.KE](resp)
	if saR == nil || nonceR == nil || keR == nil {
		return errors.New("IKE SA rekey response lacks SA, Nonce or KE")
	}
	c, err := single(props, saR, wire.ProtoIKE)
	if err != nil {
		return err
	}
	if len(c.spi) != 8 || c.KE.ID != ke.ID || keR.Group != ke.ID {
		return errors.New("IKE SA rekey response: bad SPI or key exchange group")
	}
	gir, err := share.Shared(keR.Data)
	if err != nil {
		return fmt.Errorf("responder key share: %w", err)
	}
	nsa := &ikeSA{initiator: true, spiI: spi, spiR: binary.BigEndian.Uint64(c.spi), suite: c.suite, ni: ni, nr: nonceR.Data}
	if err := nsa.rekeyKeys(old, gir); err != nil {
		return err
	}
	if old.rekeyed || p.current != old {
		// The peer rekeyed this IKE SA while our request was out and we
		// answered it: keep the peer's successor (it holds the CHILD_SA
		// already) and delete ours.
		p.log.Info("simultaneous IKE SA rekey: keeping the peer's new IKE SA, deleting ours")
		nsa.established = time.Now()
		nsa.local, nsa.remote = old.local, old.remote
		p.sas[nsa.ourSPI()] = nsa
		p.deleteIKESA(nsa)
		return nil
	}
	p.adoptIKESA(old, nsa, true)
	req := p.seal(old, old.header(wire.INFORMATIONAL, old.nextID, false),
		[]wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}})
	_, _, derr := p.exchange(ctx, old, req, wire.INFORMATIONAL)
	p.removeSA(old, "rekeyed")
	if errors.Is(derr, errClosing) {
		return derr
	}
	return nil
}

// respondRekeyIKE answers a request to rekey IKE SA old.
func (p *peer) respondRekeyIKE(old *ikeSA, h wire.Header, inner []wire.Payload, saI *wire.SA, ni []byte) {
	refuse := func(t wire.NotifyType, why string) {
		p.log.Info("refusing IKE SA rekey", "answer", notifyName(t), "reason", why)
		p.reply(old, h, []wire.Payload{&wire.Notify{NotifyType: t}})
	}
	if p.rekeyingChild != nil || (p.rekeyingIKE == old && old.initiator) {
		refuse(wire.TEMPORARY_FAILURE, "a rekey of ours is in progress")
		return
	}
	if old.rekeyed || p.current != old {
		refuse(wire.TEMPORARY_FAILURE, "this IKE SA was already replaced")
		return
	}
	props := p.n.cfg.IKEProposals
	c, err := choose(props, saI, wire.ProtoIKE)
	if err != nil {
		refuse(wire.NO_PROPOSAL_CHOSEN, err.Error())
		return
	}
	if len(c.spi) != 8 {
		refuse(wire.INVALID_SYNTAX, "IKE SPI is not 8 bytes")
		return
	}
	keI, _ := find[*wire.KE](inner)
	if keI == nil || keI.Group != c.KE.ID {
		if k := proposedGroup(props, groupOf(keI)); keI != nil && k != nil && proposedKEs(saI, wire.ProtoIKE)[k.ID] {
			c.KE = k
		} else {
			p.reply(old, h, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, c.KE.ID)}})
			return
		}
	}
	share, err := c.KE.Generate(p.n.cfg.Rand)
	var gir []byte
	if err == nil {
		gir, err = share.Shared(keI.Data)
	}
	if err != nil {
		refuse(wire.INVALID_SYNTAX, "key exchange: "+err.Error())
		return
	}
	nsa := &ikeSA{initiator: false, spiI: binary.BigEndian.Uint64(c.spi), spiR: p.newSPI(), suite: c.suite, ni: ni, nr: p.n.randomBytes(32)}
	if err := nsa.rekeyKeys(old, gir); err != nil {
		refuse(wire.INVALID_SYNTAX, err.Error())
		return
	}
	p.reply(old, h, []wire.Payload{
		accepted(c.suite, c.number, wire.ProtoIKE, binary.BigEndian.AppendUint64(nil, nsa.spiR)),
		&wire.Nonce{Data: nsa.nr},
		&wire.KE{Group: c.KE.ID, Data: share.Public()},
	})
	p.adoptIKESA(old, nsa, false)
}

// adoptIKESA makes nsa, the rekeyed successor of old, current: the CHILD_SA
// moves over, old awaits its DELETE.
func (p *peer) adoptIKESA(old, nsa *ikeSA, first bool) {
	old.rekeyed = true
	if !first {
		// The initiator deletes old; should its DELETE never come, old
		// goes anyway once the initiator has surely given up.
		time.AfterFunc(p.retransmitBudget()+5*time.Second, func() { p.post(evRemoveIKE{old}) })
	}
	nsa.established = time.Now()
	nsa.local, nsa.remote = old.local, old.remote
	nsa.ext.inherit(&old.ext)
	nsa.replyTo, nsa.replyFrom = old.replyTo, old.replyFrom
	nsa.nat, nsa.usBehindNAT = old.nat, old.usBehindNAT
	p.armKeepalive(nsa)
	nsa.child, old.child = old.child, nil
	nsa.retired, old.retired = old.retired, nil
	if old.rekeyTimer != nil {
		old.rekeyTimer.Stop()
	}
	p.sas[nsa.ourSPI()] = nsa
	if p.current == old {
		p.current = nsa
	}
	p.armIKERekey(nsa, first)
	p.publish()
	p.log.Info("IKE SA rekeyed", "suite", nsa.suite.String(),
		"spi_i", hex64(nsa.spiI), "spi_r", hex64(nsa.spiR))
}

// rekeyKeys derives the keys of a rekeyed IKE SA from its predecessor
// (RFC 7296 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the
// old SA's PRF).
func (sa *ikeSA) rekeyKeys(old *ikeSA, gir []byte) error {
	seed := ikecrypto.RekeySKEYSEED(old.suite.PRF, old.keys.SKd, gir, sa.ni, sa.nr)
	sa.keys = ikecrypto.IKEKeysFromSKEYSEED(sa.suite.PRF, sa.suite.Encr, sa.suite.Integ, seed, sa.ni, sa.nr, sa.spiI, sa.spiR)
	return sa.setCiphers()
}

// lowest returns the smaller of two nonces.
func lowest(a, b []byte) []byte {
	if bytes.Compare(a, b) < 0 {
		return a
	}
	return b
}

func isNotify(err error, t wire.NotifyType) bool {
	var ne *notifyError
	return errors.As(err, &ne) && ne.t == t
}

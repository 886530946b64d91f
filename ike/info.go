package ike

import (
	"metro/ike/wire"
)

// respondInformational answers an INFORMATIONAL request (RFC 7296 1.4):
// deletes, error notifications, and empty liveness checks.
func (p *peer) respondInformational(sa *ikeSA, h wire.Header, inner []wire.Payload) {
	var out []wire.Payload
	deleteIKE, authFailed := false, false
	var deadChild *childSA
	for _, pl := range inner {
		switch pl := pl.(type) {
		case *wire.Delete:
			switch pl.Protocol {
			case wire.ProtoIKE:
				deleteIKE = true
			case wire.ProtoESP:
				for _, s := range pl.SPIs {
					if len(s) != 4 {
						continue
					}
					spi := beUint32(s)
					if r := retiredBySPI(sa, spi); r != nil {
						// The rekey initiator deletes the pair it replaced:
						// switch to the new one, then retire the old.
						out = append(out, &wire.Delete{Protocol: wire.ProtoESP, SPISize: 4, SPIs: [][]byte{spiBytes(r.spiIn)}})
						if sa.child != nil {
							p.finishRekey(sa, r, sa.child)
						}
						continue
					}
					if sa.child == nil || spi != sa.child.spiOut {
						continue
					}
					deadChild = sa.child
					out = append(out, &wire.Delete{Protocol: wire.ProtoESP, SPISize: 4, SPIs: [][]byte{spiBytes(sa.child.spiIn)}})
				}
			}
		case *wire.Notify:
			if pl.NotifyType == wire.AUTHENTICATION_FAILED {
				p.log.Warn("peer says authentication failed (it could not verify our AUTH: different pre-shared keys, or it rejects our certificate: see its log)")
				deleteIKE, authFailed = true, true
				p.setState(StateFailed, "authentication failed: peer rejected our AUTH")
			}
		}
	}
	if deleteIKE {
		p.reply(sa, h, nil)
		p.log.Info("peer deleted the IKE SA", "spi_i", hex64(sa.spiI), "spi_r", hex64(sa.spiR))
		wasCurrent := p.current == sa
		p.removeSA(sa, "deleted by peer")
		if wasCurrent && p.current == nil && !p.closing {
			// On demand nothing follows by itself: a failure stays
			// "failed"; a clean DELETE leaves the peer idle.
			if !authFailed || !p.n.cfg.OnDemand {
				p.setState(StateConnecting, "")
			}
			p.reinitiate(p.n.cfg.RetryMin)
		}
		return
	}
	p.reply(sa, h, out)
	if deadChild != nil {
		// metro keeps exactly one CHILD_SA per IKE SA: without it the IKE
		// SA has no purpose, so start over.
		p.log.Info("peer deleted the CHILD_SA; renegotiating")
		p.removeChild(deadChild)
		sa.child = nil
		p.deleteIKESA(sa)
		if p.current == nil && !p.closing {
			// No SA left: not "established" any more (on demand: idle).
			p.setState(StateConnecting, "")
			p.reinitiate(0)
		}
	}
}

// retiredBySPI finds a replaced CHILD_SA of sa by its outbound SPI.
func retiredBySPI(sa *ikeSA, spi uint32) *childSA {
	for _, r := range sa.retired {
		if r.spiOut == spi {
			return r
		}
	}
	return nil
}

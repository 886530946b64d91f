package ike

import (
	"context"
	"errors"
	"time"

	"metro/ike/wire"
	"metro/xfrm"
)

// Liveness (RFC 7296 2.4) and kernel events.

type (
	evDPD    struct{}
	evKernel struct {
		ev     xfrm.Event
		resync *resyncRun // for xfrm.Resync, posted by Node.Resync
	}
)

// ikeIdleMax is how long IKE may stay silent while ESP flows before a
// liveness check is sent anyway, so that stateful firewalls on the path
// keep the IKE flow.
func (p *peer) ikeIdleMax() time.Duration { return 4 * p.n.cfg.DPDInterval }

func (p *peer) armDPD() {
	if p.n.cfg.DPDInterval <= 0 {
		return
	}
	if p.dpdTimer != nil {
		p.dpdTimer.Stop()
	}
	p.dpdTimer = time.AfterFunc(p.n.cfg.DPDInterval, func() { p.post(evDPD{}) })
}

// onDPD checks that the peer is alive: when neither IKE nor ESP brought
// anything from it for a DPD interval (or IKE has been silent for long), it
// sends an empty INFORMATIONAL. No answer after the retransmissions means
// the peer is gone: its SAs are removed and negotiation starts over.
func (p *peer) onDPD(ctx context.Context) error {
	sa := p.current
	if sa == nil || p.closing {
		return nil
	}
	defer p.armDPD()
	now := time.Now()
	if sa.child != nil {
		if st, err := p.n.cfg.Kernel.SAStats(p.cfg.Local, sa.child.spiIn); err == nil {
			if st.Bytes != p.espSeen {
				p.espSeen = st.Bytes
				p.espAlive = now
			}
		}
	}
	last := p.lastRecv
	if p.espAlive.After(last) {
		last = p.espAlive
	}
	if now.Sub(last) < p.n.cfg.DPDInterval && now.Sub(p.lastRecv) < p.ikeIdleMax() {
		return nil
	}
	p.log.Debug("liveness check")
	req := p.seal(sa, sa.header(wire.INFORMATIONAL, sa.nextID, false), nil)
	_, _, err := p.exchange(ctx, sa, req, wire.INFORMATIONAL)
	if err == nil || errors.Is(err, errClosing) {
		return err
	}
	if p.current != sa {
		return nil
	}
	p.log.Warn("peer does not answer liveness checks; removing its SAs and negotiating again", "err", err)
	p.removeSA(sa, "peer not responding")
	p.setState(StateConnecting, "peer not responding to liveness checks")
	p.reinitiate(p.n.cfg.RetryMin)
	return nil
}

// KernelEvent hands a kernel ACQUIRE or EXPIRE to the peer it concerns.
// A Resync event concerns every peer and waits for them: the caller
// handles it with Resync instead; KernelEvent ignores it.
func (n *Node) KernelEvent(ev xfrm.Event) {
	if ev.Kind == xfrm.Resync {
		n.log.Debug("kernel resync event: call Node.Resync")
		return
	}
	n.mu.Lock()
	p := n.peers[pairKey{ev.Src, ev.Dst}]
	if p == nil {
		p = n.peers[pairKey{ev.Dst, ev.Src}]
	}
	n.mu.Unlock()
	if p != nil {
		p.post(evKernel{ev: ev})
	}
}

func (p *peer) onKernelEvent(e evKernel) {
	ev := e.ev
	switch ev.Kind {
	case xfrm.Acquire:
		if p.current == nil && !p.initiating {
			p.log.Info("traffic to the peer is waiting for an SA (kernel ACQUIRE): negotiating now")
			p.failures = 0
			p.stopRetry()
			p.post(evInitiate{})
		}
	case xfrm.SoftExpire:
		if sa := p.current; sa != nil && sa.child != nil && (sa.child.spiIn == ev.SPI || sa.child.spiOut == ev.SPI) {
			p.log.Info("kernel soft expiry of the CHILD_SA: rekeying", "spi", hex32(ev.SPI))
			p.deferred = append(p.deferred, evRekeyChild{sa.child})
		}
	case xfrm.HardExpire:
		if sa := p.current; sa != nil && sa.child != nil && (sa.child.spiIn == ev.SPI || sa.child.spiOut == ev.SPI) {
			p.log.Warn("CHILD_SA reached its hard lifetime before it was rekeyed; negotiating again", "spi", hex32(ev.SPI))
			p.childLost(sa, "CHILD_SA expired")
		}
	case xfrm.Resync:
		if e.resync != nil {
			p.onResync(e.resync)
		}
	}
}

// childLost handles a CHILD_SA whose kernel states are gone (hard expiry,
// or found missing by Resync): its IKE SA is deleted (the peer gets a
// DELETE) and, in connect mode, a new one is negotiated at once; on demand
// the peer goes idle until traffic waits for an SA.
func (p *peer) childLost(sa *ikeSA, why string) {
	p.deleteIKESA(sa)
	p.setState(StateConnecting, why)
	if !p.onDemand() {
		p.post(evInitiate{})
	}
}

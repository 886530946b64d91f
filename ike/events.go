package ike

import "net/netip"

// PeerEvent is the outcome of a negotiation with one peer, reported to
// Config.OnPeerEvent: an IKE SA with its CHILD_SA established, or a
// negotiation that failed.
type PeerEvent struct {
	Local, Remote netip.Addr
	// Established is true when an IKE SA and its CHILD_SA are up; false
	// when a negotiation failed (Err says why).
	Established bool
	// Initiator is true when this host initiated the established IKE SA.
	Initiator bool
	// Err is the reason of a failure, as shown by metroctl status.
	Err string
}

// notify reports a state change to Config.OnPeerEvent, if set. It runs on
// the peer's goroutine.
func (p *peer) notify(state, lastErr string) {
	f := p.n.cfg.OnPeerEvent
	if f == nil {
		return
	}
	ev := PeerEvent{Local: p.cfg.Local, Remote: p.cfg.Remote}
	switch state {
	case StateEstablished:
		ev.Established = true
		ev.Initiator = p.current != nil && p.current.initiator
	case StateFailed:
		ev.Err = lastErr
	default:
		return
	}
	f(ev)
}

package ike

import (
	"net/netip"
	"time"
)

// PeerInfo is a snapshot of one peer for status displays.
type PeerInfo struct {
	Local, Remote netip.Addr
	State         string // StateConnecting, StateEstablished, StateFailed or (on demand) StateIdle
	LastError     string // the last failure or why the SA was lost; cleared once established
	Since         time.Time
	PSKSource     string
	Auth          string // "psk" or "cert"
	// Certificate authentication: the peer's ID and certificate, from
	// the current IKE SA.
	PeerID      string
	CertSubject string
	CertExpiry  time.Time
	IKE         *IKEInfo
	Children    []ChildInfo
}

// IKEInfo describes the current IKE SA.
type IKEInfo struct {
	Initiator        bool
	SPIi, SPIr       uint64
	Encr, Integ, PRF string
	KE               string
	Established      time.Time
}

// ChildInfo describes an installed CHILD_SA.
type ChildInfo struct {
	SPIIn, SPIOut uint32
	Encr, Integ   string
	KE            string
	Reqid         uint32
	Established   time.Time
}

// info returns the last published snapshot.
func (p *peer) info() PeerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snap
	s.Children = append([]ChildInfo(nil), s.Children...)
	return s
}

// setState records a state change and publishes a snapshot. On demand,
// "connecting" outside an initiation of ours (the SAs were lost: the
// peer's DELETE, a dead peer, an expiry; or shutdown) becomes "idle":
// nothing negotiates until traffic or the peer asks, and "connecting"
// would promise an attempt that is not coming. lastErr, if any, stays
// as the reason.
func (p *peer) setState(state, lastErr string) {
	if state == StateConnecting && p.n.cfg.OnDemand && !p.initiating {
		state = StateIdle
	}
	p.mu.Lock()
	if p.snap.State != state {
		p.snap.Since = time.Now()
	}
	p.snap.State = state
	if lastErr != "" || state == StateEstablished {
		p.snap.LastError = lastErr
	}
	p.mu.Unlock()
	p.publish()
	p.notify(state, lastErr)
}

// publish refreshes the snapshot's SA details from the peer's state.
func (p *peer) publish() {
	var ike *IKEInfo
	var children []ChildInfo
	if sa := p.current; sa != nil {
		ike = &IKEInfo{
			Initiator: sa.initiator, SPIi: sa.spiI, SPIr: sa.spiR,
			Encr: sa.suite.Encr.Name, PRF: sa.suite.PRF.Name, KE: sa.suite.KE.Name,
			Established: sa.established,
		}
		if sa.suite.Integ != nil {
			ike.Integ = sa.suite.Integ.Name
		}
		for _, o := range p.sas {
			c := o.child
			if c == nil || !c.installed {
				continue
			}
			ci := ChildInfo{SPIIn: c.spiIn, SPIOut: c.spiOut, Encr: c.suite.Encr.Name, Reqid: c.reqid, Established: c.established}
			if c.suite.Integ != nil {
				ci.Integ = c.suite.Integ.Name
			}
			if c.suite.KE != nil {
				ci.KE = c.suite.KE.Name
			}
			children = append(children, ci)
		}
	}
	p.mu.Lock()
	p.snap.IKE = ike
	p.snap.Children = children
	p.snap.PSKSource = p.cfg.PSKSource
	p.snap.Auth = p.authn().kind()
	p.snap.PeerID, p.snap.CertSubject, p.snap.CertExpiry = "", "", time.Time{}
	if sa := p.current; sa != nil && sa.ext.identity != nil {
		p.snap.PeerID, p.snap.CertSubject, p.snap.CertExpiry = sa.ext.identity.id, sa.ext.identity.subject, sa.ext.identity.expiry
	}
	p.mu.Unlock()
}

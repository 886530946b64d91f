package ike

import (
	"context"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"time"

	"metro/ike/ikecrypto"
	"metro/xfrm"
)

// childKeys are what installChild needs besides the suite: the nonces and
// optional PFS secret of the exchange that created the CHILD_SA, and
// whether we initiated that exchange (it decides which keys are ours).
type childKeys struct {
	ni, nr    []byte
	gir       []byte
	initiator bool
	// auth: the CHILD_SA of an IKE_AUTH exchange, which is logged with
	// the IKE SA in one "IKE SA established" line (one write per setup).
	auth bool
}

// installChild derives the CHILD_SA keys (RFC 7296 2.17) and installs the
// inbound state. The outbound state is installed too unless deferOut is
// set: a rekey responder keeps sending on the old SA until the initiator,
// which has the new inbound state by then, deletes the old one
// (make-before-break; the kernel sends on the newest state of a policy).
func (p *peer) installChild(sa *ikeSA, c *childSA, k childKeys, deferOut bool) error {
	s := c.suite
	encLen, integLen := s.Encr.KeyLen, 0
	if s.Integ != nil {
		integLen = s.Integ.KeyLen
	}
	km := ikecrypto.ChildKeymat(sa.suite.PRF, sa.keys.SKd, k.gir, k.ni, k.nr, 2*(encLen+integLen))
	ei, ai := km[:encLen], km[encLen:encLen+integLen]
	er, ar := km[encLen+integLen:2*encLen+integLen], km[2*encLen+integLen:]
	// Keys for traffic from the exchange initiator to the responder are ei/ai.
	inE, inA, outE, outA := er, ar, ei, ai
	if !k.initiator {
		inE, inA, outE, outA = ei, ai, er, ar
	}
	life := p.childLifetime(k.initiator)
	in := espState(s, p.cfg.Remote, p.cfg.Local, c.spiIn, c.reqid, inE, inA)
	in.ReplayWindow = p.n.cfg.ReplayWindow
	in.Lifetime = life
	out := espState(s, p.cfg.Local, p.cfg.Remote, c.spiOut, c.reqid, outE, outA)
	out.Lifetime = life
	if sa.nat {
		// ESP in UDP on the IKE SA's NAT-traversal ports (RFC 3948).
		enc := &xfrm.Encap{SrcPort: sa.local.Port(), DstPort: sa.peerPort()}
		in.Encap, out.Encap = &xfrm.Encap{SrcPort: enc.DstPort, DstPort: enc.SrcPort}, enc
	}
	if err := p.n.cfg.Kernel.AddSA(in); err != nil {
		return fmt.Errorf("installing inbound ESP state %08x: %w", c.spiIn, err)
	}
	p.logESPKeys(s,
		ESPSAKeys{Src: p.cfg.Remote, Dst: p.cfg.Local, SPI: c.spiIn, EncrKey: inE, IntegKey: inA},
		ESPSAKeys{Src: p.cfg.Local, Dst: p.cfg.Remote, SPI: c.spiOut, EncrKey: outE, IntegKey: outA})
	c.installed = true
	c.established = time.Now()
	if deferOut {
		c.pendingOut = &out
	} else if err := p.n.cfg.Kernel.AddSA(out); err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, c.spiIn)
		c.installed = false
		return fmt.Errorf("installing outbound ESP state %08x: %w", c.spiOut, err)
	}
	level := slog.LevelInfo
	if k.auth {
		level = slog.LevelDebug
	}
	p.log.Log(context.Background(), level, "CHILD_SA installed", "mode", "transport", "suite", s.String(),
		"spi_in", hex32(c.spiIn), "spi_out", hex32(c.spiOut))
	return nil
}

// logEstablished logs a completed IKE_AUTH exchange: the IKE SA and, when
// it came with one, its CHILD_SA, in one line.
func (p *peer) logEstablished(sa *ikeSA, role string) {
	attrs := []any{"role", role, "suite", sa.suite.String(),
		"spi_i", hex64(sa.spiI), "spi_r", hex64(sa.spiR)}
	if c := sa.child; c != nil {
		attrs = append(attrs, "child_suite", c.suite.String(), "mode", "transport",
			"spi_in", hex32(c.spiIn), "spi_out", hex32(c.spiOut))
	}
	p.log.Info("IKE SA established", attrs...)
}

// installPendingOut installs a deferred outbound state.
func (p *peer) installPendingOut(c *childSA) {
	if c.pendingOut == nil {
		return
	}
	out := *c.pendingOut
	c.pendingOut = nil
	if err := p.n.cfg.Kernel.AddSA(out); err != nil {
		p.log.Error("installing outbound ESP state", "spi", hex32(out.SPI), "err", err)
	}
}

// childLifetime returns the kernel limits for a new CHILD_SA. Time: the
// soft limit a little after our own rekey timer (a fallback), the hard
// limit at the configured lifetime, when the states go and traffic is
// blocked. Volume (bytes, packets): no timer can tell when, so the soft
// limit is the rekey, placed like the timer (rekeyShare: first is whether
// we initiated the exchange that created the SA), the hard limit at the
// configured volume.
func (p *peer) childLifetime(first bool) xfrm.Lifetime {
	var lt xfrm.Lifetime
	lt.SoftBytes, lt.HardBytes = volumeLimits(p.n.cfg.ChildLifetimeBytes, first)
	lt.SoftPackets, lt.HardPackets = volumeLimits(p.n.cfg.ChildLifetimePackets, first)
	l := p.n.cfg.ChildLifetime
	if l <= 0 {
		return lt
	}
	l = l.Round(time.Second)
	lt.HardAdd = l
	soft := (l * 97 / 100).Truncate(time.Second)
	if l-soft < time.Second {
		soft = l - time.Second
	}
	if soft > 0 {
		lt.SoftAdd = soft
	}
	return lt
}

// volumeLimits splits a volume limit (0: none) into the kernel's soft
// limit, at a random point of rekeyShare(first), and hard limit.
func volumeLimits(limit uint64, first bool) (soft, hard uint64) {
	if limit == 0 {
		return 0, 0
	}
	lo, hi := rekeyShare(first)
	pct := float64(lo) + mrand.Float64()*float64(hi-lo)
	soft = uint64(float64(limit) * pct / 100)
	if soft >= limit {
		soft = limit - 1 // below the hard limit (0: no soft limit)
	}
	return soft, limit
}

// espState builds a kernel ESP state for one direction.
func espState(s suite, src, dst netip.Addr, spi, reqid uint32, encKey, integKey []byte) xfrm.SA {
	st := xfrm.SA{Src: src, Dst: dst, SPI: spi, Reqid: reqid}
	if s.Encr.AEAD {
		st.AEAD = &xfrm.Algo{Name: s.Encr.Kernel, Key: encKey, ICVBits: s.Encr.ICVBits}
	} else {
		st.Crypt = &xfrm.Algo{Name: s.Encr.Kernel, Key: encKey}
		st.Auth = &xfrm.Algo{Name: s.Integ.Kernel, Key: integKey, TruncBits: s.Integ.TruncLen * 8}
	}
	return st
}

// removeChild removes both states of a CHILD_SA from the kernel.
func (p *peer) removeChild(c *childSA) {
	if !c.installed {
		return
	}
	p.removeChildOut(c)
	p.removeChildIn(c)
}

func (p *peer) removeChildOut(c *childSA) {
	c.pendingOut = nil
	if c.outRemoved {
		return
	}
	c.outRemoved = true
	if err := p.n.cfg.Kernel.DeleteSA(p.cfg.Remote, c.spiOut); err != nil {
		p.log.Warn("removing outbound ESP state", "spi", hex32(c.spiOut), "err", err)
	}
}

func (p *peer) removeChildIn(c *childSA) {
	if !c.installed {
		return
	}
	c.installed = false
	if err := p.n.cfg.Kernel.DeleteSA(p.cfg.Local, c.spiIn); err != nil {
		p.log.Warn("removing inbound ESP state", "spi", hex32(c.spiIn), "err", err)
	}
}

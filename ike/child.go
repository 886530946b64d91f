package ike

import (
	"fmt"
	"time"

	"net/netip"

	"metro/ike/ikecrypto"
	"metro/xfrm"
)

// installChild derives the CHILD_SA keys (RFC 7296 2.17) and installs the
// ESP pair: inbound first, so that the peer may use the new SA as soon as
// it hears from us.
func (p *peer) installChild(sa *ikeSA, c *childSA, gir []byte) error {
	s := c.suite
	encLen, integLen := s.Encr.KeyLen, 0
	if s.Integ != nil {
		integLen = s.Integ.KeyLen
	}
	km := ikecrypto.ChildKeymat(sa.suite.PRF, sa.keys.SKd, gir, sa.ni, sa.nr, 2*(encLen+integLen))
	ei, ai := km[:encLen], km[encLen:encLen+integLen]
	er, ar := km[encLen+integLen:2*encLen+integLen], km[2*encLen+integLen:]
	// Keys for traffic from initiator to responder are ei/ai.
	inE, inA, outE, outA := er, ar, ei, ai
	if !sa.initiator {
		inE, inA, outE, outA = ei, ai, er, ar
	}
	in := espState(s, p.cfg.Remote, p.cfg.Local, c.spiIn, c.reqid, inE, inA)
	in.ReplayWindow = p.n.cfg.ReplayWindow
	out := espState(s, p.cfg.Local, p.cfg.Remote, c.spiOut, c.reqid, outE, outA)
	if err := p.n.cfg.Kernel.AddSA(in); err != nil {
		return fmt.Errorf("installing inbound ESP state %08x: %w", c.spiIn, err)
	}
	if err := p.n.cfg.Kernel.AddSA(out); err != nil {
		_ = p.n.cfg.Kernel.DeleteSA(p.cfg.Local, c.spiIn)
		return fmt.Errorf("installing outbound ESP state %08x: %w", c.spiOut, err)
	}
	p.logESPKeys(s,
		ESPSAKeys{Src: p.cfg.Remote, Dst: p.cfg.Local, SPI: c.spiIn, EncrKey: inE, IntegKey: inA},
		ESPSAKeys{Src: p.cfg.Local, Dst: p.cfg.Remote, SPI: c.spiOut, EncrKey: outE, IntegKey: outA})
	c.installed = true
	c.established = time.Now()
	sa.child = c
	p.log.Info("CHILD_SA installed", "mode", "transport", "suite", s.String(),
		"spi_in", fmt.Sprintf("%08x", c.spiIn), "spi_out", fmt.Sprintf("%08x", c.spiOut))
	return nil
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
	if err := p.n.cfg.Kernel.DeleteSA(p.cfg.Local, c.spiIn); err != nil {
		p.log.Warn("removing inbound ESP state", "spi", fmt.Sprintf("%08x", c.spiIn), "err", err)
	}
	if err := p.n.cfg.Kernel.DeleteSA(p.cfg.Remote, c.spiOut); err != nil {
		p.log.Warn("removing outbound ESP state", "spi", fmt.Sprintf("%08x", c.spiOut), "err", err)
	}
	c.installed = false
}

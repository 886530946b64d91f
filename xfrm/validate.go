package xfrm

import (
	"fmt"
	"net/netip"
	"time"
)

// maxAlgoName is the size of the kernel's alg_name field, NUL included.
const maxAlgoName = 64

// Validate reports the first reason the kernel (or metro's ownership rules)
// would refuse sa. Both implementations call it, so tests against Memory
// catch what Netlink would reject.
func (sa *SA) Validate() error {
	if !sa.Src.IsValid() || !sa.Dst.IsValid() {
		return fmt.Errorf("xfrm: SA %08x: invalid address src=%v dst=%v", sa.SPI, sa.Src, sa.Dst)
	}
	if sa.Src.Is4() != sa.Dst.Is4() || sa.Src.Is4In6() || sa.Dst.Is4In6() || sa.Src.Zone() != "" || sa.Dst.Zone() != "" {
		return fmt.Errorf("xfrm: SA %08x: src %v and dst %v: mixed families, mapped or zoned addresses", sa.SPI, sa.Src, sa.Dst)
	}
	if sa.SPI == 0 {
		return fmt.Errorf("xfrm: SA %v->%v: SPI 0 is reserved", sa.Src, sa.Dst)
	}
	if !OwnedReqid(sa.Reqid) {
		return fmt.Errorf("xfrm: SA %08x: reqid %#x outside metro's range [%#x, %#x)", sa.SPI, sa.Reqid, ReqidBase, ReqidBase+ReqidSpan)
	}
	switch {
	case sa.AEAD != nil && (sa.Crypt != nil || sa.Auth != nil):
		return fmt.Errorf("xfrm: SA %08x: AEAD cannot be combined with Crypt/Auth", sa.SPI)
	case sa.AEAD != nil:
		if err := sa.AEAD.check("AEAD"); err != nil {
			return fmt.Errorf("xfrm: SA %08x: %w", sa.SPI, err)
		}
		switch sa.AEAD.ICVBits {
		case 64, 96, 128:
		default:
			return fmt.Errorf("xfrm: SA %08x: AEAD ICVBits %d, want 64, 96 or 128", sa.SPI, sa.AEAD.ICVBits)
		}
	case sa.Crypt != nil && sa.Auth != nil:
		if err := sa.Crypt.check("Crypt"); err != nil {
			return fmt.Errorf("xfrm: SA %08x: %w", sa.SPI, err)
		}
		if err := sa.Auth.check("Auth"); err != nil {
			return fmt.Errorf("xfrm: SA %08x: %w", sa.SPI, err)
		}
		if t := sa.Auth.TruncBits; t <= 0 || t%8 != 0 || t > 512 {
			return fmt.Errorf("xfrm: SA %08x: Auth TruncBits %d: want a positive multiple of 8 up to 512", sa.SPI, t)
		}
	default:
		return fmt.Errorf("xfrm: SA %08x: needs AEAD or both Crypt and Auth", sa.SPI)
	}
	if sa.ReplayWindow > MaxReplayWindow {
		return fmt.Errorf("xfrm: SA %08x: ReplayWindow %d exceeds %d", sa.SPI, sa.ReplayWindow, MaxReplayWindow)
	}
	if sa.ESN && sa.ReplayWindow == 0 {
		return fmt.Errorf("xfrm: SA %08x: ESN needs a non-zero ReplayWindow (also outbound)", sa.SPI)
	}
	if sa.Encap != nil && (sa.Encap.SrcPort == 0 || sa.Encap.DstPort == 0) {
		return fmt.Errorf("xfrm: SA %08x: UDP encapsulation needs both ports", sa.SPI)
	}
	l := &sa.Lifetime
	if err := checkLimits("bytes", l.SoftBytes, l.HardBytes); err != nil {
		return fmt.Errorf("xfrm: SA %08x: %w", sa.SPI, err)
	}
	if err := checkLimits("packets", l.SoftPackets, l.HardPackets); err != nil {
		return fmt.Errorf("xfrm: SA %08x: %w", sa.SPI, err)
	}
	if l.SoftAdd < 0 || l.HardAdd < 0 {
		return fmt.Errorf("xfrm: SA %08x: negative lifetime", sa.SPI)
	}
	if err := checkLimits("seconds", seconds(l.SoftAdd), seconds(l.HardAdd)); err != nil {
		return fmt.Errorf("xfrm: SA %08x: %w", sa.SPI, err)
	}
	return nil
}

func (a *Algo) check(field string) error {
	if a.Name == "" || len(a.Name) >= maxAlgoName {
		return fmt.Errorf("%s name %q: want 1..%d bytes", field, a.Name, maxAlgoName-1)
	}
	return nil
}

// checkLimits rejects a soft limit at or above the hard one: the soft
// expiry (the rekey trigger) must come first.
func checkLimits(what string, soft, hard uint64) error {
	if soft != 0 && hard != 0 && soft >= hard {
		return fmt.Errorf("soft %s limit %d is not below the hard limit %d", what, soft, hard)
	}
	return nil
}

// Validate reports why p is not a policy metro may install: malformed
// selectors, a protecting policy without an owned reqid, or a bypass
// policy whose priority is not PriorityBypass (it would not be listed).
func (p *Policy) Validate() error {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return fmt.Errorf("xfrm: policy %v->%v: invalid selector", p.Src, p.Dst)
	}
	if p.Src.Addr().Is4() != p.Dst.Addr().Is4() || p.Src.Addr().Is4In6() || p.Dst.Addr().Is4In6() || p.Src.Addr().Zone() != "" || p.Dst.Addr().Zone() != "" {
		return fmt.Errorf("xfrm: policy %v->%v: mixed or mapped address families", p.Src, p.Dst)
	}
	if p.Src.Masked() != p.Src || p.Dst.Masked() != p.Dst {
		return fmt.Errorf("xfrm: policy %v->%v: prefix has host bits set", p.Src, p.Dst)
	}
	if p.Dir > DirFwd {
		return fmt.Errorf("xfrm: policy %v->%v: invalid direction %d", p.Src, p.Dst, p.Dir)
	}
	if p.Proto == 0 && (p.SrcPort != 0 || p.DstPort != 0) {
		return fmt.Errorf("xfrm: policy %v->%v: ports without a protocol", p.Src, p.Dst)
	}
	if p.Bypass {
		if p.Reqid != 0 {
			return fmt.Errorf("xfrm: bypass policy %v->%v %v: has reqid %#x", p.Src, p.Dst, p.Dir, p.Reqid)
		}
		if p.Priority != PriorityBypass {
			return fmt.Errorf("xfrm: bypass policy %v->%v %v: priority %d, want PriorityBypass (%d)", p.Src, p.Dst, p.Dir, p.Priority, PriorityBypass)
		}
		return nil
	}
	if !OwnedReqid(p.Reqid) {
		return fmt.Errorf("xfrm: policy %v->%v %v: reqid %#x outside metro's range", p.Src, p.Dst, p.Dir, p.Reqid)
	}
	return nil
}

// policyKey is the identity of a policy in the kernel's table: its
// selector and direction (priority and templates are attributes).
type policyKey struct {
	src, dst         netip.Prefix
	dir              Dir
	proto            uint8
	srcPort, dstPort uint16
}

func (p *Policy) key() policyKey {
	return policyKey{p.Src, p.Dst, p.Dir, p.Proto, p.SrcPort, p.DstPort}
}

// stateKey is the identity of a state: the kernel looks ESP states up by
// (dst, spi, proto), and metro only installs ESP.
type stateKey struct {
	dst netip.Addr
	spi uint32
}

// seconds converts a lifetime to whole seconds, rounding up so that a
// non-zero duration never becomes "unlimited".
func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}

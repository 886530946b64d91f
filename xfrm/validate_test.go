package xfrm

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSAValidate(t *testing.T) {
	a4, b4 := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	a6 := mustAddr("2001:db8::1")
	good := []SA{gcmSA(a4, b4, 0x100), cbcSA(a6, mustAddr("2001:db8::2"), 1)}
	esn := gcmSA(a4, b4, 5)
	esn.ESN, esn.ReplayWindow = true, 4096
	good = append(good, esn)
	for _, sa := range good {
		if err := sa.Validate(); err != nil {
			t.Errorf("valid SA %08x rejected: %v", sa.SPI, err)
		}
	}
	mod := func(f func(*SA)) SA { sa := gcmSA(a4, b4, 0x1000); f(&sa); return sa }
	for want, sa := range map[string]SA{
		"invalid address":      mod(func(s *SA) { s.Src = netip.Addr{} }),
		"mixed families":       mod(func(s *SA) { s.Dst = a6 }),
		"mapped":               mod(func(s *SA) { s.Src = netip.AddrFrom16(a4.As16()) }),
		"SPI 0":                mod(func(s *SA) { s.SPI = 0 }),
		"outside metro's":      mod(func(s *SA) { s.Reqid = ReqidBase + ReqidSpan }),
		"cannot be combined":   mod(func(s *SA) { s.Crypt = &Algo{Name: "cbc(aes)"} }),
		"ICVBits 100":          mod(func(s *SA) { s.AEAD.ICVBits = 100 }),
		"needs AEAD or both":   mod(func(s *SA) { s.AEAD = nil; s.Crypt = &Algo{Name: "cbc(aes)"} }),
		"name":                 mod(func(s *SA) { s.AEAD.Name = strings.Repeat("x", 64) }),
		"exceeds 4096":         mod(func(s *SA) { s.ReplayWindow = 4097 }),
		"ESN needs":            mod(func(s *SA) { s.ESN, s.ReplayWindow = true, 0 }),
		"both ports":           mod(func(s *SA) { s.Encap = &Encap{SrcPort: 4500} }),
		"soft bytes limit":     mod(func(s *SA) { s.Lifetime.SoftBytes, s.Lifetime.HardBytes = 10, 10 }),
		"soft seconds limit":   mod(func(s *SA) { s.Lifetime.SoftAdd, s.Lifetime.HardAdd = 1500*time.Millisecond, 2*time.Second }),
		"TruncBits 0":          mod(func(s *SA) { *s = cbcSA(a4, b4, 9); s.Auth.TruncBits = 0 }),
		"negative lifetime":    mod(func(s *SA) { s.Lifetime.HardAdd = -time.Second }),
		"soft packets limit 9": mod(func(s *SA) { s.Lifetime.SoftPackets, s.Lifetime.HardPackets = 9, 3 }),
	} {
		err := sa.Validate()
		if err == nil {
			t.Errorf("%s: accepted", want)
			continue
		}
		if !strings.Contains(err.Error(), strings.TrimSuffix(want, " 9")) {
			t.Errorf("%s: error %q does not say so", want, err)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	p4 := netip.MustParsePrefix("192.0.2.1/32")
	p6 := netip.MustParsePrefix("2001:db8::1/128")
	ok := []Policy{
		{Src: p4, Dst: p4, Reqid: ReqidBase},
		{Src: p6, Dst: netip.MustParsePrefix("2001:db8::/32"), Dir: DirFwd, Reqid: ReqidBase + ReqidSpan - 1},
		{Src: p6, Dst: p6, Proto: 58, SrcPort: 135, Bypass: true, Priority: PriorityBypass},
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%v rejected: %v", p, err)
		}
	}
	bad := []Policy{
		{Src: p4, Reqid: ReqidBase},
		{Src: p4, Dst: p6, Reqid: ReqidBase},
		{Src: netip.MustParsePrefix("192.0.2.1/24"), Dst: p4, Reqid: ReqidBase},
		{Src: p4, Dst: p4, Dir: 3, Reqid: ReqidBase},
		{Src: p4, Dst: p4, SrcPort: 1, Reqid: ReqidBase},
		{Src: p4, Dst: p4, Reqid: 1},
		{Src: p4, Dst: p4, Bypass: true, Priority: PriorityProtect},
		{Src: p4, Dst: p4, Bypass: true, Priority: PriorityBypass, Reqid: ReqidBase},
		{Src: netip.PrefixFrom(netip.AddrFrom16(mustAddr("192.0.2.1").As16()), 128), Dst: p6, Reqid: ReqidBase},
	}
	for _, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}

func TestOwnedReqid(t *testing.T) {
	for r, want := range map[uint32]bool{0: false, ReqidBase - 1: false, ReqidBase: true, ReqidBase + ReqidSpan - 1: true, ReqidBase + ReqidSpan: false, ^uint32(0): false} {
		if OwnedReqid(r) != want {
			t.Errorf("OwnedReqid(%#x) = %v", r, !want)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]uint64{0: 0, -time.Second: 0, time.Nanosecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Hour: 3600} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestProtectPolicies(t *testing.T) {
	l, r := mustAddr("192.0.2.1"), netip.AddrFrom16(mustAddr("192.0.2.2").As16()) // mapped: unmapped
	ps := ProtectPolicies(l, r, ReqidBase+4)
	want := []Policy{
		{Src: netip.MustParsePrefix("192.0.2.1/32"), Dst: netip.MustParsePrefix("192.0.2.2/32"), Dir: DirOut, Priority: PriorityProtect, Reqid: ReqidBase + 4},
		{Src: netip.MustParsePrefix("192.0.2.2/32"), Dst: netip.MustParsePrefix("192.0.2.1/32"), Dir: DirIn, Priority: PriorityProtect, Reqid: ReqidBase + 4},
	}
	if len(ps) != 2 || ps[0] != want[0] || ps[1] != want[1] {
		t.Fatalf("got %v, want %v", ps, want)
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestNDBypassPolicies(t *testing.T) {
	if ps := NDBypassPolicies(mustAddr("192.0.2.1"), mustAddr("192.0.2.2")); ps != nil {
		t.Errorf("IPv4: %v, want nil", ps)
	}
	l, r := mustAddr("2001:db8::1"), mustAddr("fe80::2")
	ps := NDBypassPolicies(l, r)
	if len(ps) != 10 {
		t.Fatalf("%d policies, want 10", len(ps))
	}
	seen := map[[2]uint16]bool{}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
		if !p.Bypass || p.Proto != 58 || p.DstPort != 0 || p.Priority != PriorityBypass || p.Priority >= PriorityProtect {
			t.Errorf("bad ND policy %v", p)
		}
		switch p.Dir {
		case DirOut:
			if p.Src.Addr() != l || p.Dst.Addr() != r {
				t.Errorf("out policy %v", p)
			}
		case DirIn:
			if p.Src.Addr() != r || p.Dst.Addr() != l {
				t.Errorf("in policy %v", p)
			}
		default:
			t.Errorf("direction %v", p.Dir)
		}
		if p.Src.Bits() != 128 || p.Dst.Bits() != 128 {
			t.Errorf("not host prefixes: %v", p)
		}
		seen[[2]uint16{p.SrcPort, uint16(p.Dir)}] = true
	}
	for typ := uint16(133); typ <= 137; typ++ {
		if !seen[[2]uint16{typ, uint16(DirIn)}] || !seen[[2]uint16{typ, uint16(DirOut)}] {
			t.Errorf("ICMPv6 type %d not covered in both directions", typ)
		}
	}
}

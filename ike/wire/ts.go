package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Selector lengths, header included (RFC 7296 3.13.1).
const (
	selectorHeaderLen = 8 // type, IP protocol, length, start port, end port
	selectorLenIPv4   = selectorHeaderLen + 2*4
	selectorLenIPv6   = selectorHeaderLen + 2*16
)

// TS is a Traffic Selector payload, TSi or TSr (RFC 7296 3.13).
type TS struct {
	Kind      PayloadType // PayloadTSi or PayloadTSr
	Selectors []Selector
}

// Selector is one traffic selector (RFC 7296 3.13.1): an address range, a
// port range and an IP protocol (0 = any).
type Selector struct {
	Type               TSType // TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE
	IPProto            uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr
}

// SelectorForAddr returns a selector covering exactly the address a, all
// protocols and all ports: what transport mode between two hosts proposes.
func SelectorForAddr(a netip.Addr) Selector {
	t := TS_IPV6_ADDR_RANGE
	if a.Is4() {
		t = TS_IPV4_ADDR_RANGE
	}
	return Selector{Type: t, StartPort: 0, EndPort: 0xffff, Start: a, End: a}
}

// Type returns Kind.
func (p *TS) Type() PayloadType { return p.Kind }

func (p *TS) AppendBody(b []byte) []byte {
	if len(p.Selectors) > 0xff {
		panic(fmt.Sprintf("wire: %v payload: %d selectors are too many", p.Kind, len(p.Selectors)))
	}
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for i := range p.Selectors {
		b = p.Selectors[i].appendTo(b, p.Kind, i)
	}
	return b
}

func (s *Selector) appendTo(b []byte, kind PayloadType, i int) []byte {
	var n int
	switch s.Type {
	case TS_IPV4_ADDR_RANGE:
		if !s.Start.Is4() || !s.End.Is4() {
			panic(fmt.Sprintf("wire: %v payload: selector %d has type IPv4 but addresses %v-%v", kind, i, s.Start, s.End))
		}
		n = selectorLenIPv4
	case TS_IPV6_ADDR_RANGE:
		if !s.Start.Is6() || !s.End.Is6() {
			panic(fmt.Sprintf("wire: %v payload: selector %d has type IPv6 but addresses %v-%v", kind, i, s.Start, s.End))
		}
		n = selectorLenIPv6
	default:
		panic(fmt.Sprintf("wire: %v payload: selector %d has unsupported type %d", kind, i, s.Type))
	}
	b = append(b, byte(s.Type), s.IPProto)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = binary.BigEndian.AppendUint16(b, s.StartPort)
	b = binary.BigEndian.AppendUint16(b, s.EndPort)
	b = append(b, s.Start.AsSlice()...)
	return append(b, s.End.AsSlice()...)
}

func (p *TS) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fixed part (number of TSs, reserved)", len(b))
	}
	count := int(b[0])
	p.Selectors = nil
	off := 4
	for i := 1; i <= count; i++ {
		rest := b[off:]
		if len(rest) < 4 {
			return fmt.Errorf("selector %d of %d at byte %d: %d bytes left, shorter than selector type and length", i, count, off, len(rest))
		}
		var s Selector
		s.Type = TSType(rest[0])
		s.IPProto = rest[1]
		slen := int(binary.BigEndian.Uint16(rest[2:4]))
		var alen int
		switch s.Type {
		case TS_IPV4_ADDR_RANGE:
			alen = 4
		case TS_IPV6_ADDR_RANGE:
			alen = 16
		default:
			return fmt.Errorf("selector %d at byte %d: unsupported TS type %d", i, off, s.Type)
		}
		if want := selectorHeaderLen + 2*alen; slen != want {
			return fmt.Errorf("selector %d at byte %d: length %d, want %d for TS type %d", i, off, slen, want, s.Type)
		}
		if slen > len(rest) {
			return fmt.Errorf("selector %d at byte %d: length %d exceeds the %d bytes left", i, off, slen, len(rest))
		}
		s.StartPort = binary.BigEndian.Uint16(rest[4:6])
		s.EndPort = binary.BigEndian.Uint16(rest[6:8])
		s.Start, _ = netip.AddrFromSlice(rest[8 : 8+alen])
		s.End, _ = netip.AddrFromSlice(rest[8+alen : 8+2*alen])
		p.Selectors = append(p.Selectors, s)
		off += slen
	}
	if off != len(b) {
		return fmt.Errorf("%d bytes after the %d selectors the header announces", len(b)-off, count)
	}
	return nil
}

package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Substructure headers and "Last Substruc" values (RFC 7296 3.3.1, 3.3.2).
const (
	proposalHeaderLen  = 8
	transformHeaderLen = 8
	attrHeaderLen      = 4

	lastSubstruc      = 0
	moreProposals     = 2
	moreTransforms    = 3
	attrFormatTV      = 0x8000 // AF bit: Type/Value format, value in the length field
	attrTypeMask      = 0x7fff
	maxSPISize        = 0xff
	maxTransformCount = 0xff
)

// SA is the Security Association payload (RFC 7296 3.3): a list of
// proposals, in order of preference.
type SA struct {
	Proposals []Proposal
}

// Proposal is a proposal substructure (RFC 7296 3.3.1).
type Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte // empty in IKE_SA_INIT; 8 bytes for IKE rekeys, 4 for ESP
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 3.3.2).
type Transform struct {
	Type TransformType
	ID   uint16
	// KeyLength is the value of the Key Length attribute (RFC 7296 3.3.5),
	// in bits; 0 means the attribute is absent.
	KeyLength uint16
	// ExtraAttrs holds any other attributes, raw and in wire order, so that
	// a proposal can be reproduced. A transform with attributes that are not
	// understood must not be selected (RFC 7296 3.3.6).
	ExtraAttrs []byte
}

func (*SA) Type() PayloadType { return PayloadSA }

func (sa *SA) AppendBody(b []byte) []byte {
	for i := range sa.Proposals {
		more := byte(moreProposals)
		if i == len(sa.Proposals)-1 {
			more = lastSubstruc
		}
		b = sa.Proposals[i].appendTo(b, more, i)
	}
	return b
}

func (p *Proposal) appendTo(b []byte, more byte, index int) []byte {
	if len(p.SPI) > maxSPISize {
		panic(fmt.Sprintf("wire: SA proposal %d: SPI of %d bytes is too long", index+1, len(p.SPI)))
	}
	if len(p.Transforms) > maxTransformCount {
		panic(fmt.Sprintf("wire: SA proposal %d: %d transforms are too many", index+1, len(p.Transforms)))
	}
	start := len(b)
	b = append(b, more, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
	b = append(b, p.SPI...)
	for i := range p.Transforms {
		more := byte(moreTransforms)
		if i == len(p.Transforms)-1 {
			more = lastSubstruc
		}
		b = p.Transforms[i].appendTo(b, more)
	}
	putLen16(b, start, fmt.Sprintf("SA proposal %d", index+1))
	return b
}

func (t *Transform) appendTo(b []byte, more byte) []byte {
	start := len(b)
	b = append(b, more, 0, 0, 0, byte(t.Type), 0)
	b = binary.BigEndian.AppendUint16(b, t.ID)
	if t.KeyLength != 0 {
		b = binary.BigEndian.AppendUint16(b, attrFormatTV|AttrKeyLength)
		b = binary.BigEndian.AppendUint16(b, t.KeyLength)
	}
	b = append(b, t.ExtraAttrs...)
	putLen16(b, start, "SA transform")
	return b
}

func (sa *SA) parseBody(b []byte) error {
	sa.Proposals = nil
	off := 0
	for i := 1; off < len(b); i++ {
		rest := b[off:]
		if len(rest) < proposalHeaderLen {
			return fmt.Errorf("proposal %d at byte %d: %d bytes left, shorter than %d-byte proposal header", i, off, len(rest), proposalHeaderLen)
		}
		plen := int(binary.BigEndian.Uint16(rest[2:4]))
		if plen < proposalHeaderLen {
			return fmt.Errorf("proposal %d at byte %d: length %d shorter than %d-byte proposal header", i, off, plen, proposalHeaderLen)
		}
		if plen > len(rest) {
			return fmt.Errorf("proposal %d at byte %d: length %d exceeds the %d bytes left", i, off, plen, len(rest))
		}
		if err := checkLast(rest[0], moreProposals, plen == len(rest)); err != nil {
			return fmt.Errorf("proposal %d at byte %d: %w", i, off, err)
		}
		var p Proposal
		if err := p.parse(rest[:plen]); err != nil {
			return fmt.Errorf("proposal %d at byte %d: %w", i, off, err)
		}
		sa.Proposals = append(sa.Proposals, p)
		off += plen
	}
	return nil
}

// checkLast checks a "Last Substruc" value against whether the
// substructure is in fact the last one.
func checkLast(v, more byte, isLast bool) error {
	switch {
	case v == lastSubstruc && !isLast:
		return errors.New("last-substruc is 0 but more data follows")
	case v == more && isLast:
		return fmt.Errorf("last-substruc is %d but nothing follows", more)
	case v != lastSubstruc && v != more:
		return fmt.Errorf("invalid last-substruc value %d", v)
	}
	return nil
}

func (p *Proposal) parse(b []byte) error {
	p.Number = b[4]
	p.Protocol = ProtocolID(b[5])
	spiSize := int(b[6])
	count := int(b[7])
	if proposalHeaderLen+spiSize > len(b) {
		return fmt.Errorf("SPI size %d exceeds the %d bytes of the proposal body", spiSize, len(b)-proposalHeaderLen)
	}
	p.SPI = clip(b[proposalHeaderLen : proposalHeaderLen+spiSize])
	p.Transforms = nil
	off := proposalHeaderLen + spiSize
	for i := 1; off < len(b); i++ {
		rest := b[off:]
		if len(rest) < transformHeaderLen {
			return fmt.Errorf("transform %d at byte %d: %d bytes left, shorter than %d-byte transform header", i, off, len(rest), transformHeaderLen)
		}
		tlen := int(binary.BigEndian.Uint16(rest[2:4]))
		if tlen < transformHeaderLen {
			return fmt.Errorf("transform %d at byte %d: length %d shorter than %d-byte transform header", i, off, tlen, transformHeaderLen)
		}
		if tlen > len(rest) {
			return fmt.Errorf("transform %d at byte %d: length %d exceeds the %d bytes left", i, off, tlen, len(rest))
		}
		if err := checkLast(rest[0], moreTransforms, tlen == len(rest)); err != nil {
			return fmt.Errorf("transform %d at byte %d: %w", i, off, err)
		}
		var t Transform
		if err := t.parse(rest[:tlen]); err != nil {
			return fmt.Errorf("transform %d at byte %d: %w", i, off, err)
		}
		p.Transforms = append(p.Transforms, t)
		off += tlen
	}
	if len(p.Transforms) != count {
		return fmt.Errorf("header says %d transforms but %d are present", count, len(p.Transforms))
	}
	return nil
}

func (t *Transform) parse(b []byte) error {
	t.Type = TransformType(b[4])
	t.ID = binary.BigEndian.Uint16(b[6:8])
	t.KeyLength = 0
	t.ExtraAttrs = nil
	off := transformHeaderLen
	for off < len(b) {
		rest := b[off:]
		if len(rest) < attrHeaderLen {
			return fmt.Errorf("attribute at byte %d: %d bytes left, shorter than %d-byte attribute header", off, len(rest), attrHeaderLen)
		}
		typ := binary.BigEndian.Uint16(rest[0:2])
		val := binary.BigEndian.Uint16(rest[2:4])
		alen := attrHeaderLen
		if typ&attrFormatTV == 0 {
			alen += int(val)
			if alen > len(rest) {
				return fmt.Errorf("attribute type %d at byte %d: value length %d exceeds the %d bytes left", typ, off, val, len(rest)-attrHeaderLen)
			}
		}
		if typ&attrTypeMask == AttrKeyLength {
			switch {
			case typ&attrFormatTV == 0:
				return fmt.Errorf("Key Length attribute at byte %d is in TLV format, must be TV", off)
			case val == 0:
				return fmt.Errorf("Key Length attribute at byte %d is 0", off)
			case t.KeyLength != 0:
				return fmt.Errorf("duplicate Key Length attribute at byte %d", off)
			}
			t.KeyLength = val
		} else {
			t.ExtraAttrs = append(t.ExtraAttrs, rest[:alen]...)
		}
		off += alen
	}
	return nil
}

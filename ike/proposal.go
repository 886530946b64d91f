package ike

import (
	"fmt"
	"strings"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// suite is one fully chosen set of algorithms: the outcome of negotiating a
// proposal. For ESP, PRF is nil and KE is nil unless PFS was chosen.
type suite struct {
	Encr  *ikecrypto.Encr
	Integ *ikecrypto.Integ // nil for AEAD
	PRF   *ikecrypto.PRF   // IKE only
	KE    *ikecrypto.KE    // IKE: the key exchange; ESP: PFS group or nil
}

func (s suite) String() string {
	var b strings.Builder
	b.Grow(48)
	b.WriteString(s.Encr.Name)
	if s.Integ != nil {
		b.WriteByte('-')
		b.WriteString(s.Integ.Name)
	}
	if s.PRF != nil {
		b.WriteByte('-')
		b.WriteString(s.PRF.Name)
	}
	if s.KE != nil {
		b.WriteByte('-')
		b.WriteString(s.KE.Name)
	}
	return b.String()
}

// hex64 and hex32 format SPIs as in logs and status (%016x, %08x), for
// less than fmt costs on the path of every setup.
func hex64(v uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

func hex32(v uint32) string {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// offer converts configured proposals into SA payload proposals. spi is the
// SPI carried in each proposal (empty for the first IKE_SA_INIT).
func offer(props []ikecrypto.Proposal, proto wire.ProtocolID, spi []byte) *wire.SA {
	sa := &wire.SA{}
	for i, p := range props {
		wp := wire.Proposal{Number: uint8(i + 1), Protocol: proto, SPI: spi}
		for _, e := range p.Encr {
			t := wire.Transform{Type: wire.TransformENCR, ID: e.ID}
			if e.KeyBits != 0 && e.ID != wire.ENCR_CHACHA20_POLY1305 {
				t.KeyLength = uint16(e.KeyBits)
			}
			wp.Transforms = append(wp.Transforms, t)
		}
		if proto == wire.ProtoIKE {
			for _, f := range p.PRF {
				wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformPRF, ID: f.ID})
			}
		}
		for _, in := range p.Integ {
			wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformINTEG, ID: in.ID})
		}
		for _, k := range p.KE {
			wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformKE, ID: k.ID})
		}
		if proto == wire.ProtoESP {
			wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformESN, ID: wire.ESN_NO})
		}
		sa.Proposals = append(sa.Proposals, wp)
	}
	return sa
}

// accepted converts a chosen suite back into the single proposal a responder
// returns.
func accepted(s suite, number uint8, proto wire.ProtocolID, spi []byte) *wire.SA {
	p := wire.Proposal{Number: number, Protocol: proto, SPI: spi, Transforms: make([]wire.Transform, 0, 5)}
	t := wire.Transform{Type: wire.TransformENCR, ID: s.Encr.ID}
	if s.Encr.ID != wire.ENCR_CHACHA20_POLY1305 {
		t.KeyLength = uint16(s.Encr.KeyBits)
	}
	p.Transforms = append(p.Transforms, t)
	if s.PRF != nil {
		p.Transforms = append(p.Transforms, wire.Transform{Type: wire.TransformPRF, ID: s.PRF.ID})
	}
	if s.Integ != nil {
		p.Transforms = append(p.Transforms, wire.Transform{Type: wire.TransformINTEG, ID: s.Integ.ID})
	}
	if s.KE != nil {
		p.Transforms = append(p.Transforms, wire.Transform{Type: wire.TransformKE, ID: s.KE.ID})
	}
	if proto == wire.ProtoESP {
		p.Transforms = append(p.Transforms, wire.Transform{Type: wire.TransformESN, ID: wire.ESN_NO})
	}
	return &wire.SA{Proposals: []wire.Proposal{p}}
}

// choice is the result of matching a peer's proposals against ours.
type choice struct {
	suite
	number uint8  // the peer's proposal number
	spi    []byte // the peer's SPI from that proposal
}

// errNoProposal carries both sides' proposals for the log.
type errNoProposal struct{ ours, theirs string }

func (e *errNoProposal) Error() string {
	return fmt.Sprintf("no proposal chosen: peer offered [%s], we accept [%s]", e.theirs, e.ours)
}

// choose picks, in our order of preference, the first of our proposals that
// one of the peer's proposals matches. For IKE, kePeer is the group of the
// peer's KE payload; when the chosen proposal does not include it, choose
// returns the suite with the group we prefer and wrongKE set, so that the
// caller answers INVALID_KE_PAYLOAD.
func choose(ours []ikecrypto.Proposal, theirs *wire.SA, proto wire.ProtocolID) (c choice, err error) {
	for _, op := range ours {
		for _, tp := range theirs.Proposals {
			if tp.Protocol != proto {
				continue
			}
			if s, ok := match(op, tp, proto); ok {
				return choice{suite: s, number: tp.Number, spi: tp.SPI}, nil
			}
		}
	}
	return c, &errNoProposal{ours: describeOurs(ours), theirs: describeTheirs(theirs)}
}

// match returns the suite common to one of our proposals and one of theirs,
// following our order within each transform type.
func match(op ikecrypto.Proposal, tp wire.Proposal, proto wire.ProtocolID) (suite, bool) {
	var s suite
	has := func(t wire.TransformType, id uint16, keyBits int) bool {
		for _, tr := range tp.Transforms {
			if tr.Type != t || tr.ID != id || len(tr.ExtraAttrs) != 0 {
				continue
			}
			if t == wire.TransformENCR && id != wire.ENCR_CHACHA20_POLY1305 && int(tr.KeyLength) != keyBits {
				continue
			}
			return true
		}
		return false
	}
	count := func(t wire.TransformType) int {
		n := 0
		for _, tr := range tp.Transforms {
			if tr.Type == t {
				n++
			}
		}
		return n
	}
	for _, e := range op.Encr {
		if has(wire.TransformENCR, e.ID, e.KeyBits) {
			s.Encr = e
			break
		}
	}
	if s.Encr == nil {
		return s, false
	}
	if proto == wire.ProtoIKE {
		for _, f := range op.PRF {
			if has(wire.TransformPRF, f.ID, 0) {
				s.PRF = f
				break
			}
		}
		if s.PRF == nil {
			return s, false
		}
	}
	if !s.Encr.AEAD {
		for _, in := range op.Integ {
			if has(wire.TransformINTEG, in.ID, 0) {
				s.Integ = in
				break
			}
		}
		if s.Integ == nil {
			return s, false
		}
	} else if count(wire.TransformINTEG) > 0 && !has(wire.TransformINTEG, wire.AUTH_NONE, 0) {
		// An AEAD proposal may only carry "none" as integrity.
		return s, false
	}
	switch {
	case len(op.KE) > 0:
		for _, k := range op.KE {
			if has(wire.TransformKE, k.ID, 0) {
				s.KE = k
				break
			}
		}
		if s.KE == nil {
			return s, false
		}
	case proto == wire.ProtoIKE:
		return s, false
	default:
		// No PFS configured: accept only proposals without a key exchange
		// (or with "none" among them).
		if count(wire.TransformKE) > 0 && !has(wire.TransformKE, wire.KE_NONE, 0) {
			return s, false
		}
	}
	if proto == wire.ProtoESP && count(wire.TransformESN) > 0 && !has(wire.TransformESN, wire.ESN_NO, 0) {
		return s, false
	}
	return s, true
}

// preferredKE returns, among the groups the peer proposed together with the
// chosen encryption, the one we prefer, for INVALID_KE_PAYLOAD.
func proposedKEs(theirs *wire.SA, proto wire.ProtocolID) map[uint16]bool {
	m := map[uint16]bool{}
	for _, p := range theirs.Proposals {
		if p.Protocol != proto {
			continue
		}
		for _, t := range p.Transforms {
			if t.Type == wire.TransformKE {
				m[t.ID] = true
			}
		}
	}
	return m
}

// single checks that a responder's SA payload holds exactly one proposal with
// exactly one transform of each type, all of which we offered, and returns it.
func single(ours []ikecrypto.Proposal, resp *wire.SA, proto wire.ProtocolID) (choice, error) {
	if len(resp.Proposals) != 1 {
		return choice{}, fmt.Errorf("responder returned %d proposals, want 1", len(resp.Proposals))
	}
	p := resp.Proposals[0]
	if p.Protocol != proto {
		return choice{}, fmt.Errorf("responder returned protocol %d, want %d", p.Protocol, proto)
	}
	seen := map[wire.TransformType]int{}
	for _, t := range p.Transforms {
		seen[t.Type]++
		if seen[t.Type] > 1 {
			return choice{}, fmt.Errorf("responder returned %d transforms of type %d", seen[t.Type], t.Type)
		}
	}
	for _, op := range ours {
		if s, ok := match(op, p, proto); ok {
			return choice{suite: s, number: p.Number, spi: p.SPI}, nil
		}
	}
	return choice{}, fmt.Errorf("responder chose [%s], which we did not offer", describeTheirs(resp))
}

func describeOurs(props []ikecrypto.Proposal) string {
	out := make([]string, len(props))
	for i, p := range props {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

func describeTheirs(sa *wire.SA) string {
	var out []string
	for _, p := range sa.Proposals {
		var parts []string
		for _, t := range p.Transforms {
			parts = append(parts, transformName(t))
		}
		out = append(out, strings.Join(parts, "/"))
	}
	return strings.Join(out, ", ")
}

func transformName(t wire.Transform) string {
	switch t.Type {
	case wire.TransformENCR:
		if e := ikecrypto.EncrByID(t.ID, int(t.KeyLength)); e != nil {
			return e.Name
		}
		return fmt.Sprintf("encr%d-%d", t.ID, t.KeyLength)
	case wire.TransformPRF:
		if f := ikecrypto.PRFByID(t.ID); f != nil {
			return f.Name
		}
		return fmt.Sprintf("prf%d", t.ID)
	case wire.TransformINTEG:
		if t.ID == wire.AUTH_NONE {
			return "integ-none"
		}
		if i := ikecrypto.IntegByID(t.ID); i != nil {
			return i.Name
		}
		return fmt.Sprintf("integ%d", t.ID)
	case wire.TransformKE:
		if t.ID == wire.KE_NONE {
			return "ke-none"
		}
		if k := ikecrypto.KEByID(t.ID); k != nil {
			return k.Name
		}
		return fmt.Sprintf("ke%d", t.ID)
	case wire.TransformESN:
		if t.ID == wire.ESN_YES {
			return "esn"
		}
		return "noesn"
	}
	return fmt.Sprintf("type%d-%d", t.Type, t.ID)
}

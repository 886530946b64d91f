package wire

import (
	"encoding/binary"
	"fmt"
)

// genericHeaderLen is the length of the generic payload header (RFC 7296 3.2).
const genericHeaderLen = 4

// flagCritical is the Critical bit of the generic payload header.
const flagCritical = 0x80

// Payload is one IKEv2 payload. The body methods exclude the 4-byte generic
// payload header, which MarshalPayloads and ParsePayloads handle.
//
// The set of payload implementations is closed: types this package does not
// decode are represented by *Unknown.
type Payload interface {
	// Type is the payload type that names this payload in the chain.
	Type() PayloadType
	// AppendBody appends the payload body (without the generic header) to b.
	AppendBody(b []byte) []byte
	// parseBody decodes a body; it returns a bare message on error, which
	// ParsePayloads turns into a SyntaxError naming the payload.
	parseBody(b []byte) error
}

// Unknown is any payload this package does not decode, including CP (47)
// and EAP (48). Critical is the payload's Critical bit: a receiver that
// finds a critical payload it does not understand must reject the message
// with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 2.5).
type Unknown struct {
	PayloadType PayloadType
	Critical    bool
	Data        []byte
}

func (p *Unknown) Type() PayloadType          { return p.PayloadType }
func (p *Unknown) AppendBody(b []byte) []byte { return append(b, p.Data...) }
func (p *Unknown) parseBody(b []byte) error   { p.Data = clip(b); return nil }

// newPayload returns an empty payload value for a known type, or nil.
func newPayload(t PayloadType) Payload {
	switch t {
	case PayloadSA:
		return new(SA)
	case PayloadKE:
		return new(KE)
	case PayloadIDi, PayloadIDr:
		return &ID{Kind: t}
	case PayloadCERT:
		return new(Cert)
	case PayloadCERTREQ:
		return new(CertReq)
	case PayloadAUTH:
		return new(Auth)
	case PayloadNonce:
		return new(Nonce)
	case PayloadNotify:
		return new(Notify)
	case PayloadDelete:
		return new(Delete)
	case PayloadVendorID:
		return new(VendorID)
	case PayloadTSi, PayloadTSr:
		return &TS{Kind: t}
	case PayloadSK:
		return new(Encrypted)
	case PayloadSKF:
		return new(EncryptedFragment)
	}
	return nil
}

// ParsePayloads decodes a chain of payloads whose first payload has type
// first, and which must fill b exactly. An SK or SKF payload ends the
// chain (its Next Payload field names the first inner payload) and must be
// the last bytes of b. Payloads of types this package does not know are
// returned as *Unknown, with Critical as found on the wire; the Critical
// bit of known payloads is ignored, as RFC 7296 3.2 requires.
//
// Byte slices in the returned payloads alias b.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parsePayloads(first, b, 0)
}

// payloadWhere names a payload type in a parse error, without building
// the string until the error is formatted.
type payloadWhere PayloadType

func (w payloadWhere) String() string { return PayloadType(w).String() + " payload" }

// parsePayloads is ParsePayloads with error offsets shifted by base.
func parsePayloads(next PayloadType, b []byte, base int) ([]Payload, error) {
	if next == PayloadNone {
		if len(b) != 0 {
			return nil, syntaxErr("payload chain", base, "%d bytes after the last payload", len(b))
		}
		return nil, nil
	}
	ps := make([]Payload, 0, 8) // IKE messages rarely carry more
	off := 0
	for next != PayloadNone {
		// The payload named in errors (built only for one: this loop runs
		// for every payload of every datagram).
		where := payloadWhere(next)
		rest := b[off:]
		if len(rest) < genericHeaderLen {
			return nil, syntaxErr(where.String(), base+off, "%d bytes left, shorter than %d-byte generic payload header", len(rest), genericHeaderLen)
		}
		plen := int(binary.BigEndian.Uint16(rest[2:4]))
		if plen < genericHeaderLen {
			return nil, syntaxErr(where.String(), base+off, "length %d shorter than %d-byte generic payload header", plen, genericHeaderLen)
		}
		if plen > len(rest) {
			return nil, syntaxErr(where.String(), base+off, "length %d exceeds the %d bytes left", plen, len(rest))
		}
		critical := rest[1]&flagCritical != 0
		body := rest[genericHeaderLen:plen]
		p := newPayload(next)
		if p == nil {
			p = &Unknown{PayloadType: next, Critical: critical}
		}
		if err := p.parseBody(body); err != nil {
			return nil, syntaxErr(where.String(), base+off, "%v", err)
		}
		ps = append(ps, p)
		off += plen
		switch e := p.(type) {
		case *Encrypted:
			e.NextPayload = PayloadType(rest[0])
		case *EncryptedFragment:
			e.NextPayload = PayloadType(rest[0])
		}
		if next == PayloadSK || next == PayloadSKF {
			if off != len(b) {
				return nil, syntaxErr(where.String(), base+off-plen, "must be the last payload, but %d bytes follow it", len(b)-off)
			}
			return ps, nil
		}
		next = PayloadType(rest[0])
	}
	if off != len(b) {
		return nil, syntaxErr("payload chain", base+off, "%d bytes after the last payload", len(b)-off)
	}
	return ps, nil
}

// MarshalPayloads encodes ps as a payload chain, filling every generic
// header's Next Payload and Payload Length. It returns the type of the
// first payload (PayloadNone if ps is empty), for the IKE header or an
// enclosing SK payload. Known payloads are written with the Critical bit
// clear; an *Unknown keeps its own Critical bit.
//
// It panics on values that cannot be encoded, such as a payload longer than
// 65535 bytes or an SK/SKF payload that is not last: those are programming
// errors, never the result of decoding.
func MarshalPayloads(ps []Payload) (first PayloadType, body []byte) {
	return appendPayloads(nil, ps)
}

func appendPayloads(b []byte, ps []Payload) (PayloadType, []byte) {
	if len(ps) == 0 {
		return PayloadNone, b
	}
	for i, p := range ps {
		t := p.Type()
		if t == PayloadNone {
			panic(fmt.Sprintf("wire: payload %d (%T) has type 0", i, p))
		}
		var next PayloadType
		switch e := p.(type) {
		case *Encrypted:
			next = e.NextPayload
		case *EncryptedFragment:
			next = e.NextPayload
		default:
			if i+1 < len(ps) {
				next = ps[i+1].Type()
			}
		}
		if (t == PayloadSK || t == PayloadSKF) && i != len(ps)-1 {
			panic(fmt.Sprintf("wire: %v payload must be the last payload, but is %d of %d", t, i+1, len(ps)))
		}
		var flags byte
		if u, ok := p.(*Unknown); ok && u.Critical {
			flags = flagCritical
		}
		start := len(b)
		b = append(b, byte(next), flags, 0, 0)
		b = p.AppendBody(b)
		putLen16(b, start, t.String()+" payload")
	}
	return ps[0].Type(), b
}

// putLen16 writes len(b)-start as a 16-bit length at b[start+2:], the
// place of the length field in payloads and substructures.
func putLen16(b []byte, start int, what string) {
	n := len(b) - start
	if n > 0xffff {
		panic(fmt.Sprintf("wire: %s is %d bytes, longer than a 16-bit length field allows", what, n))
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(n))
}

// clip returns b, or nil if b is empty, so that decoded values compare
// equal to constructed ones with absent fields.
func clip(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// FindPayload returns the first payload of type t in ps, or nil.
func FindPayload(ps []Payload, t PayloadType) Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// FindNotify returns the first Notify payload of type t in ps, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// Notifies returns all Notify payloads in ps, in order.
func Notifies(ps []Payload) []*Notify {
	var ns []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// UnsupportedCritical returns the first payload in ps that this package
// does not understand and that has the Critical bit set, or nil. A request
// containing one must be answered with UNSUPPORTED_CRITICAL_PAYLOAD, whose
// notification data is the payload type (one byte). CP and EAP payloads are
// *Unknown too: a caller that handles them must look for them first.
func UnsupportedCritical(ps []Payload) *Unknown {
	for _, p := range ps {
		if u, ok := p.(*Unknown); ok && u.Critical {
			return u
		}
	}
	return nil
}

package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// skfHeaderLen is the length of the Encrypted Fragment payload header:
// generic header, Fragment Number, Total Fragments (RFC 7383 2.5).
const skfHeaderLen = genericHeaderLen + 4

// Encrypted is the Encrypted and Authenticated (SK) payload (RFC 7296
// 3.14). It is always the last payload of a message.
type Encrypted struct {
	// NextPayload is the type of the first inner payload; it is carried in
	// the SK payload's own generic header.
	NextPayload PayloadType
	// Data is IV || ciphertext || ICV, as produced by Cipher.Seal.
	Data []byte
}

func (*Encrypted) Type() PayloadType            { return PayloadSK }
func (p *Encrypted) AppendBody(b []byte) []byte { return append(b, p.Data...) }
func (p *Encrypted) parseBody(b []byte) error   { p.Data = clip(b); return nil }

// EncryptedFragment is the Encrypted Fragment (SKF) payload (RFC 7383
// 2.5). Only fragment 1 carries the type of the first inner payload in
// NextPayload; the others carry 0.
type EncryptedFragment struct {
	Number, Total uint16
	NextPayload   PayloadType
	Data          []byte // IV || ciphertext || ICV
}

func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

func (p *EncryptedFragment) AppendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, p.Number)
	b = binary.BigEndian.AppendUint16(b, p.Total)
	return append(b, p.Data...)
}

func (p *EncryptedFragment) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fragment number and total", len(b))
	}
	p.Number = binary.BigEndian.Uint16(b[0:2])
	p.Total = binary.BigEndian.Uint16(b[2:4])
	if p.Number == 0 || p.Total == 0 {
		return fmt.Errorf("fragment %d of %d: numbers start at 1", p.Number, p.Total)
	}
	if p.Number > p.Total {
		return fmt.Errorf("fragment number %d exceeds total %d", p.Number, p.Total)
	}
	p.Data = clip(b[4:])
	return nil
}

// Cipher protects the contents of SK and SKF payloads with the keys of one
// direction of an IKE SA (SK_ei/SK_ai or SK_er/SK_ar). For AEAD ciphers
// (RFC 5282) the associated data is aad; for encrypt-then-MAC ciphers the
// ICV covers aad || IV || ciphertext (RFC 7296 3.14). In both cases aad is
// every byte of the message before the IV: the IKE header, any payloads
// before the SK payload, and the SK (or SKF) payload header.
type Cipher interface {
	// SealedLen returns the length of IV || ciphertext || ICV for a
	// plaintext of plaintextLen bytes, padding and Pad Length included.
	// It must be non-decreasing in plaintextLen.
	SealedLen(plaintextLen int) int
	// Seal appends IV || ciphertext || ICV to dst, adding the padding and
	// Pad Length byte itself. aad does not overlap dst's spare capacity.
	Seal(dst, aad, plaintext []byte) []byte
	// Open verifies the ICV of body (IV || ciphertext || ICV), decrypts it
	// and strips the padding, returning the inner payload bytes.
	Open(aad, body []byte) ([]byte, error)
}

// Seal builds a complete encrypted message: the header h (with NextPayload
// set to SK and Length computed) followed by one SK payload holding the
// inner payloads, sealed with c. It panics if c returns a sealed body whose
// length differs from c.SealedLen.
func Seal(h Header, inner []Payload, c Cipher) []byte {
	first, pt := MarshalPayloads(inner)
	sealed := c.SealedLen(len(pt))
	total := HeaderLen + genericHeaderLen + sealed
	if genericHeaderLen+sealed > 0xffff {
		panic(fmt.Sprintf("wire: SK payload of %d bytes is longer than a 16-bit length field allows", genericHeaderLen+sealed))
	}
	h.NextPayload = PayloadSK
	h.Length = uint32(total)
	b := h.AppendTo(make([]byte, 0, total))
	b = append(b, byte(first), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(genericHeaderLen+sealed))
	aad := bytes.Clone(b)
	b = c.Seal(b, aad, pt)
	if len(b) != total {
		panic(fmt.Sprintf("wire: Cipher.Seal produced %d bytes of SK body, SealedLen promised %d", len(b)-len(aad), sealed))
	}
	return b
}

// associatedData returns every byte of the message before data, the body
// of its last payload. It uses m.Raw if that ends with data, and encodes
// the message otherwise.
func (m *Message) associatedData(data []byte) []byte {
	raw := m.Raw
	if len(raw) < len(data) || !bytes.Equal(raw[len(raw)-len(data):], data) {
		raw = m.Marshal()
	}
	return raw[:len(raw)-len(data)]
}

// Open decrypts the SK payload, which must be the last payload of m, and
// decodes the inner payloads. Errors from the Cipher (such as an ICV
// mismatch) are wrapped; malformed inner payloads give a *SyntaxError.
func (m *Message) Open(c Cipher) ([]Payload, error) {
	if len(m.Payloads) == 0 {
		return nil, errors.New("wire: message has no SK payload to open")
	}
	enc, ok := m.Payloads[len(m.Payloads)-1].(*Encrypted)
	if !ok {
		return nil, fmt.Errorf("wire: last payload is %v, not SK", m.Payloads[len(m.Payloads)-1].Type())
	}
	pt, err := c.Open(m.associatedData(enc.Data), enc.Data)
	if err != nil {
		return nil, fmt.Errorf("wire: SK payload: %w", err)
	}
	return parseInner(enc.NextPayload, pt, "SK")
}

// parseInner decodes decrypted payloads, which may not themselves be
// encrypted.
func parseInner(first PayloadType, pt []byte, outer string) ([]Payload, error) {
	ps, err := ParsePayloads(first, pt)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Where += " inside " + outer
		}
		return nil, err
	}
	if len(ps) > 0 {
		if t := ps[len(ps)-1].Type(); t == PayloadSK || t == PayloadSKF {
			return nil, syntaxErr(t.String()+" payload inside "+outer, len(pt)-genericHeaderLen-len(ps[len(ps)-1].AppendBody(nil)), "encrypted payloads cannot be nested")
		}
	}
	return ps, nil
}

// SealFragments builds the fragments of an encrypted message (RFC 7383):
// the inner payloads are encoded, the plaintext split into chunks, and each
// chunk sealed into its own message made of h (NextPayload SKF, Length
// computed) and one SKF payload, such that every message is at most maxLen
// bytes. Only fragment 1 carries the type of the first inner payload. Each
// fragment's associated data is its IKE header and 8-byte SKF header.
//
// It panics if maxLen cannot hold a fragment with one byte of plaintext or
// the message needs more than 65535 fragments; callers should keep maxLen
// at a sane minimum such as 576 - 28 (IPv4) or 1280 - 48 (IPv6).
func SealFragments(h Header, inner []Payload, c Cipher, maxLen int) [][]byte {
	first, pt := MarshalPayloads(inner)
	const overhead = HeaderLen + skfHeaderLen
	budget := min(maxLen, 0xffff+HeaderLen) - overhead
	if budget <= 0 || c.SealedLen(1) > budget {
		panic(fmt.Sprintf("wire: maximum message length %d too small for a fragment", maxLen))
	}
	// Largest chunk, up to len(pt), whose sealed form fits the budget.
	lo, hi := 1, max(len(pt), 1)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if c.SealedLen(mid) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	chunk := lo
	total := max(1, (len(pt)+chunk-1)/chunk)
	if total > 0xffff {
		panic(fmt.Sprintf("wire: %d bytes of plaintext need %d fragments, more than 65535", len(pt), total))
	}
	h.NextPayload = PayloadSKF
	frags := make([][]byte, 0, total)
	for i := range total {
		part := pt[i*chunk : min((i+1)*chunk, len(pt))]
		sealed := c.SealedLen(len(part))
		h.Length = uint32(overhead + sealed)
		b := h.AppendTo(make([]byte, 0, h.Length))
		next := PayloadNone
		if i == 0 {
			next = first
		}
		b = append(b, byte(next), 0)
		b = binary.BigEndian.AppendUint16(b, uint16(skfHeaderLen+sealed))
		b = binary.BigEndian.AppendUint16(b, uint16(i+1))
		b = binary.BigEndian.AppendUint16(b, uint16(total))
		aad := bytes.Clone(b)
		b = c.Seal(b, aad, part)
		if len(b) != int(h.Length) {
			panic(fmt.Sprintf("wire: Cipher.Seal produced %d bytes of SKF body, SealedLen promised %d", len(b)-len(aad), sealed))
		}
		frags = append(frags, b)
	}
	return frags
}

// OpenFragment decrypts the SKF payload, which must be the last payload of
// m, returning its fragment number, the total number of fragments, the
// Next Payload value it carries (meaningful in fragment 1 only) and the
// decrypted chunk of inner payload bytes. Once all chunks are collected,
// JoinFragments decodes the inner payloads.
func (m *Message) OpenFragment(c Cipher) (number, total uint16, next PayloadType, plaintext []byte, err error) {
	if len(m.Payloads) == 0 {
		return 0, 0, 0, nil, errors.New("wire: message has no SKF payload to open")
	}
	f, ok := m.Payloads[len(m.Payloads)-1].(*EncryptedFragment)
	if !ok {
		return 0, 0, 0, nil, fmt.Errorf("wire: last payload is %v, not SKF", m.Payloads[len(m.Payloads)-1].Type())
	}
	pt, err := c.Open(m.associatedData(f.Data), f.Data)
	if err != nil {
		return 0, 0, 0, nil, fmt.Errorf("wire: SKF payload %d of %d: %w", f.Number, f.Total, err)
	}
	return f.Number, f.Total, f.NextPayload, pt, nil
}

// JoinFragments concatenates the decrypted chunks of fragments 1..N, in
// fragment-number order, and decodes the inner payloads; first is the
// Next Payload value of fragment 1.
func JoinFragments(first PayloadType, chunks [][]byte) ([]Payload, error) {
	return parseInner(first, bytes.Join(chunks, nil), "SKF")
}

package wire

import (
	"fmt"
)

// Message is a decoded IKE message: the header and the chain of payloads.
// An encrypted message ends in an *Encrypted (SK) or *EncryptedFragment
// (SKF) payload holding the still protected bytes; see Message.Open and
// Message.OpenFragment.
type Message struct {
	Header   Header
	Payloads []Payload
	// Raw is the message as parsed, set by ParseMessage. Payload byte
	// slices alias it. Open uses it as the source of the associated data.
	Raw []byte
}

// ParseMessage decodes a whole IKE message, as received in one UDP
// datagram (without the non-ESP marker of port 4500). The header's Length
// must equal len(b). The message is copied, so b may be reused afterwards.
//
// If the major version is not 2 the error wraps ErrMajorVersion; any other
// error is a *SyntaxError.
func ParseMessage(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if int(h.Length) != len(b) {
		return nil, syntaxErr("header", 0, "length field %d, but message is %d bytes", h.Length, len(b))
	}
	if h.MajorVersion() != 2 {
		return nil, fmt.Errorf("%w: version byte %#02x", ErrMajorVersion, h.Version)
	}
	raw := append([]byte(nil), b...)
	ps, err := parsePayloads(h.NextPayload, raw[HeaderLen:], HeaderLen)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps, Raw: raw}, nil
}

// Marshal encodes the message. It computes the header's NextPayload and
// Length and every payload's generic header (see MarshalPayloads); the
// other header fields are written as they are. m itself is not modified.
func (m *Message) Marshal() []byte {
	h := m.Header
	b := make([]byte, HeaderLen, 512)
	first, b := appendPayloads(b, m.Payloads)
	h.NextPayload = first
	h.Length = uint32(len(b))
	h.AppendTo(b[:0])
	return b
}

// Find returns the first payload of type t, or nil.
func (m *Message) Find(t PayloadType) Payload { return FindPayload(m.Payloads, t) }

// FindNotify returns the first Notify payload of type t, or nil.
func (m *Message) FindNotify(t NotifyType) *Notify { return FindNotify(m.Payloads, t) }

package wire

import (
	"encoding/binary"
)

// HeaderLen is the length of the fixed IKE header (RFC 7296 3.1).
const HeaderLen = 28

// VersionIKEv2 is the Version field of an IKEv2 header: major 2, minor 0.
const VersionIKEv2 uint8 = 0x20

// Header is the fixed IKE header (RFC 7296 3.1).
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Initiator's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Responder's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          Message ID                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            Length                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Header struct {
	SPIi, SPIr  uint64
	NextPayload PayloadType
	Version     uint8 // major<<4 | minor; VersionIKEv2 (0x20) for IKEv2
	Exchange    ExchangeType
	Flags       uint8
	MessageID   uint32
	Length      uint32 // length of the whole message, header included
}

// IsResponse reports whether the Response flag is set.
func (h Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the Initiator flag is set, i.e. the message
// was sent by the original initiator of the IKE SA.
func (h Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// MajorVersion returns the major version number (2 for IKEv2).
func (h Header) MajorVersion() uint8 { return h.Version >> 4 }

// ParseHeader decodes the fixed header at the start of b. It checks that b
// holds at least HeaderLen bytes and that the Length field is at least
// HeaderLen and no more than len(b). It does not check the version, so that
// callers can answer INVALID_MAJOR_VERSION.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, syntaxErr("header", 0, "%d bytes, shorter than %d-byte IKE header", len(b), HeaderLen)
	}
	h := Header{
		SPIi:        binary.BigEndian.Uint64(b[0:8]),
		SPIr:        binary.BigEndian.Uint64(b[8:16]),
		NextPayload: PayloadType(b[16]),
		Version:     b[17],
		Exchange:    ExchangeType(b[18]),
		Flags:       b[19],
		MessageID:   binary.BigEndian.Uint32(b[20:24]),
		Length:      binary.BigEndian.Uint32(b[24:28]),
	}
	if h.Length < HeaderLen {
		return h, syntaxErr("header", 0, "length field %d shorter than %d-byte IKE header", h.Length, HeaderLen)
	}
	if uint64(h.Length) > uint64(len(b)) {
		return h, syntaxErr("header", 0, "length field %d exceeds the %d bytes available", h.Length, len(b))
	}
	return h, nil
}

// AppendTo appends the 28-byte encoding of h to b, with the fields exactly
// as they are (Length and NextPayload are not computed).
func (h Header) AppendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(h.NextPayload), h.Version, byte(h.Exchange), h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

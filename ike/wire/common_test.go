package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// gcmCipher is a minimal RFC 5282 AES-GCM Cipher for tests: 8-byte
// explicit IV, 16-byte ICV, nonce = 4-byte salt || IV. It pads the
// plaintext (plus Pad Length byte) to a multiple of 4 so that padding
// handling is exercised.
type gcmCipher struct {
	aead    cipher.AEAD
	salt    [4]byte
	counter uint64
}

const (
	gcmIVLen  = 8
	gcmICVLen = 16
	gcmAlign  = 4
)

func newGCMCipher(keyByte byte) *gcmCipher {
	block, err := aes.NewCipher(bytes.Repeat([]byte{keyByte}, 16))
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &gcmCipher{aead: aead, salt: [4]byte{1, 2, 3, 4}}
}

func paddedLen(n int) int { return (n + 1 + gcmAlign - 1) / gcmAlign * gcmAlign }

func (c *gcmCipher) SealedLen(n int) int { return gcmIVLen + paddedLen(n) + gcmICVLen }

func (c *gcmCipher) Seal(dst, aad, plaintext []byte) []byte {
	c.counter++
	iv := binary.BigEndian.AppendUint64(nil, c.counter)
	padded := make([]byte, paddedLen(len(plaintext)))
	copy(padded, plaintext)
	padded[len(padded)-1] = byte(len(padded) - len(plaintext) - 1)
	dst = append(dst, iv...)
	return c.aead.Seal(dst, append(c.salt[:], iv...), padded, aad)
}

func (c *gcmCipher) Open(aad, body []byte) ([]byte, error) {
	if len(body) < gcmIVLen+gcmICVLen {
		return nil, fmt.Errorf("body of %d bytes too short", len(body))
	}
	iv := body[:gcmIVLen]
	pt, err := c.aead.Open(nil, append(c.salt[:], iv...), body[gcmIVLen:], aad)
	if err != nil {
		return nil, err
	}
	if len(pt) == 0 {
		return nil, errors.New("empty plaintext, no pad length")
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, fmt.Errorf("pad length %d exceeds plaintext", pad)
	}
	return pt[:len(pt)-pad-1], nil
}

// mustHex decodes hex digits, skipping white space and comments that run
// from '#' to the end of the line.
func mustHex(s string) []byte {
	var b []byte
	var hi = -1
	comment := false
	for _, r := range s {
		if r == '#' {
			comment = true
		}
		if r == '\n' {
			comment = false
		}
		if comment {
			continue
		}
		var v int
		switch {
		case r >= '0' && r <= '9':
			v = int(r - '0')
		case r >= 'a' && r <= 'f':
			v = int(r-'a') + 10
		case r >= 'A' && r <= 'F':
			v = int(r-'A') + 10
		default:
			continue // spaces, newlines, separators
		}
		if hi < 0 {
			hi = v
		} else {
			b = append(b, byte(hi<<4|v))
			hi = -1
		}
	}
	if hi >= 0 {
		panic("odd number of hex digits")
	}
	return b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func ikeProposals() *SA {
	return &SA{Proposals: []Proposal{
		{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: ENCR_AES_GCM_16, KeyLength: 256},
			{Type: TransformPRF, ID: PRF_HMAC_SHA2_256},
			{Type: TransformKE, ID: KE_X25519},
			{Type: TransformKE, ID: KE_ECP256},
		}},
		{Number: 2, Protocol: ProtoIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: ENCR_AES_CBC, KeyLength: 128, ExtraAttrs: []byte{0x00, 0x20, 0x00, 0x02, 0xab, 0xcd, 0x80, 0x21, 0x00, 0x07}},
			{Type: TransformPRF, ID: PRF_HMAC_SHA2_512},
			{Type: TransformINTEG, ID: AUTH_HMAC_SHA2_512_256},
			{Type: TransformKE, ID: KE_MODP2048},
		}},
	}}
}

func espProposal() *SA {
	return &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoESP, SPI: []byte{0xc0, 0xff, 0xee, 0x01}, Transforms: []Transform{
		{Type: TransformENCR, ID: ENCR_AES_GCM_16, KeyLength: 256},
		{Type: TransformESN, ID: ESN_NO},
	}}}}
}

func initHeader() Header {
	return Header{SPIi: 0x0102030405060708, Version: VersionIKEv2, Exchange: IKE_SA_INIT, Flags: FlagInitiator}
}

// sampleInit is an IKE_SA_INIT request-like message.
func sampleInit() *Message {
	return &Message{Header: initHeader(), Payloads: []Payload{
		ikeProposals(),
		&KE{Group: KE_X25519, Data: seq(32, 0x10)},
		&Nonce{Data: seq(32, 0x80)},
		&Notify{NotifyType: NAT_DETECTION_SOURCE_IP, Data: seq(20, 0x30)},
		&Notify{NotifyType: NAT_DETECTION_DESTINATION_IP, Data: seq(20, 0x50)},
		&Notify{NotifyType: IKEV2_FRAGMENTATION_SUPPORTED},
		&VendorID{Data: []byte("metro")},
		&CertReq{Encoding: CertX509Signature, Data: seq(40, 0)},
	}}
}

func authHeader() Header {
	return Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Version: VersionIKEv2,
		Exchange: IKE_AUTH, Flags: FlagInitiator, MessageID: 1}
}

// sampleAuthInner is the inner payload list of an IKE_AUTH request.
func sampleAuthInner() []Payload {
	return []Payload{
		&ID{Kind: PayloadIDi, IDType: ID_FQDN, Data: []byte("a.example.net")},
		&Cert{Encoding: CertX509Signature, Data: seq(200, 7)},
		&Notify{NotifyType: INITIAL_CONTACT},
		&ID{Kind: PayloadIDr, IDType: ID_IPV4_ADDR, Data: []byte{192, 0, 2, 2}},
		&Auth{Method: AuthSharedKeyMIC, Data: seq(32, 0x99)},
		&Notify{NotifyType: USE_TRANSPORT_MODE},
		espProposal(),
		&TS{Kind: PayloadTSi, Selectors: []Selector{
			SelectorForAddr(netip.MustParseAddr("192.0.2.1")),
			{Type: TS_IPV6_ADDR_RANGE, IPProto: 6, StartPort: 443, EndPort: 443,
				Start: netip.MustParseAddr("2001:db8::1"), End: netip.MustParseAddr("2001:db8::ff")},
		}},
		&TS{Kind: PayloadTSr, Selectors: []Selector{SelectorForAddr(netip.MustParseAddr("192.0.2.2"))}},
		&Unknown{PayloadType: PayloadCP, Data: []byte{1, 0, 0, 0}},
	}
}

// allPayloads has one or more values of every payload type.
func allPayloads() []Payload {
	return []Payload{
		ikeProposals(),
		espProposal(),
		&SA{},
		&KE{Group: KE_ECP256, Data: seq(64, 1)},
		&KE{Group: KE_X25519},
		&ID{Kind: PayloadIDi, IDType: ID_RFC822_ADDR, Data: []byte("x@example.org")},
		&ID{Kind: PayloadIDr, IDType: ID_IPV6_ADDR, Data: netip.MustParseAddr("2001:db8::2").AsSlice()},
		&Cert{Encoding: CertX509Signature, Data: seq(300, 3)},
		&CertReq{Encoding: CertX509Signature},
		&Auth{Method: AuthDigitalSignature, Data: seq(70, 9)},
		&Nonce{Data: seq(16, 0)},
		&Notify{Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, NotifyType: REKEY_SA},
		&Notify{NotifyType: COOKIE, Data: seq(24, 5)},
		&Delete{Protocol: ProtoIKE},
		&Delete{Protocol: ProtoESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		&VendorID{Data: seq(16, 0xf0)},
		&TS{Kind: PayloadTSi, Selectors: []Selector{SelectorForAddr(netip.MustParseAddr("10.0.0.1"))}},
		&TS{Kind: PayloadTSr, Selectors: []Selector{SelectorForAddr(netip.MustParseAddr("2001:db8::9"))}},
		&TS{Kind: PayloadTSr},
		&Unknown{PayloadType: PayloadEAP, Critical: true, Data: seq(5, 0)},
		&Unknown{PayloadType: 200, Data: nil},
		&Encrypted{NextPayload: PayloadIDi, Data: seq(40, 0)},
		&EncryptedFragment{Number: 2, Total: 3, Data: seq(40, 0)},
		&EncryptedFragment{Number: 1, Total: 1, NextPayload: PayloadNotify, Data: seq(40, 0)},
	}
}

package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

// These tests check the encoding against byte sequences written by hand
// from the diagrams in RFC 7296 section 3, so that the codec is not merely
// self-consistent.

// An IKE_SA_INIT-style message: header (3.1) + SA payload (3.3) with one
// IKE proposal of four transforms, the first carrying a TV-format Key
// Length attribute (3.3.5).
var knownInitBytes = mustHex(`
	0102030405060708 0000000000000000   # SPIi, SPIr
	21 20 22 08                         # next=SA(33) ver=2.0 exch=IKE_SA_INIT(34) flags=I
	00000000 0000004c                   # message ID 0, length 76
	00 00 0030                          # SA: next=none, length 48
	  00 00 002c 01 01 00 04            # proposal: last, length 44, #1, IKE, SPI size 0, 4 transforms
	    03 00 000c 01 00 000c 800e 0100 # ENCR AES-CBC, Key Length (AF=1, type 14) = 256
	    03 00 0008 02 00 0007           # PRF HMAC-SHA2-512
	    03 00 0008 03 00 000e           # INTEG HMAC-SHA2-512-256
	    00 00 0008 04 00 001f           # KE Curve25519 (last)
`)

var knownInitMessage = &Message{
	Header: Header{SPIi: 0x0102030405060708, NextPayload: PayloadSA, Version: 0x20,
		Exchange: IKE_SA_INIT, Flags: FlagInitiator, Length: 76},
	Payloads: []Payload{&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
		{Type: TransformENCR, ID: ENCR_AES_CBC, KeyLength: 256},
		{Type: TransformPRF, ID: PRF_HMAC_SHA2_512},
		{Type: TransformINTEG, ID: AUTH_HMAC_SHA2_512_256},
		{Type: TransformKE, ID: KE_X25519},
	}}}}},
}

func TestKnownBytesInit(t *testing.T) {
	if len(knownInitBytes) != 76 {
		t.Fatalf("test vector is %d bytes, want 76", len(knownInitBytes))
	}
	h, err := ParseHeader(knownInitBytes)
	if err != nil {
		t.Fatal(err)
	}
	if h != knownInitMessage.Header {
		t.Errorf("ParseHeader = %+v, want %+v", h, knownInitMessage.Header)
	}
	if got := h.AppendTo(nil); !bytes.Equal(got, knownInitBytes[:HeaderLen]) {
		t.Errorf("Header.AppendTo = %x, want %x", got, knownInitBytes[:HeaderLen])
	}
	if !h.IsInitiator() || h.IsResponse() || h.MajorVersion() != 2 {
		t.Errorf("flags: initiator=%v response=%v major=%d", h.IsInitiator(), h.IsResponse(), h.MajorVersion())
	}

	m, err := ParseMessage(knownInitBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Header, knownInitMessage.Header) || !reflect.DeepEqual(m.Payloads, knownInitMessage.Payloads) {
		t.Errorf("ParseMessage = %+v %+v,\nwant %+v %+v", m.Header, m.Payloads[0], knownInitMessage.Header, knownInitMessage.Payloads[0])
	}
	if !bytes.Equal(m.Raw, knownInitBytes) {
		t.Errorf("Raw = %x, want the input", m.Raw)
	}
	// Marshal computes NextPayload and Length itself.
	zeroed := *knownInitMessage
	zeroed.Header.NextPayload, zeroed.Header.Length = 0, 0
	if got := zeroed.Marshal(); !bytes.Equal(got, knownInitBytes) {
		t.Errorf("Marshal =\n%x\nwant\n%x", got, knownInitBytes)
	}
}

// A chain KE -> Notify -> TSi -> Delete.
var knownChainBytes = mustHex(`
	29 00 000c  001f 0000  aabbccdd                         # KE: next=Notify, group 31, data
	2c 00 000c  03 04 4009  01020304                        # Notify: next=TSi, ESP, SPI size 4, REKEY_SA, SPI
	2a 00 0018  01 000000                                   # TSi: next=Delete, 1 selector
	            07 11 0010 01f4 01f4 c0000201 c000020a      # IPv4 range, UDP, ports 500-500, 192.0.2.1-192.0.2.10
	00 00 0010  03 04 0002 deadbeef 01020304                # Delete: ESP, SPI size 4, 2 SPIs
`)

var knownChainPayloads = []Payload{
	&KE{Group: KE_X25519, Data: []byte{0xaa, 0xbb, 0xcc, 0xdd}},
	&Notify{Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, NotifyType: REKEY_SA},
	&TS{Kind: PayloadTSi, Selectors: []Selector{{Type: TS_IPV4_ADDR_RANGE, IPProto: 17, StartPort: 500, EndPort: 500,
		Start: netip.MustParseAddr("192.0.2.1"), End: netip.MustParseAddr("192.0.2.10")}}},
	&Delete{Protocol: ProtoESP, SPISize: 4, SPIs: [][]byte{{0xde, 0xad, 0xbe, 0xef}, {1, 2, 3, 4}}},
}

func TestKnownBytesChain(t *testing.T) {
	ps, err := ParsePayloads(PayloadKE, knownChainBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ps, knownChainPayloads) {
		t.Errorf("ParsePayloads = %+v, want %+v", ps, knownChainPayloads)
	}
	first, body := MarshalPayloads(knownChainPayloads)
	if first != PayloadKE || !bytes.Equal(body, knownChainBytes) {
		t.Errorf("MarshalPayloads = %v,\n%x\nwant KE,\n%x", first, body, knownChainBytes)
	}
}

// An IPv6 selector is 40 bytes (RFC 7296 3.13.1), and ID.Body is the ID
// payload body without the generic header (RFC 7296 2.15).
func TestKnownBytesIPv6SelectorAndIDBody(t *testing.T) {
	ts := &TS{Kind: PayloadTSr, Selectors: []Selector{{Type: TS_IPV6_ADDR_RANGE, IPProto: 0, StartPort: 0, EndPort: 0xffff,
		Start: netip.MustParseAddr("2001:db8::"), End: netip.MustParseAddr("2001:db8::ffff")}}}
	want := mustHex(`01000000 08 00 0028 0000 ffff 20010db8000000000000000000000000 20010db800000000000000000000ffff`)
	if got := ts.AppendBody(nil); !bytes.Equal(got, want) {
		t.Errorf("TS body = %x, want %x", got, want)
	}
	id := &ID{Kind: PayloadIDi, IDType: ID_FQDN, Data: []byte("ab")}
	if got, want := id.Body(), []byte{2, 0, 0, 0, 'a', 'b'}; !bytes.Equal(got, want) {
		t.Errorf("ID.Body = %x, want %x", got, want)
	}
}

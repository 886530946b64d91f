package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	for i, p := range allPayloads() {
		t.Run(fmt.Sprintf("%d_%v", i, p.Type()), func(t *testing.T) {
			first, body := MarshalPayloads([]Payload{p})
			if first != p.Type() {
				t.Fatalf("first = %v, want %v", first, p.Type())
			}
			if int(body[2])<<8|int(body[3]) != len(body) {
				t.Errorf("payload length field %d, encoded %d bytes", int(body[2])<<8|int(body[3]), len(body))
			}
			wantNext := PayloadNone
			switch e := p.(type) {
			case *Encrypted:
				wantNext = e.NextPayload
			case *EncryptedFragment:
				wantNext = e.NextPayload
			}
			if PayloadType(body[0]) != wantNext {
				t.Errorf("next payload %d, want %d", body[0], wantNext)
			}
			u, unknown := p.(*Unknown)
			if crit := body[1]&flagCritical != 0; crit != (unknown && u.Critical) {
				t.Errorf("critical bit %v for %T", crit, p)
			}
			got, err := ParsePayloads(first, body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], p) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got[0], p)
			}
		})
	}
}

func TestPayloadChainRoundTrip(t *testing.T) {
	ps := allPayloads()
	// Drop the encrypted payloads but the last, which must end the chain.
	var chain []Payload
	for _, p := range ps {
		if t := p.Type(); t != PayloadSK && t != PayloadSKF {
			chain = append(chain, p)
		}
	}
	chain = append(chain, ps[len(ps)-1])
	first, body := MarshalPayloads(chain)
	got, err := ParsePayloads(first, body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, chain) {
		t.Errorf("chain round trip differs:\n got %v\nwant %v", got, chain)
	}
	if first, body := MarshalPayloads(nil); first != PayloadNone || len(body) != 0 {
		t.Errorf("MarshalPayloads(nil) = %v, %x", first, body)
	}
	if got, err := ParsePayloads(PayloadNone, nil); err != nil || got != nil {
		t.Errorf("ParsePayloads(none, nil) = %v, %v", got, err)
	}
}

func TestCriticalBit(t *testing.T) {
	// Unknown type 50 with the critical bit, then a KE with the critical
	// bit set, which must be ignored because KE is understood.
	b := mustHex(`22 80 0006 abcd    00 80 000c 001f 0000 01020304`)
	ps, err := ParsePayloads(50, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Payload{
		&Unknown{PayloadType: 50, Critical: true, Data: []byte{0xab, 0xcd}},
		&KE{Group: 31, Data: []byte{1, 2, 3, 4}},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("got %+v, want %+v", ps, want)
	}
	if u := UnsupportedCritical(ps); u == nil || u.PayloadType != 50 {
		t.Errorf("UnsupportedCritical = %v", u)
	}
	_, out := MarshalPayloads(ps)
	if out[1] != 0x80 {
		t.Errorf("unknown payload lost its critical bit: %#x", out[1])
	}
	if out[6+1] != 0 {
		t.Errorf("known KE payload marshalled with flags %#x, want 0", out[6+1])
	}
	// Non-critical unknown payloads are not reported.
	ps[0].(*Unknown).Critical = false
	if u := UnsupportedCritical(ps); u != nil {
		t.Errorf("UnsupportedCritical = %v for non-critical payload", u)
	}
}

func TestFinders(t *testing.T) {
	m := sampleInit()
	if ke, ok := m.Find(PayloadKE).(*KE); !ok || ke.Group != KE_X25519 {
		t.Errorf("Find(KE) = %v", m.Find(PayloadKE))
	}
	if m.Find(PayloadAUTH) != nil {
		t.Errorf("Find(AUTH) found something")
	}
	if n := m.FindNotify(NAT_DETECTION_DESTINATION_IP); n == nil || n.Data[0] != 0x50 {
		t.Errorf("FindNotify = %v", n)
	}
	if n := FindNotify(m.Payloads, COOKIE); n != nil {
		t.Errorf("FindNotify(COOKIE) = %v", n)
	}
	if ns := Notifies(m.Payloads); len(ns) != 3 {
		t.Errorf("Notifies found %d, want 3", len(ns))
	}
	inner := sampleAuthInner()
	if id, ok := FindPayload(inner, PayloadIDr).(*ID); !ok || id.IDType != ID_IPV4_ADDR {
		t.Errorf("FindPayload(IDr) = %v", FindPayload(inner, PayloadIDr))
	}
}

// malformed bodies, each with the expected error text.
var malformed = []struct {
	name  string
	first PayloadType
	hex   string
	want  string
}{
	{"short generic header", PayloadKE, `00 00 00`, "KE payload at offset 0: 3 bytes left, shorter than 4-byte generic payload header"},
	{"length below header", PayloadKE, `00 00 0003 00`, "KE payload at offset 0: length 3 shorter than 4-byte generic payload header"},
	{"length beyond data", PayloadNonce, `00 00 0009 0102`, "Nonce payload at offset 0: length 9 exceeds the 6 bytes left"},
	{"trailing bytes", PayloadNonce, `00 00 0005 01 ff`, "1 bytes after the last payload"},
	{"next but no data", PayloadNonce, `28 00 0005 01`, "Nonce payload at offset 5: 0 bytes left"},
	{"KE short body", PayloadKE, `00 00 0007 001f00`, "KE payload at offset 0: body of 3 bytes, shorter than 4-byte"},
	{"ID short body", PayloadIDi, `00 00 0006 0200`, "IDi payload at offset 0: body of 2 bytes"},
	{"AUTH short body", PayloadAUTH, `00 00 0005 02`, "AUTH payload at offset 0: body of 1 bytes"},
	{"CERT empty", PayloadCERT, `00 00 0004`, "CERT payload at offset 0: empty body"},
	{"CERTREQ empty", PayloadCERTREQ, `00 00 0004`, "CERTREQ payload at offset 0: empty body"},
	{"Notify SPI overrun", PayloadNotify, `00 00 000a 03 04 4009 0102`, "Notify payload at offset 0: SPI size 4 exceeds the 2 bytes"},
	{"Notify short", PayloadNotify, `00 00 0006 0300`, "Notify payload at offset 0: body of 2 bytes"},
	{"Delete count mismatch", PayloadDelete, `00 00 000c 03 04 0002 01020304`, "Delete payload at offset 0: 2 SPIs of 4 bytes need 8 bytes, body has 4"},
	{"Delete size 0 count", PayloadDelete, `00 00 0008 01 00 0001`, "SPI size 0 with 1 SPIs"},
	{"SA proposal short", PayloadSA, `00 00 0008 00000008`, "SA payload at offset 0: proposal 1 at byte 0: 4 bytes left, shorter than 8-byte proposal header"},
	{"SA proposal length overrun", PayloadSA, `00 00 000c 00 00 0010 01 01 00 00`, "proposal 1 at byte 0: length 16 exceeds the 8 bytes left"},
	{"SA proposal length under", PayloadSA, `00 00 000c 00 00 0007 01 01 00 00`, "proposal 1 at byte 0: length 7 shorter than 8-byte proposal header"},
	{"SA last but more", PayloadSA, `00 00 0014 00 00 0008 01 01 00 00 00 00 0008 02 01 00 00`, "proposal 1 at byte 0: last-substruc is 0 but more data follows"},
	{"SA more but last", PayloadSA, `00 00 000c 02 00 0008 01 01 00 00`, "proposal 1 at byte 0: last-substruc is 2 but nothing follows"},
	{"SA bad last", PayloadSA, `00 00 000c 07 00 0008 01 01 00 00`, "invalid last-substruc value 7"},
	{"SA SPI overrun", PayloadSA, `00 00 000c 00 00 0008 01 03 04 00`, "proposal 1 at byte 0: SPI size 4 exceeds the 0 bytes"},
	{"SA transform count", PayloadSA, `00 00 0014 00 00 0010 01 01 00 02  00 00 0008 01 00 000c`, "header says 2 transforms but 1 are present"},
	{"SA transform overrun", PayloadSA, `00 00 0014 00 00 0010 01 01 00 01  00 00 000c 01 00 000c`, "transform 1 at byte 8: length 12 exceeds the 8 bytes left"},
	{"SA transform more but last", PayloadSA, `00 00 0014 00 00 0010 01 01 00 01  03 00 0008 01 00 000c`, "transform 1 at byte 8: last-substruc is 3 but nothing follows"},
	{"SA attribute short", PayloadSA, `00 00 0016 00 00 0012 01 01 00 01  00 00 000a 01 00 000c 800e`, "transform 1 at byte 8: attribute at byte 8: 2 bytes left"},
	{"SA TLV overrun", PayloadSA, `00 00 0018 00 00 0014 01 01 00 01  00 00 000c 01 00 000c 0011 0005`, "attribute type 17 at byte 8: value length 5 exceeds the 0 bytes left"},
	{"SA key length TLV", PayloadSA, `00 00 001a 00 00 0016 01 01 00 01  00 00 000e 01 00 000c 000e 0002 0100`, "Key Length attribute at byte 8 is in TLV format"},
	{"SA key length zero", PayloadSA, `00 00 0018 00 00 0014 01 01 00 01  00 00 000c 01 00 000c 800e 0000`, "Key Length attribute at byte 8 is 0"},
	{"SA key length twice", PayloadSA, `00 00 001c 00 00 0018 01 01 00 01  00 00 0010 01 00 000c 800e 0080 800e 0100`, "duplicate Key Length attribute at byte 12"},
	{"TS short", PayloadTSi, `00 00 0006 0100`, "TSi payload at offset 0: body of 2 bytes"},
	{"TS count over", PayloadTSi, `00 00 0008 02 000000`, "selector 1 of 2 at byte 4: 0 bytes left"},
	{"TS count under", PayloadTSr, `00 00 0018 00 000000 07 00 0010 0000 ffff 0a000001 0a000001`, "TSr payload at offset 0: 16 bytes after the 0 selectors"},
	{"TS unknown type", PayloadTSi, `00 00 0018 01 000000 09 00 0010 0000 ffff 0a000001 0a000001`, "selector 1 at byte 4: unsupported TS type 9"},
	{"TS bad v4 length", PayloadTSi, `00 00 001c 01 000000 07 00 0014 0000 ffff 0a000001 0a000001 00000000`, "selector 1 at byte 4: length 20, want 16 for TS type 7"},
	{"TS v6 truncated", PayloadTSi, `00 00 0018 01 000000 08 00 0028 0000 ffff 0a000001 0a000001`, "selector 1 at byte 4: length 40 exceeds the 16 bytes left"},
	{"SKF short", PayloadSKF, `00 00 0006 0001`, "SKF payload at offset 0: body of 2 bytes"},
	{"SKF number zero", PayloadSKF, `00 00 0008 0000 0002`, "fragment 0 of 2: numbers start at 1"},
	{"SKF number over total", PayloadSKF, `00 00 0008 0003 0002`, "fragment number 3 exceeds total 2"},
	{"SK not last", PayloadSK, `00 00 0006 abcd  00 00 0005 01`, "SK payload at offset 0: must be the last payload, but 5 bytes follow it"},
	{"SKF not last", PayloadSKF, `00 00 0008 0001 0001  00 00 0005 01`, "SKF payload at offset 0: must be the last payload, but 5 bytes follow it"},
	{"offset of second payload", PayloadNonce, `22 00 0005 01  00 00 0007 001f 00`, "KE payload at offset 5: body of 3 bytes"},
}

func TestMalformedPayloads(t *testing.T) {
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := ParsePayloads(tc.first, mustHex(tc.hex))
			if err == nil {
				t.Fatalf("parsed %+v, want error %q", ps, tc.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("error %v is %T, not *SyntaxError", err, err)
			}
			if !strings.HasPrefix(err.Error(), "wire: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSelectorForAddr(t *testing.T) {
	s := SelectorForAddr(netip.MustParseAddr("198.51.100.7"))
	if s.Type != TS_IPV4_ADDR_RANGE || s.StartPort != 0 || s.EndPort != 65535 || s.IPProto != 0 || s.Start != s.End {
		t.Errorf("SelectorForAddr(v4) = %+v", s)
	}
	s = SelectorForAddr(netip.MustParseAddr("2001:db8::7"))
	if s.Type != TS_IPV6_ADDR_RANGE || s.Start.String() != "2001:db8::7" {
		t.Errorf("SelectorForAddr(v6) = %+v", s)
	}
}

func TestMarshalPanicsOnInvalid(t *testing.T) {
	cases := map[string][]Payload{
		"SK not last":         {&Encrypted{}, &Nonce{}},
		"type zero":           {&ID{}},
		"delete SPI size":     {&Delete{Protocol: ProtoESP, SPISize: 4, SPIs: [][]byte{{1, 2}}}},
		"v4 selector with v6": {&TS{Kind: PayloadTSi, Selectors: []Selector{{Type: TS_IPV4_ADDR_RANGE, Start: netip.IPv6Loopback(), End: netip.IPv6Loopback()}}}},
		"unknown TS type":     {&TS{Kind: PayloadTSi, Selectors: []Selector{{Type: 9}}}},
		"oversized payload":   {&Cert{Data: make([]byte, 70000)}},
	}
	for name, ps := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("no panic")
				} else if s, ok := r.(string); !ok || !strings.HasPrefix(s, "wire: ") {
					t.Errorf("panic %v, want a wire: message", r)
				}
			}()
			MarshalPayloads(ps)
		})
	}
}

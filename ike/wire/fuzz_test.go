package wire

import (
	"bytes"
	"reflect"
	"testing"
)

func FuzzParseMessage(f *testing.F) {
	for _, b := range sampleMessages() {
		f.Add(b)
	}
	f.Add(knownInitBytes)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		out := m.Marshal()
		m2, err := ParseMessage(out)
		if err != nil {
			t.Fatalf("re-encoding of a parsed message does not parse: %v\nin  %x\nout %x", err, b, out)
		}
		if m2.Header != m.Header {
			t.Fatalf("header changed: %+v -> %+v", m.Header, m2.Header)
		}
		if !reflect.DeepEqual(m2.Payloads, m.Payloads) {
			t.Fatalf("payloads changed:\n%#v\n%#v", m.Payloads, m2.Payloads)
		}
		if out2 := m2.Marshal(); !bytes.Equal(out2, out) {
			t.Fatalf("encoding is not stable:\n%x\n%x", out, out2)
		}
	})
}

func FuzzParsePayloads(f *testing.F) {
	for _, b := range sampleMessages() {
		f.Add(b[16], b[HeaderLen:])
	}
	_, pt := MarshalPayloads(sampleAuthInner())
	f.Add(byte(PayloadIDi), pt)
	f.Add(byte(PayloadKE), knownChainBytes)
	first, body := MarshalPayloads(allPayloads()[:20])
	f.Add(byte(first), body)
	for _, tc := range malformed {
		f.Add(byte(tc.first), mustHex(tc.hex))
	}
	f.Fuzz(func(t *testing.T, first byte, b []byte) {
		ps, err := ParsePayloads(PayloadType(first), b)
		if err != nil {
			return
		}
		first2, out := MarshalPayloads(ps)
		if len(ps) > 0 && first2 != PayloadType(first) {
			t.Fatalf("first payload type %d -> %v", first, first2)
		}
		ps2, err := ParsePayloads(first2, out)
		if err != nil {
			t.Fatalf("re-encoding does not parse: %v\nin  %x\nout %x", err, b, out)
		}
		if !reflect.DeepEqual(ps2, ps) {
			t.Fatalf("payloads changed:\n%#v\n%#v", ps, ps2)
		}
	})
}

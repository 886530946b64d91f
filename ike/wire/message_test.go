package wire

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sampleMessages returns encoded valid messages of every shape: plain
// IKE_SA_INIT, IKE_AUTH with SK, and RFC 7383 fragments.
func sampleMessages() map[string][]byte {
	c := newGCMCipher(0x42)
	ms := map[string][]byte{
		"init": sampleInit().Marshal(),
		"auth": Seal(authHeader(), sampleAuthInner(), c),
		"informational-empty": Seal(Header{SPIi: 1, SPIr: 2, Version: VersionIKEv2, Exchange: INFORMATIONAL,
			Flags: FlagResponse, MessageID: 7}, nil, c),
	}
	for i, f := range SealFragments(authHeader(), sampleAuthInner(), c, 200) {
		ms["fragment"+string(rune('1'+i))] = f
	}
	return ms
}

func TestMessageRoundTrip(t *testing.T) {
	for name, b := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if int(m.Header.Length) != len(b) {
				t.Errorf("Length = %d, message is %d bytes", m.Header.Length, len(b))
			}
			out := m.Marshal()
			if string(out) != string(b) {
				t.Errorf("Marshal(ParseMessage(b)) != b:\n%x\n%x", out, b)
			}
		})
	}

	// Marshal fills NextPayload and Length, and the result parses back to
	// the constructed payloads.
	in := sampleInit()
	m, err := ParseMessage(in.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	want := in.Header
	want.NextPayload, want.Length = PayloadSA, uint32(len(m.Raw))
	if m.Header != want {
		t.Errorf("header %+v, want %+v", m.Header, want)
	}
	if !reflect.DeepEqual(m.Payloads, in.Payloads) {
		t.Errorf("payloads differ:\n got %+v\nwant %+v", m.Payloads, in.Payloads)
	}
	if in.Header.Length != 0 {
		t.Errorf("Marshal modified the message header")
	}
}

func TestParseMessageCopiesInput(t *testing.T) {
	b := sampleInit().Marshal()
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	nonce := m.Find(PayloadNonce).(*Nonce)
	before := string(nonce.Data)
	for i := range b {
		b[i] = 0xee
	}
	if string(nonce.Data) != before || m.Raw[0] == 0xee {
		t.Errorf("parsed message aliases the caller's buffer")
	}
}

// Every truncated prefix of a valid message must be rejected, both as is
// (the Length field then disagrees) and with the Length field patched to
// the truncated size, so that payload parsing itself must notice.
func TestTruncatedMessagesRejected(t *testing.T) {
	for name, b := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			for n := range len(b) {
				if m, err := ParseMessage(b[:n]); err == nil {
					t.Fatalf("prefix of %d/%d bytes parsed: %+v", n, len(b), m)
				}
				if n < HeaderLen {
					continue
				}
				p := append([]byte(nil), b[:n]...)
				binary.BigEndian.PutUint32(p[24:28], uint32(n))
				if m, err := ParseMessage(p); err == nil {
					t.Fatalf("prefix of %d/%d bytes with patched length parsed: %+v", n, len(b), m)
				}
			}
			// The payload chain alone, too.
			body := b[HeaderLen:]
			for n := range len(body) {
				if ps, err := ParsePayloads(PayloadType(b[16]), body[:n]); err == nil {
					t.Fatalf("payload prefix of %d/%d bytes parsed: %v", n, len(body), ps)
				}
			}
		})
	}
}

func TestMessageLengthErrors(t *testing.T) {
	b := sampleInit().Marshal()
	long := append(append([]byte(nil), b...), 0)
	if _, err := ParseMessage(long); err == nil || !strings.Contains(err.Error(), "length field") {
		t.Errorf("trailing byte: err = %v", err)
	}
	if h, err := ParseHeader(long); err != nil || int(h.Length) != len(b) {
		t.Errorf("ParseHeader with trailing byte = %+v, %v (it allows longer buffers)", h, err)
	}
	short := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(short[24:28], 27)
	if _, err := ParseHeader(short); err == nil || !strings.Contains(err.Error(), "length field 27 shorter than 28-byte IKE header") {
		t.Errorf("length 27: err = %v", err)
	}
	binary.BigEndian.PutUint32(short[24:28], 1<<31)
	if _, err := ParseHeader(short); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("huge length: err = %v", err)
	}
	if _, err := ParseHeader(b[:27]); err == nil || !strings.Contains(err.Error(), "27 bytes, shorter than 28-byte IKE header") {
		t.Errorf("27-byte buffer: err = %v", err)
	}
}

func TestMajorVersion(t *testing.T) {
	b := sampleInit().Marshal()
	b[17] = 0x30
	_, err := ParseMessage(b)
	if !errors.Is(err, ErrMajorVersion) {
		t.Fatalf("version 3.0: err = %v, want ErrMajorVersion", err)
	}
	h, err := ParseHeader(b)
	if err != nil || h.MajorVersion() != 3 {
		t.Errorf("ParseHeader of version 3.0 = %+v, %v", h, err)
	}
	// A higher minor version is accepted (RFC 7296 2.5).
	b[17] = 0x21
	if _, err := ParseMessage(b); err != nil {
		t.Errorf("version 2.1: %v", err)
	}
}

func TestHeaderFlags(t *testing.T) {
	for _, tc := range []struct {
		flags           uint8
		initiator, resp bool
	}{
		{0, false, false},
		{FlagInitiator, true, false},
		{FlagResponse, false, true},
		{FlagInitiator | FlagResponse | FlagVersion, true, true},
	} {
		h := Header{Flags: tc.flags}
		if h.IsInitiator() != tc.initiator || h.IsResponse() != tc.resp {
			t.Errorf("flags %#x: initiator=%v response=%v", tc.flags, h.IsInitiator(), h.IsResponse())
		}
	}
}

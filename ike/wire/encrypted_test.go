package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	c := newGCMCipher(0x42)
	inner := sampleAuthInner()
	b := Seal(authHeader(), inner, c)

	_, pt := MarshalPayloads(inner)
	if want := HeaderLen + 4 + c.SealedLen(len(pt)); len(b) != want {
		t.Errorf("sealed message is %d bytes, want %d", len(b), want)
	}
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	h := authHeader()
	h.NextPayload, h.Length = PayloadSK, uint32(len(b))
	if m.Header != h {
		t.Errorf("header %+v, want %+v", m.Header, h)
	}
	if len(m.Payloads) != 1 {
		t.Fatalf("%d payloads, want 1 SK", len(m.Payloads))
	}
	enc, ok := m.Payloads[0].(*Encrypted)
	if !ok || enc.NextPayload != PayloadIDi {
		t.Fatalf("payload %#v, want SK with next IDi", m.Payloads[0])
	}
	if bytes.Contains(b, []byte("a.example.net")) {
		t.Errorf("identity is visible in the sealed message")
	}
	got, err := m.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, inner) {
		t.Errorf("Open:\n got %v\nwant %v", got, inner)
	}

	// Without Raw (a constructed message), Open re-encodes it.
	m2 := &Message{Header: m.Header, Payloads: m.Payloads}
	if got, err := m2.Open(c); err != nil || !reflect.DeepEqual(got, inner) {
		t.Errorf("Open without Raw = %v, %v", got, err)
	}
}

// The AEAD associated data is every byte before the IV: changing any byte
// of the message, header included, must make parsing or opening fail.
func TestSealAuthenticatesEveryByte(t *testing.T) {
	c := newGCMCipher(0x42)
	b := Seal(authHeader(), sampleAuthInner(), c)
	for i := range b {
		mod := append([]byte(nil), b...)
		mod[i] ^= 0x01
		m, err := ParseMessage(mod)
		if err != nil {
			continue
		}
		if ps, err := m.Open(c); err == nil {
			t.Fatalf("flipping byte %d went unnoticed: %v", i, ps)
		}
	}
}

// The AAD handed to the Cipher is exactly header + SK generic header.
func TestSealAAD(t *testing.T) {
	rec := &recordingCipher{Cipher: newGCMCipher(1)}
	b := Seal(authHeader(), []Payload{&Nonce{Data: []byte{1}}}, rec)
	if !bytes.Equal(rec.sealAAD, b[:HeaderLen+4]) {
		t.Errorf("seal AAD = %x, want %x", rec.sealAAD, b[:HeaderLen+4])
	}
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(rec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.openAAD, b[:HeaderLen+4]) {
		t.Errorf("open AAD = %x, want %x", rec.openAAD, b[:HeaderLen+4])
	}
	if b[HeaderLen] != byte(PayloadNonce) || b[HeaderLen+1] != 0 {
		t.Errorf("SK generic header = %x, want next=Nonce, not critical", b[HeaderLen:HeaderLen+4])
	}
}

type recordingCipher struct {
	Cipher
	sealAAD, openAAD []byte
}

func (r *recordingCipher) Seal(dst, aad, pt []byte) []byte {
	r.sealAAD = bytes.Clone(aad)
	return r.Cipher.Seal(dst, aad, pt)
}

func (r *recordingCipher) Open(aad, body []byte) ([]byte, error) {
	r.openAAD = bytes.Clone(aad)
	return r.Cipher.Open(aad, body)
}

func TestOpenErrors(t *testing.T) {
	c := newGCMCipher(0x42)
	m, err := ParseMessage(Seal(authHeader(), sampleAuthInner(), c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(newGCMCipher(0x43)); err == nil || !strings.HasPrefix(err.Error(), "wire: SK payload: ") {
		t.Errorf("wrong key: err = %v", err)
	}
	plain, _ := ParseMessage(sampleInit().Marshal())
	if _, err := plain.Open(c); err == nil || !strings.Contains(err.Error(), "not SK") {
		t.Errorf("plain message: err = %v", err)
	}
	if _, err := (&Message{}).Open(c); err == nil {
		t.Errorf("empty message opened")
	}

	// Nested SK payloads are rejected.
	nested, _ := ParseMessage(Seal(authHeader(), []Payload{&Nonce{Data: []byte{1}}, &Encrypted{Data: []byte{1, 2}}}, c))
	if _, err := nested.Open(c); err == nil || !strings.Contains(err.Error(), "cannot be nested") {
		t.Errorf("nested SK: err = %v", err)
	}

	// Malformed inner payloads give a SyntaxError that says so.
	bad := &Unknown{PayloadType: PayloadKE, Data: []byte{0}}
	m, _ = ParseMessage(Seal(authHeader(), []Payload{bad}, c))
	_, err = m.Open(c)
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "KE payload inside SK") {
		t.Errorf("malformed inner KE: err = %v", err)
	}
}

func TestFragmentsRoundTrip(t *testing.T) {
	c := newGCMCipher(0x42)
	inner := sampleAuthInner()
	inner = append(inner[:1], append([]Payload{&Cert{Encoding: CertX509Signature, Data: bytes.Repeat([]byte{0x5a}, 1500)}}, inner[1:]...)...)
	_, pt := MarshalPayloads(inner)
	const maxLen = 576 - 28
	frags := SealFragments(authHeader(), inner, c, maxLen)
	if len(frags) < 3 {
		t.Fatalf("%d fragments for %d bytes of plaintext", len(frags), len(pt))
	}
	total := 0
	for i, f := range frags {
		if len(f) > maxLen {
			t.Errorf("fragment %d is %d bytes, over %d", i+1, len(f), maxLen)
		}
		if i < len(frags)-1 && len(f) < maxLen-gcmAlign {
			t.Errorf("fragment %d is %d bytes, leaves room in %d", i+1, len(f), maxLen)
		}
		if f[16] != byte(PayloadSKF) || binary.BigEndian.Uint32(f[24:28]) != uint32(len(f)) {
			t.Errorf("fragment %d header: next %d, length %d", i+1, f[16], binary.BigEndian.Uint32(f[24:28]))
		}
		total += len(f)
	}

	// Deliver in a shuffled order and reassemble by fragment number.
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(frags))
	chunks := make([][]byte, len(frags))
	var first PayloadType
	for _, i := range order {
		m, err := ParseMessage(frags[i])
		if err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
		num, tot, next, chunk, err := m.OpenFragment(c)
		if err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
		if int(num) != i+1 || int(tot) != len(frags) {
			t.Fatalf("fragment %d says %d of %d", i+1, num, tot)
		}
		if num == 1 {
			first = next
		} else if next != PayloadNone {
			t.Errorf("fragment %d carries next payload %v", num, next)
		}
		if f := m.Payloads[0].(*EncryptedFragment); f.Number != num || f.Total != tot {
			t.Errorf("payload says %d of %d", f.Number, f.Total)
		}
		chunks[num-1] = chunk
	}
	if first != PayloadIDi {
		t.Errorf("first inner payload %v, want IDi", first)
	}
	if !bytes.Equal(bytes.Join(chunks, nil), pt) {
		t.Errorf("chunks do not rebuild the plaintext")
	}
	got, err := JoinFragments(first, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, inner) {
		t.Errorf("reassembled payloads differ")
	}
}

func TestFragmentEdgeCases(t *testing.T) {
	c := newGCMCipher(0x42)
	// Small enough for one fragment.
	frags := SealFragments(authHeader(), []Payload{&Nonce{Data: seq(20, 0)}}, c, 1280)
	if len(frags) != 1 {
		t.Fatalf("%d fragments, want 1", len(frags))
	}
	m, err := ParseMessage(frags[0])
	if err != nil {
		t.Fatal(err)
	}
	num, tot, next, chunk, err := m.OpenFragment(c)
	if err != nil || num != 1 || tot != 1 || next != PayloadNonce {
		t.Fatalf("OpenFragment = %d %d %v %v", num, tot, next, err)
	}
	if ps, err := JoinFragments(next, [][]byte{chunk}); err != nil || ps[0].(*Nonce).Data[19] != 19 {
		t.Errorf("JoinFragments = %v, %v", ps, err)
	}

	// No inner payloads at all.
	frags = SealFragments(authHeader(), nil, c, 1280)
	if len(frags) != 1 {
		t.Fatalf("%d fragments for empty plaintext", len(frags))
	}

	// The fragment number is authenticated.
	b := bytes.Clone(frags[0])
	binary.BigEndian.PutUint16(b[HeaderLen+6:], 2) // total 1 -> 2
	if m, err := ParseMessage(b); err != nil {
		t.Fatal(err)
	} else if _, _, _, _, err := m.OpenFragment(c); err == nil {
		t.Errorf("changed Total Fragments went unnoticed")
	}

	// OpenFragment needs an SKF payload.
	m, _ = ParseMessage(Seal(authHeader(), nil, c))
	if _, _, _, _, err := m.OpenFragment(c); err == nil || !strings.Contains(err.Error(), "not SKF") {
		t.Errorf("OpenFragment on SK: err = %v", err)
	}

	// A maximum length that cannot hold any plaintext panics.
	defer func() {
		if r := recover(); r == nil {
			t.Errorf("tiny maxLen did not panic")
		}
	}()
	SealFragments(authHeader(), nil, c, HeaderLen+8+c.SealedLen(1)-1)
}

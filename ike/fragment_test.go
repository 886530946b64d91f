package ike

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// TestReassemble feeds fragments out of order, twice, and forged, to the
// reassembly of one SA.
func TestReassemble(t *testing.T) {
	encr := ikecrypto.DefaultIKEProposals()[0].Encr[0]
	key := bytes.Repeat([]byte{7}, encr.KeyLen)
	c, err := encr.NewIKECipher(key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{log: slog.New(slog.DiscardHandler), sas: map[uint64]*ikeSA{}}
	sa := &ikeSA{in: c, out: c, spiI: 1, spiR: 2}
	payloads := []wire.Payload{
		&wire.ID{Kind: wire.PayloadIDi, IDType: wire.ID_FQDN, Data: []byte("alpha.example.com")},
		&wire.Cert{Encoding: wire.CertX509Signature, Data: bytes.Repeat([]byte{0x30}, 3000)},
		&wire.Auth{Method: wire.AuthDigitalSignature, Data: bytes.Repeat([]byte{1}, 300)},
	}
	h := sa.header(wire.IKE_AUTH, 1, false)
	frags := wire.SealFragments(h, payloads, c, 576)
	if len(frags) < 5 {
		t.Fatalf("%d fragments", len(frags))
	}
	feed := func(b []byte) ([]wire.Payload, error) {
		m, err := wire.ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		return p.reassemble(sa, m)
	}
	// A forged fragment (flipped ciphertext byte) is refused, not buffered.
	forged := bytes.Clone(frags[0])
	forged[len(forged)-20] ^= 1
	if _, err := feed(forged); err == nil || errors.Is(err, errFragmentPending) {
		t.Fatalf("forged fragment: %v", err)
	}
	// Last to first, each twice.
	var got []wire.Payload
	for i := len(frags) - 1; i >= 0; i-- {
		for range 2 {
			ps, err := feed(frags[i])
			switch {
			case i > 0 && !errors.Is(err, errFragmentPending):
				t.Fatalf("fragment %d: %v", i+1, err)
			case i == 0 && ps != nil:
				got = ps
			}
		}
	}
	if len(got) != 3 {
		t.Fatalf("reassembled %d payloads", len(got))
	}
	if cert := got[1].(*wire.Cert); len(cert.Data) != 3000 {
		t.Errorf("certificate of %d bytes after reassembly", len(cert.Data))
	}
	// Too many fragments.
	many := wire.SealFragments(sa.header(wire.IKE_AUTH, 2, false),
		[]wire.Payload{&wire.Cert{Encoding: wire.CertX509Signature, Data: make([]byte, 300*maxFragments)}}, c, 300)
	if _, err := feed(many[0]); err == nil || errors.Is(err, errFragmentPending) {
		t.Errorf("%d fragments accepted", len(many))
	}
}

package ike

import (
	"bytes"
	"testing"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// BenchmarkResponderHandshakeCrypto is the cryptography one responder does
// for one IKE SA + CHILD_SA setup with the default suite (X25519,
// PRF-HMAC-SHA2-256, AES-GCM-16-256, PSK), and nothing else: one key share
// generated and the shared secret computed, SKEYSEED and the seven IKE SA
// keys derived, the two SK ciphers set up, the IKE_AUTH request opened and
// the response sealed (bodies of the sizes metro sends), the initiator's
// AUTH verified and ours computed, and the CHILD_SA keying material drawn.
// metro-bench's CPU time per setup is compared against it: the difference
// is the daemon's own cost (parsing, state, kernel calls, logging).
func BenchmarkResponderHandshakeCrypto(b *testing.B) {
	ke := ikecrypto.KEByID(wire.KE_X25519)
	prf := ikecrypto.PRFByID(wire.PRF_HMAC_SHA2_256)
	encr := ikecrypto.EncrByID(wire.ENCR_AES_GCM_16, 256)
	esp := ikecrypto.EncrByID(wire.ENCR_AES_GCM_16, 256)
	peer, err := ke.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	peerPub := peer.Public()
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	psk := []byte("a pre-shared key of reasonable length")
	initReq, initResp := bytes.Repeat([]byte{3}, 144), bytes.Repeat([]byte{4}, 212)
	idBody := []byte{1, 0, 0, 0, 127, 0, 2, 1}
	aad := bytes.Repeat([]byte{5}, 32)
	reqInner, respInner := bytes.Repeat([]byte{6}, 220), bytes.Repeat([]byte{7}, 190)
	buf := make([]byte, 0, 512)
	for b.Loop() {
		// IKE_SA_INIT: key exchange and key derivation.
		share, err := ke.Generate(nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = share.Public()
		gir, err := share.Shared(peerPub)
		if err != nil {
			b.Fatal(err)
		}
		keys := ikecrypto.DeriveIKEKeys(prf, encr, nil, ni, nr, gir, 0x1122334455667788, 0x99aabbccddeeff00)
		ci, err := encr.NewIKECipher(keys.SKei, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		cr, err := encr.NewIKECipher(keys.SKer, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		// IKE_AUTH: the request is opened (the Seal by ci stands for
		// the initiator's, of the same cost as our Open)...
		body := ci.Seal(buf[:0], aad, reqInner)
		if _, err := ci.Open(aad, body); err != nil {
			b.Fatal(err)
		}
		// ...the initiator's AUTH checked, ours computed...
		authI := ikecrypto.PSKAuth(prf, psk, ikecrypto.SignedOctets(prf, initReq, nr, keys.SKpi, idBody))
		authR := ikecrypto.PSKAuth(prf, psk, ikecrypto.SignedOctets(prf, initResp, ni, keys.SKpr, idBody))
		if len(authI) == 0 || len(authR) == 0 {
			b.Fatal("empty AUTH")
		}
		// ...the CHILD_SA keys drawn and the response sealed.
		_ = ikecrypto.ChildKeymat(prf, keys.SKd, nil, ni, nr, 2*esp.KeyLen)
		_ = cr.Seal(buf[:0], aad, respInner)
	}
}

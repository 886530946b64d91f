package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"metro/auth/testca"
	"metro/ike/wire"
)

func TestSignVerifyAuth(t *testing.T) {
	octets := []byte("signed octets of an IKE_SA_INIT message, a nonce and prf(SK_p, ID)")
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	cases := []struct {
		name       string
		key        crypto.Signer
		peerHashes []uint16
		pss        bool
		method     wire.AuthMethod
		scheme     string
	}{
		{"rsa pss", testca.Key(testca.RSA2048, 1), ourSignatureHashes, true, wire.AuthDigitalSignature, "RSASSA-PSS SHA-256"},
		{"rsa pkcs1", testca.Key(testca.RSA2048, 1), ourSignatureHashes, false, wire.AuthDigitalSignature, "RSA PKCS#1 v1.5 SHA-256"},
		{"rsa pkcs1 sha512 only", testca.Key(testca.RSA2048, 1), []uint16{hashSHA2_512}, false, wire.AuthDigitalSignature, "RSA PKCS#1 v1.5 SHA-512"},
		{"rsa legacy", testca.Key(testca.RSA2048, 1), nil, true, wire.AuthRSASig, "method 1"},
		{"p256", testca.Key(testca.ECDSAP256, 1), ourSignatureHashes, false, wire.AuthDigitalSignature, "ECDSA SHA-256"},
		{"p384", testca.Key(testca.ECDSAP384, 1), ourSignatureHashes, false, wire.AuthDigitalSignature, "ECDSA SHA-384"},
		{"p256 legacy", testca.Key(testca.ECDSAP256, 1), nil, false, wire.AuthECDSA256, "method 9"},
		{"p384 legacy", testca.Key(testca.ECDSAP384, 1), nil, false, wire.AuthECDSA384, "method 10"},
		{"p521 legacy", p521, nil, false, wire.AuthECDSA521, "method 11"},
		{"ed25519", testca.Key(testca.Ed25519, 1), ourSignatureHashes, false, wire.AuthDigitalSignature, "Ed25519"},
	}
	for _, c := range cases {
		a, err := signAuth(c.key, octets, c.peerHashes, c.pss)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if a.Method != c.method {
			t.Errorf("%s: method %d, want %d", c.name, a.Method, c.method)
		}
		scheme, err := verifyAuth(c.key.Public(), a, octets)
		if err != nil || !strings.Contains(scheme, c.scheme) {
			t.Errorf("%s: verify = %q, %v; want %q", c.name, scheme, err, c.scheme)
		}
		if _, err := verifyAuth(c.key.Public(), a, append([]byte("x"), octets...)); err == nil {
			t.Errorf("%s: signature verifies over other octets", c.name)
		}
		other := testca.Key(testca.ECDSAP256, 2)
		if _, err := verifyAuth(other.Public(), a, octets); err == nil {
			t.Errorf("%s: signature verifies with another key", c.name)
		}
	}
	if _, err := signAuth(testca.Key(testca.Ed25519, 1), octets, []uint16{hashSHA2_256}, false); err == nil {
		t.Error("Ed25519 signed for a peer without the Identity hash")
	}
	psk := &wire.Auth{Method: wire.AuthSharedKeyMIC, Data: make([]byte, 32)}
	if _, err := verifyAuth(testca.Key(testca.ECDSAP256, 1).Public(), psk, octets); err == nil || !strings.Contains(err.Error(), "signature method") {
		t.Errorf("PSK AUTH accepted for a certificate peer: %v", err)
	}
}

func TestParseAlgorithmIdentifierRejects(t *testing.T) {
	for _, b := range [][]byte{
		{0x30, 0x03, 0x06, 0x01, 0x00},                         // unknown OID
		{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7}, // truncated
		// sha1WithRSAEncryption: not announced, not accepted.
		{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00},
	} {
		if s, err := parseAlgorithmIdentifier(b); err == nil {
			t.Errorf("% x parsed as %q", b, s.name)
		}
	}
}

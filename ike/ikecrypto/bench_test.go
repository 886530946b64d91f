package ikecrypto

import (
	"fmt"
	"testing"

	"metro/ike/wire"
)

// BenchmarkX25519 is one side of a key exchange: generate a share and
// compute the shared secret with the peer's public value.
func BenchmarkX25519(b *testing.B) {
	k := KEByID(wire.KE_X25519)
	peer, err := k.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	pub := peer.Public()
	for b.Loop() {
		s, err := k.Generate(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Shared(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMODP2048(b *testing.B) {
	k := KEByID(wire.KE_MODP2048)
	peer, err := k.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	pub := peer.Public()
	for b.Loop() {
		s, err := k.Generate(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Shared(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveIKEKeys derives the keys of an IKE SA with the default
// suite (prfsha256, aes256gcm16, 32-byte nonces, X25519 secret).
func BenchmarkDeriveIKEKeys(b *testing.B) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	e := EncrByID(wire.ENCR_AES_GCM_16, 256)
	ni, nr, gir := repeat(1, 32), repeat(2, 32), repeat(3, 32)
	for b.Loop() {
		DeriveIKEKeys(p, e, nil, ni, nr, gir, 0x1122334455667788, 0x99aabbccddeeff00)
	}
}

func benchSealOpen(b *testing.B, c cipherCase) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			ciph := newTestCipher(b, c)
			pt := repeat(0x42, size)
			buf := make([]byte, 0, 28+4+ciph.SealedLen(size))
			b.SetBytes(int64(size))
			for b.Loop() {
				body := ciph.Seal(buf[:0], testAAD, pt)
				if _, err := ciph.Open(testAAD, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealOpenGCM seals and opens one SK payload with aes256gcm16.
func BenchmarkSealOpenGCM(b *testing.B) {
	benchSealOpen(b, cipherCase{"aes256gcm16", EncrByID(wire.ENCR_AES_GCM_16, 256), nil})
}

func BenchmarkSealOpenCBC(b *testing.B) {
	benchSealOpen(b, cipherCase{"aes256-sha256", EncrByID(wire.ENCR_AES_CBC, 256), IntegByID(wire.AUTH_HMAC_SHA2_256_128)})
}

package ikecrypto

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// aeadIVLen is the explicit IV carried in every SK payload of an AEAD cipher
// (RFC 5282 3.1, RFC 7634 2).
const aeadIVLen = 8

// aeadCipher is the SK payload protection of RFC 5282 (AES-GCM) and RFC 7634
// (ChaCha20-Poly1305): nonce = salt(4) || IV(8), associated data = IKE header
// and SK payload header, no padding beyond the pad-length byte on seal.
type aeadCipher struct {
	aead cipher.AEAD
	salt [saltLen]byte
	// counter yields the explicit IVs. It starts at a random value and only
	// ever increments, so an IV never repeats under one key for 2^64 messages.
	counter atomic.Uint64
}

func newAEADCipher(aead cipher.AEAD, salt []byte) (*aeadCipher, error) {
	if aead.NonceSize() != saltLen+aeadIVLen {
		return nil, fmt.Errorf("ikecrypto: AEAD nonce is %d bytes, want %d", aead.NonceSize(), saltLen+aeadIVLen)
	}
	c := &aeadCipher{aead: aead}
	copy(c.salt[:], salt)
	var start [8]byte
	if _, err := rand.Read(start[:]); err != nil {
		return nil, fmt.Errorf("ikecrypto: seeding IV counter: %w", err)
	}
	c.counter.Store(binary.BigEndian.Uint64(start[:]))
	return c, nil
}

func (c *aeadCipher) SealedLen(n int) int {
	return aeadIVLen + n + 1 + c.aead.Overhead()
}

func (c *aeadCipher) Seal(dst, aad, plaintext []byte) []byte {
	n := len(plaintext)
	ret, out := sliceForAppend(dst, c.SealedLen(n))
	iv := out[:aeadIVLen]
	binary.BigEndian.PutUint64(iv, c.counter.Add(1))
	inner := out[aeadIVLen : aeadIVLen+n+1]
	copy(inner, plaintext)
	inner[n] = 0 // pad length: no padding (RFC 5282 3.2 allows it)
	var nonce [saltLen + aeadIVLen]byte
	copy(nonce[:], c.salt[:])
	copy(nonce[saltLen:], iv)
	c.aead.Seal(inner[:0], nonce[:], inner, aad)
	return ret
}

func (c *aeadCipher) Open(aad, body []byte) ([]byte, error) {
	if len(body) < aeadIVLen+1+c.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrShortBody, len(body), aeadIVLen+1+c.aead.Overhead())
	}
	var nonce [saltLen + aeadIVLen]byte
	copy(nonce[:], c.salt[:])
	copy(nonce[saltLen:], body[:aeadIVLen])
	pt, err := c.aead.Open(nil, nonce[:], body[aeadIVLen:], aad)
	if err != nil {
		return nil, ErrAuth
	}
	return stripPadding(pt)
}

// stripPadding removes the padding and pad-length byte that end the
// decrypted SK payload (RFC 7296 3.14). Any padding length is accepted.
func stripPadding(pt []byte) ([]byte, error) {
	if len(pt) == 0 {
		return nil, ErrShortBody
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, fmt.Errorf("%w: pad length %d, %d bytes decrypted", ErrPadding, pad, len(pt))
	}
	return pt[: len(pt)-1-pad : len(pt)-1-pad], nil
}

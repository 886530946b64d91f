package ikecrypto

import (
	"bytes"
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
//
// It keeps the key, not the AEAD: an IKE SA protects a handful of messages
// in its life (IKE_AUTH, then liveness checks, rekeys, deletes), while an
// AES-GCM instance with its key schedule and GHASH table is about 1 KiB a
// direction, held for hours by every IKE SA and marked by the garbage
// collector at every cycle. Building it per message costs well under a
// microsecond next to the message's own handling.
type aeadCipher struct {
	build    func(key []byte) (cipher.AEAD, error)
	key      []byte
	overhead int
	salt     [saltLen]byte
	// counter yields the explicit IVs. It starts at a random value and only
	// ever increments, so an IV never repeats under one key for 2^64 messages.
	counter atomic.Uint64
}

// newAEADCipher returns the cipher that builds its AEAD with build for each
// message. The key's length was checked against the transform; the AEADs
// metro uses all take a 12-byte nonce and add a 16-byte ICV
// (TestAEADShapes).
func newAEADCipher(build func(key []byte) (cipher.AEAD, error), key, salt []byte) (*aeadCipher, error) {
	c := &aeadCipher{build: build, key: bytes.Clone(key), overhead: aeadICVLen}
	copy(c.salt[:], salt)
	var start [8]byte
	if _, err := rand.Read(start[:]); err != nil {
		return nil, fmt.Errorf("ikecrypto: seeding IV counter: %w", err)
	}
	c.counter.Store(binary.BigEndian.Uint64(start[:]))
	return c, nil
}

// aeadICVLen is the integrity check value of AES-GCM-16 and
// ChaCha20-Poly1305.
const aeadICVLen = 16

// aead builds the AEAD; the key was accepted once, so it cannot fail.
func (c *aeadCipher) aead() cipher.AEAD {
	a, err := c.build(c.key)
	if err != nil {
		panic("ikecrypto: an accepted AEAD key was refused: " + err.Error())
	}
	return a
}

func (c *aeadCipher) SealedLen(n int) int {
	return aeadIVLen + n + 1 + c.overhead
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
	c.aead().Seal(inner[:0], nonce[:], inner, aad)
	return ret
}

func (c *aeadCipher) Open(aad, body []byte) ([]byte, error) {
	if len(body) < aeadIVLen+1+c.overhead {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrShortBody, len(body), aeadIVLen+1+c.overhead)
	}
	var nonce [saltLen + aeadIVLen]byte
	copy(nonce[:], c.salt[:])
	copy(nonce[saltLen:], body[:aeadIVLen])
	pt, err := c.aead().Open(nil, nonce[:], body[aeadIVLen:], aad)
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

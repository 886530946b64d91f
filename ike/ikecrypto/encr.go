package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"metro/ike/wire"
)

// Encr is an encryption algorithm transform (RFC 7296 3.3.2, transform type
// 1) together with what the kernel needs to run it in ESP.
type Encr struct {
	ID uint16 // IANA transform ID
	// KeyBits is the value of the Key Length attribute (RFC 7296 3.3.5), or 0
	// for a transform that must be sent without one (ChaCha20-Poly1305, RFC
	// 7634 2).
	KeyBits int
	Name    string // strongSwan proposal token, e.g. "aes256gcm16", "aes128", "chacha20poly1305"
	AEAD    bool   // combined mode: no integrity transform
	// KeyLen is the number of bytes taken from prf+ for one key: for AES-GCM
	// the AES key plus a 4-byte salt (RFC 5282 7.1, RFC 4106 8.1), for
	// ChaCha20-Poly1305 the 32-byte key plus a 4-byte salt (RFC 7634 2).
	KeyLen  int
	Kernel  string // kernel ESP algorithm name: "rfc4106(gcm(aes))", "rfc7539esp(chacha20,poly1305)", "cbc(aes)"
	ICVBits int    // AEAD ICV length in bits; 0 for non-AEAD ciphers
}

// saltLen is the length of the implicit nonce part of the AEAD ciphers
// (RFC 5282 4, RFC 7634 2).
const saltLen = 4

var encrs = []*Encr{
	{ID: wire.ENCR_AES_GCM_16, KeyBits: 128, Name: "aes128gcm16", AEAD: true, KeyLen: 16 + saltLen,
		Kernel: "rfc4106(gcm(aes))", ICVBits: 128},
	{ID: wire.ENCR_AES_GCM_16, KeyBits: 256, Name: "aes256gcm16", AEAD: true, KeyLen: 32 + saltLen,
		Kernel: "rfc4106(gcm(aes))", ICVBits: 128},
	{ID: wire.ENCR_CHACHA20_POLY1305, KeyBits: 0, Name: "chacha20poly1305", AEAD: true,
		KeyLen: chacha20poly1305.KeySize + saltLen, Kernel: "rfc7539esp(chacha20,poly1305)", ICVBits: 128},
	{ID: wire.ENCR_AES_CBC, KeyBits: 128, Name: "aes128", KeyLen: 16, Kernel: "cbc(aes)"},
	{ID: wire.ENCR_AES_CBC, KeyBits: 256, Name: "aes256", KeyLen: 32, Kernel: "cbc(aes)"},
}

// EncrByID returns the encryption algorithm with IANA transform ID id and Key
// Length attribute keyBits (0 when the transform carries none), or nil when
// metro does not support the pair. AES requires a key length;
// ChaCha20-Poly1305 forbids one.
func EncrByID(id uint16, keyBits int) *Encr {
	for _, e := range encrs {
		if e.ID == id && e.KeyBits == keyBits {
			return e
		}
	}
	return nil
}

func (e *Encr) String() string { return e.Name }

// NewIKECipher returns the Cipher protecting SK payloads in one direction of
// an IKE SA: encKey is SK_ei or SK_er (KeyLen bytes), integKey SK_ai or SK_ar.
// integ must be nil and integKey empty for an AEAD cipher; both are required
// for the others. The keys are copied into the cipher state.
func (e *Encr) NewIKECipher(encKey []byte, integ *Integ, integKey []byte) (Cipher, error) {
	if len(encKey) != e.KeyLen {
		return nil, fmt.Errorf("ikecrypto: %s: encryption key is %d bytes, want %d", e.Name, len(encKey), e.KeyLen)
	}
	if e.AEAD {
		if integ != nil || len(integKey) != 0 {
			return nil, fmt.Errorf("ikecrypto: %s is an AEAD cipher and takes no integrity algorithm", e.Name)
		}
		return e.newAEAD(encKey)
	}
	if integ == nil {
		return nil, fmt.Errorf("ikecrypto: %s needs an integrity algorithm", e.Name)
	}
	if len(integKey) != integ.KeyLen {
		return nil, fmt.Errorf("ikecrypto: %s: integrity key is %d bytes, want %d", integ.Name, len(integKey), integ.KeyLen)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("ikecrypto: %s: %w", e.Name, err)
	}
	return newCBCHMAC(block, integ, integKey), nil
}

func (e *Encr) newAEAD(encKey []byte) (Cipher, error) {
	key, salt := encKey[:len(encKey)-saltLen], encKey[len(encKey)-saltLen:]
	var build func(key []byte) (cipher.AEAD, error)
	switch e.ID {
	case wire.ENCR_AES_GCM_16:
		build = newAESGCM
	case wire.ENCR_CHACHA20_POLY1305:
		build = chacha20poly1305.New
	default:
		return nil, fmt.Errorf("ikecrypto: %s: no AEAD construction for transform %d", e.Name, e.ID)
	}
	c, err := newAEADCipher(build, key, salt)
	if err != nil {
		return nil, fmt.Errorf("ikecrypto: %s: %w", e.Name, err)
	}
	return c, nil
}

// newAESGCM is AES-GCM with the 16-byte ICV of ENCR_AES_GCM_16.
func newAESGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

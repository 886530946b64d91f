package ikecrypto

import (
	"errors"

	"metro/ike/wire"
)

// Cipher protects the body of an Encrypted (SK) or Encrypted Fragment (SKF)
// payload with the keys of one direction of an IKE SA; it is wire.Cipher, the
// interface the codec seals and opens through.
//
// The ciphers returned by Encr.NewIKECipher are safe for concurrent use. For
// AEAD ciphers (RFC 5282, RFC 7634) aad is the associated data; for AES-CBC
// the ICV is the truncated HMAC of aad || IV || ciphertext (RFC 7296 3.14).
// Seal needs aad and plaintext outside dst's spare capacity; Open returns the
// inner payloads in a new slice and leaves body untouched.
type Cipher = wire.Cipher

// Errors returned by Cipher.Open. They say why without echoing any byte of
// the message.
var (
	// ErrShortBody: the body cannot hold IV, one cipher block or the
	// pad-length byte, and ICV.
	ErrShortBody = errors.New("ikecrypto: encrypted payload too short")
	// ErrAuth: the integrity check value does not verify.
	ErrAuth = errors.New("ikecrypto: integrity check failed")
	// ErrBlockSize: a CBC ciphertext is not a whole number of blocks.
	ErrBlockSize = errors.New("ikecrypto: ciphertext is not a multiple of the block size")
	// ErrPadding: the pad-length byte exceeds the decrypted length.
	ErrPadding = errors.New("ikecrypto: pad length exceeds decrypted payload")
)

// sliceForAppend extends in by n bytes, reusing its capacity when it can, and
// returns the whole slice and the n new bytes (as crypto/cipher does).
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

var (
	_ Cipher = (*aeadCipher)(nil)
	_ Cipher = (*cbcHMAC)(nil)
)

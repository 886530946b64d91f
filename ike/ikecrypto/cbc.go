package ikecrypto

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
)

// cbcHMAC is the SK payload protection of RFC 7296 3.14 with a block cipher
// in CBC mode (RFC 3602) and a truncated HMAC over aad || IV || ciphertext.
type cbcHMAC struct {
	block    cipher.Block
	integ    *Integ
	integKey []byte
}

func newCBCHMAC(block cipher.Block, integ *Integ, integKey []byte) *cbcHMAC {
	return &cbcHMAC{block: block, integ: integ, integKey: append([]byte(nil), integKey...)}
}

func (c *cbcHMAC) padLen(n int) int {
	bs := c.block.BlockSize()
	return (bs - (n+1)%bs) % bs
}

func (c *cbcHMAC) SealedLen(n int) int {
	bs := c.block.BlockSize()
	return bs + n + c.padLen(n) + 1 + c.integ.TruncLen
}

func (c *cbcHMAC) icv(aad, ivct []byte) []byte {
	m := hmac.New(c.integ.hash, c.integKey)
	m.Write(aad)
	m.Write(ivct)
	return m.Sum(nil)[:c.integ.TruncLen]
}

func (c *cbcHMAC) Seal(dst, aad, plaintext []byte) []byte {
	bs := c.block.BlockSize()
	n, pad := len(plaintext), c.padLen(len(plaintext))
	ret, out := sliceForAppend(dst, c.SealedLen(n))
	iv := out[:bs]
	ct := out[bs : bs+n+pad+1]
	copy(ct, plaintext)
	clear(ct[n : n+pad]) // RFC 7296 3.14: padding may hold any value
	ct[n+pad] = byte(pad)
	if _, err := rand.Read(iv); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+).
		panic("ikecrypto: reading random IV: " + err.Error())
	}
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, ct)
	copy(out[bs+len(ct):], c.icv(aad, out[:bs+len(ct)]))
	return ret
}

func (c *cbcHMAC) Open(aad, body []byte) ([]byte, error) {
	bs, icvLen := c.block.BlockSize(), c.integ.TruncLen
	if len(body) < bs+bs+icvLen {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrShortBody, len(body), bs+bs+icvLen)
	}
	ivct, icv := body[:len(body)-icvLen], body[len(body)-icvLen:]
	if !hmac.Equal(c.icv(aad, ivct), icv) {
		return nil, ErrAuth
	}
	ct := ivct[bs:]
	if len(ct)%bs != 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBlockSize, len(ct))
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, ivct[:bs]).CryptBlocks(pt, ct)
	return stripPadding(pt)
}

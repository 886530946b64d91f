package ikecrypto

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"metro/ike/wire"
)

// Integ is an integrity algorithm transform (RFC 7296 3.3.2, transform type
// 3): an HMAC-SHA2 truncated to half its output (RFC 4868).
type Integ struct {
	ID       uint16 // IANA transform ID
	Name     string // strongSwan proposal token, e.g. "sha256" for HMAC-SHA2-256-128
	KeyLen   int    // key length in bytes (SK_ai, SK_ar and the ESP integrity keys)
	TruncLen int    // ICV length in bytes
	Kernel   string // kernel ESP algorithm name, e.g. "hmac(sha256)"

	hash func() hash.Hash
	prf  uint16 // PRF implied when an IKE proposal names none (strongSwan rule)
}

var integs = []*Integ{
	{ID: wire.AUTH_HMAC_SHA2_256_128, Name: "sha256", KeyLen: 32, TruncLen: 16, Kernel: "hmac(sha256)",
		hash: sha256.New, prf: wire.PRF_HMAC_SHA2_256},
	{ID: wire.AUTH_HMAC_SHA2_384_192, Name: "sha384", KeyLen: 48, TruncLen: 24, Kernel: "hmac(sha384)",
		hash: sha512.New384, prf: wire.PRF_HMAC_SHA2_384},
	{ID: wire.AUTH_HMAC_SHA2_512_256, Name: "sha512", KeyLen: 64, TruncLen: 32, Kernel: "hmac(sha512)",
		hash: sha512.New, prf: wire.PRF_HMAC_SHA2_512},
}

// IntegByID returns the integrity algorithm with IANA transform ID id, or nil
// when metro does not support it (including AUTH_NONE).
func IntegByID(id uint16) *Integ {
	for _, i := range integs {
		if i.ID == id {
			return i
		}
	}
	return nil
}

func (i *Integ) String() string { return i.Name }

// TruncBits is the ICV length in bits, as the kernel wants it.
func (i *Integ) TruncBits() int { return i.TruncLen * 8 }

// PRF is the PRF built on the same hash, which strongSwan implies for an IKE
// proposal that names an integrity algorithm but no PRF.
func (i *Integ) PRF() *PRF { return PRFByID(i.prf) }

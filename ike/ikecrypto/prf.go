package ikecrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"metro/ike/wire"
)

// PRF is a pseudorandom function transform (RFC 7296 3.3.2, transform type 2).
// All PRFs metro supports are HMACs (RFC 4868), whose preferred key length
// and output length are both Size.
type PRF struct {
	ID   uint16 // IANA transform ID
	Name string // strongSwan proposal token, e.g. "prfsha256"
	Size int    // output length and preferred key length in bytes

	hash func() hash.Hash
}

var prfs = []*PRF{
	{ID: wire.PRF_HMAC_SHA2_256, Name: "prfsha256", Size: sha256.Size, hash: sha256.New},
	{ID: wire.PRF_HMAC_SHA2_384, Name: "prfsha384", Size: sha512.Size384, hash: sha512.New384},
	{ID: wire.PRF_HMAC_SHA2_512, Name: "prfsha512", Size: sha512.Size, hash: sha512.New},
}

// PRFByID returns the PRF with IANA transform ID id, or nil when metro does
// not support it.
func PRFByID(id uint16) *PRF {
	for _, p := range prfs {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func (p *PRF) String() string { return p.Name }

// Compute returns prf(key, data[0] | data[1] | ...).
func (p *PRF) Compute(key []byte, data ...[]byte) []byte {
	m := hmac.New(p.hash, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(make([]byte, 0, p.Size))
}

// MaxPlus is the most prf+ can produce with this PRF: 255 blocks, because the
// block counter is a single octet (RFC 7296 2.13).
func (p *PRF) MaxPlus() int { return 255 * p.Size }

// Plus returns the first n bytes of prf+(key, seed) (RFC 7296 2.13):
//
//	T1 = prf(K, S | 0x01), Tk = prf(K, Tk-1 | S | k), prf+ = T1 | T2 | ...
//
// It panics when n is negative or larger than MaxPlus, a programming error
// since every key length in the transform tables is far below that limit.
func (p *PRF) Plus(key, seed []byte, n int) []byte {
	if n < 0 || n > p.MaxPlus() {
		panic(fmt.Sprintf("ikecrypto: prf+ of %d bytes with %s (limit %d)", n, p.Name, p.MaxPlus()))
	}
	out := make([]byte, 0, n+p.Size)
	m := hmac.New(p.hash, key)
	var prev []byte
	for k := 1; len(out) < n; k++ {
		m.Reset()
		m.Write(prev)
		m.Write(seed)
		m.Write([]byte{byte(k)})
		start := len(out)
		out = m.Sum(out)
		prev = out[start:]
	}
	return out[:n:n]
}

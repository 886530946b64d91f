package ikecrypto

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"sync"

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
	macs sync.Pool // *hmacState, reused across calls
}

var prfs = []*PRF{
	{ID: wire.PRF_HMAC_SHA2_256, Name: "prfsha256", Size: sha256.Size, hash: sha256.New},
	{ID: wire.PRF_HMAC_SHA2_384, Name: "prfsha384", Size: sha512.Size384, hash: sha512.New384},
	{ID: wire.PRF_HMAC_SHA2_512, Name: "prfsha512", Size: sha512.Size, hash: sha512.New},
}

// hmacState is HMAC (RFC 2104) over two reusable digests. A handshake
// computes about ten PRFs under as many keys; crypto/hmac.New allocates
// two digests and their saved pad states for each, garbage the collector
// of a busy responder then pays for. The pads hold key material and are
// wiped when the state goes back to the pool.
type hmacState struct {
	inner, outer hash.Hash
	ipad, opad   [sha512.BlockSize]byte
	sum          [sha512.Size]byte
}

// mac returns an HMAC state keyed with key, ready for the message.
func (p *PRF) mac(key []byte) *hmacState {
	m, _ := p.macs.Get().(*hmacState)
	if m == nil {
		m = &hmacState{inner: p.hash(), outer: p.hash()}
	}
	block := m.inner.BlockSize()
	if len(key) > block {
		// Keys longer than a block are hashed first (RFC 2104 2).
		m.outer.Reset()
		m.outer.Write(key)
		key = m.outer.Sum(m.sum[:0])
	}
	ipad, opad := m.ipad[:block], m.opad[:block]
	n := copy(ipad, key)
	clear(ipad[n:])
	copy(opad, ipad)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	m.inner.Reset()
	m.inner.Write(ipad)
	return m
}

// restart begins a new message under the same key.
func (m *hmacState) restart() {
	m.inner.Reset()
	m.inner.Write(m.ipad[:m.inner.BlockSize()])
}

// appendSum appends the MAC of what was written since the key was set.
func (m *hmacState) appendSum(out []byte) []byte {
	in := m.inner.Sum(m.sum[:0])
	m.outer.Reset()
	m.outer.Write(m.opad[:m.outer.BlockSize()])
	m.outer.Write(in)
	return m.outer.Sum(out)
}

// release wipes the key material and returns m to p's pool.
func (p *PRF) release(m *hmacState) {
	clear(m.ipad[:])
	clear(m.opad[:])
	clear(m.sum[:])
	m.inner.Reset()
	m.outer.Reset()
	p.macs.Put(m)
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
	m := p.mac(key)
	for _, d := range data {
		m.inner.Write(d)
	}
	out := m.appendSum(make([]byte, 0, p.Size))
	p.release(m)
	return out
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
	m := p.mac(key)
	var prev []byte
	for k := 1; len(out) < n; k++ {
		if k > 1 {
			m.restart()
		}
		m.inner.Write(prev)
		m.inner.Write(seed)
		m.inner.Write([]byte{byte(k)})
		start := len(out)
		out = m.appendSum(out)
		prev = out[start:]
	}
	p.release(m)
	return out[:n:n]
}

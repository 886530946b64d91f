package ikecrypto

import (
	"fmt"
	"io"
	"math/big"
)

// modpExponentBits is the length of the secret exponent of the MODP groups.
// It is at least twice the strength RFC 3526 8 gives the largest group
// (modp4096: 150-240 bits), so it is never the weak point.
const modpExponentBits = 512

// modpGroup is a MODP group with generator 2 over a safe prime (RFC 3526).
type modpGroup struct {
	p, pMinus1 *big.Int
	size       int // bytes of p
}

func newMODPGroup(hexPrime string) *modpGroup {
	p, ok := new(big.Int).SetString(hexPrime, 16)
	if !ok {
		panic("ikecrypto: bad MODP prime constant")
	}
	return &modpGroup{p: p, pMinus1: new(big.Int).Sub(p, big.NewInt(1)), size: (p.BitLen() + 7) / 8}
}

var two = big.NewInt(2)

func (g *modpGroup) generate(k *KE, r io.Reader) (KeyShare, error) {
	buf := make([]byte, modpExponentBits/8)
	defer clear(buf)
	for {
		if _, err := io.ReadFull(randOrDefault(r), buf); err != nil {
			return nil, fmt.Errorf("ikecrypto: %s: reading secret exponent: %w", k.Name, err)
		}
		x := new(big.Int).SetBytes(buf)
		if x.Cmp(two) >= 0 {
			return g.share(k, x), nil
		}
	}
}

// share builds the key pair with secret exponent x.
func (g *modpGroup) share(k *KE, x *big.Int) *modpShare {
	y := new(big.Int).Exp(two, x, g.p)
	return &modpShare{ke: k, g: g, x: x, pub: y.FillBytes(make([]byte, g.size))}
}

// modpShare is a key pair in a MODP group. math/big is not constant time;
// the exponent is ephemeral and used for one exchange only.
type modpShare struct {
	ke  *KE
	g   *modpGroup
	x   *big.Int
	pub []byte
}

func (s *modpShare) Group() uint16  { return s.ke.ID }
func (s *modpShare) Public() []byte { return append([]byte(nil), s.pub...) }

func (s *modpShare) Shared(peer []byte) ([]byte, error) {
	if len(peer) != s.g.size {
		return nil, fmt.Errorf("ikecrypto: %s: peer public value is %d bytes, want %d", s.ke.Name, len(peer), s.g.size)
	}
	y := new(big.Int).SetBytes(peer)
	// 1 < y < p-1 excludes the elements of order 1 and 2 (NIST SP 800-56A
	// 5.6.2.3.1); the others generate a subgroup of order q or 2q.
	if y.Cmp(two) < 0 || y.Cmp(s.g.pMinus1) >= 0 {
		return nil, fmt.Errorf("ikecrypto: %s: peer public value is out of range (must be 1 < y < p-1)", s.ke.Name)
	}
	z := new(big.Int).Exp(y, s.x, s.g.p)
	return z.FillBytes(make([]byte, s.g.size)), nil
}

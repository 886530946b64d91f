package ikecrypto

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"io"

	"metro/ike/wire"
)

// KE is a key exchange method (Diffie-Hellman group) transform (RFC 7296
// 3.3.2, transform type 4).
type KE struct {
	ID   uint16 // IANA transform ID (the DH Group Num of the KE payload)
	Name string // strongSwan proposal token: "x25519", "ecp256", "ecp384", "modp2048", ...
	// PublicLen is the length of the Key Exchange Data of a KE payload for
	// this group, and of the shared secret for the MODP groups.
	PublicLen int

	curve ecdh.Curve // X25519 and the NIST curves
	modp  *modpGroup // MODP groups
}

var kes = []*KE{
	{ID: wire.KE_X25519, Name: "x25519", PublicLen: 32, curve: ecdh.X25519()},
	{ID: wire.KE_ECP256, Name: "ecp256", PublicLen: 64, curve: ecdh.P256()},
	{ID: wire.KE_ECP384, Name: "ecp384", PublicLen: 96, curve: ecdh.P384()},
	{ID: wire.KE_MODP2048, Name: "modp2048", PublicLen: 256, modp: newMODPGroup(modp2048Hex)},
	{ID: wire.KE_MODP3072, Name: "modp3072", PublicLen: 384, modp: newMODPGroup(modp3072Hex)},
	{ID: wire.KE_MODP4096, Name: "modp4096", PublicLen: 512, modp: newMODPGroup(modp4096Hex)},
}

// KEByID returns the key exchange method with IANA transform ID id, or nil
// when metro does not support it.
func KEByID(id uint16) *KE {
	for _, k := range kes {
		if k.ID == id {
			return k
		}
	}
	return nil
}

func (k *KE) String() string { return k.Name }

// KeyShare is one side's ephemeral key pair of a key exchange.
type KeyShare interface {
	// Group is the IANA transform ID of the key exchange method.
	Group() uint16
	// Public is the Key Exchange Data to send in a KE payload: for X25519
	// the 32-byte u-coordinate (RFC 8031), for ECP groups x || y without a
	// point-format prefix (RFC 5903 7), for MODP groups g^x mod p
	// left-padded with zeros to the length of the prime (RFC 7296 3.4).
	Public() []byte
	// Shared validates the peer's Key Exchange Data and returns the shared
	// secret g^ir: for X25519 the 32-byte output (RFC 8031), for ECP groups
	// the x coordinate (RFC 5903 7), for MODP groups the value left-padded
	// to the length of the prime.
	Shared(peerPublic []byte) ([]byte, error)
}

// Generate returns a fresh key pair for the group. For the MODP groups the
// secret exponent is read from rand (crypto/rand when nil); for the elliptic
// curve groups crypto/ecdh always uses a secure source since Go 1.26 and
// rand is ignored (unless GODEBUG=cryptocustomrand=1).
func (k *KE) Generate(rand io.Reader) (KeyShare, error) {
	if k.modp != nil {
		return k.modp.generate(k, rand)
	}
	priv, err := k.curve.GenerateKey(randOrDefault(rand))
	if err != nil {
		return nil, fmt.Errorf("ikecrypto: %s: generating key: %w", k.Name, err)
	}
	return newECDHShare(k, priv), nil
}

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// ecdhShare is a key pair on X25519 (RFC 8031) or a NIST curve (RFC 5903).
type ecdhShare struct {
	ke   *KE
	priv *ecdh.PrivateKey
	pub  []byte
}

func newECDHShare(k *KE, priv *ecdh.PrivateKey) *ecdhShare {
	pub := priv.PublicKey().Bytes()
	if k.ID != wire.KE_X25519 {
		pub = pub[1:] // drop the uncompressed point prefix 0x04: RFC 5903 sends x || y
	}
	return &ecdhShare{ke: k, priv: priv, pub: pub}
}

func (s *ecdhShare) Group() uint16  { return s.ke.ID }
func (s *ecdhShare) Public() []byte { return append([]byte(nil), s.pub...) }

func (s *ecdhShare) Shared(peer []byte) ([]byte, error) {
	if len(peer) != s.ke.PublicLen {
		return nil, fmt.Errorf("ikecrypto: %s: peer public value is %d bytes, want %d", s.ke.Name, len(peer), s.ke.PublicLen)
	}
	enc := peer
	if s.ke.ID != wire.KE_X25519 {
		enc = append([]byte{4}, peer...)
	}
	pub, err := s.ke.curve.NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("ikecrypto: %s: peer public value is not a point on the curve", s.ke.Name)
	}
	secret, err := s.priv.ECDH(pub)
	if err != nil {
		// X25519: the peer sent a low-order point and the result is zero.
		return nil, fmt.Errorf("ikecrypto: %s: peer public value yields no shared secret", s.ke.Name)
	}
	return secret, nil
}

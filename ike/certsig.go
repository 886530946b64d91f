package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"

	_ "crypto/sha1" // RSA Digital Signature (method 1) of older peers
	_ "crypto/sha256"
	_ "crypto/sha512"

	"metro/ike/wire"
)

// Hash algorithms of the SIGNATURE_HASH_ALGORITHMS notification (RFC 7427
// section 4, IANA "IKEv2 Hash Algorithms"; Identity is RFC 8420's, for
// Ed25519).
const (
	hashSHA1     uint16 = 1
	hashSHA2_256 uint16 = 2
	hashSHA2_384 uint16 = 3
	hashSHA2_512 uint16 = 4
	hashIdentity uint16 = 5
)

// ourSignatureHashes are the hash algorithms we announce and accept in
// Digital Signature AUTH payloads. SHA-1 is not among them.
var ourSignatureHashes = []uint16{hashSHA2_256, hashSHA2_384, hashSHA2_512, hashIdentity}

// signatureHashesNotify is our SIGNATURE_HASH_ALGORITHMS notification.
func signatureHashesNotify() *wire.Notify {
	var b []byte
	for _, h := range ourSignatureHashes {
		b = binary.BigEndian.AppendUint16(b, h)
	}
	return &wire.Notify{NotifyType: wire.SIGNATURE_HASH_ALGORITHMS, Data: b}
}

// parseSignatureHashes reads a SIGNATURE_HASH_ALGORITHMS notification.
func parseSignatureHashes(n *wire.Notify) []uint16 {
	out := []uint16{}
	for i := 0; i+1 < len(n.Data); i += 2 {
		out = append(out, binary.BigEndian.Uint16(n.Data[i:]))
	}
	return out
}

// Object identifiers of the signature schemes (RFC 7427 appendix A).
var (
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// pssParams is RSASSA-PSS-params (RFC 4055 3.1).
type pssParams struct {
	Hash         pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF          pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	SaltLength   int                      `asn1:"optional,explicit,tag:2,default:20"`
	TrailerField int                      `asn1:"optional,explicit,tag:3,default:1"`
}

// sigScheme is one signature algorithm of a Digital Signature AUTH payload.
type sigScheme struct {
	name string
	key  string      // "rsa", "ecdsa" or "ed25519": the key type it needs
	hash crypto.Hash // 0 for Ed25519
	pss  bool
}

// sigHashes ties each hash to its SIGNATURE_HASH_ALGORITHMS number (RFC
// 7427) and its ASN.1 identifier.
var sigHashes = []struct {
	hash crypto.Hash
	ike  uint16
	oid  asn1.ObjectIdentifier
}{
	{crypto.SHA256, hashSHA2_256, oidSHA256},
	{crypto.SHA384, hashSHA2_384, oidSHA384},
	{crypto.SHA512, hashSHA2_512, oidSHA512},
}

// ikeHash is the scheme's hash number; Ed25519 (no hash) is Identity.
func (s sigScheme) ikeHash() uint16 {
	for _, e := range sigHashes {
		if e.hash == s.hash {
			return e.ike
		}
	}
	return hashIdentity
}

// hashOID is h's identifier (SHA-256 for anything else).
func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	for _, e := range sigHashes {
		if e.hash == h {
			return e.oid
		}
	}
	return oidSHA256
}

// oidHash is the hash an identifier names, 0 if none of ours.
func oidHash(o asn1.ObjectIdentifier) crypto.Hash {
	for _, e := range sigHashes {
		if o.Equal(e.oid) {
			return e.hash
		}
	}
	return 0
}

// algorithmIdentifier encodes the scheme's AlgorithmIdentifier for the key.
func (s sigScheme) algorithmIdentifier(pub crypto.PublicKey) []byte {
	var ai pkix.AlgorithmIdentifier
	switch pub.(type) {
	case *rsa.PublicKey:
		if s.pss {
			hashAI := pkix.AlgorithmIdentifier{Algorithm: hashOID(s.hash), Parameters: asn1.NullRawValue}
			mgfParams, _ := asn1.Marshal(hashAI)
			params, _ := asn1.Marshal(pssParams{
				Hash:         hashAI,
				MGF:          pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: mgfParams}},
				SaltLength:   s.hash.Size(),
				TrailerField: 1,
			})
			ai = pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS, Parameters: asn1.RawValue{FullBytes: params}}
		} else {
			o := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidSHA256WithRSA, crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA}[s.hash]
			ai = pkix.AlgorithmIdentifier{Algorithm: o, Parameters: asn1.NullRawValue}
		}
	case *ecdsa.PublicKey:
		o := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSASHA256, crypto.SHA384: oidECDSASHA384, crypto.SHA512: oidECDSASHA512}[s.hash]
		ai = pkix.AlgorithmIdentifier{Algorithm: o}
	case ed25519.PublicKey:
		ai = pkix.AlgorithmIdentifier{Algorithm: oidEd25519}
	}
	b, err := asn1.Marshal(ai)
	if err != nil {
		panic("ike: encoding AlgorithmIdentifier: " + err.Error())
	}
	return b
}

// parseAlgorithmIdentifier decodes the AlgorithmIdentifier of a Digital
// Signature AUTH payload.
func parseAlgorithmIdentifier(b []byte) (sigScheme, error) {
	var ai pkix.AlgorithmIdentifier
	rest, err := asn1.Unmarshal(b, &ai)
	if err != nil || len(rest) != 0 {
		return sigScheme{}, fmt.Errorf("malformed signature AlgorithmIdentifier")
	}
	o := ai.Algorithm
	switch {
	case o.Equal(oidSHA256WithRSA):
		return sigScheme{name: "RSA PKCS#1 v1.5 SHA-256", key: "rsa", hash: crypto.SHA256}, nil
	case o.Equal(oidSHA384WithRSA):
		return sigScheme{name: "RSA PKCS#1 v1.5 SHA-384", key: "rsa", hash: crypto.SHA384}, nil
	case o.Equal(oidSHA512WithRSA):
		return sigScheme{name: "RSA PKCS#1 v1.5 SHA-512", key: "rsa", hash: crypto.SHA512}, nil
	case o.Equal(oidECDSASHA256):
		return sigScheme{name: "ECDSA SHA-256", key: "ecdsa", hash: crypto.SHA256}, nil
	case o.Equal(oidECDSASHA384):
		return sigScheme{name: "ECDSA SHA-384", key: "ecdsa", hash: crypto.SHA384}, nil
	case o.Equal(oidECDSASHA512):
		return sigScheme{name: "ECDSA SHA-512", key: "ecdsa", hash: crypto.SHA512}, nil
	case o.Equal(oidEd25519):
		return sigScheme{name: "Ed25519", key: "ed25519"}, nil
	case o.Equal(oidRSAPSS):
		var p pssParams
		if _, err := asn1.Unmarshal(ai.Parameters.FullBytes, &p); err != nil {
			return sigScheme{}, fmt.Errorf("malformed RSASSA-PSS parameters")
		}
		h := oidHash(p.Hash.Algorithm)
		if h == 0 {
			return sigScheme{}, fmt.Errorf("RSASSA-PSS with hash %v; SHA-256, SHA-384 or SHA-512 expected", p.Hash.Algorithm)
		}
		if !p.MGF.Algorithm.Equal(oidMGF1) {
			return sigScheme{}, fmt.Errorf("RSASSA-PSS with mask generation %v; MGF1 expected", p.MGF.Algorithm)
		}
		var mgfHash pkix.AlgorithmIdentifier
		if _, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfHash); err != nil || oidHash(mgfHash.Algorithm) != h {
			return sigScheme{}, fmt.Errorf("RSASSA-PSS whose MGF1 hash differs from the message hash")
		}
		return sigScheme{name: fmt.Sprintf("RSASSA-PSS %v salt %d", h, p.SaltLength), key: "rsa", hash: h, pss: true}, nil
	}
	return sigScheme{}, fmt.Errorf("unsupported signature algorithm %v", o)
}

// curveHash is the hash RFC 4754 pairs with an ECDSA curve (methods 9-11).
func curveHash(c elliptic.Curve) (crypto.Hash, wire.AuthMethod) {
	switch c {
	case elliptic.P384():
		return crypto.SHA384, wire.AuthECDSA384
	case elliptic.P521():
		return crypto.SHA512, wire.AuthECDSA521
	}
	return crypto.SHA256, wire.AuthECDSA256
}

// signAuth builds our AUTH payload over the signed octets with key. When
// the peer announced SIGNATURE_HASH_ALGORITHMS (peerHashes not nil), it is
// a Digital Signature (method 14, RFC 7427) with a hash the peer accepts;
// otherwise RSA Digital Signature (1) or ECDSA (9-11), which every IKEv2
// implementation knows. Ed25519 exists only as method 14 (RFC 8420).
func signAuth(key crypto.Signer, octets []byte, peerHashes []uint16, rsaPSS bool) (*wire.Auth, error) {
	digest := func(h crypto.Hash) []byte { d := h.New(); d.Write(octets); return d.Sum(nil) }
	pub := key.Public()
	if peerHashes == nil {
		switch pk := pub.(type) {
		case *rsa.PublicKey:
			sig, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA1, digest(crypto.SHA1))
			return &wire.Auth{Method: wire.AuthRSASig, Data: sig}, err
		case *ecdsa.PublicKey:
			h, m := curveHash(pk.Curve)
			r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest(h))
			if err != nil {
				return nil, err
			}
			size := (pk.Curve.Params().BitSize + 7) / 8
			sig := make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
			return &wire.Auth{Method: m, Data: sig}, nil
		}
	}
	accepts := func(h uint16) bool { return slices.Contains(peerHashes, h) }
	var s sigScheme
	switch pk := pub.(type) {
	case *rsa.PublicKey:
		s = sigScheme{hash: crypto.SHA256, pss: rsaPSS}
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			if accepts(sigScheme{hash: h}.ikeHash()) {
				s.hash = h
				break
			}
		}
	case *ecdsa.PublicKey:
		h, _ := curveHash(pk.Curve)
		s = sigScheme{hash: h}
		if !accepts(s.ikeHash()) {
			for _, alt := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				if accepts(sigScheme{hash: alt}.ikeHash()) {
					s.hash = alt
					break
				}
			}
		}
	case ed25519.PublicKey:
		if peerHashes != nil && !accepts(hashIdentity) {
			return nil, errors.New("our key is Ed25519, but the peer does not announce the Identity hash (RFC 8420) in SIGNATURE_HASH_ALGORITHMS")
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	var (
		sig []byte
		err error
	)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if s.pss {
			sig, err = rsa.SignPSS(rand.Reader, k, s.hash, digest(s.hash), &rsa.PSSOptions{SaltLength: s.hash.Size(), Hash: s.hash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, s.hash, digest(s.hash))
		}
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest(s.hash))
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, octets)
	default:
		sig, err = key.Sign(rand.Reader, octets, crypto.Hash(0))
	}
	if err != nil {
		return nil, err
	}
	ai := s.algorithmIdentifier(pub)
	data := make([]byte, 0, 1+len(ai)+len(sig))
	data = append(append(append(data, byte(len(ai))), ai...), sig...)
	return &wire.Auth{Method: wire.AuthDigitalSignature, Data: data}, nil
}

// verifyAuth checks a signature AUTH payload over octets with the public
// key of the peer's certificate. It returns a description of the scheme.
func verifyAuth(pub crypto.PublicKey, a *wire.Auth, octets []byte) (string, error) {
	digest := func(h crypto.Hash) []byte { d := h.New(); d.Write(octets); return d.Sum(nil) }
	switch a.Method {
	case wire.AuthRSASig:
		pk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return "", fmt.Errorf("AUTH method RSA Digital Signature (1), but the certificate's key is %s", keyName(pub))
		}
		if err := rsa.VerifyPKCS1v15(pk, crypto.SHA1, digest(crypto.SHA1), a.Data); err != nil {
			return "", errors.New("RSA signature (method 1) does not verify with the certificate's key")
		}
		return "RSA PKCS#1 v1.5 SHA-1 (method 1)", nil
	case wire.AuthECDSA256, wire.AuthECDSA384, wire.AuthECDSA521:
		pk, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return "", fmt.Errorf("AUTH method ECDSA (%d), but the certificate's key is %s", a.Method, keyName(pub))
		}
		h, m := curveHash(pk.Curve)
		if m != a.Method {
			return "", fmt.Errorf("AUTH method ECDSA (%d) does not fit the certificate's curve %s", a.Method, pk.Curve.Params().Name)
		}
		size := (pk.Curve.Params().BitSize + 7) / 8
		if len(a.Data) != 2*size {
			return "", fmt.Errorf("ECDSA signature of %d bytes, want %d", len(a.Data), 2*size)
		}
		r, s := new(big.Int).SetBytes(a.Data[:size]), new(big.Int).SetBytes(a.Data[size:])
		if !ecdsa.Verify(pk, digest(h), r, s) {
			return "", fmt.Errorf("ECDSA signature (method %d) does not verify with the certificate's key", a.Method)
		}
		return fmt.Sprintf("ECDSA %s (method %d)", pk.Curve.Params().Name, a.Method), nil
	case wire.AuthDigitalSignature:
	default:
		return "", fmt.Errorf("AUTH method %d; a signature method (14, 1, 9, 10 or 11) was expected for certificate authentication", a.Method)
	}
	if len(a.Data) < 1 || len(a.Data) < 1+int(a.Data[0]) {
		return "", errors.New("Digital Signature AUTH payload shorter than its AlgorithmIdentifier")
	}
	s, err := parseAlgorithmIdentifier(a.Data[1 : 1+int(a.Data[0])])
	if err != nil {
		return "", err
	}
	sig := a.Data[1+int(a.Data[0]):]
	if s.hash != 0 && !slices.Contains(ourSignatureHashes, s.ikeHash()) {
		return "", fmt.Errorf("signature hash %v was not announced by us", s.hash)
	}
	bad := func() (string, error) {
		return "", fmt.Errorf("%s signature does not verify with the certificate's key", s.name)
	}
	switch pk := pub.(type) {
	case *rsa.PublicKey:
		if s.key != "rsa" {
			return "", fmt.Errorf("signature algorithm %s does not fit the certificate's RSA key", s.name)
		}
		if s.pss {
			if rsa.VerifyPSS(pk, s.hash, digest(s.hash), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: s.hash}) != nil {
				return bad()
			}
		} else if rsa.VerifyPKCS1v15(pk, s.hash, digest(s.hash), sig) != nil {
			return bad()
		}
	case *ecdsa.PublicKey:
		if s.key != "ecdsa" {
			return "", fmt.Errorf("signature algorithm %s does not fit the certificate's ECDSA key", s.name)
		}
		if !ecdsa.VerifyASN1(pk, digest(s.hash), sig) {
			return bad()
		}
	case ed25519.PublicKey:
		if s.key != "ed25519" {
			return "", fmt.Errorf("signature algorithm %s does not fit the certificate's Ed25519 key", s.name)
		}
		if !ed25519.Verify(pk, octets, sig) {
			return bad()
		}
	default:
		return "", fmt.Errorf("certificate key type %s is not supported", keyName(pub))
	}
	return s.name + " (method 14)", nil
}

func keyName(pub crypto.PublicKey) string {
	switch pk := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", pk.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + pk.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

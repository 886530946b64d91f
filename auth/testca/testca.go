// Package testca makes X.509 hierarchies for tests: roots, intermediates
// and server certificates with RSA, ECDSA or Ed25519 keys, including broken
// ones (expired, not yet valid, wrong names, a CA named like a server).
//
// It is for tests only: keys are cached and reused between certificates to
// keep RSA key generation off the critical path, and errors panic.
package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// KeyType names a key algorithm.
type KeyType string

const (
	RSA2048   KeyType = "rsa2048"
	RSA4096   KeyType = "rsa4096"
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	Ed25519   KeyType = "ed25519"
)

var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
)

// Key returns the i-th cached key of type kt, generating it on first use.
// Different i give different keys.
func Key(kt KeyType, i int) crypto.Signer {
	id := fmt.Sprintf("%s/%d", kt, i)
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[id]; ok {
		return k
	}
	var (
		k   crypto.Signer
		err error
	)
	switch kt {
	case RSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA4096:
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	case ECDSAP256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unknown key type %q", kt)
	}
	if err != nil {
		panic("testca: " + err.Error())
	}
	keyCache[id] = k
	return k
}

var serial int64 = 1000

func nextSerial() *big.Int {
	keyMu.Lock()
	defer keyMu.Unlock()
	serial++
	return big.NewInt(serial)
}

// CA is a certificate authority, root or intermediate.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Parents are the intermediates between this CA and its root, nearest
	// first (empty for a root).
	Parents []*x509.Certificate
	keyType KeyType
	keyIdx  int
}

// NewRoot returns a self-signed root CA named cn, valid from an hour ago
// for ten years.
func NewRoot(cn string, kt KeyType) *CA {
	return NewRootKey(cn, kt, 100)
}

// NewRootKey is NewRoot with the cached key number idx, so that two roots
// can have different keys (a wrong CA) or the same.
func NewRootKey(cn string, kt KeyType, idx int) *CA {
	key := Key(kt, idx)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"metro test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return &CA{Cert: sign(tmpl, tmpl, key.Public(), key), Key: key, keyType: kt, keyIdx: idx}
}

// Intermediate returns a CA named cn signed by ca.
func (ca *CA) Intermediate(cn string, kt KeyType) *CA {
	idx := 200 + len(ca.Parents) + 1
	key := Key(kt, idx)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"metro test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	c := &CA{Cert: sign(tmpl, ca.Cert, key.Public(), ca.Key), Key: key, keyType: kt, keyIdx: idx}
	c.Parents = append([]*x509.Certificate{ca.Cert}, ca.Parents...)
	return c
}

// rootOf returns the root certificate of ca's hierarchy.
func (ca *CA) rootOf() *x509.Certificate {
	if len(ca.Parents) == 0 {
		return ca.Cert
	}
	return ca.Parents[len(ca.Parents)-1]
}

// Root returns the root certificate of the hierarchy.
func (ca *CA) Root() *x509.Certificate { return ca.rootOf() }

// Intermediates returns the CA certificates between a leaf issued by ca
// and the root: ca itself (unless it is the root) and its parents, nearest
// first, root excluded.
func (ca *CA) Intermediates() []*x509.Certificate {
	if len(ca.Parents) == 0 {
		return nil
	}
	return append([]*x509.Certificate{ca.Cert}, ca.Parents[:len(ca.Parents)-1]...)
}

// LeafOptions describe a server certificate.
type LeafOptions struct {
	CN  string   // subject common name; default the first DNS name
	DNS []string // subjectAltName DNS names; nil: none
	// Key: KeyType and index into the key cache (default index 1).
	KeyType  KeyType
	KeyIndex int
	// Validity; zero values mean an hour ago and one year from now.
	NotBefore, NotAfter time.Time
	// KeyUsage; zero means digitalSignature.
	KeyUsage x509.KeyUsage
	// IsCA makes a CA certificate signed by ca (for the "CA file named
	// like a server" case use NewRoot instead).
	IsCA bool
}

// Leaf is an issued server certificate.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // intermediates, nearest first, root excluded
}

// Issue signs a server certificate.
func (ca *CA) Issue(o LeafOptions) *Leaf {
	if o.KeyType == "" {
		o.KeyType = ECDSAP256
	}
	if o.KeyIndex == 0 {
		o.KeyIndex = 1
	}
	if o.CN == "" && len(o.DNS) > 0 {
		o.CN = o.DNS[0]
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	if o.KeyUsage == 0 {
		o.KeyUsage = x509.KeyUsageDigitalSignature
	}
	key := Key(o.KeyType, o.KeyIndex)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: o.CN, Organization: []string{"metro test"}},
		DNSNames:              o.DNS,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              o.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
	}
	return &Leaf{Cert: sign(tmpl, ca.Cert, key.Public(), ca.Key), Key: key, Chain: ca.Intermediates()}
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		panic("testca: " + err.Error())
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic("testca: " + err.Error())
	}
	return c
}

// CertPEM encodes certificates as PEM blocks, in order.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as a PKCS#8 PEM block.
func KeyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic("testca: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ChainPEM is the leaf followed by its intermediates (a "full chain" file).
func (l *Leaf) ChainPEM() []byte { return CertPEM(append([]*x509.Certificate{l.Cert}, l.Chain...)...) }

// WriteFile writes data to dir/name with mode 0600, panicking on error.
func WriteFile(dir, name string, data []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		panic("testca: " + err.Error())
	}
	return p
}

// WriteServer writes <name>.crt (leaf and intermediates) and <name>.key
// into dir, name being the server's full name.
func (l *Leaf) WriteServer(dir, name string) {
	WriteFile(dir, name+".crt", l.ChainPEM())
	WriteFile(dir, name+".key", KeyPEM(l.Key))
}

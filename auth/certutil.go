package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Signer is a private key that signs IKE AUTH payloads: *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey.
type Signer = crypto.Signer

// readCerts parses every CERTIFICATE block of a PEM file (or a single DER
// certificate), in order.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	certs, err := ParseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCerts parses the CERTIFICATE blocks of PEM data, or one DER
// certificate.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor a DER certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in the file")
	}
	return certs, nil
}

// readKey parses a private key file: PEM PKCS#8 ("PRIVATE KEY"), PKCS#1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). Encrypted keys are not
// supported. Errors never quote the file's content.
func readKey(path string) (Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	defer clear(data)
	var block *pem.Block
	rest := data
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM private key block", path)
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}
	defer clear(block.Bytes)
	var k any
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s: the key is encrypted; metrod needs it unencrypted (openssl pkey -in %s -out %s)", path, path, path)
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a supported private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: parsing the private key: %w", path, err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%s: RSA key of %d bits; at least 2048 are required", path, k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%s: unsupported private key type %T (RSA, ECDSA or Ed25519 expected)", path, k)
}

// samePublicKey reports whether two public keys are equal.
func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// hasDNSName reports whether name is one of the certificate's DNS
// subjectAltNames, compared case-insensitively, trailing dots ignored.
// Wildcard names match only literally: metro authenticates each server by
// its own name.
func hasDNSName(c *x509.Certificate, name string) bool {
	name = NormalizeName(name)
	for _, d := range c.DNSNames {
		if NormalizeName(d) == name {
			return true
		}
	}
	return false
}

// sanList describes a certificate's DNS subjectAltNames for messages.
func sanList(c *x509.Certificate) string {
	if len(c.DNSNames) == 0 {
		return "no DNS subjectAltName"
	}
	return "DNS:" + strings.Join(c.DNSNames, ", DNS:")
}

// SANs returns the certificate's DNS subjectAltNames joined for logs.
func SANs(c *x509.Certificate) string { return sanList(c) }

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// checkKeyUsage requires, when the keyUsage extension is present, that it
// allows signatures (digitalSignature or nonRepudiation).
func checkKeyUsage(c *x509.Certificate) error {
	if c.KeyUsage == 0 || c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0 {
		return nil
	}
	return fmt.Errorf("key usage of the certificate (0x%x) does not allow digital signatures", int(c.KeyUsage))
}

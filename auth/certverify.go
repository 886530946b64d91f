package auth

import (
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CertError is a peer certificate rejected by CertSet.Verify. Its fields
// tell what was presented; Reason what was expected and why it failed.
type CertError struct {
	ID      string // the IKE identity the peer claimed
	Subject string
	SANs    string
	Reason  string
}

func (e *CertError) Error() string {
	return fmt.Sprintf("certificate of %q (subject %q, %s) rejected: %s", e.ID, e.Subject, e.SANs, e.Reason)
}

// Verify checks a peer's certificate chain (leaf first) for the identity id
// the peer claimed (ID_FQDN). It requires that:
//   - id is a configured server of the domain;
//   - id is a DNS subjectAltName of the leaf (case-insensitive, trailing dot
//     ignored). The common name is never used, and wildcard names match
//     only literally, so a certificate without DNS subjectAltNames, or with
//     only a wildcard, authenticates no server;
//   - the leaf is valid at now, and chains to the CA file through the
//     intermediates sent by the peer or in the CA file;
//   - its key usage, when present, allows digital signatures.
//
// A rejection is a *CertError.
func (s *CertSet) Verify(chain []*x509.Certificate, id string, now time.Time) error {
	if len(chain) == 0 {
		return &CertError{ID: id, Reason: "the peer sent no certificate and none is on file for " + id}
	}
	leaf := chain[0]
	fail := func(format string, a ...any) error {
		return &CertError{ID: id, Subject: leaf.Subject.String(), SANs: sanList(leaf), Reason: fmt.Sprintf(format, a...)}
	}
	name, ok := s.IsServer(id)
	if !ok {
		return fail("%s is not a configured certificate server (expected one of %s)", id, strings.Join(s.fullNames(), ", "))
	}
	if len(leaf.DNSNames) == 0 {
		return fail("the certificate has no DNS subjectAltName; expected DNS:%s (the common name is not used)", name)
	}
	if !hasDNSName(leaf, name) {
		return fail("expected DNS subjectAltName %s (wildcards are not accepted)", name)
	}
	if now.Before(leaf.NotBefore) {
		return fail("not yet valid: valid from %s, now is %s", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return fail("expired on %s, now is %s", leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if err := checkKeyUsage(leaf); err != nil {
		return fail("%v", err)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.Roots,
		Intermediates: pool(append(slices.Clone(s.Intermediates), chain[1:]...)),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			return fail("issuer %q does not chain to the CA in %s (%s)", leaf.Issuer.String(), s.CAFile, s.caNames())
		}
		return fail("chain to the CA in %s: %v", s.CAFile, err)
	}
	return nil
}

// CertReqHashes returns the SHA-1 hashes of the CA certificates' public
// keys (SubjectPublicKeyInfo), concatenated: the body of a CERTREQ payload
// (RFC 7296 3.7).
func (s *CertSet) CertReqHashes() []byte {
	var out []byte
	for _, c := range s.RootCerts {
		h := sha1.Sum(c.RawSubjectPublicKeyInfo)
		out = append(out, h[:]...)
	}
	return out
}

func (s *CertSet) fullNames() []string {
	out := make([]string, len(s.Servers))
	for i, sv := range s.Servers {
		out[i] = s.FQDN(sv)
	}
	return out
}

func (s *CertSet) caNames() string {
	var names []string
	for _, c := range s.RootCerts {
		names = append(names, fmt.Sprintf("%q", c.Subject.String()))
	}
	return strings.Join(names, ", ")
}

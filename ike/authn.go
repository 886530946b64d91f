package ike

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"metro/auth"
	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// authenticator is how this host proves its identity in IKE_AUTH and checks
// the peer's: a pre-shared key (pskAuth) or a certificate (certAuth). The
// exchanges in initiator.go and responder.go only call it.
type authenticator interface {
	// kind is "psk" or "cert", for status and logs.
	kind() string
	// initPayloads are added to our IKE_SA_INIT request or response.
	initPayloads(response bool) []wire.Payload
	// prove returns the payloads that identify us in our IKE_AUTH message:
	// our ID (IDi or IDr by our role), CERT and CERTREQ payloads if any,
	// and AUTH over the signed octets of RFC 7296 2.15.
	prove(sa *ikeSA) ([]wire.Payload, error)
	// verify checks the peer's IKE_AUTH payloads: its ID, certificates and
	// AUTH. A rejection is an *authError.
	verify(sa *ikeSA, in []wire.Payload) (*peerIdentity, error)
	// logAttrs name the credentials in use, for log lines.
	logAttrs() []any
}

// peerIdentity is who the peer proved to be.
type peerIdentity struct {
	id      string // its IKE identity (ID_FQDN), "" for PSK
	subject string // certificate subject
	expiry  time.Time
	scheme  string // signature scheme, for logs
}

// authError is a failed authentication of the peer, with what it
// presented, for the log.
type authError struct {
	reason error
	attrs  []any // peer_id, subject, sans, ...
}

func (e *authError) Error() string { return e.reason.Error() }
func (e *authError) Unwrap() error { return e.reason }

// authFailedAttrs returns the log attributes of a failed authentication:
// the reason, what the peer presented, and our credentials.
func (p *peer) authFailedAttrs(err error) []any {
	attrs := []any{"reason", err}
	var ae *authError
	if errors.As(err, &ae) {
		attrs = append(attrs, ae.attrs...)
	}
	return append(attrs, p.authn().logAttrs()...)
}

// authn returns the peer's authenticator.
func (p *peer) authn() authenticator {
	if p.auth == nil {
		// Built once: a peer's configuration never changes (a reload
		// that changes it replaces the peer).
		if p.cfg.Cert != nil {
			p.auth = &certAuth{p: p, cfg: p.cfg.Cert}
		} else {
			p.auth = &pskAuth{p: p}
		}
	}
	return p.auth
}

// signedOctets returns the octets the side that is (or is not) the
// original initiator signs in its AUTH payload (RFC 7296 2.15), for the ID
// payload body idBody: its own IKE_SA_INIT message, the other side's nonce
// and prf(SK_p, ID').
func (sa *ikeSA) signedOctets(ofInitiator bool, idBody []byte) []byte {
	if ofInitiator {
		return ikecrypto.SignedOctets(sa.suite.PRF, sa.initReq, sa.nr, sa.keys.SKpi, idBody)
	}
	return ikecrypto.SignedOctets(sa.suite.PRF, sa.initResp, sa.ni, sa.keys.SKpr, idBody)
}

// idKind is the ID payload type of our side of sa.
func (sa *ikeSA) idKind() wire.PayloadType {
	if sa.initiator {
		return wire.PayloadIDi
	}
	return wire.PayloadIDr
}

// peerID returns the peer's ID payload of an IKE_AUTH message.
func peerID(sa *ikeSA, in []wire.Payload) *wire.ID {
	want := wire.PayloadIDr
	if !sa.initiator {
		want = wire.PayloadIDi
	}
	for _, pl := range in {
		if id, ok := pl.(*wire.ID); ok && id.Kind == want {
			return id
		}
	}
	return nil
}

// pskAuth authenticates with the pair's pre-shared key; the identities are
// the IP addresses.
type pskAuth struct{ p *peer }

func (a *pskAuth) kind() string                              { return "psk" }
func (a *pskAuth) initPayloads(response bool) []wire.Payload { return nil }
func (a *pskAuth) logAttrs() []any                           { return []any{"psk_file", a.p.cfg.PSKSource} }

func (a *pskAuth) prove(sa *ikeSA) ([]wire.Payload, error) {
	id := idFor(sa.idKind(), a.p.cfg.Local)
	data := ikecrypto.PSKAuth(sa.suite.PRF, a.p.cfg.PSK, sa.signedOctets(sa.initiator, id.Body()))
	return []wire.Payload{id, &wire.Auth{Method: wire.AuthSharedKeyMIC, Data: data}}, nil
}

func (a *pskAuth) verify(sa *ikeSA, in []wire.Payload) (*peerIdentity, error) {
	id := peerID(sa, in)
	au, _ := find[*wire.Auth](in)
	if id == nil || au == nil {
		return nil, &authError{reason: errors.New("IKE_AUTH message lacks the peer's ID or AUTH payload")}
	}
	if au.Method != wire.AuthSharedKeyMIC {
		return nil, &authError{reason: fmt.Errorf("peer uses authentication method %d, we expect a pre-shared key (2)", au.Method)}
	}
	if addr, ok := idAddr(id); ok && addr != a.p.cfg.Remote && !sa.nat {
		return nil, &authError{reason: fmt.Errorf("peer identifies as %s, but its address is %s", addr, a.p.cfg.Remote)}
	}
	if !ikecrypto.VerifyPSKAuth(sa.suite.PRF, a.p.cfg.PSK, sa.signedOctets(!sa.initiator, id.Body()), au.Data) {
		return nil, &authError{reason: errors.New("AUTH payload does not match the pre-shared key (different keys on the two hosts?)")}
	}
	return &peerIdentity{}, nil
}

// CertPeer configures certificate authentication of a peer: this host's
// credentials and the CA come from Creds; Names are the server names the
// peer's address belongs to (from DNS): its ID must be one of them.
type CertPeer struct {
	Creds *auth.CertSet
	Names []string
	// RSAPKCS1 signs with RSA PKCS#1 v1.5 rather than RSA-PSS in Digital
	// Signature AUTH payloads (both are verified).
	RSAPKCS1 bool
}

// certChain parses the peer's X.509 CERT payloads, leaf first.
func certChain(in []wire.Payload) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for _, pl := range in {
		c, ok := pl.(*wire.Cert)
		if !ok {
			continue
		}
		if c.Encoding != wire.CertX509Signature {
			continue
		}
		x, err := x509.ParseCertificate(c.Data)
		if err != nil {
			return nil, fmt.Errorf("CERT payload %d: %w", len(chain)+1, err)
		}
		chain = append(chain, x)
	}
	return chain, nil
}

// authenticated records who the peer proved to be, and warns when its
// certificate expires soon.
func (p *peer) authenticated(sa *ikeSA, id *peerIdentity) {
	sa.ext.identity = id
	if id == nil || id.id == "" {
		return
	}
	p.log.Info("peer authenticated by certificate", "peer_id", id.id, "subject", id.subject,
		"cert_expiry", id.expiry.UTC().Format(time.RFC3339), "signature", id.scheme)
	if left := time.Until(id.expiry); left < auth.ExpiryWarning {
		p.log.Warn("the peer's certificate expires soon: renew it", "peer_id", id.id, "subject", id.subject,
			"cert_expiry", id.expiry.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
	}
}

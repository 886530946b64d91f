package ike

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"metro/auth"
	"metro/ike/wire"
)

// certAuth authenticates with X.509 certificates: our identity is
// ID_FQDN <server>.<domain>, sent with our certificate chain and a
// signature AUTH payload; the peer's certificate must chain to the CA and
// name its ID as a DNS subjectAltName (auth.CertSet.Verify).
type certAuth struct {
	p   *peer
	cfg *CertPeer
}

func (a *certAuth) kind() string { return "cert" }

func (a *certAuth) logAttrs() []any {
	l := a.cfg.Creds.Local
	return []any{"local_id", l.Name, "cert_file", l.CertFile, "expected_peer", strings.Join(a.cfg.Names, " ")}
}

// initPayloads announces the signature hashes we accept (RFC 7427 4) in
// both IKE_SA_INIT messages, and asks the initiator for certificates of
// our CA in the response (RFC 7296 3.7).
func (a *certAuth) initPayloads(response bool) []wire.Payload {
	ps := []wire.Payload{signatureHashesNotify()}
	if response {
		ps = append(ps, a.certReq())
	}
	return ps
}

func (a *certAuth) certReq() *wire.CertReq {
	return &wire.CertReq{Encoding: wire.CertX509Signature, Data: a.cfg.Creds.CertReqHashes()}
}

func (a *certAuth) prove(sa *ikeSA) ([]wire.Payload, error) {
	l := a.cfg.Creds.Local
	id := &wire.ID{Kind: sa.idKind(), IDType: wire.ID_FQDN, Data: []byte(l.Name)}
	out := []wire.Payload{id}
	for _, c := range l.Chain {
		out = append(out, &wire.Cert{Encoding: wire.CertX509Signature, Data: c.Raw})
	}
	if sa.initiator {
		out = append(out, a.certReq())
	}
	au, err := signAuth(l.Key, sa.signedOctets(sa.initiator, id.Body()), sa.ext.peerHashes, !a.cfg.RSAPKCS1)
	if err != nil {
		return nil, fmt.Errorf("signing AUTH with %s: %w", l.KeyFile, err)
	}
	return append(out, au), nil
}

func (a *certAuth) verify(sa *ikeSA, in []wire.Payload) (*peerIdentity, error) {
	id := peerID(sa, in)
	au, _ := find[*wire.Auth](in)
	if id == nil || au == nil {
		return nil, &authError{reason: errors.New("IKE_AUTH message lacks the peer's ID or AUTH payload")}
	}
	presented := []any{"peer_id", idString(id)}
	fail := func(err error, more ...any) error {
		return &authError{reason: err, attrs: append(presented, more...)}
	}
	if id.IDType != wire.ID_FQDN {
		return nil, fail(fmt.Errorf("peer identifies as %s, expected ID_FQDN %s", idString(id), strings.Join(a.cfg.Names, " or ")))
	}
	name := auth.NormalizeName(string(id.Data))
	chain, err := certChain(in)
	if err != nil {
		return nil, fail(err)
	}
	fromFile := false
	if len(chain) == 0 {
		if c := a.cfg.Creds.Certs[name]; c != nil {
			chain, fromFile = append(chain, c), true
		}
	}
	var certAttrs []any
	if len(chain) > 0 {
		certAttrs = []any{"subject", chain[0].Subject.String(), "sans", auth.SANs(chain[0]), "issuer", chain[0].Issuer.String()}
		if fromFile {
			certAttrs = append(certAttrs, "cert_from", a.cfg.Creds.Files[name])
		}
	}
	if err := a.cfg.Creds.Verify(chain, name, time.Now()); err != nil {
		var ce *auth.CertError
		if errors.As(err, &ce) {
			return nil, fail(errors.New(ce.Reason), certAttrs...)
		}
		return nil, fail(err, certAttrs...)
	}
	if !slices.Contains(a.cfg.Names, name) {
		return nil, fail(fmt.Errorf("%s is a configured server, but this address (%s) belongs to %s in DNS",
			name, a.p.cfg.Remote, strings.Join(a.cfg.Names, ", ")), certAttrs...)
	}
	scheme, err := verifyAuth(chain[0].PublicKey, au, sa.signedOctets(!sa.initiator, id.Body()))
	if err != nil {
		return nil, fail(err, certAttrs...)
	}
	return &peerIdentity{id: name, subject: chain[0].Subject.String(), expiry: chain[0].NotAfter, scheme: scheme}, nil
}

// idString renders an ID payload for logs.
func idString(id *wire.ID) string {
	switch id.IDType {
	case wire.ID_FQDN:
		return "fqdn:" + string(id.Data)
	case wire.ID_RFC822_ADDR:
		return "email:" + string(id.Data)
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		if a, ok := idAddr(id); ok {
			return "ip:" + a.String()
		}
	case wire.ID_DER_ASN1_DN:
		return "dn"
	case wire.ID_KEY_ID:
		return "keyid"
	}
	return fmt.Sprintf("id type %d", id.IDType)
}

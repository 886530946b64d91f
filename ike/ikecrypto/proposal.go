package ikecrypto

import (
	"fmt"
	"slices"
	"strings"

	"metro/ike/wire"
)

// Proposal is one proposal of an SA payload: for each transform type the
// algorithms metro offers or accepts, in preference order.
type Proposal struct {
	Encr  []*Encr
	Integ []*Integ // empty with AEAD ciphers
	PRF   []*PRF   // IKE only
	// KE lists the key exchange methods. IKE proposals need one; in ESP
	// proposals they request PFS for CREATE_CHILD_SA, and none means no PFS.
	KE []*KE
	// ESN lists wire.ESN_NO / wire.ESN_YES in preference order (ESP only,
	// where the transform is mandatory).
	ESN []uint16
}

// AEAD reports whether the proposal's ciphers are AEAD ciphers (a proposal
// never mixes the two kinds).
func (p Proposal) AEAD() bool { return len(p.Encr) > 0 && p.Encr[0].AEAD }

// String renders the proposal in strongSwan syntax; ParseProposals reads it
// back to an equal proposal.
func (p Proposal) String() string {
	var t []string
	for _, e := range p.Encr {
		t = append(t, e.Name)
	}
	for _, i := range p.Integ {
		t = append(t, i.Name)
	}
	for _, f := range p.PRF {
		t = append(t, f.Name)
	}
	for _, k := range p.KE {
		t = append(t, k.Name)
	}
	for _, e := range p.ESN {
		if e == wire.ESN_YES {
			t = append(t, "esn")
		} else {
			t = append(t, "noesn")
		}
	}
	return strings.Join(t, "-")
}

// DefaultIKEProposals returns metro's IKE proposals: AES-GCM with a 16-octet
// ICV, HMAC-SHA2 PRFs, and X25519 first among the key exchange methods.
// Each call returns a fresh slice.
func DefaultIKEProposals() []Proposal {
	return []Proposal{{
		Encr: []*Encr{EncrByID(wire.ENCR_AES_GCM_16, 256), EncrByID(wire.ENCR_AES_GCM_16, 128)},
		PRF:  []*PRF{PRFByID(wire.PRF_HMAC_SHA2_256), PRFByID(wire.PRF_HMAC_SHA2_384), PRFByID(wire.PRF_HMAC_SHA2_512)},
		KE: []*KE{KEByID(wire.KE_X25519), KEByID(wire.KE_ECP256), KEByID(wire.KE_MODP2048),
			KEByID(wire.KE_ECP384), KEByID(wire.KE_MODP3072), KEByID(wire.KE_MODP4096)},
	}}
}

// DefaultESPProposals returns metro's ESP proposals: AES-GCM-16 then
// ChaCha20-Poly1305, no PFS, no extended sequence numbers (strongSwan's
// default). Each call returns a fresh slice.
func DefaultESPProposals() []Proposal {
	return []Proposal{{
		Encr: []*Encr{EncrByID(wire.ENCR_AES_GCM_16, 256), EncrByID(wire.ENCR_AES_GCM_16, 128),
			EncrByID(wire.ENCR_CHACHA20_POLY1305, 0)},
		ESN: []uint16{wire.ESN_NO},
	}}
}

// ParseProposals parses proposals in strongSwan syntax, as found in
// METRO_IKE_PROPOSALS (esp false) and METRO_ESP_PROPOSALS (esp true):
// proposals separated by commas, algorithm tokens within a proposal by
// dashes, e.g. "aes256gcm16-prfsha384-x25519,aes128-sha256-modp3072". Tokens
// are case-insensitive. The proposal "default" stands for the default
// proposals.
//
// Rules (strongSwan's): a proposal needs an encryption algorithm and does not
// mix AEAD and non-AEAD ciphers; non-AEAD ciphers need an integrity algorithm,
// AEAD ciphers take none. IKE proposals need a key exchange method; with AEAD
// they must name a PRF, without it each integrity algorithm implies the PRF
// on the same hash when no PRF is given. In ESP proposals a key exchange
// method requests PFS, "esn"/"noesn" select extended sequence numbers
// (default noesn), and PRFs are errors.
//
// Unknown, unsupported and weak algorithms (des, 3des, md5, sha1, modp1024,
// ...) are errors naming the token and the reason.
func ParseProposals(s string, esp bool) ([]Proposal, error) {
	kind := "IKE"
	if esp {
		kind = "ESP"
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("ikecrypto: empty %s proposal list", kind)
	}
	var out []Proposal
	for n, text := range strings.Split(s, ",") {
		text = strings.ToLower(strings.TrimSpace(text))
		if text == "default" {
			if esp {
				out = append(out, DefaultESPProposals()...)
			} else {
				out = append(out, DefaultIKEProposals()...)
			}
			continue
		}
		p, err := parseProposal(text, esp)
		if err != nil {
			return nil, fmt.Errorf("ikecrypto: %s proposal %d (%q): %w", kind, n+1, text, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseProposal(text string, esp bool) (Proposal, error) {
	var p Proposal
	if text == "" {
		return p, fmt.Errorf("empty proposal")
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(text, "-") {
		name = strings.TrimSpace(name)
		if name == "" {
			return p, fmt.Errorf("empty algorithm token")
		}
		if why, ok := rejected[name]; ok {
			return p, fmt.Errorf("token %q: %s", name, why)
		}
		t, ok := tokens[name]
		if !ok {
			return p, fmt.Errorf("token %q: unknown algorithm", name)
		}
		if seen[t.canon] {
			return p, fmt.Errorf("token %q: %s listed twice", name, t.canon)
		}
		seen[t.canon] = true
		switch {
		case t.encr != nil:
			p.Encr = append(p.Encr, t.encr)
		case t.integ != nil:
			p.Integ = append(p.Integ, t.integ)
		case t.prf != nil:
			if esp {
				return p, fmt.Errorf("token %q: a PRF has no place in an ESP proposal", name)
			}
			p.PRF = append(p.PRF, t.prf)
		case t.ke != nil:
			p.KE = append(p.KE, t.ke)
		case t.esn:
			if !esp {
				return p, fmt.Errorf("token %q: extended sequence numbers apply to ESP proposals only", name)
			}
			p.ESN = append(p.ESN, t.esnID)
		}
	}
	if len(p.Encr) == 0 {
		return p, fmt.Errorf("no encryption algorithm (e.g. aes256gcm16)")
	}
	aead := p.Encr[0]
	for _, e := range p.Encr[1:] {
		if e.AEAD != aead.AEAD {
			return p, fmt.Errorf("cannot mix AEAD and non-AEAD ciphers (%s, %s) in one proposal; write two proposals", aead.Name, e.Name)
		}
	}
	if aead.AEAD && len(p.Integ) > 0 {
		return p, fmt.Errorf("integrity algorithm %q with AEAD cipher %q: AEAD ciphers carry their own ICV", p.Integ[0].Name, aead.Name)
	}
	if !aead.AEAD && len(p.Integ) == 0 {
		return p, fmt.Errorf("cipher %q needs an integrity algorithm (e.g. sha256)", aead.Name)
	}
	if esp {
		if len(p.ESN) == 0 {
			p.ESN = []uint16{wire.ESN_NO}
		}
		return p, nil
	}
	if len(p.PRF) == 0 {
		if aead.AEAD {
			return p, fmt.Errorf("AEAD cipher %q needs a PRF (e.g. prfsha256)", aead.Name)
		}
		for _, i := range p.Integ {
			if f := i.PRF(); !slices.Contains(p.PRF, f) {
				p.PRF = append(p.PRF, f)
			}
		}
	}
	if len(p.KE) == 0 {
		return p, fmt.Errorf("no key exchange method (e.g. x25519)")
	}
	return p, nil
}

package ikecrypto

import (
	"reflect"
	"strings"
	"testing"

	"metro/ike/wire"
)

func TestParseProposalsGood(t *testing.T) {
	for _, c := range []struct {
		in   string
		esp  bool
		want []string // String() of each proposal
	}{
		{"aes256gcm16-prfsha384-x25519,aes128-sha256-modp3072", false,
			[]string{"aes256gcm16-prfsha384-x25519", "aes128-sha256-prfsha256-modp3072"}},
		// The integrity algorithms imply their PRFs, in order.
		{"aes256-sha512-sha256-ecp384-modp4096", false, []string{"aes256-sha512-sha256-prfsha512-prfsha256-ecp384-modp4096"}},
		// An explicit PRF wins over the implied one.
		{"aes128-sha256-prfsha512-ecp256", false, []string{"aes128-sha256-prfsha512-ecp256"}},
		{"AES256GCM16 - PRFSHA256 - Curve25519", false, []string{"aes256gcm16-prfsha256-x25519"}},
		{"aes128gcm128-aes256gcm16-chacha20poly1305-prfsha256-x25519", false,
			[]string{"aes128gcm16-aes256gcm16-chacha20poly1305-prfsha256-x25519"}},
		// ESP: KE means PFS, ESN defaults to noesn.
		{"aes128gcm16-x25519", true, []string{"aes128gcm16-x25519-noesn"}},
		{"aes256gcm16", true, []string{"aes256gcm16-noesn"}},
		{"aes256-sha2_512-esn, aes128gcm16-esn-noesn", true, []string{"aes256-sha512-esn", "aes128gcm16-esn-noesn"}},
		{"chacha20poly1305-modp2048", true, []string{"chacha20poly1305-modp2048-noesn"}},
	} {
		ps, err := ParseProposals(c.in, c.esp)
		if err != nil {
			t.Errorf("ParseProposals(%q, %v): %v", c.in, c.esp, err)
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseProposals(%q, %v) = %q, want %q", c.in, c.esp, got, c.want)
		}
		// String reads back to an equal proposal.
		for i, p := range ps {
			again, err := ParseProposals(p.String(), c.esp)
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0], ps[i]) {
				t.Errorf("%q does not round-trip: %v, %v", p.String(), again, err)
			}
		}
	}
}

func TestParseProposalsFields(t *testing.T) {
	ps, err := ParseProposals("aes256-sha384-prfsha256-ecp256-x25519", false)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	want := Proposal{
		Encr:  []*Encr{EncrByID(wire.ENCR_AES_CBC, 256)},
		Integ: []*Integ{IntegByID(wire.AUTH_HMAC_SHA2_384_192)},
		PRF:   []*PRF{PRFByID(wire.PRF_HMAC_SHA2_256)},
		KE:    []*KE{KEByID(wire.KE_ECP256), KEByID(wire.KE_X25519)},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %v, want %v", p, want)
	}
	if p.AEAD() {
		t.Error("AES-CBC proposal reports AEAD")
	}
	ps, err = ParseProposals("aes128gcm16-esn", true)
	if err != nil {
		t.Fatal(err)
	}
	if !ps[0].AEAD() || !reflect.DeepEqual(ps[0].ESN, []uint16{wire.ESN_YES}) || ps[0].KE != nil || ps[0].PRF != nil {
		t.Errorf("ESP proposal = %+v", ps[0])
	}
}

func TestParseProposalsBad(t *testing.T) {
	for _, c := range []struct {
		in   string
		esp  bool
		want string // substring of the error
	}{
		{"", false, "empty IKE proposal list"},
		{"  ", true, "empty ESP proposal list"},
		{"aes128gcm16-prfsha256-x25519,", false, `proposal 2 (""): empty proposal`},
		{"aes128gcm16--prfsha256-x25519", false, "empty algorithm token"},
		{"foo-sha256-x25519", false, `token "foo": unknown algorithm`},
		{"aes128-sha1-modp2048", false, `token "sha1": insecure: SHA-1`},
		{"aes128-sha256-modp1024", false, `token "modp1024": insecure: MODP groups below 2048 bits`},
		{"aes128-sha256-modp1536", false, `token "modp1536": insecure`},
		{"aes128-md5-x25519", false, `token "md5": insecure: MD5`},
		{"des-sha256-x25519", false, `token "des": insecure`},
		{"3des-sha256-x25519", false, `token "3des": insecure: 3DES`},
		{"aes128-sha256-prfsha1-x25519", false, `token "prfsha1": insecure`},
		{"aes128gcm8-prfsha256-x25519", false, `token "aes128gcm8": insecure: an AES-GCM ICV shorter`},
		{"aes256gcm12", true, `token "aes256gcm12": insecure`},
		{"null-sha256", true, `token "null": insecure: ENCR_NULL`},
		{"aes128-sha256-modp2048s256", false, `token "modp2048s256": insecure: RFC 5114`},
		{"aes128-sha256-ecp224", false, `token "ecp224": insecure`},
		{"aes192-sha256-x25519", false, `token "aes192": not supported by metro`},
		{"aes128ccm16-prfsha256-x25519", false, `token "aes128ccm16": not supported by metro: AES-CCM`},
		{"aes256gcm16-prfsha256-ecp521", false, `token "ecp521": not supported by metro`},
		{"aes256gcm16-prfsha256-mlkem768", false, `token "mlkem768": not supported by metro`},
		{"aes128-aesxcbc-x25519", false, `token "aesxcbc": not supported by metro`},
		{"sha256-x25519", false, "no encryption algorithm"},
		{"aes128-sha256", false, "no key exchange method"},
		{"aes128gcm16-x25519", false, `AEAD cipher "aes128gcm16" needs a PRF`},
		{"aes128-prfsha256-x25519", false, `cipher "aes128" needs an integrity algorithm`},
		{"aes128", true, `cipher "aes128" needs an integrity algorithm`},
		{"aes128gcm16-sha256-prfsha256-x25519", false, `integrity algorithm "sha256" with AEAD cipher "aes128gcm16"`},
		{"aes128gcm16-sha256", true, `integrity algorithm "sha256" with AEAD cipher`},
		{"aes128-aes128gcm16-sha256-x25519", false, "cannot mix AEAD and non-AEAD"},
		{"aes128gcm16-prfsha256-x25519", true, `token "prfsha256": a PRF has no place in an ESP proposal`},
		{"aes128gcm16-prfsha256-x25519-esn", false, `token "esn": extended sequence numbers apply to ESP proposals only`},
		{"aes128gcm16-aes128gcm128-prfsha256-x25519", false, `token "aes128gcm128": aes128gcm16 listed twice`},
		{"aes128gcm16-prfsha256-x25519-curve25519", false, "x25519 listed twice"},
		{"aes128gcm16-prfsha256-x25519,aes128-sha1-x25519", false, `IKE proposal 2 ("aes128-sha1-x25519")`},
	} {
		ps, err := ParseProposals(c.in, c.esp)
		if err == nil {
			t.Errorf("ParseProposals(%q, %v) = %v, want error", c.in, c.esp, ps)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseProposals(%q, %v): error %q, want it to contain %q", c.in, c.esp, err, c.want)
		}
		if ps != nil {
			t.Errorf("ParseProposals(%q, %v) returned proposals with an error", c.in, c.esp)
		}
	}
}

func TestDefaultProposals(t *testing.T) {
	ike := DefaultIKEProposals()
	if got, want := ike[0].String(),
		"aes256gcm16-aes128gcm16-prfsha256-prfsha384-prfsha512-x25519-ecp256-modp2048-ecp384-modp3072-modp4096"; got != want {
		t.Errorf("DefaultIKEProposals = %s, want %s", got, want)
	}
	esp := DefaultESPProposals()
	if got, want := esp[0].String(), "aes256gcm16-aes128gcm16-chacha20poly1305-noesn"; got != want {
		t.Errorf("DefaultESPProposals = %s, want %s", got, want)
	}
	// The defaults are valid proposals, and "default" expands to them.
	for _, c := range []struct {
		esp  bool
		want []Proposal
	}{{false, ike}, {true, esp}} {
		for _, p := range c.want {
			if again, err := ParseProposals(p.String(), c.esp); err != nil || !reflect.DeepEqual(again[0], p) {
				t.Errorf("default %s does not parse back: %v", p, err)
			}
			for _, e := range p.Encr {
				if e == nil || !e.AEAD {
					t.Errorf("default %s has a nil or non-AEAD cipher", p)
				}
			}
		}
		got, err := ParseProposals("default", c.esp)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseProposals(default, %v) = %v, %v", c.esp, got, err)
		}
	}
	// Each call returns fresh slices.
	ike[0].KE[0] = nil
	if DefaultIKEProposals()[0].KE[0] == nil {
		t.Error("DefaultIKEProposals shares its slices between calls")
	}
}

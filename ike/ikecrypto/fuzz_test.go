package ikecrypto

import (
	"strings"
	"testing"
)

// FuzzOpen feeds arbitrary bodies to every cipher: Open must fail cleanly,
// never panic, and accept only what Seal produced.
func FuzzOpen(f *testing.F) {
	cases := cipherCases()
	for _, c := range cases {
		f.Add(newTestCipher(f, c).Seal(nil, testAAD, []byte("seed payload")))
	}
	f.Add([]byte{})
	ciphers := make([]Cipher, len(cases))
	for i, c := range cases {
		ciphers[i] = newTestCipher(f, c)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range ciphers {
			if pt, err := c.Open(testAAD, body); err == nil && len(pt) > len(body) {
				t.Fatalf("Open returned %d bytes from a %d-byte body", len(pt), len(body))
			}
		}
	})
}

// FuzzParseProposals: any input either parses into proposals that print and
// parse back, or fails with an ikecrypto error.
func FuzzParseProposals(f *testing.F) {
	for _, s := range []string{"aes256gcm16-prfsha384-x25519,aes128-sha256-modp3072", "aes128gcm16-esn",
		"default", "3des-md5-modp1024", "--,,"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, esp bool) {
		ps, err := ParseProposals(s, esp)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ikecrypto: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		for _, p := range ps {
			if _, err := ParseProposals(p.String(), esp); err != nil {
				t.Fatalf("%q parsed, but its rendering %q does not: %v", s, p.String(), err)
			}
		}
	})
}

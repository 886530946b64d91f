package ikecrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"metro/ike/wire"
)

type cipherCase struct {
	name  string
	encr  *Encr
	integ *Integ
}

func cipherCases() []cipherCase {
	var cs []cipherCase
	for _, e := range encrs {
		if e.AEAD {
			cs = append(cs, cipherCase{e.Name, e, nil})
			continue
		}
		for _, i := range integs {
			cs = append(cs, cipherCase{e.Name + "-" + i.Name, e, i})
		}
	}
	return cs
}

// keysFor returns deterministic, distinct keys for a case.
func keysFor(c cipherCase) (encKey, integKey []byte) {
	encKey = make([]byte, c.encr.KeyLen)
	for i := range encKey {
		encKey[i] = byte(i*7 + 1)
	}
	if c.integ != nil {
		integKey = make([]byte, c.integ.KeyLen)
		for i := range integKey {
			integKey[i] = byte(i*13 + 5)
		}
	}
	return
}

func newTestCipher(t testing.TB, c cipherCase) Cipher {
	t.Helper()
	ek, ik := keysFor(c)
	ciph, err := c.encr.NewIKECipher(ek, c.integ, ik)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return ciph
}

// testAAD stands for an IKE header plus SK payload header.
var testAAD = []byte("IKE header (28 bytes).......SKhd")

func TestCipherRoundTrip(t *testing.T) {
	for _, c := range cipherCases() {
		sealer, opener := newTestCipher(t, c), newTestCipher(t, c)
		for n := 0; n <= 70; n++ {
			pt := repeat(byte(n), n)
			prefix := []byte("prefix")
			out := sealer.Seal(append([]byte{}, prefix...), testAAD, pt)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("%s: Seal clobbered dst", c.name)
			}
			body := out[len(prefix):]
			if len(body) != sealer.SealedLen(n) {
				t.Fatalf("%s: sealed %d bytes into %d, SealedLen says %d", c.name, n, len(body), sealer.SealedLen(n))
			}
			got, err := opener.Open(testAAD, body)
			if err != nil {
				t.Fatalf("%s: Open of %d bytes: %v", c.name, n, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("%s: round trip of %d bytes returned %x", c.name, n, got)
			}
		}
		// With a roomy dst, Seal must still append and not overlap.
		dst := make([]byte, 3, 1024)
		out := sealer.Seal(dst, testAAD, []byte("payload"))
		if got, err := opener.Open(testAAD, out[3:]); err != nil || string(got) != "payload" {
			t.Errorf("%s: seal into spare capacity: %q, %v", c.name, got, err)
		}
	}
}

func TestCipherSealedLen(t *testing.T) {
	for _, c := range cipherCases() {
		ciph := newTestCipher(t, c)
		for n := 0; n < 40; n++ {
			var want int
			if c.encr.AEAD {
				want = 8 + n + 1 + 16 // IV, payload, pad length, ICV (RFC 5282 3)
			} else {
				want = 16 + (n+1+15)/16*16 + c.integ.TruncLen // IV, whole blocks, ICV
			}
			if got := ciph.SealedLen(n); got != want {
				t.Errorf("%s: SealedLen(%d) = %d, want %d", c.name, n, got, want)
			}
		}
	}
}

// TestCipherTamper flips every bit of the aad and of the sealed body (IV,
// ciphertext, ICV) in turn; Open must refuse each.
func TestCipherTamper(t *testing.T) {
	for _, c := range cipherCases() {
		ciph := newTestCipher(t, c)
		aad := append([]byte{}, testAAD...)
		body := ciph.Seal(nil, aad, []byte("IDi AUTH SA TSi TSr"))
		for _, part := range []struct {
			name string
			buf  []byte
		}{{"aad", aad}, {"body", body}} {
			for i := range part.buf {
				for bit := 0; bit < 8; bit++ {
					part.buf[i] ^= 1 << bit
					if _, err := ciph.Open(aad, body); err == nil {
						t.Fatalf("%s: flipping bit %d of %s byte %d went unnoticed", c.name, bit, part.name, i)
					}
					part.buf[i] ^= 1 << bit
				}
			}
		}
		if _, err := ciph.Open(aad, body); err != nil {
			t.Fatalf("%s: untouched message rejected: %v", c.name, err)
		}
		for _, bad := range [][]byte{nil, body[:len(body)-1], append(append([]byte{}, body...), 0), body[1:]} {
			if _, err := ciph.Open(aad, bad); err == nil {
				t.Errorf("%s: body of %d bytes accepted", c.name, len(bad))
			}
		}
		if _, err := ciph.Open(aad, body[:5]); !errors.Is(err, ErrShortBody) {
			t.Errorf("%s: 5-byte body: %v, want ErrShortBody", c.name, err)
		}
		// Other keys must not open it.
		ek, ik := keysFor(c)
		ek[0] ^= 1
		if ik != nil {
			ik[0] ^= 1
		}
		other, _ := c.encr.NewIKECipher(ek, c.integ, ik)
		if _, err := other.Open(aad, body); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: other key: %v, want ErrAuth", c.name, err)
		}
	}
}

func TestCipherFreshIVs(t *testing.T) {
	for _, c := range cipherCases() {
		ciph := newTestCipher(t, c)
		ivLen := 8
		if !c.encr.AEAD {
			ivLen = 16
		}
		seen := map[string]bool{}
		for i := 0; i < 100; i++ {
			iv := string(ciph.Seal(nil, testAAD, []byte("same"))[:ivLen])
			if seen[iv] {
				t.Fatalf("%s: IV repeated after %d messages", c.name, i)
			}
			seen[iv] = true
		}
	}
}

// aeadReference seals like RFC 5282 with the raw AEAD, with nonce = salt ||
// IV and an explicit amount of padding.
func aeadReference(t *testing.T, e *Encr, key, iv, aad, payload []byte, pad int) []byte {
	t.Helper()
	inner := append(append(append([]byte{}, payload...), repeat(0xa5, pad)...), byte(pad))
	return aeadSealRaw(t, e, key, iv, aad, inner)
}

// aeadSealRaw returns IV || AEAD(salt || IV, inner, aad), inner taken as is.
func aeadSealRaw(t *testing.T, e *Encr, key, iv, aad, inner []byte) []byte {
	t.Helper()
	k, salt := key[:len(key)-4], key[len(key)-4:]
	var aead cipher.AEAD
	var err error
	if e.ID == wire.ENCR_CHACHA20_POLY1305 {
		aead, err = chacha20poly1305.New(k)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(k); err == nil {
			aead, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	nonce := append(append([]byte{}, salt...), iv...)
	return append(append([]byte{}, iv...), aead.Seal(nil, nonce, inner, aad)...)
}

// TestAEADLayout checks the AEAD ciphers against the construction written
// out with the raw AEAD: Open takes any padding length, and Seal produces
// exactly salt||IV nonce, no padding, a zero pad-length byte.
func TestAEADLayout(t *testing.T) {
	for _, c := range cipherCases() {
		if !c.encr.AEAD {
			continue
		}
		ciph := newTestCipher(t, c)
		key, _ := keysFor(c)
		payload := []byte("inner payloads")
		for _, pad := range []int{0, 1, 7, 255} {
			body := aeadReference(t, c.encr, key, []byte("8byteIV!"), testAAD, payload, pad)
			got, err := ciph.Open(testAAD, body)
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("%s: Open with %d padding bytes: %q, %v", c.name, pad, got, err)
			}
		}
		sealed := ciph.Seal(nil, testAAD, payload)
		if want := aeadReference(t, c.encr, key, sealed[:8], testAAD, payload, 0); !bytes.Equal(sealed, want) {
			t.Errorf("%s: Seal = %x, want %x", c.name, sealed, want)
		}
		// A pad length larger than what was decrypted is refused: the
		// one-byte inner plaintext {5} claims five padding bytes.
		bogus := aeadSealRaw(t, c.encr, key, []byte("8byteIV!"), testAAD, []byte{5})
		if _, err := ciph.Open(testAAD, bogus); !errors.Is(err, ErrPadding) {
			t.Errorf("%s: pad length beyond the payload: %v, want ErrPadding", c.name, err)
		}
	}
}

// TestCBCLayout checks AES-CBC + HMAC against RFC 7296 3.14 written out: the
// ICV is the truncated HMAC of aad || IV || ciphertext, and the decrypted
// ciphertext is payload || padding || pad length.
func TestCBCLayout(t *testing.T) {
	for _, c := range cipherCases() {
		if c.encr.AEAD {
			continue
		}
		ciph := newTestCipher(t, c)
		ek, ik := keysFor(c)
		payload := []byte("twenty-one byte body!")
		body := ciph.Seal(nil, testAAD, payload)
		icvLen := c.integ.TruncLen
		ivct, icv := body[:len(body)-icvLen], body[len(body)-icvLen:]
		m := hmac.New(c.integ.hash, ik)
		m.Write(testAAD)
		m.Write(ivct)
		if want := m.Sum(nil)[:icvLen]; !bytes.Equal(icv, want) {
			t.Errorf("%s: ICV %x, want %x", c.name, icv, want)
		}
		b, _ := aes.NewCipher(ek)
		pt := make([]byte, len(ivct)-16)
		cipher.NewCBCDecrypter(b, ivct[:16]).CryptBlocks(pt, ivct[16:])
		if len(pt) != 32 || !bytes.Equal(pt[:21], payload) || pt[31] != 10 {
			t.Errorf("%s: decrypted %x, want payload, 10 padding bytes, pad length 10", c.name, pt)
		}

		// A message with a pad length larger than the plaintext, properly
		// MACed, is refused for its padding.
		iv := repeat(0x24, 16)
		blk := repeat(0xee, 16) // last byte 0xee: pad length 238
		ct := make([]byte, 16)
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, blk)
		m = hmac.New(c.integ.hash, ik)
		m.Write(testAAD)
		m.Write(iv)
		m.Write(ct)
		bogus := append(append(append([]byte{}, iv...), ct...), m.Sum(nil)[:icvLen]...)
		if _, err := ciph.Open(testAAD, bogus); !errors.Is(err, ErrPadding) {
			t.Errorf("%s: bogus pad length: %v, want ErrPadding", c.name, err)
		}
		// A ciphertext that is not whole blocks, properly MACed.
		ragged := append(append(append([]byte{}, iv...), ct...), 0)
		m = hmac.New(c.integ.hash, ik)
		m.Write(testAAD)
		m.Write(ragged)
		ragged = append(ragged, m.Sum(nil)[:icvLen]...)
		if _, err := ciph.Open(testAAD, ragged); !errors.Is(err, ErrBlockSize) {
			t.Errorf("%s: ragged ciphertext: %v, want ErrBlockSize", c.name, err)
		}
	}
}

func TestNewIKECipherErrors(t *testing.T) {
	gcm := EncrByID(wire.ENCR_AES_GCM_16, 128)
	cbc := EncrByID(wire.ENCR_AES_CBC, 256)
	sha := IntegByID(wire.AUTH_HMAC_SHA2_256_128)
	for _, c := range []struct {
		name     string
		encr     *Encr
		ek       []byte
		integ    *Integ
		ik       []byte
		contains string
	}{
		{"GCM key without salt", gcm, make([]byte, 16), nil, nil, "encryption key is 16 bytes, want 20"},
		{"GCM with integrity", gcm, make([]byte, 20), sha, make([]byte, 32), "takes no integrity"},
		{"GCM with integrity key", gcm, make([]byte, 20), nil, make([]byte, 32), "takes no integrity"},
		{"CBC without integrity", cbc, make([]byte, 32), nil, nil, "needs an integrity"},
		{"CBC short integrity key", cbc, make([]byte, 32), sha, make([]byte, 16), "integrity key is 16 bytes, want 32"},
		{"CBC short key", cbc, make([]byte, 16), sha, make([]byte, 32), "want 32"},
	} {
		_, err := c.encr.NewIKECipher(c.ek, c.integ, c.ik)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.contains)) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.contains)
		}
	}
}

func TestCipherErrorsLeakNothing(t *testing.T) {
	c := cipherCases()[0]
	ciph := newTestCipher(t, c)
	body := ciph.Seal(nil, testAAD, []byte("secret payload"))
	body[len(body)-1] ^= 1
	_, err := ciph.Open(testAAD, body)
	if err == nil || bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("%x", body[:4]))) {
		t.Errorf("error %v echoes message bytes", err)
	}
}

// TestCipherFromDerivedKeys wires DeriveIKEKeys to NewIKECipher the way the
// IKE engine does, passing SK_ai/SK_ar even when the cipher is AEAD: the
// initiator's outbound cipher and the responder's inbound one interoperate.
func TestCipherFromDerivedKeys(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	for _, c := range cipherCases() {
		k := DeriveIKEKeys(p, c.encr, c.integ, repeat(1, 32), repeat(2, 32), repeat(3, 32), 1, 2)
		if c.encr.AEAD && (k.SKai != nil || k.SKar != nil) {
			t.Errorf("%s: AEAD suite has integrity keys", c.name)
		}
		out, err := c.encr.NewIKECipher(k.SKei, c.integ, k.SKai)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		in, err := c.encr.NewIKECipher(k.SKei, c.integ, k.SKai)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wrongDir, err := c.encr.NewIKECipher(k.SKer, c.integ, k.SKar)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body := out.Seal(nil, testAAD, []byte("IKE_AUTH payloads"))
		if got, err := in.Open(testAAD, body); err != nil || string(got) != "IKE_AUTH payloads" {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
		if _, err := wrongDir.Open(testAAD, body); err == nil {
			t.Errorf("%s: responder keys open an initiator message", c.name)
		}
	}
}

// TestAEADShapes: every AEAD transform builds an AEAD with the nonce and
// ICV sizes the SK payload code assumes, for each of its key lengths.
func TestAEADShapes(t *testing.T) {
	for _, e := range encrs {
		if !e.AEAD {
			continue
		}
		c, err := e.NewIKECipher(make([]byte, e.KeyLen), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		a := c.(*aeadCipher).aead()
		if a.NonceSize() != saltLen+aeadIVLen || a.Overhead() != aeadICVLen {
			t.Errorf("%s: nonce %d bytes, ICV %d, want %d and %d", e.Name, a.NonceSize(), a.Overhead(), saltLen+aeadIVLen, aeadICVLen)
		}
	}
}

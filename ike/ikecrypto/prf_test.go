package ikecrypto

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"testing"

	"metro/ike/wire"
)

// TestPRFRFC4231 checks the HMAC-SHA2 PRFs against RFC 4231 test cases 1, 2
// and 6 (sections 4.2, 4.3, 4.7).
func TestPRFRFC4231(t *testing.T) {
	type vec struct {
		key, data []byte
		want      map[uint16]string
	}
	vectors := map[string]vec{
		"case 1": {repeat(0x0b, 20), []byte("Hi There"), map[uint16]string{
			wire.PRF_HMAC_SHA2_256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
			wire.PRF_HMAC_SHA2_384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c" +
				"faea9ea9076ede7f4af152e8b2fa9cb6",
			wire.PRF_HMAC_SHA2_512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" +
				"daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
		}},
		"case 2": {[]byte("Jefe"), []byte("what do ya want for nothing?"), map[uint16]string{
			wire.PRF_HMAC_SHA2_256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
			wire.PRF_HMAC_SHA2_384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e" +
				"8e2240ca5e69e2c78b3239ecfab21649",
			wire.PRF_HMAC_SHA2_512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" +
				"9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
		}},
		"case 6": {repeat(0xaa, 131), []byte("Test Using Larger Than Block-Size Key - Hash Key First"), map[uint16]string{
			wire.PRF_HMAC_SHA2_256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
			wire.PRF_HMAC_SHA2_384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6" +
				"0c2ef6ab4030fe8296248df163f44952",
			wire.PRF_HMAC_SHA2_512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352" +
				"6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
		}},
	}
	for name, v := range vectors {
		for id, wantHex := range v.want {
			p := PRFByID(id)
			want := unhex(t, wantHex)
			if got := p.Compute(v.key, v.data); !bytes.Equal(got, want) {
				t.Errorf("%s %s: got %x, want %x", p.Name, name, got, want)
			}
			// The data may arrive in parts; only the concatenation counts.
			mid := len(v.data) / 2
			if got := p.Compute(v.key, v.data[:mid], nil, v.data[mid:]); !bytes.Equal(got, want) {
				t.Errorf("%s %s in parts: got %x, want %x", p.Name, name, got, want)
			}
			if len(want) != p.Size {
				t.Errorf("%s: Size %d, output %d bytes", p.Name, p.Size, len(want))
			}
		}
	}
}

// plusReference is prf+ written out the way RFC 7296 2.13 states it, with
// the standard library's HMAC and explicit concatenation.
func plusReference(p *PRF, key, seed []byte, n int) []byte {
	var out, t []byte
	for i := 1; len(out) < n; i++ {
		in := append(append(append([]byte{}, t...), seed...), byte(i))
		m := hmac.New(p.hash, key)
		m.Write(in)
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

func TestPRFPlusMatchesReference(t *testing.T) {
	key := []byte("prf+ key of no particular length")
	seed := []byte("Ni | Nr | SPIi | SPIr stand-in")
	for _, p := range prfs {
		for _, n := range []int{0, 1, p.Size - 1, p.Size, p.Size + 1, 3*p.Size + 5, 200, p.MaxPlus()} {
			got := p.Plus(key, seed, n)
			if want := plusReference(p, key, seed, n); !bytes.Equal(got, want) {
				t.Fatalf("%s prf+ %d bytes: got %x, want %x", p.Name, n, got, want)
			}
			if len(got) != n || cap(got) != n {
				t.Errorf("%s prf+ %d bytes: len %d cap %d", p.Name, n, len(got), cap(got))
			}
		}
		// A longer output extends a shorter one.
		short, long := p.Plus(key, seed, 50), p.Plus(key, seed, 500)
		if !bytes.Equal(short, long[:50]) {
			t.Errorf("%s: prf+ of 50 bytes is not a prefix of prf+ of 500", p.Name)
		}
	}
}

func TestPRFPlusLimit(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	if p.MaxPlus() != 255*32 {
		t.Fatalf("MaxPlus = %d, want %d", p.MaxPlus(), 255*32)
	}
	for _, n := range []int{p.MaxPlus() + 1, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("prf+ of %d bytes did not panic", n)
				}
			}()
			p.Plus([]byte("k"), []byte("s"), n)
		}()
	}
}

// TestPRFPlusNIST runs the prf+ vectors of NSS's IKE test suite for
// HMAC-SHA-256 (gtests/common/testvectors/ike-sha256-vectors.h, cases 8-10,
// taken from the NIST CAVS IKEv2 KDF samples): prf+(SKEYSEED, Ni | Nr | SPIi |
// SPIr) truncated to 132, 32 and 15 bytes.
func TestPRFPlusNIST(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	skeyseed := unhex(t, "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe")
	seed := unhex(t, "3f302be1abcb28e1 8c332ee006064c9b 40dac39e1e1a8640 8619a1cf9a6e4c07")
	dkm := unhex(t, `0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ece98aca531
		188d16041b3bb936d2dbb3b4993a6e768a809160de45d0283f273a6cdf6854379e31be72b
		8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4e1c19bdcd4db14b29d98db1a74a
		d405c588662c14a04d0d36aa4ab55e90f8986d12d4aad`)
	if len(dkm) != 132 {
		t.Fatalf("vector is %d bytes, want 132", len(dkm))
	}
	for _, n := range []int{132, 32, 15} {
		if got := p.Plus(skeyseed, seed, n); !bytes.Equal(got, dkm[:n]) {
			t.Errorf("prf+ %d bytes: got %x, want %x", n, got, dkm[:n])
		}
	}
}

func TestByIDUnknown(t *testing.T) {
	if PRFByID(wire.PRF_HMAC_SHA1) != nil || PRFByID(wire.PRF_HMAC_MD5) != nil || PRFByID(99) != nil {
		t.Error("PRFByID returned a PRF metro does not support")
	}
	if IntegByID(wire.AUTH_HMAC_SHA1_96) != nil || IntegByID(wire.AUTH_NONE) != nil {
		t.Error("IntegByID returned an algorithm metro does not support")
	}
	if KEByID(wire.KE_MODP1024) != nil || KEByID(wire.KE_ECP521) != nil || KEByID(wire.KE_NONE) != nil {
		t.Error("KEByID returned a group metro does not support")
	}
	for _, c := range []struct {
		id   uint16
		bits int
	}{{wire.ENCR_AES_CBC, 0}, {wire.ENCR_AES_CBC, 192}, {wire.ENCR_AES_GCM_16, 0},
		{wire.ENCR_CHACHA20_POLY1305, 256}, {wire.ENCR_3DES, 0}, {wire.ENCR_AES_GCM_8, 128}} {
		if e := EncrByID(c.id, c.bits); e != nil {
			t.Errorf("EncrByID(%d, %d) = %s, want nil", c.id, c.bits, e.Name)
		}
	}
}

func TestTables(t *testing.T) {
	for _, c := range []struct {
		id                uint16
		bits, keyLen, icv int
		name, kernel      string
	}{
		{wire.ENCR_AES_GCM_16, 128, 20, 128, "aes128gcm16", "rfc4106(gcm(aes))"},
		{wire.ENCR_AES_GCM_16, 256, 36, 128, "aes256gcm16", "rfc4106(gcm(aes))"},
		{wire.ENCR_CHACHA20_POLY1305, 0, 36, 128, "chacha20poly1305", "rfc7539esp(chacha20,poly1305)"},
		{wire.ENCR_AES_CBC, 128, 16, 0, "aes128", "cbc(aes)"},
		{wire.ENCR_AES_CBC, 256, 32, 0, "aes256", "cbc(aes)"},
	} {
		e := EncrByID(c.id, c.bits)
		if e == nil {
			t.Errorf("EncrByID(%d, %d) = nil", c.id, c.bits)
			continue
		}
		if e.Name != c.name || e.KeyLen != c.keyLen || e.ICVBits != c.icv || e.Kernel != c.kernel || e.AEAD != (c.icv != 0) {
			t.Errorf("EncrByID(%d, %d) = %+v", c.id, c.bits, *e)
		}
	}
	for _, c := range []struct {
		id                  uint16
		name, kernel        string
		keyLen, trunc, prfN int
	}{
		{wire.AUTH_HMAC_SHA2_256_128, "sha256", "hmac(sha256)", 32, 16, 32},
		{wire.AUTH_HMAC_SHA2_384_192, "sha384", "hmac(sha384)", 48, 24, 48},
		{wire.AUTH_HMAC_SHA2_512_256, "sha512", "hmac(sha512)", 64, 32, 64},
	} {
		i := IntegByID(c.id)
		if i == nil || i.Name != c.name || i.Kernel != c.kernel || i.KeyLen != c.keyLen || i.TruncLen != c.trunc ||
			i.TruncBits() != 8*c.trunc || i.PRF().Size != c.prfN {
			t.Errorf("IntegByID(%d) = %+v", c.id, i)
		}
	}
}

// TestPRFMatchesCryptoHMAC checks metro's pooled HMAC against crypto/hmac
// for keys shorter than, as long as and longer than the hash block (those
// are hashed first), with messages in several pieces, and with states
// reused from the pool under different keys in turn.
func TestPRFMatchesCryptoHMAC(t *testing.T) {
	for _, p := range prfs {
		for _, kl := range []int{0, 1, 20, p.Size, 63, 64, 65, 127, 128, 129, 300} {
			key := bytes.Repeat([]byte{byte(kl + 1)}, kl)
			for _, parts := range [][][]byte{nil, {[]byte("a")}, {[]byte("Key Pad "), nil, []byte("for IKEv2")}, {bytes.Repeat([]byte{7}, 1000)}} {
				ref := hmac.New(p.hash, key)
				for _, d := range parts {
					ref.Write(d)
				}
				want := ref.Sum(nil)
				if got := p.Compute(key, parts...); !bytes.Equal(got, want) {
					t.Fatalf("%s key %d bytes, %d parts: got %x, want %x", p.Name, kl, len(parts), got, want)
				}
			}
			// prf+ under a long key, right after a short-key Compute
			// left its state in the pool.
			_ = p.Compute([]byte("k"), []byte("x"))
			if got, want := p.Plus(key, []byte("seed"), 3*p.Size), plusReference(p, key, []byte("seed"), 3*p.Size); !bytes.Equal(got, want) {
				t.Fatalf("%s prf+ key %d bytes: got %x, want %x", p.Name, kl, got, want)
			}
		}
	}
}

// TestPRFConcurrent computes PRFs from many goroutines at once: pooled
// states must never be shared (run with -race).
func TestPRFConcurrent(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			key := []byte{byte(g), 1, 2, 3}
			ref := hmac.New(p.hash, key)
			ref.Write([]byte("data"))
			want := ref.Sum(nil)
			for range 500 {
				if got := p.Compute(key, []byte("data")); !bytes.Equal(got, want) {
					done <- fmt.Errorf("goroutine %d: got %x, want %x", g, got, want)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

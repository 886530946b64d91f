package ikecrypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"testing"

	"metro/ike/wire"
)

func concatKeys(k IKEKeys) []byte {
	return bytes.Join([][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr}, nil)
}

// TestIKEv2KDFNISTSHA256 follows one IKE SA through the HMAC-SHA-256 vectors
// of NSS's IKE test suite (gtests/common/testvectors/ike-sha256-vectors.h,
// cases 1, 6, 7 and 8, taken from the NIST CAVS IKEv2 KDF samples):
// SKEYSEED from g^ir, the keying material prf+(SKEYSEED, Ni | Nr | SPIi |
// SPIr), and the SKEYSEED of a rekey from the SK_d it yields.
func TestIKEv2KDFNISTSHA256(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)

	// Case 1: long nonces.
	gir1 := unhex(t, "a1ff3dc6cf9b4c04709943cb4ca1f1789bcf360b03f1d027de3ae8ee039e9155")
	ni1 := unhex(t, `b1dee62505b47b223bae14ce7a5b757402ad1587511618d09f94950d47f1d8d4ce86aca12
		d78db9854d86019ad735757ae79d8932ac0c7db842c85060150ca875ea5d47e3cfcb2a059
		22ebb7959d49b9797a2289676ee79a1d9a18b790f87e4771ddaf4be3376057a553162f68f
		e429aca73b07234543801ba2122b1bde82251770d05df813cf556a11ca4dc43ffcb85a97d
		bed16e2fda6985e07e31be6364899e63c507c7c616e5eb7765a53560f76772de43918ba07
		badfe85244dcdcd917cb065afb60e3b7e68b54dd94bfc7c31c8b752892781ed3cc4b7f28f
		bc0ab9af908f5ae1f09f893f80100a7b3135993161b51fbba3bbb24b9f88c6147de82cd6f
		0`)
	nr1 := unhex(t, `f0acfef2ad1f7add0eaafda78c1cf1097d9fc91cb04a7c145069ac426fd164cbe661b1dd2
		df0fb84e19512181f0d8ea50b7860845f332757a8e56d2a3b7be436b5718a2d49baa996a4
		616684a208c2d611cd65e605dca6e3d3f116859b4410fe13679696bb2e23c08a40c7e1316
		d54b4c9c0286701c221151b3642cb4112ca1a53e0e597a7e29c634caed86ca3c31973d37b
		4c346134fd6784cd99913feedf3d29d89a0a02a5a750f02f5738109dcc670bb27701fb59f
		78e83b76860c3fec079a1fc8c937ddb58ae7500422b7e49ce63759c65b6bc439381d56bcc
		159edede894b073841036ebfa050a5b3e7c876a3f18def26b1768a263ac66c9d83b680eb5
		e`)
	want1 := unhex(t, "750c5c94b9c2ec20b68033e024dadf0fa87e8b48c6561b21c72478451a06583d")
	if got := SKEYSEED(p, ni1, nr1, gir1); !bytes.Equal(got, want1) {
		t.Errorf("case 1 SKEYSEED: got %x, want %x", got, want1)
	}

	// Cases 6, 8, 7: one SA.
	gir := unhex(t, "0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29")
	ni, nr := unhex(t, "3f302be1abcb28e1"), unhex(t, "8c332ee006064c9b")
	spii, spir := uint64(0x40dac39e1e1a8640), uint64(0x8619a1cf9a6e4c07)
	wantSeed := unhex(t, "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe")
	wantDKM := unhex(t, `0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ece98aca531
		188d16041b3bb936d2dbb3b4993a6e768a809160de45d0283f273a6cdf6854379e31be72b
		8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4e1c19bdcd4db14b29d98db1a74a
		d405c588662c14a04d0d36aa4ab55e90f8986d12d4aad`)
	girNew := unhex(t, "25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c")
	wantRekey := unhex(t, "2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398")

	if got := SKEYSEED(p, ni, nr, gir); !bytes.Equal(got, wantSeed) {
		t.Errorf("case 6 SKEYSEED: got %x, want %x", got, wantSeed)
	}
	for _, c := range []struct {
		encr  *Encr
		integ *Integ
	}{
		{EncrByID(wire.ENCR_AES_GCM_16, 256), nil},
		{EncrByID(wire.ENCR_AES_CBC, 128), IntegByID(wire.AUTH_HMAC_SHA2_256_128)},
	} {
		keys := DeriveIKEKeys(p, c.encr, c.integ, ni, nr, gir, spii, spir)
		if got := concatKeys(keys); !bytes.Equal(got[:len(wantDKM)], wantDKM) {
			t.Errorf("case 8 DKM with %s: got %x, want %x", c.encr.Name, got[:len(wantDKM)], wantDKM)
		}
		if got := RekeySKEYSEED(p, keys.SKd, girNew, ni, nr); !bytes.Equal(got, wantRekey) {
			t.Errorf("case 7 SKEYSEED(rekey): got %x, want %x", got, wantRekey)
		}
	}
}

// prfSHA1 exists only to run the published SHA-1 vectors; metro refuses
// HMAC-SHA1 in proposals.
var prfSHA1 = &PRF{ID: wire.PRF_HMAC_SHA1, Name: "prfsha1", Size: sha1.Size, hash: sha1.New}

// TestIKEv2KDFCAVSSHA1 runs the complete IKEv2 KDF vector (SKEYSEED, DKM,
// DKM(Child SA), DKM(Child SA D-H), SKEYSEED(Rekey)) that libreswan records
// from its NIST CAVS harness (programs/cavp ikev2 test, hash SHA-1, 132-byte
// DKM). prf+ and the derivations do not depend on the hash, so this checks
// the child SA derivations the SHA-256 vectors do not cover.
func TestIKEv2KDFCAVSSHA1(t *testing.T) {
	p := prfSHA1
	gir := unhex(t, "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52")
	girNew := unhex(t, "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330")
	ni, nr := unhex(t, "32b50d5f4a3763f3"), unhex(t, "9206a04b26564cb1")
	spii, spir := uint64(0x34c9e7c188868785), uint64(0x3ff77d760d2b2199)
	wantSeed := unhex(t, "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7")
	wantDKM := unhex(t, `a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e5
		14a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702c979
		fa280870d2ed41efa9c549fd11198af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a811574
		35a7a56cc4`)
	wantChild := unhex(t, `8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1c
		dabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580
		b1e521a8fe20754a2d883ba0c2cf285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e664
		994d234cb4`)
	wantChildDH := unhex(t, `bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c6
		6232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a5080d7d
		4b5666023a8bbb5ffb7857240f9a05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c70
		54d56fd74c`)
	wantRekey := unhex(t, "63e81194946ebd05df7df5ebf5d8750056bf1f1d")
	for _, v := range [][]byte{wantDKM, wantChild, wantChildDH} {
		if len(v) != 132 {
			t.Fatalf("vector is %d bytes, want 132", len(v))
		}
	}

	skeyseed := SKEYSEED(p, ni, nr, gir)
	if !bytes.Equal(skeyseed, wantSeed) {
		t.Errorf("SKEYSEED: got %x, want %x", skeyseed, wantSeed)
	}
	// aes256gcm16 with a 20-byte PRF takes exactly 132 bytes:
	// SK_d 20 + SK_e 2*36 + SK_p 2*20.
	keys := DeriveIKEKeys(p, EncrByID(wire.ENCR_AES_GCM_16, 256), nil, ni, nr, gir, spii, spir)
	if got := concatKeys(keys); !bytes.Equal(got, wantDKM) {
		t.Errorf("DKM: got %x, want %x", got, wantDKM)
	}
	if got := ChildKeymat(p, keys.SKd, nil, ni, nr, 132); !bytes.Equal(got, wantChild) {
		t.Errorf("DKM(Child SA): got %x, want %x", got, wantChild)
	}
	if got := ChildKeymat(p, keys.SKd, girNew, ni, nr, 132); !bytes.Equal(got, wantChildDH) {
		t.Errorf("DKM(Child SA D-H): got %x, want %x", got, wantChildDH)
	}
	if got := RekeySKEYSEED(p, keys.SKd, girNew, ni, nr); !bytes.Equal(got, wantRekey) {
		t.Errorf("SKEYSEED(Rekey): got %x, want %x", got, wantRekey)
	}
}

// TestDeriveIKEKeysLengths checks, for every algorithm combination, the key
// lengths of RFC 7296 2.14 and that the keys are consecutive slices of
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) computed independently.
func TestDeriveIKEKeysLengths(t *testing.T) {
	ni, nr := repeat(0x11, 32), repeat(0x22, 48)
	gir := repeat(0x33, 256)
	spii, spir := uint64(0x0102030405060708), uint64(0x1112131415161718)
	for _, p := range prfs {
		for _, e := range encrs {
			withInteg := []*Integ{nil}
			if !e.AEAD {
				withInteg = integs
			}
			for _, i := range withInteg {
				k := DeriveIKEKeys(p, e, i, ni, nr, gir, spii, spir)
				integLen := 0
				if i != nil {
					integLen = i.KeyLen
				}
				name := p.Name + "-" + e.Name
				if i != nil {
					name += "-" + i.Name
				}
				for _, c := range []struct {
					what string
					key  []byte
					want int
				}{
					{"SK_d", k.SKd, p.Size}, {"SK_ai", k.SKai, integLen}, {"SK_ar", k.SKar, integLen},
					{"SK_ei", k.SKei, e.KeyLen}, {"SK_er", k.SKer, e.KeyLen},
					{"SK_pi", k.SKpi, p.Size}, {"SK_pr", k.SKpr, p.Size},
				} {
					if len(c.key) != c.want {
						t.Errorf("%s: %s is %d bytes, want %d", name, c.what, len(c.key), c.want)
					}
				}
				// Independent computation: SKEYSEED with hmac directly, then
				// the reference prf+ over the explicitly built seed.
				m := hmac.New(p.hash, append(append([]byte{}, ni...), nr...))
				m.Write(gir)
				seed := append(append([]byte{}, ni...), nr...)
				seed = binary.BigEndian.AppendUint64(seed, spii)
				seed = binary.BigEndian.AppendUint64(seed, spir)
				all := concatKeys(k)
				if want := plusReference(p, m.Sum(nil), seed, len(all)); !bytes.Equal(all, want) {
					t.Errorf("%s: keys are not prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)", name)
				}
				if bytes.Equal(k.SKei, k.SKer) || bytes.Equal(k.SKpi, k.SKpr) {
					t.Errorf("%s: initiator and responder keys are equal", name)
				}
			}
		}
	}
}

func TestDeriveRekeyIKEKeys(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_384)
	e := EncrByID(wire.ENCR_AES_GCM_16, 256)
	oldSKd, gir, ni, nr := repeat(1, 48), repeat(2, 32), repeat(3, 32), repeat(4, 32)
	got := DeriveRekeyIKEKeys(p, e, nil, oldSKd, gir, ni, nr, 5, 6)
	// prf(SK_d(old), g^ir(new) | Ni | Nr), written out with hmac.
	m := hmac.New(p.hash, oldSKd)
	m.Write(bytes.Join([][]byte{gir, ni, nr}, nil))
	want := IKEKeysFromSKEYSEED(p, e, nil, m.Sum(nil), ni, nr, 5, 6)
	if !bytes.Equal(concatKeys(got), concatKeys(want)) {
		t.Error("DeriveRekeyIKEKeys does not use SKEYSEED = prf(SK_d(old), g^ir | Ni | Nr)")
	}
	if bytes.Equal(concatKeys(got), concatKeys(DeriveIKEKeys(p, e, nil, ni, nr, gir, 5, 6))) {
		t.Error("rekey derivation equals the initial derivation")
	}
}

func TestDeriveChildKeys(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	skd, gir, ni, nr := repeat(9, 32), repeat(8, 32), repeat(7, 32), repeat(6, 32)
	for _, c := range []struct {
		encr  *Encr
		integ *Integ
		gir   []byte
	}{
		{EncrByID(wire.ENCR_AES_GCM_16, 256), nil, nil},
		{EncrByID(wire.ENCR_CHACHA20_POLY1305, 0), nil, gir},
		{EncrByID(wire.ENCR_AES_CBC, 128), IntegByID(wire.AUTH_HMAC_SHA2_256_128), gir},
	} {
		k := DeriveChildKeys(p, c.encr, c.integ, skd, c.gir, ni, nr)
		il := 0
		if c.integ != nil {
			il = c.integ.KeyLen
		}
		want := plusReference(p, skd, bytes.Join([][]byte{c.gir, ni, nr}, nil), 2*(c.encr.KeyLen+il))
		// RFC 7296 2.17: encryption then integrity key, initiator-to-responder first.
		got := bytes.Join([][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR}, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: child keys are not KEYMAT in RFC 7296 2.17 order", c.encr.Name)
		}
		if len(k.EncrI) != c.encr.KeyLen || len(k.IntegR) != il {
			t.Errorf("%s: key lengths %d/%d", c.encr.Name, len(k.EncrI), len(k.IntegR))
		}
		k.Wipe()
		if !bytes.Equal(k.EncrI, make([]byte, c.encr.KeyLen)) {
			t.Errorf("%s: Wipe left key material", c.encr.Name)
		}
	}
}

func TestPSKAuth(t *testing.T) {
	p := PRFByID(wire.PRF_HMAC_SHA2_256)
	msg := []byte("IKE_SA_INIT request bytes")
	nonce := repeat(0x5a, 32)
	skp := repeat(0x42, 32)
	idBody := []byte{byte(wire.ID_IPV4_ADDR), 0, 0, 0, 192, 0, 2, 1}

	octets := SignedOctets(p, msg, nonce, skp, idBody)
	m := hmac.New(p.hash, skp)
	m.Write(idBody)
	if want := bytes.Join([][]byte{msg, nonce, m.Sum(nil)}, nil); !bytes.Equal(octets, want) {
		t.Fatalf("SignedOctets = %x, want RealMessage | Nonce | prf(SK_p, IDx') = %x", octets, want)
	}

	psk := []byte("correct horse battery staple")
	auth := PSKAuth(p, psk, octets)
	inner := hmac.New(p.hash, psk)
	inner.Write([]byte("Key Pad for IKEv2"))
	outer := hmac.New(p.hash, inner.Sum(nil))
	outer.Write(octets)
	if want := outer.Sum(nil); !bytes.Equal(auth, want) {
		t.Fatalf("PSKAuth = %x, want %x", auth, want)
	}
	if !VerifyPSKAuth(p, psk, octets, auth) {
		t.Error("VerifyPSKAuth rejects the right AUTH")
	}
	if VerifyPSKAuth(p, []byte("wrong psk"), octets, auth) {
		t.Error("VerifyPSKAuth accepts AUTH under another PSK")
	}
	if VerifyPSKAuth(p, psk, octets, auth[:len(auth)-1]) {
		t.Error("VerifyPSKAuth accepts a truncated AUTH")
	}
}

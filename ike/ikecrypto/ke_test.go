package ikecrypto

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"metro/ike/wire"
)

// shareFromPrivate builds the key share of a known private key.
func shareFromPrivate(t *testing.T, k *KE, priv []byte) KeyShare {
	t.Helper()
	if k.modp != nil {
		return k.modp.share(k, new(big.Int).SetBytes(priv))
	}
	p, err := k.curve.NewPrivateKey(priv)
	if err != nil {
		t.Fatalf("%s private key: %v", k.Name, err)
	}
	return newECDHShare(k, p)
}

// ecdhVectors: RFC 7748 6.1 (X25519) and RFC 5903 8.1, 8.2 (ECP-256/384,
// where a public value is x || y and the shared secret is the x coordinate
// of g^ir).
var ecdhVectors = []struct {
	group                     uint16
	i, gi, r, gr, gir, source string
}{
	{
		group:  wire.KE_X25519,
		source: "RFC 7748 6.1",
		i:      "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		gi:     "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		r:      "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		gr:     "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		gir:    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
	},
	{
		group:  wire.KE_ECP256,
		source: "RFC 5903 8.1",
		i:      "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
		gi: "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180" +
			"5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
		r: "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
		gr: "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63" +
			"56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
		gir: "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
	},
	{
		group:  wire.KE_ECP384,
		source: "RFC 5903 8.2",
		i: "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655" +
			"E35B5380 41E649EE 3FAEF896 783AB194",
		gi: "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6" +
			"DE3AC808 ACB4BDB4 C88732AE E95F41AA" +
			"9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E" +
			"EB9FCFF3 C2C947DA E69B4C63 4573A81C",
		r: "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942" +
			"E0308312 916B8ED2 960E4BD5 5A7448FC",
		gr: "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D" +
			"0D1AC43A 0336DEF9 6FDA41D0 774A3571" +
			"DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF" +
			"F83FA401 42209DFF 5EAAD96D B9E6386C",
		gir: "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4" +
			"D6031355 69B9E9D0 9CF5D4A2 70F59746",
	},
}

func TestECDHVectors(t *testing.T) {
	for _, v := range ecdhVectors {
		k := KEByID(v.group)
		si, sr := shareFromPrivate(t, k, unhex(t, v.i)), shareFromPrivate(t, k, unhex(t, v.r))
		gi, gr, gir := unhex(t, v.gi), unhex(t, v.gr), unhex(t, v.gir)
		if len(gi) != k.PublicLen {
			t.Fatalf("%s: vector public value is %d bytes, PublicLen %d", v.source, len(gi), k.PublicLen)
		}
		if got := si.Public(); !bytes.Equal(got, gi) {
			t.Errorf("%s: g^i = %x, want %x", v.source, got, gi)
		}
		if got := sr.Public(); !bytes.Equal(got, gr) {
			t.Errorf("%s: g^r = %x, want %x", v.source, got, gr)
		}
		for name, s := range map[string]struct {
			share KeyShare
			peer  []byte
		}{"initiator": {si, gr}, "responder": {sr, gi}} {
			got, err := s.share.Shared(s.peer)
			if err != nil {
				t.Errorf("%s %s: %v", v.source, name, err)
			} else if !bytes.Equal(got, gir) {
				t.Errorf("%s %s: g^ir = %x, want %x", v.source, name, got, gir)
			}
		}
		if si.Group() != v.group {
			t.Errorf("%s: Group() = %d", v.source, si.Group())
		}
	}
}

func TestECDHRejectsBadPeers(t *testing.T) {
	for _, k := range kes {
		if k.modp != nil {
			continue
		}
		s, err := k.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		good := s.Public()
		bad := map[string][]byte{
			"empty":     nil,
			"short":     good[:len(good)-1],
			"long":      append(append([]byte{}, good...), 0),
			"all zeros": make([]byte, k.PublicLen),
		}
		if k.ID == wire.KE_X25519 {
			// u = 1 has order 1 (RFC 7748 6.1: all-zero output must be refused).
			one := make([]byte, 32)
			one[0] = 1
			bad["low order u=1"] = one
		} else {
			bad["0x04-prefixed"] = append([]byte{4}, good[:len(good)-1]...)
			offCurve := append([]byte{}, good...)
			offCurve[len(offCurve)-1] ^= 1 // y no longer matches x
			bad["off the curve"] = offCurve
		}
		for name, peer := range bad {
			if z, err := s.Shared(peer); err == nil {
				t.Errorf("%s: peer value %s accepted (shared %d bytes)", k.Name, name, len(z))
			} else if !strings.Contains(err.Error(), k.Name) {
				t.Errorf("%s: error %q does not name the group", k.Name, err)
			}
		}
	}
}

func TestKEGenerateAgree(t *testing.T) {
	for _, k := range kes {
		if testing.Short() && k.ID == wire.KE_MODP4096 {
			continue
		}
		a, err := k.Generate(nil)
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		b, err := k.Generate(nil)
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		if a.Group() != k.ID || len(a.Public()) != k.PublicLen {
			t.Errorf("%s: group %d, public %d bytes", k.Name, a.Group(), len(a.Public()))
		}
		if bytes.Equal(a.Public(), b.Public()) {
			t.Errorf("%s: two generated shares are equal", k.Name)
		}
		za, err := a.Shared(b.Public())
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		zb, err := b.Shared(a.Public())
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		if !bytes.Equal(za, zb) {
			t.Errorf("%s: shared secrets differ", k.Name)
		}
		if k.modp != nil && len(za) != k.PublicLen {
			t.Errorf("%s: shared secret is %d bytes, want %d", k.Name, len(za), k.PublicLen)
		}
		// Public returns a copy: scribbling on it changes nothing.
		p := a.Public()
		p[0] ^= 0xff
		if bytes.Equal(p, a.Public()) {
			t.Errorf("%s: Public exposes internal state", k.Name)
		}
	}
}

func TestMODPRejectsBadPeers(t *testing.T) {
	for _, k := range kes {
		if k.modp == nil {
			continue
		}
		s := k.modp.share(k, big.NewInt(12345))
		pad := func(x *big.Int) []byte { return x.FillBytes(make([]byte, k.PublicLen)) }
		p := k.modp.p
		for name, peer := range map[string][]byte{
			"0":     pad(big.NewInt(0)),
			"1":     pad(big.NewInt(1)),
			"p-1":   pad(new(big.Int).Sub(p, big.NewInt(1))),
			"p":     pad(p),
			"2^N-1": repeat(0xff, k.PublicLen),
			"short": pad(big.NewInt(2))[1:],
			"long":  append([]byte{0}, pad(big.NewInt(2))...),
		} {
			if _, err := s.Shared(peer); err == nil {
				t.Errorf("%s: peer value %s accepted", k.Name, name)
			} else if !strings.Contains(err.Error(), k.Name) {
				t.Errorf("%s: error %q does not name the group", k.Name, err)
			}
		}
		// The extremes of the valid range are accepted.
		for name, y := range map[string]*big.Int{"2": big.NewInt(2), "p-2": new(big.Int).Sub(p, big.NewInt(2))} {
			if _, err := s.Shared(pad(y)); err != nil {
				t.Errorf("%s: peer value %s rejected: %v", k.Name, name, err)
			}
		}
	}
}

// TestMODPLeftPadding uses tiny exponents so the values have leading zero
// bytes that must be kept (RFC 7296 3.4).
func TestMODPLeftPadding(t *testing.T) {
	k := KEByID(wire.KE_MODP2048)
	a := k.modp.share(k, big.NewInt(3)) // g^a = 8
	b := k.modp.share(k, big.NewInt(5)) // g^b = 32
	wantA := make([]byte, 256)
	wantA[255] = 8
	if !bytes.Equal(a.Public(), wantA) {
		t.Fatalf("public value of exponent 3 = %x", a.Public())
	}
	z, err := a.Shared(b.Public())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 256)
	want[254] = 0x80 // 2^15
	if !bytes.Equal(z, want) {
		t.Errorf("shared secret of exponents 3 and 5 = %x, want 2^15 padded to 256 bytes", z)
	}
}

// TestMODPPrimes checks the RFC 3526 constants: size, the fixed top and
// bottom 64 bits, and that p and (p-1)/2 are prime (a safe prime).
func TestMODPPrimes(t *testing.T) {
	ones := new(big.Int).SetUint64(^uint64(0))
	for _, k := range kes {
		if k.modp == nil {
			continue
		}
		p := k.modp.p
		if p.BitLen() != 8*k.PublicLen {
			t.Errorf("%s: prime is %d bits", k.Name, p.BitLen())
		}
		if new(big.Int).And(p, ones).Cmp(ones) != 0 || new(big.Int).Rsh(p, uint(p.BitLen()-64)).Cmp(ones) != 0 {
			t.Errorf("%s: top and bottom 64 bits are not all ones", k.Name)
		}
		if testing.Short() && k.ID != wire.KE_MODP2048 {
			continue
		}
		q := new(big.Int).Rsh(p, 1)
		if !p.ProbablyPrime(2) || !q.ProbablyPrime(2) {
			t.Errorf("%s: not a safe prime", k.Name)
		}
	}
}

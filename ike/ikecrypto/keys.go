package ikecrypto

import (
	"crypto/subtle"
	"encoding/binary"
)

// IKEKeys are the seven secrets of an IKE SA (RFC 7296 2.14). SKai and SKar
// are nil with an AEAD cipher.
type IKEKeys struct {
	SKd        []byte // derives CHILD_SA keys and the SKEYSEED of a rekeyed IKE SA
	SKai, SKar []byte // integrity keys, initiator and responder
	SKei, SKer []byte // encryption keys (with salt for AEAD), initiator and responder
	SKpi, SKpr []byte // AUTH payload keys, initiator and responder
}

// Wipe overwrites every key with zeros.
func (k *IKEKeys) Wipe() {
	for _, b := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		clear(b)
	}
}

// SKEYSEED returns prf(Ni | Nr, g^ir), the seed of a new IKE SA (RFC 7296
// 2.14). The PRFs metro supports are HMACs, which take a key of any length, so
// the nonces are used whole.
func SKEYSEED(prf *PRF, ni, nr, gir []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	return prf.Compute(key, gir)
}

// RekeySKEYSEED returns prf(SK_d(old), g^ir(new) | Ni | Nr), the seed of an IKE
// SA created by rekeying (RFC 7296 2.18). oldPRF is the PRF of the IKE SA
// being rekeyed, which may differ from the PRF negotiated for the new one.
func RekeySKEYSEED(oldPRF *PRF, oldSKd, gir, ni, nr []byte) []byte {
	return oldPRF.Compute(oldSKd, gir, ni, nr)
}

// IKEKeysFromSKEYSEED splits prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into the
// keys of an IKE SA (RFC 7296 2.14). integ is nil with an AEAD cipher.
func IKEKeysFromSKEYSEED(prf *PRF, encr *Encr, integ *Integ, skeyseed, ni, nr []byte, spii, spir uint64) IKEKeys {
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(seed, ni...), nr...)
	seed = binary.BigEndian.AppendUint64(seed, spii)
	seed = binary.BigEndian.AppendUint64(seed, spir)
	integLen := 0
	if integ != nil {
		integLen = integ.KeyLen
	}
	km := prf.Plus(skeyseed, seed, 3*prf.Size+2*integLen+2*encr.KeyLen)
	next := func(n int) []byte {
		if n == 0 {
			return nil
		}
		k := km[:n:n]
		km = km[n:]
		return k
	}
	var k IKEKeys
	k.SKd = next(prf.Size)
	k.SKai, k.SKar = next(integLen), next(integLen)
	k.SKei, k.SKer = next(encr.KeyLen), next(encr.KeyLen)
	k.SKpi, k.SKpr = next(prf.Size), next(prf.Size)
	return k
}

// DeriveIKEKeys derives the keys of an IKE SA created by IKE_SA_INIT (RFC
// 7296 2.14): SKEYSEED = prf(Ni | Nr, g^ir), then prf+(SKEYSEED, Ni | Nr |
// SPIi | SPIr). integ is nil with an AEAD cipher.
func DeriveIKEKeys(prf *PRF, encr *Encr, integ *Integ, ni, nr, gir []byte, spii, spir uint64) IKEKeys {
	skeyseed := SKEYSEED(prf, ni, nr, gir)
	defer clear(skeyseed)
	return IKEKeysFromSKEYSEED(prf, encr, integ, skeyseed, ni, nr, spii, spir)
}

// DeriveRekeyIKEKeys derives the keys of an IKE SA created by rekeying with
// CREATE_CHILD_SA (RFC 7296 2.18): SKEYSEED = prf(SK_d(old), g^ir(new) | Ni |
// Nr), then prf+ as in DeriveIKEKeys with the nonces of the rekeying exchange
// and the new SPIs. prf serves both steps; when the new IKE SA negotiated a
// different PRF than the old one, use RekeySKEYSEED with the old PRF and
// IKEKeysFromSKEYSEED with the new one.
func DeriveRekeyIKEKeys(prf *PRF, encr *Encr, integ *Integ, oldSKd, gir, ni, nr []byte, spii, spir uint64) IKEKeys {
	skeyseed := RekeySKEYSEED(prf, oldSKd, gir, ni, nr)
	defer clear(skeyseed)
	return IKEKeysFromSKEYSEED(prf, encr, integ, skeyseed, ni, nr, spii, spir)
}

// ChildKeymat returns n bytes of KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)
// for a CHILD_SA (RFC 7296 2.17). gir is nil without PFS.
func ChildKeymat(prf *PRF, skd, gir, ni, nr []byte, n int) []byte {
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(append(append(seed, gir...), ni...), nr...)
	return prf.Plus(skd, seed, n)
}

// ChildKeys are the ESP keys of a CHILD_SA. Integrity keys are nil with an
// AEAD cipher; AEAD encryption keys end with their 4-byte salt, the form the
// kernel takes.
type ChildKeys struct {
	EncrI, IntegI []byte // SA carrying traffic from the initiator to the responder
	EncrR, IntegR []byte // SA carrying traffic from the responder to the initiator
}

// Wipe overwrites every key with zeros.
func (k *ChildKeys) Wipe() {
	for _, b := range [][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR} {
		clear(b)
	}
}

// DeriveChildKeys takes the ESP keys from KEYMAT in the order of RFC 7296
// 2.17: encryption then integrity key of the initiator-to-responder SA, then
// those of the responder-to-initiator SA. integ is nil with an AEAD cipher;
// gir is nil without PFS. "Initiator" is the initiator of the exchange that
// created the CHILD_SA, not necessarily of the IKE SA.
func DeriveChildKeys(prf *PRF, encr *Encr, integ *Integ, skd, gir, ni, nr []byte) ChildKeys {
	integLen := 0
	if integ != nil {
		integLen = integ.KeyLen
	}
	km := ChildKeymat(prf, skd, gir, ni, nr, 2*(encr.KeyLen+integLen))
	next := func(n int) []byte {
		if n == 0 {
			return nil
		}
		k := km[:n:n]
		km = km[n:]
		return k
	}
	var k ChildKeys
	k.EncrI, k.IntegI = next(encr.KeyLen), next(integLen)
	k.EncrR, k.IntegR = next(encr.KeyLen), next(integLen)
	return k
}

// SignedOctets returns the octets an AUTH payload signs or MACs (RFC 7296
// 2.15): RealMessage | Nonce | prf(SK_p, IDx'). message is the first message
// the signer sent (IKE_SA_INIT request or response) byte for byte, nonce the
// peer's nonce data, skp the signer's SK_pi or SK_pr, and idBody the body of
// the signer's ID payload (ID Type, three reserved octets, identification
// data), without the generic payload header.
func SignedOctets(prf *PRF, message, nonce, skp, idBody []byte) []byte {
	out := make([]byte, 0, len(message)+len(nonce)+prf.Size)
	out = append(append(out, message...), nonce...)
	return append(out, prf.Compute(skp, idBody)...)
}

// keyPad is the fixed string of shared-key authentication (RFC 7296 2.15).
const keyPad = "Key Pad for IKEv2"

// PSKAuth returns the Authentication Data of a Shared Key Message Integrity
// Code AUTH payload (RFC 7296 2.15): prf(prf(psk, "Key Pad for IKEv2"),
// signedOctets).
func PSKAuth(prf *PRF, psk, signedOctets []byte) []byte {
	k := prf.Compute(psk, []byte(keyPad))
	defer clear(k)
	return prf.Compute(k, signedOctets)
}

// VerifyPSKAuth reports, in constant time, whether authData is the shared-key
// AUTH value of signedOctets under psk.
func VerifyPSKAuth(prf *PRF, psk, signedOctets, authData []byte) bool {
	return subtle.ConstantTimeCompare(PSKAuth(prf, psk, signedOctets), authData) == 1
}

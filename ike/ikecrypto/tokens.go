package ikecrypto

import (
	"fmt"

	"metro/ike/wire"
)

// token is one algorithm keyword of a strongSwan proposal string.
type token struct {
	canon string // canonical name, for duplicate detection across aliases
	encr  *Encr
	integ *Integ
	prf   *PRF
	ke    *KE
	esn   bool
	esnID uint16
}

// tokens maps every accepted keyword, including strongSwan's aliases, to its
// algorithm.
var tokens = map[string]token{}

// rejected maps keywords strongSwan knows but metro refuses to the reason.
var rejected = map[string]string{}

func init() {
	for _, e := range encrs {
		tokens[e.Name] = token{canon: e.Name, encr: e}
	}
	for _, i := range integs {
		tokens[i.Name] = token{canon: i.Name, integ: i}
	}
	for _, p := range prfs {
		tokens[p.Name] = token{canon: p.Name, prf: p}
	}
	for _, k := range kes {
		tokens[k.Name] = token{canon: k.Name, ke: k}
	}
	alias := func(name, of string) { tokens[name] = tokens[of] }
	alias("aes128gcm128", "aes128gcm16") // ICV length in bits
	alias("aes256gcm128", "aes256gcm16")
	alias("sha2_256", "sha256")
	alias("sha2_384", "sha384")
	alias("sha2_512", "sha512")
	alias("curve25519", "x25519")
	tokens["noesn"] = token{canon: "noesn", esn: true, esnID: wire.ESN_NO}
	tokens["esn"] = token{canon: "esn", esn: true, esnID: wire.ESN_YES}

	weak := func(why string, names ...string) {
		for _, n := range names {
			rejected[n] = "insecure: " + why
		}
	}
	weak("single DES has a 56-bit key", "des")
	weak("3DES has a 64-bit block (Sweet32) and RFC 8247 deprecates it", "3des")
	weak("64-bit block cipher", "cast128", "blowfish", "blowfish128", "blowfish192", "blowfish256", "idea")
	weak("ENCR_NULL provides no confidentiality", "null")
	weak("MD5 is broken", "md5", "md5_128", "prfmd5")
	weak("SHA-1 is deprecated by RFC 8247; use sha256 or stronger", "sha", "sha1", "sha1_160", "prfsha1")
	weak("non-standard 96-bit truncation of HMAC-SHA2-256", "sha256_96", "sha2_256_96")
	weak("MODP groups below 2048 bits are breakable", "modp768", "modp1024", "modp1536")
	weak("RFC 5114 groups have unverifiable parameters (deprecated by RFC 8247)",
		"modp1024s160", "modp2048s224", "modp2048s256")
	weak("curves below 256 bits", "ecp192", "ecp224")
	for _, b := range []string{"128", "192", "256"} {
		for _, icv := range []string{"8", "12", "64", "96"} {
			rejected["aes"+b+"gcm"+icv] = "insecure: an AES-GCM ICV shorter than 16 octets; use aes" + b + "gcm16"
		}
	}

	unsupported := func(why string, names ...string) {
		for _, n := range names {
			rejected[n] = "not supported by metro: " + why
		}
	}
	unsupported("192-bit AES keys; use aes128 or aes256 (or their gcm16 forms)", "aes192", "aes192gcm16", "aes192gcm128")
	for _, b := range []string{"128", "192", "256"} {
		unsupported("AES-CTR; use aes"+b+"gcm16", "aes"+b+"ctr")
		unsupported("AES-GMAC provides no confidentiality", "aes"+b+"gmac")
		for _, icv := range []string{"8", "12", "16", "64", "96", "128"} {
			unsupported("AES-CCM; use aes"+b+"gcm16", "aes"+b+"ccm"+icv)
		}
		unsupported("Camellia", "camellia"+b, "camellia"+b+"ctr")
	}
	unsupported("AES-XCBC/CMAC; use sha256", "aesxcbc", "aescmac", "prfaesxcbc", "prfaescmac")
	unsupported("key exchange method not implemented; use x25519, ecp256, ecp384 or modp2048-4096",
		"ecp521", "x448", "curve448", "modp6144", "modp8192",
		"ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp", "mlkem512", "mlkem768", "mlkem1024")

	for name := range rejected {
		if _, dup := tokens[name]; dup {
			panic(fmt.Sprintf("ikecrypto: token %q both accepted and rejected", name))
		}
	}
}

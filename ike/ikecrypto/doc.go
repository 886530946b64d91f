// Package ikecrypto owns IKEv2 cryptography: the table of transforms
// (encryption, PRF, integrity, key exchange) with their IANA IDs and kernel
// names, prf+ and the key derivations of RFC 7296 2.13-2.18, the protection of
// the SK payload, and the shared-key AUTH computation.
package ikecrypto

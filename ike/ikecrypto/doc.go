// Package ikecrypto owns IKEv2 cryptography: the table of transforms
// (encryption, PRF, integrity, key exchange) with their IANA IDs and kernel
// names, prf+ and the key derivations of RFC 7296 2.13-2.18, the protection of
// the SK payload, and the shared-key AUTH computation.
//
// The transform tables are fixed and small on purpose: AES-GCM-16 and
// ChaCha20-Poly1305 (AEAD), AES-CBC with HMAC-SHA2, HMAC-SHA2 PRFs, and the
// X25519, ECP-256/384 and MODP-2048/3072/4096 key exchanges. Lookups by IANA
// ID return nil for anything else; ParseProposals turns strongSwan proposal
// strings into the same table entries and refuses weak algorithms by name.
//
// Nothing here logs, and no error message carries key material or message
// bytes.
package ikecrypto

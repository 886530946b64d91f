// Package wire encodes and decodes IKEv2 messages and payloads (RFC 7296
// section 3, RFC 7383 fragments). It knows bytes, not state: every payload
// has a marshal and unmarshal, and encrypted payloads are sealed and opened
// through the Cipher interface that ikecrypto implements.
package wire

// Package auth owns peer credentials: pre-shared key files (*.psk) keyed by
// IP address, and (later) CA-signed hostname certificates and identities.
package auth

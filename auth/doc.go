// Package auth owns peer credentials: pre-shared key files (*.psk) keyed by
// IP address, and (later) CA-signed hostname certificates and identities.
//
// # Pre-shared key files
//
// Every *.psk file of the credentials directory describes a group of hosts
// sharing one key. Ignoring comment lines (first non-blank character '#')
// and blank lines, a file has exactly two lines: the addresses of the group
// (IPv4 and/or IPv6, separated by spaces or tabs), then the key (the whole
// line, trimmed). For example:
//
//	# web tier
//	192.0.2.10 192.0.2.11 2001:db8::10 2001:db8::11
//	a long random key, e.g. from: openssl rand -base64 48
//
// Any two addresses of a file authenticate each other with its key. When a
// pair of addresses appears together in several files, the first file in
// lexical order of file names supplies the key; an address listed in several
// files draws a warning. Files should be mode 0600.
//
// Keys are held in Secret, which never prints, logs or marshals its bytes.
package auth

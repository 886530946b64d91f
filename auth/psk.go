package auth

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
)

// PSKFile is one parsed *.psk file: a group of hosts, identified by IP
// address, that share one pre-shared key. Any two addresses of the group
// authenticate each other with Key.
//
// A PSKFile is safe to print or log: Key is a Secret.
type PSKFile struct {
	Path  string
	Addrs []netip.Addr // canonical (4-in-6 unmapped, no zone), in file order, without duplicates
	Key   Secret
}

// Contains reports whether a (compared canonically) is one of the file's addresses.
func (f *PSKFile) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, b := range f.Addrs {
		if a == b {
			return true
		}
	}
	return false
}

// LogValue implements slog.LogValuer: the path and addresses, never the key.
func (f PSKFile) LogValue() slog.Value {
	addrs := make([]string, len(f.Addrs))
	for i, a := range f.Addrs {
		addrs[i] = a.String()
	}
	return slog.GroupValue(
		slog.String("path", f.Path),
		slog.String("addrs", strings.Join(addrs, " ")),
	)
}

// Format implements fmt.Formatter. Whatever the verb, it prints the path,
// the addresses and "[redacted]" for the key. (Without it, fmt's handling
// of a verb a struct does not support, such as %s on a *PSKFile, would
// print the key bytes: fmt skips the methods of fields while reporting
// a bad verb.)
func (f PSKFile) Format(s fmt.State, verb rune) {
	addrs := make([]string, len(f.Addrs))
	for i, a := range f.Addrs {
		addrs[i] = a.String()
	}
	switch {
	case verb == 'v' && s.Flag('#'):
		fmt.Fprintf(s, "auth.PSKFile{Path:%q, Addrs:[%s], Key:%s}", f.Path, strings.Join(addrs, " "), redacted)
	case verb == 'v' && s.Flag('+'):
		fmt.Fprintf(s, "{Path:%s Addrs:[%s] Key:%s}", f.Path, strings.Join(addrs, " "), redacted)
	default:
		fmt.Fprintf(s, "{%s [%s] %s}", f.Path, strings.Join(addrs, " "), redacted)
	}
}

// utf8BOM is tolerated at the very start of a file (editors on Windows add it).
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// pskLine is a non-comment, non-blank line of a .psk file.
type pskLine struct {
	num  int // 1-based line number
	text string
}

// ParsePSK parses the contents of a .psk file. path is used only in error
// messages, which have the form "path:line: problem".
//
// The format, exactly:
//   - a line whose first non-whitespace character is '#' is a comment;
//     a line holding only whitespace is ignored;
//   - there must be exactly two other lines: first the addresses, a list of
//     IPv4/IPv6 addresses separated by spaces or tabs, then the key, which is
//     the whole line with leading and trailing whitespace removed (so a key
//     cannot begin with '#' nor begin or end with whitespace);
//   - CRLF line ends and a leading UTF-8 byte order mark are tolerated.
//
// Addresses are canonicalised (IPv4-mapped IPv6 addresses become IPv4,
// case of hex digits does not matter); zones ("fe80::1%eth0"), the
// unspecified addresses and multicast addresses are rejected. An address
// repeated within the file is kept once.
func ParsePSK(path string, data []byte) (*PSKFile, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	var lines []pskLine
	total := 0
	for i, raw := range strings.Split(string(data), "\n") {
		total = i + 1
		s := strings.TrimSuffix(raw, "\r")
		t := strings.TrimSpace(s)
		if t == "" || t[0] == '#' {
			continue
		}
		lines = append(lines, pskLine{num: i + 1, text: s})
	}
	// A trailing newline yields a final empty "line" that is not a line.
	if len(data) > 0 && data[len(data)-1] == '\n' {
		total--
	}
	total = max(total, 1)

	switch {
	case len(lines) == 0:
		return nil, fmt.Errorf("%s:%d: no address line and no key line (a .psk file holds an address line, then a key line)", path, total)
	case len(lines) == 1:
		return nil, fmt.Errorf("%s:%d: missing key line after the address line (a .psk file holds an address line, then a key line)", path, lines[0].num)
	case len(lines) > 2:
		return nil, fmt.Errorf("%s:%d: unexpected line after the key line (a .psk file holds exactly an address line and a key line)", path, lines[2].num)
	}

	addrs, err := parseAddrLine(lines[0].text)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, lines[0].num, err)
	}
	key := strings.TrimSpace(lines[1].text)
	if key == "" { // unreachable given the blank-line rule; kept as a guard
		return nil, fmt.Errorf("%s:%d: empty key", path, lines[1].num)
	}
	return &PSKFile{Path: path, Addrs: addrs, Key: Secret(key)}, nil
}

// parseAddrLine parses a space/tab separated list of IP addresses.
func parseAddrLine(line string) ([]netip.Addr, error) {
	tokens := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no address on the address line")
	}
	addrs := make([]netip.Addr, 0, len(tokens))
	for _, tok := range tokens {
		a, err := parseAddr(tok)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, b := range addrs {
			if a == b {
				dup = true
				break
			}
		}
		if !dup {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// parseAddr parses one address token and canonicalises it.
func parseAddr(tok string) (netip.Addr, error) {
	a, err := netip.ParseAddr(tok)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 or IPv6 address", tok)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zone (%%%s) not allowed", tok, a.Zone())
	}
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%q: the unspecified address cannot be a peer", tok)
	case a.IsMulticast():
		return netip.Addr{}, fmt.Errorf("%q: a multicast address cannot be a peer", tok)
	}
	return a, nil
}

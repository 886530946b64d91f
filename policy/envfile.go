package policy

import (
	"bytes"
	"fmt"
	"strings"
)

// Assignment is one KEY=VALUE line of a config file.
type Assignment struct {
	Key, Value string
	Line       int // 1-based
}

// ParseEnvFile parses a config file of KEY=VALUE lines, a subset of what a
// POSIX shell would source:
//
//   - blank lines and lines whose first non-blank character is '#' are ignored;
//   - a line may start with "export ";
//   - KEY is [A-Za-z_][A-Za-z0-9_]* and is followed by '=' directly;
//   - VALUE may be double-quoted (the escapes \" and \\ are understood; any
//     other backslash is literal), single-quoted (literal), or unquoted;
//     an unquoted value ends at the end of the line or at a '#' preceded by
//     a blank (a trailing comment), and surrounding blanks are dropped;
//     after a closing quote only blanks or a trailing comment may follow;
//   - CRLF line ends and a leading UTF-8 byte order mark are tolerated.
//
// Values do not span lines and nothing is expanded ($X stays "$X").
// Errors have the form "name:line: problem". Later assignments of the same
// key are returned too; the caller decides (the last one wins in Load).
func ParseEnvFile(name string, data []byte) ([]Assignment, error) {
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	var out []Assignment
	for i, line := range strings.Split(string(data), "\n") {
		num := i + 1
		line = strings.TrimSuffix(line, "\r")
		a, ok, err := parseEnvLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, num, err)
		}
		if ok {
			a.Line = num
			out = append(out, a)
		}
	}
	return out, nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func trimBlanks(s string) string { return strings.Trim(s, " \t") }

// parseEnvLine parses one line; ok is false for blank and comment lines.
func parseEnvLine(line string) (a Assignment, ok bool, err error) {
	s := strings.TrimLeft(line, " \t")
	if s == "" || s[0] == '#' {
		return a, false, nil
	}
	if rest, found := strings.CutPrefix(s, "export"); found && rest != "" && isBlank(rest[0]) {
		s = strings.TrimLeft(rest, " \t")
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return a, false, fmt.Errorf("malformed line: expected KEY=VALUE")
	}
	key := s[:eq]
	if trimBlanks(key) != key && validKey(trimBlanks(key)) {
		return a, false, fmt.Errorf("malformed line: no blanks allowed around '=' in %s=", trimBlanks(key))
	}
	if !validKey(key) {
		return a, false, fmt.Errorf("malformed line: %q is not a variable name", key)
	}
	val, err := parseEnvValue(s[eq+1:])
	if err != nil {
		return a, false, fmt.Errorf("%s: %w", key, err)
	}
	return Assignment{Key: key, Value: val}, true, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseEnvValue parses what follows '='.
func parseEnvValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	var val, rest string
	switch s[0] {
	case '"':
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				b.WriteByte(s[i+1])
				i++
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		if i >= len(s) {
			return "", fmt.Errorf("unterminated double quote")
		}
		val, rest = b.String(), s[i+1:]
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated single quote")
		}
		val, rest = s[1:1+end], s[2+end:]
	default:
		// Unquoted: a '#' that follows a blank starts a comment.
		for i := 1; i < len(s); i++ {
			if s[i] == '#' && isBlank(s[i-1]) {
				s = s[:i]
				break
			}
		}
		return trimBlanks(s), nil
	}
	r := strings.TrimLeft(rest, " \t")
	if r != "" && (r[0] != '#' || r == rest) {
		return "", fmt.Errorf("unexpected text %q after the closing quote", r)
	}
	return val, nil
}

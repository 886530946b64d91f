package auth

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestParsePSKGood(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		addrs []netip.Addr
		key   string
	}{
		{"plain", "10.0.0.1 10.0.0.2\nsecret\n", addrs("10.0.0.1", "10.0.0.2"), "secret"},
		{"no final newline", "10.0.0.1 10.0.0.2\nsecret", addrs("10.0.0.1", "10.0.0.2"), "secret"},
		{"tabs and runs of blanks", "\t10.0.0.1\t \t2001:db8::1  \nk", addrs("10.0.0.1", "2001:db8::1"), "k"},
		{"comments and blank lines", "# group a\n\n   # indented comment\n10.0.0.1 10.0.0.2\n \t \n# the key\nsecret\n\n# end\n", addrs("10.0.0.1", "10.0.0.2"), "secret"},
		{"key trimmed, inner spaces kept", "10.0.0.1\n  correct horse\tbattery staple \t\n", addrs("10.0.0.1"), "correct horse\tbattery staple"},
		{"key with # inside", "10.0.0.1\nab#cd #ef\n", addrs("10.0.0.1"), "ab#cd #ef"},
		{"CRLF", "# c\r\n10.0.0.1 10.0.0.2\r\nsecret\r\n", addrs("10.0.0.1", "10.0.0.2"), "secret"},
		{"BOM", "\xEF\xBB\xBF10.0.0.1 10.0.0.2\nsecret\n", addrs("10.0.0.1", "10.0.0.2"), "secret"},
		{"BOM before comment", "\xEF\xBB\xBF# c\n10.0.0.1\nsecret\n", addrs("10.0.0.1"), "secret"},
		{"IPv6 case canonical", "2001:DB8::5 2001:db8:0:0:0:0:0:6\nk\n", addrs("2001:db8::5", "2001:db8::6"), "k"},
		{"4-in-6 unmapped", "::ffff:192.0.2.1 ::FFFF:c000:202\nk\n", addrs("192.0.2.1", "192.0.2.2"), "k"},
		{"duplicates kept once", "2001:DB8::5 10.0.0.1 2001:db8::5 ::ffff:10.0.0.1\nk\n", addrs("2001:db8::5", "10.0.0.1"), "k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParsePSK("/etc/metro/x.psk", []byte(tt.data))
			if err != nil {
				t.Fatalf("ParsePSK: %v", err)
			}
			if f.Path != "/etc/metro/x.psk" {
				t.Errorf("Path = %q", f.Path)
			}
			if !slices.Equal(f.Addrs, tt.addrs) {
				t.Errorf("Addrs = %v, want %v", f.Addrs, tt.addrs)
			}
			if string(f.Key) != tt.key {
				t.Errorf("Key = %q, want %q", []byte(f.Key), tt.key)
			}
		})
	}
}

func TestParsePSKBad(t *testing.T) {
	const path = "/etc/metro/a.psk"
	tests := []struct {
		name string
		data string
		want []string // substrings of the error, besides the path
	}{
		{"empty file", "", []string{path + ":1:", "no address line"}},
		{"only comments", "# a\n\n# b\n", []string{path + ":3:", "no address line"}},
		{"one line", "10.0.0.1 10.0.0.2\n", []string{path + ":1:", "missing key line"}},
		{"one line after comments", "# x\n\n10.0.0.1 10.0.0.2\n# key?\n", []string{path + ":3:", "missing key line"}},
		{"three lines", "10.0.0.1\nkey\nmore\n", []string{path + ":3:", "unexpected line"}},
		{"three lines with comments", "10.0.0.1\n#\nkey\n\n\nmore", []string{path + ":6:", "unexpected line"}},
		{"bad address token", "10.0.0.1 host.example 10.0.0.2\nkey\n", []string{path + ":1:", `"host.example"`}},
		{"bad address on later line", "# c\n# c\n10.0.0.1 10.0.0.300\nkey\n", []string{path + ":3:", `"10.0.0.300"`}},
		{"CIDR is not an address", "10.0.0.0/24\nkey\n", []string{path + ":1:", `"10.0.0.0/24"`}},
		{"comma separated", "10.0.0.1,10.0.0.2\nkey\n", []string{path + ":1:", `"10.0.0.1,10.0.0.2"`}},
		{"zone", "fe80::1%eth0 10.0.0.1\nkey\n", []string{path + ":1:", `"fe80::1%eth0"`, "zone"}},
		{"unspecified", "0.0.0.0\nkey\n", []string{path + ":1:", `"0.0.0.0"`}},
		{"multicast", "ff02::1\nkey\n", []string{path + ":1:", `"ff02::1"`}},
		{"key first", "secret\n10.0.0.1\n", []string{path + ":1:", `"secret"`}},
		{"CRLF line count", "10.0.0.1\r\n\r\nkey\r\nx\r\n", []string{path + ":4:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParsePSK(path, []byte(tt.data))
			if err == nil {
				t.Fatalf("ParsePSK accepted %q: %+v", tt.data, f)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+":") {
				t.Errorf("error %q does not start with the path", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestParsePSKErrorNeverHoldsKey(t *testing.T) {
	// The third line could be a second key pasted by mistake; it must not be echoed.
	_, err := ParsePSK("a.psk", []byte("10.0.0.1\nfirst-secret-XYZ\nsecond-secret-XYZ\n"))
	if err == nil || strings.Contains(err.Error(), "secret-XYZ") {
		t.Fatalf("error %v", err)
	}
}

func TestContains(t *testing.T) {
	f, err := ParsePSK("a.psk", []byte("2001:db8::5 192.0.2.1\nk\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"2001:DB8::5", "2001:db8:0::5", "192.0.2.1", "::ffff:192.0.2.1"} {
		if !f.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = false", s)
		}
	}
	for _, s := range []string{"2001:db8::6", "192.0.2.2", "::192.0.2.1"} {
		if f.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = true", s)
		}
	}
}

func FuzzParsePSK(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1 10.0.0.2\nsecret\n",
		"# c\r\n2001:DB8::5\t::ffff:1.2.3.4\r\n  key with spaces \r\n",
		"\xEF\xBB\xBF10.0.0.1\nk",
		"fe80::1%eth0\nk\n",
		"10.0.0.1\n\n\nk\nx\n",
		"",
		"#\n#\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePSK("fuzz.psk", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.psk:") {
				t.Fatalf("error without path: %v", err)
			}
			return
		}
		if len(p.Addrs) == 0 || len(p.Key) == 0 {
			t.Fatalf("accepted file with %d addresses and %d key bytes", len(p.Addrs), len(p.Key))
		}
		if strings.TrimSpace(string(p.Key)) != string(p.Key) || strings.ContainsAny(string(p.Key), "\n") {
			t.Fatalf("key not trimmed or multi-line: %q", []byte(p.Key))
		}
		seen := map[netip.Addr]bool{}
		for _, a := range p.Addrs {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
				t.Fatalf("bad address %v", a)
			}
			if seen[a] {
				t.Fatalf("duplicate address %v", a)
			}
			seen[a] = true
			if !p.Contains(a) {
				t.Fatalf("Contains(%v) = false", a)
			}
		}
	})
}

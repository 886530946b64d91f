package policy

import (
	"net/netip"
	"slices"
	"testing"
)

func TestLocalAddrs(t *testing.T) {
	addrs, err := LocalAddrs()
	if err != nil {
		t.Fatalf("LocalAddrs: %v", err)
	}
	for i, a := range addrs {
		if !a.IsValid() || a.IsLoopback() || a.IsMulticast() || a.Is4In6() || (a.Is6() && a.IsLinkLocalUnicast()) {
			t.Errorf("LocalAddrs returned %v", a)
		}
		if i > 0 && addrs[i-1].Compare(a) >= 0 {
			t.Errorf("not sorted/unique at %d: %v", i, addrs)
		}
	}
	t.Logf("local addresses: %v", addrs)
}

func TestIsLocalCandidate(t *testing.T) {
	for s, want := range map[string]bool{
		"127.0.0.1":   false,
		"::1":         false,
		"fe80::1":     false,
		"ff02::1":     false,
		"224.0.0.1":   false,
		"0.0.0.0":     false,
		"::":          false,
		"169.254.1.1": true, // IPv4 link-local is kept
		"10.0.0.1":    true,
		"2001:db8::1": true,
		"fd00::1":     true,
	} {
		if got := isLocalCandidate(netip.MustParseAddr(s)); got != want {
			t.Errorf("isLocalCandidate(%s) = %v", s, got)
		}
	}
}

func TestIsExtraLoopback(t *testing.T) {
	for s, want := range map[string]bool{
		"127.0.0.1":     false, // every host has it: names no peer
		"::1":           false,
		"127.0.1.5":     true,
		"127.255.0.200": true,
		"10.0.0.1":      false,
		"fe80::1":       false,
	} {
		if got := isExtraLoopback(netip.MustParseAddr(s)); got != want {
			t.Errorf("isExtraLoopback(%s) = %v", s, got)
		}
	}
}

func TestLocalAddrsWithLoopback(t *testing.T) {
	plain, err := LocalAddrs()
	if err != nil {
		t.Fatal(err)
	}
	all, err := LocalAddrsWithLoopback()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plain {
		if !slices.Contains(all, a) {
			t.Errorf("LocalAddrsWithLoopback lacks %s, which LocalAddrs has", a)
		}
	}
	for _, a := range all {
		if a.IsLoopback() && !isExtraLoopback(a) {
			t.Errorf("LocalAddrsWithLoopback returned %s", a)
		}
		if !a.IsLoopback() && !slices.Contains(plain, a) {
			t.Errorf("LocalAddrsWithLoopback returned %s, which LocalAddrs lacks", a)
		}
	}
}

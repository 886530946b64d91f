package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"metro/auth"
)

func pskSet(t *testing.T, files ...string) *auth.PSKSet {
	t.Helper()
	set := &auth.PSKSet{}
	for i, data := range files {
		f, err := auth.ParsePSK(fmt.Sprintf("%02d.psk", i), []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		set.Files = append(set.Files, f)
	}
	return set
}

func parseAddrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestPSKPeers(t *testing.T) {
	set := pskSet(t,
		// 00: a site group with two local v4 addresses and one local v6.
		"10.0.0.1 10.0.0.2 10.0.1.1 2001:db8::1 2001:db8::2 10.0.0.3\nk0\n",
		// 01: repeats the pair 10.0.0.1-10.0.0.2 (00 wins) and adds 10.0.0.9.
		"10.0.0.2 10.0.0.1 10.0.0.9\nk1\n",
		// 02: does not contain a local address.
		"10.9.9.1 10.9.9.2\nk2\n",
		// 03: local address given 4-in-6, upper-case v6.
		"::ffff:10.0.1.1 2001:DB8::7 192.0.2.7\nk3\n",
	)
	locals := parseAddrs("10.0.0.1", "10.0.1.1", "2001:db8::1", "192.168.1.1")
	got := PSKPeers(locals, set)
	want := []struct{ local, remote, file string }{
		{"10.0.0.1", "10.0.0.2", "00.psk"},
		{"10.0.1.1", "10.0.0.2", "00.psk"},
		{"10.0.0.1", "10.0.0.3", "00.psk"},
		{"10.0.1.1", "10.0.0.3", "00.psk"},
		{"10.0.0.1", "10.0.0.9", "01.psk"},
		{"10.0.1.1", "192.0.2.7", "03.psk"},
		{"2001:db8::1", "2001:db8::2", "00.psk"},
	}
	var lines []string
	for _, p := range got {
		lines = append(lines, fmt.Sprintf("%s->%s %s", p.Local, p.Remote, p.PSK.Path))
	}
	if len(got) != len(want) {
		t.Fatalf("peers:\n%s\nwant %d", strings.Join(lines, "\n"), len(want))
	}
	for i, w := range want {
		p := got[i]
		if p.Local != netip.MustParseAddr(w.local) || p.Remote != netip.MustParseAddr(w.remote) || p.PSK.Path != w.file {
			t.Errorf("peer %d = %s, want %s->%s %s", i, lines[i], w.local, w.remote, w.file)
		}
		// The peer's file is the one Lookup picks.
		if f, ok := set.Lookup(p.Local, p.Remote); !ok || f != p.PSK {
			t.Errorf("peer %s: Lookup disagrees", lines[i])
		}
	}
	// 2001:db8::7 (03.psk) has no v6 local in 03.psk: not a peer.
	for _, p := range got {
		if p.Remote == netip.MustParseAddr("2001:db8::7") {
			t.Errorf("cross-family peer %v", p)
		}
	}
}

func TestPSKPeersEdgeCases(t *testing.T) {
	set := pskSet(t, "10.0.0.1 10.0.0.2\nk\n")
	if p := PSKPeers(nil, set); len(p) != 0 {
		t.Errorf("no locals: %v", p)
	}
	if p := PSKPeers(parseAddrs("10.0.0.1"), nil); p != nil {
		t.Errorf("nil set: %v", p)
	}
	// Both addresses local: no peer (remote == a local address).
	if p := PSKPeers(parseAddrs("10.0.0.1", "10.0.0.2"), set); len(p) != 0 {
		t.Errorf("all local: %v", p)
	}
	// Locals given 4-in-6 match.
	if p := PSKPeers(parseAddrs("::ffff:10.0.0.2"), set); len(p) != 1 || p[0].Local != netip.MustParseAddr("10.0.0.2") || p[0].Remote != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("4-in-6 local: %v", p)
	}
	// Deterministic regardless of the order of locals.
	set = pskSet(t, "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4\nk\n")
	a := PSKPeers(parseAddrs("10.0.0.3", "10.0.0.1"), set)
	b := PSKPeers(parseAddrs("10.0.0.1", "10.0.0.3"), set)
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) != 4 {
		t.Errorf("order depends on locals:\n%v\n%v", a, b)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", a, a, a), "k\n") {
		t.Error("a peer prints its key")
	}
}

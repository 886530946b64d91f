package daemon

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"metro/firewall"
	"metro/policy"
)

func testSetup(mss int, ikeAlt, nattAlt uint16) *setup {
	a4, b4, c4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	return &setup{
		cfg: &policy.Config{IKEPort: 500, NATTPort: 4500, IKEAltPort: ikeAlt, NATTAltPort: nattAlt, MSS: mss},
		peers: []policy.Peer{
			{Local: a4, Remote: b4}, {Local: a4, Remote: c4}, {Local: a6, Remote: b6},
		},
	}
}

func TestApplyFirewall(t *testing.T) {
	log := testLogger(t)
	fw := firewall.NewMemory()

	if err := applyFirewall(fw, testSetup(1200, 600, 4600), false, log); err != nil {
		t.Fatal(err)
	}
	r, ok := fw.Current()
	if !ok {
		t.Fatal("no table installed")
	}
	// Two alternative ports on each of the two listening addresses.
	want := map[string]bool{
		"udp 192.0.2.1:600 -> 192.0.2.1:500": true, "udp 192.0.2.1:4600 -> 192.0.2.1:4500": true,
		"udp [2001:db8::1]:600 -> [2001:db8::1]:500": true, "udp [2001:db8::1]:4600 -> [2001:db8::1]:4500": true,
	}
	if len(r.Redirects) != len(want) {
		t.Errorf("redirects %v", r.Redirects)
	}
	for _, d := range r.Redirects {
		if !want[d.String()] {
			t.Errorf("unexpected redirect %v", d)
		}
	}
	if r.MSS != 1200 || len(r.Peers) != 3 {
		t.Errorf("MSS %d peers %v, want 1200 and three peers", r.MSS, r.Peers)
	}

	// --ignore-alternative-ports: only the MSS clamp remains.
	if err := applyFirewall(fw, testSetup(1200, 600, 4600), true, log); err != nil {
		t.Fatal(err)
	}
	if r, _ := fw.Current(); len(r.Redirects) != 0 || r.MSS != 1200 {
		t.Errorf("with ignoreAlt: %+v", r)
	}

	// Only the IKE alternative port; MSS off.
	if err := applyFirewall(fw, testSetup(0, 600, 0), false, log); err != nil {
		t.Fatal(err)
	}
	if r, _ := fw.Current(); len(r.Redirects) != 2 || r.MSS != 0 || len(r.Peers) != 0 {
		t.Errorf("IKE alt only, MSS 0: %+v", r)
	}

	// Nothing wanted: a stale table is removed.
	if err := applyFirewall(fw, testSetup(0, 600, 4600), true, log); err != nil {
		t.Fatal(err)
	}
	if _, ok := fw.Current(); ok {
		t.Error("table left although the configuration wants none")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

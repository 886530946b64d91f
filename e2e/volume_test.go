package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestChildVolumeRekey: with METRO_CHILD_LIFETIME_BYTES=2M (and the time
// lifetime at its default, an hour), the kernel states carry the byte
// limits, and 8 MB of TCP rekey the CHILD_SA several times on the
// kernel's soft expiry: the transfer arrives whole, nothing goes in
// clear, no state reaches its hard limit and no rekey fails.
func TestChildVolumeRekey(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "volume-rekey-key", a.V4, b.V4)
		h.WriteConfig(t, "METRO_CHILD_LIFETIME_BYTES=2M")
	}
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4)
	mb.WaitEstablished(t, 60*time.Second, a.V4)

	// Every ESP state has the 2 MiB hard byte limit, and a soft one.
	checkLimits := func(when string) {
		t.Helper()
		for _, h := range []*Host{a, b} {
			out := h.Run(t, "ip", "-s", "xfrm", "state")
			states := strings.Count(out, "proto esp")
			hard := strings.Count(out, "hard 2097152(bytes)")
			if states == 0 || hard != states || strings.Count(out, "soft (INF)(bytes)") != 0 {
				t.Errorf("%s, %s: %d ESP states, %d with the hard limit of 2097152 bytes (and all a soft one):\n%s", when, h.Name, states, hard, out)
			}
		}
	}
	checkLimits("after the setup")

	// The capture may miss frames when the emulated CPU falls behind;
	// nftables counts every TCP segment of the transfer that arrives,
	// separately whether it came out of ESP (a secpath) or in clear.
	for _, h := range []struct{ on, from *Host }{{b, a}, {a, b}} {
		h.on.Run(t, "nft", fmt.Sprintf(`add table ip volwatch
add chain ip volwatch pre { type filter hook prerouting priority filter; }
add rule ip volwatch pre ip saddr %s tcp dport 5001 meta secpath exists counter
add rule ip volwatch pre ip saddr %s tcp sport 5001 meta secpath exists counter
add rule ip volwatch pre ip saddr %s meta l4proto tcp meta secpath missing counter
`, h.from.V4, h.from.V4, h.from.V4))
	}
	c := a.Capture(t, b)
	const size = 8 << 20
	payload := a.Dir + "/8MB"
	a.Run(t, "sh", "-c", fmt.Sprintf("head -c %d /dev/urandom > %s", size, payload))
	start := time.Now()
	received := sendFile(t, a, b, payload, 30*time.Second)
	took := time.Since(start)
	sum := func(h *Host, f string) string {
		return strings.Fields(h.Run(t, "busybox", "sha256sum", f) + " -")[0]
	}
	if got, want := sum(b, received), sum(a, payload); got != want {
		t.Errorf("received data differs: sha256 %s, sent %s (%s bytes)", got, want, strings.TrimSpace(b.Run(t, "sh", "-c", "wc -c < "+received)))
	}
	// The last rekey's DELETE may still be on its way.
	time.Sleep(2 * time.Second)
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if st.Cleartext() != 0 {
		t.Errorf("cleartext on the wire: %s", st)
	}
	checkLimits("after the transfer")
	for _, h := range []*Host{a, b} {
		rs := h.Run(t, "nft", "list", "table", "ip", "volwatch")
		protected := counterOf(t, rs, `dport 5001 meta (?:ipsec|secpath) exists `) + counterOf(t, rs, `sport 5001 meta (?:ipsec|secpath) exists `)
		clear := counterOf(t, rs, `meta (?:ipsec|secpath) missing `)
		t.Logf("%s: %d TCP segments of the transfer came out of ESP, %d TCP packets in clear", h.Name, protected, clear)
		if protected == 0 || clear != 0 {
			t.Errorf("%s: %d TCP segments out of ESP and %d in clear, want some and none:\n%s", h.Name, protected, clear, rs)
		}
	}

	soft, rekeys := 0, 0
	for _, m := range []*Metrod{ma, mb} {
		log := m.Proc.Log()
		soft += strings.Count(log, "kernel soft expiry of the CHILD_SA: rekeying")
		rekeys += strings.Count(log, "CHILD_SA rekeyed")
		for _, bad := range []string{"hard lifetime", "rekey failed", "negotiating again"} {
			if strings.Contains(log, bad) {
				t.Errorf("%s: %q in the log:\n%s", m.Host.Name, bad, lastLines(log, 40))
			}
		}
	}
	t.Logf("8 MiB in %v; %d soft expiries, %d CHILD_SA rekeys; capture %s", took.Round(time.Millisecond), soft, rekeys, st)
	// 8 MiB of TCP (more as the kernel counts: headers) through 2 MiB
	// states, rekeyed at 80-96%: at least four rekeys; three leaves room.
	// The time lifetime is an hour, so every one is by volume.
	if soft < 3 || rekeys < 3 {
		t.Errorf("%d soft expiries and %d CHILD_SA rekeys for 8 MiB with a 2 MiB limit, want at least 3 of each", soft, rekeys)
	}
}

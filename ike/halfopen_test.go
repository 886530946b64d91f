package ike

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestHalfOpenStale checks what keeps a peer from initiating: a responder
// SA waiting for its IKE_AUTH does for 4*RetransmitBase after we answered
// its IKE_SA_INIT, then no longer (the peer abandoned it), and neither do
// established, deleted or our own SAs.
func TestHalfOpenStale(t *testing.T) {
	n := NewNode(Config{RetransmitBase: time.Second})
	p := newPeer(context.Background(), n, PeerConfig{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.0.0.2")})
	now := time.Now()
	cases := []struct {
		name string
		sa   ikeSA
		want bool
	}{
		{"fresh half-open", ikeSA{created: now.Add(-time.Second)}, true},
		{"half-open for 3.9 s", ikeSA{created: now.Add(-3900 * time.Millisecond)}, true},
		{"half-open for 5 s (abandoned)", ikeSA{created: now.Add(-5 * time.Second)}, false},
		{"established", ikeSA{created: now, established: now}, false},
		{"deleted", ikeSA{created: now, deleted: true}, false},
		{"ours", ikeSA{initiator: true, created: now}, false},
	}
	for i, c := range cases {
		sa := c.sa
		sa.spiI, sa.spiR = uint64(i+1), uint64(i+100)
		p.sas = map[uint64]*ikeSA{sa.ourSPI(): &sa}
		if got := p.halfOpen(); got != c.want {
			t.Errorf("%s: halfOpen() = %v, want %v", c.name, got, c.want)
		}
	}
}

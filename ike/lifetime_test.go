package ike

import (
	"testing"
	"testing/synctest"
	"time"

	"metro/xfrm"
)

// TestChildVolumeLimits: with byte and packet limits, every installed ESP
// state carries them: hard at the limit, soft where the time-based rekey
// would be (80-88% on the host that initiated the exchange, 92-96% on the
// other), next to the time limits. The kernel's soft expiry of a state
// (simulated here: Memory counts but does not expire) rekeys the pair,
// and the new states carry the limits with the roles of the rekey.
func TestChildVolumeLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bytes, packets = 2 << 20, 10000
		cfg := Config{ChildLifetime: time.Hour, ChildLifetimeBytes: bytes, ChildLifetimePackets: packets}
		ctx, cancel, a, b := establishedPair(t, &memNet{}, cfg, cfg)
		defer cancel()

		// share returns the soft limits of h's states in percent of the
		// hard ones, checking the rest of each state's lifetime.
		share := func(h *testHost, wantStates int) (lo, hi float64) {
			t.Helper()
			sas, _ := h.kernel.SAs()
			if len(sas) != wantStates {
				t.Fatalf("host %s has %d states, want %d", h.addr, len(sas), wantStates)
			}
			lo, hi = 100, 0
			for _, sa := range sas {
				l := sa.Lifetime
				if l.HardBytes != bytes || l.HardPackets != packets || l.HardAdd != time.Hour || l.SoftAdd != time.Hour*97/100 {
					t.Errorf("host %s state %08x: lifetime %+v, want hard %d bytes, %d packets, 1h (soft 97%%)", h.addr, sa.SPI, l, bytes, packets)
				}
				pb, pp := 100*float64(l.SoftBytes)/bytes, 100*float64(l.SoftPackets)/packets
				lo, hi = min(lo, pb, pp), max(hi, pb, pp)
			}
			return lo, hi
		}
		// roles checks that first's states have their soft limits at
		// 80-88% and other's at 92-96%.
		roles := func(first, other *testHost, states int) {
			t.Helper()
			if lo, hi := share(first, states); lo < 80 || hi > 88 {
				t.Errorf("host %s (initiator) soft limits at %.1f-%.1f%%, want within 80-88%%", first.addr, lo, hi)
			}
			if lo, hi := share(other, states); lo < 92 || hi > 96 {
				t.Errorf("host %s (responder) soft limits at %.1f-%.1f%%, want within 92-96%%", other.addr, lo, hi)
			}
		}
		first, other := a, b
		if p := b.node.Peers(); len(p) == 1 && p[0].IKE != nil && p[0].IKE.Initiator {
			first, other = b, a
		}
		roles(first, other, 2)

		// The responder's outbound state reaches its soft byte limit: it
		// rekeys, so the roles of the new pair are swapped.
		out, ok := other.kernel.Outbound(other.addr, first.addr, reqidOf(t, other))
		if !ok {
			t.Fatal("no outbound state")
		}
		other.kernel.AddTraffic(out.Dst, out.SPI, out.Lifetime.SoftBytes, 1)
		other.node.KernelEvent(xfrm.Event{Kind: xfrm.SoftExpire, Src: out.Src, Dst: out.Dst, SPI: out.SPI, Reqid: out.Reqid})
		time.Sleep(5 * time.Second) // past the replaced inbound state's grace
		synctest.Wait()
		out2, ok := other.kernel.Outbound(other.addr, first.addr, reqidOf(t, other))
		if !ok || out2.SPI == out.SPI {
			t.Fatalf("no new outbound state after the soft expiry (old %08x):\n%s", out.SPI, other.log())
		}
		checkPaired(t, a, b)
		roles(other, first, 2)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		finish(cancel, a, b)
	})
}

func reqidOf(t *testing.T, h *testHost) uint32 {
	t.Helper()
	sas, _ := h.kernel.SAs()
	if len(sas) == 0 {
		t.Fatalf("host %s has no states", h.addr)
	}
	return sas[0].Reqid
}

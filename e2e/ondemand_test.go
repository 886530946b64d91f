package e2e

import (
	"strings"
	"testing"
	"time"

	"metro/control"
)

// TestOnDemandStart: with METRO_START=on-demand both hosts install their
// policies but negotiate nothing at start; a ping makes the kernel raise an
// ACQUIRE and metrod sets up that pair only (the IPv6 pair stays without
// SAs until it carries traffic). Nothing goes in clear meanwhile.
func TestOnDemandStart(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "on-demand-key", a.V4, b.V4, a.V6, b.V6)
		h.WriteConfig(t, "METRO_START=on-demand")
	}
	c := a.Capture(t, b)
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	for _, m := range []*Metrod{ma, mb} {
		WaitFor(t, 10*time.Second, "metrod status on "+m.Host.Name, func() bool {
			st, err := m.Status(t)
			return err == nil && len(st.Peers) == 2
		})
	}
	checkIdle := func(m *Metrod, why string) {
		t.Helper()
		st, err := m.Status(t)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Peers {
			if p.State != control.StateIdle || p.IKE != nil || p.LastError != "" {
				t.Errorf("%s: peer %s %s: %+v, want idle without SA or error", m.Host.Name, p.Remote, why, p)
			}
		}
	}
	time.Sleep(5 * time.Second)
	for _, h := range []*Host{a, b} {
		if n := xfrmStates(t, h); n != 0 {
			t.Errorf("%s: %d ESP states 5 s after an on-demand start, want 0", h.Name, n)
		}
		if n := xfrmPolicies(t, h); n != 4 {
			t.Errorf("%s: %d protecting policies, want 4 (IPv4 and IPv6, in and out): traffic must be blocked before any SA", h.Name, n)
		}
	}
	checkIdle(ma, "at start")
	checkIdle(mb, "at start")
	if st := c.Stats(); st.IKE != 0 || st.ESP != 0 || st.Cleartext() != 0 {
		t.Errorf("on-demand hosts sent packets before any traffic: %s", st)
	}
	for _, m := range []*Metrod{ma, mb} {
		if !strings.Contains(m.Proc.Log(), "start=on-demand") {
			t.Errorf("%s: metrod does not log its start mode", m.Host.Name)
		}
	}

	// The first ping raises the ACQUIRE; packets sent before the SA is up
	// are dropped by the kernel, so retry until one is answered.
	start := time.Now()
	first, firstErr := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "3", b.V4.String())
	t.Logf("first ping (sent with no SA): err=%v\n%s", firstErr, first)
	WaitFor(t, 20*time.Second, "ping a->b over IPv4", func() bool {
		_, err := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", b.V4.String())
		return err == nil
	})
	t.Logf("traffic flows %v after the first packet", time.Since(start).Round(time.Millisecond))
	a.MustPing(t, b.V4, 3)
	if !strings.Contains(ma.Proc.Log(), "kernel ACQUIRE") {
		t.Errorf("a did not negotiate on the kernel ACQUIRE")
	}
	sa := ma.WaitEstablished(t, 10*time.Second, b.V4)
	for _, p := range sa.Peers {
		if p.Remote == b.V4.String() && (p.IKE == nil || !p.Initiator) {
			t.Errorf("a should be the initiator of the IPv4 pair: %+v", p)
		}
	}
	sb := mb.WaitEstablished(t, 10*time.Second, a.V4)
	for _, p := range sb.Peers {
		if p.Remote == a.V4.String() && p.Initiator {
			t.Errorf("b initiated the IPv4 pair; it should only have answered: %+v", p)
		}
		if p.Remote == a.V6.String() && (p.State == "established" || len(p.Children) > 0) {
			t.Errorf("the IPv6 pair was negotiated without traffic: %+v", p)
		}
	}
	for _, h := range []*Host{a, b} {
		if n := xfrmStates(t, h); n != 2 {
			t.Errorf("%s: %d ESP states after IPv4 traffic, want 2 (the IPv4 pair only)", h.Name, n)
		}
	}

	// IPv6 traffic sets up the second pair the same way. (The IPv4 pair
	// above also pays for the kernel loading the AEAD on its first state,
	// about 5 s under TCG; this one shows the negotiation alone.)
	start = time.Now()
	WaitFor(t, 20*time.Second, "ping a->b over IPv6", func() bool {
		_, err := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", b.V6.String())
		return err == nil
	})
	t.Logf("IPv6 traffic flows %v after the first packet", time.Since(start).Round(time.Millisecond))
	ma.WaitEstablished(t, 10*time.Second, b.V4, b.V6)
	for _, h := range []*Host{a, b} {
		if n := xfrmStates(t, h); n != 4 {
			t.Errorf("%s: %d ESP states after IPv4 and IPv6 traffic, want 4", h.Name, n)
		}
	}

	// b stops (its DELETEs leave a idle) and starts again, negotiating
	// nothing. metroctl test on a sets up both pairs again by itself
	// (one datagram per idle peer) and passes.
	mb.Proc.Stop()
	WaitFor(t, 15*time.Second, "a to take b's DELETEs", func() bool {
		st, err := ma.Status(t)
		if err != nil {
			return false
		}
		for _, p := range st.Peers {
			if p.State != control.StateIdle {
				return false
			}
		}
		return true
	})
	checkIdle(ma, "after the peer's DELETE")
	mb = b.StartMetrod(t)
	WaitFor(t, 10*time.Second, "restarted metrod status on b", func() bool {
		st, err := mb.Status(t)
		return err == nil && len(st.Peers) == 2
	})
	metroctl := Binary(t, "metroctl")
	start = time.Now()
	out, err := a.TryRun(t, metroctl, "--socket", ma.Socket, "test", "--config", ma.Config, "--tap", "--wait", "60s")
	t.Logf("metroctl test with idle on-demand peers (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil || strings.Contains(out, "not ok") || !strings.Contains(out, "\n1..8\n") {
		t.Errorf("metroctl test did not pass with idle on-demand peers: %v", err)
	}
	if n := strings.Count(out, "negotiated on demand for a datagram of this test"); n != 2 {
		t.Errorf("metroctl test says it negotiated %d pairs, want 2 (IPv4 and IPv6)", n)
	}
	ma.WaitEstablished(t, 10*time.Second, b.V4, b.V6)

	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %s", st)
	if st.Cleartext() != 0 {
		t.Errorf("cleartext on the wire with on-demand negotiation: %s", st)
	}
	if st.ESP == 0 || st.IKE == 0 {
		t.Errorf("expected IKE and ESP on the wire: %s", st)
	}
}

package e2e

import (
	"context"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pingStats runs busybox ping and returns transmitted and received counts.
func pingStats(t *testing.T, h *Host, args ...string) (sent, recv int, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	b, _ := h.Command(ctx, "busybox", append([]string{"ping"}, args...)...).CombinedOutput()
	out = string(b)
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) packets received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ping summary in:\n%s", out)
	}
	sent, _ = strconv.Atoi(m[1])
	recv, _ = strconv.Atoi(m[2])
	return sent, recv, out
}

// TestRekeyUnderFlood: a 30 s CHILD_SA lifetime and a 70 s IKE SA lifetime
// under a ping flood of 200 packets/s for three minutes: at least five
// rekeys on each side, no packet lost, no cleartext, at most two SA pairs
// at any moment, and the CHILD_SA survives the IKE SA rekeys.
func TestRekeyUnderFlood(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "rekey-test-key", a.V4, b.V4)
		h.WriteConfig(t, "METRO_CHILD_LIFETIME=30s", "METRO_IKE_LIFETIME=70s")
	}
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4)
	mb.WaitEstablished(t, 60*time.Second, a.V4)

	c := a.Capture(t, b)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	maxStates := map[string]int{}
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			for _, h := range []*Host{a, b} {
				out, err := h.TryRun(t, "ip", "xfrm", "state")
				if err != nil {
					continue
				}
				n := strings.Count(out, "proto esp")
				mu.Lock()
				maxStates[h.Name] = max(maxStates[h.Name], n)
				mu.Unlock()
			}
		}
	}()
	// busybox ping paces itself slowly under emulation: three at once
	// make the flood (about 200 packets/s in all).
	const seconds = 180
	var sent, recv int
	var out string
	var pw sync.WaitGroup
	for range 3 {
		pw.Add(1)
		go func() {
			defer pw.Done()
			s, r, o := pingStats(t, a, "-i", "0.01", "-W", "1", "-w", strconv.Itoa(seconds), "-q", b.V4.String())
			mu.Lock()
			sent, recv, out = sent+s, recv+r, out+o
			mu.Unlock()
		}()
	}
	pw.Wait()
	close(stop)
	wg.Wait()
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flood: %d sent (%d/s), %d received; capture %s; at most %v states", sent, sent/seconds, recv, st, maxStates)
	if sent < seconds*100 {
		t.Errorf("only %d pings sent in %d s: the flood did not run\n%s", sent, seconds, out)
	}
	if recv != sent {
		t.Errorf("%d of %d pings lost across rekeys", sent-recv, sent)
	}
	if st.Cleartext() != 0 {
		t.Errorf("cleartext on the wire: %s", st)
	}
	for name, n := range maxStates {
		if n > 4 {
			t.Errorf("%s: up to %d ESP states, want at most two pairs", name, n)
		}
	}
	for _, m := range []*Metrod{ma, mb} {
		log := m.Proc.Log()
		if n := strings.Count(log, "CHILD_SA rekeyed"); n < 5 {
			t.Errorf("%s: %d CHILD_SA rekeys in %d s, want at least 5", m.Host.Name, n, seconds)
		}
		if !strings.Contains(log, "IKE SA rekeyed") {
			t.Errorf("%s: no IKE SA rekey in %d s", m.Host.Name, seconds)
		}
		if strings.Contains(log, "rekey failed") {
			t.Errorf("%s: a rekey failed", m.Host.Name)
		}
	}
}

// TestCrossedStart starts metrod on both hosts within about a millisecond
// of each other, 30 times: each time one IKE SA per side, the SPIs match,
// and ping works.
func TestCrossedStart(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "crossed-key", a.V4, b.V4)
	}
	for i := range 30 {
		var ma, mb *Metrod
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
			ma = a.StartMetrod(t)
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
			mb = b.StartMetrod(t)
		}()
		wg.Wait()
		sa := ma.WaitEstablished(t, 60*time.Second, b.V4)
		sb := mb.WaitEstablished(t, 60*time.Second, a.V4)
		time.Sleep(time.Second) // a redundant SA, if any, is deleted by now
		sa, _ = ma.Status(t)
		sb, _ = mb.Status(t)
		pa, pb := sa.Peers[0], sb.Peers[0]
		if pa.IKE == nil || pb.IKE == nil || pa.IKE.SPIi != pb.IKE.SPIi || pa.IKE.SPIr != pb.IKE.SPIr {
			t.Fatalf("run %d: different IKE SAs: %+v / %+v", i, pa.IKE, pb.IKE)
		}
		if len(pa.Children) != 1 || len(pb.Children) != 1 || pa.Children[0].SPIOut != pb.Children[0].SPIIn || pb.Children[0].SPIOut != pa.Children[0].SPIIn {
			t.Fatalf("run %d: child SAs do not pair up: %+v / %+v", i, pa.Children, pb.Children)
		}
		if n := xfrmStates(t, a); n != 2 {
			t.Fatalf("run %d: %d states on a, want 2", i, n)
		}
		a.MustPing(t, b.V4, 1)
		ma.Proc.Stop()
		mb.Proc.Stop()
	}
}

// TestKillAndRestart: kill -9 leaves the policies (and old states), so
// nothing leaks; a restarted metrod replaces its leftovers and traffic
// flows again within 5 s.
func TestKillAndRestart(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "kill-key", a.V4, b.V4, a.V6, b.V6)
	}
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
	mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
	c := a.Capture(t, b)
	mb.Proc.Cmd.Process.Kill()
	mb.Proc.Wait(5 * time.Second)
	if n := xfrmPolicies(t, b); n != 4 {
		t.Errorf("b: %d policies after kill -9, want 4", n)
	}
	a.Ping(t, b.V4, 2)
	start := time.Now()
	mb2 := b.StartMetrod(t)
	WaitFor(t, 20*time.Second, "ping a->b after restart", func() bool {
		_, err := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", b.V4.String())
		return err == nil
	})
	took := time.Since(start)
	t.Logf("traffic back %v after restart", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("traffic took %v to come back, want within 5 s", took)
	}
	mb2.WaitEstablished(t, 30*time.Second, a.V4, a.V6)
	a.MustPing(t, b.V6, 2)
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %s", st)
	if st.Cleartext() != 0 {
		t.Errorf("cleartext on the wire around kill -9: %s", st)
	}
	if !strings.Contains(mb2.Proc.Log(), "took over from a previous metrod") {
		t.Errorf("restarted metrod did not report taking over leftovers")
	}
	if !strings.Contains(ma.Proc.Log(), "INITIAL_CONTACT") {
		t.Errorf("a did not act on INITIAL_CONTACT")
	}
	if n := xfrmStates(t, a); n != 4 {
		t.Errorf("a: %d states after the peer's restart, want 4 (old ones replaced)", n)
	}
}

// TestDeadPeer: a peer whose link goes down is detected by the liveness
// check within the DPD interval plus the retransmissions; it is back once
// the link returns.
func TestDeadPeer(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "dpd-key", a.V4, b.V4)
		h.WriteConfig(t, "METRO_DPD_INTERVAL=5s")
	}
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4)
	mb.WaitEstablished(t, 60*time.Second, a.V4)
	b.Run(t, "ip", "link", "set", Link, "down")
	down := time.Now()
	// DPD interval plus the retransmission schedule (1+2+4+8+16+32 s).
	WaitFor(t, 90*time.Second, "a notices the peer is gone", func() bool {
		st, err := ma.Status(t)
		return err == nil && st.Peers[0].State != "established"
	})
	t.Logf("dead peer detected after %v", time.Since(down).Round(time.Second))
	if !strings.Contains(ma.Proc.Log(), "does not answer liveness checks") {
		t.Errorf("a's log does not say why the peer was dropped")
	}
	if n := xfrmStates(t, a); n != 0 {
		t.Errorf("a kept %d states of a dead peer", n)
	}
	b.Run(t, "ip", "link", "set", Link, "up")
	b.waitCarrier(t)
	up := time.Now()
	WaitFor(t, 90*time.Second, "ping a->b after the link returns", func() bool {
		_, err := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", b.V4.String())
		return err == nil
	})
	t.Logf("traffic back %v after the link returned", time.Since(up).Round(time.Millisecond))
}

// TestAcquire: a peer that cannot be reached at start (here: b's IKE
// traffic is dropped by a firewall rule) is retried on the retransmission
// schedule; once it is reachable, the first packet to it makes the kernel
// raise an ACQUIRE and metrod negotiates at once instead of waiting for its
// next retransmission.
func TestAcquire(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "acquire-key", a.V4, b.V4)
	}
	b.Run(t, "nft", "add table inet metro_test_block")
	b.Run(t, "nft", "add chain inet metro_test_block in { type filter hook input priority -10 ; }")
	b.Run(t, "nft", "add chain inet metro_test_block out { type filter hook output priority -10 ; }")
	b.Run(t, "nft", "add rule inet metro_test_block in udp dport 500 drop")
	b.Run(t, "nft", "add rule inet metro_test_block out udp dport 500 drop")
	ma := a.StartMetrod(t)
	b.StartMetrod(t)
	// Both send IKE_SA_INIT at 0 s and retransmit at 1, 3, 7, 15, 31 s.
	time.Sleep(8500 * time.Millisecond)
	b.Run(t, "nft", "delete table inet metro_test_block")
	start := time.Now()
	WaitFor(t, 30*time.Second, "ping a->b", func() bool {
		_, err := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", b.V4.String())
		return err == nil
	})
	took := time.Since(start)
	t.Logf("first packet to traffic: %v (without ACQUIRE the next retransmission comes about 6.5 s later)", took.Round(time.Millisecond))
	if !strings.Contains(ma.Proc.Log(), "kernel ACQUIRE") {
		t.Errorf("a did not react to the kernel ACQUIRE")
	}
	if took > 5*time.Second {
		t.Errorf("traffic took %v to flow; ACQUIRE should trigger negotiation at once", took)
	}
}

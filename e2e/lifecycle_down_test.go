package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"metro/control"
)

// metroctl runs metroctl against m's socket and returns its output and
// error (a non-zero exit is an error).
func (m *Metrod) metroctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return m.Host.TryRun(t, Binary(t, "metroctl"), append([]string{"--socket", m.Socket}, args...)...)
}

// allPolicies counts every policy in the host's kernel (metro's or not).
func allPolicies(t *testing.T, h *Host) int {
	t.Helper()
	return strings.Count(h.Run(t, "ip", "xfrm", "policy"), "dir ")
}

// lcPeer returns the status of the peer with remote address r, or nil.
func lcPeer(st *control.Status, r netip.Addr) *control.PeerStatus {
	for i := range st.Peers {
		if st.Peers[i].Remote == r.String() {
			return &st.Peers[i]
		}
	}
	return nil
}

// saIDs names a peer's IKE and child SAs by their SPIs.
func saIDs(t *testing.T, st *control.Status, r netip.Addr) string {
	t.Helper()
	p := lcPeer(st, r)
	if p == nil || p.IKE == nil {
		t.Fatalf("no established peer %s in status %+v", r, st.Peers)
	}
	s := fmt.Sprintf("ike %s/%s", p.IKE.SPIi, p.IKE.SPIr)
	for _, c := range p.Children {
		s += fmt.Sprintf(" child %s/%s", c.SPIIn, c.SPIOut)
	}
	return s
}

// downAndCheck runs metroctl down on m (with extra flags) and checks that
// metrod exits 0.
func downAndCheck(t *testing.T, m *Metrod, extra ...string) string {
	t.Helper()
	out, err := m.metroctl(t, append([]string{"down"}, extra...)...)
	if err != nil {
		t.Fatalf("%s: metroctl down %v: %v\n%s", m.Host.Name, extra, err, out)
	}
	if err := m.Proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("%s: metrod after metroctl down: %v (want exit 0)\n%s", m.Host.Name, err, lastLines(m.Proc.Log(), 30))
	}
	if !strings.Contains(out, "metrod stopped") {
		t.Errorf("%s: metroctl down output:\n%s", m.Host.Name, out)
	}
	return out
}

// TestMetrodDown: `metroctl down` stops metrod with traffic blocked (never
// in clear); `down --enable-clear-text` removes metro's policies, whether
// metrod runs or not, and nothing else.
func TestMetrodDown(t *testing.T) {
	a, b, ma, mb := pskPair(t)
	// A policy that is not metro's must survive everything below.
	for _, h := range []*Host{a, b} {
		h.Run(t, "ip", "xfrm", "policy", "add", "src", "192.0.2.1/32", "dst", "192.0.2.2/32", "dir", "out", "priority", "5000")
	}
	foreignLeft := func(t *testing.T, h *Host) {
		t.Helper()
		if !strings.Contains(h.Run(t, "ip", "xfrm", "policy"), "src 192.0.2.1/32 dst 192.0.2.2/32") {
			t.Errorf("%s: a policy that is not metro's was removed", h.Name)
		}
	}

	t.Run("down-blocks", func(t *testing.T) {
		downAndCheck(t, mb)
		if n := xfrmStates(t, b); n != 0 {
			t.Errorf("b: %d ESP states after down, want 0", n)
		}
		if n := xfrmPolicies(t, b); n != 4 {
			t.Errorf("b: %d ESP policies after down, want the 4 kept (traffic blocked)", n)
		}
		if _, err := os.Stat(mb.Socket); err == nil {
			t.Errorf("control socket %s left behind", mb.Socket)
		}
		WaitFor(t, 10*time.Second, "a removes its states after b's DELETE", func() bool { return xfrmStates(t, a) == 0 })
		c := a.Capture(t, b)
		if _, err := a.Ping(t, b.V4, 3); err == nil {
			t.Errorf("ping a->b succeeded after metroctl down on b")
		}
		if _, err := b.Ping(t, a.V6, 2); err == nil {
			t.Errorf("ping6 b->a succeeded after metroctl down on b")
		}
		st, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("capture after down: %s", st)
		if st.Cleartext() != 0 {
			t.Errorf("cleartext on the wire after metroctl down: %s", st)
		}
		foreignLeft(t, b)
	})

	t.Run("down-clear-text-running", func(t *testing.T) {
		mb = b.StartMetrod(t)
		mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
		ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
		for _, m := range []*Metrod{ma, mb} {
			out := downAndCheck(t, m, "--enable-clear-text")
			if !strings.Contains(out, "in clear") {
				t.Errorf("%s: output does not say traffic flows in clear:\n%s", m.Host.Name, out)
			}
			if !strings.Contains(m.Proc.Log(), "policies_removed=") {
				t.Errorf("%s: metrod did not log the policies it removed", m.Host.Name)
			}
		}
		for _, h := range []*Host{a, b} {
			if n := xfrmStates(t, h); n != 0 {
				t.Errorf("%s: %d ESP states left", h.Name, n)
			}
			if n := allPolicies(t, h); n != 1 {
				t.Errorf("%s: %d policies left, want only the foreign one:\n%s", h.Name, n, h.Run(t, "ip", "xfrm", "policy"))
			}
			foreignLeft(t, h)
		}
		c := a.Capture(t, b)
		a.MustPing(t, b.V4, 3)
		a.MustPing(t, b.V6, 3)
		st, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("capture in clear: %s", st)
		if st.ICMP < 6 || st.ESP != 0 {
			t.Errorf("want cleartext pings and no ESP after down --enable-clear-text: %s", st)
		}
	})

	t.Run("down-clear-text-not-running", func(t *testing.T) {
		ma, mb = a.StartMetrod(t), b.StartMetrod(t)
		ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
		mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
		for _, m := range []*Metrod{ma, mb} {
			downAndCheck(t, m)
		}
		if _, err := a.Ping(t, b.V4, 2); err == nil {
			t.Errorf("ping succeeded with both metrods down (policies kept)")
		}
		for _, m := range []*Metrod{ma, mb} {
			h := m.Host
			before := xfrmPolicies(t, h)
			if before != 4 {
				t.Errorf("%s: %d ESP policies after down, want 4", h.Name, before)
			}
			out, err := m.metroctl(t, "down")
			if err != nil || !strings.Contains(out, "not running") {
				t.Errorf("%s: metroctl down without metrod: %v\n%s", h.Name, err, out)
			}
			out, err = m.metroctl(t, "down", "--enable-clear-text")
			if err != nil {
				t.Fatalf("%s: metroctl down --enable-clear-text without metrod: %v\n%s", h.Name, err, out)
			}
			if got := strings.Count(out, "removed policy "); got < before {
				t.Errorf("%s: %d policies listed as removed, want at least %d:\n%s", h.Name, got, before, out)
			}
			if strings.Contains(out, "192.0.2.1") {
				t.Errorf("%s: metroctl removed a policy that is not metro's:\n%s", h.Name, out)
			}
			if n := allPolicies(t, h); n != 1 {
				t.Errorf("%s: %d policies left, want only the foreign one", h.Name, n)
			}
			foreignLeft(t, h)
		}
		c := a.Capture(t, b)
		a.MustPing(t, b.V4, 3)
		b.MustPing(t, a.V6, 3)
		st, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if st.ICMP < 6 || st.ESP != 0 {
			t.Errorf("want cleartext pings and no ESP: %s", st)
		}
	})
}

// TestMetrodReload: on a pair, two PSK groups of different families (v4.psk
// and v6.psk) play the parts of peers that are added, removed and re-keyed
// by reloads (metroctl reload on a, SIGHUP on b); the SAs of the peer a
// reload does not affect never change, and a broken configuration is
// rejected with the running one kept.
func TestMetrodReload(t *testing.T) {
	a, b := NewPair(t)
	const k4, k6, k6new = "reload-v4-key-0123456789", "reload-v6-key-0123456789", "reload-v6-NEW-key-98765"
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "v4.psk", k4, a.V4, b.V4)
	}
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4)
	mb.WaitEstablished(t, 60*time.Second, a.V4)

	status := func(t *testing.T, m *Metrod) *control.Status {
		t.Helper()
		st, err := m.Status(t)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	reloadA := func(t *testing.T) string {
		t.Helper()
		out, err := ma.metroctl(t, "reload")
		if err != nil {
			t.Fatalf("metroctl reload on a: %v\n%s", err, out)
		}
		t.Logf("a: %s", strings.TrimSpace(out))
		return out
	}
	hups := 0
	reloadB := func(t *testing.T) {
		t.Helper()
		hups++
		if err := mb.Proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 10*time.Second, "b logs its reload", func() bool {
			return strings.Count(mb.Proc.Log(), "SIGHUP: ") >= hups
		})
		if mb.Proc.Exited() {
			t.Fatalf("metrod on b exited on SIGHUP:\n%s", lastLines(mb.Proc.Log(), 30))
		}
	}

	t.Run("add", func(t *testing.T) {
		v4a, v4b := saIDs(t, status(t, ma), b.V4), saIDs(t, status(t, mb), a.V4)
		for _, h := range []*Host{a, b} {
			h.WritePSK(t, "v6.psk", k6, a.V6, b.V6)
		}
		if out := reloadA(t); !strings.Contains(out, "1 peer added (fd00::2)") || !strings.Contains(out, "1 unchanged") {
			t.Errorf("reload summary: %s", out)
		}
		reloadB(t)
		if !strings.Contains(mb.Proc.Log(), "SIGHUP: reloaded: 1 peer added (fd00::1)") {
			t.Errorf("b's log lacks the reload summary:\n%s", lastLines(mb.Proc.Log(), 20))
		}
		sa := ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
		sb := mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
		if got := saIDs(t, sa, b.V4); got != v4a {
			t.Errorf("a: SAs of the unaffected IPv4 peer changed: %s -> %s", v4a, got)
		}
		if got := saIDs(t, sb, a.V4); got != v4b {
			t.Errorf("b: SAs of the unaffected IPv4 peer changed: %s -> %s", v4b, got)
		}
		c := a.Capture(t, b)
		a.MustPing(t, b.V6, 3)
		a.MustPing(t, b.V4, 3)
		if st, _ := c.Stop(); st.Cleartext() != 0 || st.ESP < 12 {
			t.Errorf("after adding the IPv6 peer: %s", st)
		}
	})

	t.Run("broken-psk-rejected", func(t *testing.T) {
		before := status(t, ma)
		ids := saIDs(t, before, b.V4) + " | " + saIDs(t, before, b.V6)
		a.WritePSK(t, "v6.psk", k6+"\nstray third line", a.V6, b.V6)
		out, err := ma.metroctl(t, "reload")
		if err == nil {
			t.Fatalf("metroctl reload accepted a broken .psk file:\n%s", out)
		}
		if !strings.Contains(out, "v6.psk") || !strings.Contains(out, "running one stays") {
			t.Errorf("reload error does not name the file or say the running configuration stays:\n%s", out)
		}
		if strings.Contains(out, k6) || strings.Contains(ma.Proc.Log(), k6) {
			t.Errorf("the key appears in the error or the log")
		}
		// SIGHUP with the same broken file: logged, metrod goes on.
		if err := ma.Proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, 10*time.Second, "a logs the failed SIGHUP reload", func() bool {
			return strings.Contains(ma.Proc.Log(), "SIGHUP: reload failed")
		})
		after := status(t, ma)
		if got := saIDs(t, after, b.V4) + " | " + saIDs(t, after, b.V6); got != ids {
			t.Errorf("SAs changed after a rejected reload: %s -> %s", ids, got)
		}
		a.MustPing(t, b.V4, 2)
		a.MustPing(t, b.V6, 2)

		// A restart-only variable is rejected too.
		a.WritePSK(t, "v6.psk", k6, a.V6, b.V6)
		a.WriteConfig(t, "METRO_ISAKMP_IKE_PORT=4501")
		out, err = ma.metroctl(t, "reload")
		if err == nil || !strings.Contains(out, "restart metrod to change METRO_ISAKMP_IKE_PORT") {
			t.Errorf("changed IKE port: %v\n%s", err, out)
		}
		a.WriteConfig(t)
		if out := reloadA(t); !strings.Contains(out, "0 peers added, 0 removed, 0 re-keyed, 2 unchanged") {
			t.Errorf("reload of the restored configuration: %s", out)
		}
		after = status(t, ma)
		if got := saIDs(t, after, b.V4) + " | " + saIDs(t, after, b.V6); got != ids {
			t.Errorf("SAs changed after reloading an unchanged configuration: %s -> %s", ids, got)
		}
	})

	t.Run("remove", func(t *testing.T) {
		v6a := saIDs(t, status(t, ma), b.V6)
		for _, h := range []*Host{a, b} {
			if err := os.Remove(filepath.Join(h.Dir, "creds", "v4.psk")); err != nil {
				t.Fatal(err)
			}
		}
		if out := reloadA(t); !strings.Contains(out, "1 removed (10.0.0.2)") {
			t.Errorf("reload summary: %s", out)
		}
		reloadB(t)
		for _, m := range []*Metrod{ma, mb} {
			st := status(t, m)
			if len(st.Peers) != 1 {
				t.Errorf("%s: %d peers after removing the IPv4 group, want 1", m.Host.Name, len(st.Peers))
			}
			if n := xfrmPolicies(t, m.Host); n != 2 {
				t.Errorf("%s: %d ESP policies, want 2 (IPv6 pair only)", m.Host.Name, n)
			}
			if n := xfrmStates(t, m.Host); n != 2 {
				t.Errorf("%s: %d ESP states, want 2", m.Host.Name, n)
			}
		}
		if got := saIDs(t, status(t, ma), b.V6); got != v6a {
			t.Errorf("SAs of the unaffected IPv6 peer changed: %s -> %s", v6a, got)
		}
		c := a.Capture(t, b)
		a.MustPing(t, b.V4, 3) // a host that is no longer a peer talks in clear
		a.MustPing(t, b.V6, 3)
		st, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("capture: %s", st)
		if st.ICMP < 6 || st.ESP < 6 {
			t.Errorf("want IPv4 pings in clear and IPv6 pings in ESP: %s", st)
		}
	})

	t.Run("rekey", func(t *testing.T) {
		st := status(t, ma)
		old := saIDs(t, st, b.V6)
		reqid := lcPeer(st, b.V6).Children[0].Reqid
		for _, h := range []*Host{a, b} {
			h.WritePSK(t, "v6.psk", k6new, a.V6, b.V6)
		}
		if out := reloadA(t); !strings.Contains(out, "1 re-keyed (fd00::2)") {
			t.Errorf("reload summary: %s", out)
		}
		// Until b has the new key the pair is blocked, never in clear.
		if n := xfrmPolicies(t, a); n != 2 {
			t.Errorf("a: %d ESP policies while re-keying, want 2", n)
		}
		reloadB(t)
		st = ma.WaitEstablished(t, 60*time.Second, b.V6)
		mb.WaitEstablished(t, 60*time.Second, a.V6)
		if got := saIDs(t, st, b.V6); got == old {
			t.Errorf("the re-keyed peer kept its SAs %s", got)
		}
		if got := lcPeer(st, b.V6).Children[0].Reqid; got != reqid {
			t.Errorf("reqid of the re-keyed pair changed: %#x -> %#x", reqid, got)
		}
		c := a.Capture(t, b)
		a.MustPing(t, b.V6, 3)
		if st, _ := c.Stop(); st.Cleartext() != 0 || st.ESP < 6 {
			t.Errorf("after re-keying: %s", st)
		}
		for _, m := range []*Metrod{ma, mb} {
			for _, k := range []string{k4, k6, k6new} {
				if strings.Contains(m.Proc.Log(), k) {
					t.Errorf("%s: the log contains a key", m.Host.Name)
				}
			}
		}
	})
}

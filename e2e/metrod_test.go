package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pskPair starts metrod on two hosts sharing one .psk file that lists all
// four addresses, and waits until both see both peers established.
func pskPair(t *testing.T) (a, b *Host, ma, mb *Metrod) {
	t.Helper()
	a, b = NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "e2e-shared-key-0123456789", a.V4, a.V6, b.V4, b.V6)
	}
	ma, mb = a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
	mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
	return a, b, ma, mb
}

// xfrmStates counts the ESP transport-mode states in the host's kernel.
// ip's output holds keys and is never printed.
func xfrmStates(t *testing.T, h *Host) int {
	t.Helper()
	out := h.Run(t, "ip", "xfrm", "state")
	n := 0
	for _, blk := range strings.Split(out, "src ")[1:] {
		if strings.Contains(blk, "proto esp") && strings.Contains(blk, "mode transport") {
			n++
		}
	}
	return n
}

// xfrmPolicies counts the host's policies with an ESP template.
func xfrmPolicies(t *testing.T, h *Host) int {
	t.Helper()
	return strings.Count(h.Run(t, "ip", "xfrm", "policy"), "proto esp")
}

// tcpTransfer sends data over TCP from a to b with busybox nc, so that the
// capture sees TCP too.
func tcpTransfer(t *testing.T, a, b *Host, dst netip.Addr) {
	t.Helper()
	srv := b.Start(t, "busybox", "nc", "-l", "-p", "5001")
	b.WaitListen(t, "tcp", 5001)
	payload := filepath.Join(a.Dir, "payload")
	if err := os.WriteFile(payload, []byte(strings.Repeat("cleartext-marker ", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := a.Command(t.Context(), "sh", "-c", fmt.Sprintf("busybox nc -w 5 %s 5001 < %s", dst, payload))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("TCP transfer to %s: %v: %s", dst, err, out)
	}
	if err := srv.Wait(10 * time.Second); err != nil {
		t.Fatalf("nc server: %v", err)
	}
	if got := srv.Log(); !strings.Contains(got, "cleartext-marker") {
		t.Fatalf("TCP data did not arrive at %s", dst)
	}
}

// TestMetrodPSK is the main scenario: two hosts, one .psk file, both
// families; traffic is ESP on the wire; a stopped metrod leaves traffic
// blocked, not clear; a restarted one is back within seconds.
func TestMetrodPSK(t *testing.T) {
	a, b, ma, mb := pskPair(t)

	t.Run("status", func(t *testing.T) {
		for _, m := range []*Metrod{ma, mb} {
			st, err := m.Status(t)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Peers) != 2 || st.Backend != "netlink" {
				t.Fatalf("%s: status %+v", m.Host.Name, st)
			}
			for _, p := range st.Peers {
				if p.State != "established" || p.IKE == nil || len(p.Children) != 1 || p.Children[0].Mode != "transport" {
					t.Errorf("%s: peer %s not fully established: %+v", m.Host.Name, p.Remote, p)
				}
			}
			text := m.Host.Run(t, Binary(t, "metroctl"), "--socket", m.Socket, "status")
			for _, want := range []string{"established", "10.0.0.", "fd00::", "aes"} {
				if !strings.Contains(text, want) {
					t.Errorf("%s: metroctl status lacks %q:\n%s", m.Host.Name, want, text)
				}
			}
		}
		// One IKE SA per peer, the same SPIs on both sides.
		sa, _ := ma.Status(t)
		sb, _ := mb.Status(t)
		for _, pa := range sa.Peers {
			for _, pb := range sb.Peers {
				if pa.Remote == pb.Local && pa.Local == pb.Remote {
					if pa.IKE.SPIi != pb.IKE.SPIi || pa.Children[0].SPIIn != pb.Children[0].SPIOut {
						t.Errorf("hosts disagree on SAs for %s: %+v / %+v", pa.Remote, pa, pb)
					}
				}
			}
		}
	})

	t.Run("kernel", func(t *testing.T) {
		for _, h := range []*Host{a, b} {
			if n := xfrmStates(t, h); n != 4 {
				t.Errorf("%s: %d ESP transport states, want 4 (a pair per family)", h.Name, n)
			}
			if n := xfrmPolicies(t, h); n != 4 {
				t.Errorf("%s: %d ESP policies, want 4", h.Name, n)
			}
			out := h.Run(t, "ip", "xfrm", "state")
			if !strings.Contains(out, "rfc4106(gcm(aes))") {
				t.Errorf("%s: states do not use rfc4106(gcm(aes))", h.Name)
			}
			in := h.Run(t, "ip", "xfrm", "state", "list", "dst", map[bool]string{true: "10.0.0.1", false: "10.0.0.2"}[h == a])
			if !regexp.MustCompile(`replay[-_]window [1-9]`).MatchString(in) {
				t.Errorf("%s: inbound state has no replay window", h.Name)
			}
		}
	})

	t.Run("encrypted", func(t *testing.T) {
		c := a.Capture(t, b)
		a.MustPing(t, b.V4, 5)
		a.MustPing(t, b.V6, 5)
		b.MustPing(t, a.V4, 5)
		tcpTransfer(t, a, b, b.V4)
		tcpTransfer(t, a, b, b.V6)
		st, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("capture: %s (%s)", st, c.Path)
		if st.ESP < 30 {
			t.Errorf("only %d ESP packets for 15 pings each way plus two TCP transfers", st.ESP)
		}
		if st.Cleartext() != 0 {
			t.Errorf("cleartext between the hosts: %s", st)
		}
	})

	t.Run("stop-blocks-then-restart", func(t *testing.T) {
		if err := mb.Proc.Stop(); err != nil {
			t.Fatalf("metrod on b did not stop cleanly: %v", err)
		}
		if n := xfrmStates(t, b); n != 0 {
			t.Errorf("b: %d ESP states left after stop, want 0", n)
		}
		if n := xfrmPolicies(t, b); n != 4 {
			t.Errorf("b: %d policies after stop, want 4 kept (fail closed)", n)
		}
		// a heard the DELETE and dropped its states too.
		WaitFor(t, 10*time.Second, "a removes its states after b's DELETE", func() bool { return xfrmStates(t, a) == 0 })
		c := a.Capture(t, b)
		if out, err := a.Ping(t, b.V4, 3); err == nil {
			t.Errorf("ping a->b succeeded while metrod on b is down:\n%s", out)
		}
		if _, err := a.Ping(t, b.V6, 2); err == nil {
			t.Errorf("ping6 a->b succeeded while metrod on b is down")
		}
		st, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("capture while b is down: %s", st)
		if st.Cleartext() != 0 {
			t.Errorf("cleartext on the wire while metrod on b is down: %s", st)
		}

		start := time.Now()
		mb2 := b.StartMetrod(t)
		WaitFor(t, 30*time.Second, "ping a->b after metrod restart on b", func() bool {
			_, err := a.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", b.V4.String())
			return err == nil
		})
		took := time.Since(start)
		t.Logf("traffic flows again %v after metrod started on b", took.Round(time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("traffic took %v to come back, want a few seconds", took)
		}
		mb2.WaitEstablished(t, 30*time.Second, a.V4, a.V6)
		a.MustPing(t, b.V6, 2)
	})
}

// TestMetrodWrongKey: different keys on the two hosts give no SA, both logs
// say authentication failed, and both daemons keep running.
func TestMetrodWrongKey(t *testing.T) {
	a, b := NewPair(t)
	a.WritePSK(t, "mesh.psk", "key-on-a", a.V4, b.V4)
	b.WritePSK(t, "mesh.psk", "key-on-b", a.V4, b.V4)
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	for _, m := range []*Metrod{ma, mb} {
		WaitFor(t, 60*time.Second, m.Host.Name+" logs authentication failed", func() bool {
			return strings.Contains(m.Proc.Log(), "authentication failed")
		})
	}
	time.Sleep(2 * time.Second)
	for _, m := range []*Metrod{ma, mb} {
		if m.Proc.Exited() {
			t.Errorf("metrod on %s exited:\n%s", m.Host.Name, m.Proc.Log())
		}
		if n := xfrmStates(t, m.Host); n != 0 {
			t.Errorf("%s: %d ESP states with mismatched keys", m.Host.Name, n)
		}
		st, err := m.Status(t)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Peers) != 1 || st.Peers[0].State == "established" {
			t.Errorf("%s: peer state %+v", m.Host.Name, st.Peers)
		}
		for _, k := range []string{"key-on-a", "key-on-b"} {
			if strings.Contains(m.Proc.Log(), k) {
				t.Errorf("%s: the log contains a key", m.Host.Name)
			}
		}
		if !strings.Contains(m.Proc.Log(), "peer=10.0.0.") {
			t.Errorf("%s: the failure is not logged with the peer", m.Host.Name)
		}
	}
	if _, err := a.Ping(t, b.V4, 2); err == nil {
		t.Errorf("ping succeeded without SAs")
	}
}

// TestMetrodBadInput: bad configuration stops metrod with a clear error
// naming the source, and nothing is installed in the kernel.
func TestMetrodBadInput(t *testing.T) {
	a, b := NewPair(t)
	cases := []struct {
		name  string
		setup func(t *testing.T) []string // returns extra environment
		want  []string
	}{
		{"bad-port-in-file", func(t *testing.T) []string {
			a.WritePSK(t, "mesh.psk", "k", a.V4, b.V4)
			a.WriteConfig(t, "METRO_ISAKMP_IKE_PORT=70000")
			return nil
		}, []string{"config.env:2", "METRO_ISAKMP_IKE_PORT", "70000"}},
		{"bad-port-in-env", func(t *testing.T) []string {
			a.WriteConfig(t)
			return []string{"METRO_ISAKMP_IKE_PORT=abc"}
		}, []string{"env METRO_ISAKMP_IKE_PORT", "abc"}},
		{"missing-creds-dir", func(t *testing.T) []string {
			a.WriteConfig(t, "METRO_CREDS_DIR=/nonexistent/metro")
			return nil
		}, []string{"METRO_CREDS_DIR", "/nonexistent/metro"}},
		{"psk-three-lines", func(t *testing.T) []string {
			dir := a.WritePSK(t, "mesh.psk", "k\nextra", a.V4, b.V4)
			a.WriteConfig(t, "METRO_CREDS_DIR="+dir)
			return nil
		}, []string{"mesh.psk:", "line"}},
		{"psk-bad-address", func(t *testing.T) []string {
			dir := filepath.Join(a.Dir, "creds")
			os.WriteFile(filepath.Join(dir, "mesh.psk"), []byte("10.0.0.1 10.0.0.999\nkey\n"), 0o600)
			a.WriteConfig(t)
			return nil
		}, []string{"mesh.psk:1", "10.0.0.999"}},
		{"bad-proposal", func(t *testing.T) []string {
			a.WritePSK(t, "mesh.psk", "k", a.V4, b.V4)
			a.WriteConfig(t, "METRO_IKE_PROPOSALS=aes256gcm16-prfsha256-modp1024")
			return nil
		}, []string{"METRO_IKE_PROPOSALS", "modp1024"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.setup(t)
			cmd := a.Command(t.Context(), Binary(t, "metrod"), "--config", filepath.Join(a.Dir, "config.env"),
				"--socket", filepath.Join(a.Dir, "bad.sock"))
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("metrod accepted bad input (err %v):\n%s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("error output lacks %q:\n%s", w, out)
				}
			}
			if n := xfrmPolicies(t, a); n != 0 {
				t.Errorf("%d policies installed despite the error", n)
			}
			if n := strings.Count(a.Run(t, "ip", "xfrm", "policy"), "dir"); n != 0 {
				t.Errorf("%d policies of any kind installed despite the error", n)
			}
		})
	}
}

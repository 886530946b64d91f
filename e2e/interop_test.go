package e2e

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"metro/control"
)

const interopPSK = "interop-shared-key-0123456789"

// Default proposals of the interop scenarios: what both peers support.
const (
	interopIKE = "aes256gcm16-prfsha256-x25519"
	interopESP = "aes256gcm16"
)

// startInteropMetrod starts metrod on a with one .psk file for the given
// pairs of addresses (a's first), optional proposals and key log.
func startInteropMetrod(t *testing.T, a *Host, ike, esp, keylog string, addrs ...netip.Addr) *Metrod {
	t.Helper()
	a.WritePSK(t, "interop.psk", interopPSK, addrs...)
	var lines []string
	if ike != "" {
		lines = append(lines, "METRO_IKE_PROPOSALS="+ike)
	}
	if esp != "" {
		lines = append(lines, "METRO_ESP_PROPOSALS="+esp)
	}
	if keylog != "" {
		lines = append(lines, "METRO_KEYLOG="+keylog)
	}
	a.WriteConfig(t, lines...)
	return a.StartMetrod(t)
}

// conns returns the peer daemon's connections with metrod on a, one per family.
func conns(a, b *Host, ike, esp string, initiate bool, families ...int) []IPsecConn {
	var cs []IPsecConn
	for _, f := range families {
		c := IPsecConn{Name: "metro4", Local: b.V4, Remote: a.V4, PSK: interopPSK, IKE: ike, ESP: esp, Initiate: initiate}
		if f == 6 {
			c.Name, c.Local, c.Remote = "metro6", b.V6, a.V6
		}
		cs = append(cs, c)
	}
	return cs
}

// peerOf returns metrod's status of the peer at remote.
func peerOf(st *control.Status, remote netip.Addr) *control.PeerStatus {
	for i := range st.Peers {
		if st.Peers[i].Remote == remote.String() {
			return &st.Peers[i]
		}
	}
	return nil
}

// checkRoles asserts who initiated each IKE SA.
func checkRoles(t *testing.T, st *control.Status, metrodInitiated bool, remotes ...netip.Addr) {
	t.Helper()
	for _, r := range remotes {
		p := peerOf(st, r)
		if p == nil {
			t.Fatalf("metrod has no peer %s", r)
		}
		if p.Initiator != metrodInitiated {
			t.Errorf("peer %s: metrod initiator=%v, want %v (the peer daemon should have %s)",
				r, p.Initiator, metrodInitiated, map[bool]string{true: "responded", false: "initiated"}[metrodInitiated])
		}
	}
}

// checkTraffic pings both ways over both families while capturing on a,
// and asserts that only ESP passed between the hosts.
func checkTraffic(t *testing.T, a, b *Host, remotes ...netip.Addr) {
	t.Helper()
	c := a.Capture(t, b)
	for _, r := range remotes {
		a.MustPing(t, r, 3)
		back := a.V4
		if r.Is6() {
			back = a.V6
		}
		b.MustPing(t, back, 2)
	}
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %s", st)
	if st.Cleartext() != 0 || st.ESP < 5*len(remotes) {
		t.Errorf("want only ESP between the hosts (at least %d packets): %s", 5*len(remotes), st)
	}
}

// waitFailures waits until metrod has logged n failed negotiations.
func waitFailures(t *testing.T, m *Metrod, n int) {
	t.Helper()
	WaitFor(t, 60*time.Second, fmt.Sprintf("%d failed negotiations in metrod's log", n), func() bool {
		return strings.Count(m.Proc.Log(), "negotiation failed") >= n
	})
}

// TestInteropStrongSwan: metrod and strongSwan set up transport-mode SAs
// over IPv4 and IPv6, each as initiator; only ESP on the wire; tshark reads
// every IKE message and, with metrod's key log, decrypts IKE and ESP.
func TestInteropStrongSwan(t *testing.T) {
	RequireStrongSwan(t)
	a, b := NewPair(t)
	ch := b.StartCharon(t)

	t.Run("metrod-initiates", func(t *testing.T) {
		ch.Load(t, conns(a, b, interopIKE, interopESP, false, 4, 6)...)
		keylog := filepath.Join(OutDir(t), "metrod-a.keys")
		cap := a.Capture(t, b)
		m := startInteropMetrod(t, a, "", "", keylog, a.V4, a.V6, b.V4, b.V6)
		st := m.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
		checkRoles(t, st, true, b.V4, b.V6)
		a.MustPing(t, b.V4, 3)
		a.MustPing(t, b.V6, 3)
		b.MustPing(t, a.V4, 2)
		b.MustPing(t, a.V6, 2)
		cs, err := cap.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("capture: %s", cs)
		if cs.Cleartext() != 0 || cs.ESP < 20 {
			t.Errorf("want only ESP between the hosts: %s", cs)
		}
		if n := xfrmStates(t, b); n != 4 {
			t.Errorf("strongSwan's host has %d ESP transport states, want 4", n)
		}
		checkTshark(t, cap.Path, keylog, 2)
		m.Proc.Stop()
		ch.TerminateAll(t, "metro4", "metro6")
	})

	t.Run("strongswan-initiates", func(t *testing.T) {
		ch.Load(t) // no connection: charon answers NO_PROPOSAL_CHOSEN
		m := startInteropMetrod(t, a, "", "", "", a.V4, a.V6, b.V4, b.V6)
		// After metrod's second failure it waits 4 s before trying again:
		// strongSwan's initiations land in that window.
		waitFailures(t, m, 4)
		ch.Load(t, conns(a, b, interopIKE, interopESP, true, 4, 6)...)
		st := m.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
		checkRoles(t, st, false, b.V4, b.V6)
		checkTraffic(t, a, b, b.V4, b.V6)
		m.Proc.Stop()
		ch.TerminateAll(t, "metro4", "metro6")
	})
}

// TestInteropLibreswan: the same with Libreswan's pluto.
func TestInteropLibreswan(t *testing.T) {
	RequireLibreswan(t)
	const ike, esp = "aes128gcm16-prfsha256-x25519", "aes128gcm16"

	t.Run("metrod-initiates", func(t *testing.T) {
		a, b := NewPair(t)
		pl := b.StartPluto(t, conns(a, b, ike, esp, false, 4, 6)...)
		m := startInteropMetrod(t, a, ike, esp, "", a.V4, a.V6, b.V4, b.V6)
		st := m.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
		checkRoles(t, st, true, b.V4, b.V6)
		checkTraffic(t, a, b, b.V4, b.V6)
		t.Logf("pluto: %s", pl.Status(t))
		if n := xfrmStates(t, b); n != 4 {
			t.Errorf("Libreswan's host has %d ESP transport states, want 4", n)
		}
	})

	t.Run("libreswan-initiates", func(t *testing.T) {
		a, b := NewPair(t)
		// pluto first, with an IKE proposal metrod does not take: metrod's
		// attempts end in NO_PROPOSAL_CHOSEN and it backs off. During the
		// backoff pluto gets the right connections and initiates; metrod,
		// not negotiating itself, answers.
		wrong := conns(a, b, "aes256gcm16-prfsha512-ecp384", esp, false, 4, 6)
		pl := b.StartPluto(t, wrong...)
		m := startInteropMetrod(t, a, ike, esp, "", a.V4, a.V6, b.V4, b.V6)
		WaitFor(t, 90*time.Second, "metrod backing off for both peers", func() bool {
			return strings.Count(m.Proc.Log(), "retry_in=8s") >= 2
		})
		right := conns(a, b, ike, esp, true, 4, 6)
		for i := range right {
			right[i].Name += "b"
		}
		pl.Replace(t, wrong, right...)
		st := m.WaitEstablished(t, 90*time.Second, b.V4, b.V6)
		checkRoles(t, st, false, b.V4, b.V6)
		checkTraffic(t, a, b, b.V4, b.V6)
	})
}

// matrixCell is one algorithm combination against strongSwan.
type matrixCell struct{ ike, esp string }

// interopMatrix lists every IKE cipher with every key exchange group
// (integrity and PRF rotate so each appears), then every ESP algorithm with
// and without PFS.
func interopMatrix() []matrixCell {
	encrs := []string{"aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128-sha256", "aes256-sha384", "aes256-sha512"}
	groups := []string{"x25519", "ecp256", "ecp384", "modp2048", "modp3072", "modp4096"}
	prfs := []string{"prfsha256", "prfsha384", "prfsha512"}
	var cells []matrixCell
	for i, e := range encrs {
		for j, g := range groups {
			cells = append(cells, matrixCell{ike: e + "-" + prfs[(i+j)%3] + "-" + g, esp: "aes128gcm16"})
		}
	}
	for _, e := range []string{"aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128-sha256", "aes256-sha384", "aes256-sha512"} {
		cells = append(cells, matrixCell{ike: interopIKE, esp: e}, matrixCell{ike: interopIKE, esp: e + "-x25519"})
	}
	return cells
}

// TestInteropMatrix negotiates each cell between metrod (initiator) and
// strongSwan on one namespace pair, restarting metrod per cell. A cell
// with PFS configures a key exchange in the ESP proposal on both sides;
// the CHILD_SA of IKE_AUTH never has one (RFC 7296 1.2), so it checks that
// both sides agree to create it without (PFS applies to CREATE_CHILD_SA).
func TestInteropMatrix(t *testing.T) {
	RequireStrongSwan(t)
	a, b := NewPair(t)
	ch := b.StartCharon(t)
	a.WritePSK(t, "interop.psk", interopPSK, a.V4, b.V4)
	start := time.Now()
	for _, c := range interopMatrix() {
		name := "ike=" + c.ike + "/esp=" + c.esp
		t.Run(name, func(t *testing.T) {
			cellStart := time.Now()
			ch.Load(t, conns(a, b, c.ike, c.esp, false, 4)...)
			m := startInteropMetrod(t, a, c.ike, c.esp, "", a.V4, b.V4)
			defer m.Proc.Stop()
			st := m.WaitEstablished(t, 90*time.Second, b.V4)
			p := peerOf(st, b.V4)
			ikeToks := strings.Split(c.ike, "-")
			if p.IKE.KE != ikeToks[len(ikeToks)-1] || !strings.HasPrefix(c.ike, p.IKE.Encr) ||
				p.IKE.PRF != ikeToks[len(ikeToks)-2] {
				t.Errorf("metrod negotiated IKE %+v, want %s", *p.IKE, c.ike)
			}
			espEncr := strings.Split(c.esp, "-")[0]
			if len(p.Children) != 1 || p.Children[0].Encr != espEncr || p.Children[0].KE != "" {
				t.Errorf("metrod negotiated CHILD_SA %+v, want %s without a key exchange", p.Children, espEncr)
			}
			if !strings.Contains(ch.SAs(t), "ESTABLISHED") {
				t.Errorf("strongSwan does not list the IKE SA as established:\n%s", ch.SAs(t))
			}
			a.MustPing(t, b.V4, 1)
			t.Logf("cell took %v", time.Since(cellStart).Round(time.Millisecond))
		})
	}
	t.Logf("matrix of %d cells took %v", len(interopMatrix()), time.Since(start).Round(time.Second))
}

// TestInteropInvalidKE: a peer that takes another group than the one
// metrod sends a key share for answers INVALID_KE_PAYLOAD; one retry with
// the named group succeeds. And the reverse: strongSwan retries when
// metrod asks for another group.
func TestInteropInvalidKE(t *testing.T) {
	RequireStrongSwan(t)
	a, b := NewPair(t)
	ch := b.StartCharon(t)
	a.WritePSK(t, "interop.psk", interopPSK, a.V4, b.V4)
	for _, g := range []string{"modp2048", "ecp384"} {
		t.Run("strongswan-wants-"+g, func(t *testing.T) {
			ch.Load(t, conns(a, b, "aes128gcm16-prfsha256-"+g, interopESP, false, 4)...)
			m := startInteropMetrod(t, a, "aes128gcm16-prfsha256-x25519-"+g, "", "", a.V4, b.V4)
			defer m.Proc.Stop()
			st := m.WaitEstablished(t, 60*time.Second, b.V4)
			if p := peerOf(st, b.V4); p.IKE.KE != g {
				t.Errorf("negotiated %s, want %s", p.IKE.KE, g)
			}
			if n := strings.Count(m.Proc.Log(), "peer asks for another key exchange group; retrying"); n != 1 {
				t.Errorf("metrod retried %d times, want once", n)
			}
			a.MustPing(t, b.V4, 1)
		})
	}
	t.Run("metrod-wants-modp2048", func(t *testing.T) {
		ch.Load(t)
		m := startInteropMetrod(t, a, "aes128gcm16-prfsha256-modp2048", "", "", a.V4, b.V4)
		defer m.Proc.Stop()
		waitFailures(t, m, 2)
		ch.Load(t, conns(a, b, "aes128gcm16-prfsha256-x25519-modp2048", interopESP, true, 4)...)
		st := m.WaitEstablished(t, 60*time.Second, b.V4)
		checkRoles(t, st, false, b.V4)
		if p := peerOf(st, b.V4); p.IKE.KE != "modp2048" {
			t.Errorf("negotiated %s, want modp2048", p.IKE.KE)
		}
		if !strings.Contains(m.Proc.Log(), "answering INVALID_KE_PAYLOAD") {
			t.Errorf("metrod did not answer INVALID_KE_PAYLOAD")
		}
		a.MustPing(t, b.V4, 1)
	})
	t.Run("group-of-second-proposal", func(t *testing.T) {
		// strongSwan asks for the group of metrod's second proposal.
		ch.Load(t, conns(a, b, "aes128gcm16-prfsha256-x25519-modp2048", interopESP, false, 4)...)
		m := startInteropMetrod(t, a, "aes128gcm16-prfsha256-ecp256,aes128gcm16-prfsha256-x25519", "", "", a.V4, b.V4)
		defer m.Proc.Stop()
		st := m.WaitEstablished(t, 60*time.Second, b.V4)
		if p := peerOf(st, b.V4); p.IKE.KE != "x25519" {
			t.Errorf("negotiated %s, want x25519 after one retry", p.IKE.KE)
		}
	})
}

// TestInteropTsharkMetrod: tshark reads every IKE message between two
// metrods without error and decrypts them with the key log.
func TestInteropTsharkMetrod(t *testing.T) {
	a, b := NewPair(t)
	keylog := filepath.Join(OutDir(t), "metrod-a.keys")
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", interopPSK, a.V4, a.V6, b.V4, b.V6)
	}
	a.WriteConfig(t, "METRO_KEYLOG="+keylog, "METRO_ESP_PROPOSALS=aes128-sha256")
	b.WriteConfig(t, "METRO_ESP_PROPOSALS=aes128-sha256")
	cap := a.Capture(t, b)
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
	mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
	a.MustPing(t, b.V4, 3)
	a.MustPing(t, b.V6, 3)
	if _, err := cap.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ma.Proc.Log(), "KEY LOG IS ON") {
		t.Errorf("metrod did not warn that the key log is on")
	}
	checkTshark(t, cap.Path, keylog, 2)
}

// tsharkFrames returns the frame numbers tshark's display filter selects.
func tsharkFrames(t *testing.T, pcap, filter string, opts ...string) []int {
	t.Helper()
	out := Tshark(t, pcap, append(opts, "-Y", filter, "-T", "fields", "-e", "frame.number")...)
	var frames []int
	for _, l := range strings.Split(out, "\n") {
		if n, err := strconv.Atoi(strings.TrimSpace(l)); err == nil {
			frames = append(frames, n)
		}
	}
	return frames
}

// checkTshark: no IKE message is malformed or carries an expert error; with
// the key log, both IKE_AUTH messages of each IKE SA decrypt (their AUTH
// payload shows) and ESP decrypts to ICMP.
func checkTshark(t *testing.T, pcap, keylog string, sas int) {
	t.Helper()
	ike := tsharkFrames(t, pcap, "isakmp")
	if len(ike) < 4*sas {
		t.Errorf("tshark sees %d IKE messages, want at least %d", len(ike), 4*sas)
	}
	bad := "_ws.malformed || _ws.expert.severity == 0x00800000"
	if f := tsharkFrames(t, pcap, bad); len(f) != 0 {
		t.Errorf("tshark finds malformed packets or errors in frames %v:\n%s", f,
			Tshark(t, pcap, "-Y", bad, "-V"))
	}
	if f := tsharkFrames(t, pcap, "isakmp.auth.method"); len(f) != 0 {
		t.Errorf("AUTH payloads visible without keys in frames %v", f)
	}
	opts := KeyLogOptions(t, keylog)
	if f := tsharkFrames(t, pcap, bad, opts...); len(f) != 0 {
		t.Errorf("with the key log, tshark finds errors in frames %v:\n%s", f,
			Tshark(t, pcap, append(opts, "-Y", bad, "-V")...))
	}
	auths := tsharkFrames(t, pcap, "isakmp.exchangetype == 35")
	if f := tsharkFrames(t, pcap, "isakmp.auth.method", opts...); len(f) != len(auths) || len(f) < 2*sas {
		t.Errorf("with the key log, AUTH payloads decrypt in %d frames of %d IKE_AUTH messages, want all and at least %d", len(f), len(auths), 2*sas)
	}
	if f := tsharkFrames(t, pcap, "esp && (icmp || icmpv6)", opts...); len(f) == 0 {
		t.Errorf("with the key log, no ESP packet decrypts to ICMP")
	}
}

//go:build linux

package xfrm

// Tests that install ESP states: they need esp4/esp6 and the ciphers, so
// they only run in the VM test bed (METRO_VM=1), each in a fresh network
// namespace.

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func chachaSA(src, dst netip.Addr, spi uint32) SA {
	return SA{
		Src: src, Dst: dst, SPI: spi, Reqid: ReqidBase + 3,
		AEAD:         &Algo{Name: "rfc7539esp(chacha20,poly1305)", Key: bytes.Repeat([]byte{0x5a}, 36), ICVBits: 128},
		ReplayWindow: 1024,
	}
}

// sameSA compares what the kernel reports with what was installed (keys
// are not read back).
func sameSA(t *testing.T, got, want SA) {
	t.Helper()
	algo := func(a, b *Algo) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.Name == b.Name && a.ICVBits == b.ICVBits && a.TruncBits == b.TruncBits && a.Key == nil
	}
	encap := func(a, b *Encap) bool { return a == b || a != nil && b != nil && *a == *b }
	if got.Src != want.Src || got.Dst != want.Dst || got.SPI != want.SPI || got.Reqid != want.Reqid ||
		got.ReplayWindow != want.ReplayWindow || got.ESN != want.ESN || got.Lifetime != want.Lifetime ||
		!algo(got.AEAD, want.AEAD) || !algo(got.Crypt, want.Crypt) || !algo(got.Auth, want.Auth) || !encap(got.Encap, want.Encap) {
		t.Errorf("kernel has\n %+v (aead %v crypt %v auth %v encap %v)\nwant\n %+v (aead %v crypt %v auth %v encap %v)",
			got, got.AEAD, got.Crypt, got.Auth, got.Encap, want, want.AEAD, want.Crypt, want.Auth, want.Encap)
	}
}

func TestESPStateRoundTrip(t *testing.T) {
	requireVM(t)
	inFreshNetns(t)
	n := newTestNetlink(t)

	esn := gcmSA(testV6a, testV6b, 0x3000)
	esn.ESN, esn.ReplayWindow = true, 128
	legacy := cbcSA(testV4b, testV4a, 0x4000)
	legacy.ReplayWindow = 32
	out := cbcSA(testV4a, testV4b, 0x4001) // outbound: no window
	natt := gcmSA(testV4a, testV4b, 0x5000)
	natt.Encap = &Encap{SrcPort: 4500, DstPort: 4500}
	limited := gcmSA(testV6b, testV6a, 0x6000)
	limited.Lifetime = Lifetime{SoftBytes: 1 << 20, HardBytes: 2 << 20, SoftPackets: 1000, HardPackets: 2000, SoftAdd: time.Hour, HardAdd: 2 * time.Hour}
	wide := gcmSA(testV4b, testV4a, 0x1001)
	wide.ReplayWindow = MaxReplayWindow
	want := []SA{gcmSA(testV4b, testV4a, 0x1000), esn, legacy, out, natt, limited, wide}
	if err := n.AddSA(chachaSA(testV6b, testV6a, 0x2000)); err != nil {
		t.Logf("ChaCha20-Poly1305 not available in this kernel: %v", err)
	} else {
		want = append(want, chachaSA(testV6b, testV6a, 0x2000))
	}
	for _, sa := range want {
		if err := n.AddSA(sa); err != nil {
			t.Fatalf("AddSA(%08x): %v", sa.SPI, err)
		}
	}

	// A state of another daemon, in the same namespace.
	foreign := &netlink.XfrmState{
		Src: testV4a.AsSlice(), Dst: testV4b.AsSlice(), Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT,
		Spi: 0x7777, Reqid: 7, ReplayWindow: 32,
		Aead: &netlink.XfrmStateAlgo{Name: "rfc4106(gcm(aes))", Key: make([]byte, 20), ICVLen: 128},
	}
	if err := netlink.XfrmStateAdd(foreign); err != nil {
		t.Fatalf("adding the foreign state: %v", err)
	}

	got, err := n.SAs()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("SAs() lists %d states, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Dst == w.Dst && g.SPI == w.SPI {
				sameSA(t, g, w)
				found = true
			}
		}
		if !found {
			t.Errorf("state %08x missing from SAs()", w.SPI)
		}
		st, err := n.SAStats(w.Dst, w.SPI)
		if err != nil {
			t.Fatal(err)
		}
		if st.ReplayWindow != w.ReplayWindow || st.AddTime.IsZero() || time.Since(st.AddTime) > time.Minute || st.Packets != 0 {
			t.Errorf("SAStats(%08x) = %+v; want window %d, fresh, unused", w.SPI, st, w.ReplayWindow)
		}
	}

	// Foreign state: not listed (checked above), not ours to replace or delete.
	if err := n.AddSA(gcmSA(testV4a, testV4b, 0x7777)); !errors.Is(err, ErrNotOwned) {
		t.Errorf("AddSA over the foreign state: %v, want ErrNotOwned", err)
	}
	if err := n.DeleteSA(testV4b, 0x7777); !errors.Is(err, ErrNotOwned) {
		t.Errorf("DeleteSA of the foreign state: %v, want ErrNotOwned", err)
	}

	// Replace one of ours: new window, new algorithm.
	repl := cbcSA(testV4b, testV4a, 0x1000)
	repl.ReplayWindow = 256
	if err := n.AddSA(repl); err != nil {
		t.Fatalf("replacing: %v", err)
	}
	if st, err := n.SAStats(testV4a, 0x1000); err != nil || st.ReplayWindow != 256 {
		t.Errorf("after replace: %+v, %v", st, err)
	}

	// AllocSPI avoids existing states and its SPI can be installed.
	spi, err := n.AllocSPI(testV4b, testV4a, ReqidBase+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddSA(gcmSA(testV4b, testV4a, spi)); err != nil {
		t.Fatalf("AddSA with an allocated SPI: %v", err)
	}

	for _, sa := range append(want, gcmSA(testV4b, testV4a, spi)) {
		if err := n.DeleteSA(sa.Dst, sa.SPI); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := n.SAs(); err != nil || len(got) != 0 {
		t.Errorf("after deleting all: %v, %v", got, err)
	}
	if _, err := netlink.XfrmStateGet(foreign); err != nil {
		t.Errorf("the foreign state is gone: %v", err)
	}
}

// TestESPTraffic sends UDP through real ESP on the loopback: both hosts
// share the stack, so one state (dst b) encrypts on output and decrypts
// on input, and both protecting policies are satisfied.
func TestESPTraffic(t *testing.T) {
	requireVM(t)
	inFreshNetns(t)
	n := newTestNetlink(t)
	for _, c := range []struct {
		a, b netip.Addr
		sa   SA
	}{
		{testV4a, testV4b, gcmSA(testV4a, testV4b, 0x1111)},
		{testV6a, testV6b, func() SA { s := cbcSA(testV6a, testV6b, 0x2222); s.ReplayWindow = 64; return s }()},
	} {
		pols := append(ProtectPolicies(c.a, c.b, c.sa.Reqid), ProtectPolicies(c.b, c.a, c.sa.Reqid)...)
		for _, p := range pols {
			if err := n.SetPolicy(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.AddSA(c.sa); err != nil {
			t.Fatal(err)
		}
		from, to := udpSocket(t, c.a, false), udpSocket(t, c.b, false)
		if !delivered(t, from, to) {
			t.Fatalf("%v->%v: datagram not delivered through ESP", c.a, c.b)
		}
		st, err := n.SAStats(c.b, c.sa.SPI)
		if err != nil {
			t.Fatal(err)
		}
		if st.Packets < 2 || st.Bytes == 0 || st.UseTime.IsZero() || st.ReplayDrops != 0 || st.IntegrityFails != 0 {
			t.Errorf("%v: counters %+v; want the datagram counted out and in", c.a, st)
		}
		for _, p := range pols {
			n.DeletePolicy(p)
		}
	}
}

// TestESPMonitorExpire lets the kernel expire a state by its add-time
// limits and expects the soft then the hard EXPIRE.
func TestESPMonitorExpire(t *testing.T) {
	requireVM(t)
	ns := inFreshNetns(t)
	n := newTestNetlink(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 16)
	done := make(chan error, 1)
	go func() {
		if err := joinNetns(ns); err != nil {
			done <- err
			return
		}
		done <- Monitor(ctx, testLogger(t), events)
	}()
	time.Sleep(200 * time.Millisecond) // let the monitor subscribe

	sa := gcmSA(testV6a, testV6b, 0xabcd)
	sa.Lifetime = Lifetime{SoftAdd: time.Second, HardAdd: 2 * time.Second}
	if err := n.AddSA(sa); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []EventKind{SoftExpire, HardExpire} {
		select {
		case ev := <-events:
			want := Event{Kind: kind, Src: sa.Src, Dst: sa.Dst, SPI: sa.SPI, Reqid: sa.Reqid}
			if ev != want {
				t.Fatalf("event %v, want %v", ev, want)
			}
		case err := <-done:
			t.Fatalf("Monitor returned: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event", kind)
		}
	}
	if _, err := n.SAStats(sa.Dst, sa.SPI); !errors.Is(err, ErrNotFound) {
		t.Errorf("state still present after the hard expiry: %v", err)
	}
}

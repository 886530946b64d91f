package xfrm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func TestMemorySAs(t *testing.T) {
	var logs logBuffer
	m := NewMemory(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a, b := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	in, out := gcmSA(b, a, 0x1000), cbcSA(a, b, 0x2000)
	for _, sa := range []SA{in, out} {
		if err := m.AddSA(sa); err != nil {
			t.Fatal(err)
		}
	}
	sas, err := m.SAs()
	if err != nil || len(sas) != 2 {
		t.Fatalf("SAs() = %v, %v", sas, err)
	}
	got, ok := m.State(a, 0x1000)
	if !ok || !bytes.Equal(got.AEAD.Key, in.AEAD.Key) || got.ReplayWindow != 64 || got.Src != b {
		t.Fatalf("State = %+v, %v", got, ok)
	}
	// Copies: changing the caller's or the returned key changes nothing inside.
	in.AEAD.Key[0] ^= 0xff
	got.AEAD.Key[1] ^= 0xff
	again, _ := m.State(a, 0x1000)
	if again.AEAD.Key[0] != 0xa5 || again.AEAD.Key[1] != 0xa5 {
		t.Error("Memory shares key slices with its callers")
	}

	// Replace: same (dst, spi), new contents.
	repl := gcmSA(b, a, 0x1000)
	repl.ReplayWindow = 128
	if err := m.AddSA(repl); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.SAStats(a, 0x1000); st.ReplayWindow != 128 || st.AddTime.IsZero() || st.Packets != 0 {
		t.Errorf("stats after replace %+v", st)
	}
	if n, _, _ := m.Counts(); n != 2 {
		t.Errorf("%d states after replace, want 2", n)
	}

	if !m.AddTraffic(a, 0x1000, 1500, 3) || m.AddTraffic(a, 0x9999, 1, 1) {
		t.Fatal("AddTraffic existence reports wrong")
	}
	if st, _ := m.SAStats(a, 0x1000); st.Bytes != 1500 || st.Packets != 3 || st.UseTime.IsZero() {
		t.Errorf("stats after traffic %+v", st)
	}

	if err := m.DeleteSA(a, 0x1000); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSA(a, 0x1000); err != nil {
		t.Fatalf("deleting a missing state: %v", err)
	}
	if _, err := m.SAStats(a, 0x1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("SAStats of deleted state: %v", err)
	}

	// The debug log names the states but never the keys.
	l := logs.String()
	if !strings.Contains(l, "spi=00002000") || !strings.Contains(l, "cbc(aes)") {
		t.Errorf("log lacks the state: %s", l)
	}
	for _, k := range [][]byte{out.Crypt.Key, out.Auth.Key, repl.AEAD.Key} {
		if strings.Contains(l, hex.EncodeToString(k)) || strings.Contains(l, string(k)) || strings.Contains(l, fmt.Sprint(k)) {
			t.Errorf("key material in the log: %s", l)
		}
	}
}

func TestMemoryRejectsInvalid(t *testing.T) {
	m := NewMemory(nil)
	sa := gcmSA(mustAddr("192.0.2.1"), mustAddr("192.0.2.2"), 0x1000)
	sa.Reqid = 7
	if err := m.AddSA(sa); err == nil {
		t.Error("foreign reqid accepted")
	}
	if err := m.SetPolicy(Policy{Src: netip.MustParsePrefix("10.0.0.0/8"), Dst: netip.MustParsePrefix("10.0.0.1/32"), Bypass: true}); err == nil {
		t.Error("bypass policy with priority 0 accepted")
	}
	if n, p, _ := m.Counts(); n != 0 || p != 0 {
		t.Errorf("rejected entries stored: %d states, %d policies", n, p)
	}
}

func TestMemoryAllocSPI(t *testing.T) {
	m := NewMemory(nil)
	a, b := mustAddr("2001:db8::1"), mustAddr("2001:db8::2")
	seen := map[uint32]bool{}
	for range 1000 {
		spi, err := m.AllocSPI(a, b, ReqidBase)
		if err != nil {
			t.Fatal(err)
		}
		if spi < 0x100 || seen[spi] {
			t.Fatalf("AllocSPI returned %08x (reserved or repeated)", spi)
		}
		seen[spi] = true
	}
	if _, _, r := m.Counts(); r != 1000 {
		t.Errorf("%d reservations, want 1000", r)
	}
	spi, _ := m.AllocSPI(a, b, ReqidBase)
	if err := m.AddSA(gcmSA(a, b, spi)); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSA(b, spi); err != nil {
		t.Fatal(err)
	}
	if _, _, r := m.Counts(); r != 1000 {
		t.Errorf("AddSA did not consume its reservation: %d left", r)
	}
}

func TestMemoryPolicies(t *testing.T) {
	m := NewMemory(nil)
	a, b := mustAddr("2001:db8::1"), mustAddr("2001:db8::2")
	want := append(ProtectPolicies(a, b, ReqidBase+1), NDBypassPolicies(a, b)...)
	for _, p := range want {
		if err := m.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := m.Policies()
	if len(got) != 12 {
		t.Fatalf("%d policies, want 12", len(got))
	}
	for i := 1; i < len(got); i++ {
		if comparePolicies(got[i-1], got[i]) >= 0 {
			t.Fatalf("Policies() not sorted: %v before %v", got[i-1], got[i])
		}
	}
	upd := want[0]
	upd.Reqid = ReqidBase + 2
	m.SetPolicy(upd)
	if p, ok := m.Policy(want[0]); !ok || p.Reqid != ReqidBase+2 {
		t.Errorf("update: %v %v", p, ok)
	}
	if _, n, _ := m.Counts(); n != 12 {
		t.Errorf("update added a policy: %d", n)
	}
	for _, p := range want {
		if err := m.DeletePolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := m.Policies(); len(got) != 0 {
		t.Errorf("left after delete: %v", got)
	}
}

func TestMemoryFaultsAndClose(t *testing.T) {
	m := NewMemory(nil)
	boom := errors.New("boom")
	m.FailNext("AddSA", boom)
	sa := gcmSA(mustAddr("192.0.2.1"), mustAddr("192.0.2.2"), 0x1000)
	if err := m.AddSA(sa); !errors.Is(err, boom) {
		t.Fatalf("first AddSA: %v", err)
	}
	if n, _, _ := m.Counts(); n != 0 {
		t.Fatal("failed AddSA stored the state")
	}
	if err := m.AddSA(sa); err != nil {
		t.Fatalf("second AddSA: %v", err)
	}
	m.Close()
	if _, err := m.SAs(); !errors.Is(err, ErrClosed) {
		t.Errorf("SAs after Close: %v", err)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(nil)
	a, b := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				spi, err := m.AllocSPI(a, b, ReqidBase)
				if err != nil {
					t.Error(err)
					return
				}
				if err := m.AddSA(gcmSA(a, b, spi)); err != nil {
					t.Error(err)
				}
				m.SetPolicy(ProtectPolicies(a, b, ReqidBase+uint32(g))[i%2])
				m.SAs()
				m.Policies()
				if i%2 == 0 {
					m.DeleteSA(b, spi)
				}
			}
		}()
	}
	wg.Wait()
	if n, p, r := m.Counts(); n != 8*25 || p != 2 || r != 0 {
		t.Errorf("counts %d states, %d policies, %d reservations; want 200, 2, 0", n, p, r)
	}
}

func TestAlgoNeverPrintsKey(t *testing.T) {
	sa := gcmSA(mustAddr("192.0.2.1"), mustAddr("192.0.2.2"), 0x1000)
	sa.AEAD.Key = []byte("SECRETSECRETSECRETSE")
	for _, s := range []string{fmt.Sprint(*sa.AEAD), fmt.Sprintf("%v", *sa.AEAD), fmt.Sprintf("%+v", *sa.AEAD), fmt.Sprintf("%#v", *sa.AEAD), sa.AEAD.LogValue().String()} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "53454352") {
			t.Errorf("key printed: %s", s)
		}
		if !strings.Contains(s, "rfc4106(gcm(aes))") {
			t.Errorf("algorithm missing: %s", s)
		}
	}
}

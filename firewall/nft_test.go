package firewall

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// inNetns runs f on a thread inside a fresh named network namespace, and
// returns the namespace's name for `ip netns exec`. It skips unless root.
func inNetns(t *testing.T, f func(name string)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	name := fmt.Sprintf("metro-fw-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread never leaves the namespace: the goroutine exits
		// locked, so the runtime discards the thread.
		runtime.LockOSThread()
		ns, err := netns.GetFromName(name)
		if err != nil {
			t.Errorf("netns %s: %v", name, err)
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			t.Errorf("entering netns %s: %v", name, err)
			return
		}
		f(name)
	}()
	<-done
}

func nftList(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Errorf("nft list ruleset: %v: %s", err, out)
	}
	return string(out)
}

func TestNFTApplyReplaceRemove(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft(8) to inspect the ruleset (apt-get install nftables)")
	}
	inNetns(t, func(ns string) {
		// Someone else's table, which metro must leave alone.
		if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "add table ip other; add chain ip other c { type filter hook input priority 0; }; add rule ip other c udp dport 9 accept").CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
		before := nftList(t, ns)

		f, err := NewNFT(nil)
		if err != nil {
			t.Fatal(err)
		}
		full := Ruleset{
			Redirects: []Redirect{
				{Local: netip.MustParseAddr("10.9.0.1"), From: 600, To: 500},
				{Local: netip.MustParseAddr("10.9.0.1"), From: 4600, To: 4500},
				{Local: netip.MustParseAddr("fd09::1"), From: 600, To: 500},
			},
			MSS:   1200,
			Peers: []netip.Addr{netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("fd09::2")},
		}
		if err := f.Apply(full); err != nil {
			t.Fatal(err)
		}
		got := nftList(t, ns)
		t.Logf("ruleset:\n%s", got)
		for _, want := range []string{
			"table inet metro",
			"ip daddr 10.9.0.1 udp dport 600",
			"dnat ip to 10.9.0.1:500",
			"udp dport 4600",
			"dnat ip to 10.9.0.1:4500",
			"ip6 daddr fd09::1 udp dport 600",
			"dnat ip6 to [fd09::1]:500",
			"type nat hook prerouting priority dstnat",
			"type filter hook prerouting priority mangle",
			"type filter hook postrouting priority mangle",
			"ip saddr @peers4",
			"ip daddr @peers4",
			"ip6 saddr @peers6",
			"ip6 daddr @peers6",
			"tcp option maxseg size > 1200",
			"10.9.0.2",
			"fd09::2",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("ruleset lacks %q", want)
			}
		}
		if n := strings.Count(got, "tcp option maxseg size set 1200\n"); n != 4 {
			t.Errorf("%d rules write MSS 1200 (in network byte order), want 4", n)
		}
		if !strings.HasPrefix(got, before) && !strings.Contains(got, strings.TrimSpace(before)) {
			t.Errorf("the other table changed:\nbefore:\n%s\nafter:\n%s", before, got)
		}

		// Rebuilt from the new ruleset: no redirect, no MSS left over.
		if err := f.Apply(Ruleset{MSS: 1300, Peers: []netip.Addr{netip.MustParseAddr("10.9.0.3")}}); err != nil {
			t.Fatal(err)
		}
		got = nftList(t, ns)
		for _, gone := range []string{"dnat", "1200", "10.9.0.2", "peers6 "} {
			if strings.Contains(got, gone) {
				t.Errorf("after re-apply the ruleset still holds %q:\n%s", gone, got)
			}
		}
		if !strings.Contains(got, "maxseg size > 1300") || !strings.Contains(got, "10.9.0.3") {
			t.Errorf("after re-apply: new rules missing:\n%s", got)
		}

		// Empty ruleset: no table at all; Remove twice is fine.
		if err := f.Apply(Ruleset{MSS: 0, Peers: full.Peers}); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.Installed(); err != nil || ok {
			t.Errorf("Installed after an empty Apply = %v, %v", ok, err)
		}
		for i := 0; i < 2; i++ {
			if err := f.Remove(); err != nil {
				t.Fatalf("Remove #%d: %v", i, err)
			}
		}
		if got := nftList(t, ns); got != before {
			t.Errorf("ruleset after Remove differs from before:\nbefore:\n%s\nafter:\n%s", before, got)
		}
	})
}

func TestRulesetCheck(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	bad := []Ruleset{
		{Redirects: []Redirect{{Local: a, From: 500, To: 500}}},
		{Redirects: []Redirect{{Local: a, From: 0, To: 500}}},
		{Redirects: []Redirect{{From: 600, To: 500}}},
		{MSS: -1},
		{MSS: 1200, Peers: []netip.Addr{{}}},
	}
	for _, r := range bad {
		if err := r.Check(); err == nil {
			t.Errorf("Check(%+v) = nil", r)
		}
		m := NewMemory()
		if err := m.Apply(r); err == nil {
			t.Errorf("Memory.Apply(%+v) = nil", r)
		}
	}
	good := Ruleset{Redirects: []Redirect{{Local: a, From: 600, To: 500}}, MSS: 1200, Peers: []netip.Addr{a}}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	if (Ruleset{MSS: 1200}).Empty() != true || good.Empty() || (Ruleset{Peers: good.Peers}).Empty() != true {
		t.Error("Empty is wrong")
	}
	if got := (Ruleset{Redirects: []Redirect{{a, 600, 500}, {a, 4600, 4500}, {netip.MustParseAddr("::1"), 600, 500}}}).altPorts(); fmt.Sprint(got) != "[600 4600]" {
		t.Errorf("altPorts = %v", got)
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory()
	r := Ruleset{MSS: 1200, Peers: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	if err := m.Apply(r); err != nil {
		t.Fatal(err)
	}
	r.Peers[0] = netip.MustParseAddr("10.0.0.3") // the fake keeps its own copy
	got, ok := m.Current()
	if !ok || got.MSS != 1200 || got.Peers[0].String() != "10.0.0.2" {
		t.Fatalf("Current = %+v, %v", got, ok)
	}
	if err := m.Apply(Ruleset{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Current(); ok || m.Applied() != 2 {
		t.Fatalf("after empty Apply: installed=%v applied=%d", ok, m.Applied())
	}
}

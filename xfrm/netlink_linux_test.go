//go:build linux

package xfrm

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
)

// foreignPolicies are installed with the library directly, as another
// IPsec daemon would; metro must neither list nor touch them.
func foreignPolicies() []*netlink.XfrmPolicy {
	return []*netlink.XfrmPolicy{
		{ // another daemon's ESP policy
			Src: ipnet("10.0.0.1/32"), Dst: ipnet("10.0.0.2/32"), Dir: netlink.XFRM_DIR_OUT, Priority: 2000,
			Tmpls: []netlink.XfrmPolicyTmpl{{Dst: netip.IPv4Unspecified().AsSlice(), Src: netip.IPv4Unspecified().AsSlice(),
				Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: 7}},
		},
		{ // a reqid just past metro's range
			Src: ipnet("10.0.0.1/32"), Dst: ipnet("10.0.0.3/32"), Dir: netlink.XFRM_DIR_IN, Priority: 2000,
			Tmpls: []netlink.XfrmPolicyTmpl{{Dst: netip.IPv4Unspecified().AsSlice(), Src: netip.IPv4Unspecified().AsSlice(),
				Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: int(ReqidBase + ReqidSpan)}},
		},
		{ // a bypass policy at another priority
			Src: ipnet("2001:db8::1/128"), Dst: ipnet("2001:db8::9/128"), Dir: netlink.XFRM_DIR_OUT, Priority: 1001,
		},
		{ // same selector as one of metro's protecting policies below, but dir fwd
			Src: ipnet("127.0.0.1/32"), Dst: ipnet("127.0.0.2/32"), Dir: netlink.XFRM_DIR_FWD, Priority: 5,
		},
		{ // a selector metro will try to take over
			Src: ipnet("192.0.2.1/32"), Dst: ipnet("192.0.2.2/32"), Dir: netlink.XFRM_DIR_OUT, Priority: 3000,
			Tmpls: []netlink.XfrmPolicyTmpl{{Dst: netip.IPv4Unspecified().AsSlice(), Src: netip.IPv4Unspecified().AsSlice(),
				Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: 9}},
		},
	}
}

func sortedPolicies(ps []Policy) []Policy {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, comparePolicies)
	return ps
}

func TestNetlinkPolicies(t *testing.T) {
	inFreshNetns(t)
	for _, fp := range foreignPolicies() {
		if err := netlink.XfrmPolicyAdd(fp); err != nil {
			t.Fatalf("adding foreign policy %v: %v", fp, err)
		}
	}
	n := newTestNetlink(t)

	if got, err := n.Policies(); err != nil || len(got) != 0 {
		t.Fatalf("Policies() with only foreign policies = %v, %v; want none", got, err)
	}

	var want []Policy
	want = append(want, ProtectPolicies(testV4a, testV4b, ReqidBase+1)...)
	want = append(want, ProtectPolicies(testV6a, testV6b, ReqidBase+2)...)
	want = append(want, NDBypassPolicies(testV6a, testV6b)...)
	for _, p := range want {
		if err := n.SetPolicy(p); err != nil {
			t.Fatalf("SetPolicy(%v): %v", p, err)
		}
	}
	got, err := n.Policies()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sortedPolicies(got), sortedPolicies(want)) {
		t.Fatalf("Policies():\n got %v\nwant %v", sortedPolicies(got), sortedPolicies(want))
	}

	// Update in place: new reqid and priority, same identity.
	upd := want[0]
	upd.Reqid, upd.Priority = ReqidBase+99, PriorityProtect+1
	if err := n.SetPolicy(upd); err != nil {
		t.Fatal(err)
	}
	got, _ = n.Policies()
	if len(got) != len(want) || !slices.Contains(got, upd) || slices.Contains(got, want[0]) {
		t.Fatalf("after update Policies() = %v; want %v in place of %v", got, upd, want[0])
	}

	// The foreign policy's selector is not metro's to take or delete.
	steal := ProtectPolicies(mustAddr("192.0.2.1"), mustAddr("192.0.2.2"), ReqidBase+3)[0]
	if err := n.SetPolicy(steal); !errors.Is(err, ErrNotOwned) {
		t.Errorf("SetPolicy over a foreign policy: %v, want ErrNotOwned", err)
	}
	if err := n.DeletePolicy(steal); !errors.Is(err, ErrNotOwned) {
		t.Errorf("DeletePolicy of a foreign policy: %v, want ErrNotOwned", err)
	}

	// Delete ours; deleting again is fine.
	for _, p := range append([]Policy{upd}, want[1:]...) {
		if err := n.DeletePolicy(p); err != nil {
			t.Fatalf("DeletePolicy(%v): %v", p, err)
		}
		if err := n.DeletePolicy(p); err != nil {
			t.Fatalf("second DeletePolicy(%v): %v", p, err)
		}
	}
	if got, err := n.Policies(); err != nil || len(got) != 0 {
		t.Fatalf("Policies() after deleting all = %v, %v", got, err)
	}

	// Every foreign policy survived, unchanged.
	all, err := netlink.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(foreignPolicies()) {
		t.Fatalf("%d policies left in the namespace, want the %d foreign ones: %v", len(all), len(foreignPolicies()), all)
	}
	for _, fp := range foreignPolicies() {
		found := false
		for _, p := range all {
			if p.Src.String() == fp.Src.String() && p.Dst.String() == fp.Dst.String() && p.Dir == fp.Dir && p.Priority == fp.Priority {
				found = true
			}
		}
		if !found {
			t.Errorf("foreign policy %v was changed or removed", fp)
		}
	}
}

func TestNetlinkPolicyValidation(t *testing.T) {
	inFreshNetns(t)
	n := newTestNetlink(t)
	bad := Policy{Src: netip.MustParsePrefix("10.0.0.1/32"), Dst: netip.MustParsePrefix("10.0.0.2/32"), Reqid: 5, Priority: PriorityProtect}
	if err := n.SetPolicy(bad); err == nil {
		t.Fatal("SetPolicy with a foreign reqid succeeded")
	}
	if got, _ := n.Policies(); len(got) != 0 {
		t.Fatalf("rejected policy was installed: %v", got)
	}
}

// TestNetlinkStatesWithoutESP covers what works without the ESP module:
// lookups of missing states, SPI allocation and empty listings.
func TestNetlinkStatesWithoutESP(t *testing.T) {
	inFreshNetns(t)
	n, err := NewNetlink(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.DeleteSA(testV4b, 0x1234); err != nil {
		t.Errorf("DeleteSA of a missing state: %v", err)
	}
	if _, err := n.SAStats(testV4b, 0x1234); !errors.Is(err, ErrNotFound) {
		t.Errorf("SAStats of a missing state: %v, want ErrNotFound", err)
	}
	if sas, err := n.SAs(); err != nil || len(sas) != 0 {
		t.Errorf("SAs() = %v, %v; want none", sas, err)
	}
	seen := map[uint32]bool{}
	for range 200 {
		spi, err := n.AllocSPI(testV4a, testV4b, ReqidBase+1)
		if err != nil {
			t.Fatal(err)
		}
		if spi < 0x100 || seen[spi] {
			t.Fatalf("AllocSPI returned %08x (reserved or repeated)", spi)
		}
		seen[spi] = true
	}
	if err := n.AddSA(SA{Src: testV4a, Dst: testV4b, SPI: 1, Reqid: 5}); err == nil {
		t.Error("AddSA of an invalid state succeeded")
	}
	n.Close()
	if _, err := n.Policies(); !errors.Is(err, ErrClosed) {
		t.Errorf("Policies after Close: %v, want ErrClosed", err)
	}
}

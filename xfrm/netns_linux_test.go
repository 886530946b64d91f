//go:build linux

package xfrm

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Test addresses on the loopback of the test namespace.
var (
	testV4a = mustAddr("127.0.0.1")
	testV4b = mustAddr("127.0.0.2")
	testV6a = mustAddr("2001:db8::1")
	testV6b = mustAddr("2001:db8::2")
)

// inFreshNetns moves the test goroutine, locked to its thread, into a new
// network namespace with lo up, 2001:db8::1 and ::2 on it, and XFRM
// enabled on lo (the kernel disables it on loopback by default). The
// host's tables are never touched. Cleanup moves the thread back; if that
// fails the thread stays locked and dies with the goroutine. It returns
// the namespace handle, for goroutines that must join it.
func inFreshNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Skipf("cannot get the current network namespace: %v", err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("restoring the network namespace: %v", err)
			return // the thread stays locked and is discarded
		}
		ns.Close()
		orig.Close()
		runtime.UnlockOSThread()
	})
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"2001:db8::1/128", "2001:db8::2/128"} {
		addr, _ := netlink.ParseAddr(a)
		addr.Flags = 0x02 // IFA_F_NODAD: usable at once
		if err := netlink.AddrAdd(lo, addr); err != nil {
			t.Fatalf("adding %s to lo: %v", a, err)
		}
	}
	for _, f := range []string{"/proc/sys/net/ipv4/conf/lo/disable_xfrm", "/proc/sys/net/ipv4/conf/lo/disable_policy",
		"/proc/sys/net/ipv6/conf/lo/disable_policy", "/proc/sys/net/ipv6/conf/lo/disable_xfrm"} {
		if err := os.WriteFile(f, []byte("0\n"), 0); err != nil && !os.IsNotExist(err) {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return ns
}

// joinNetns locks the calling goroutine to its thread and moves it into
// ns; the goroutine must end without unlocking, so that the thread dies.
func joinNetns(ns netns.NsHandle) error {
	runtime.LockOSThread()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("joining the test namespace: %w", err)
	}
	return nil
}

func requireVM(t *testing.T) {
	t.Helper()
	if os.Getenv("METRO_VM") != "1" {
		t.Skip("needs a kernel with ESP: run in the VM (make vmtest)")
	}
}

func newTestNetlink(t *testing.T) *Netlink {
	t.Helper()
	n, err := NewNetlink(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func ipnet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

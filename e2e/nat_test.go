package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNATTraversal: host a sits behind a masquerading router; b sees it as
// the router's address. The SA comes up over UDP 4500 with ESP
// encapsulated in UDP, and TCP and UDP traffic flows, encrypted. Either
// host may end up the initiator: when b (public) does, a's NAT needs a
// mapping for port 4500 before b's IKE_AUTH arrives there.
func TestNATTraversal(t *testing.T) {
	for _, publicFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "natted-starts-first", true: "public-starts-first"}[publicFirst], func(t *testing.T) {
			natTraversal(t, publicFirst)
		})
	}
}

func natTraversal(t *testing.T, publicFirst bool) {
	a, b, router := NewRouted(t, 1500)
	public := netip.MustParseAddr("10.0.3.254") // the router on b's side
	router.Run(t, "nft", "add table ip metro_test_nat")
	router.Run(t, "nft", "add chain ip metro_test_nat post { type nat hook postrouting priority 100 ; }")
	router.Run(t, "nft", "add rule ip metro_test_nat post oifname eth1 masquerade")
	a.WritePSK(t, "nat.psk", "nat-key", a.V4, b.V4)
	b.WritePSK(t, "nat.psk", "nat-key", public, b.V4)
	var ma, mb *Metrod
	if publicFirst {
		// b's first IKE_SA_INIT finds no mapping at the NAT; its
		// retransmission follows the one a's start creates.
		mb = b.StartMetrod(t)
		time.Sleep(1500 * time.Millisecond)
		ma = a.StartMetrod(t)
	} else {
		ma, mb = a.StartMetrod(t), b.StartMetrod(t)
	}
	ma.WaitEstablished(t, 20*time.Second, b.V4)
	mb.WaitEstablished(t, 20*time.Second, public)
	for _, m := range []*Metrod{ma, mb} {
		if !strings.Contains(m.Proc.Log(), "NAT detected") {
			t.Errorf("%s: metrod did not detect the NAT", m.Host.Name)
		}
	}
	for _, h := range []*Host{a, b} {
		out := h.Run(t, "ip", "xfrm", "state")
		if strings.Count(out, "encap type espinudp") != 2 {
			t.Errorf("%s: states are not UDP-encapsulated", h.Name)
		}
	}

	c := b.Capture(t, &Host{V4: public})
	a.MustPing(t, b.V4, 3)
	// TCP
	srv := b.Start(t, "busybox", "nc", "-l", "-p", "5001")
	b.WaitListen(t, "tcp", 5001)
	payload := filepath.Join(a.Dir, "payload")
	if err := os.WriteFile(payload, []byte(strings.Repeat("nat-tcp-marker ", 2048)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Command(t.Context(), "sh", "-c", fmt.Sprintf("busybox nc -w 5 %s 5001 < %s", b.V4, payload)).CombinedOutput(); err != nil {
		t.Fatalf("TCP through the NAT: %v: %s", err, out)
	}
	if err := srv.Wait(10 * time.Second); err != nil || !strings.Contains(srv.Log(), "nat-tcp-marker") {
		t.Fatalf("TCP data did not arrive through the NAT (%v)", err)
	}
	// UDP
	u := b.ListenUDP(t, 5002)
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 512)
		n, _, err := u.ReadFromUDP(buf)
		if err == nil {
			got <- string(buf[:n])
		}
	}()
	WaitFor(t, 20*time.Second, "UDP datagram through the NAT", func() bool {
		a.Run(t, "bash", "-c", fmt.Sprintf("echo nat-udp-marker > /dev/udp/%s/5002", b.V4))
		select {
		case m := <-got:
			return strings.Contains(m, "nat-udp-marker")
		case <-time.After(500 * time.Millisecond):
			return false
		}
	})
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture on b's link: %s", st)
	if st.Cleartext() != 0 {
		t.Errorf("cleartext through the NAT: %s", st)
	}
	if st.ESP == 0 {
		t.Errorf("no ESP (in UDP) seen through the NAT")
	}
}

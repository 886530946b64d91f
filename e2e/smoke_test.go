package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// espDir is one direction of hand-made ESP between two addresses.
type espDir struct {
	src, dst netip.Addr
	spi      uint32
	reqid    uint32
	key      string // hex, 16-byte AES key + 4-byte salt; never printed
}

func newESPDir(t *testing.T, src, dst netip.Addr, spi, reqid uint32) espDir {
	key := make([]byte, 20)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return espDir{src: src, dst: dst, spi: spi, reqid: reqid, key: hex.EncodeToString(key)}
}

func (d espDir) state() string {
	return fmt.Sprintf("xfrm state add src %s dst %s proto esp spi %#x reqid %d mode transport replay-window 64 aead rfc4106(gcm(aes)) 0x%s 128",
		d.src, d.dst, d.spi, d.reqid, d.key)
}

func (d espDir) policy(dir string) string {
	bits := d.src.BitLen()
	return fmt.Sprintf("xfrm policy add src %s/%d dst %s/%d dir %s priority 2000 tmpl src %s dst %s proto esp reqid %d mode transport",
		d.src, bits, d.dst, bits, dir, d.src, d.dst, d.reqid)
}

// installBatch runs ip -batch with lines in the host's namespace. The lines
// hold keys, so they go through a file in the host's private directory and
// never into test output.
func installBatch(t *testing.T, h *Host, lines []string) {
	t.Helper()
	f := filepath.Join(h.Dir, "xfrm.batch")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f)
	if _, err := h.TryRun(t, "ip", "-batch", f); err != nil {
		// ip echoes the failing batch line, which may hold a key: report the error only.
		t.Fatalf("installing xfrm states/policies in %s: %v", h.Name, err)
	}
}

// ndBypass lets IPv6 neighbour and router discovery through in cleartext, as
// metrod does, so the protecting policies do not break address resolution.
func ndBypass() []string {
	var lines []string
	for _, dir := range []string{"out", "in"} {
		for typ := 133; typ <= 137; typ++ {
			lines = append(lines, fmt.Sprintf("xfrm policy add src ::/0 dst ::/0 proto ipv6-icmp type %d dir %s priority 1000", typ, dir))
		}
	}
	return lines
}

var lifetimePackets = regexp.MustCompile(`(\d+)\(bytes\), (\d+)\(packets\)`)

// statePackets returns the kernel's packet counter of a state. The ip output
// holds the key and is not printed.
func statePackets(t *testing.T, h *Host, d espDir) int {
	t.Helper()
	out, err := h.TryRun(t, "ip", "-s", "xfrm", "state", "get", "src", d.src.String(), "dst", d.dst.String(),
		"proto", "esp", "spi", fmt.Sprintf("%#x", d.spi))
	if err != nil {
		t.Fatalf("%s: ip xfrm state get spi %#x failed", h.Name, d.spi)
	}
	m := lifetimePackets.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no lifetime counters in ip -s xfrm state get spi %#x", h.Name, d.spi)
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

// TestKernelESPSmoke proves the test bed end to end without metrod: ESP
// transport-mode states and policies installed by hand between two
// namespaces carry ping over IPv4 and IPv6, and the capture sees only ESP.
func TestKernelESPSmoke(t *testing.T) {
	RequireVM(t)
	a, b := NewPair(t)

	// Control: without IPsec the capture must see the pings in cleartext,
	// or the assertions below would prove nothing.
	c := a.Capture(t, b)
	a.MustPing(t, b.V4, 2)
	a.MustPing(t, b.V6, 2)
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cleartext control: %v (%s)", st, c.Path)
	if st.ICMP < 8 || st.ESP != 0 {
		t.Fatalf("control capture = %v, want >= 8 cleartext ICMP and no ESP", st)
	}

	var dirs []espDir
	for i, fam := range [][2]netip.Addr{{a.V4, b.V4}, {a.V6, b.V6}} {
		base := uint32(0x1000 + 0x10*i)
		dirs = append(dirs,
			newESPDir(t, fam[0], fam[1], base+1, 1+uint32(2*i)), // a -> b
			newESPDir(t, fam[1], fam[0], base+2, 2+uint32(2*i)), // b -> a
		)
	}
	for _, side := range []struct {
		h       *Host
		outward func(espDir) bool
	}{
		{a, func(d espDir) bool { return d.src == a.V4 || d.src == a.V6 }},
		{b, func(d espDir) bool { return d.src == b.V4 || d.src == b.V6 }},
	} {
		lines := ndBypass()
		for _, d := range dirs {
			lines = append(lines, d.state())
			if side.outward(d) {
				lines = append(lines, d.policy("out"))
			} else {
				lines = append(lines, d.policy("in"))
			}
		}
		installBatch(t, side.h, lines)
	}

	c = a.Capture(t, b)
	const n = 5
	a.MustPing(t, b.V4, n)
	a.MustPing(t, b.V6, n)
	b.MustPing(t, a.V4, n)
	b.MustPing(t, a.V6, n)
	st, err = c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with ESP: %v (%s)", st, c.Path)
	if want := 4 * 2 * n; st.ESP < want {
		t.Errorf("ESP packets = %d, want >= %d (4 pings x %d requests and replies)", st.ESP, want, n)
	}
	if st.ICMP != 0 || st.Cleartext() != 0 {
		t.Errorf("cleartext crossed the link: %v", st)
	}

	// The kernel must have used every state: each direction carried n
	// requests and n replies.
	for _, d := range dirs {
		for _, h := range []*Host{a, b} {
			if got := statePackets(t, h, d); got < 2*n {
				t.Errorf("%s: state %s -> %s spi %#x counted %d packets, want >= %d", h.Name, d.src, d.dst, d.spi, got, 2*n)
			}
		}
	}
}

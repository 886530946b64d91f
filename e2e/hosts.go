package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
)

// newHostNS creates a host's network namespace, removed at cleanup.
func newHostNS(t testing.TB, name string, v4, v6 netip.Addr) *Host {
	t.Helper()
	h := &Host{Name: name, V4: v4, V6: v6, Dir: t.TempDir(), out: OutDir(t)}
	mustIP(t, "netns", "add", h.Name)
	t.Cleanup(func() {
		if out, err := ip("netns", "del", h.Name); err != nil {
			t.Errorf("e2e: removing netns %s: %v\n%s", h.Name, err, out)
		}
	})
	h.Run(t, "ip", "link", "set", "lo", "up")
	return h
}

// NewHosts creates n hosts (n <= 250) on one Ethernet segment: a bridge
// in a namespace of its own, each host's eth0 plugged into it. Host i
// (from 0) has 10.0.1.(i+1)/24 and fd01::(i+1)/64.
func NewHosts(t testing.TB, n int) []*Host {
	t.Helper()
	RequireVM(t)
	seq := hostSeq.Add(1)
	br := newHostNS(t, fmt.Sprintf("mt%d-br%d", os.Getpid(), seq), netip.Addr{}, netip.Addr{})
	br.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	br.Run(t, "ip", "link", "set", "br0", "up")
	var hosts []*Host
	for i := 0; i < n; i++ {
		h := newHostNS(t, fmt.Sprintf("mt%d-h%d-%d", os.Getpid(), seq, i),
			netip.MustParseAddr("10.0.1."+strconv.Itoa(i+1)), netip.MustParseAddr("fd01::"+strconv.Itoa(i+1)))
		port := "p" + strconv.Itoa(i)
		mustIP(t, "link", "add", Link, "netns", h.Name, "type", "veth", "peer", "name", port, "netns", br.Name)
		br.Run(t, "ip", "link", "set", port, "master", "br0")
		br.Run(t, "ip", "link", "set", port, "up")
		h.Run(t, "ip", "addr", "add", h.V4.String()+"/24", "dev", Link)
		h.Run(t, "ip", "addr", "add", h.V6.String()+"/64", "dev", Link, "nodad")
		h.Run(t, "ip", "link", "set", Link, "up")
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		h.waitCarrier(t)
	}
	return hosts
}

// NewRouted creates two hosts in different IPv4 subnets joined by a
// router namespace: a (10.0.2.1/24) -- router -- b (10.0.3.1/24). The
// link between the router and b has MTU mtu (both ends). Each host's
// default route goes through the router. It returns the hosts and the
// router.
func NewRouted(t testing.TB, mtu int) (a, b, router *Host) {
	t.Helper()
	RequireVM(t)
	seq := hostSeq.Add(1)
	router = newHostNS(t, fmt.Sprintf("mt%d-r%d", os.Getpid(), seq), netip.Addr{}, netip.Addr{})
	a = newHostNS(t, fmt.Sprintf("mt%d-ra%d", os.Getpid(), seq), netip.MustParseAddr("10.0.2.1"), netip.Addr{})
	b = newHostNS(t, fmt.Sprintf("mt%d-rb%d", os.Getpid(), seq), netip.MustParseAddr("10.0.3.1"), netip.Addr{})
	for i, h := range []*Host{a, b} {
		rif := "eth" + strconv.Itoa(i)
		gw := fmt.Sprintf("10.0.%d.254", i+2)
		mustIP(t, "link", "add", Link, "netns", h.Name, "type", "veth", "peer", "name", rif, "netns", router.Name)
		router.Run(t, "ip", "addr", "add", gw+"/24", "dev", rif)
		h.Run(t, "ip", "addr", "add", h.V4.String()+"/24", "dev", Link)
		if h == b {
			router.Run(t, "ip", "link", "set", rif, "mtu", strconv.Itoa(mtu))
			h.Run(t, "ip", "link", "set", Link, "mtu", strconv.Itoa(mtu))
		}
		router.Run(t, "ip", "link", "set", rif, "up")
		h.Run(t, "ip", "link", "set", Link, "up")
		h.Run(t, "ip", "route", "add", "default", "via", gw)
	}
	router.Run(t, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	for _, h := range []*Host{a, b} {
		h.waitCarrier(t)
	}
	return a, b, router
}

// StartMetrodArgs is StartMetrod with extra metrod flags.
func (h *Host) StartMetrodArgs(t testing.TB, extra ...string) *Metrod {
	t.Helper()
	cfg := h.Dir + "/config.env"
	if _, err := os.Stat(cfg); err != nil {
		h.WriteConfig(t)
	}
	sock := h.Dir + "/metrod.sock"
	var args []string
	for _, v := range harnessEnv {
		args = append(args, "-u", v)
	}
	args = append(args, Binary(t, "metrod"), "--debug", "--config", cfg, "--socket", sock, "--hostname", h.Name)
	p := h.Start(t, "env", append(args, extra...)...)
	return &Metrod{Host: h, Proc: p, Socket: sock, Config: cfg}
}

// Ruleset returns `nft list ruleset` in the host's namespace.
func (h *Host) Ruleset(t testing.TB) string {
	t.Helper()
	return h.Run(t, "nft", "list", "ruleset")
}

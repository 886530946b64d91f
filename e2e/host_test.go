package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// metroTable is the part of `nft list ruleset` that is metro's table.
var metroTable = regexp.MustCompile(`(?s)table inet metro \{.*?\n\}\n?`)

// outsideMetro is the ruleset without metro's table.
func outsideMetro(ruleset string) string { return metroTable.ReplaceAllString(ruleset, "") }

// counterOf returns the packet counter of the first rule matching re.
func counterOf(t *testing.T, ruleset, re string) int {
	t.Helper()
	m := regexp.MustCompile(re + `.*?counter packets (\d+)`).FindStringSubmatch(ruleset)
	if m == nil {
		t.Fatalf("no rule matching %q in:\n%s", re, ruleset)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestMetrodAlternativePorts: b uses 600 as its IKE port; a listens on 500
// and redirects 600 to it. a's table is the only change to its ruleset,
// and it is removed at stop and with --ignore-alternative-ports.
func TestMetrodAlternativePorts(t *testing.T) {
	a, b := NewPair(t)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "alt-ports-key-0123456789", a.V4, a.V6, b.V4, b.V6)
	}
	// ike sends to the peer's configured port, so b also redirects 500 to
	// its own 600: then each side reaches the other whatever it targets.
	a.WriteConfig(t, "METRO_ISAKMP_IKE_ALTERNATIVE_PORT=600", "METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT=4600")
	b.WriteConfig(t, "METRO_ISAKMP_IKE_PORT=600", "METRO_ISAKMP_IKE_ALTERNATIVE_PORT=500")
	before := a.Ruleset(t)
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
	mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
	a.MustPing(t, b.V4, 3)
	a.MustPing(t, b.V6, 3)

	rs := a.Ruleset(t)
	t.Logf("a's ruleset:\n%s", rs)
	if n := counterOf(t, rs, `ip daddr 10\.0\.0\.1 udp dport 600 `); n == 0 {
		t.Errorf("no IKE datagram from b went through a's 600 -> 500 redirect")
	}
	for _, want := range []string{"dnat ip to 10.0.0.1:500", "dnat ip6 to [fd00::1]:500", "udp dport 4600", "dnat ip to 10.0.0.1:4500"} {
		if !strings.Contains(rs, want) {
			t.Errorf("a's ruleset lacks %q", want)
		}
	}
	if outsideMetro(rs) != before {
		t.Errorf("metrod touched more than its table:\nbefore:\n%s\nafter:\n%s", before, rs)
	}
	if a.Listening(t, "udp", 600) {
		t.Errorf("a listens on 600; the alternative port must be a redirect only")
	}

	if err := ma.Proc.Stop(); err != nil {
		t.Fatalf("stopping metrod on a: %v", err)
	}
	if rs := a.Ruleset(t); rs != before {
		t.Errorf("ruleset after stop differs from before start:\n%s", rs)
	}

	ma2 := a.StartMetrodArgs(t, "--ignore-alternative-ports")
	WaitFor(t, 20*time.Second, "metrod on a to install its table", func() bool {
		return strings.Contains(a.Ruleset(t), "table inet metro")
	})
	rs = a.Ruleset(t)
	if strings.Contains(rs, "dnat") || strings.Contains(rs, "alternative-ports") {
		t.Errorf("--ignore-alternative-ports: redirect rules installed:\n%s", rs)
	}
	if !strings.Contains(rs, "maxseg size set 1200") {
		t.Errorf("--ignore-alternative-ports dropped the MSS clamp too:\n%s", rs)
	}
	ma2.Proc.Stop()
}

// TestMetrodMSS: a and b talk through a router whose link to b has MTU
// 1280. SYNs both ways carry the MSS metro clamps them to, and a 10 MB
// transfer completes. With METRO_MSS=0 there is no clamp rule.
func TestMetrodMSS(t *testing.T) {
	a, b, _ := NewRouted(t, 1280)
	for _, h := range []*Host{a, b} {
		h.WritePSK(t, "mesh.psk", "mss-key-0123456789", a.V4, b.V4)
		h.WriteConfig(t, "METRO_MSS=1200")
	}
	ma, mb := a.StartMetrod(t), b.StartMetrod(t)
	ma.WaitEstablished(t, 60*time.Second, b.V4)
	mb.WaitEstablished(t, 60*time.Second, a.V4)

	// Count, before metro's own clamp on the receiver (priority raw <
	// mangle), the SYNs from the peer and those carrying MSS 1200: this
	// is what the sender's metro wrote.
	for _, h := range []struct{ on, from *Host }{{b, a}, {a, b}} {
		rules := fmt.Sprintf(`add table ip synwatch
add chain ip synwatch pre { type filter hook prerouting priority raw; }
add rule ip synwatch pre ip saddr %s tcp flags & syn == syn counter
add rule ip synwatch pre ip saddr %s tcp flags & syn == syn tcp option maxseg size 1200 counter
`, h.from.V4, h.from.V4)
		h.on.Run(t, "nft", rules)
	}

	payload := a.Dir + "/10MB"
	a.Run(t, "sh", "-c", "head -c 10000000 /dev/zero > "+payload)
	start := time.Now()
	received := sendFile(t, a, b, payload, 10*time.Second)
	if got := strings.TrimSpace(b.Run(t, "sh", "-c", "wc -c < "+received)); got != "10000000" {
		t.Errorf("receiver got %q bytes, want 10000000", got)
	}
	t.Logf("10 MB through the 1280-byte link in %v", time.Since(start).Round(time.Millisecond))

	for _, h := range []*Host{a, b} {
		rs := h.Run(t, "nft", "list", "table", "ip", "synwatch")
		all := counterOf(t, rs, `tcp flags & syn == syn `)
		clamped := counterOf(t, rs, `maxseg size 1200 `)
		t.Logf("%s: %d SYNs from the peer, %d with MSS 1200", h.Name, all, clamped)
		if all == 0 || clamped != all {
			t.Errorf("%s: %d SYNs from the peer but %d carry MSS 1200", h.Name, all, clamped)
		}
		if n := counterOf(t, h.Ruleset(t), `daddr @peers4`); n == 0 {
			t.Errorf("%s: metro's clamp rule towards the peer never matched", h.Name)
		}
	}

	// METRO_MSS=0: no clamp rule (and, with no alternative port, no table).
	ma.Proc.Stop()
	a.WriteConfig(t, "METRO_MSS=0")
	ma2 := a.StartMetrod(t)
	ma2.WaitEstablished(t, 60*time.Second, b.V4)
	if rs := a.Ruleset(t); strings.Contains(metroTable.FindString(rs), "maxseg") || strings.Contains(rs, "table inet metro") {
		t.Errorf("METRO_MSS=0 still clamps:\n%s", rs)
	}
}

// TestMetroctlTest: metroctl test passes on a healthy pair (TAP, forced
// and by default off a terminal), and fails naming the check when the
// policies are removed or the peer is down.
func TestMetroctlTest(t *testing.T) {
	a, b, ma, mb := pskPair(t)
	metroctl := Binary(t, "metroctl")
	runTest := func(args ...string) (string, error) {
		return a.TryRun(t, metroctl, append([]string{"--socket", ma.Socket, "test", "--config", ma.Config}, args...)...)
	}
	for _, args := range [][]string{{"--tap"}, {"--wait", "10s"}} {
		out, err := runTest(args...)
		t.Logf("metroctl test %v:\n%s", args, out)
		if err != nil {
			t.Fatalf("metroctl test %v failed on a healthy pair: %v", args, err)
		}
		for _, want := range []string{"TAP version 14\n", "\n1..8\n", "\nok 1 - configuration is valid",
			"\nok 2 - metrod is running", `\nok \d+ - traffic to 10\.0\.0\.2 encrypted on eth0`,
			`\nok \d+ - traffic to fd00::2 encrypted on eth0`, `\nok \d+ - network: route to 10\.0\.0\.2`} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(out, "not ok") {
			t.Errorf("a check failed")
		}
	}

	// Policies removed behind metrod's back: traffic leaves in clear.
	a.Run(t, "ip", "xfrm", "policy", "flush")
	out, err := runTest("--tap")
	t.Logf("without policies:\n%s", out)
	if !exitedWith(err, 1) || !regexp.MustCompile(`not ok \d+ - traffic to 10\.0\.0\.2 encrypted`).MatchString(out) ||
		!strings.Contains(out, "cleartext") {
		t.Errorf("metroctl test did not fail on the encryption check (err %v)", err)
	}

	// The peer is down.
	mb.Proc.Stop()
	WaitFor(t, 15*time.Second, "a to notice b's DELETE", func() bool {
		st, err := ma.Status(t)
		return err == nil && len(st.Peers) > 0 && st.Peers[0].State != "established"
	})
	out, err = runTest("--tap")
	t.Logf("peer down:\n%s", out)
	if !exitedWith(err, 1) || !regexp.MustCompile(`not ok \d+ - peer 10\.0\.0\.2 reachable, IKE SA established`).MatchString(out) {
		t.Errorf("metroctl test did not fail on the IKE SA check (err %v)", err)
	}
	_ = b
}

func exitedWith(err error, code int) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == code
}

// pinger pings every ordered pair of hosts once every interval and
// records failures with their time.
type pinger struct {
	mu     sync.Mutex
	losses []string
	sent   int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startPinger(t *testing.T, hosts []*Host) *pinger {
	p := &pinger{stop: make(chan struct{})}
	for _, from := range hosts {
		for _, to := range hosts {
			if from == to {
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				for {
					select {
					case <-p.stop:
						return
					default:
					}
					_, err := from.TryRun(t, "busybox", "ping", "-c", "1", "-W", "1", to.V4.String())
					p.mu.Lock()
					p.sent++
					if err != nil {
						p.losses = append(p.losses, fmt.Sprintf("%s %s->%s", time.Now().Format("15:04:05.000"), from.V4, to.V4))
					}
					p.mu.Unlock()
					time.Sleep(300 * time.Millisecond)
				}
			}()
		}
	}
	return p
}

// take returns the losses since the last call and resets them.
func (p *pinger) take() (losses []string, sent int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, s := p.losses, p.sent
	p.losses, p.sent = nil, 0
	return l, s
}

func (p *pinger) close() { close(p.stop); p.wg.Wait() }

// TestMetrodPortMigration runs the documented migration from 500/4500 to
// 600/4600 on three hosts while every pair pings: (1) add the alternative
// ports 600/4600 and restart each node; (2) on each node set the main ports
// to 600/4600, drop the alternatives, restart. Pings fail only around
// restarts.
func TestMetrodPortMigration(t *testing.T) {
	hosts := NewHosts(t, 3)
	var addrs []netip.Addr
	for _, h := range hosts {
		addrs = append(addrs, h.V4)
	}
	ms := make([]*Metrod, len(hosts))
	for i, h := range hosts {
		h.WritePSK(t, "mesh.psk", "migration-key-0123456789", addrs...)
		h.WriteConfig(t)
		ms[i] = h.StartMetrod(t)
	}
	others := func(i int) []netip.Addr {
		var o []netip.Addr
		for j, a := range addrs {
			if j != i {
				o = append(o, a)
			}
		}
		return o
	}
	for i, m := range ms {
		m.WaitEstablished(t, 60*time.Second, others(i)...)
	}
	p := startPinger(t, hosts)
	defer p.close()
	time.Sleep(2 * time.Second)
	if l, n := p.take(); len(l) > 0 {
		t.Fatalf("losses before the migration (%d of %d): %v", len(l), n, l)
	}
	steps := []struct {
		name  string
		lines []string
	}{
		{"add alternative ports", []string{"METRO_ISAKMP_IKE_ALTERNATIVE_PORT=600", "METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT=4600"}},
		{"switch main ports", []string{"METRO_ISAKMP_IKE_PORT=600", "METRO_IPSEC_NAT_TRAVERSAL_PORT=4600"}},
	}
	for _, step := range steps {
		for i, h := range hosts {
			ms[i].Proc.Stop()
			h.WriteConfig(t, step.lines...)
			start := time.Now()
			ms[i] = h.StartMetrod(t)
			for j, m := range ms {
				m.WaitEstablished(t, 30*time.Second, others(j)...)
			}
			took := time.Since(start)
			time.Sleep(2 * time.Second) // settle: pings after the restart must all pass
			p.take()
			time.Sleep(3 * time.Second)
			l, n := p.take()
			t.Logf("%s on %s: all SAs back in %v; %d pings after settling, %d lost", step.name, h.Name,
				took.Round(time.Millisecond), n, len(l))
			if len(l) > 0 {
				t.Errorf("%s on %s: pings lost after the node was back: %v", step.name, h.Name, l)
			}
			if took > 15*time.Second {
				t.Errorf("%s on %s: SAs took %v to come back", step.name, h.Name, took)
			}
		}
	}
	for _, h := range hosts {
		rs := h.Ruleset(t)
		if strings.Contains(rs, "dnat") {
			t.Errorf("%s: redirects left after the migration:\n%s", h.Name, rs)
		}
		if !h.Listening(t, "udp", 600) || h.Listening(t, "udp", 500) {
			t.Errorf("%s: not listening on 600 only", h.Name)
		}
	}
}

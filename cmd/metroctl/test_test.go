package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"metro/control"
)

var (
	tLocal  = netip.MustParseAddr("192.0.2.1")
	tRemote = netip.MustParseAddr("192.0.2.2")
)

func healthyChecker() *checker {
	return &checker{
		configFile: "/etc/metro/config.env",
		config:     func() (ikePorts, error) { return ikePorts{IKE: []uint16{500}}, nil },
		status: func(context.Context) (*control.Status, error) {
			return &control.Status{PID: 7, Peers: []control.PeerStatus{{
				Remote: tRemote.String(), Local: tLocal.String(), State: control.StateEstablished,
				IKE:      &control.IKESAStatus{Encr: "AES_GCM_16_256"},
				Children: []control.ChildStatus{{SPIIn: "1"}},
			}}}, nil
		},
		route: func(netip.Addr) (string, error) { return "eth0", nil },
		probe: func(context.Context, string, netip.Addr, netip.Addr, ikePorts) (probeResult, error) {
			return probeResult{ESP: 3}, nil
		},
		trigger: func(context.Context, netip.Addr, netip.Addr) error {
			panic("trigger called for a peer that does not wait for traffic")
		},
	}
}

func TestCheckerHealthy(t *testing.T) {
	rs := healthyChecker().run(context.Background())
	if len(rs) != 5 || !allOK(rs) {
		t.Fatalf("results %+v", rs)
	}
	var b bytes.Buffer
	writeTAP(&b, rs)
	want := "TAP version 14\n1..5\nok 1 - configuration is valid\n"
	if !strings.HasPrefix(b.String(), want) || !strings.Contains(b.String(), "ok 5 - traffic to 192.0.2.2 encrypted on eth0\n") {
		t.Errorf("TAP:\n%s", b.String())
	}
	if strings.Contains(b.String(), "not ok") {
		t.Errorf("TAP has a failure:\n%s", b.String())
	}
	b.Reset()
	writeHuman(&b, rs, true)
	if !strings.Contains(b.String(), sgrGreen+"ok  "+sgrReset+" peer 192.0.2.2 reachable") || !strings.Contains(b.String(), "all 5 checks passed") {
		t.Errorf("human:\n%q", b.String())
	}
}

func TestCheckerFailures(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(c *checker)
		failed string // the failing check's name, in TAP
		detail string
	}{
		{"bad config", func(c *checker) {
			c.config = func() (ikePorts, error) { return ikePorts{}, errors.New("METRO_MSS: bad") }
		}, "not ok 1 - configuration is valid", "METRO_MSS"},
		{"metrod down", func(c *checker) {
			c.status = func(context.Context) (*control.Status, error) { return nil, control.ErrNotRunning }
		}, "not ok 2 - metrod is running", ""},
		{"no route", func(c *checker) {
			c.route = func(netip.Addr) (string, error) { return "", errors.New("no route to 192.0.2.2") }
		}, "not ok 3 - network: route to 192.0.2.2", "no route"},
		{"peer down", func(c *checker) {
			c.status = func(context.Context) (*control.Status, error) {
				return &control.Status{Peers: []control.PeerStatus{{Remote: tRemote.String(), Local: tLocal.String(),
					State: control.StateConnecting, LastError: "no response"}}}, nil
			}
		}, "not ok 4 - peer 192.0.2.2 reachable, IKE SA established", "no response"},
		{"cleartext", func(c *checker) {
			c.probe = func(context.Context, string, netip.Addr, netip.Addr, ikePorts) (probeResult, error) {
				return probeResult{Cleartext: 3}, nil
			}
		}, "not ok 5 - traffic to 192.0.2.2 encrypted on eth0", "3 cleartext"},
		{"no ESP", func(c *checker) {
			c.probe = func(context.Context, string, netip.Addr, netip.Addr, ikePorts) (probeResult, error) {
				return probeResult{}, nil
			}
		}, "not ok 5 - traffic", "no ESP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := healthyChecker()
			tc.break_(c)
			rs := c.run(context.Background())
			if allOK(rs) {
				t.Fatal("all checks passed")
			}
			var b bytes.Buffer
			writeTAP(&b, rs)
			if !strings.Contains(b.String(), tc.failed) || !strings.Contains(b.String(), tc.detail) {
				t.Errorf("TAP lacks %q / %q:\n%s", tc.failed, tc.detail, b.String())
			}
			b.Reset()
			writeHuman(&b, rs, false)
			if !strings.Contains(b.String(), "FAIL ") || !strings.Contains(b.String(), "checks failed") {
				t.Errorf("human output:\n%s", b.String())
			}
		})
	}
}

func TestCheckerWaitRetries(t *testing.T) {
	c := healthyChecker()
	calls := 0
	healthy := c.status
	c.status = func(ctx context.Context) (*control.Status, error) {
		calls++
		if calls < 2 {
			return &control.Status{Peers: []control.PeerStatus{{Remote: tRemote.String(), Local: tLocal.String(), State: control.StateConnecting}}}, nil
		}
		return healthy(ctx)
	}
	if rs := c.runChecks(context.Background(), 5*time.Second); !allOK(rs) || calls != 2 {
		t.Fatalf("after %d attempts: %+v", calls, rs)
	}
	calls = 0
	start := time.Now()
	if rs := c.runChecks(context.Background(), 0); allOK(rs) || calls != 1 || time.Since(start) > time.Second {
		t.Fatalf("without --wait: %d attempts, %+v", calls, rs)
	}
}

func frame(t *testing.T, src, dst netip.Addr, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Protocol: layers.IPProtocolUDP}
	if _, ok := l4[0].(*layers.TCP); ok {
		ip.Protocol = layers.IPProtocolTCP
	}
	if p, ok := l4[0].(gopacket.Payload); ok && len(p) > 0 && p[0] == 0xee {
		ip.Protocol = layers.IPProtocolESP
	}
	if u, ok := l4[0].(*layers.UDP); ok {
		u.SetNetworkLayerForChecksum(ip)
	}
	if tc, ok := l4[0].(*layers.TCP); ok {
		tc.SetNetworkLayerForChecksum(ip)
	}
	buf := gopacket.NewSerializeBuffer()
	ls := append([]gopacket.SerializableLayer{eth, ip}, l4...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestClassifyProbe(t *testing.T) {
	ports := ikePorts{IKE: []uint16{500, 600}, NATT: []uint16{4500}}
	other := netip.MustParseAddr("192.0.2.99")
	cases := []struct {
		name        string
		frame       []byte
		esp, clear_ bool
	}{
		{"esp out", frame(t, tLocal, tRemote, gopacket.Payload{0xee, 1, 2, 3, 0, 0, 0, 1}), true, false},
		{"esp in", frame(t, tRemote, tLocal, gopacket.Payload{0xee, 1, 2, 3, 0, 0, 0, 1}), false, false},
		{"udp probe in clear", frame(t, tLocal, tRemote, &layers.UDP{SrcPort: 40000, DstPort: 9}, gopacket.Payload("probe")), false, true},
		{"ike", frame(t, tLocal, tRemote, &layers.UDP{SrcPort: 500, DstPort: 500}, gopacket.Payload("ike")), false, false},
		{"ike on alt port", frame(t, tRemote, tLocal, &layers.UDP{SrcPort: 600, DstPort: 600}, gopacket.Payload("ike")), false, false},
		{"esp in udp", frame(t, tLocal, tRemote, &layers.UDP{SrcPort: 4500, DstPort: 4500}, gopacket.Payload{1, 2, 3, 4, 5}), true, false},
		{"ike on natt", frame(t, tLocal, tRemote, &layers.UDP{SrcPort: 4500, DstPort: 4500}, gopacket.Payload{0, 0, 0, 0, 5}), false, false},
		{"tcp in clear", frame(t, tRemote, tLocal, &layers.TCP{SrcPort: 22, DstPort: 4000}), false, true},
		{"another host", frame(t, tLocal, other, &layers.UDP{SrcPort: 1, DstPort: 9}, gopacket.Payload("x")), false, false},
	}
	for _, c := range cases {
		esp, clear := classifyProbe(c.frame, tLocal, tRemote, ports)
		if esp != c.esp || clear != c.clear_ {
			t.Errorf("%s: esp=%v clear=%v, want %v %v", c.name, esp, clear, c.esp, c.clear_)
		}
	}
}

// onDemandDaemon fakes metrod with one on-demand peer: idle (or as set in
// peer) until trigger is called, then connecting for the polls in
// connecting, then what after returns (nil: unchanged).
type onDemandDaemon struct {
	mu         sync.Mutex
	peer       control.PeerStatus
	triggers   []string // "local>remote" of every datagram sent
	connecting int
	after      func(n int) *control.PeerStatus // n: the trigger count
	sendErr    error
}

func (d *onDemandDaemon) install(c *checker) {
	c.status = func(context.Context) (*control.Status, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.triggers) > 0 && d.peer.State != control.StateEstablished {
			if d.connecting > 0 {
				d.connecting--
				d.peer.State, d.peer.Since = control.StateConnecting, time.Now()
			} else if d.after != nil {
				if p := d.after(len(d.triggers)); p != nil {
					d.peer = *p
				}
			}
		}
		return &control.Status{PID: 7, Peers: []control.PeerStatus{d.peer}}, nil
	}
	c.trigger = func(_ context.Context, local, remote netip.Addr) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.triggers = append(d.triggers, local.String()+">"+remote.String())
		return d.sendErr
	}
}

func idlePeer() control.PeerStatus {
	return control.PeerStatus{Remote: tRemote.String(), Local: tLocal.String(), State: control.StateIdle, Since: time.Now()}
}

func establishedPeer() *control.PeerStatus {
	return &control.PeerStatus{Remote: tRemote.String(), Local: tLocal.String(), State: control.StateEstablished, Since: time.Now(),
		IKE: &control.IKESAStatus{Encr: "AES_GCM_16_256"}, Children: []control.ChildStatus{{SPIIn: "1"}}}
}

func tapOf(rs []checkResult) string {
	var b bytes.Buffer
	writeTAP(&b, rs)
	return b.String()
}

// TestCheckerOnDemandIdle: an idle peer gets one datagram, and the checks
// pass once the negotiation it started is done.
func TestCheckerOnDemandIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := healthyChecker()
		d := &onDemandDaemon{peer: idlePeer(), connecting: 3, after: func(int) *control.PeerStatus { return establishedPeer() }}
		d.install(c)
		start := time.Now()
		rs := c.run(context.Background())
		out := tapOf(rs)
		if !allOK(rs) || len(rs) != 5 {
			t.Fatalf("checks of an idle peer that negotiates on the test's datagram:\n%s", out)
		}
		if len(d.triggers) != 1 || d.triggers[0] != "192.0.2.1>192.0.2.2" {
			t.Errorf("datagrams sent: %q, want one from the local to the remote address", d.triggers)
		}
		if !strings.Contains(out, "ok 4 - peer 192.0.2.2 reachable, IKE SA established\n# AES_GCM_16_256, 1 child SA(s), negotiated on demand for a datagram of this test\n") {
			t.Errorf("TAP does not say the test started the negotiation:\n%s", out)
		}
		// Three polls of connecting, then established: no waiting for
		// the whole settle time.
		if el := time.Since(start); el != 4*triggerPoll {
			t.Errorf("took %v, want %v (4 polls)", el, 4*triggerPoll)
		}
	})
}

// TestCheckerOnDemandNoAcquire: the datagram starts nothing (the kernel
// raised no ACQUIRE): the peer check fails after the settle time, saying
// why; --wait sends another datagram on its next round.
func TestCheckerOnDemandNoAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := healthyChecker()
		d := &onDemandDaemon{peer: idlePeer(), after: func(n int) *control.PeerStatus {
			if n < 2 {
				return nil // still idle
			}
			return establishedPeer()
		}}
		d.install(c)
		start := time.Now()
		rs := c.run(context.Background())
		out := tapOf(rs)
		if allOK(rs) || !strings.Contains(out, "not ok 4 - peer 192.0.2.2 reachable, IKE SA established\n# state idle; still idle 10s after a datagram to the peer: the kernel raised no ACQUIRE") {
			t.Fatalf("TAP:\n%s", out)
		}
		if el := time.Since(start); el < triggerSettle || el > triggerSettle+2*triggerPoll {
			t.Errorf("gave up after %v, want the settle time %v", el, triggerSettle)
		}
		if strings.Contains(out, "traffic to") {
			t.Errorf("probed a peer without SA:\n%s", out)
		}

		d.triggers = nil
		rs = c.runChecks(context.Background(), time.Minute)
		if !allOK(rs) || len(d.triggers) != 2 {
			t.Fatalf("with --wait: %d datagrams, TAP:\n%s", len(d.triggers), tapOf(rs))
		}
	})
}

// TestCheckerOnDemandFailed: a failed peer without SA (on demand: nothing
// retries by itself) gets a datagram too; the new failure is reported
// with its reason as soon as it happens.
func TestCheckerOnDemandFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := healthyChecker()
		old := idlePeer()
		old.State, old.LastError = control.StateFailed, "authentication failed: old"
		d := &onDemandDaemon{peer: old, connecting: 1, after: func(int) *control.PeerStatus {
			p := old
			p.LastError, p.Since = "authentication failed: peer rejected our AUTH", time.Now()
			return &p
		}}
		d.install(c)
		start := time.Now()
		rs := c.run(context.Background())
		out := tapOf(rs)
		if len(d.triggers) != 1 {
			t.Fatalf("datagrams sent to the failed peer: %d, want 1", len(d.triggers))
		}
		if allOK(rs) || !strings.Contains(out, "not ok 4 - peer 192.0.2.2 reachable, IKE SA established\n# state failed: authentication failed: peer rejected our AUTH\n") {
			t.Fatalf("TAP:\n%s", out)
		}
		if el := time.Since(start); el != 2*triggerPoll {
			t.Errorf("took %v, want 2 polls (%v)", el, 2*triggerPoll)
		}
	})
}

// TestCheckerOnDemandStillConnecting and a failing send: the detail says
// what the test did.
func TestCheckerOnDemandStillConnecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := healthyChecker()
		d := &onDemandDaemon{peer: idlePeer(), connecting: 1 << 20}
		d.install(c)
		out := tapOf(c.run(context.Background()))
		if !strings.Contains(out, "# state connecting; negotiation started by a datagram of this test, not done after 10s\n") {
			t.Errorf("TAP:\n%s", out)
		}

		c = healthyChecker()
		d = &onDemandDaemon{peer: idlePeer(), sendErr: errors.New("network is unreachable")}
		d.install(c)
		out = tapOf(c.run(context.Background()))
		if !strings.Contains(out, "# state idle; sending a datagram to start the negotiation: network is unreachable\n") {
			t.Errorf("TAP:\n%s", out)
		}
	})
}

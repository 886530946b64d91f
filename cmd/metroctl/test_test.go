package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
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

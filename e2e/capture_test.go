package e2e

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame serializes an Ethernet frame carrying an IP packet with the given
// upper layers.
func frame(t *testing.T, src, dst string, upper ...gopacket.SerializableLayer) []byte {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ipl gopacket.SerializableLayer
	var proto layers.IPProtocol
	switch u := upper[0].(type) {
	case *layers.ICMPv4:
		proto = layers.IPProtocolICMPv4
	case *layers.ICMPv6:
		proto = layers.IPProtocolICMPv6
	case *layers.TCP:
		proto = layers.IPProtocolTCP
	case *layers.UDP:
		proto = layers.IPProtocolUDP
	case gopacket.Payload:
		proto = layers.IPProtocolESP
	default:
		t.Fatalf("unexpected layer %T", u)
	}
	if s.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		ipl = ip
		for _, l := range upper {
			if n, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				n.SetNetworkLayerForChecksum(ip)
			}
		}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		ipl = ip
		for _, l := range upper {
			if n, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				n.SetNetworkLayerForChecksum(ip)
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	all := append([]gopacket.SerializableLayer{eth, ipl}, upper...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestClassify(t *testing.T) {
	pair := map[netip.Addr]bool{}
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2"} {
		pair[netip.MustParseAddr(a)] = true
	}
	esp := gopacket.Payload([]byte{0, 0, 0x10, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef})
	udp := func(sp, dp uint16) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	}
	tests := []struct {
		name string
		data []byte
		want kind
	}{
		{"esp4", frame(t, "10.0.0.1", "10.0.0.2", esp), kindESP},
		{"esp6", frame(t, "fd00::2", "fd00::1", esp), kindESP},
		{"icmp4 echo", frame(t, "10.0.0.1", "10.0.0.2", &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload("ping")), kindICMP},
		{"icmp6 echo", frame(t, "fd00::1", "fd00::2", &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload("ping")), kindICMP},
		{"icmp6 NS", frame(t, "fd00::1", "fd00::2", &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}, gopacket.Payload(make([]byte, 20))), kindND},
		{"icmp6 NA", frame(t, "fd00::2", "fd00::1", &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(136, 0)}, gopacket.Payload(make([]byte, 20))), kindND},
		{"tcp", frame(t, "10.0.0.2", "10.0.0.1", &layers.TCP{SrcPort: 1234, DstPort: 80, SYN: true}), kindTCP},
		{"udp", frame(t, "fd00::1", "fd00::2", udp(5353, 53), gopacket.Payload("q")), kindUDP},
		{"ike", frame(t, "10.0.0.1", "10.0.0.2", udp(500, 500), gopacket.Payload(make([]byte, 28))), kindIKE},
		{"ike natt", frame(t, "10.0.0.1", "10.0.0.2", udp(4500, 4500), gopacket.Payload(make([]byte, 32))), kindIKE},
		{"natt keepalive", frame(t, "10.0.0.1", "10.0.0.2", udp(4500, 4500), gopacket.Payload([]byte{0xff})), kindIKE},
		{"esp in udp", frame(t, "10.0.0.1", "10.0.0.2", udp(4500, 4500), esp), kindESP},
		{"other pair", frame(t, "10.0.0.1", "10.0.0.3", &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}), kindIgnored},
		{"multicast", frame(t, "fd00::1", "ff02::1:ff00:2", &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}, gopacket.Payload(make([]byte, 20))), kindIgnored},
		{"not ip", []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1}, kindIgnored},
		{"truncated", []byte{1, 2, 3}, kindIgnored},
	}
	var st Stats
	for _, tc := range tests {
		got := classify(tc.data, pair)
		if got != tc.want {
			t.Errorf("%s: classify = %d, want %d", tc.name, got, tc.want)
		}
		st.add(got)
	}
	want := Stats{ESP: 3, IKE: 3, ICMP: 2, ND: 2, TCP: 1, UDP: 1}
	if st != want {
		t.Errorf("stats = %v, want %v", st, want)
	}
	if st.Cleartext() != 4 {
		t.Errorf("Cleartext() = %d, want 4", st.Cleartext())
	}
}

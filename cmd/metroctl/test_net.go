package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netlink"
)

// routeTo returns the interface the kernel routes peer through, and fails
// when there is no route or the interface is down.
func routeTo(peer netip.Addr) (string, error) {
	routes, err := netlink.RouteGet(peer.AsSlice())
	if err != nil {
		return "", fmt.Errorf("no route to %s: %w", peer, err)
	}
	if len(routes) == 0 {
		return "", fmt.Errorf("no route to %s", peer)
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return "", fmt.Errorf("route to %s: interface %d: %w", peer, routes[0].LinkIndex, err)
	}
	at := link.Attrs()
	if at.Flags&net.FlagUp == 0 || at.OperState == netlink.OperDown || at.OperState == netlink.OperLowerLayerDown {
		return "", fmt.Errorf("route to %s: interface %s is down", peer, at.Name)
	}
	return at.Name, nil
}

// probePort is where the probe datagrams go: discard (RFC 863). Whether
// anything listens does not matter: only the packets on the wire count.
const probePort = 9

// probeEncrypted watches ifname while it sends a few UDP datagrams from
// local to remote, and counts the ESP and the cleartext packets between
// the two addresses. It needs CAP_NET_RAW.
func probeEncrypted(ctx context.Context, ifname string, local, remote netip.Addr, ports ikePorts) (probeResult, error) {
	h, err := pcapgo.NewEthernetHandle(ifname)
	if err != nil {
		return probeResult{}, fmt.Errorf("capturing on %s (metroctl test needs root): %w", ifname, err)
	}
	var (
		mu   sync.Mutex
		res  probeResult
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			data, _, err := h.ReadPacketData()
			if err != nil {
				return
			}
			esp, clear := classifyProbe(data, local, remote, ports)
			mu.Lock()
			if esp {
				res.ESP++
			}
			if clear {
				res.Cleartext++
			}
			mu.Unlock()
		}
	}()
	sendErr := sendProbes(ctx, local, remote, 3)
	time.Sleep(300 * time.Millisecond) // let the last packets arrive
	h.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil && res.ESP == 0 {
		return res, sendErr
	}
	return res, nil
}

// sendTrigger sends one datagram from local to remote, to start an
// on-demand negotiation: without an SA, the pair's policy makes the
// kernel raise an ACQUIRE (and drop the datagram).
func sendTrigger(ctx context.Context, local, remote netip.Addr) error {
	return sendProbes(ctx, local, remote, 1)
}

// sendProbes sends n datagrams from local to remote's discard port, 100 ms
// apart.
func sendProbes(ctx context.Context, local, remote netip.Addr, n int) error {
	var d net.Dialer
	d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	c, err := d.DialContext(ctx, "udp", netip.AddrPortFrom(remote, probePort).String())
	if err != nil {
		return fmt.Errorf("probe socket %s -> %s: %w", local, remote, err)
	}
	defer c.Close()
	var lastErr error
	for range n {
		if _, err := c.Write([]byte("metroctl test probe")); err != nil {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		return fmt.Errorf("sending the probe to %s: %w", remote, lastErr)
	}
	return nil
}

// ikePorts are the UDP ports of IKE (IKE, NAT-T) in use, alternative ports
// included; on NATT ports a datagram is ESP in UDP unless it starts with
// the non-ESP marker.
type ikePorts struct{ IKE, NATT []uint16 }

// classifyProbe tells whether an Ethernet frame is ESP from local to
// remote, or a cleartext packet between them (not ESP, not IKE, not
// neighbour discovery).
func classifyProbe(frame []byte, local, remote netip.Addr, ports ikePorts) (esp, clear bool) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst netip.Addr
	var proto layers.IPProtocol
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		proto = ip.Protocol
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		proto = ip.NextHeader
	default:
		return false, false
	}
	src, dst = src.Unmap(), dst.Unmap()
	out := src == local && dst == remote
	if !out && !(src == remote && dst == local) {
		return false, false
	}
	switch proto {
	case layers.IPProtocolESP:
		return out, false
	case layers.IPProtocolUDP:
		if udp, ok := pkt.TransportLayer().(*layers.UDP); ok {
			has := func(ps []uint16) bool {
				return slices.Contains(ps, uint16(udp.SrcPort)) || slices.Contains(ps, uint16(udp.DstPort))
			}
			switch {
			case has(ports.IKE):
				return false, false // IKE
			case has(ports.NATT):
				// Non-ESP marker: IKE; otherwise ESP in UDP (RFC 3948).
				p := udp.Payload
				isIKE := len(p) >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0
				return out && !isIKE, false
			}
		}
	case layers.IPProtocolICMPv6:
		if icmp, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			if t := icmp.TypeCode.Type(); t >= 133 && t <= 137 {
				return false, false // neighbour discovery is never protected
			}
		}
	}
	return false, true
}

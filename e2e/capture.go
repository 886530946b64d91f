package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netns"
)

// Stats counts the IP packets a Capture saw between the two hosts'
// addresses, by what they carried.
type Stats struct {
	ESP   int // ESP, including ESP in UDP port 4500
	IKE   int // UDP 500, or UDP 4500 with the non-ESP marker
	ICMP  int // cleartext ICMP / ICMPv6, neighbour discovery excluded
	ND    int // ICMPv6 router/neighbour discovery (types 133-137)
	TCP   int // cleartext TCP
	UDP   int // cleartext UDP other than IKE
	Other int // other IP protocols
	// Dropped are frames the kernel dropped because the capture socket's
	// buffer was full (PACKET_STATISTICS): with Dropped > 0 the counts
	// above are a lower bound, and a test proving "no cleartext" from
	// them alone under a heavy flow needs another witness too.
	Dropped int
}

// Cleartext is the number of cleartext data packets (ICMP, TCP, UDP, other),
// the ones IPsec should have protected. IKE and ND are excluded.
func (s Stats) Cleartext() int { return s.ICMP + s.TCP + s.UDP + s.Other }

func (s Stats) String() string {
	return fmt.Sprintf("esp=%d ike=%d icmp=%d nd=%d tcp=%d udp=%d other=%d dropped=%d",
		s.ESP, s.IKE, s.ICMP, s.ND, s.TCP, s.UDP, s.Other, s.Dropped)
}

// Protocol numbers and ports the classifier looks at.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoESP    = 50
	protoICMPv6 = 58
	portIKE     = 500
	portNATT    = 4500
)

var captureSeq atomic.Uint32

// Capture records the frames on one host's link and classifies the packets
// between a pair of hosts.
type Capture struct {
	Path string // .pcap file written, in the test's artifacts directory

	handle *pcapgo.EthernetHandle
	addrs  map[netip.Addr]bool

	mu     sync.Mutex
	stats  Stats
	frames int
	w      *pcapgo.Writer
	f      *os.File
	werr   error

	stopOnce sync.Once
	done     chan struct{}
}

// Capture starts capturing on the host's eth0 and counts the packets
// exchanged with peer. The capture stops at cleanup, or with Stop.
func (h *Host) Capture(t testing.TB, peer *Host) *Capture {
	t.Helper()
	handle, err := openInNetns(h.Name, Link)
	if err != nil {
		t.Fatalf("e2e: capture on %s/%s: %v", h.Name, Link, err)
	}
	path := filepath.Join(h.out, fmt.Sprintf("%s-%s-%d.pcap", h.Name, Link, captureSeq.Add(1)))
	f, err := os.Create(path)
	if err != nil {
		handle.Close()
		t.Fatalf("e2e: %v", err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		handle.Close()
		f.Close()
		t.Fatalf("e2e: %s: %v", path, err)
	}
	c := &Capture{
		Path:   path,
		handle: handle,
		addrs:  map[netip.Addr]bool{h.V4: true, h.V6: true, peer.V4: true, peer.V6: true},
		w:      w,
		f:      f,
		done:   make(chan struct{}),
	}
	go c.loop()
	t.Cleanup(func() { c.Stop() })
	return c
}

// openInNetns opens a packet socket on ifname inside the named network
// namespace. The socket stays bound to that namespace; the thread that
// entered it is thrown away rather than reused.
func openInNetns(name, ifname string) (*pcapgo.EthernetHandle, error) {
	type result struct {
		h   *pcapgo.EthernetHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the goroutine exits with the thread still in the
		// namespace, so the runtime terminates the thread.
		runtime.LockOSThread()
		ns, err := netns.GetFromName(name)
		if err != nil {
			ch <- result{err: fmt.Errorf("netns %s: %w", name, err)}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			ch <- result{err: fmt.Errorf("entering netns %s: %w", name, err)}
			return
		}
		h, err := pcapgo.NewEthernetHandle(ifname)
		ch <- result{h, err}
	}()
	r := <-ch
	return r.h, r.err
}

func (c *Capture) loop() {
	defer close(c.done)
	for {
		data, ci, err := c.handle.ReadPacketData()
		if err != nil {
			return // closed by Stop
		}
		c.mu.Lock()
		c.frames++
		if c.werr == nil {
			if ci.CaptureLength > 65536 {
				ci.CaptureLength = 65536
				data = data[:65536]
			}
			c.werr = c.w.WritePacket(ci, data)
		}
		c.stats.add(classify(data, c.addrs))
		c.mu.Unlock()
	}
}

// Stats returns the counts so far.
func (c *Capture) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Stop waits until no frame has arrived for 200 ms (so packets already on
// the wire are counted), stops capturing, closes the pcap file and returns
// the final counts.
func (c *Capture) Stop() (Stats, error) {
	var err error
	c.stopOnce.Do(func() {
		last := -1
		for i := 0; i < 50; i++ {
			c.mu.Lock()
			n := c.frames
			c.mu.Unlock()
			if n == last {
				break
			}
			last = n
			time.Sleep(200 * time.Millisecond)
		}
		if st, serr := c.handle.Stats(); serr == nil {
			c.mu.Lock()
			c.stats.Dropped += int(st.Drops)
			c.mu.Unlock()
		}
		c.handle.Close()
		<-c.done
		c.mu.Lock()
		defer c.mu.Unlock()
		err = errors.Join(c.werr, c.f.Close())
		if err != nil {
			err = fmt.Errorf("e2e: writing %s: %w", c.Path, err)
		}
	})
	return c.Stats(), err
}

// kind is what classify found in one frame.
type kind int

const (
	kindIgnored kind = iota // not IP, or not between the pair
	kindESP
	kindIKE
	kindICMP
	kindND
	kindTCP
	kindUDP
	kindOther
)

func (s *Stats) add(k kind) {
	switch k {
	case kindESP:
		s.ESP++
	case kindIKE:
		s.IKE++
	case kindICMP:
		s.ICMP++
	case kindND:
		s.ND++
	case kindTCP:
		s.TCP++
	case kindUDP:
		s.UDP++
	case kindOther:
		s.Other++
	}
}

// classify decodes an Ethernet frame and says what it carries, when it is
// an IP packet whose source and destination are both in addrs.
func classify(frame []byte, addrs map[netip.Addr]bool) kind {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst netip.Addr
	var proto uint8
	var payload []byte
	switch {
	case pkt.Layer(layers.LayerTypeIPv4) != nil:
		ip4 := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		proto = uint8(ip4.Protocol)
		payload = ip4.Payload
	case pkt.Layer(layers.LayerTypeIPv6) != nil:
		ip6 := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		src, _ = netip.AddrFromSlice(ip6.SrcIP)
		dst, _ = netip.AddrFromSlice(ip6.DstIP)
		proto = uint8(ip6.NextHeader)
		payload = ip6.Payload
	default:
		return kindIgnored
	}
	if !addrs[src] || !addrs[dst] {
		return kindIgnored
	}
	switch proto {
	case protoESP:
		return kindESP
	case protoICMP:
		return kindICMP
	case protoICMPv6:
		if len(payload) > 0 && payload[0] >= 133 && payload[0] <= 137 {
			return kindND
		}
		return kindICMP
	case protoTCP:
		return kindTCP
	case protoUDP:
		if len(payload) < 8 {
			return kindUDP
		}
		sport := binary.BigEndian.Uint16(payload[0:2])
		dport := binary.BigEndian.Uint16(payload[2:4])
		body := payload[8:]
		switch {
		case sport == portNATT || dport == portNATT:
			// RFC 3948: a zero 4-byte marker means IKE, a one-byte 0xff keepalive is neither.
			if len(body) >= 4 && binary.BigEndian.Uint32(body) == 0 {
				return kindIKE
			}
			if len(body) == 1 && body[0] == 0xff {
				return kindIKE
			}
			return kindESP
		case sport == portIKE || dport == portIKE:
			return kindIKE
		}
		return kindUDP
	}
	return kindOther
}

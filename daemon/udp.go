package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"

	"metro/xfrm"
)

// udpTransport holds, per local address, the IKE socket and the
// NAT-traversal socket. Each carries a per-socket IPsec bypass policy so
// that IKE is never caught by metro's own policies (for instance while a
// peer restarts and old SAs remain). The NAT-traversal socket is also the
// kernel's ESP-in-UDP endpoint (UDP_ENCAP_ESPINUDP): the kernel takes the
// ESP packets, and IKE messages on it carry a four-byte zero non-ESP marker
// (RFC 3948 2.2), which this transport adds and strips.
type udpTransport struct {
	log      *slog.Logger
	nattPort uint16
	mu       sync.Mutex
	socks    map[netip.AddrPort]*net.UDPConn
	ready    chan struct{} // closed by start: reading begins
}

func newUDPTransport(log *slog.Logger, nattPort uint16) *udpTransport {
	return &udpTransport{log: log, nattPort: nattPort, socks: map[netip.AddrPort]*net.UDPConn{}, ready: make(chan struct{})}
}

// start lets the sockets' readers run. metrod binds its ports first (so
// that a port in use stops it before anything is installed) and reads only
// once every peer is known: a peer's early IKE_SA_INIT waits in the socket
// buffer instead of being refused as coming from an unknown address.
func (t *udpTransport) start() {
	select {
	case <-t.ready:
	default:
		close(t.ready)
	}
}

// socketBuffer is the receive buffer of the IKE sockets: a restarted node
// of a large mesh gets a burst of IKE_SA_INITs.
const socketBuffer = 4 << 20

// nonESPMarker precedes IKE messages on the NAT-traversal port.
var nonESPMarker = []byte{0, 0, 0, 0}

// listen opens the IKE and NAT-traversal sockets of local and calls recv
// for every IKE message.
func (t *udpTransport) listen(local netip.Addr, port uint16, recv func(b []byte, local, remote netip.AddrPort)) error {
	if err := t.open(netip.AddrPortFrom(local, port), false, recv); err != nil {
		return err
	}
	if err := t.open(netip.AddrPortFrom(local, t.nattPort), true, recv); err != nil {
		t.closeOne(netip.AddrPortFrom(local, port))
		return err
	}
	return nil
}

func (t *udpTransport) open(la netip.AddrPort, natt bool, recv func(b []byte, local, remote netip.AddrPort)) error {
	network := "udp4"
	if la.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(la))
	if err != nil {
		return fmt.Errorf("listening for IKE on %s: %w", la, err)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		err = xfrm.BypassSocket(rc, la.Addr().Is6())
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("IKE socket %s: setting the IPsec bypass policy: %w", la, err)
	}
	if natt {
		var serr error
		err = rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP)
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("NAT-traversal socket %s: enabling ESP-in-UDP: %w", la, err)
		}
	}
	if err := c.SetReadBuffer(socketBuffer); err != nil {
		t.log.Debug("IKE socket: cannot enlarge the receive buffer", "local", la, "err", err)
	}
	t.mu.Lock()
	t.socks[la] = c
	t.mu.Unlock()
	go func() {
		<-t.ready
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.log.Error("reading IKE socket", "local", la, "err", err)
				}
				return
			}
			msg := buf[:n]
			if natt {
				if n == 1 && msg[0] == 0xff {
					continue // NAT-T keepalive
				}
				if n < 4 || [4]byte(msg[:4]) != [4]byte{} {
					continue // not IKE (ESP is taken by the kernel)
				}
				msg = msg[4:]
			}
			b := make([]byte, len(msg))
			copy(b, msg)
			recv(b, la, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
		}
	}()
	return nil
}

// Send implements ike.Transport: b goes out of the socket bound to local.
func (t *udpTransport) Send(b []byte, local, remote netip.AddrPort) error {
	t.mu.Lock()
	c := t.socks[local]
	t.mu.Unlock()
	if c == nil {
		return fmt.Errorf("no IKE socket on %s", local)
	}
	if local.Port() == t.nattPort && !(len(b) == 1 && b[0] == 0xff) {
		b = append(append(make([]byte, 0, len(b)+4), nonESPMarker...), b...)
	}
	_, err := c.WriteToUDPAddrPort(b, remote)
	return err
}

func (t *udpTransport) closeOne(la netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.socks[la]; c != nil {
		c.Close()
		delete(t.socks, la)
	}
}

func (t *udpTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.socks {
		c.Close()
	}
}

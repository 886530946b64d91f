package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"metro/xfrm"
)

// udpTransport holds one UDP socket per local address, each with a
// per-socket IPsec bypass policy so that IKE is never caught by metro's own
// policies (for instance while a peer restarts and old SAs remain).
type udpTransport struct {
	log   *slog.Logger
	mu    sync.Mutex
	socks map[netip.Addr]*net.UDPConn
}

func newUDPTransport(log *slog.Logger) *udpTransport {
	return &udpTransport{log: log, socks: map[netip.Addr]*net.UDPConn{}}
}

// listen opens the socket for local:port and calls recv for every datagram.
func (t *udpTransport) listen(local netip.Addr, port uint16, recv func(b []byte, local, remote netip.AddrPort)) error {
	network := "udp4"
	if local.Is6() {
		network = "udp6"
	}
	la := netip.AddrPortFrom(local, port)
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(la))
	if err != nil {
		return fmt.Errorf("listening for IKE on %s: %w", la, err)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		err = xfrm.BypassSocket(rc, local.Is6())
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("IKE socket %s: setting the IPsec bypass policy: %w", la, err)
	}
	t.mu.Lock()
	t.socks[local] = c
	t.mu.Unlock()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.log.Error("reading IKE socket", "local", la, "err", err)
				}
				return
			}
			b := make([]byte, n)
			copy(b, buf[:n])
			recv(b, la, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
		}
	}()
	return nil
}

// Send implements ike.Transport.
func (t *udpTransport) Send(b []byte, local, remote netip.AddrPort) error {
	t.mu.Lock()
	c := t.socks[local.Addr()]
	t.mu.Unlock()
	if c == nil {
		return fmt.Errorf("no IKE socket on %s", local.Addr())
	}
	_, err := c.WriteToUDPAddrPort(b, remote)
	return err
}

func (t *udpTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.socks {
		c.Close()
	}
}

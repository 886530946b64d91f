package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// udpTransport implements ike.Transport for the load generator: one UDP
// socket per initiator address, all sending to one responder. The node's
// idea of the remote port is ignored: every datagram goes to target (the
// responder may listen on another port than the initiators, as charon on
// a wildcard socket must).
type udpTransport struct {
	log    *slog.Logger
	target netip.AddrPort
	port   uint16

	mu    sync.Mutex
	socks map[netip.Addr]*net.UDPConn
}

func newUDPTransport(log *slog.Logger, target netip.AddrPort, port uint16) *udpTransport {
	return &udpTransport{log: log, target: target, port: port, socks: map[netip.Addr]*net.UDPConn{}}
}

// open binds local:port. Datagrams queue in the socket until serve runs.
func (t *udpTransport) open(local netip.Addr) (*net.UDPConn, error) {
	la := netip.AddrPortFrom(local, t.port)
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(la))
	if err != nil {
		return nil, fmt.Errorf("binding initiator socket %s: %w", la, err)
	}
	t.mu.Lock()
	t.socks[local] = c
	t.mu.Unlock()
	return c, nil
}

// serve hands every datagram of c to recv until c is closed.
func (t *udpTransport) serve(c *net.UDPConn, recv func(b []byte, local, remote netip.AddrPort)) {
	la := c.LocalAddr().(*net.UDPAddr).AddrPort()
	la = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.log.Debug("reading initiator socket", "local", la, "err", err)
			}
			return
		}
		b := make([]byte, n)
		copy(b, buf[:n])
		recv(b, la, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// Send implements ike.Transport.
func (t *udpTransport) Send(b []byte, local, _ netip.AddrPort) error {
	t.mu.Lock()
	c := t.socks[local.Addr()]
	t.mu.Unlock()
	if c == nil {
		return fmt.Errorf("no initiator socket on %s", local.Addr())
	}
	_, err := c.WriteToUDPAddrPort(b, t.target)
	return err
}

// closeAll closes every socket.
func (t *udpTransport) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for a, c := range t.socks {
		c.Close()
		delete(t.socks, a)
	}
}

//go:build linux

package xfrm

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// BypassSocket attaches per-socket "allow" policies for both directions to
// the socket behind c (IP_XFRM_POLICY for IPv4 sockets, IPV6_XFRM_POLICY
// for IPv6 ones), so that IKE packets are never captured by the protecting
// policies. Socket policies take precedence over the main table whatever
// its priorities.
//
// The kernel accepts only the option matching the socket's family; the
// policy's selector is empty and so also covers IPv4-mapped traffic on an
// IPv6 socket. metrod nevertheless binds separate IPv4 and IPv6 sockets.
// Setting socket policies needs CAP_NET_ADMIN.
func BypassSocket(c syscall.RawConn, v6 bool) error {
	level, opt, fam := unix.IPPROTO_IP, unix.IP_XFRM_POLICY, uint16(afInet)
	if v6 {
		level, opt, fam = unix.IPPROTO_IPV6, unix.IPV6_XFRM_POLICY, afInet6
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, dir := range []uint8{xfrmPolicyIn, xfrmPolicyOut} {
			b := encodeSocketBypass(fam, dir)
			if err := unix.SetsockoptString(int(fd), level, opt, string(b)); err != nil {
				serr = fmt.Errorf("xfrm: setsockopt %s dir %d: %w", optName(v6), dir, err)
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("xfrm: bypass socket: %w", err)
	}
	return serr
}

func optName(v6 bool) string {
	if v6 {
		return "IPV6_XFRM_POLICY"
	}
	return "IP_XFRM_POLICY"
}

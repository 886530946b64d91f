package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// LocalAddrs returns this host's unicast addresses as the kernel reports
// them (RTM_GETADDR over netlink, all links, IPv4 and IPv6), sorted and
// without duplicates. Loopback addresses, IPv6 link-local addresses and
// multicast addresses are left out; IPv4 link-local addresses are kept.
//
// Addresses still in IPv6 duplicate address detection (IFA_F_TENTATIVE)
// or that failed it (IFA_F_DADFAILED) are included: they are this host's
// configured addresses, and a peer list that changed while DAD runs would
// only churn.
func LocalAddrs() ([]netip.Addr, error) {
	return localAddrs(isLocalCandidate)
}

// LocalAddrsWithLoopback is LocalAddrs plus the loopback addresses other
// than 127.0.0.1 and ::1 (for instance 127.0.1.5, once added to lo). It is
// for metrod's in-memory kernel backend, which installs nothing: there,
// several metrods (or metrod and a load generator) may run on one host,
// each on its own loopback address, to benchmark IKE or rehearse a
// configuration. 127.0.0.1 and ::1 stay out: every host has them, so they
// cannot name one peer. With the real kernel, loopback addresses stay out
// entirely: traffic on lo never leaves the host, so protecting it with
// ESP makes no sense.
func LocalAddrsWithLoopback() ([]netip.Addr, error) {
	return localAddrs(func(a netip.Addr) bool {
		return isLocalCandidate(a) || isExtraLoopback(a)
	})
}

// isExtraLoopback reports whether a is a loopback address other than
// 127.0.0.1 and ::1.
func isExtraLoopback(a netip.Addr) bool {
	return a.IsLoopback() && a != netip.IPv6Loopback() && a != netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func localAddrs(keep func(netip.Addr) bool) ([]netip.Addr, error) {
	var (
		list []netlink.Addr
		err  error
	)
	// The kernel interrupts a dump when addresses change during it; retry.
	for range 5 {
		list, err = netlink.AddrList(nil, netlink.FAMILY_ALL)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listing local addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range list {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !keep(ip) {
			continue
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// isLocalCandidate reports whether a local address can take part in IPsec
// with peers.
func isLocalCandidate(a netip.Addr) bool {
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsLoopback(), a.IsMulticast():
		return false
	case a.Is6() && a.IsLinkLocalUnicast():
		return false
	}
	return true
}

package policy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"metro/auth"
)

// CertPeer is the certificate side of a Peer: the server names whose
// addresses include the peer's, and the certificate configuration.
type CertPeer struct {
	Names []string // full names, sorted
	Creds *auth.CertSet
}

// Source names where a peer comes from, for logs: its .psk file or its
// server names.
func (p Peer) Source() string {
	switch {
	case p.PSK != nil:
		return p.PSK.Path
	case p.Cert != nil:
		return "certificate server " + strings.Join(p.Cert.Names, ", ")
	}
	return "?"
}

// Resolver looks up host names; net.DefaultResolver implements it (DNS
// and /etc/hosts, as the system is configured).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolveTimeout bounds one name lookup.
const ResolveTimeout = 5 * time.Second

// Resolved is the result of looking up the certificate servers.
type Resolved struct {
	Addrs    map[string][]netip.Addr // full name -> A and AAAA addresses, sorted
	Failures map[string]error        // full name -> why it did not resolve
}

// ResolveServers looks up the A and AAAA addresses of every server of the
// set, this host included. A name that does not resolve is recorded in
// Failures (a warning for the caller, retried later), never an error.
func ResolveServers(ctx context.Context, r Resolver, set *auth.CertSet) Resolved {
	res := Resolved{Addrs: map[string][]netip.Addr{}, Failures: map[string]error{}}
	for _, sv := range set.Servers {
		name := set.FQDN(sv)
		lctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
		addrs, err := r.LookupNetIP(lctx, "ip", name)
		cancel()
		if err == nil && len(addrs) == 0 {
			err = fmt.Errorf("no A or AAAA record")
		}
		if err != nil {
			res.Failures[name] = err
			continue
		}
		for i, a := range addrs {
			addrs[i] = a.Unmap()
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		res.Addrs[name] = slices.Compact(addrs)
	}
	return res
}

// CertPeers derives the certificate peers: every address of every other
// server, paired with this host's addresses of the same family. This
// host's addresses are those its own name resolves to that are local;
// when its name gives none of a family, route picks the local source
// address towards the peer (nil: none). Addresses that are local are
// never peers. An address of several servers is one peer naming them all.
// The result is sorted by remote, then local address.
func CertPeers(locals []netip.Addr, set *auth.CertSet, res Resolved, route func(remote netip.Addr) (netip.Addr, bool)) []Peer {
	if set == nil || set.Local == nil {
		return nil
	}
	isLocal := map[netip.Addr]bool{}
	for _, a := range locals {
		isLocal[a.Unmap()] = true
	}
	var mine []netip.Addr
	for _, a := range res.Addrs[set.Local.Name] {
		if isLocal[a] {
			mine = append(mine, a)
		}
	}
	names := map[netip.Addr][]string{}
	for _, n := range set.Peers() {
		for _, a := range res.Addrs[n] {
			if !isLocal[a] {
				names[a] = append(names[a], n)
			}
		}
	}
	var peers []Peer
	for r, ns := range names {
		var ls []netip.Addr
		for _, l := range mine {
			if l.Is4() == r.Is4() {
				ls = append(ls, l)
			}
		}
		if len(ls) == 0 && route != nil {
			if l, ok := route(r); ok && isLocal[l.Unmap()] {
				ls = append(ls, l.Unmap())
			}
		}
		slices.Sort(ns)
		for _, l := range ls {
			peers = append(peers, Peer{Local: l, Remote: r, Cert: &CertPeer{Names: ns, Creds: set}})
		}
	}
	slices.SortFunc(peers, func(a, b Peer) int {
		if c := a.Remote.Compare(b.Remote); c != 0 {
			return c
		}
		return a.Local.Compare(b.Local)
	})
	return peers
}

// RouteSource returns the source address the kernel would use towards
// remote (no packet is sent).
func RouteSource(remote netip.Addr) (netip.Addr, bool) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 500)))
	if err != nil {
		return netip.Addr{}, false
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), true
}

// MergePeers combines PSK and certificate peers. A remote address that is
// both is an error naming the .psk file and the server names.
func MergePeers(psk, cert []Peer) ([]Peer, error) {
	byRemote := map[netip.Addr]Peer{}
	for _, p := range psk {
		byRemote[p.Remote] = p
	}
	var errs []string
	for _, c := range cert {
		if p, ok := byRemote[c.Remote]; ok {
			errs = append(errs, fmt.Sprintf("address %s is a pre-shared key peer (%s) and a certificate peer (%s)",
				c.Remote, p.PSK.Path, strings.Join(c.Cert.Names, ", ")))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		errs = slices.Compact(errs)
		return nil, fmt.Errorf("%s: authenticate each address one way only (remove it from the .psk file, or remove the certificate server)", strings.Join(errs, "; "))
	}
	out := append(slices.Clone(psk), cert...)
	slices.SortFunc(out, func(a, b Peer) int {
		if c := a.Remote.Compare(b.Remote); c != 0 {
			return c
		}
		return a.Local.Compare(b.Local)
	})
	return out, nil
}

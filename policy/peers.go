package policy

import (
	"net/netip"
	"slices"

	"metro/auth"
)

// Peer is a remote host this host protects its traffic with, as seen from
// one of this host's addresses.
type Peer struct {
	Local, Remote netip.Addr
	PSK           *auth.PSKFile // the file whose key authenticates the pair
	Cert          *CertPeer     // or: certificate authentication (certpeers.go)
}

// PSKPeers derives the peers from the pre-shared key files: every address
// of a file that also lists one of this host's addresses (locals) is a
// peer of that local address, if both are of the same family. Any number of
// local addresses per family take part. A remote address that is one of
// the locals is skipped.
//
// A (local, remote) pair listed together in several files appears once,
// with the first such file in name order (the rule of auth.PSKSet.Lookup).
// The result is sorted by remote address, then local address.
func PSKPeers(locals []netip.Addr, set *auth.PSKSet) []Peer {
	if set == nil {
		return nil
	}
	isLocal := make(map[netip.Addr]bool, len(locals))
	for _, a := range locals {
		isLocal[a.Unmap()] = true
	}
	type pair struct{ local, remote netip.Addr }
	seen := map[pair]bool{}
	var peers []Peer
	for _, f := range set.Files {
		var mine []netip.Addr
		for _, a := range f.Addrs {
			if isLocal[a.Unmap()] {
				mine = append(mine, a.Unmap())
			}
		}
		for _, l := range mine {
			for _, r := range f.Addrs {
				r = r.Unmap()
				if isLocal[r] || r.Is4() != l.Is4() {
					continue
				}
				p := pair{l, r}
				if seen[p] {
					continue
				}
				seen[p] = true
				peers = append(peers, Peer{Local: l, Remote: r, PSK: f})
			}
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

package xfrm

import "net/netip"

// hostPrefix is the /32 or /128 prefix of a.
func hostPrefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, a.BitLen())
}

// ProtectPolicies returns the two policies that force traffic between
// local and remote through ESP transport-mode states of reqid: Out
// (local->remote) and In (remote->local), at PriorityProtect.
func ProtectPolicies(local, remote netip.Addr, reqid uint32) []Policy {
	l, r := hostPrefix(local.Unmap()), hostPrefix(remote.Unmap())
	return []Policy{
		{Src: l, Dst: r, Dir: DirOut, Priority: PriorityProtect, Reqid: reqid},
		{Src: r, Dst: l, Dir: DirIn, Priority: PriorityProtect, Reqid: reqid},
	}
}

// ICMPv6 neighbour discovery message types (RFC 4861).
var ndTypes = []uint16{
	133, // Router Solicitation
	134, // Router Advertisement
	135, // Neighbor Solicitation
	136, // Neighbor Advertisement
	137, // Redirect
}

// NDBypassPolicies returns, for IPv6 peers, bypass policies for ICMPv6
// neighbour discovery (types 133-137, any code) between local and remote
// in both directions, at PriorityBypass, so that the protecting policies
// never capture the neighbour unreachability probes between the peers
// (multicast solicitations are not covered by host-pair policies anyway).
// For IPv4 it returns nil: ARP is not IP.
func NDBypassPolicies(local, remote netip.Addr) []Policy {
	local, remote = local.Unmap(), remote.Unmap()
	if !local.Is6() || !remote.Is6() {
		return nil
	}
	l, r := hostPrefix(local), hostPrefix(remote)
	out := make([]Policy, 0, 2*len(ndTypes))
	for _, typ := range ndTypes {
		out = append(out,
			Policy{Src: l, Dst: r, Dir: DirOut, Proto: ipprotoICMPv6, SrcPort: typ, Priority: PriorityBypass, Bypass: true},
			Policy{Src: r, Dst: l, Dir: DirIn, Proto: ipprotoICMPv6, SrcPort: typ, Priority: PriorityBypass, Bypass: true},
		)
	}
	return out
}

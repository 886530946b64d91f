package firewall

import (
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// udpDstPorts matches conntrack entries of UDP datagrams sent to one of
// the ports (in the original direction).
type udpDstPorts []uint16

func (f udpDstPorts) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	return flow.Forward.Protocol == unix.IPPROTO_UDP && slices.Contains(f, flow.Forward.DstPort)
}

// flushConntrack deletes the conntrack entries of UDP flows to ports: a
// NAT decision is taken at a flow's first packet, so flows seen before a
// redirect was added (or removed) would keep the old behaviour for as long
// as traffic flows. Failures are logged: conntrack may well be absent.
func (f *NFT) flushConntrack(ports []uint16) {
	if len(ports) == 0 {
		return
	}
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, fam, udpDstPorts(ports))
		if err != nil {
			f.log.Debug("firewall: flushing conntrack entries", "ports", ports, "err", err)
			continue
		}
		if n > 0 {
			f.log.Info("firewall: flushed conntrack entries of the alternative ports", "ports", ports, "entries", n)
		}
	}
}

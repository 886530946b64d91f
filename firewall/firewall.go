package firewall

import (
	"fmt"
	"net/netip"
	"slices"
)

// TableName is the name of metro's nftables table (family inet).
const TableName = "metro"

// Chain names in the metro table.
const (
	ChainAltPorts    = "alternative-ports" // nat prerouting: alternative port DNAT
	ChainMSSFromPeer = "mss-from-peers"    // filter prerouting: SYNs from peers
	ChainMSSToPeer   = "mss-to-peers"      // filter postrouting: SYNs to peers
)

// Set names in the metro table.
const (
	SetPeers4 = "peers4"
	SetPeers6 = "peers6"
)

// Redirect sends UDP datagrams for Local:From to Local:To.
type Redirect struct {
	Local netip.Addr // an address IKE listens on
	From  uint16     // the alternative port
	To    uint16     // the listening port
}

func (r Redirect) String() string {
	return fmt.Sprintf("udp %s -> %s", netip.AddrPortFrom(r.Local, r.From), netip.AddrPortFrom(r.Local, r.To))
}

// Ruleset is everything metro wants in its table. The zero Ruleset wants
// nothing: applying it removes the table.
type Ruleset struct {
	Redirects []Redirect
	// MSS is the TCP MSS that SYNs to and from Peers are clamped to; 0
	// disables clamping.
	MSS   int
	Peers []netip.Addr
}

// Empty reports whether the ruleset needs no table at all.
func (r Ruleset) Empty() bool {
	return len(r.Redirects) == 0 && (r.MSS == 0 || len(r.Peers) == 0)
}

// Check validates the ruleset before anything is sent to the kernel.
func (r Ruleset) Check() error {
	for _, d := range r.Redirects {
		if !d.Local.IsValid() || d.Local.Zone() != "" {
			return fmt.Errorf("firewall: redirect %v: invalid local address", d)
		}
		if d.From == 0 || d.To == 0 {
			return fmt.Errorf("firewall: redirect %v: port 0", d)
		}
		if d.From == d.To {
			return fmt.Errorf("firewall: redirect %v: alternative port equals the listening port", d)
		}
	}
	if r.MSS < 0 || r.MSS > 65535 {
		return fmt.Errorf("firewall: MSS %d out of range", r.MSS)
	}
	for _, p := range r.Peers {
		if !p.IsValid() || p.Zone() != "" {
			return fmt.Errorf("firewall: invalid peer address %v", p)
		}
	}
	return nil
}

// altPorts returns the distinct alternative ports of the ruleset.
func (r Ruleset) altPorts() []uint16 {
	var ps []uint16
	for _, d := range r.Redirects {
		if !slices.Contains(ps, d.From) {
			ps = append(ps, d.From)
		}
	}
	return ps
}

// Firewall installs metro's table.
type Firewall interface {
	// Apply replaces metro's table with one holding exactly r (removing
	// the table when r is empty), in one atomic step.
	Apply(r Ruleset) error
	// Remove deletes metro's table; it is not an error when there is none.
	Remove() error
}

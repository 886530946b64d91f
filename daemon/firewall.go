package daemon

import (
	"log/slog"
	"net/netip"
	"slices"

	"metro/firewall"
)

// rulesetFor is metro's nftables table for a configuration: the
// alternative ports redirected to the listening ports on every address IKE
// listens on (unless ignoreAlt), and MSS clamping towards every peer.
func rulesetFor(s *setup, ignoreAlt bool) firewall.Ruleset {
	var r firewall.Ruleset
	var locals, remotes []netip.Addr
	for _, p := range s.peers {
		if !slices.Contains(locals, p.Local) {
			locals = append(locals, p.Local)
		}
		if !slices.Contains(remotes, p.Remote) {
			remotes = append(remotes, p.Remote)
		}
	}
	if !ignoreAlt {
		for _, l := range locals {
			for _, pp := range [][2]uint16{
				{s.cfg.IKEAltPort, s.cfg.IKEPort},
				{s.cfg.NATTAltPort, s.cfg.NATTPort},
			} {
				if pp[0] != 0 && pp[0] != pp[1] {
					r.Redirects = append(r.Redirects, firewall.Redirect{Local: l, From: pp[0], To: pp[1]})
				}
			}
		}
	}
	if s.cfg.MSS > 0 {
		r.MSS = s.cfg.MSS
		r.Peers = remotes
	}
	return r
}

// applyFirewall installs metro's table for s, or removes a stale one when
// the configuration wants none.
func applyFirewall(fw firewall.Firewall, s *setup, ignoreAlt bool, log *slog.Logger) error {
	r := rulesetFor(s, ignoreAlt)
	if ignoreAlt && (s.cfg.IKEAltPort != 0 || s.cfg.NATTAltPort != 0) {
		log.Info("--ignore-alternative-ports: the alternative ports are not redirected",
			"ike_alt_port", s.cfg.IKEAltPort, "natt_alt_port", s.cfg.NATTAltPort)
	}
	if r.Empty() {
		return fw.Remove()
	}
	return fw.Apply(r)
}

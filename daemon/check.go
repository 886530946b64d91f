package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"metro/ike/ikecrypto"
)

// Check loads and validates everything Run would (configuration, PSK
// files, proposals) without touching the kernel, and writes the effective
// configuration to w: every variable with its value and source, the
// proposals, the peers and the firewall rules metrod would install. No key
// material is printed. Warnings go to o.Log. A configuration problem is
// returned as a *ConfigError.
func Check(o Options, w io.Writer) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := load(o, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# metrod configuration: OK\n# effective configuration (value, then where it came from)\n")
	for _, kv := range s.cfg.Effective() {
		fmt.Fprintf(w, "%s=%s\t# %s\n", kv.Name, shellValue(kv.Value), kv.Source)
	}
	ikeProp, espProp := s.ikeProp, s.espProp
	if ikeProp == nil {
		ikeProp = ikecrypto.DefaultIKEProposals()
	}
	if espProp == nil {
		espProp = ikecrypto.DefaultESPProposals()
	}
	fmt.Fprintf(w, "\n# IKE proposals: %s\n", proposalList(ikeProp))
	fmt.Fprintf(w, "# ESP proposals: %s\n", proposalList(espProp))
	fmt.Fprintf(w, "# local addresses: %s\n", addrList(s.locals))
	fmt.Fprintf(w, "# peers: %d\n", len(s.peers))
	for _, p := range s.peers {
		fmt.Fprintf(w, "#   %s -> %s (%s)\n", p.Local, p.Remote, authSource(p))
	}
	r := rulesetFor(s, o.IgnoreAltPorts)
	fmt.Fprintf(w, "# nftables table inet metro:")
	if r.Empty() {
		fmt.Fprintf(w, " none\n")
		return nil
	}
	fmt.Fprintln(w)
	for _, d := range r.Redirects {
		fmt.Fprintf(w, "#   redirect %s\n", d)
	}
	if r.MSS > 0 && len(r.Peers) > 0 {
		fmt.Fprintf(w, "#   clamp TCP MSS to %d for %d peer addresses\n", r.MSS, len(r.Peers))
	}
	return nil
}

func proposalList(ps []ikecrypto.Proposal) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return strings.Join(ss, ",")
}

// shellValue quotes a value for a config.env line when it needs it.
func shellValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"'#$\\") {
		return fmt.Sprintf("%q", v)
	}
	return v
}

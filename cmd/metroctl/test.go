package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"metro/control"
	"metro/daemon"
	"metro/policy"
)

// checkResult is the outcome of one check of `metroctl test`.
type checkResult struct {
	Name   string // what was checked, e.g. "traffic to 10.0.0.2 is encrypted"
	OK     bool
	Detail string // why it failed, or what was found
}

// checker runs the checks of `metroctl test`. Its functions are the
// outside world, replaced in tests.
type checker struct {
	configFile string
	// config validates the configuration as metrod would and returns
	// the IKE ports it uses.
	config func() (ikePorts, error)
	// status asks metrod for its status.
	status func(ctx context.Context) (*control.Status, error)
	// route finds the interface the kernel sends to peer through.
	route func(peer netip.Addr) (ifname string, err error)
	// probe sends a few datagrams from local to remote and watches ifname.
	probe func(ctx context.Context, ifname string, local, remote netip.Addr, ports ikePorts) (probeResult, error)
	// trigger sends one datagram from local to remote: with no SA, the
	// pair's policy holds it and the kernel raises an ACQUIRE, on which
	// metrod negotiates (METRO_START=on-demand).
	trigger func(ctx context.Context, local, remote netip.Addr) error
	// settle bounds the wait for negotiations started by trigger
	// (default triggerSettle); poll is the status polling interval
	// meanwhile (default triggerPoll).
	settle, poll time.Duration
}

// Waiting for negotiations that the test started itself.
const (
	triggerSettle = 10 * time.Second
	triggerPoll   = 200 * time.Millisecond
)

// waitsForTraffic tells whether metrod negotiates with the peer only once
// traffic asks: idle (on demand), or failed without an SA (on demand no
// retry follows; with connect, a packet just brings the retry forward).
func waitsForTraffic(p *control.PeerStatus) bool {
	return p.IKE == nil && (p.State == control.StateIdle || p.State == control.StateFailed)
}

// triggered is what startNegotiations did for one peer.
type triggered struct {
	before control.PeerStatus // the peer's status before the datagram
	err    error              // sending the datagram failed
}

// startNegotiations sends one datagram to every peer that waits for
// traffic (see waitsForTraffic), so that the kernel raises an ACQUIRE and
// metrod negotiates, as a packet of any application would; then it polls
// metrod until each of those peers is established or its negotiation is
// over, for up to settle. It returns the last status and the peers it
// triggered, by remote address.
func (c *checker) startNegotiations(ctx context.Context, st *control.Status) (*control.Status, map[string]triggered) {
	started := map[string]triggered{}
	for _, p := range st.Peers {
		if !waitsForTraffic(&p) {
			continue
		}
		remote, err1 := netip.ParseAddr(p.Remote)
		local, err2 := netip.ParseAddr(p.Local)
		if err1 != nil || err2 != nil {
			continue
		}
		started[p.Remote] = triggered{before: p, err: c.trigger(ctx, local, remote)}
	}
	if len(started) == 0 {
		return st, started
	}
	settle, poll := cmp.Or(c.settle, triggerSettle), cmp.Or(c.poll, triggerPoll)
	deadline := time.Now().Add(settle)
	for {
		select {
		case <-ctx.Done():
			return st, started
		case <-time.After(poll):
		}
		next, err := c.status(ctx)
		if err != nil {
			return st, started // metrod went away: the checks say so
		}
		st = next
		pending := false
		for _, p := range st.Peers {
			if t, ok := started[p.Remote]; ok && !settled(&t.before, &p) {
				pending = true
			}
		}
		if !pending || time.Now().After(deadline) {
			return st, started
		}
	}
}

// settled tells whether a triggered peer's negotiation is over: the peer
// is established, or its state left the one before the datagram for
// another than connecting (a new failure, or idle again).
func settled(before, now *control.PeerStatus) bool {
	if now.State == control.StateEstablished {
		return now.IKE != nil && len(now.Children) > 0
	}
	changed := now.State != before.State || !now.Since.Equal(before.Since)
	return changed && now.State != control.StateConnecting
}

// triggerDetail explains a triggered peer that is not established.
func triggerDetail(t triggered, now *control.PeerStatus, settle time.Duration) string {
	switch {
	case t.err != nil:
		return fmt.Sprintf("sending a datagram to start the negotiation: %v", t.err)
	case now.State == t.before.State && now.Since.Equal(t.before.Since):
		return fmt.Sprintf("still %s %s after a datagram to the peer: the kernel raised no ACQUIRE "+
			"(at most one per pair every 30 s, net.core.xfrm_acq_expires; --wait retries)", now.State, settle)
	case now.State == control.StateConnecting:
		return fmt.Sprintf("negotiation started by a datagram of this test, not done after %s", settle)
	}
	return ""
}

// probeResult counts what a probe saw on the wire between the two hosts.
type probeResult struct {
	ESP       int // ESP (or ESP in UDP) packets from local to remote
	Cleartext int // packets between them that are neither ESP nor IKE
}

// run runs every check once, in order: configuration, metrod, then per
// peer route, IKE SA and encryption. A failed check skips the later checks
// of the same peer that depend on it.
func (c *checker) run(ctx context.Context) []checkResult {
	var rs []checkResult
	add := func(ok bool, name, detail string, args ...any) bool {
		rs = append(rs, checkResult{Name: name, OK: ok, Detail: fmt.Sprintf(detail, args...)})
		return ok
	}
	ports, err := c.config()
	if err != nil {
		add(false, "configuration is valid", "%s: %v", c.configFile, err)
	} else {
		add(true, "configuration is valid", "%s", c.configFile)
	}
	st, err := c.status(ctx)
	if err != nil {
		add(false, "metrod is running", "%v", err)
		return rs
	}
	if !add(len(st.Peers) > 0, "metrod is running", "pid %d, %d peers", st.PID, len(st.Peers)) {
		rs[len(rs)-1].Detail = "metrod has no peers: no .psk file lists one of this host's addresses"
		return rs
	}
	st, started := c.startNegotiations(ctx, st)
	for _, p := range st.Peers {
		remote, err1 := netip.ParseAddr(p.Remote)
		local, err2 := netip.ParseAddr(p.Local)
		if err1 != nil || err2 != nil {
			add(false, "peer "+p.Remote, "metrod reported unparsable addresses %q, %q", p.Remote, p.Local)
			continue
		}
		ifname, err := c.route(remote)
		if !add(err == nil, fmt.Sprintf("network: route to %s", remote), "%s", orErr(ifname, err)) {
			continue
		}
		ok := p.State == control.StateEstablished && p.IKE != nil && len(p.Children) > 0
		detail := "state " + p.State
		if p.LastError != "" {
			detail += ": " + p.LastError
		}
		t, wasTriggered := started[p.Remote]
		if ok {
			detail = fmt.Sprintf("%s, %d child SA(s)", p.IKE.Encr, len(p.Children))
			if wasTriggered {
				detail += ", negotiated on demand for a datagram of this test"
			}
		} else if p.State == control.StateEstablished {
			detail = "IKE SA up but no ESP SA"
		} else if wasTriggered {
			if d := triggerDetail(t, &p, cmp.Or(c.settle, triggerSettle)); d != "" {
				detail += "; " + d
			}
		}
		if !add(ok, fmt.Sprintf("peer %s reachable, IKE SA established", remote), "%s", detail) {
			continue
		}
		pr, err := c.probe(ctx, ifname, local, remote, ports)
		name := fmt.Sprintf("traffic to %s encrypted on %s", remote, ifname)
		switch {
		case err != nil:
			add(false, name, "%v", err)
		case pr.Cleartext > 0:
			add(false, name, "%d cleartext packets seen on the wire (and %d ESP)", pr.Cleartext, pr.ESP)
		case pr.ESP == 0:
			add(false, name, "no ESP packet seen for the probe")
		default:
			add(true, name, "%d ESP packets, no cleartext", pr.ESP)
		}
	}
	return rs
}

func orErr(s string, err error) string {
	if err != nil {
		return err.Error()
	}
	return "via " + s
}

func allOK(rs []checkResult) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return len(rs) > 0
}

// runChecks runs the checks until they all pass or wait has elapsed.
func (c *checker) runChecks(ctx context.Context, wait time.Duration) []checkResult {
	deadline := time.Now().Add(wait)
	for {
		rs := c.run(ctx)
		if allOK(rs) || time.Now().After(deadline) {
			return rs
		}
		select {
		case <-ctx.Done():
			return rs
		case <-time.After(time.Second):
		}
	}
}

// writeTAP prints results in the Test Anything Protocol (version 14).
func writeTAP(w io.Writer, rs []checkResult) {
	fmt.Fprintf(w, "TAP version 14\n1..%d\n", len(rs))
	for i, r := range rs {
		ok := "ok"
		if !r.OK {
			ok = "not ok"
		}
		fmt.Fprintf(w, "%s %d - %s\n", ok, i+1, tapEscape(r.Name))
		if r.Detail != "" {
			fmt.Fprintf(w, "# %s\n", strings.ReplaceAll(r.Detail, "\n", "\n# "))
		}
	}
}

func tapEscape(s string) string { return strings.ReplaceAll(s, "#", `\#`) }

// writeHuman prints results for a person, coloured when colour is set.
func writeHuman(w io.Writer, rs []checkResult, colour bool) {
	p := &printer{w: w, colour: colour}
	failed := 0
	for _, r := range rs {
		mark := p.paint(sgrGreen, "ok  ")
		if !r.OK {
			mark = p.paint(sgrRed, "FAIL")
			failed++
		}
		fmt.Fprintf(w, "%s %s", mark, r.Name)
		if r.Detail != "" {
			fmt.Fprintf(w, " (%s)", r.Detail)
		}
		fmt.Fprintln(w)
	}
	if failed == 0 {
		fmt.Fprintf(w, "%s\n", p.paint(sgrGreen+sgrBold, fmt.Sprintf("all %d checks passed", len(rs))))
	} else {
		fmt.Fprintf(w, "%s\n", p.paint(sgrRed+sgrBold, fmt.Sprintf("%d of %d checks failed", failed, len(rs))))
	}
}

// runTest implements `metroctl test`.
func runTest(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	tap := fl.Bool("tap", false, "print TAP even on a terminal (the default when stdout is not one)")
	wait := fl.Duration("wait", 0, "retry for up to `DURATION` while checks fail (SAs being set up)")
	config := fl.String("config", policy.DefaultConfigFile, "metro configuration `file` to check")
	socket := a.socketFlag(fl)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return a.usageError(fmt.Sprintf("test: unexpected argument %q", fl.Arg(0)),
			func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}
	explicit := false
	fl.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	c := &checker{
		configFile: *config,
		config: func() (ikePorts, error) {
			lo := policy.LoadOptions{ConfigFile: *config, ConfigExplicit: explicit, Environ: os.Environ()}
			ports := ikePorts{IKE: []uint16{500}, NATT: []uint16{4500}}
			if err := daemon.Check(daemon.Options{Load: lo}, io.Discard); err != nil {
				return ports, err
			}
			cfg, _, err := policy.Load(lo)
			if err != nil {
				return ports, err
			}
			ports.IKE = append(ports.IKE, cfg.IKEPort, cfg.IKEAltPort)
			ports.NATT = append(ports.NATT, cfg.NATTPort, cfg.NATTAltPort)
			return ports, nil
		},
		status: func(ctx context.Context) (*control.Status, error) {
			cl, err := control.Dial(*socket)
			if err != nil {
				return nil, err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			return cl.Status(ctx)
		},
		route:   routeTo,
		probe:   probeEncrypted,
		trigger: sendTrigger,
	}
	rs := c.runChecks(context.Background(), *wait)
	f, isFile := a.stdout.(*os.File)
	if *tap || !isFile || !isTerminal(f) {
		writeTAP(a.stdout, rs)
	} else {
		writeHuman(a.stdout, rs, a.colour)
	}
	if !allOK(rs) {
		return exitError
	}
	return exitOK
}
